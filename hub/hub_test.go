package hub

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestHub returns a hub that is closed when the test ends.
func newTestHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	h := New(opts)
	t.Cleanup(h.Close)
	return h
}

func subscribe(t testing.TB, h *Hub, session, nickname string) *Subscription {
	t.Helper()
	sub, err := h.Subscribe(Member{SessionID: session, Nickname: nickname})
	if err != nil {
		t.Fatalf("Subscribe(%s) error = %v", session, err)
	}
	return sub
}

// take returns the ids of the frames waiting in sub.
func take(sub *Subscription) []int64 {
	frames, _ := sub.Take(nil)
	ids := make([]int64, len(frames))
	for i, f := range frames {
		ids[i] = f.ID
	}
	return ids
}

// collect waits until sub has had n frames queued, as broadcasts reach it from the
// fan-out goroutine, and returns their ids.
func collect(t testing.TB, sub *Subscription, n int) []int64 {
	t.Helper()
	var ids []int64
	timeout := time.After(2 * time.Second)
	for len(ids) < n {
		ids = append(ids, take(sub)...)
		if len(ids) >= n {
			break
		}
		select {
		case <-sub.Wake():
		case <-sub.Done():
			t.Fatalf("subscription closed (%v) after %d of %d frames", sub.Reason(), len(ids), n)
		case <-timeout:
			t.Fatalf("got %d of %d frames: %v", len(ids), n, ids)
		}
	}
	return ids
}

func TestBroadcastAndSendTo(t *testing.T) {
	h := newTestHub(t, Options{})
	aliceTab1 := subscribe(t, h, "a", "Alice")
	aliceTab2 := subscribe(t, h, "a", "Alice")
	bob := subscribe(t, h, "b", "Bob")

	h.Broadcast(Frame{ID: 1, Bytes: []byte("room")})
	for _, sub := range []*Subscription{aliceTab1, aliceTab2, bob} {
		if got := fmt.Sprint(collect(t, sub, 1)); got != "[1]" {
			t.Errorf("frame ids after a broadcast = %s, want [1]", got)
		}
	}

	if got := h.SendTo("a", Frame{ID: 0, Bytes: []byte("private")}); got != 2 {
		t.Errorf("SendTo(a) = %d streams, want 2", got)
	}
	if got := h.SendTo("nobody", Frame{}); got != 0 {
		t.Errorf("SendTo(nobody) = %d streams, want 0", got)
	}

	tests := []struct {
		name string
		sub  *Subscription
		want string
	}{
		{"alice tab 1", aliceTab1, "[0]"},
		{"alice tab 2", aliceTab2, "[0]"},
		{"bob", bob, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(take(tt.sub)); got != tt.want {
				t.Errorf("frame ids after SendTo = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSendToAfterATabCloses(t *testing.T) {
	h := newTestHub(t, Options{})
	tab1 := subscribe(t, h, "a", "Alice")
	tab2 := subscribe(t, h, "a", "Alice")
	tab3 := subscribe(t, h, "a", "Alice")
	bob := subscribe(t, h, "b", "Bob")

	h.Unsubscribe(tab2)
	if got := h.Streams("a"); got != 2 {
		t.Errorf("Streams(a) after one tab closed = %d, want 2", got)
	}
	if got := h.SendTo("a", Frame{Bytes: []byte("private")}); got != 2 {
		t.Errorf("SendTo(a) = %d streams, want 2", got)
	}
	for _, tt := range []struct {
		name string
		sub  *Subscription
		want string
	}{{"tab 1", tab1, "[0]"}, {"closed tab 2", tab2, "[]"}, {"tab 3", tab3, "[0]"},
		{"bob", bob, "[]"}} {
		if got := fmt.Sprint(take(tt.sub)); got != tt.want {
			t.Errorf("frames of %s after SendTo = %s, want %s", tt.name, got, tt.want)
		}
	}

	h.Unsubscribe(tab1)
	h.Unsubscribe(tab3)
	if got := h.SendTo("a", Frame{Bytes: []byte("private")}); got != 0 {
		t.Errorf("SendTo(a) with every tab closed = %d streams, want 0", got)
	}
}

func TestSlowSubscriberIsDroppedAlone(t *testing.T) {
	h := newTestHub(t, Options{QueueSize: 3})
	slow := subscribe(t, h, "slow", "Slow")
	healthy := subscribe(t, h, "ok", "Healthy")

	for id := int64(1); id <= 5; id++ {
		h.Broadcast(Frame{ID: id})
		collect(t, healthy, 1)
	}

	waitClosed(t, slow, ReasonSlow)
	if got := healthy.Reason(); got != ReasonNone {
		t.Errorf("healthy.Reason() = %v, want %v", got, ReasonNone)
	}
	if got := h.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}

	h.Broadcast(Frame{ID: 6})
	if got := fmt.Sprint(collect(t, healthy, 1)); got != "[6]" {
		t.Errorf("healthy frames after the drop = %s, want [6]", got)
	}
	h.Unsubscribe(slow)
	h.Unsubscribe(slow) // a second call must be harmless
	if got := h.Subscribers(); got != 1 {
		t.Errorf("Subscribers() = %d, want 1", got)
	}
}

func TestPresenceJoinLeaveAndReload(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(kind string) func(Member) {
		return func(m Member) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, kind+" "+m.Nickname)
		}
	}
	h := newTestHub(t, Options{
		LeaveGrace: 50 * time.Millisecond,
		OnJoin:     record("join"),
		OnLeave:    record("leave"),
	})
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprint(events)
	}

	first := subscribe(t, h, "a", "Alice")
	second := subscribe(t, h, "a", "Alice") // a second tab is not a second join
	h.Unsubscribe(first)
	h.Unsubscribe(second)
	reload := subscribe(t, h, "a", "Alice") // back within the grace period
	time.Sleep(100 * time.Millisecond)
	if got, want := seen(), "[join Alice]"; got != want {
		t.Fatalf("events after a reload = %s, want %s", got, want)
	}

	h.Unsubscribe(reload)
	waitFor(t, func() bool { return seen() == "[join Alice leave Alice]" }, seen)
	if _, ok := h.Lookup("alice"); ok {
		t.Error("Lookup(alice) found a session that left")
	}
}

