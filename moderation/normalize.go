package moderation

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// kind says what a character of folded text is for tokenizing and matching.
type kind uint8

const (
	// kindSep ends a word: spaces, punctuation, symbols, invalid UTF-8.
	kindSep kind = iota

	// kindLetter is a letter, or a symbol that always stands for one ($ and @), so
	// "a$$" is one word. Only words holding one of these are kept.
	kindLetter

	// kindDigitLetter is a digit read as a letter (0 o, 1 i, 3 e, 4 a, 5 s, 7 t).
	// A word needs a kindLetter too, so "2000" or "455" never become words.
	kindDigitLetter

	// kindOther is a word character kept as written: the digits without a
	// look-alike letter (2, 6, 8, 9, non-ASCII digits) and spacing marks of
	// scripts such as Devanagari, so those words are not cut apart.
	kindOther

	// kindAmbiguous is '!', '|' or '*': a letter inside a word ("sh!t", "f*ck")
	// but punctuation at its edges ("shit!", "*bold*"), so it is only part of a
	// word when word characters stand on both sides of it.
	kindAmbiguous
)

// class is the matching form and kind of a character.
type class struct {
	r rune
	k kind
}

// asciiClass classifies ASCII in one index, since most chat text is ASCII and
// this runs for every character of every message.
var asciiClass = func() (t [utf8.RuneSelf]class) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = class{c, kindLetter}
		t[c-'a'+'A'] = class{c, kindLetter}
	}
	for d, sub := range "oi2eas6t89" {
		k := kindDigitLetter
		if sub >= '0' && sub <= '9' {
			k = kindOther
		}
		t['0'+d] = class{sub, k}
	}
	t['@'] = class{'a', kindLetter}
	t['$'] = class{'s', kindLetter}
	t['!'] = class{'!', kindAmbiguous}
	t['|'] = class{'|', kindAmbiguous}
	t['*'] = class{'*', kindAmbiguous}
	return t
}()

// confusables maps lower-case letters that neither case folding nor
// decomposition turns into their ASCII look-alike. The dotless ı matters most:
// strings.ToUpper("ı") is "I", so without it "shıt" would pass while "SHIT" is
// caught.
var confusables = map[rune]rune{
	'ı': 'i',
	'ł': 'l',
	'ø': 'o',
	'đ': 'd',
	'ħ': 'h',
	'ŧ': 't',
}

// classify returns the matching form and kind of a rune of folded text. It
// returns one struct and leaves the rest to classifyWide so that it is
// inlined: it runs for every character of every message.
func classify(r rune) class {
	if uint32(r) < utf8.RuneSelf {
		return asciiClass[r]
	}
	return classifyWide(r)
}

// classifyWide is classify for runes outside ASCII.
func classifyWide(r rune) class {
	if c, ok := confusables[r]; ok {
		return class{c, kindLetter}
	}

	switch {
	case unicode.IsLetter(r):
		return class{r, kindLetter}
	case unicode.IsDigit(r), unicode.In(r, unicode.Mc, unicode.Me):
		return class{r, kindOther}
	}
	return class{r, kindSep}
}

// folder turns text into the form words are matched in. Folding comes first so
// that a combining mark with a case mapping (U+0345) becomes a letter the way
// its upper-case form does; NFKD turns compatibility forms such as full-width
// "ｆｕｃｋ" or "ℌ" into plain letters; the second fold lower-cases what
// decomposition produced; removing the nonspacing marks strips accents.
// A chain keeps buffers, so each goroutine borrows its own.
var folder = sync.Pool{
	New: func() any {
		return transform.Chain(
			cases.Fold(), norm.NFKD, cases.Fold(), norm.NFKD,
			runes.Remove(runes.In(unicode.Mn)),
		)
	},
}

// fold returns text case folded, decomposed and without accents. ASCII text is
// returned as it is (classify lower-cases it) so the common case allocates
// nothing.
func fold(text string) string {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return text
	}

	// The normalizer passes an invalid byte through together with the
	// character after it, undecomposed; invalid bytes separate words anyway.
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}

	t := folder.Get().(transform.Transformer)
	defer folder.Put(t)

	out, _, err := transform.String(t, text)
	if err != nil {
		// The transformers only fail on a broken chain, never on input; the
		// unfolded text still gets a best-effort check.
		return text
	}
	return out
}

// nextWord finds the first word of folded text s at or after byte from. A word
// is a run of word characters, with ambiguous characters only inside it, that
// holds at least one letter. It returns the word's bounds, whether ambiguous
// characters are inside it, and where to look next; start < 0 when no word is
// left.
func nextWord(s string, from int) (start, end int, ambiguous bool, next int) {
	start = -1
	hasLetter := false
	firstAmbiguous := -1 // the first after start

	for i := from; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch k := classify(r).k; k {
		case kindSep:
			if start >= 0 && hasLetter {
				return start, end, firstAmbiguous >= start && firstAmbiguous < end, i + size
			}
			start, hasLetter = -1, false
		case kindAmbiguous:
			// Becomes part of the word only if a word character follows, which
			// end records; before a word starts it is plain punctuation.
			if start >= 0 && firstAmbiguous < start {
				firstAmbiguous = i
			}
		default:
			if start < 0 {
				start = i
			}
			end = i + size
			if k == kindLetter {
				hasLetter = true
			}
		}
		i += size
	}

	if start >= 0 && hasLetter {
		return start, end, firstAmbiguous >= start && firstAmbiguous < end, len(s)
	}
	return -1, -1, false, len(s)
}

// Normalize returns the words of text in the form they are matched in: case
// folded, accents stripped, compatibility forms decomposed, digits and symbols
// that stand for letters replaced ("$h1t" gives "shit"), split on everything
// that is not a word character. Repeated letters are kept, since matching
// compares run lengths. The ambiguous characters '!', '|' and '*' stay as
// written inside a word, because matching reads them both as letters and as
// separators. Runs of digits without a letter ("2000") are not words.
func Normalize(text string) []string {
	s := fold(text)

	var words []string
	var b strings.Builder
	for i := 0; ; {
		start, end, _, next := nextWord(s, i)
		if start < 0 {
			return words
		}

		b.Reset()
		for _, r := range s[start:end] {
			b.WriteRune(classify(r).r)
		}
		words = append(words, b.String())
		i = next
	}
}
