package handlers

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStreamHeadersArriveAtOnce(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")

	req, _ := http.NewRequest("GET", ts.URL+"/events", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	client := *alice.client
	client.Transport = &http.Transport{DisableCompression: true}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /events error = %v", err)
	}
	defer resp.Body.Close()

	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("headers took %v in an empty room, want them at once", elapsed)
	}
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Content-Encoding":  "",
	}
	expectHeaders(t, resp.Header, want)

	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "retry: 2000\n" {
		t.Errorf("first line = %q, want the retry line", line)
	}
}

func TestStreamWithoutSessionIs204(t *testing.T) {
	ts := newTestServer(t)
	visitor := newUser(t, ts)

	if got := visitor.get("/events").StatusCode; got != http.StatusNoContent {
		t.Errorf("GET /events without a session status = %d, want 204", got)
	}
}

func TestBroadcastAndPrivateNotice(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	aliceTab2 := alice.tab()
	bob := login(t, ts, "Bob")
	streams := map[string]*eventStream{
		"alice": alice.openStream(""), "alice tab 2": aliceTab2.openStream(""),
		"bob": bob.openStream(""),
	}
	for name, s := range streams {
		if got := s.next(2 * time.Second).Name; got != eventHistory {
			t.Fatalf("%s first event = %s, want history", name, got)
		}
	}
	drainJoins(t, streams)

	alice.mustPost("hello <b>everyone</b>")
	for name, s := range streams {
		event := s.next(2 * time.Second)
		if event.Name != eventMessage || event.ID == "" {
			t.Fatalf("%s got %s event with id %q, want message with an id", name, event.Name,
				event.ID)
		}
		if !strings.Contains(event.Data, "hello &lt;b&gt;everyone&lt;/b&gt;") ||
			!strings.Contains(event.Data, `id="m-`+event.ID+`"`) {
			t.Errorf("%s message data = %q, want escaped text and element id m-%s", name,
				event.Data, event.ID)
		}
	}

	alice.mustPost("what the fuck")
	for _, name := range []string{"alice", "alice tab 2"} {
		event := streams[name].next(2 * time.Second)
		if event.Name != eventNotice || event.ID != "" || !strings.Contains(event.Data, "swear") {
			t.Errorf("%s got %s event (id %q) %q, want a notice without id about swearing",
				name, event.Name, event.ID, event.Data)
		}
		if strings.Contains(event.Data, "fuck") {
			t.Errorf("%s notice repeats the flagged text: %q", name, event.Data)
		}
	}
	streams["bob"].expectNone(300 * time.Millisecond)

	stored, _ := ts.store.Recent(t.Context(), 10)
	for _, m := range stored {
		if strings.Contains(m.Text, "fuck") {
			t.Errorf("flagged message was stored: %+v", m)
		}
	}
}

// drainJoins reads the join lines that the logins caused, so tests start from quiet.
func drainJoins(t testing.TB, streams map[string]*eventStream) {
	t.Helper()
	for name, s := range streams {
		for {
			select {
			case event := <-s.events:
				if event.Name == eventMessage && !strings.Contains(event.Data, "msg-join") {
					t.Fatalf("%s: unexpected message while draining joins: %q", name, event.Data)
				}
				continue
			case <-time.After(150 * time.Millisecond):
			}
			break
		}
	}
}

func TestMultilineMessageIsOneEvent(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	s := alice.openStream("")
	s.next(2 * time.Second) // history
	drainJoins(t, map[string]*eventStream{"alice": s})

	alice.mustPost("first line\nsecond line\r\nthird line")
	event := s.next(2 * time.Second)
	want := "first line\nsecond line\nthird line"
	if !strings.Contains(event.Data, want) {
		t.Errorf("message data = %q, want the three lines %q in one event", event.Data, want)
	}
}

func TestHeartbeatKeepsIdleStreamAlive(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Heartbeat = 50 * time.Millisecond })
	alice := login(t, ts, "Alice")

	conn := rawStream(t, ts, alice, "")
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	rd := bufio.NewReader(conn)
	comments := 0
	for comments < 3 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read after %d heartbeats error = %v", comments, err)
		}
		if strings.HasPrefix(line, ":") {
			comments++
		}
	}
}

