// Package moderation owns the decision whether a chat message contains a swear
// word: the word list format, the embedded default list, how text is
// normalized so disguised words ("sh1t", "fuuuck", "fück") are still caught,
// and how words are compared so innocent words that contain a swear word
// ("class", "Scunthorpe") are not. What to do with a flagged message is the
// caller's business.
package moderation

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	// maxRuns bounds the letter runs of a list word, so a text word's runs fit
	// in a fixed array on the stack whatever the length of the word.
	maxRuns = 32

	// maxLetters bounds the letters of a list word, for the same reason.
	maxLetters = 64
)

// entry is one compiled list word.
type entry struct {
	written string  // the entry as written in the list, for Match
	letters []rune  // the normalized word, one rune per letter
	skel    string  // letters with each run collapsed to one letter
	counts  []int32 // the length of each run of equal letters in letters
	prefix  bool    // written with a trailing '*': the word and its extensions
}

// covers reports whether runs, the runs of a text word, are at least as long as
// the entry's runs. The caller has already checked that the letters agree.
func (e *entry) covers(runs []run) bool {
	for i, n := range e.counts {
		if runs[i].n < n {
			return false
		}
	}
	return true
}

// Filter matches texts against a word list. Safe for concurrent use; immutable
// after New.
type Filter struct {
	entries []*entry // in list order, for the slow path

	// exact maps the skeleton of an entry to the entries with that skeleton.
	exact map[string][]*entry

	// ends and starts let most text words skip a lookup without hashing:
	// they hold the pairs of a-z letters that exact entries start and end
	// with, and that prefix entries start with (their first two runs).
	ends, starts letterPairs

	// prefix maps the skeleton of the first prefixRuns runs of a prefix entry
	// to the entries that start so, prefixRuns being the fewest runs of any
	// prefix entry: a text word then costs one lookup, not one per length.
	prefix     map[string][]*entry
	prefixRuns int
}

// New returns a filter for words, written as in a list file: one word each,
// with a trailing '*' for "this word as a prefix". Entries that are not a
// single word once normalized ("", "two words", "f*ck", "2000") can never
// match and are skipped; Parse reports them as errors instead.
func New(words []string) *Filter {
	f := &Filter{
		exact:  make(map[string][]*entry),
		prefix: make(map[string][]*entry),
	}
	for _, w := range words {
		e, err := compile(w)
		if err != nil {
			continue
		}
		f.entries = append(f.entries, e)
	}

	for _, e := range f.entries {
		if e.prefix && (f.prefixRuns == 0 || len(e.counts) < f.prefixRuns) {
			f.prefixRuns = len(e.counts)
		}
	}

	for _, e := range f.entries {
		if !e.prefix {
			f.exact[e.skel] = append(f.exact[e.skel], e)
			f.ends.add(e.letters[0], e.letters[len(e.letters)-1])
			continue
		}
		key := skeleton(e.letters[:runsEnd(e.counts, f.prefixRuns)])
		f.prefix[key] = append(f.prefix[key], e)
		f.starts.add(e.letters[0], secondRun(e.letters))
	}
	return f
}

// letterPairs is a set of pairs of letters, exact for a-z and a single
// "maybe" for every pair with another letter in it.
type letterPairs struct {
	bits [26]uint32
	wide bool
}

// add puts the pair a, b in the set.
func (p *letterPairs) add(a, b rune) {
	if isSmallLatin(a) && isSmallLatin(b) {
		p.bits[a-'a'] |= 1 << (b - 'a')
	} else {
		p.wide = true
	}
}

// has reports whether the pair a, b may be in the set.
func (p *letterPairs) has(a, b rune) bool {
	if !isSmallLatin(a) || !isSmallLatin(b) {
		return p.wide
	}
	return p.bits[a-'a']&(1<<(b-'a')) != 0
}

// isSmallLatin reports whether r is one of a-z.
func isSmallLatin(r rune) bool {
	return r >= 'a' && r <= 'z'
}

// secondRun returns the letter of the second run of letters, or 0 for a
// single run.
func secondRun(letters []rune) rune {
	for _, r := range letters[1:] {
		if r != letters[0] {
			return r
		}
	}
	return 0
}

// runsEnd returns how many letters the first n runs of counts span.
func runsEnd(counts []int32, n int) int {
	end := 0
	for _, c := range counts[:n] {
		end += int(c)
	}
	return end
}

