package views

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
)

// Part is a piece of a message's text: plain text, a link or a mention.
type Part struct {
	Text    string
	URL     string // set for a link: always http or https
	Mention string // set for a mention: the mention key
}

// Parts splits text into plain runs, http(s) links and @mentions, so the template can
// draw each safely. Anything that is not a well-formed http or https URL stays text.
func Parts(text string) []Part {
	var parts []Part
	plainStart := 0
	flush := func(end int) {
		if end > plainStart {
			parts = append(parts, Part{Text: text[plainStart:end]})
		}
	}

	for i := 0; i < len(text); {
		if link, n := linkAt(text, i); n > 0 {
			flush(i)
			parts = append(parts, Part{Text: text[i : i+n], URL: link})
			i += n
			plainStart = i
			continue
		}
		if key, n := mentionAt(text, i); n > 0 {
			flush(i)
			parts = append(parts, Part{Text: text[i : i+n], Mention: key})
			i += n
			plainStart = i
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	flush(len(text))
	return parts
}

// linkAt returns the URL that starts at text[i], and its length, if there is one.
func linkAt(text string, i int) (string, int) {
	rest := text[i:]
	if !hasPrefixFold(rest, "https://") && !hasPrefixFold(rest, "http://") {
		return "", 0
	}
	if i > 0 && isWordByte(text[i-1]) {
		return "", 0
	}

	end := strings.IndexFunc(rest, func(r rune) bool {
		return unicode.IsSpace(r) || r == '<' || r == '>' || r == '"'
	})
	if end < 0 {
		end = len(rest)
	}
	candidate := strings.TrimRight(rest[:end], ".,;:!?)]}'")

	u, err := url.Parse(candidate)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", 0
	}
	return u.String(), len(candidate)
}

// mentionAt returns the mention key of an @name that starts at text[i], and the
// length of the @name, if there is one.
func mentionAt(text string, i int) (string, int) {
	if text[i] != '@' || (i > 0 && isWordByte(text[i-1])) {
		return "", 0
	}

	n := 1
	for n < len(text)-i {
		r, size := utf8.DecodeRuneInString(text[i+n:])
		if !isNickRune(r) {
			break
		}
		n += size
	}
	if n == 1 {
		return "", 0
	}
	return MentionKey(text[i+1 : i+n]), n
}

// MentionKey returns the form in which a nickname is matched by @mentions: case folded,
// with spaces as underscores, so "@ann_lee" names "Ann Lee".
func MentionKey(nickname string) string {
	folded := cases.Fold().String(nickname)
	return strings.ReplaceAll(folded, " ", "_")
}

func joinMentionKeys(text string) string {
	var keys []string
	for _, p := range Parts(text) {
		if p.Mention != "" && !contains(keys, p.Mention) {
			keys = append(keys, p.Mention)
		}
	}
	return strings.Join(keys, " ")
}

func isNickRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) ||
		r == '_' || r == '-'
}

func isWordByte(b byte) bool {
	return b >= 0x80 || b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' ||
		b >= 'A' && b <= 'Z'
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}
