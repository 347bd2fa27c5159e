package e2e

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReconnectAfterDroppedStream cuts Bob's network while Alice posts (case C10): his
// EventSource reconnects by itself with Last-Event-ID, and his page then has every
// message once, in order, with no reload.
func TestReconnectAfterDroppedStream(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	bobsNetwork := startLink(t, srv)
	alice := newUser(t, srv.URL(), "Alice")
	bob := newUser(t, bobsNetwork.URL(), "Bob")

	alice.post(t, "Are you there, Bob?")
	bob.post(t, "Yes, on a train.")
	ids := waitSameLog(t, alice, bob)
	lastSeen := strings.TrimPrefix(ids[len(ids)-1], "m-")
	loads, streams := bob.watch.pageLoads(), len(bob.watch.streamsSnapshot())

	// The cut is seen by the browser itself: its stream fails.
	bob.watch.expectStreamErrors()
	bobsNetwork.setDown(true)
	bob.waitFor(t, stepTimeout, "Bob's stream to fail", func() (bool, string) {
		n := bob.watch.openStreams()
		return n == 0, fmt.Sprintf("%d open streams", n)
	})

	// Alice posts while he is away, and the leave grace (1 s) runs out, so the room
	// also writes that he left: four messages he has to catch up on.
	for i := 1; i <= 3; i++ {
		alice.post(t, fmt.Sprintf("Message %d while Bob is in a tunnel", i))
	}
	alice.waitFor(t, 5*time.Second, "a line saying Bob left", func() (bool, string) {
		left := evalJS[[]string](t, alice, `Array.from(
			document.querySelectorAll('#log li.msg-leave .nick'), n => n.textContent)`)
		return slices.Contains(left, "Bob"), fmt.Sprintf("leave lines of %q", left)
	})

	bobsNetwork.setDown(false)
	final := waitSameLogWithin(t, 10*time.Second, alice, bob)
	for i := 1; i <= 3; i++ {
		bob.waitMessage(t, time.Second, "Alice",
			fmt.Sprintf("Message %d while Bob is in a tunnel", i))
	}
	if !isPrefix(ids, final) {
		t.Errorf("Bob's log after the reconnect = %v, want it to start with %v", final, ids)
	}

	bob.checkNoReload(t, loads)
	checkOneLiveStream(t, alice, bob)
	resumed := liveStream(t, bob, streams)
	if resumed.lastEventID != lastSeen {
		t.Errorf("Bob's reconnect sent Last-Event-ID %q, want %q (the last id he had): %v",
			resumed.lastEventID, lastSeen, bob.watch.streamsSnapshot())
	}
}