// skeleton returns letters with each run of equal letters collapsed to one.
func skeleton(letters []rune) string {
	var b strings.Builder
	for i, r := range letters {
		if i == 0 || letters[i-1] != r {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// compile turns a list entry into its matching form.
func compile(written string) (*entry, error) {
	written = strings.TrimSpace(written)
	e := &entry{written: written}

	body, prefix := strings.CutSuffix(written, "*")
	e.prefix = prefix

	words := Normalize(body)
	if len(words) != 1 {
		return nil, fmt.Errorf("%q is not a single word", written)
	}

	for _, r := range words[0] {
		if classify(r).k != kindLetter {
			return nil, fmt.Errorf("%q has a character that is not a letter", written)
		}
		e.letters = append(e.letters, r)
		if n := len(e.letters); n > 1 && e.letters[n-2] == r {
			e.counts[len(e.counts)-1]++
		} else {
			e.counts = append(e.counts, 1)
		}
	}

	if len(e.letters) > maxLetters || len(e.counts) > maxRuns {
		return nil, fmt.Errorf("%q is longer than %d letters or %d runs",
			written, maxLetters, maxRuns)
	}

	e.skel = skeleton(e.letters)
	return e, nil
}

//go:embed words.txt
var defaultWords string

// defaultFilter parses the embedded list once; the filter is immutable, so all
// callers share it.
var defaultFilter = sync.OnceValue(func() *Filter {
	words, err := parse(strings.NewReader(defaultWords))
	if err != nil {
		// The list is compiled into the binary and checked by the tests.
		panic(fmt.Sprintf("moderation: embedded words.txt: %v", err))
	}
	return New(words)
})

// Default returns the filter for the embedded default list, words.txt: a
// short, conservative list of common English profanity. The same filter is
// returned on every call.
func Default() *Filter {
	return defaultFilter()
}

// Load reads a word list file (see Parse) and returns its filter.
func Load(path string) (*Filter, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("moderation: read word list %s: %w", path, err)
	}
	defer file.Close()

	words, err := parse(file)
	if err != nil {
		return nil, fmt.Errorf("moderation: read word list %s: %w", path, err)
	}
	return New(words), nil
}

// Parse reads a word list: one entry per line, a trailing '*' meaning "this
// word as a prefix" ("fuck*" also flags "fucking"). Everything from a '#' to
// the end of its line is a comment; blank lines are ignored. An entry that is
// not a single word once normalized is an error naming its line, since it
// could never match.
func Parse(r io.Reader) ([]string, error) {
	words, err := parse(r)
	if err != nil {
		return nil, fmt.Errorf("moderation: parse word list: %w", err)
	}
	return words, nil
}

// parse is Parse with errors left for the caller to prefix, so Load can name
// the file in the same message.
func parse(r io.Reader) ([]string, error) {
	var words []string
	sc := bufio.NewScanner(r)

	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		text, _, _ = strings.Cut(text, "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}

		if _, err := compile(text); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		words = append(words, text)
	}

	if err := sc.Err(); err != nil {
		return nil, err
	}
	return words, nil
}

// Flagged reports whether text contains a word of the list.
func (f *Filter) Flagged(text string) bool {
	_, ok := f.Match(text)
	return ok
}

// Match returns the list entry, as written in the list, that the first
// flagged word of text matches; ok is false when no word matches. A text word
// matches an entry when, once normalized, it has the same letters in the same
// order and each run of a letter is at least as long as the entry's ("assss"
// and "a$$" match "ass", "as" does not). A prefix entry
// also matches words that go on after it. Inside a word '!' may stand for i,
// '|' for l or i, and '*' for any one letter ("f*ck"), or they may separate
// two words.
//
// TODO: words spread over several tokens are not caught: spaced or dotted
// letters ("f u c k", "f.u.c.k"), or a listed word glued to another without a
// prefix entry ("shitshow", "dumbfuck"). Neither are letters of other scripts
// that look Latin (Cyrillic "а" in "аss"): mapping them needs care not to
// garble words written wholly in those scripts.
func (f *Filter) Match(text string) (word string, ok bool) {
	s := fold(text)

	for i := 0; ; {
		start, end, ambiguous, next := nextWord(s, i)
		if start < 0 {
			return "", false
		}
		if e := f.matchWord(s[start:end], ambiguous); e != nil {
			return e.written, true
		}
		i = next
	}
}

// matchWord returns the entry that the word w of folded text matches, or nil.
// ambiguous says whether w holds ambiguous characters.
func (f *Filter) matchWord(w string, ambiguous bool) *entry {
	if !ambiguous {
		return f.matchRuns(w)
	}

	// The whole word, ambiguous characters read as letters. A word that is
	// mostly stars is a censored word whose letters cannot be known.
	stars, others := 0, 0
	for _, r := range w {
		switch {
		case r == '*':
			stars++
		case classify(r).k != kindAmbiguous:
			others++
		}
	}
	if stars <= others {
		for _, e := range f.entries {
			if matchAmbiguous(w, e) {
				return e
			}
		}
	}

	// The ambiguous characters read as separators: "shit!fuck" is two words.
	for piece := range strings.FieldsFuncSeq(w, isAmbiguous) {
		if !hasLetter(piece) {
			continue
		}
		if e := f.matchRuns(piece); e != nil {
			return e
		}
	}
	return nil
}

// isAmbiguous reports whether r is one of the characters that may be a letter
// or a separator.
func isAmbiguous(r rune) bool {
	return classify(r).k == kindAmbiguous
}

// hasLetter reports whether w holds a letter, the condition for being a word.
func hasLetter(w string) bool {
	for _, r := range w {
		if classify(r).k == kindLetter {
			return true
		}
	}
	return false
}

// run is a run of one letter in a word.
type run struct {
	r rune
	n int32
}

// matchRuns matches a word without ambiguous characters: it run-length encodes
// the word, looks its skeleton up, then compares run lengths. Runs past
// maxRuns are not collected: no entry can use them.
func (f *Filter) matchRuns(w string) *entry {
	var buf [maxRuns + 1]run
	runs := buf[:0]
	complete := true

	for _, r := range w {
		c := classify(r).r
		if n := len(runs); n > 0 && runs[n-1].r == c {
			runs[n-1].n++
			continue
		}
		if len(runs) == cap(runs) {
			complete = false
			break
		}
		runs = append(runs, run{c, 1})
	}

	// cut[i] is the length of the skeleton of the first i runs, so each
	// prefix comparison slices the same key.
	var keyBuf [(maxRuns + 1) * utf8.UTFMax]byte
	var cut [maxRuns + 2]uint8
	key := keyBuf[:0]
	for i, rn := range runs {
		key = utf8.AppendRune(key, rn.r)
		cut[i+1] = uint8(len(key))
	}

	if complete && f.ends.has(runs[0].r, runs[len(runs)-1].r) {
		for _, e := range f.exact[string(key)] {
			if len(e.counts) == len(runs) && e.covers(runs) {
				return e
			}
		}
	}

	if f.prefixRuns == 0 || len(runs) < f.prefixRuns {
		return nil
	}
	if f.prefixRuns > 1 && !f.starts.has(runs[0].r, runs[1].r) {
		return nil
	}
	for _, e := range f.prefix[string(key[:cut[f.prefixRuns]])] {
		n := len(e.counts)
		if n <= len(runs) && string(key[:cut[n]]) == e.skel && e.covers(runs) {
			return e
		}
	}
	return nil
}

// matchAmbiguous matches a word holding ambiguous characters against e. The
// classes of characters rule out a map lookup, so it aligns the word with the
// entry's letters: state j means the word so far spelled e.letters[:j], its
// last character standing for e.letters[j-1]. Each character either spells the
// next letter or repeats the last one (a longer run); '*' spells exactly one
// letter and never repeats, so "f**k" matches "fuck" but "f***k" does not.
func matchAmbiguous(w string, e *entry) bool {
	n := len(e.letters)
	var a, b [maxLetters + 1]bool
	cur, next := a[:n+1], b[:n+1]
	cur[0] = true

	for _, r := range w {
		c := classify(r)
		clear(next)
		alive := false

		for j, ok := range cur {
			if !ok {
				continue
			}
			if j < n && stands(c, e.letters[j]) {
				next[j+1], alive = true, true
			}
			if j > 0 && c.r != '*' && stands(c, e.letters[j-1]) {
				next[j], alive = true, true
			}
		}

		cur, next = next, cur
		if !alive {
			return false
		}
		if e.prefix && cur[n] {
			return true
		}
	}
	return cur[n]
}

// stands reports whether the character c can stand for letter.
func stands(c class, letter rune) bool {
	if c.k != kindAmbiguous {
		return c.r == letter
	}

	switch c.r {
	case '!':
		return letter == 'i'
	case '|':
		return letter == 'l' || letter == 'i'
	}
	return true
}
