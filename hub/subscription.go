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
	ReasonBroken          // a direct write failed: the connection is gone
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
	case ReasonBroken:
		return "write failed"
	}
	return "open"
}

// Writer is a stream's connection as the hub may write to it itself. TryWrite writes
// what the connection takes at once, without waiting, and returns how many bytes that
// was; fewer than len(p) with a nil error means "full for now". An error means the
// connection is broken.
type Writer interface {
	TryWrite(p []byte) (int, error)
}

// Subscription is one stream's place in the hub: a bounded queue of frames, the latest
// presence frame, and signals for its stream handler.
//
// Once the handler has caught the stream up and called Start with a Writer, the hub
// writes frames straight to the connection while nothing is queued, so a delivery
// costs one write and no goroutine wake-up. Only what the connection cannot take at
// once is queued for the handler, which then writes, waiting as needed, until the
// queue is empty again.
type Subscription struct {
	sessionID string
	index     int // position in Hub.subs, -1 once removed; guarded by Hub.mu

	mu       sync.Mutex
	queue    []Frame
	limit    int
	presence []byte // latest presence frame not yet taken
	reason   Reason
	cursor   int64  // id of the newest room frame written or taken for writing
	direct   Writer // nil until Start, and for streams the hub must not write to
	writing  bool   // the handler owns the connection: frames queue behind it
	active   bool   // something was sent since the last heartbeat round

	wake chan struct{} // capacity 1: "there is something to take"
	done chan struct{} // closed once, when the subscription ends

	dropped *atomic.Int64 // the hub's count of slow subscribers dropped
}

func newSubscription(sessionID string, limit int, dropped *atomic.Int64) *Subscription {
	return &Subscription{
		sessionID: sessionID,
		dropped:   dropped,
		limit:     limit,
		writing:   true,
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

// Start tells the subscription that the stream's catch-up wrote every room frame up to
// id cursor, so those are skipped if they come again, and hands over the connection
// for direct writes, or nil to keep every frame in the queue.
func (s *Subscription) Start(cursor int64, w Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor = max(s.cursor, cursor)
	s.direct = w
}

// Take moves the waiting frames into dst (reusing its storage) and returns them with
// the latest presence frame, if it changed since the last Take. Room frames already
// written are left out. Presence is state, not an event: only the newest counts, and
// it never fills the queue.
//
// While Take returns something the handler owns the connection; an empty Take hands
// it back to the hub's direct writes.
func (s *Subscription) Take(dst []Frame) ([]Frame, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()

	dst = dst[:0]
	for _, f := range s.queue {
		if f.ID != 0 {
			if f.ID <= s.cursor {
				continue
			}
			s.cursor = f.ID
		}
		dst = append(dst, f)
	}
	clear(s.queue)
	s.queue = s.queue[:0]

	presence := s.presence
	s.presence = nil
	s.writing = len(dst) > 0 || presence != nil
	return dst, presence
}

// deliver hands the frames of b to the stream and reports whether the stream is still
// open: written at once when it can be, else queued. A full queue closes the
// subscription instead: the reader is too slow, and will catch up by replay.
func (s *Subscription) deliver(b *batch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.reason != ReasonNone {
		return false
	}
	s.active = true
	if s.direct == nil || s.writing {
		for _, f := range b.frames {
			if !s.queueLocked(f) {
				return false
			}
		}
		s.signal()
		return true
	}

	// Room frames come in id order, so the ones this stream already has are a prefix.
	first := 0
	for i, f := range b.frames {
		if f.ID != 0 && f.ID <= s.cursor {
			first = i + 1
		}
	}
	if first == len(b.frames) {
		return true
	}
	for _, f := range b.frames[first:] {
		s.cursor = max(s.cursor, f.ID)
	}
	return s.writeLocked(b.from(first))
}

// setPresence hands the stream the newest presence frame.
func (s *Subscription) setPresence(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.reason != ReasonNone {
		return
	}
	s.active = true
	if s.direct != nil && !s.writing {
		s.writeLocked(frame)
		return
	}
	s.presence = frame
	s.signal()
}

// heartbeat sends frame unless something was sent since the last heartbeat round,
// itself included: any write proves the connection alive and keeps proxies from timing
// it out. So a silent stream gets a heartbeat every other round.
func (s *Subscription) heartbeat(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.reason != ReasonNone {
		return
	}
	if s.active {
		s.active = false
		return
	}
	s.active = true
	if s.direct != nil && !s.writing {
		s.writeLocked(frame)
		return
	}
	if s.queueLocked(Frame{Bytes: frame}) {
		s.signal()
	}
}

// writeLocked writes p straight to the connection. What does not fit now is queued,
// and the handler takes over until the queue is empty.
func (s *Subscription) writeLocked(p []byte) bool {
	n, err := s.direct.TryWrite(p)
	if err != nil {
		s.closeLocked(ReasonBroken)
		return false
	}
	if n == len(p) {
		return true
	}

	// The rest carries no id: the cursor has already moved past it.
	s.queue = append(s.queue, Frame{Bytes: p[n:]})
	s.writing = true
	s.signal()
	return true
}

// queueLocked queues f for the handler, or drops a stream whose queue is full.
func (s *Subscription) queueLocked(f Frame) bool {
	if len(s.queue) >= s.limit {
		s.closeLocked(ReasonSlow)
		s.dropped.Add(1)
		return false
	}
	if s.queue == nil {
		s.queue = make([]Frame, 0, 4)
	}
	s.queue = append(s.queue, f)
	return true
}

func (s *Subscription) signal() {
	notify(s.wake)
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
	s.presence = nil
	close(s.done)
}
