package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// floodIdle is how long a session's limiter is kept after its last post. A limiter
// left that long is full again, so forgetting it changes nothing.
const floodIdle = 5 * time.Minute

// floodControl limits how fast each session posts, across all its tabs.
type floodControl struct {
	burst    int
	interval time.Duration

	mu       sync.Mutex
	limiters map[string]*sessionLimiter
	stop     chan struct{}
	done     chan struct{}
}

type sessionLimiter struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

func newFloodControl(burst int, interval time.Duration) *floodControl {
	f := &floodControl{
		burst:    burst,
		interval: interval,
		limiters: make(map[string]*sessionLimiter),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go f.sweep()
	return f
}

// allow takes one post from the session's allowance. When there is none left it
// returns false and how long until the next post is allowed.
func (f *floodControl) allow(sessionID string, now time.Time) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()

	l, ok := f.limiters[sessionID]
	if !ok {
		l = &sessionLimiter{limiter: rate.NewLimiter(rate.Every(f.interval), f.burst)}
		f.limiters[sessionID] = l
	}
	l.lastUsed = now

	if l.limiter.AllowN(now, 1) {
		return true, 0
	}
	reservation := l.limiter.ReserveN(now, 1)
	wait := reservation.DelayFrom(now)
	reservation.CancelAt(now)
	return false, wait
}

func (f *floodControl) sweep() {
	defer close(f.done)
	ticker := time.NewTicker(floodIdle)
	defer ticker.Stop()

	for {
		select {
		case now := <-ticker.C:
			f.mu.Lock()
			for id, l := range f.limiters {
				if now.Sub(l.lastUsed) > floodIdle {
					delete(f.limiters, id)
				}
			}
			f.mu.Unlock()
		case <-f.stop:
			return
		}
	}
}

func (f *floodControl) close() {
	close(f.stop)
	<-f.done
}
