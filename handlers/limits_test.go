package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// streamFrom opens GET /events as u with an X-Forwarded-For header and returns the
// status, keeping the stream open until the test ends when it is 200.
func streamFrom(t *testing.T, u *user, forwardedFor string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u.ts.URL+"/events", nil)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	client := *u.client
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /events error = %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.StatusCode
}

func TestStreamsPerAddress(t *testing.T) {
	tests := []struct {
		name    string
		trust   bool
		headers []string // X-Forwarded-For of each stream, in order
		want    []int
	}{
		{"direct clients share the peer address", false,
			[]string{"", "", ""}, []int{200, 200, 429}},
		{"a forged header is ignored without a proxy", false,
			[]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, []int{200, 200, 429}},
		{"behind a proxy each client address counts", true,
			[]string{"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"}, []int{200, 200, 200, 429}},
		{"behind a proxy the last hop is the client", true,
			[]string{"1.1.1.1, 10.0.0.1", "2.2.2.2, 10.0.0.1", "10.0.0.1"},
			[]int{200, 200, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) {
				c.StreamsPerAddr = 2
				c.TrustForwardedFor = tt.trust
			})
			alice := login(t, ts, "Alice")
			for i, header := range tt.headers {
				if got := streamFrom(t, alice.tab(), header); got != tt.want[i] {
					t.Errorf("stream %d from %q status = %d, want %d", i+1, header, got,
						tt.want[i])
				}
			}
		})
	}
}

func TestTotalStreams(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxStreams = 3 })
	for i := range 3 {
		login(t, ts, fmt.Sprint("User", i)).openStream("")
	}
	waitUntil(t, func() bool { return ts.chat.hub.Subscribers() == 3 }, "three streams")

	resp := login(t, ts, "Late").get("/events")
	if resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(resp.Body, "too many open streams") {
		t.Errorf("stream over the total: %d %q, want 503 saying so", resp.StatusCode, resp.Body)
	}
}

func TestLoginsPerAddress(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.LoginsPerMinute = 3 })
	for i := range 3 {
		login(t, ts, fmt.Sprint("User", i))
	}

	resp := newUser(t, ts).postForm("/login", url.Values{"nickname": {"Fourth"}}, true)
	if resp.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(resp.Body, "Too many logins from your address") ||
		resp.Header.Get("Retry-After") != "20" {
		t.Errorf("fourth login: %d (Retry-After %q) %q, want 429 after 20 s", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Body)
	}
	if !strings.Contains(resp.Body, `value="Fourth"`) {
		t.Errorf("the refused login form did not keep the nickname")
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Metrics = true })
	alice := login(t, ts, "Alice")
	s := alice.openStream("")
	s.next(2 * time.Second) // history
	s.next(2 * time.Second) // the join line
	alice.mustPost("counted")
	alice.mustPost("shit")

	body := alice.get("/metrics").Body
	wants := []string{
		"chat_streams_open 1", "chat_logins_total 1", "chat_messages_flagged_total 1",
		"chat_notices_total 1", "chat_slow_readers_dropped_total 0", "chat_replay_messages_count 1",
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(body, "chat_messages_total 2") { // the join line and the message
		t.Errorf("/metrics lacks chat_messages_total 2")
	}

	off := newTestServer(t)
	if got := login(t, off, "Bob").get("/metrics").StatusCode; got != http.StatusNotFound {
		t.Errorf("/metrics with metrics off = %d, want 404", got)
	}
}