func TestPresenceFrameIsLatestOnly(t *testing.T) {
	renders := make(chan int, 100)
	h := newTestHub(t, Options{
		PresenceDelay: 20 * time.Millisecond,
		OnPresence: func(members []Member) []byte {
			renders <- len(members)
			return []byte(fmt.Sprintf("online=%d", len(members)))
		},
	})
	watcher := subscribe(t, h, "w", "Watcher")
	for i := range 50 {
		subscribe(t, h, fmt.Sprint("s", i), fmt.Sprint("User", i))
	}

	waitFor(t, func() bool {
		_, presence := watcher.Take(nil)
		return string(presence) == "online=51"
	}, func() string { return "no presence frame with 51 members" })
	if len(renders) > 5 {
		t.Errorf("presence rendered %d times for one burst of joins, want a few", len(renders))
	}
	if got := watcher.Reason(); got != ReasonNone {
		t.Errorf("watcher.Reason() = %v after a burst of joins, want open", got)
	}
}

func TestClaimNickname(t *testing.T) {
	h := newTestHub(t, Options{})
	if err := h.Claim("a", "Anna"); err != nil {
		t.Fatalf("Claim(a, Anna) error = %v", err)
	}

	tests := []struct {
		session, nickname string
		want              error
	}{
		{"b", "anna", ErrNicknameTaken},
		{"b", "ANNA", ErrNicknameTaken},
		{"a", "ANNA", nil}, // the owner may change its case
		{"b", "Bob", nil},
	}
	for _, tt := range tests {
		t.Run(tt.session+" "+tt.nickname, func(t *testing.T) {
			if got := h.Claim(tt.session, tt.nickname); !errors.Is(got, tt.want) {
				t.Errorf("Claim(%s, %s) = %v, want %v", tt.session, tt.nickname, got, tt.want)
			}
		})
	}

	h.Release("a")
	if err := h.Claim("c", "anna"); err != nil {
		t.Errorf("Claim(c, anna) after release error = %v, want nil", err)
	}
}

func TestReleaseClosesSessionStreams(t *testing.T) {
	h := newTestHub(t, Options{})
	tab := subscribe(t, h, "a", "Alice")
	other := subscribe(t, h, "b", "Bob")

	h.Release("a")
	if got := tab.Reason(); got != ReasonReleased {
		t.Errorf("tab.Reason() = %v, want %v", got, ReasonReleased)
	}
	if got := other.Reason(); got != ReasonNone {
		t.Errorf("other.Reason() = %v, want open", got)
	}
}

func TestCloseEndsEverySubscription(t *testing.T) {
	h := New(Options{})
	subs := []*Subscription{subscribe(t, h, "a", "A"), subscribe(t, h, "b", "B")}

	h.Close()
	for i, sub := range subs {
		if got := sub.Reason(); got != ReasonShutdown {
			t.Errorf("subs[%d].Reason() = %v, want %v", i, got, ReasonShutdown)
		}
	}
	if _, err := h.Subscribe(Member{SessionID: "c"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close error = %v, want %v", err, ErrClosed)
	}
}

// TestConcurrentUse runs publishers and subscribers at once, for the race detector,
// and checks that every stream that stayed saw every frame in order.
func TestConcurrentUse(t *testing.T) {
	h := newTestHub(t, Options{QueueSize: 10_000})
	const frames = 500
	var wg sync.WaitGroup

	stayers := make([]*Subscription, 10)
	for i := range stayers {
		stayers[i] = subscribe(t, h, fmt.Sprint("stay", i), fmt.Sprint("Stay", i))
	}
	for i := range 20 {
		wg.Go(func() {
			sub := subscribe(t, h, fmt.Sprint("churn", i), fmt.Sprint("Churn", i))
			take(sub)
			h.Unsubscribe(sub)
		})
	}
	wg.Go(func() {
		for id := int64(1); id <= frames; id++ {
			h.Broadcast(Frame{ID: id})
		}
	})
	wg.Wait()

	want := make([]int64, frames)
	for i := range want {
		want[i] = int64(i + 1)
	}
	for i, sub := range stayers {
		ids := collect(t, sub, frames)
		if !slices.Equal(ids, want) {
			t.Errorf("stayer %d got %d frames, want %d in order", i, len(ids), frames)
		}
	}
}

// waitClosed waits for sub to end, for the reason want.
func waitClosed(t testing.TB, sub *Subscription, want Reason) {
	t.Helper()
	select {
	case <-sub.Done():
	case <-time.After(2 * time.Second):
		t.Fatalf("subscription still open, want it closed as %v", want)
	}
	if got := sub.Reason(); got != want {
		t.Errorf("Reason() = %v, want %v", got, want)
	}
}

func waitFor(t testing.TB, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting; state: %s", describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSortMembers(t *testing.T) {
	members := []Member{{"3", "bob"}, {"1", "Álvaro"}, {"2", "ALICE"}, {"4", "Bob"}}
	sortMembers(members)
	var got []string
	for _, m := range members {
		got = append(got, m.SessionID)
	}
	if fmt.Sprint(got) != "[2 3 4 1]" {
		t.Errorf("sortMembers order = %v, want [2 3 4 1] (folded names, then session ids)", got)
	}
}
