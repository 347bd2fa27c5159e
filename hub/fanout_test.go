package hub

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is a Writer whose first write blocks until release is closed, holding the hub's
// fan-out in the middle of a round.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once

	mu  sync.Mutex
	got strings.Builder
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) TryWrite(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got.Write(p)
	return len(p), nil
}

func (g *gate) written() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got.String()
}

// fillWhileHeld starts a round that the gate holds, then queues MaxWaitingBroadcasts
// more frames behind it, and returns the id the next broadcast gets.
func fillWhileHeld(t *testing.T, h *Hub, g *gate) int64 {
	t.Helper()
	sub := subscribe(t, h, "a", "Alice")
	sub.Start(0, g)
	sub.Take(nil) // hands the stream to the hub's direct writes, as a stream handler does

	h.Broadcast(frame(1))
	select {
	case <-g.entered:
	case <-time.After(2 * time.Second):
		t.Fatal("the fan-out never wrote the first frame")
	}
	for id := int64(2); id <= MaxWaitingBroadcasts+1; id++ {
		h.Broadcast(frame(id)) // each has room, so none may wait
	}
	return MaxWaitingBroadcasts + 2
}

// broadcastInBackground calls Broadcast(frame(id)) and closes the result when it returns.
func broadcastInBackground(h *Hub, id int64) chan struct{} {
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		h.Broadcast(frame(id))
	}()
	return returned
}

func TestBroadcastWaitsForRoomAndLosesNothing(t *testing.T) {
	h := newTestHub(t, Options{})
	g := newGate()
	next := fillWhileHeld(t, h, g)

	returned := broadcastInBackground(h, next)
	select {
	case <-returned:
		t.Fatalf("Broadcast returned with %d broadcasts waiting; want it to wait for room",
			MaxWaitingBroadcasts)
	case <-time.After(100 * time.Millisecond):
	}

	close(g.release)
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Fatal("Broadcast still waiting after the fan-out went on")
	}

	var want strings.Builder
	for id := int64(1); id <= next; id++ {
		want.Write(frame(id).Bytes)
	}
	waitFor(t, func() bool { return g.written() == want.String() }, func() string {
		got := g.written()
		return "the stream got " + got[max(0, len(got)-40):] + ", want every frame through " +
			string(frame(next).Bytes) + " in order"
	})
}
