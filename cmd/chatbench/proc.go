package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks returns the unit of utime/stime in /proc/PID/stat. It is USER_HZ, which Linux
// fixes at 100 for user space on every common architecture; getconf is asked once in case
// this machine differs.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// procCPU returns the process's user+system CPU time so far, over all its threads.
func procCPU(pid int, ticksPerSec int64) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu of pid %d: %w", pid, err)
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / time.Duration(ticksPerSec), nil
}

// parseStatCPU returns utime+stime from the contents of /proc/PID/stat. The command name in
// field 2 is in parentheses and may itself hold spaces or ")", so fields are counted from the
// last ")": after it come state (field 3) ... utime (14) and stime (15).
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	fields := bytes.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("stat has %d fields after the name, want more than %d",
			len(fields), stime)
	}
	u, err := strconv.ParseInt(string(fields[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseInt(string(fields[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return u + s, nil
}

// procRSS returns the process's resident set size in KiB.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss of pid %d: %w", pid, err)
	}
	kib, err := parseStatusRSS(b)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return kib, nil
}

// parseStatusRSS finds "VmRSS:   1234 kB" in the contents of /proc/PID/status.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", line)
		}
		return strconv.ParseInt(string(f[0]), 10, 64)
	}
	return 0, fmt.Errorf("no VmRSS in status (a zombie or kernel thread?)")
}

// procComm returns the process's command name, used to warn when -pid names `go run`
// rather than the server it started.
func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// selfCPU returns this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gcSettle is the pause between a forced collection (-gc-url) and reading the RSS, so the
// collection's own transient allocations are not what gets measured.
const gcSettle = time.Second

// RSSSample is the server's resident set size some seconds after sending began.
type RSSSample struct {
	AtS float64 `json:"at_s"`
	KiB int64   `json:"kib"`
}

// RSSSummary condenses the samples taken while sending.
type RSSSummary struct {
	StartKiB int64 `json:"start_kib"`
	EndKiB   int64 `json:"end_kib"`
	MaxKiB   int64 `json:"max_kib"`
}

// summarizeRSS returns the first, last and largest sample, or nil when there are none.
func summarizeRSS(samples []RSSSample) *RSSSummary {
	if len(samples) == 0 {
		return nil
	}
	s := &RSSSummary{StartKiB: samples[0].KiB, EndKiB: samples[len(samples)-1].KiB}
	for _, x := range samples {
		s.MaxKiB = max(s.MaxKiB, x.KiB)
	}
	return s
}

// startRSSSampler reads the server's RSS at once and then every -rss-every until the
// returned function is called (which may happen more than once). Without -pid or
// -rss-every it does nothing.
func (b *bench) startRSSSampler(t0 time.Time) (stop func()) {
	if b.cfg.pid <= 0 || b.cfg.rssEvery <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(b.cfg.rssEvery)
		defer t.Stop()
		for {
			if kib, err := procRSS(b.cfg.pid); err == nil {
				b.rssMu.Lock()
				b.rssSamples = append(b.rssSamples,
					RSSSample{AtS: time.Since(t0).Seconds(), KiB: kib})
				b.rssMu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// procThreadsCPU returns how long each thread of pid has run, in nanoseconds, from the first
// field of /proc/PID/task/TID/schedstat. Unlike utime+stime in /proc/PID/stat, which come in
// clock ticks of 10 ms, this resolves the few milliseconds a small run costs. A thread
// that exits takes its time with it, so callers compare thread by thread and fall back to
// the ticks when one vanished.
func procThreadsCPU(pid int) (map[int]int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("threads of pid %d: %w", pid, err)
	}
	out := make(map[int]int64, len(entries))
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended between the listing and the read
		}
		ns, err := parseSchedstat(b)
		if err != nil {
			return nil, fmt.Errorf("pid %d thread %d: %w", pid, tid, err)
		}
		out[tid] = ns
	}
	return out, nil
}

// parseSchedstat reads the run time in nanoseconds from a schedstat line
// ("run_ns wait_ns timeslices").
func parseSchedstat(b []byte) (int64, error) {
	f := bytes.Fields(b)
	if len(f) < 1 {
		return 0, fmt.Errorf("empty schedstat")
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("malformed schedstat %q", b)
	}
	return n, nil
}

// threadsDelta sums each thread's run time from before to after; a thread new in after
// counts from zero. It also says how many threads of before are gone from after, whose
// last moments are lost.
func threadsDelta(before, after map[int]int64) (ns int64, gone int) {
	for tid, a := range after {
		ns += a - before[tid]
	}
	for tid := range before {
		if _, ok := after[tid]; !ok {
			gone++
		}
	}
	return ns, gone
}

// hostBusy returns the CPU time all processes on the machine have used so far, from the
// first line of /proc/stat (user, nice, system, irq, softirq and steal; idle and iowait
// left out). Compared with the server's and the tool's own time over a window, it shows
// how much of the cores someone else took while the run measured.
func hostBusy(ticksPerSec int64) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatBusy(b)
	if err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / time.Duration(ticksPerSec), nil
}

// parseStatBusy sums the busy fields of the "cpu" line of /proc/stat, in clock ticks.
func parseStatBusy(stat []byte) (int64, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("no cpu line in /proc/stat")
	}
	var busy int64
	// Fields after "cpu": user nice system idle iowait irq softirq steal [guest ...];
	// guest time is already inside user.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue // idle, iowait
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat field %d: %w", i+2, err)
		}
		busy += n
	}
	return busy, nil
}
