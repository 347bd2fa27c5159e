package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Histogram layout: values (microseconds) below histLinear are kept exactly; above, each
// power of two is split into histSub buckets, so a reported percentile is at most 1/64
// (1.6 %) above the true value. That keeps a million deliveries in a few KiB instead of
// a slice of samples.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histLinear  = 2 * histSub
	histMaxBits = 40 // 2^40 µs is about 12 days; anything longer is clamped
	histBuckets = histLinear + (histMaxBits-histSubBits-1)*histSub
	histShards  = 8 // stream goroutines spread their updates over shards to share fewer lines
)

// histogram is a concurrent latency histogram; record is lock-free and safe for many
// goroutines, and snapshot may run at the same time (the progress line uses it).
type histogram struct {
	shards [histShards]histShard
}

type histShard struct {
	counts [histBuckets]atomic.Uint64
	maxNs  atomic.Int64
	_      [56]byte // keep neighbouring shards' max off one cache line
}

func bucketOf(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	if us >= 1<<histMaxBits {
		us = 1<<histMaxBits - 1
	}
	shift := bits.Len64(us) - 1 - histSubBits // at least 1 here
	return histLinear + (shift-1)*histSub + int(us>>shift) - histSub
}

// bucketUpper is the largest value that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	k := i - histLinear
	shift := k/histSub + 1
	m := uint64(k%histSub + histSub)
	return (m+1)<<shift - 1
}

// record adds one latency; shard is any number, usually the stream's index.
func (h *histogram) record(shard int, ns int64) {
	if ns < 0 {
		ns = 0 // wall clock stepped back between stamp and receipt; count it as instant
	}
	s := &h.shards[shard%histShards]
	s.counts[bucketOf(uint64(ns/1000))].Add(1)
	for {
		old := s.maxNs.Load()
		if ns <= old || s.maxNs.CompareAndSwap(old, ns) {
			return
		}
	}
}

// histSnapshot is a merged, immutable copy of a histogram.
type histSnapshot struct {
	counts []uint64
	total  uint64
	maxNs  int64
}

func (h *histogram) snapshot() histSnapshot {
	s := histSnapshot{counts: make([]uint64, histBuckets)}
	for i := range h.shards {
		sh := &h.shards[i]
		for j := range sh.counts {
			c := sh.counts[j].Load()
			s.counts[j] += c
			s.total += c
		}
		s.maxNs = max(s.maxNs, sh.maxNs.Load())
	}
	return s
}

// quantile returns the p-th percentile (0 < p <= 100) by nearest rank: the smallest bucket
// holding at least p % of the values, reported as that bucket's upper edge but never above
// the exact maximum. Zero when empty.
func (s histSnapshot) quantile(p float64) time.Duration {
	if s.total == 0 {
		return 0
	}
	rank := nearestRank(p, int(s.total))
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= uint64(rank) {
			v := time.Duration(bucketUpper(i)) * time.Microsecond
			return min(v, time.Duration(s.maxNs))
		}
	}
	return time.Duration(s.maxNs)
}

// nearestRank is the 1-based rank of the p-th percentile among n values: ceil(p/100 * n),
// at least 1 and at most n.
func nearestRank(p float64, n int) int {
	r := int(math.Ceil(p / 100 * float64(n)))
	return max(1, min(r, n))
}

// percentile returns the nearest-rank p-th percentile of sorted (ascending), 0 when empty.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[nearestRank(p, len(sorted))-1]
}

// Dist summarises a distribution in milliseconds.
type Dist struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func distOfHist(s histSnapshot) Dist {
	return Dist{Count: int64(s.total), P50: ms(s.quantile(50)), P99: ms(s.quantile(99)),
		Max: ms(time.Duration(s.maxNs))}
}

// distOfSamples summarises nanosecond samples exactly; it sorts them in place.
func distOfSamples(ns []int64) Dist {
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	d := Dist{Count: int64(len(ns))}
	if len(ns) > 0 {
		d.P50 = ms(time.Duration(percentile(ns, 50)))
		d.P99 = ms(time.Duration(percentile(ns, 99)))
		d.Max = ms(time.Duration(ns[len(ns)-1]))
	}
	return d
}

