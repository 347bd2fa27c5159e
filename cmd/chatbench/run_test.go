package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeChat is an in-process chat server with the four routes the tool drives. It frames
// messages with CRLF and two data lines, sends comments and a history snapshot, replays
// after Last-Event-ID, and can be told to drop or duplicate one message for one stream,
// so the test knows exactly what the tool must report.
type fakeChat struct {
	mu     sync.Mutex
	nextID int
	log    [][]byte // frames by id-1
	subs   map[*fakeSub]struct{}
	nSubs  int // streams ever registered; gives each its number

	// Stream numbers (registration order) that miss, get twice, or are closed after the
	// message faultID; -1 for none.
	dropFor, dupFor, closeFor int
	faultID                   int

	// With writeTimeout set, a stream whose writes block that long is closed, the way a
	// server cuts loose a client that stopped reading; pad bytes of comment follow each
	// message so the buffers of such a client fill within a few messages.
	writeTimeout time.Duration
	pad          int

	// Every n-th login or post is refused with 429 (0: never), like a rate limiter.
	login429Every, post429Every int
	logins, posts               int

	// Private notices: every n-th is lost (0: none); with noticeToAll every stream gets
	// every notice.
	noticeDropEvery, nextNotice int
	noticeToAll                 bool
}

// limited counts a request and says whether it is the n-th one to refuse.
func (f *fakeChat) limited(count *int, every int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	*count++
	return every > 0 && *count%every == 0
}

type fakeSub struct {
	n    int
	nick string // the session's cookie value, which the fake uses as its nickname
	ch   chan []byte
}

func newFakeChat() *fakeChat {
	return &fakeChat{subs: map[*fakeSub]struct{}{}, dropFor: -1, dupFor: -1, closeFor: -1}
}

func (f *fakeChat) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if f.limited(&f.logins, f.login429Every) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		nick := r.PostFormValue("nickname")
		if nick == "" {
			http.Error(w, "nickname required", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: nick, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/", http.StatusSeeOther) // as the Go server does
	})
	mux.HandleFunc("POST /messages", f.postMessage)
	mux.HandleFunc("GET /events", f.events)
	return mux
}

func (f *fakeChat) postMessage(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("sid")
	if err != nil {
		http.Error(w, "login first", http.StatusUnauthorized)
		return
	}
	if f.limited(&f.posts, f.post429Every) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	text := r.PostFormValue("text")
	if rest, ok := strings.CutPrefix(text, "/msg "); ok {
		f.directMessage(w, c.Value, rest)
		return
	}
	// Two data lines and CRLF endings, to exercise the tool's parser end to end.
	frag := fmt.Sprintf("<li class=\"message\">\r\ndata: <b>%s</b> %s</li>",
		html.EscapeString(c.Value), html.EscapeString(text))

	f.mu.Lock()
	f.nextID++
	id := f.nextID
	frame := fmt.Appendf(nil, "event: message\r\nid: %d\r\ndata: %s\r\n\r\n", id, frag)
	f.log = append(f.log, frame)
	for s := range f.subs {
		if id == f.faultID && s.n == f.dropFor {
			continue
		}
		s.ch <- frame
		if id == f.faultID && s.n == f.dupFor {
			s.ch <- frame
		}
		if id == f.faultID && s.n == f.closeFor {
			s.ch <- []byte{} // tells the handler to end the stream
		}
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "text/html")
	fmt.Fprint(w, frag)
}