func TestReplay(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	// A first stream keeps the session online, so no join or leave line is written
	// while the subtests open and close theirs.
	primary := alice.openStream("")
	primary.next(2 * time.Second)
	drainJoins(t, map[string]*eventStream{"primary": primary})
	ids := ts.publish(t, 20)
	first, last := ids[0], ids[len(ids)-1]

	tests := []struct {
		name        string
		lastEventID string
		wantHistory bool
		wantIDs     []string
	}{
		{"after the fifth", fmt.Sprint(first + 4), false, seq(first+5, last)},
		{"up to date", "newest", false, nil},
		{"no header", "", true, nil},
		{"unknown id beyond the newest", fmt.Sprint(last + 1000), true, nil},
		{"not a number", "abc", true, nil},
		{"negative", "-3", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.lastEventID == "newest" {
				tt.lastEventID = fmt.Sprint(ts.newest(t))
			}
			s := alice.openStream(tt.lastEventID)
			if tt.wantHistory {
				event := s.next(2 * time.Second)
				newest := ts.newest(t)
				if event.Name != eventHistory || event.ID != fmt.Sprint(newest) {
					t.Fatalf("event = %s id %q, want history with id %d", event.Name, event.ID,
						newest)
				}
				if got := strings.Count(event.Data, `<li id="m-`); got != int(newest) {
					t.Errorf("history holds %d messages, want %d", got, newest)
				}
				return
			}
			got := s.messages(len(tt.wantIDs), 2*time.Second)
			if !slices.Equal(got, tt.wantIDs) {
				t.Errorf("replayed ids = %v, want %v", got, tt.wantIDs)
			}
			ts.publish(t, 1)
			if next := s.messages(1, 2*time.Second)[0]; next != fmt.Sprint(ts.newest(t)) {
				t.Errorf("first live id = %s, want %d", next, ts.newest(t))
			}
		})
	}
}

func (ts *testServer) newest(t testing.TB) int64 {
	t.Helper()
	_, newest, err := ts.store.Bounds(t.Context())
	if err != nil {
		t.Fatalf("Bounds error = %v", err)
	}
	return newest
}

// TestReplayAfterRestart covers replays that the in-memory frames cannot answer,
// because the process is new: read and rendered from the store, and history when
// more than ReplayLimit were missed.
func TestReplayAfterRestart(t *testing.T) {
	before := newTestServer(t)
	alice := login(t, before, "Alice")
	ids := before.publish(t, ReplayLimit+20)
	last := ids[len(ids)-1]
	before.stop()

	after := startTestServer(t, before.dir, before.keys)
	alice.ts = after
	s := alice.openStream(fmt.Sprint(last - 15))
	if got := s.messages(15, 5*time.Second); !slices.Equal(got, seq(last-14, last)) {
		t.Errorf("replay from the store = %v, want %v", got, seq(last-14, last))
	}

	tooOld := alice.openStream(fmt.Sprint(ids[0]))
	if event := tooOld.next(2 * time.Second); event.Name != eventHistory {
		t.Errorf("after missing more than %d: %s event, want history", ReplayLimit, event.Name)
	}
}

