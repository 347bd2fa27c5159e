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