// directMessage answers "/msg name text" like the chat: a notice without an id to every
// stream of the named session and of the sender; with noticeToAll, to everyone (a leak the
// tool must catch).
func (f *fakeChat) directMessage(w http.ResponseWriter, from, args string) {
	to, text, _ := strings.Cut(args, " ")
	frame := fmt.Appendf(nil, "event: notice\r\ndata: <li class=\"direct\">%s to %s: "+
		"%s</li>\r\n\r\n", html.EscapeString(from), html.EscapeString(to),
		html.EscapeString(text))
	f.mu.Lock()
	f.nextNotice++
	for s := range f.subs {
		if f.noticeDropEvery > 0 && f.nextNotice%f.noticeDropEvery == 0 {
			continue
		}
		if s.nick == to || s.nick == from || f.noticeToAll {
			s.ch <- frame
		}
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (f *fakeChat) events(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie("sid"); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc := http.NewResponseController(w)
	c, _ := r.Cookie("sid")
	sub := &fakeSub{nick: c.Value, ch: make(chan []byte, 4096)}

	// Registering and choosing the replay under one lock means no message falls between.
	var first [][]byte
	f.mu.Lock()
	sub.n = f.nSubs
	f.nSubs++
	if last, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil {
		first = append(first, f.log[min(last, len(f.log)):]...)
	} else {
		var hist bytes.Buffer
		hist.WriteString("event: history\ndata: <ul>\n")
		for _, fr := range f.log {
			hist.WriteString("data: ")
			hist.Write(fr[bytes.Index(fr, []byte("<b>")):bytes.Index(fr, []byte("\r\n\r\n"))])
			hist.WriteString("\n")
		}
		hist.WriteString("data: </ul>\n\n")
		first = append(first, hist.Bytes())
	}
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, sub)
		f.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprint(w, "retry: 1000\n: welcome\n\nevent: presence\ndata: 1 online\n\n")
	for _, fr := range first {
		_, _ = w.Write(fr)
	}
	if rc.Flush() != nil {
		return
	}
	padding := ": " + strings.Repeat("p", f.pad) + "\n\n"
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var fr []byte
		select {
		case <-r.Context().Done():
			return
		case fr = <-sub.ch:
		case <-tick.C:
		}
		// The deadline counts from the write, not from the wait for something to write.
		if f.writeTimeout > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(f.writeTimeout))
		}
		switch {
		case fr == nil:
			fmt.Fprint(w, ": ping\n\n")
		case len(fr) == 0:
			return
		default:
			_, _ = w.Write(fr)
			if f.pad > 0 {
				_, _ = io.WriteString(w, padding)
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// smallSendBuf shrinks the send buffer of accepted connections, so a client that stops
// reading blocks the server's writes after kilobytes instead of megabytes.
type smallSendBuf struct{ net.Listener }

func (l smallSendBuf) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// runAgainst runs the whole tool against srv and returns its report and exit code.
func runAgainst(t *testing.T, srv *httptest.Server, extra ...string) (*Report, int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"-url", srv.URL, "-json", out, "-progress=false",
		"-subscribers", "20", "-senders", "4", "-rate", "20", "-duration", "1s",
		"-drain", "1s"}, extra...)
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, cfg, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("report not written (exit %d): %v", code, err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	if !strings.Contains(stdout.String(), "result: ") {
		t.Errorf("table has no result line")
	}
	return &rep, code
}

func TestRunDetectsOneMissingAndOneDuplicate(t *testing.T) {
	fake := newFakeChat()
	fake.dropFor, fake.dupFor, fake.faultID = 1, 2, 3
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()

	rep, code := runAgainst(t, srv)

	d := rep.Deliveries
	if d.Missing != 1 || d.Duplicates != 1 || d.MissingSubs != 1 {
		t.Errorf("missing %d on %d streams, duplicates %d; want 1 on 1, and 1",
			d.Missing, d.MissingSubs, d.Duplicates)
	}
	if code != exitLoss || rep.Exit != exitLoss {
		t.Errorf("exit %d (report %d), want %d", code, rep.Exit, exitLoss)
	}
	if rep.Acked != 20 || rep.Streams.FullRun != 24 {
		t.Errorf("acked %d on %d full-run streams, want 20 on 24", rep.Acked,
			rep.Streams.FullRun)
	}
	if want := rep.Acked*24 - 1; d.Delivered != want {
		t.Errorf("delivered %d, want %d", d.Delivered, want)
	}
	if rep.Events.History != 24 || rep.Events.Presence != 24 {
		t.Errorf("history %d, presence %d; want 24 each", rep.Events.History,
			rep.Events.Presence)
	}
	if rep.Latency.Count == 0 || rep.Latency.P99 <= 0 || rep.TimeToLast.Count != 19 {
		t.Errorf("latency %+v, time to last %+v; want samples, 19 complete broadcasts",
			rep.Latency, rep.TimeToLast)
	}
}

func TestRunFailsWhenTheServerDropsAStream(t *testing.T) {
	fake := newFakeChat()
	fake.closeFor, fake.faultID = 5, 3
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()

	rep, code := runAgainst(t, srv)

	if rep.Streams.Lost != 1 || rep.Streams.FullRun != 23 {
		t.Errorf("streams %+v, want 1 lost and 23 full-run", rep.Streams)
	}
	// The lost stream is out of the loss accounting, yet the run must not pass.
	if rep.Deliveries.Missing != 0 || code != exitLoss {
		t.Errorf("missing %d, exit %d; want 0 missing and exit %d", rep.Deliveries.Missing,
			code, exitLoss)
	}
}

func TestRunCleanWithStallAndStorm(t *testing.T) {
	srv := httptest.NewServer(newFakeChat().handler())
	defer srv.Close()

	rep, code := runAgainst(t, srv, "-reconnect-storm", "-storm-duration", "1s",
		"-stall", "0.1")

	if code != exitOK {
		t.Errorf("exit %d, want %d (%s)", code, exitOK, rep.Result)
	}
	d := rep.Deliveries
	if d.Missing != 0 || d.Duplicates != 0 {
		t.Errorf("missing %d, duplicates %d; want none", d.Missing, d.Duplicates)
	}
	if rep.Acked != 40 {
		t.Errorf("acked %d, want 40 (20/s over 1s steady + 1s storm)", rep.Acked)
	}
	if st := rep.Stall; st == nil || st.Stalled != 2 || st.StillAttached != 2 {
		t.Errorf("stall %+v, want 2 stalled, both still attached", st)
	}
	sm := rep.Storm
	if sm == nil {
		t.Fatal("no storm report")
	}
	if sm.Streams != 22 || sm.Reconnected != 22 || sm.NotCaughtUp != 0 ||
		sm.CaughtUp.Count != 22 {
		t.Errorf("storm %+v; want 22 dropped, reconnected and caught up", sm)
	}
	if sm.HistoryAfter != 0 || sm.NoLastID != 0 {
		t.Errorf("storm resumed without ids (%d) or got history (%d)", sm.NoLastID,
			sm.HistoryAfter)
	}
}

func TestRunStalledSubscribersAreCutLoose(t *testing.T) {
	fake := newFakeChat()
	fake.writeTimeout, fake.pad = time.Second, 8<<10
	srv := httptest.NewUnstartedServer(fake.handler())
	srv.Listener = smallSendBuf{srv.Listener}
	srv.Start()
	defer srv.Close()

	rep, code := runAgainst(t, srv, "-stall", "0.1", "-duration", "2s")

	if st := rep.Stall; st == nil || st.Stalled != 2 || st.CutLoose != 2 {
		t.Errorf("stall %+v, want both stalled subscribers cut loose", st)
	}
	d := rep.Deliveries
	if code != exitOK || d.Missing != 0 || d.Duplicates != 0 || rep.Streams.FullRun != 22 {
		t.Errorf("exit %d: missing %d, duplicates %d on %d streams; want a clean run on 22",
			code, d.Missing, d.Duplicates, rep.Streams.FullRun)
	}
}

func TestRunRateLimited(t *testing.T) {
	fake := newFakeChat()
	fake.login429Every, fake.post429Every = 4, 5
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()

	rep, code := runAgainst(t, srv, "-login-rate", "200")

	if rep.Login.OK != 24 || rep.Login.Status429 == 0 {
		t.Errorf("login %+v, want all 24 in after retrying some 429s", rep.Login)
	}
	if rep.Login.Seconds < 0.1 {
		t.Errorf("24 logins at 200/s took %.3fs, want at least 0.1s", rep.Login.Seconds)
	}
	// Refused posts are reported and not expected anywhere.
	if rep.Sent != 20 || rep.Acked != 16 || rep.PostErrors["429"] != 4 {
		t.Errorf("sent %d, acked %d, errors %v; want 20, 16, 429 x4", rep.Sent, rep.Acked,
			rep.PostErrors)
	}
	if code != exitOK || rep.Deliveries.Missing != 0 || rep.Deliveries.Expected != 16*24 {
		t.Errorf("exit %d, missing %d of %d; want a clean run expecting %d", code,
			rep.Deliveries.Missing, rep.Deliveries.Expected, 16*24)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"absent uses the default", "", time.Second},
		{"seconds", "3", 3 * time.Second},
		{"zero still waits a little", "0", 10 * time.Millisecond},
		{"capped at a minute", "3600", time.Minute},
		{"past date", "Mon, 02 Jan 2006 15:04:05 GMT", 10 * time.Millisecond},
		{"garbage uses the default", "soon", time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			if got := retryAfter(h, time.Second); got != tc.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestRunSetupErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"non-loopback host", []string{"-url", "http://10.0.0.1:8080"}, exitSetup},
		{"too many subscribers", []string{"-subscribers", "20001"}, exitSetup},
		{"unknown flag", []string{"-nope"}, exitSetup},
		{"nothing listening", []string{"-url", "http://127.0.0.1:1", "-progress=false"},
			exitSetup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := mainWithArgs(tc.args, &stdout, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d; stderr: %s", got, tc.want, stderr.String())
			}
		})
	}
}
