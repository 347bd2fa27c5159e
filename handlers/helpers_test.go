package handlers

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatroom/chat/moderation"
	"github.com/chatroom/chat/sse"
	"github.com/chatroom/chat/store"
)

// testServer is the chat on a real socket, with its store in a temporary folder.
type testServer struct {
	*httptest.Server
	chat  *Server
	store *store.Store
	keys  [][]byte
	dir   string
}

type serverOption func(*Config)

func newTestServer(t testing.TB, options ...serverOption) *testServer {
	t.Helper()
	dir := t.TempDir()
	return startTestServer(t, dir, randomKeys(), options...)
}

func startTestServer(t testing.TB, dir string, keys [][]byte,
	options ...serverOption) *testServer {
	t.Helper()
	ctx := context.Background()

	st, err := store.Open(ctx, dir, 0)
	if err != nil {
		t.Fatalf("store.Open error = %v", err)
	}
	cfg := Config{CookieKeys: keys, LeaveGrace: 100 * time.Millisecond}
	for _, option := range options {
		option(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	chat, err := New(ctx, cfg, st, moderation.Default(), log)
	if err != nil {
		t.Fatalf("New error = %v", err)
	}

	ts := &testServer{Server: httptest.NewServer(chat.Handler()), chat: chat, store: st,
		keys: keys, dir: dir}
	t.Cleanup(ts.stop)
	return ts
}

// stop ends the streams first, as the command does, so Close does not wait on them.
func (ts *testServer) stop() {
	ts.chat.Close()
	ts.Server.Close()
	ts.store.Close()
}

func randomKeys() [][]byte {
	hash, block := make([]byte, 64), make([]byte, 32)
	rand.Read(hash)
	rand.Read(block)
	return [][]byte{hash, block}
}

// user is one browser: a cookie jar that does not follow redirects.
type user struct {
	t      testing.TB
	ts     *testServer
	client *http.Client
}

func newUser(t testing.TB, ts *testServer) *user {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &user{t: t, ts: ts, client: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// login logs a new user in and fails the test if that does not work.
func login(t testing.TB, ts *testServer, nickname string) *user {
	t.Helper()
	u := newUser(t, ts)
	resp := u.postForm("/login", url.Values{"nickname": {nickname}}, false)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login %q status = %d, want 303", nickname, resp.StatusCode)
	}
	return u
}

// tab returns a second tab of the same browser: same cookies.
func (u *user) tab() *user {
	return &user{t: u.t, ts: u.ts, client: u.client}
}

func (u *user) postForm(path string, form url.Values, htmx bool) *reply {
	u.t.Helper()
	req, _ := http.NewRequest("POST", u.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	return u.do(req)
}

func (u *user) post(text string) *reply {
	u.t.Helper()
	return u.postForm("/messages", url.Values{"text": {text}}, true)
}

// mustPost posts text and fails the test unless it is accepted.
func (u *user) mustPost(text string) {
	u.t.Helper()
	if resp := u.post(text); resp.StatusCode != http.StatusOK {
		u.t.Fatalf("POST /messages %q status = %d, want 200", text, resp.StatusCode)
	}
}

func (u *user) get(path string) *reply {
	u.t.Helper()
	req, _ := http.NewRequest("GET", u.ts.URL+path, nil)
	return u.do(req)
}

// reply is a whole answer, read to its end.
type reply struct {
	StatusCode int
	Header     http.Header
	Body       string
}

// do sends req and reads the whole answer.
func (u *user) do(req *http.Request) *reply {
	u.t.Helper()
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s error = %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		u.t.Fatalf("%s %s read error = %v", req.Method, req.URL.Path, err)
	}
	return &reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

// eventStream is an open event stream read as a browser would.
type eventStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sse.Event
	done   chan error
	cancel context.CancelFunc
}

// openStream opens GET /events; lastEventID is sent when not empty.
func (u *user) openStream(lastEventID string) *eventStream {
	u.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u.ts.URL+"/events", nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}

	client := *u.client
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		u.t.Fatalf("GET /events error = %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		u.t.Fatalf("GET /events status = %d, want 200", resp.StatusCode)
	}

	s := &eventStream{t: u.t, resp: resp, events: make(chan sse.Event, 4096),
		done: make(chan error, 1), cancel: cancel}
	go s.read()
	u.t.Cleanup(s.close)
	return s
}

func (s *eventStream) read() {
	rd := sse.NewReader(bufio.NewReader(s.resp.Body))
	for {
		event, err := rd.Next()
		if err != nil {
			s.done <- err
			close(s.events)
			return
		}
		s.events <- event
	}
}

func (s *eventStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event that is not presence, or fails after timeout.
func (s *eventStream) next(timeout time.Duration) sse.Event {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case event, ok := <-s.events:
			if !ok {
				s.t.Fatalf("stream ended while waiting for an event")
			}
			if event.Name != eventPresence {
				return event
			}
		case <-deadline:
			s.t.Fatalf("no event within %v", timeout)
		}
	}
}

// expectNone fails if an event other than presence arrives within wait.
func (s *eventStream) expectNone(wait time.Duration) {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case event, ok := <-s.events:
			if ok && event.Name != eventPresence {
				s.t.Fatalf("unexpected %s event: %.200s", event.Name, event.Data)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

// ended waits for the stream to end and fails if it does not within timeout.
func (s *eventStream) ended(timeout time.Duration) {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("stream still open after %v", timeout)
	}
}

// messages reads n message events and returns their ids in order.
func (s *eventStream) messages(n int, timeout time.Duration) []string {
	s.t.Helper()
	var ids []string
	for len(ids) < n {
		event := s.next(timeout)
		if event.Name != eventMessage {
			s.t.Fatalf("event %s, want message: %.200s", event.Name, event.Data)
		}
		ids = append(ids, event.ID)
	}
	return ids
}

// publish adds n text messages straight through the room, as many posters would,
// without the flood limit that protects the HTTP route.
func (ts *testServer) publish(t testing.TB, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		m, err := ts.chat.room.publish(context.Background(), store.Message{
			Kind: store.KindText, Nickname: "Bulk", Text: fmt.Sprint("bulk ", i),
			Time: time.Now()})
		if err != nil {
			t.Fatalf("publish error = %v", err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func seq(from, to int64) []string {
	var out []string
	for id := from; id <= to; id++ {
		out = append(out, fmt.Sprint(id))
	}
	return out
}

func (ts *testServer) urlOf(t testing.TB) *url.URL {
	t.Helper()
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatalf("parse %s: %v", ts.URL, err)
	}
	return u
}

// sessionOf reads the session id from a user's cookie, as the server does.
func (ts *testServer) sessionOf(t testing.TB, u *user) string {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL, nil)
	for _, c := range u.client.Jar.Cookies(ts.urlOf(t)) {
		req.AddCookie(c)
	}
	id, ok, _ := ts.chat.identify(req)
	if !ok {
		t.Fatalf("user has no session")
	}
	return id.SessionID
}

func (ts *testServer) publishText(t testing.TB, text string) int64 {
	t.Helper()
	m, err := ts.chat.room.publish(context.Background(), store.Message{
		Kind: store.KindText, Nickname: "Bulk", Text: text, Time: time.Now()})
	if err != nil {
		t.Fatalf("publish error = %v", err)
	}
	return m.ID
}

// expectHeaders checks that each header in want has its value; "" means absent.
func expectHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for name, value := range want {
		if v := got.Get(name); v != value {
			t.Errorf("header %s = %q, want %q", name, v, value)
		}
	}
}
