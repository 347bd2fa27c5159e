package static

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestVendoredFilesAreUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		sha256 string
	}{
		{"htmx.min.js", "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"},
		{"sse.min.js", "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content, err := Files.ReadFile(tt.name)
			if err != nil {
				t.Fatalf("ReadFile(%q) error = %v", tt.name, err)
			}
			sum := sha256.Sum256(content)
			if got := hex.EncodeToString(sum[:]); got != tt.sha256 {
				t.Errorf("sha256(%s) = %s, want %s", tt.name, got, tt.sha256)
			}
		})
	}
}

func TestPathCarriesVersion(t *testing.T) {
	got := Path("chat.css")
	if !strings.HasPrefix(got, "/static/chat.css?v=") || len(got) != len("/static/chat.css?v=")+12 {
		t.Errorf("Path(chat.css) = %q, want /static/chat.css?v= and 12 hex digits", got)
	}
}
