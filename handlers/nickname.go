package handlers

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ValidateNickname trims and normalizes a nickname and returns it, or a message for
// the person saying what is wrong with it. Letters of any script, digits, spaces, "_"
// and "-" are allowed; runs of spaces become one; control and invisible characters
// are refused.
func ValidateNickname(raw string) (nickname string, problem string) {
	if !utf8.ValidString(raw) {
		return "", "The nickname has characters that could not be read."
	}

	// Compose accents so that one name typed two ways is one name.
	nickname = norm.NFC.String(strings.TrimSpace(raw))
	nickname = strings.Join(strings.Fields(nickname), " ")

	length := utf8.RuneCountInString(nickname)
	switch {
	case length == 0:
		return "", "Please choose a nickname."
	case length > MaxNicknameChars:
		return "", fmt.Sprintf("A nickname can have at most %d characters; this one has %d.",
			MaxNicknameChars, length)
	}

	for _, r := range nickname {
		if !nicknameRune(r) {
			return "", fmt.Sprintf("A nickname can have letters, digits, spaces, _ and -, "+
				"but not %s.", describeRune(r))
		}
	}
	return nickname, ""
}

func nicknameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) ||
		unicode.Is(unicode.Mc, r) || r == ' ' || r == '_' || r == '-'
}

// describeRune names a refused character so that an invisible one can be seen too.
func describeRune(r rune) string {
	if unicode.IsGraphic(r) && !unicode.IsSpace(r) {
		return fmt.Sprintf("%q", string(r))
	}
	return fmt.Sprintf("the invisible character U+%04X", r)
}
