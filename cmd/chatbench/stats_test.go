package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"empty", nil, 50, 0},
		{"single value any p", []int64{7}, 99, 7},
		{"single value p0 clamps to first", []int64{7}, 0, 7},
		{"median of two is the lower (nearest rank)", []int64{1, 2}, 50, 1},
		{"just above half takes the upper", []int64{1, 2}, 50.1, 2},
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p99.9 of 1..100 rounds up to the max", hundred, 99.9, 100},
		{"p100 is the max", hundred, 100, 100},
		{"p1 of 1..100", hundred, 1, 1},
		{"p99 of ten is the max", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p90 of ten", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
		{"ties", []int64{5, 5, 5, 9}, 75, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(p%g) = %d, want %d", tc.p, got, tc.want)
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every bucket's upper edge maps back to the bucket, the next value to the next one,
	// and each bucket is at most 1/64 of its values wide.
	for i := range histBuckets - 1 {
		up := bucketUpper(i)
		if got := bucketOf(up); got != i {
			t.Fatalf("bucketOf(upper(%d)=%d) = %d", i, up, got)
		}
		if got := bucketOf(up + 1); got != i+1 {
			t.Fatalf("bucketOf(%d) = %d, want %d", up+1, got, i+1)
		}
		lo := uint64(0)
		if i > 0 {
			lo = bucketUpper(i-1) + 1
		}
		if width := up - lo + 1; lo >= histLinear && float64(width)/float64(lo) > 1.0/64 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/64", i, lo, up)
		}
	}
	if got := bucketOf(1 << 62); got != histBuckets-1 {
		t.Errorf("huge value lands in bucket %d, want the last (%d)", got, histBuckets-1)
	}
}

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
	}{
		{"single", []time.Duration{1500 * time.Microsecond}},
		{"small exact values", []time.Duration{0, 1 * time.Microsecond, 5 * time.Microsecond,
			100 * time.Microsecond}},
		{"spread", spread(10000, 42)},
		{"negative counts as zero", []time.Duration{-time.Millisecond, time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			ns := make([]int64, len(tc.samples))
			for i, d := range tc.samples {
				h.record(i, int64(d))
				ns[i] = max(int64(d), 0)
			}
			slices.Sort(ns)
			snap := h.snapshot()
			if snap.total != uint64(len(ns)) {
				t.Fatalf("total %d, want %d", snap.total, len(ns))
			}
			for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
				exact := time.Duration(percentile(ns, p))
				got := snap.quantile(p)
				// Never below the true value's microsecond, at most 1/64 above it.
				lo := exact.Truncate(time.Microsecond)
				hi := exact + exact/64 + time.Microsecond
				if got < lo || got > hi {
					t.Errorf("p%g = %v, exact %v, want within [%v, %v]", p, got, exact, lo, hi)
				}
			}
			if got, want := snap.quantile(100), time.Duration(ns[len(ns)-1]); got != want {
				t.Errorf("p100 = %v, want the exact max %v", got, want)
			}
		})
	}

	var empty histogram
	if q := empty.snapshot().quantile(99); q != 0 {
		t.Errorf("empty histogram p99 = %v, want 0", q)
	}
}

// spread returns n log-uniform durations between 10µs and 10s.
func spread(n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]time.Duration, n)
	for i := range out {
		us := 10 * (1 << (r.IntN(20)))
		out[i] = time.Duration(us+r.IntN(us)) * time.Microsecond
	}
	return out
}

func TestDistOfSamples(t *testing.T) {
	d := distOfSamples([]int64{3e6, 1e6, 2e6}) // 3ms, 1ms, 2ms
	if d.Count != 3 || d.P50 != 2 || d.P99 != 3 || d.Max != 3 {
		t.Errorf("got %+v, want count 3, p50 2ms, p99 3ms, max 3ms", d)
	}
	if d := distOfSamples(nil); d != (Dist{}) {
		t.Errorf("empty: got %+v, want zero", d)
	}
}

func TestBitsetMissing(t *testing.T) {
	var want, seen bitset
	for _, i := range []int64{0, 1, 63, 64, 65, 200} {
		want.testAndSet(i)
	}
	for _, i := range []int64{1, 64, 300} {
		seen.testAndSet(i)
	}
	if !seen.testAndSet(64) {
		t.Error("testAndSet of a member reported it new")
	}

	var got []int64
	n := seen.eachMissing(want, 1000, func(i int64) { got = append(got, i) })
	if n != 4 || !slices.Equal(got, []int64{0, 63, 65, 200}) {
		t.Errorf("missing %d %v, want 4 [0 63 65 200]", n, got)
	}
	if n := seen.eachMissing(want, 64, nil); n != 2 {
		t.Errorf("missing up to 64 = %d, want 2 (0 and 63)", n)
	}
	if n := seen.countNotIn(want); n != 1 {
		t.Errorf("seen but not wanted = %d, want 1 (300)", n)
	}
}
