package hub

import (
	"fmt"
	"testing"
)

// discard is a connection that takes everything at once, so that the benchmark
// measures the hub and not the kernel.
type discard struct{}

func (discard) TryWrite(p []byte) (int, error) { return len(p), nil }

// BenchmarkFanOut measures one round of the fan-out to n subscribers: written
// directly (the usual case, here to a connection that costs nothing), or queued for
// stream handlers that are busy writing, including their taking it.
func BenchmarkFanOut(b *testing.B) {
	for _, direct := range []bool{true, false} {
		for _, n := range []int{1, 100, 1_000, 10_000} {
			name := fmt.Sprintf("direct=%v/subscribers=%d", direct, n)
			b.Run(name, func(b *testing.B) {
				benchmarkFanOut(b, n, direct)
			})
		}
	}
}

func benchmarkFanOut(b *testing.B, n int, direct bool) {
	h := New(Options{QueueSize: 1 << 20})
	defer h.Close()
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i], _ = h.Subscribe(Member{SessionID: fmt.Sprint(i), Nickname: fmt.Sprint(i)})
		if direct {
			subs[i].Start(0, discard{})
			subs[i].Take(nil)
		}
	}
	var taken []Frame

	b.ReportAllocs()
	id := int64(0)
	for b.Loop() {
		id++
		round := newBatch([]Frame{{ID: id, Bytes: make([]byte, 300)}})
		fanOut(subs, func(sub *Subscription) { sub.deliver(round) })
		if !direct {
			for _, sub := range subs {
				taken, _ = sub.Take(taken)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}
