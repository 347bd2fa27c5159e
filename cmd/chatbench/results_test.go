package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd count takes the middle", []float64{9, 1, 5}, 5},
		{"even count averages the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"ties", []float64{2, 2, 9}, 2},
		{"negative values", []float64{-3, -1, -2}, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %g, want %g", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("median reordered its input: %v", tc.in)
				}
			}
		})
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

// fakeRun builds a runResult with the given figures.
func fakeRun(c, server string, subs int, ok bool, figs figureMap) runResult {
	r := runResult{caseSpec: caseSpec{Case: c, Server: server, Subscribers: subs}, OK: ok,
		Figures: figs}
	if !ok {
		r.Failure = "streams failed"
	}
	return r
}

func TestAggregate(t *testing.T) {
	runs := []runResult{
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 3,
			"latency_p99_ms": 10}),
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 1,
			"latency_p99_ms": 30}),
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 2,
			"latency_p99_ms": 20}),
		// A failed run is counted, not averaged in, even though its figures look great.
		fakeRun(caseScale, serverChat, 100, false, figureMap{"cpu_us_per_delivery": 0}),
		fakeRun(caseScale, serverPeer, 5000, false, nil),
		fakeRun(caseScale, serverPeer, 5000, false, nil),
		// The profiled run pays for the profilers and stays out.
		fakeRun(caseProfile, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 99}),
	}
	rows := aggregate(runs)
	ix := indexRows(rows)

	tests := []struct {
		name          string
		key           groupKey
		fig           string
		wantFound     bool
		min, med, max float64
		n, failed     int
	}{
		{"cpu over three good runs", groupKey{caseScale, serverChat, 100},
			"cpu_us_per_delivery", true, 1, 2, 3, 3, 1},
		{"p99 over three good runs", groupKey{caseScale, serverChat, 100}, "latency_p99_ms",
			true, 10, 20, 30, 3, 1},
		{"a figure no run has is absent", groupKey{caseScale, serverChat, 100},
			"notice_p99_ms", false, 0, 0, 0, 0, 0},
		{"every run failed: an empty row", groupKey{caseScale, serverPeer, 5000},
			"cpu_us_per_delivery", true, 0, 0, 0, 0, 2},
		{"the profiled run is left out", groupKey{caseProfile, serverChat, 100},
			"cpu_us_per_delivery", false, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, found := ix[tc.key][tc.fig]
			if found != tc.wantFound {
				t.Fatalf("found %v, want %v (rows %+v)", found, tc.wantFound, rows)
			}
			if !found {
				return
			}
			if r.Min != tc.min || r.Median != tc.med || r.Max != tc.max || r.N != tc.n ||
				r.Failed != tc.failed {
				t.Errorf("got %+v, want min %g median %g max %g over %d, %d failed", r,
					tc.min, tc.med, tc.max, tc.n, tc.failed)
			}
		})
	}
	if _, ok := ix.get(caseScale, serverPeer, 5000, "cpu_us_per_delivery"); ok {
		t.Error("get found a figure in a group whose every run failed")
	}
}

func TestRatios(t *testing.T) {
	runs := []runResult{
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 4,
			"kib_per_stream": 0}),
		fakeRun(caseScale, serverPeer, 100, true, figureMap{"cpu_us_per_delivery": 100,
			"kib_per_stream": 40}),
		fakeRun(caseScale, serverChat, 1000, true, figureMap{"cpu_us_per_delivery": 2}),
		fakeRun(caseScale, serverPeer, 1000, false, nil),
		fakeRun(caseScale, serverChat, 10000, true, figureMap{"cpu_us_per_delivery": 2}),
	}
	got := ratios(aggregate(runs))
	// Only 100 has both; a zero for the chat gives no ratio rather than infinity.
	if len(got) != 1 || got[0].Subscribers != 100 || got[0].Figure != "cpu_us_per_delivery" ||
		got[0].PeerOverUs != 25 {
		t.Errorf("ratios = %+v, want one: cpu at 100, 25x", got)
	}
}

