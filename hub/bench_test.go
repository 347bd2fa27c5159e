package hub

import (
	"fmt"
	"testing"
)

// BenchmarkBroadcast measures one broadcast into the queues of n subscribers, and the
// work of their stream goroutines taking it, which is what a message costs the hub.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1_000, 10_000} {
		b.Run(fmt.Sprint("subscribers=", n), func(b *testing.B) {
			h := New(Options{QueueSize: 1 << 20})
			defer h.Close()
			subs := make([]*Subscription, n)
			for i := range subs {
				subs[i], _ = h.Subscribe(Member{SessionID: fmt.Sprint(i), Nickname: fmt.Sprint(i)})
			}
			frame := Frame{ID: 1, Bytes: make([]byte, 300)}
			var taken []Frame

			b.ReportAllocs()
			for b.Loop() {
				h.Broadcast(frame)
				for _, sub := range subs {
					taken, _ = sub.Take(taken)
					<-sub.Wake()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
