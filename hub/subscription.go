package hub

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Reason says why a subscription was closed.
type Reason int

// Reasons a subscription ends.
const (
	ReasonNone     Reason = iota
	ReasonGone            // the stream handler unsubscribed
	ReasonSlow            // the queue filled up: the reader fell behind
	ReasonReleased        // the session logged out
	ReasonShutdown        // the hub closed
)

// String names the reason for logs.
func (r Reason) String() string {
	switch r {
	case ReasonGone:
		return "gone"
	case ReasonSlow:
		return "slow"
	case ReasonReleased:
		return "released"
	case ReasonShutdown:
		return "shutdown"
	}
	return "open"
}

// Subscription is one stream's place in the hub: a bounded queue of frames, the latest
// presence frame, and signals for its stream handler.
type Subscription struct {
	sessionID string
	index     int // position in Hub.subs, -1 once removed; guarded by Hub.mu

	mu       sync.Mutex
	queue    []Frame
	limit    int
	presence []byte // latest presence frame not yet taken
	reason   Reason

	wake chan struct{} // capacity 1: "there is something to take"
	done chan struct{} // closed once, when the subscription ends

	dropped *atomic.Int64 // the hub's count of slow subscribers dropped
}

func newSubscription(sessionID string, limit int, dropped *atomic.Int64) *Subscription {
	return &Subscription{
		sessionID: sessionID,
		dropped:   dropped,
		limit:     limit,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

// Wake is signalled when frames or presence are waiting to be taken.
func (s *Subscription) Wake() <-chan struct{} { return s.wake }

// Done is closed when the subscription ends: dropped as slow, released, or shut down.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Reason says why the subscription ended, or ReasonNone while it is open.
func (s *Subscription) Reason() Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Take moves the waiting frames into dst (reusing its storage) and returns them with
// the latest presence frame, if it changed since the last Take. Presence is state,
// not an event: only the newest counts, and it never fills the queue.
func (s *Subscription) Take(dst []Frame) ([]Frame, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()

	dst = append(dst[:0], s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]

	presence := s.presence
	s.presence = nil
	return dst, presence
}

// push queues f and reports whether it was queued. A full queue closes the
// subscription instead: the reader is too slow, and will catch up by replay.
func (s *Subscription) push(f Frame) bool {
	s.mu.Lock()
	if s.reason != ReasonNone {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.limit {
		s.closeLocked(ReasonSlow)
		s.dropped.Add(1)
		s.mu.Unlock()
		return false
	}
	if s.queue == nil {
		s.queue = make([]Frame, 0, 4)
	}
	s.queue = append(s.queue, f)
	s.mu.Unlock()

	s.signal()
	return true
}

func (s *Subscription) setPresence(frame []byte) {
	s.mu.Lock()
	s.presence = frame
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) close(r Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(r)
}

// closeLocked ends the subscription once; later reasons do not overwrite the first.
func (s *Subscription) closeLocked(r Reason) {
	if s.reason != ReasonNone {
		return
	}
	s.reason = r
	s.queue = slices.Clip(s.queue[:0])
	close(s.done)
}