// TestReplayDuringConcurrentPosts connects streams with Last-Event-ID while messages
// are being published, and checks each sees every id once, in order: no gap between
// replay and live, no duplicate.
func TestReplayDuringConcurrentPosts(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	ts.publish(t, 50)
	const total = 250

	var wg sync.WaitGroup
	wg.Go(func() { ts.publish(t, total-50) })
	for i := range 10 {
		from := int64(rand.IntN(50))
		if i == 0 {
			from = 0
		}
		wg.Go(func() {
			s := alice.tab().openStream(fmt.Sprint(from))
			got := s.messages(int(total-from), 5*time.Second)
			if !slices.Equal(got, seq(from+1, total)) {
				t.Errorf("stream from %d: ids %v..., want %d..%d each once", from,
					got[:min(5, len(got))], from+1, total)
			}
		})
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// rawStream opens GET /events on a plain TCP connection, so a test can stop reading.
func rawStream(t testing.TB, ts *testServer, u *user, lastEventID string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial error = %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	tcp := conn.(*net.TCPConn)
	tcp.SetReadBuffer(4096)

	var cookies []string
	for _, c := range u.client.Jar.Cookies(ts.urlOf(t)) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	request := "GET /events HTTP/1.1\r\nHost: " + ts.Listener.Addr().String() + "\r\n" +
		"Cookie: " + strings.Join(cookies, "; ") + "\r\n"
	if lastEventID != "" {
		request += "Last-Event-ID: " + lastEventID + "\r\n"
	}
	if _, err := conn.Write([]byte(request + "\r\n")); err != nil {
		t.Fatalf("write request error = %v", err)
	}
	return tcp
}

// TestStalledReaderIsCutLoose holds a stream that never reads beside a healthy one:
// the healthy one gets everything at once, and the stalled one is dropped.
func TestStalledReaderIsCutLoose(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	staller := login(t, ts, "Staller")
	rawStream(t, ts, staller, "")
	healthy := login(t, ts, "Healthy").openStream("")
	healthy.next(2 * time.Second) // history
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 2 }, "two subscribers")

	// Enough to fill the stream's socket buffers, then its queue of 256.
	const messages = 400
	start := time.Now()
	published := make(chan []int64, 1)
	go func() { published <- ts.publishLong(t, messages) }()
	got := 0
	for got < messages {
		event := healthy.next(5 * time.Second)
		if event.Name == eventMessage && strings.Contains(event.Data, "long ") {
			got++
		}
	}
	<-published
	t.Logf("healthy stream got %d messages in %v beside a stalled one", got, time.Since(start))

	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 1 },
		"the stalled subscriber to be dropped")
}

// TestStalledReaderWithSmallMessages stalls a reader under an ordinary room: short
// messages at a steady pace. The queue must fill and cut it loose, rather than the
// kernel buffering minutes of the room for a reader that is gone.
func TestStalledReaderWithSmallMessages(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	staller := login(t, ts, "Staller")
	rawStream(t, ts, staller, "")
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 1 }, "the stream")

	// 1,000 messages of about 1 KB: far less than the megabytes a kernel would buffer
	// for one socket on its own, far more than the fixed send buffer and the queue.
	for i := range 1000 {
		ts.publishText(t, fmt.Sprintf("small %d %s", i, strings.Repeat("y", 600)))
	}
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 0 },
		"the stalled subscriber to be dropped")
}

// publishLong publishes n messages of 30,000 characters, to fill a stalled socket
// fast. Posts are shorter; the room itself takes any length.
func (ts *testServer) publishLong(t testing.TB, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		id := ts.publishText(t, fmt.Sprintf("long %d %s", i, strings.Repeat("x", 30_000)))
		ids = append(ids, id)
	}
	return ids
}

func TestClientsGoingAwayLeaveNothingBehind(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	runtime.GC()
	baseline := runtime.NumGoroutine()

	var streams []*eventStream
	for range 50 {
		streams = append(streams, alice.tab().openStream(""))
		if len(streams) == MaxStreamsPerSession {
			break
		}
	}
	bob := login(t, ts, "Bob")
	for range 30 {
		streams = append(streams, bob.tab().openStream(""))
		if len(streams) == 2*MaxStreamsPerSession {
			break
		}
	}
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == len(streams) }, "streams")

	for _, s := range streams {
		s.close()
	}
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 0 }, "no subscribers")
	waitUntil(t, func() bool { return runtime.NumGoroutine() <= baseline+2 },
		fmt.Sprintf("goroutines back to %d", baseline))
}

func TestStreamLimitPerSession(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	for range MaxStreamsPerSession {
		alice.tab().openStream("")
	}
	waitUntil(t, func() bool {
		return ts.chat.hub.Streams(ts.sessionOf(t, alice)) ==
			MaxStreamsPerSession
	}, "all streams open")

	if got := alice.get("/events"); got.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(got.Body, "Too many open tabs") {
		t.Errorf("stream %d: status %d %q, want 429 saying too many tabs",
			MaxStreamsPerSession+1, got.StatusCode, got.Body)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	ts := newTestServer(t)
	s := login(t, ts, "Alice").openStream("")
	s.next(2 * time.Second)

	ts.chat.Close()
	s.ended(time.Second)
}

func waitUntil(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