// TestReconnectAfterServerRestart restarts the server under two open pages (case
// C02): without a reload, Bob's page shows what Alice posts after the restart, once,
// with the history from before it. Both ways back are taken. Straight to the server,
// a refused connection leaves Chromium's EventSource retrying by itself, and it sends
// Last-Event-ID. Behind a proxy that answers 502 while the server is down, the HTTP
// error closes the EventSource for good, and htmx's SSE extension opens a new one
// after its back-off, without Last-Event-ID. The server stays down until Bob's
// browser has met that failure, so each case takes the path it names.
func TestReconnectAfterServerRestart(t *testing.T) {
	requireBrowser(t)
	cases := []struct {
		name   string
		signal syscall.Signal
		proxy  bool
		// downUntil is what Bob's browser must have met before the server comes back.
		downUntil  string
		wantResume bool // whether the stream resumes with Last-Event-ID
	}{
		{name: "killed", signal: syscall.SIGKILL, downUntil: "refused", wantResume: true},
		{name: "stopped", signal: syscall.SIGTERM, downUntil: "refused", wantResume: true},
		{name: "killed behind a proxy", signal: syscall.SIGKILL, proxy: true,
			downUntil: "502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			base := srv.URL()
			if tc.proxy {
				base = startProxy(t, srv)
			}
			alice := newUser(t, base, "Alice")
			bob := newUser(t, base, "Bob")

			alice.post(t, "Before the restart, one.")
			bob.post(t, "Before the restart, two.")
			before := waitSameLog(t, alice, bob)
			loads := bob.watch.pageLoads()
			aliceStreams := len(alice.watch.streamsSnapshot())
			bobStreams := len(bob.watch.streamsSnapshot())

			for _, page := range []*tab{alice, bob} {
				page.watch.expectStreamErrors()
				// A 502 from the proxy is logged as a failed load of /events too.
				page.watch.expect("status of 502")
			}
			srv.restart(tc.signal, func() {
				waitFailedReconnect(t, bob, bobStreams, tc.downUntil)
			})

			// Alice keeps her tab: her cookie still works, as the keys are kept in the
			// data folder. She posts as soon as the server answers again.
			alice.post(t, "After the restart, one.")
			alice.post(t, "After the restart, two.")
			for _, text := range []string{"After the restart, one.", "After the restart, two."} {
				bob.waitMessage(t, 15*time.Second, "Alice", text)
			}
			alice.waitConnected(t, aliceStreams)
			final := waitSameLog(t, alice, bob)
			if !isPrefix(before, final) {
				t.Errorf("Bob's log after the restart = %v, want it to start with %v",
					final, before)
			}

			bob.checkNoReload(t, loads)
			checkOneLiveStream(t, alice, bob)
			live := liveStream(t, bob, bobStreams)
			if resumed := live.lastEventID != ""; resumed != tc.wantResume {
				t.Errorf("Bob's new stream %v: resumed with Last-Event-ID = %v, want %v",
					live, resumed, tc.wantResume)
			}
			t.Logf("Bob's streams: %v", bob.watch.streamsSnapshot())
		})
	}
}

// waitFailedReconnect waits, while the server is down, until t's browser has tried
// to reconnect and failed the way the case needs: "refused" for a connection error,
// which leaves the EventSource retrying by itself, or "502" for an HTTP error, which
// closes it for good and hands over to the SSE extension.
func waitFailedReconnect(tb testing.TB, t *tab, skip int, want string) {
	tb.Helper()

	t.waitFor(tb, stepTimeout, "a reconnect that met "+want, func() (bool, string) {
		streams := t.watch.streamsSnapshot()
		for _, s := range streams[min(skip, len(streams)):] {
			switch {
			case want == "502" && s.status == 502:
				return true, ""
			case want == "refused" && strings.Contains(s.failure, "CONNECTION_REFUSED"):
				return true, ""
			}
		}
		return false, fmt.Sprintf("streams %v", streams)
	})
}

// liveStream returns the tab's one open stream, which must have opened after the
// first skip streams.
func liveStream(tb testing.TB, t *tab, skip int) streamRecord {
	tb.Helper()

	streams := t.watch.streamsSnapshot()
	for i, s := range streams {
		if s.open && i >= skip {
			return s
		}
	}
	tb.Fatalf("%s: streams %v: got no open stream after the first %d, want one",
		t.name, streams, skip)
	return streamRecord{}
}

// checkOneLiveStream checks that each tab holds exactly one open stream: a reconnect
// must replace the old EventSource, not add one.
func checkOneLiveStream(tb testing.TB, tabs ...*tab) {
	tb.Helper()

	for _, t := range tabs {
		if n := t.watch.openStreams(); n != 1 {
			tb.Errorf("%s: %d open /events streams, want 1: %v",
				t.name, n, t.watch.streamsSnapshot())
		}
	}
}

// waitSameLogWithin is waitSameLog with its own deadline, for a catch-up.
func waitSameLogWithin(tb testing.TB, timeout time.Duration, tabs ...*tab) []string {
	tb.Helper()

	var ids []string
	waitFor(tb, timeout, "the same log in every tab", func() (bool, string) {
		ids = tabs[0].messageIDs(tb)
		for _, other := range tabs[1:] {
			if got := other.messageIDs(tb); !slices.Equal(got, ids) {
				return false, fmt.Sprintf("%s %v, %s %v", tabs[0].name, ids, other.name, got)
			}
		}
		return true, ""
	})
	checkOnceInOrder(tb, tabs[0].name, ids)
	return ids
}

func isPrefix(prefix, list []string) bool {
	return len(prefix) <= len(list) && slices.Equal(prefix, list[:len(prefix)])
}
