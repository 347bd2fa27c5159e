package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatroom/chat/sse"
	"github.com/chatroom/chat/store"
)

func TestMessageValidation(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	tests := []struct {
		name       string
		text       string
		wantStatus int
		wantError  string
	}{
		{"empty", "", http.StatusUnprocessableEntity, "Please write a message first."},
		{"only spaces", "  \n\t ", http.StatusUnprocessableEntity, "Please write a message"},
		{"2001 characters", strings.Repeat("é", 2001), http.StatusUnprocessableEntity,
			"at most 2000 characters; this one has 2001"},
		{"2000 characters", strings.Repeat("é", 2000), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := alice.post(tt.text)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantError != "" && (!strings.Contains(resp.Body, `id="text-error"`) ||
				!strings.Contains(resp.Body, tt.wantError)) {
				t.Errorf("answer lacks the error %q:\n%.300s", tt.wantError, resp.Body)
			}
			if tt.wantError == "" && strings.Contains(resp.Body, "text-error") {
				t.Errorf("accepted post came back with an error:\n%.300s", resp.Body)
			}
		})
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")

	resp := alice.post(strings.Repeat("x", MaxBodyBytes))
	if resp.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(resp.Body, "too large") {
		t.Errorf("status %d %q, want 413 saying the body is too large", resp.StatusCode,
			resp.Body)
	}
}

