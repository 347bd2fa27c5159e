package views

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

func TestParts(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"plain", "hello world", `[text "hello world"]`},
		{"link", "see https://go.dev/doc.", `[text "see "] [link "https://go.dev/doc"] [text "."]`},
		{"link in brackets", "(http://a.example/x)",
			`[text "("] [link "http://a.example/x"] [text ")"]`},
		{"upper-case scheme", "HTTPS://A.example", `[link "https://A.example"]`},
		{"javascript is text", "javascript:alert(1)", `[text "javascript:alert(1)"]`},
		{"no host is text", "http:///x", `[text "http:///x"]`},
		{"inside a word is text", "xhttp://a.example", `[text "xhttp://a.example"]`},
		{"mention", "hi @Ann_Lee!", `[text "hi "] [mention "ann_lee"] [text "!"]`},
		{"email is not a mention", "a@b.example", `[text "a@b.example"]`},
		{"lone at", "@ home", `[text "@ home"]`},
		{"mention in another script", "@Zoë", `[mention "zoë"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeParts(Parts(tt.text)); got != tt.want {
				t.Errorf("Parts(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

func describeParts(parts []Part) string {
	var out []string
	for _, p := range parts {
		switch {
		case p.URL != "":
			out = append(out, fmt.Sprintf("[link %q]", p.URL))
		case p.Mention != "":
			out = append(out, fmt.Sprintf("[mention %q]", p.Mention))
		default:
			out = append(out, fmt.Sprintf("[text %q]", p.Text))
		}
	}
	return strings.Join(out, " ")
}

func TestGroup(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	messages := []Message{
		{ID: 1, Kind: KindText, Nickname: "Ann", Time: at},
		{ID: 2, Kind: KindText, Nickname: "Ann", Time: at.Add(time.Minute)},
		{ID: 3, Kind: KindText, Nickname: "Bob", Time: at.Add(2 * time.Minute)},
		{ID: 4, Kind: KindText, Nickname: "Bob", Time: at.Add(20 * time.Minute)},
		{ID: 5, Kind: KindJoin, Nickname: "Bob", Time: at.Add(20 * time.Minute)},
		{ID: 6, Kind: KindText, Nickname: "Bob", Time: at.Add(20 * time.Minute)},
	}
	Group(messages)
	var got []bool
	for _, m := range messages {
		got = append(got, m.Continued)
	}
	if fmt.Sprint(got) != "[false true false false false false]" {
		t.Errorf("Continued = %v, want only the second grouped", got)
	}
}

func TestMessageViewShape(t *testing.T) {
	m := Message{ID: 42, Kind: KindText, Nickname: "Ann", Text: "hi @bob https://x.example",
		Time: time.Date(2026, 12, 4, 9, 5, 0, 0, time.UTC)}
	got := render(t, MessageView(m))
	wants := []string{
		`<li id="m-42" class="msg msg-text" data-mentions="bob">`,
		`<time datetime="2026-12-04T09:05:00Z" title="2026-12-04 09:05:00 UTC">09:05</time>`,
		`<a href="https://x.example" rel="noopener noreferrer nofollow ugc" target="_blank">`,
		`<span class="mention" data-mention="bob">@bob</span>`,
	}
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("MessageView = %s\nwant it to contain %s", got, want)
		}
	}
}

func render(t testing.TB, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("Render error = %v", err)
	}
	return buf.String()
}

// allowed lists the elements and attributes a message may render: anything else in
// the output came from user text.
var allowed = map[string][]string{
	"li":   {"id", "class", "data-mentions"},
	"div":  {"class"},
	"span": {"class", "data-mention"},
	"time": {"datetime", "title"},
	"a":    {"href", "rel", "target"},
}

// FuzzMessageView renders arbitrary nicknames and texts and checks that no markup
// from them reaches the page: only the template's own elements and attributes appear,
// and every link is http or https.
func FuzzMessageView(f *testing.F) {
	seeds := []string{
		`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`,
		`<div hx-get="/logout" hx-trigger="load">x</div>`, `javascript:alert(1)`,
		`http://a.example/"onmouseover="x`, `@a<b`, "line\nbreak", `https://x.example/<`,
	}
	for _, s := range seeds {
		f.Add("Ann", s, uint8(0))
		f.Add(s, "text", uint8(1))
	}
	kinds := []Kind{KindText, KindAction, KindJoin, KindLeave, KindRename, KindDirect}

	f.Fuzz(func(t *testing.T, nickname, text string, kind uint8) {
		m := Message{ID: 7, Kind: kinds[int(kind)%len(kinds)], Nickname: nickname, To: nickname,
			Text: text, Time: time.Unix(0, 0)}
		var buf bytes.Buffer
		if err := MessageView(m).Render(context.Background(), &buf); err != nil {
			t.Fatalf("Render error = %v", err)
		}
		checkOnlyTemplateMarkup(t, buf.String())
	})
}

func checkOnlyTemplateMarkup(t *testing.T, out string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attrs, ok := allowed[tok.Data]
			if !ok {
				t.Fatalf("element <%s> in %q", tok.Data, out)
			}
			for _, a := range tok.Attr {
				if !contains(attrs, a.Key) {
					t.Fatalf("attribute %s on <%s> in %q", a.Key, tok.Data, out)
				}
				if a.Key == "href" && !strings.HasPrefix(a.Val, "http://") &&
					!strings.HasPrefix(a.Val, "https://") {
					t.Fatalf("link to %q in %q", a.Val, out)
				}
			}
		}
	}
}