// Report holds every figure of a run; the table and the JSON file both come from it.
type Report struct {
	RunID       string   `json:"run_id"`
	URL         string   `json:"url"`
	Subscribers int      `json:"subscribers"`
	Senders     int      `json:"senders"`
	Rate        float64  `json:"rate_per_s"`
	DurationS   float64  `json:"duration_s"`
	WarmupS     float64  `json:"warmup_s"`
	Aborted     string   `json:"aborted,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`

	Login   PhaseRate `json:"login"`
	Connect PhaseRate `json:"connect"`

	Sent       int64            `json:"sent"`
	Acked      int64            `json:"acked"`
	PostErrors map[string]int64 `json:"post_errors"`
	PostRTT    Dist             `json:"post_round_trip"`
	SendLagMax float64          `json:"send_lag_max_ms"`

	Streams    StreamCounts `json:"streams"`
	Deliveries Deliveries   `json:"deliveries"`
	Latency    Dist         `json:"latency"`
	// ReadLatency times the same deliveries to when the tool read them, not to their
	// arrival (see arrival.go): the tool's own wait for its turn is in it.
	ReadLatency Dist        `json:"latency_as_read"`
	TimeToLast  Dist        `json:"time_to_last_subscriber"`
	Events      EventCounts `json:"events"`

	Server  *ServerCost   `json:"server,omitempty"`
	Client  ClientCost    `json:"client"`
	Host    HostLoad      `json:"host"`
	Stall   *StallReport  `json:"stall,omitempty"`
	Storm   *StormReport  `json:"storm,omitempty"`
	Notices *NoticeReport `json:"notices,omitempty"`
	Result  string        `json:"result"`
	Exit    int           `json:"exit_code"`
}

