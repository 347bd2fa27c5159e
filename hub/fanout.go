package hub

import (
	"runtime"
	"sync"
	"time"
)

// Limits of the fan-out.
const (
	// MaxWaitingBroadcasts bounds the broadcasts waiting for the fan-out. A round
	// takes up to maxBatchFrames of them; at 10,000 streams on two cores the fan-out
	// kept up with about 400 broadcasts a second. Past the bound, Broadcast waits for
	// room: posting slows down instead of memory growing, and no message is dropped.
	MaxWaitingBroadcasts = 1024

	// maxBatchFrames caps how many broadcasts waiting at once are delivered together,
	// each stream getting them in one write. It bounds that write to well under a
	// stream's socket buffer.
	maxBatchFrames = 32

	// fanOutShare is the fewest streams worth a goroutine of their own in one round:
	// below it, starting the goroutine costs more than the writes it spreads.
	fanOutShare = 256

	// fanOutPause is how many streams a fan-out goroutine writes to before it parks
	// for fanOutPauseFor (about a millisecond of writes). Go's scheduler looks for
	// network events only when a processor runs out of work, or every 10 ms; without
	// the pause a request that arrives during a round of ten thousand writes, such as a
	// private message, waits for that.
	fanOutPause = 128

	// fanOutPauseFor is long enough that the sleep's timer has not yet fired when the
	// parked goroutine's processor looks for work, so that it does reach the network
	// poll. A 1 µs sleep had often expired by then and resumed the fan-out at once:
	// the private-notice p99 at 10,000 streams was 10-12 ms with it, 3-4 ms with this.
	fanOutPauseFor = 50 * time.Microsecond
)

// batch is the frames of one round of the fan-out, also laid end to end in joined so
// that a stream owed all of them gets them in one write.
type batch struct {
	frames []Frame
	ends   []int // ends[i] is where frames[i] ends in joined
	joined []byte
}

// newBatch lays frames end to end. A single frame is used as it is. The joined bytes
// are never reused: a stream that could not take them all at once keeps the rest.
func newBatch(frames []Frame) *batch {
	b := &batch{frames: frames, ends: make([]int, len(frames))}
	if len(frames) == 1 {
		b.joined = frames[0].Bytes
		b.ends[0] = len(b.joined)
		return b
	}

	size := 0
	for _, f := range frames {
		size += len(f.Bytes)
	}
	b.joined = make([]byte, 0, size)
	for i, f := range frames {
		b.joined = append(b.joined, f.Bytes...)
		b.ends[i] = len(b.joined)
	}
	return b
}

// from returns the bytes of frames[first:].
func (b *batch) from(first int) []byte {
	if first == 0 {
		return b.joined
	}
	return b.joined[b.ends[first-1]:]
}

// Broadcast queues f for every subscription. The hub's fan-out goroutine delivers
// broadcasts in the order they were made; none waits on a slow reader. Broadcast returns
// at once unless MaxWaitingBroadcasts are waiting; then it waits until the fan-out takes
// some, or the hub closes.
func (h *Hub) Broadcast(f Frame) {
	select {
	case <-h.stop:
		return // every stream is closed; nobody would take it
	default:
	}
	select {
	case h.broadcastRoom <- struct{}{}:
	case <-h.stop:
		return
	}

	h.broadcastMu.Lock()
	h.broadcasts = append(h.broadcasts, f)
	h.broadcastMu.Unlock()
	notify(h.broadcastReady)
}

// Heartbeat writes frame to every stream that was sent nothing, heartbeats included,
// since the previous call. Called every d, it keeps every stream from staying silent
// for more than 2d, writes to a silent stream every 2d, and costs nothing in a room
// that talks.
func (h *Hub) Heartbeat(frame []byte) {
	subs := h.snapshot(nil)
	fanOut(subs, func(sub *Subscription) { sub.heartbeat(frame) })
}

// runFanOut delivers broadcasts, all that are waiting (up to maxBatchFrames) in one
// round, to the subscriptions open when the round starts. A stream that subscribes
// later gets them from its catch-up, which reads the store after they were committed.
func (h *Hub) runFanOut() {
	defer h.wg.Done()

	var subs []*Subscription
	for {
		select {
		case <-h.broadcastReady:
		case <-h.stop:
			return
		}

		for {
			frames := h.takeBroadcasts()
			if len(frames) == 0 {
				break
			}
			subs = h.snapshot(subs)
			b := newBatch(frames)
			fanOut(subs, func(sub *Subscription) { sub.deliver(b) })
			clear(subs)
		}
	}
}

// takeBroadcasts returns the oldest waiting broadcasts, at most maxBatchFrames.
func (h *Hub) takeBroadcasts() []Frame {
	h.broadcastMu.Lock()
	defer h.broadcastMu.Unlock()

	n := min(len(h.broadcasts), maxBatchFrames)
	if n == 0 {
		return nil
	}
	frames := make([]Frame, n)
	copy(frames, h.broadcasts)
	rest := copy(h.broadcasts, h.broadcasts[n:])
	clear(h.broadcasts[rest:])
	h.broadcasts = h.broadcasts[:rest]
	for range n {
		<-h.broadcastRoom
	}
	return frames
}

// snapshot copies the open subscriptions into dst, so that the writes of a round do
// not hold h.mu against streams opening and closing.
func (h *Hub) snapshot(dst []*Subscription) []*Subscription {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append(dst[:0], h.subs...)
}

// fanOut calls deliver for every subscription, on as many goroutines as there are
// CPUs when the room is large enough to pay for them, and returns when all are done.
func fanOut(subs []*Subscription, deliver func(*Subscription)) {
	workers := min(runtime.GOMAXPROCS(0), len(subs)/fanOutShare)
	if workers <= 1 {
		deliverEach(subs, deliver)
		return
	}

	share := (len(subs) + workers - 1) / workers
	var wg sync.WaitGroup
	for start := share; start < len(subs); start += share {
		part := subs[start:min(start+share, len(subs))]
		wg.Go(func() { deliverEach(part, deliver) })
	}
	deliverEach(subs[:share], deliver)
	wg.Wait()
}

// deliverEach calls deliver for each subscription, pausing every fanOutPause of them.
func deliverEach(subs []*Subscription, deliver func(*Subscription)) {
	for i, sub := range subs {
		deliver(sub)
		if i%fanOutPause == fanOutPause-1 {
			// A sleep, unlike runtime.Gosched, leaves the processor idle, and an idle
			// processor polls the network before it returns to this goroutine.
			time.Sleep(fanOutPauseFor)
		}
	}
}
