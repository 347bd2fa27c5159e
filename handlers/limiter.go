package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterIdle is how long a key's limiter is kept after its last use. A limiter left
// that long is full again, so forgetting it changes nothing.
const limiterIdle = 5 * time.Minute

// keyedLimiter limits how often each key (a session, a client address) may act: a
// burst at once, then one per interval.
type keyedLimiter struct {
	burst    int
	interval time.Duration

	mu       sync.Mutex
	limiters map[string]*keyLimiter
	stop     chan struct{}
	done     chan struct{}
}

type keyLimiter struct {
	limiter  *rate.Limiter
	lastUsed time.Time
}

func newKeyedLimiter(burst int, interval time.Duration) *keyedLimiter {
	f := &keyedLimiter{
		burst:    burst,
		interval: interval,
		limiters: make(map[string]*keyLimiter),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go f.sweep()
	return f
}

// allow takes one action from the key's allowance. When there is none left it
// returns false and how long until the next one is allowed. A limiter with a zero
// burst allows everything.
func (f *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if f.burst <= 0 {
		return true, 0
	}

	f.mu.Lock()
	defer f.mu.Unlock()

	l, ok := f.limiters[key]
	if !ok {
		l = &keyLimiter{limiter: rate.NewLimiter(rate.Every(f.interval), f.burst)}
		f.limiters[key] = l
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

func (f *keyedLimiter) sweep() {
	defer close(f.done)
	ticker := time.NewTicker(limiterIdle)
	defer ticker.Stop()

	for {
		select {
		case now := <-ticker.C:
			f.mu.Lock()
			for id, l := range f.limiters {
				if now.Sub(l.lastUsed) > limiterIdle {
					delete(f.limiters, id)
				}
			}
			f.mu.Unlock()
		case <-f.stop:
			return
		}
	}
}

func (f *keyedLimiter) close() {
	close(f.stop)
	<-f.done
}

func newLoginLimiter(perMinute int) *keyedLimiter {
	if perMinute <= 0 {
		return newKeyedLimiter(0, time.Minute)
	}
	return newKeyedLimiter(perMinute, time.Minute/time.Duration(perMinute))
}

// addressCounter counts open streams per client address.
type addressCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newAddressCounter() *addressCounter {
	return &addressCounter{counts: make(map[string]int)}
}

// acquire counts one more stream for addr unless it already has limit; a limit of
// zero means none.
func (c *addressCounter) acquire(addr string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit > 0 && c.counts[addr] >= limit {
		return false
	}
	c.counts[addr]++
	return true
}

func (c *addressCounter) release(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[addr]--
	if c.counts[addr] <= 0 {
		delete(c.counts, addr)
	}
}
