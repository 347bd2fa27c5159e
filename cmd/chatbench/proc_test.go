package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 in each case.
	tail := "S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 2000000 500"
	tests := []struct {
		name    string
		stat    string
		want    int64
		wantErr bool
	}{
		{"plain name", "1234 (chat) " + tail, 300, false},
		{"name with spaces and parens", "1234 (my (odd) name) " + tail, 300, false},
		{"name ending in a paren", "1234 (x)) " + tail, 300, false},
		{"truncated", "1234 (chat) S 1 2 3", 0, true},
		{"no name", "1234 chat " + tail, 0, true},
		{"non-numeric utime", "1 (c) S 1 2 3 0 -1 0 0 0 0 0 x 50 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got (%d, %v), want %d (error: %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"usual", "Name:\tchat\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t8\n", 12345,
			false},
		{"missing", "Name:\tkthreadd\nState:\tS (sleeping)\n", 0, true},
		{"odd unit", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusRSS([]byte(tc.status))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got (%d, %v), want %d (error: %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// The live /proc readers work on this very process.
func TestProcSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := procCPU(pid, clockTicks()); err != nil {
		t.Errorf("procCPU: %v", err)
	}
	if kib, err := procRSS(pid); err != nil || kib <= 0 {
		t.Errorf("procRSS = %d, %v", kib, err)
	}
	if comm := procComm(pid); comm == "" || strings.Contains(comm, "\n") {
		t.Errorf("procComm = %q", comm)
	}
	if _, err := procCPU(1<<30, 100); err == nil {
		t.Error("procCPU of a pid that cannot exist succeeded")
	}
	if selfCPU() <= 0 || selfCPU() > time.Hour {
		t.Error("selfCPU out of range")
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"usual", "144713491 159340666 438\n", 144713491, false},
		{"run time only", "7", 7, false},
		{"empty", "", 0, true},
		{"negative", "-5 1 1", 0, true},
		{"garbage", "abc 1 1", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSchedstat([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got (%d, %v), want %d (error: %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestThreadsDelta(t *testing.T) {
	tests := []struct {
		name          string
		before, after map[int]int64
		wantNs        int64
		wantGone      int
	}{
		{"same threads", map[int]int64{1: 100, 2: 50}, map[int]int64{1: 150, 2: 80}, 80, 0},
		{"a new thread counts from zero", map[int]int64{1: 100}, map[int]int64{1: 110, 7: 40},
			50, 0},
		{"a thread that ended is reported", map[int]int64{1: 100, 3: 90},
			map[int]int64{1: 100}, 0, 1},
		{"nothing before", nil, map[int]int64{1: 5}, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, gone := threadsDelta(tc.before, tc.after)
			if ns != tc.wantNs || gone != tc.wantGone {
				t.Errorf("got (%d, %d), want (%d, %d)", ns, gone, tc.wantNs, tc.wantGone)
			}
		})
	}
}

func TestServerCPUSource(t *testing.T) {
	base := window{srvCPU0: 0, srvCPU1: 20 * time.Millisecond}
	tests := []struct {
		name       string
		thr0, thr1 map[int]int64
		want       time.Duration
		wantSource string
	}{
		{"threads all there: nanoseconds", map[int]int64{1: 0}, map[int]int64{1: 23e6},
			23 * time.Millisecond, "schedstat"},
		{"a thread ended: ticks", map[int]int64{1: 0, 2: 0}, map[int]int64{1: 23e6},
			20 * time.Millisecond, "ticks"},
		{"unreadable: ticks", nil, nil, 20 * time.Millisecond, "ticks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := base
			w.srvThr0, w.srvThr1 = tc.thr0, tc.thr1
			got, src := serverCPU(&w)
			if got != tc.want || src != tc.wantSource {
				t.Errorf("got (%v, %s), want (%v, %s)", got, src, tc.want, tc.wantSource)
			}
		})
	}
}

func TestProcThreadsCPUSelf(t *testing.T) {
	thr, err := procThreadsCPU(os.Getpid())
	if err != nil || len(thr) == 0 {
		t.Fatalf("procThreadsCPU = %v, %v", thr, err)
	}
	if _, ok := thr[os.Getpid()]; !ok {
		t.Errorf("the main thread %d is missing from %v", os.Getpid(), thr)
	}
}

func TestParseLoadAvg(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"2.85 4.88 4.16 1/331 30565\n", 2.85},
		{"0.00 0.01 0.05 1/100 1", 0},
		{"", -1},
		{"x y z", -1},
	}
	for _, tc := range tests {
		if got := parseLoadAvg([]byte(tc.in)); got != tc.want {
			t.Errorf("parseLoadAvg(%q) = %g, want %g", tc.in, got, tc.want)
		}
	}
}

func TestParseStatBusy(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{"usual", "cpu  225491 27090 83880 313454 1206 0 3711 1012 0 0\ncpu0 1 2 3 4 5 6 7 8\n",
			225491 + 27090 + 83880 + 3711 + 1012, false},
		{"idle only", "cpu 0 0 0 500 20 0 0 0\n", 0, false},
		{"not the total line", "cpu0 1 2 3 4 5 6 7 8\n", 0, true},
		{"too short", "cpu 1 2 3\n", 0, true},
		{"garbage", "cpu 1 x 3 4 5 6 7 8\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatBusy([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got (%d, %v), want %d (error: %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