// PhaseRate is the outcome of the login or the stream-open phase.
type PhaseRate struct {
	OK        int     `json:"ok"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Status429 int64   `json:"status_429"`
	FirstErr  string  `json:"first_error,omitempty"`
}

// StreamCounts says which streams the loss accounting covers.
type StreamCounts struct {
	Opened  int    `json:"opened"`
	Healthy int    `json:"healthy"`  // opened and read (senders' streams included)
	FullRun int    `json:"full_run"` // healthy and connected until the end
	Lost    int    `json:"lost"`     // healthy but closed by the server or failed to reconnect
	LostErr string `json:"first_lost_error,omitempty"`
}

// Deliveries is the loss accounting over full-run streams.
type Deliveries struct {
	Delivered   int64   `json:"delivered"`
	PerSecond   float64 `json:"per_second"`
	Expected    int64   `json:"expected"`
	Missing     int64   `json:"missing"`
	Duplicates  int64   `json:"duplicates"`
	Unacked     int64   `json:"delivered_but_unacked"`
	Foreign     int64   `json:"foreign"`
	Drained     bool    `json:"drained"`
	MissingSubs int     `json:"subscribers_missing_some"`
}

// EventCounts counts the non-message traffic on the streams.
type EventCounts struct {
	Notices        int64 `json:"notices"`
	Presence       int64 `json:"presence"`
	History        int64 `json:"history"`
	HistoryMarkers int64 `json:"history_markers_of_this_run"`
	Heartbeats     int64 `json:"heartbeat_comments"`
	OtherMessages  int64 `json:"messages_without_marker"`
	Other          int64 `json:"other_events"`
}

// ServerCost is what /proc says the server paid.
type ServerCost struct {
	PID               int     `json:"pid"`
	Comm              string  `json:"comm"`
	CPUSeconds        float64 `json:"cpu_s"`
	CPUMicrosPerDeliv float64 `json:"cpu_us_per_delivery"`
	// CPUSource says where cpu_s came from: "schedstat" (per thread, in ns) or "ticks"
	// (utime+stime of /proc/PID/stat, 10 ms steps), which is also kept for comparison.
	CPUSource        string  `json:"cpu_source"`
	CPUTicksSeconds  float64 `json:"cpu_ticks_s"`
	RSSBeforeKiB     int64   `json:"rss_before_kib"`
	RSSIdleKiB       int64   `json:"rss_idle_kib"`
	KiBPerIdleStream float64 `json:"kib_per_idle_stream"`
	// AfterGC says the idle RSS was read after -gc-url answered (a forced collection).
	AfterGC bool `json:"idle_rss_after_gc"`

	// With -rss-every: samples while sending and their summary.
	RSSSamples []RSSSample `json:"rss_samples,omitempty"`
	RSSSending *RSSSummary `json:"rss_sending,omitempty"`
}

// ClientCost is the tool's own CPU over the same window, to show how much of the two cores
// the measurement itself took.
type ClientCost struct {
	CPUSeconds        float64 `json:"cpu_s"`
	CPUMicrosPerDeliv float64 `json:"cpu_us_per_delivery"`
	WindowSeconds     float64 `json:"window_s"`
}

// HostLoad is the whole machine's CPU over the measured window: on a shared two-core
// machine, what other people's work took from the run shows here.
type HostLoad struct {
	CPUs             int     `json:"cpus"`
	BusyCPUSeconds   float64 `json:"busy_cpu_s"`
	OthersCPUSeconds float64 `json:"others_cpu_s"` // busy minus the server and this tool
	OthersPercent    float64 `json:"others_pct"`   // of all cores over the window
}

// StallReport covers the subscribers that stopped reading.
type StallReport struct {
	Stalled       int `json:"stalled"`
	CutLoose      int `json:"cut_loose"`
	StillAttached int `json:"still_attached"`
}

// StormReport covers the mass reconnect.
type StormReport struct {
	Streams      int   `json:"streams"`
	Reconnected  int   `json:"reconnected"`
	Failed       int   `json:"failed"`
	Retries      int64 `json:"retries"`
	Back         Dist  `json:"time_to_reconnect"`
	CaughtUp     Dist  `json:"time_to_catch_up"`
	NotCaughtUp  int   `json:"not_caught_up"`
	Latency      Dist  `json:"latency_during_storm"`
	NoLastID     int   `json:"reconnected_without_last_event_id"`
	HistoryAfter int64 `json:"history_events_on_reconnect"`
}

// writeTable prints the report for humans.
func (r *Report) writeTable(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	row := func(name, format string, args ...any) {
		p("  %-18s %s", name, fmt.Sprintf(format, args...))
	}
	dist := func(d Dist) string {
		if d.Count == 0 {
			return "n/a"
		}
		return fmt.Sprintf("p50 %s  p99 %s  max %s  (n=%d)",
			fmtMs(d.P50), fmtMs(d.P99), fmtMs(d.Max), d.Count)
	}

	p("chatbench run %s against %s", r.RunID, r.URL)
	p("  %d subscribers + %d senders, %g msg/s for %gs (warmup %gs)",
		r.Subscribers, r.Senders, r.Rate, r.DurationS, r.WarmupS)
	for _, warn := range r.Warnings {
		p("  warning: %s", warn)
	}
	if r.Aborted != "" {
		p("  ABORTED: %s", r.Aborted)
	}

	p("setup")
	row("logins", "%d ok, %d failed in %.2fs = %.0f sessions/s (429s: %d)",
		r.Login.OK, r.Login.Failed, r.Login.Seconds, r.Login.PerSecond, r.Login.Status429)
	if r.Login.FirstErr != "" {
		row("", "first error: %s", r.Login.FirstErr)
	}
	row("streams", "%d ok, %d failed in %.2fs = %.0f streams/s (429s: %d)",
		r.Connect.OK, r.Connect.Failed, r.Connect.Seconds, r.Connect.PerSecond,
		r.Connect.Status429)
	if r.Connect.FirstErr != "" {
		row("", "first error: %s", r.Connect.FirstErr)
	}

	p("messages")
	row("posted", "%d sent, %d acked, errors: %s", r.Sent, r.Acked, fmtErrors(r.PostErrors))
	row("post round trip", "%s", dist(r.PostRTT))
	row("sender lag max", "%s", fmtMs(r.SendLagMax))

	p("delivery (healthy streams)")
	s := r.Streams
	row("streams", "%d healthy, %d full run, %d lost mid-run", s.Healthy, s.FullRun, s.Lost)
	if s.LostErr != "" {
		row("", "first lost: %s", s.LostErr)
	}
	d := r.Deliveries
	row("deliveries", "%d in all, %.0f/s while sending in the measured window",
		d.Delivered, d.PerSecond)
	row("expected", "%d = acked x full-run streams (drained: %v)", d.Expected, d.Drained)
	row("missing", "%d (on %d streams)", d.Missing, d.MissingSubs)
	row("duplicates", "%d", d.Duplicates)
	if d.Unacked > 0 || d.Foreign > 0 {
		row("other", "%d delivered though the post failed, %d with unknown seq",
			d.Unacked, d.Foreign)
	}
	row("latency", "%s", dist(r.Latency))
	row("  as read by tool", "%s", dist(r.ReadLatency))
	row("time to last sub", "%s", dist(r.TimeToLast))
	e := r.Events
	row("events", "notices %d, presence %d, history %d (%d markers of this run), "+
		"heartbeats %d", e.Notices, e.Presence, e.History, e.HistoryMarkers, e.Heartbeats)
	if e.OtherMessages > 0 || e.Other > 0 {
		row("", "%d messages without our marker, %d other events", e.OtherMessages, e.Other)
	}

	if sv := r.Server; sv != nil {
		p("server (pid %d, %s)", sv.PID, sv.Comm)
		row("cpu", "%.3fs (%s; ticks: %.2fs) = %.1f µs per delivered fragment",
			sv.CPUSeconds, sv.CPUSource, sv.CPUTicksSeconds, sv.CPUMicrosPerDeliv)
		gc := ""
		if sv.AfterGC {
			gc = " (after a GC)"
		}
		row("rss", "%d KiB before login, %d KiB idle with streams%s = %.1f KiB per idle stream",
			sv.RSSBeforeKiB, sv.RSSIdleKiB, gc, sv.KiBPerIdleStream)
		if rs := sv.RSSSending; rs != nil {
			row("rss sending", "start %d KiB, end %d KiB, max %d KiB (%d samples)",
				rs.StartKiB, rs.EndKiB, rs.MaxKiB, len(sv.RSSSamples))
		}
	}
	if r.Client.WindowSeconds > 0 {
		p("client (this tool)")
		row("cpu", "%.2fs over a %.1fs window = %.1f µs per delivery",
			r.Client.CPUSeconds, r.Client.WindowSeconds, r.Client.CPUMicrosPerDeliv)
	}

	if h := r.Host; h.CPUs > 0 {
		p("machine")
		row("cpu", "%.2fs busy on %d CPUs, of which others used %.2fs = %.0f %% of the "+
			"cores", h.BusyCPUSeconds, h.CPUs, h.OthersCPUSeconds, h.OthersPercent)
	}

	if st := r.Stall; st != nil {
		p("stall")
		row("stalled", "%d subscribers stopped reading (excluded from the figures above)",
			st.Stalled)
		row("cut loose", "%d closed by the server, %d still attached at the end",
			st.CutLoose, st.StillAttached)
	}

	if n := r.Notices; n != nil {
		p("private notices (%d probes, one every %gs each)", n.Probes, n.EveryS)
		row("posted", "%d sent, %d acked, errors: %s", n.Sent, n.Acked, fmtErrors(n.PostErrors))
		row("received", "%d, missing %d, duplicates %d, at the wrong session %d",
			n.Received, n.Missing, n.Duplicates, n.Foreign)
		row("latency", "%s", dist(n.Latency))
		row("  as read by tool", "%s", dist(n.ReadLatency))
	}

	if sm := r.Storm; sm != nil {
		p("reconnect storm")
		row("streams", "%d dropped, %d reconnected, %d failed, %d retries",
			sm.Streams, sm.Reconnected, sm.Failed, sm.Retries)
		row("back", "%s", dist(sm.Back))
		row("caught up", "%s; %d never caught up", dist(sm.CaughtUp), sm.NotCaughtUp)
		row("latency", "%s", dist(sm.Latency))
		if sm.NoLastID > 0 || sm.HistoryAfter > 0 {
			row("", "%d reconnected without an id to resume from; %d history events",
				sm.NoLastID, sm.HistoryAfter)
		}
	}
	p("result: %s", r.Result)
}

func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.3fms", v)
	}
}

func fmtErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