func TestFloodLimitAcrossTabs(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	tabs := []*user{alice, alice.tab()}

	for i := range PostBurst {
		if got := tabs[i%2].post("burst message").StatusCode; got != http.StatusOK {
			t.Fatalf("post %d of the burst status = %d, want 200", i+1, got)
		}
	}
	resp := tabs[PostBurst%2].post("one too many")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("post %d status = %d, want 429", PostBurst+1, resp.StatusCode)
	}
	if !strings.Contains(resp.Body, "You can post again in 2 s") ||
		resp.Header.Get("Retry-After") != "2" {
		t.Errorf("flood answer = %q (Retry-After %q), want when to post again",
			resp.Body, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(resp.Body, `value="one too many"`) {
		t.Errorf("flood answer did not keep the text:\n%.300s", resp.Body)
	}

	time.Sleep(PostInterval)
	if got := alice.post("after waiting").StatusCode; got != http.StatusOK {
		t.Errorf("post after waiting %v status = %d, want 200", PostInterval, got)
	}
}

func TestHammeringScriptIsHeldToTheLimit(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	accepted := 0
	for range 100 {
		if alice.post("spam").StatusCode == http.StatusOK {
			accepted++
		}
	}
	if accepted != PostBurst {
		t.Errorf("accepted %d of 100 rapid posts, want %d", accepted, PostBurst)
	}
}

func TestCommands(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	bob := login(t, ts, "Bob Lee")
	carol := login(t, ts, "Carol")
	streams := map[string]*eventStream{
		"alice": alice.openStream(""), "bob": bob.openStream(""), "carol": carol.openStream(""),
	}
	for _, s := range streams {
		s.next(2 * time.Second)
	}
	drainJoins(t, streams)

	t.Run("me is an action line for everyone", func(t *testing.T) {
		alice.mustPost("/me waves")
		for name, s := range streams {
			event := s.next(2 * time.Second)
			if event.Name != eventMessage || !strings.Contains(event.Data, "msg-action") ||
				!strings.Contains(event.Data, "waves") {
				t.Errorf("%s got %s %q, want an action line", name, event.Name, event.Data)
			}
		}
	})

	t.Run("msg reaches only the two parties", func(t *testing.T) {
		alice.mustPost("/msg bob_lee the secret is 42")
		for _, name := range []string{"alice", "bob"} {
			event := streams[name].next(2 * time.Second)
			if event.Name != eventNotice || event.ID != "" ||
				!strings.Contains(event.Data, "the secret is 42") ||
				!strings.Contains(event.Data, "Private") {
				t.Errorf("%s got %s (id %q) %q, want the private message", name, event.Name,
					event.ID, event.Data)
			}
		}
		streams["carol"].expectNone(200 * time.Millisecond)
		if history, _ := ts.store.Recent(t.Context(), 50); strings.Contains(
			messagesText(history), "secret") {
			t.Error("a private message went into the history")
		}
	})

	notices := []struct {
		name, line, want string
	}{
		{"msg to someone offline", "/msg nobody hi", "No one called nobody is online."},
		{"help", "/help", "/msg nickname text"},
		{"unknown command", "/dance", "There is no command /dance."},
	}
	for _, tt := range notices {
		t.Run(tt.name, func(t *testing.T) {
			time.Sleep(PostInterval) // stay under the flood limit
			alice.mustPost(tt.line)
			event := streams["alice"].next(2 * time.Second)
			if event.Name != eventNotice || !strings.Contains(event.Data, tt.want) {
				t.Errorf("got %s %q, want a notice with %q", event.Name, event.Data, tt.want)
			}
			streams["bob"].expectNone(100 * time.Millisecond)
		})
	}

	t.Run("nick taken is refused", func(t *testing.T) {
		time.Sleep(PostInterval)
		resp := alice.post("/nick CAROL")
		if resp.StatusCode != http.StatusUnprocessableEntity ||
			!strings.Contains(resp.Body, "already called CAROL") {
			t.Errorf("status %d %q, want 422 saying the name is taken", resp.StatusCode,
				resp.Body)
		}
	})

	t.Run("nick renames and tells the room", func(t *testing.T) {
		time.Sleep(PostInterval)
		alice.mustPost("/nick Alicia")
		isRename := func(e sse.Event) bool {
			return strings.Contains(e.Data, "msg-rename") && strings.Contains(e.Data, "Alicia")
		}
		isOwnNotice := func(e sse.Event) bool {
			return e.Name == eventNotice && strings.Contains(e.Data, `hx-swap-oob="true"`)
		}
		for _, name := range []string{"bob", "carol"} {
			if event := streams[name].next(2 * time.Second); !isRename(event) {
				t.Errorf("%s got %s %q, want the rename line", name, event.Name, event.Data)
			}
		}

		// The private notice is written at once, the room's line by the fan-out, so
		// either may come first.
		var renames, notices int
		for range 2 {
			event := streams["alice"].next(2 * time.Second)
			switch {
			case isRename(event):
				renames++
			case isOwnNotice(event):
				notices++
			default:
				t.Errorf("alice got %s %q, want the rename line and notice", event.Name,
					event.Data)
			}
		}
		if renames != 1 || notices != 1 {
			t.Errorf("alice got %d rename lines and %d notices with out-of-band swaps, "+
				"want 1 of each", renames, notices)
		}
		if page := alice.get("/").Body; !strings.Contains(page, `<b id="me">Alicia</b>`) {
			t.Error("the cookie does not carry the new nickname")
		}
	})

	t.Run("double slash posts a line starting with a slash", func(t *testing.T) {
		time.Sleep(PostInterval)
		bob.mustPost("//shrug")
		event := streams["carol"].next(2 * time.Second)
		if !strings.Contains(event.Data, ">/shrug<") {
			t.Errorf("carol got %q, want the text /shrug", event.Data)
		}
	})
}

func TestMarkupIsShownAsText(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	s := alice.openStream("")
	s.next(2 * time.Second)
	drainJoins(t, map[string]*eventStream{"alice": s})

	hostile := []string{
		`<div hx-get="/logout" hx-trigger="load">x</div>`,
		`"><script>alert(1)</script>`,
		`<img src=x onerror=alert(1)>`,
		`javascript:alert(1) and http://ok.example/a?b=<c>`,
	}
	for _, text := range hostile {
		alice.mustPost(text)
		event := s.next(2 * time.Second)
		for _, bad := range []string{"<div hx-", "<script", "<img", `href="javascript`} {
			if strings.Contains(event.Data, bad) {
				t.Errorf("post %q rendered markup %q: %s", text, bad, event.Data)
			}
		}
	}
	page := alice.get("/").Body
	if strings.Contains(page, "<script>alert") || strings.Contains(page, `<div hx-get="/logout"`) {
		t.Error("history in the page renders posted markup")
	}
}

func TestWithoutJavaScript(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")

	resp := alice.postForm("/messages", url.Values{"text": {"plain form post"}}, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("plain post: status %d Location %q, want 303 to /", resp.StatusCode,
			resp.Header.Get("Location"))
	}
	if page := alice.get("/").Body; !strings.Contains(page, "plain form post") {
		t.Error("the room page does not show the posted message")
	}

	resp = alice.postForm("/messages", url.Values{"text": {"damn shit"}}, false)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "swear") ||
		!strings.Contains(resp.Body, "<html") {
		t.Errorf("plain flagged post: status %d, want the room page with the notice",
			resp.StatusCode)
	}
}

func TestLinksAndMentions(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	s := alice.openStream("")
	s.next(2 * time.Second)
	drainJoins(t, map[string]*eventStream{"alice": s})

	alice.mustPost("see https://go.dev/doc, @Bob_Lee and @alice")
	event := s.next(2 * time.Second)
	wants := []string{
		`<a href="https://go.dev/doc" rel="noopener noreferrer nofollow ugc"`,
		`data-mentions="bob_lee alice"`,
		`<time datetime="`,
	}
	for _, want := range wants {
		if !strings.Contains(event.Data, want) {
			t.Errorf("message lacks %s:\n%s", want, event.Data)
		}
	}

	css := alice.get("/mentions.css?for=alice").Body
	if !strings.Contains(css, `[data-mentions~="alice"]`) {
		t.Errorf("mention style sheet = %q, want a rule for alice", css)
	}
	hostile := alice.get(`/mentions.css?for=a"]{}*{x:1}`).Body
	if strings.Contains(hostile, `a"]`) {
		t.Errorf("mention style sheet let a quote through: %q", hostile)
	}
}

func messagesText(messages []store.Message) string {
	var b strings.Builder
	for _, m := range messages {
		b.WriteString(m.Text)
		b.WriteByte('\n')
	}
	return b.String()
}