func TestRSSGrowth(t *testing.T) {
	tests := []struct {
		name    string
		samples []RSSSample
		sendS   float64
		want    float64
		wantOK  bool
	}{
		{"flat", []RSSSample{{0, 100}, {10, 100}, {20, 100}, {30, 100}}, 30, 0, true},
		{"early spike is not growth", []RSSSample{{0, 90}, {5, 120}, {20, 110}, {29, 110}},
			30, (110.0/120 - 1) * 100, true},
		{"leak", []RSSSample{{0, 100}, {10, 110}, {20, 130}, {30, 150}}, 30, (150.0/110 - 1) * 100,
			true},
		{"no sample in the second half", []RSSSample{{0, 100}, {5, 100}}, 30, 0, false},
		{"none", nil, 30, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rssGrowthPct(tc.samples, tc.sendS)
			if ok != tc.wantOK || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("rssGrowthPct = (%g, %v), want (%g, %v)", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestJudgeGoals(t *testing.T) {
	good := func(c string, subs int, figs figureMap) []runResult {
		return []runResult{fakeRun(c, serverChat, subs, true, figs),
			fakeRun(c, serverChat, subs, true, figs), fakeRun(c, serverChat, subs, true, figs)}
	}
	var runs []runResult
	runs = append(runs, good(caseScale, 10000, figureMap{"kib_per_stream": 15.5,
		"cpu_us_per_delivery": 12, "latency_p99_ms": 90, "missing": 0, "duplicates": 0})...)
	runs = append(runs, good(caseScale, 1000, figureMap{"latency_p99_ms": 9, "missing": 0,
		"duplicates": 0})...)
	runs = append(runs, good(caseSoak, 10000, figureMap{"latency_p99_ms": 100, "missing": 0,
		"duplicates": 0, "rss_growth_pct": 1})...)
	runs = append(runs, good(caseStall, 10000, figureMap{"latency_p99_ms": 120})...)
	runs = append(runs, fakeRun(caseStorm, serverChat, 10000, false, nil))

	goals := judgeGoals(aggregate(runs), goalSettings{GoalSize: 10000, ScaleRate: 1})
	want := map[string]string{
		"memory per idle stream at 10,000":               verdictPass,
		"server CPU per delivered fragment at 10,000":    verdictMiss,
		"p99 at 10,000, 1 broadcast/s":                   verdictPass,
		"p99 at 1,000, 1 broadcast/s":                    verdictPass,
		"no loss in the scaling runs":                    verdictPass,
		"private notice p99 at 10,000":                   verdictNotRun,
		"10,000 at 2 broadcasts/s for the soak: no loss": verdictPass,
		"10,000 at 2 broadcasts/s: memory steady":        verdictPass,
		"1% stalled readers at 10,000: healthy p99":      verdictMiss, // +20 %
		"reconnect storm of 10,000":                      verdictMiss, // its run failed
	}
	if len(goals) != len(want) {
		t.Errorf("%d goals, want %d: %+v", len(goals), len(want), goals)
	}
	for _, g := range goals {
		w, ok := want[g.Goal]
		if !ok {
			t.Errorf("unexpected goal %q", g.Goal)
			continue
		}
		if g.Verdict != w {
			t.Errorf("%s: %s (%s), want %s", g.Goal, g.Verdict, g.Measured, w)
		}
	}

	// At another broadcast rate the latency goals are not judged.
	for _, g := range judgeGoals(aggregate(runs), goalSettings{GoalSize: 10000,
		ScaleRate: 2}) {
		if strings.HasPrefix(g.Goal, "p99 at") {
			t.Errorf("latency goal %q judged at 2 broadcasts/s", g.Goal)
		}
	}
}

func TestJudgeGoalsLossInAnyScalingRun(t *testing.T) {
	runs := []runResult{
		fakeRun(caseScale, serverChat, 100, true, figureMap{"missing": 0, "duplicates": 0}),
		fakeRun(caseScale, serverChat, 2000, true, figureMap{"missing": 3, "duplicates": 0}),
	}
	for _, g := range judgeGoals(aggregate(runs), goalSettings{GoalSize: 10000, ScaleRate: 1}) {
		if g.Goal == "no loss in the scaling runs" && g.Verdict != verdictMiss {
			t.Errorf("%s: %s (%s), want a miss", g.Goal, g.Verdict, g.Measured)
		}
	}
}

func TestFmtNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{12000, "12,000"},
		{-1500, "-1,500"},
		{123.456, "123"},
		{15.27, "15.3"},
		{2.345, "2.35"},
		{0.7321, "0.732"},
		{math.NaN(), "–"},
	}
	for _, tc := range tests {
		if got := fmtNum(tc.in); got != tc.want {
			t.Errorf("fmtNum(%g) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	res := &sweepResults{Settings: sweepSettings{Rate: 1, Senders: 10, DurationS: 15,
		GoalSize: 10000}}
	res.Runs = []runResult{
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 4,
			"latency_p99_ms": 3}),
		fakeRun(caseScale, serverChat, 100, true, figureMap{"cpu_us_per_delivery": 6,
			"latency_p99_ms": 5}),
		fakeRun(caseScale, serverPeer, 100, true, figureMap{"cpu_us_per_delivery": 100,
			"latency_p99_ms": 20}),
		fakeRun(caseScale, serverPeer, 5000, false, nil),
	}
	finish(res)
	var b bytes.Buffer
	writeMarkdown(&b, res)
	md := b.String()
	for _, want := range []string{
		"| chat | 100 | 5 (4–6) |",     // median (min–max)
		"| flask-peer | 5,000 | n/a |", // failed: no figures, not zeros
		"| 100 | server CPU per delivered fragment (µs) | 5 | 100 | 20× |",
		"- scale flask-peer 5,000 subscribers, rep 0: streams failed",
		"| memory per idle stream at 10,000 | ≤ 16 KiB | – | not run |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"100,1000,10_000", []int{100, 1000, 10000}, false},
		{"5000, 100,100", []int{100, 5000}, false},
		{"", nil, false},
		{"0", nil, true},
		{"20001", nil, true},
		{"ten", nil, true},
	}
	for _, tc := range tests {
		got, err := parseSizes(tc.in)
		if (err != nil) != tc.wantErr || !equalInts(got, tc.want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want,
				tc.wantErr)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
