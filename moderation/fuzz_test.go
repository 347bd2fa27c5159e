package moderation

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/FuzzNormalize and
// testdata/fuzz/FuzzFlagged; these f.Add calls only cover the basics.

func FuzzNormalize(f *testing.F) {
	f.Add("Hello, World!")
	f.Add("f*ck $h1t a$$ fuuuuck")

	f.Fuzz(func(t *testing.T, text string) {
		words := Normalize(text)

		for _, w := range words {
			if w == "" {
				t.Fatalf("Normalize(%q) = %q, holds an empty word", text, words)
			}
			if !utf8.ValidString(w) {
				t.Fatalf("Normalize(%q) = %q, holds invalid UTF-8 %q", text, words, w)
			}
			if strings.ContainsFunc(w, unicode.IsSpace) {
				t.Fatalf("Normalize(%q) = %q, holds whitespace in %q", text, words, w)
			}
		}

		// Normalized words are their own normal form, so matching can be
		// reasoned about on them alone.
		joined := strings.Join(words, " ")
		if again := Normalize(joined); !slices.Equal(again, words) {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q", text, words, joined, again)
		}
	})
}

func FuzzFlagged(f *testing.F) {
	f.Add("what the fuck")
	f.Add("shıt ß ﬁ")

	filter := Default()
	f.Fuzz(func(t *testing.T, text string) {
		want := filter.Flagged(text)

		// Case never matters, whichever way it is changed.
		for _, variant := range []string{strings.ToUpper(text), strings.ToLower(text)} {
			if got := filter.Flagged(variant); got != want {
				t.Fatalf("Flagged(%q) = %v, want %v as for %q", variant, got, want, text)
			}
		}

		// A word is judged on its own: surrounding it with other words does
		// not change the verdict.
		padded := "hello " + text + " world"
		if got := filter.Flagged(padded); got != want {
			t.Fatalf("Flagged(%q) = %v, want %v as for %q", padded, got, want, text)
		}
	})
}
