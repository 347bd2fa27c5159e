package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The sweep's results: every run's report, the figures taken from it, their min, median
// and max over the repetitions, the ratios of the peer's figures to the chat's, and the
// issue's goals judged on them. Everything here is a pure function of the runs, so
// `chatbench report` can redraw the tables and the plot from a results.json.

// Case names. A case is one kind of load; each runs -reps times per server and size.
const (
	caseScale   = "scale"   // the scaling sweep: -rate broadcasts/s, sizes 100 .. 10,000
	caseNotices = "notices" // private notices to probe sessions while everyone listens
	caseSoak    = "soak"    // 2 broadcasts/s for a minute, RSS sampled
	caseStall   = "stall"   // the soak's load with 1 % of the subscribers not reading
	caseStorm   = "storm"   // every stream dropped at once and resumed
	caseProfile = "profile" // one run with the profilers on; kept out of every aggregate
)

// Server names as they appear in the results.
const (
	serverChat = "chat"
	serverPeer = "flask-peer"
)

// caseSpec is one load against one server at one size.
type caseSpec struct {
	Case         string  `json:"case"`
	Server       string  `json:"server"`
	Subscribers  int     `json:"subscribers"`
	Senders      int     `json:"senders"`
	Rate         float64 `json:"rate_per_s"`
	WarmupS      float64 `json:"warmup_s"`
	DurationS    float64 `json:"duration_s"`
	IdleS        float64 `json:"idle_s"`
	Stall        float64 `json:"stall,omitempty"`
	Storm        bool    `json:"storm,omitempty"`
	StormS       float64 `json:"storm_s,omitempty"`
	Notices      int     `json:"notices,omitempty"`
	NoticeEveryS float64 `json:"notice_every_s,omitempty"`
	RSSEveryS    float64 `json:"rss_every_s,omitempty"`
}

// runResult is one run of a case: when, on how busy a machine, and what it measured.
type runResult struct {
	caseSpec
	Rep       int       `json:"rep"`
	Start     time.Time `json:"start"`
	Seconds   float64   `json:"seconds"`     // the whole run, server start to stop
	LoadAvg1  float64   `json:"load_avg_1m"` // /proc/loadavg when the load began
	LoadWaitS float64   `json:"load_wait_s"` // waited for a quieter machine first
	// UsedCores is the machine's CPU use over the last 10 s of waiting (-1: no wait).
	UsedCores float64   `json:"cores_used_before"`
	Busy      bool      `json:"busy"` // started above the load limit anyway
	Args      []string  `json:"args"` // the tool's flags, to repeat the run by hand
	OK        bool      `json:"ok"`
	Failure   string    `json:"failure,omitempty"`
	Figures   figureMap `json:"figures"`
	Report    *Report   `json:"report,omitempty"`
}

// figureMap holds a run's figures by key. Figures a run cannot have (a notice latency
// for the peer, say) are absent, never zero.
type figureMap map[string]float64

// figureDef names and formats one figure.
type figureDef struct {
	Key, Label, Unit string
}

// figureDefs lists every figure in the order of the tables.
var figureDefs = []figureDef{
	{"cpu_us_per_delivery", "server CPU per delivered fragment", "µs"},
	{"kib_per_stream", "server RSS per idle stream", "KiB"},
	{"latency_p50_ms", "POST-to-receipt p50", "ms"},
	{"latency_p99_ms", "POST-to-receipt p99", "ms"},
	{"latency_max_ms", "POST-to-receipt max", "ms"},
	{"latency_read_p99_ms", "POST-to-read-by-tool p99", "ms"},
	{"to_last_p99_ms", "time to last subscriber p99", "ms"},
	{"missing", "missing deliveries", ""},
	{"duplicates", "duplicate deliveries", ""},
	{"logins_per_s", "logins per second", "/s"},
	{"streams_per_s", "stream opens per second", "/s"},
	{"tool_cpu_us_per_delivery", "load tool CPU per delivery", "µs"},
	{"others_cpu_pct", "others' CPU in the window", "% of cores"},
	{"notice_p50_ms", "private notice p50", "ms"},
	{"notice_p99_ms", "private notice p99", "ms"},
	{"notice_max_ms", "private notice max", "ms"},
	{"notice_read_p99_ms", "private notice p99, to read by tool", "ms"},
	{"notices_missing", "private notices missing", ""},
	{"rss_start_mib", "RSS when sending began", "MiB"},
	{"rss_end_mib", "RSS at the end", "MiB"},
	{"rss_max_mib", "RSS max while sending", "MiB"},
	{"rss_growth_pct", "RSS growth, 2nd half over 1st", "%"},
	{"stalled_cut_loose", "stalled streams the server closed", ""},
	{"storm_back_max_s", "storm: last stream back", "s"},
	{"storm_caught_up_p99_s", "storm: caught up p99", "s"},
	{"storm_caught_up_max_s", "storm: last stream caught up", "s"},
	{"storm_not_back", "storm: streams not back or not caught up", ""},
}

func figureDefOf(key string) figureDef {
	for _, d := range figureDefs {
		if d.Key == key {
			return d
		}
	}
	return figureDef{Key: key, Label: key}
}

// figuresOf takes the figures out of a report.
func figuresOf(r *Report) figureMap {
	f := figureMap{
		"latency_p50_ms":           r.Latency.P50,
		"latency_p99_ms":           r.Latency.P99,
		"latency_max_ms":           r.Latency.Max,
		"latency_read_p99_ms":      r.ReadLatency.P99,
		"to_last_p99_ms":           r.TimeToLast.P99,
		"missing":                  float64(r.Deliveries.Missing),
		"duplicates":               float64(r.Deliveries.Duplicates),
		"logins_per_s":             r.Login.PerSecond,
		"streams_per_s":            r.Connect.PerSecond,
		"tool_cpu_us_per_delivery": r.Client.CPUMicrosPerDeliv,
	}
	if r.Host.CPUs > 0 {
		f["others_cpu_pct"] = r.Host.OthersPercent
	}
	if sv := r.Server; sv != nil {
		f["cpu_us_per_delivery"] = sv.CPUMicrosPerDeliv
		f["kib_per_stream"] = sv.KiBPerIdleStream
		if rs := sv.RSSSending; rs != nil {
			f["rss_start_mib"] = float64(rs.StartKiB) / 1024
			f["rss_end_mib"] = float64(rs.EndKiB) / 1024
			f["rss_max_mib"] = float64(rs.MaxKiB) / 1024
			if g, ok := rssGrowthPct(sv.RSSSamples, r.WarmupS+r.DurationS); ok {
				f["rss_growth_pct"] = g
			}
		}
	}
	if n := r.Notices; n != nil {
		f["notice_p50_ms"] = n.Latency.P50
		f["notice_p99_ms"] = n.Latency.P99
		f["notice_max_ms"] = n.Latency.Max
		f["notice_read_p99_ms"] = n.ReadLatency.P99
		f["notices_missing"] = float64(n.Missing)
	}
	if st := r.Stall; st != nil {
		f["stalled_cut_loose"] = float64(st.CutLoose)
	}
	if sm := r.Storm; sm != nil {
		f["storm_back_max_s"] = sm.Back.Max / 1000
		f["storm_caught_up_p99_s"] = sm.CaughtUp.P99 / 1000
		f["storm_caught_up_max_s"] = sm.CaughtUp.Max / 1000
		f["storm_not_back"] = float64(sm.Failed + sm.NotCaughtUp)
	}
	return f
}

// rssGrowthPct compares the largest RSS sample of the second half of the sending time with
// the largest of the first half, in percent. Steady memory stays near 0; a leak grows with
// the length of the run. Comparing maxima keeps one early spike from looking like a trend.
// It needs a sample in each half.
func rssGrowthPct(samples []RSSSample, sendS float64) (float64, bool) {
	var first, second int64
	for _, s := range samples {
		if s.AtS < sendS/2 {
			first = max(first, s.KiB)
		} else {
			second = max(second, s.KiB)
		}
	}
	if first == 0 || second == 0 {
		return 0, false
	}
	return (float64(second)/float64(first) - 1) * 100, true
}

// aggRow is one figure of one case on one server at one size.
type aggRow struct {
	Case        string  `json:"case"`
	Server      string  `json:"server"`
	Subscribers int     `json:"subscribers"`
	Figure      string  `json:"figure"`
	Unit        string  `json:"unit"`
	Min         float64 `json:"min"`
	Median      float64 `json:"median"`
	Max         float64 `json:"max"`
	N           int     `json:"runs"`   // successful runs with this figure
	Failed      int     `json:"failed"` // runs of this case, server and size that failed
}

// median of values: the middle one, or the mean of the two middle ones.
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// groupKey identifies the runs that are repetitions of each other.
type groupKey struct {
	Case        string
	Server      string
	Subscribers int
}

func keyOf(r *runResult) groupKey { return groupKey{r.Case, r.Server, r.Subscribers} }

// aggregate summarises every figure of every group over its successful runs. Failed runs
// are counted, never averaged in: a failure is not a zero. The profiled run is left out,
// since the profilers cost CPU. Rows come in the order of figureDefs within each group,
// groups in the order they first ran.
func aggregate(runs []runResult) []aggRow {
	var order []groupKey
	groups := map[groupKey][]*runResult{}
	for i := range runs {
		r := &runs[i]
		if r.Case == caseProfile {
			continue
		}
		k := keyOf(r)
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}

	var rows []aggRow
	for _, k := range order {
		failed := 0
		values := map[string][]float64{}
		for _, r := range groups[k] {
			if !r.OK {
				failed++
				continue
			}
			for key, v := range r.Figures {
				values[key] = append(values[key], v)
			}
		}
		for _, d := range figureDefs {
			vs := values[d.Key]
			row := aggRow{Case: k.Case, Server: k.Server, Subscribers: k.Subscribers,
				Figure: d.Key, Unit: d.Unit, N: len(vs), Failed: failed}
			if len(vs) == 0 {
				// A figure no run measured is left out, except that a group whose every
				// run failed keeps one empty row (N = 0), so the failure shows.
				if failed == 0 || d.Key != figureDefs[0].Key {
					continue
				}
			} else {
				row.Min, row.Median, row.Max = slices.Min(vs), median(vs), slices.Max(vs)
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// aggIndex finds rows by group and figure.
type aggIndex map[groupKey]map[string]aggRow

func indexRows(rows []aggRow) aggIndex {
	ix := aggIndex{}
	for _, r := range rows {
		k := groupKey{r.Case, r.Server, r.Subscribers}
		if ix[k] == nil {
			ix[k] = map[string]aggRow{}
		}
		ix[k][r.Figure] = r
	}
	return ix
}

// get returns the row of one figure if some run measured it.
func (ix aggIndex) get(c, server string, subs int, fig string) (aggRow, bool) {
	r, ok := ix[groupKey{c, server, subs}][fig]
	return r, ok && r.N > 0
}

// ratioRow is how many times the peer's median is the chat's, at one size.
type ratioRow struct {
	Subscribers int     `json:"subscribers"`
	Figure      string  `json:"figure"`
	Chat        float64 `json:"chat_median"`
	Peer        float64 `json:"peer_median"`
	PeerOverUs  float64 `json:"peer_over_chat"`
}

// ratioFigures are the figures compared with the peer: lower is better for each.
var ratioFigures = []string{"cpu_us_per_delivery", "kib_per_stream", "latency_p50_ms",
	"latency_p99_ms", "to_last_p99_ms", "tool_cpu_us_per_delivery"}

// ratios compares the scaling runs at every size both servers completed.
func ratios(rows []aggRow) []ratioRow {
	ix := indexRows(rows)
	var sizes []int
	for k := range ix {
		if k.Case == caseScale && k.Server == serverChat {
			sizes = append(sizes, k.Subscribers)
		}
	}
	slices.Sort(sizes)
	var out []ratioRow
	for _, n := range sizes {
		for _, fig := range ratioFigures {
			c, okC := ix.get(caseScale, serverChat, n, fig)
			p, okP := ix.get(caseScale, serverPeer, n, fig)
			if !okC || !okP || c.Median <= 0 {
				continue
			}
			out = append(out, ratioRow{Subscribers: n, Figure: fig, Chat: c.Median,
				Peer: p.Median, PeerOverUs: p.Median / c.Median})
		}
	}
	return out
}

// Goal verdicts.
const (
	verdictPass   = "PASS"
	verdictMiss   = "MISS"
	verdictNotRun = "not run"
)

// goalResult is one of the goals, judged.
type goalResult struct {
	Goal     string `json:"goal"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Verdict  string `json:"verdict"`
}

// goalSettings are the loads the goals presume, to refuse judging a sweep that ran others.
type goalSettings struct {
	GoalSize  int     // subscribers of the big goals (10,000)
	ScaleRate float64 // broadcasts/s of the scaling runs (the latency goals want 1)
}

// judgeGoals applies the goals to the aggregates. Each is judged on the median
// over the repetitions, with the min and max shown; a goal of zero (no loss) must hold in
// every run, and a failed run misses any goal it belongs to.
func judgeGoals(rows []aggRow, gs goalSettings) []goalResult {
	ix := indexRows(rows)
	n := gs.GoalSize
	var out []goalResult

	atMost := func(goal, c string, subs int, fig string, limit float64, unit string) {
		g := goalResult{Goal: goal, Target: "≤ " + fmtNum(limit) + " " + unit,
			Verdict: verdictNotRun}
		if r, ok := ix.get(c, serverChat, subs, fig); ok {
			g.Measured = fmtSpread(r)
			g.Verdict = verdictOf(r.Median <= limit && r.Failed == 0)
		} else if failedGroup(ix, c, subs) {
			g.Measured, g.Verdict = "every run failed", verdictMiss
		}
		out = append(out, g)
	}
	// noLoss requires zero missing and duplicate deliveries in every run of the groups.
	noLoss := func(goal string, groups []groupKey) {
		g := goalResult{Goal: goal, Target: "0 missing, 0 duplicates, in every run",
			Verdict: verdictNotRun}
		var missing, dups float64
		runs, failed := 0, 0
		for _, k := range groups {
			m, okM := ix.get(k.Case, k.Server, k.Subscribers, "missing")
			d, okD := ix.get(k.Case, k.Server, k.Subscribers, "duplicates")
			if okM && okD {
				missing, dups = max(missing, m.Max), max(dups, d.Max)
				runs += m.N
			}
			for _, r := range ix[k] {
				failed = max(failed, r.Failed)
			}
		}
		if runs > 0 || failed > 0 {
			g.Measured = fmt.Sprintf("worst run: %s missing, %s duplicates over %d runs",
				fmtNum(missing), fmtNum(dups), runs)
			if failed > 0 {
				g.Measured += fmt.Sprintf("; %d failed", failed)
			}
			g.Verdict = verdictOf(runs > 0 && failed == 0 && missing == 0 && dups == 0)
		}
		out = append(out, g)
	}
	chatGroups := func(c string) []groupKey {
		var ks []groupKey
		for k := range ix {
			if k.Case == c && k.Server == serverChat {
				ks = append(ks, k)
			}
		}
		return ks
	}

	atMost(fmt.Sprintf("memory per idle stream at %s", fmtInt(n)), caseScale, n,
		"kib_per_stream", 16, "KiB")
	atMost(fmt.Sprintf("server CPU per delivered fragment at %s", fmtInt(n)), caseScale, n,
		"cpu_us_per_delivery", 10, "µs")
	if gs.ScaleRate == 1 {
		atMost(fmt.Sprintf("p99 at %s, 1 broadcast/s", fmtInt(n)), caseScale, n,
			"latency_p99_ms", 150, "ms")
		atMost("p99 at 1,000, 1 broadcast/s", caseScale, 1000, "latency_p99_ms", 15, "ms")
	} else {
		out = append(out, goalResult{Goal: "latency at 1 broadcast/s",
			Target: "scaling runs at -rate 1", Verdict: verdictNotRun,
			Measured: fmt.Sprintf("the scaling runs used %g/s", gs.ScaleRate)})
	}
	noLoss("no loss in the scaling runs", chatGroups(caseScale))
	atMost(fmt.Sprintf("private notice p99 at %s", fmtInt(n)), caseNotices, n,
		"notice_p99_ms", 5, "ms")
	noLoss(fmt.Sprintf("%s at 2 broadcasts/s for the soak: no loss", fmtInt(n)),
		[]groupKey{{caseSoak, serverChat, n}})
	atMost(fmt.Sprintf("%s at 2 broadcasts/s: memory steady", fmtInt(n)), caseSoak, n,
		"rss_growth_pct", 5, "% growth")

	// Stalled readers: the healthy p99 with 1 % stalled against the same load without.
	g := goalResult{Goal: fmt.Sprintf("1%% stalled readers at %s: healthy p99", fmtInt(n)),
		Target: "within 10 % of the soak without them", Verdict: verdictNotRun}
	st, okS := ix.get(caseStall, serverChat, n, "latency_p99_ms")
	base, okB := ix.get(caseSoak, serverChat, n, "latency_p99_ms")
	switch {
	case okS && okB:
		g.Measured = fmt.Sprintf("%s ms with, %s ms without (%+.0f %%)", fmtNum(st.Median),
			fmtNum(base.Median), (st.Median/base.Median-1)*100)
		g.Verdict = verdictOf(st.Median <= 1.10*base.Median && st.Failed == 0)
	case failedGroup(ix, caseStall, n):
		g.Measured, g.Verdict = "every run failed", verdictMiss
	}
	out = append(out, g)

	// The storm: every stream back and caught up, in every run, within 5 s.
	g = goalResult{Goal: fmt.Sprintf("reconnect storm of %s", fmtInt(n)),
		Target: "all back and caught up within 5 s", Verdict: verdictNotRun}
	cu, okC := ix.get(caseStorm, serverChat, n, "storm_caught_up_max_s")
	nb, okN := ix.get(caseStorm, serverChat, n, "storm_not_back")
	switch {
	case okC && okN:
		g.Measured = fmt.Sprintf("last caught up after %s s (worst run %s s); "+
			"not back or behind: %s", fmtNum(cu.Median), fmtNum(cu.Max), fmtNum(nb.Max))
		g.Verdict = verdictOf(cu.Max <= 5 && nb.Max == 0 && cu.Failed == 0)
	case failedGroup(ix, caseStorm, n):
		g.Measured, g.Verdict = "every run failed", verdictMiss
	}
	return append(out, g)
}

func failedGroup(ix aggIndex, c string, subs int) bool {
	for _, r := range ix[groupKey{c, serverChat, subs}] {
		if r.Failed > 0 {
			return true
		}
	}
	return false
}

func verdictOf(ok bool) string {
	if ok {
		return verdictPass
	}
	return verdictMiss
}

// fmtNum prints a figure with three significant digits, and whole numbers as they are.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e6:
		return fmtInt(int(v))
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// fmtInt writes thousands with commas, as the issue does.
func fmtInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtSpread prints "median (min–max)", or the median alone when all runs agree.
func fmtSpread(r aggRow) string {
	if r.N == 0 {
		return "–"
	}
	if r.Min == r.Max {
		return fmtNum(r.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(r.Median), fmtNum(r.Min), fmtNum(r.Max))
}

// writeMarkdown writes the tables of results.md.
func writeMarkdown(w io.Writer, res *sweepResults) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	rows := res.Aggregates
	ix := indexRows(rows)

	p("# chatbench sweep results")
	p("")
	p("Generated by `chatbench sweep` (%s, took %s); every run's report is in "+
		"[results.json](results.json). Cells read *median (min–max)* over the successful "+
		"runs; \"runs ok/failed\" counts them.", res.Started.UTC().Format(time.RFC3339),
		time.Duration(res.TookS*float64(time.Second)).Round(time.Second))
	p("")
	m := res.Machine
	p("Machine: %d CPUs (%s), %s MiB RAM, Linux %s, %s, open files %d; chat %s; "+
		"peer on %s.", m.CPUs, m.CPUModel, fmtInt(int(m.MemTotalKiB/1024)), m.Kernel,
		m.GoVersion, m.NoFile, res.Git, m.Python)
	p("")

	var others []float64
	busy := 0
	for _, r := range res.Runs {
		if r.Busy {
			busy++
		}
		if v, ok := r.Figures["others_cpu_pct"]; ok {
			others = append(others, v)
		}
	}
	p("Quiet machine: before each run the sweep waited (up to %s in all) until the 1-minute "+
		"load average was at most %g or the machine had used at most %g cores over 10 s; "+
		"it waited %s in all, and %d of %d runs started busy anyway.",
		time.Duration(res.Settings.LoadWaitS*float64(time.Second)), res.Settings.LoadMax,
		quietCores, time.Duration(res.LoadWaitS*float64(time.Second)).Round(time.Second),
		busy, len(res.Runs))
	if len(others) > 0 {
		p("Other processes' share of the cores during the measured windows: median %s %%, "+
			"max %s %%.", fmtNum(median(others)), fmtNum(slices.Max(others)))
	}
	p("")

	// The scaling runs: one table, a row per server and size.
	cols := []string{"cpu_us_per_delivery", "kib_per_stream", "latency_p50_ms",
		"latency_p99_ms", "latency_max_ms", "latency_read_p99_ms", "to_last_p99_ms",
		"tool_cpu_us_per_delivery", "others_cpu_pct"}
	p("## Scaling: %g broadcast/s, %d senders, %gs measured", res.Settings.Rate,
		res.Settings.Senders, res.Settings.DurationS)
	p("")
	writeGroupTable(w, ix, res.groups(caseScale), cols)

	p("## Ratios: the peer's median over the chat's (how many times the chat is better)")
	p("")
	rr := ratios(rows)
	if len(rr) == 0 {
		p("No size where both servers completed a run.")
	} else {
		p("| subscribers | figure | chat | peer | peer ÷ chat |")
		p("| ---: | --- | ---: | ---: | ---: |")
		for _, r := range rr {
			d := figureDefOf(r.Figure)
			p("| %s | %s (%s) | %s | %s | %s× |", fmtInt(r.Subscribers), d.Label, d.Unit,
				fmtNum(r.Chat), fmtNum(r.Peer), fmtNum(r.PeerOverUs))
		}
	}
	p("")

	goalCols := map[string][]string{
		caseNotices: {"notice_p50_ms", "notice_p99_ms", "notice_max_ms", "notice_read_p99_ms",
			"notices_missing", "latency_p99_ms", "missing"},
		caseSoak: {"latency_p99_ms", "missing", "duplicates", "rss_start_mib", "rss_end_mib",
			"rss_max_mib", "rss_growth_pct", "cpu_us_per_delivery"},
		caseStall: {"latency_p99_ms", "missing", "duplicates", "stalled_cut_loose",
			"cpu_us_per_delivery"},
		caseStorm: {"storm_back_max_s", "storm_caught_up_p99_s", "storm_caught_up_max_s",
			"storm_not_back", "missing", "duplicates"},
	}
	for _, c := range []string{caseNotices, caseSoak, caseStall, caseStorm} {
		if g := res.groups(c); len(g) > 0 {
			p("## Goal runs: %s", c)
			p("")
			writeGroupTable(w, ix, g, goalCols[c])
		}
	}

	p("## Goals")
	p("")
	p("| goal | target | measured: median (min–max) | verdict |")
	p("| --- | --- | --- | --- |")
	for _, g := range res.Goals {
		p("| %s | %s | %s | %s |", g.Goal, g.Target, orDash(g.Measured), g.Verdict)
	}
	p("")

	p("## Failed runs")
	p("")
	failed := 0
	for _, r := range res.Runs {
		if !r.OK {
			failed++
			p("- %s %s %s subscribers, rep %d: %s", r.Case, r.Server, fmtInt(r.Subscribers),
				r.Rep, oneLine(r.Failure))
		}
	}
	if failed == 0 {
		p("None.")
	}
	p("")

	p("## Every figure")
	p("")
	p("| case | server | subscribers | figure | min | median | max | runs ok/failed |")
	p("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		d := figureDefOf(r.Figure)
		label := d.Label
		if d.Unit != "" {
			label += " (" + d.Unit + ")"
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %d/%d |", r.Case, r.Server,
			fmtInt(r.Subscribers), label, fmtNum(r.Min), fmtNum(r.Median), fmtNum(r.Max),
			r.N, r.Failed)
	}
}

// writeGroupTable writes a row per group with the given figure columns.
func writeGroupTable(w io.Writer, ix aggIndex, groups []groupKey, cols []string) {
	head := "| server | subscribers |"
	rule := "| --- | ---: |"
	for _, c := range cols {
		d := figureDefOf(c)
		if d.Unit != "" {
			head += fmt.Sprintf(" %s (%s) |", d.Label, d.Unit)
		} else {
			head += fmt.Sprintf(" %s |", d.Label)
		}
		rule += " ---: |"
	}
	fmt.Fprintln(w, head+" runs ok/failed |")
	fmt.Fprintln(w, rule+" ---: |")
	for _, k := range groups {
		line := fmt.Sprintf("| %s | %s |", k.Server, fmtInt(k.Subscribers))
		okRuns, failed := 0, 0
		for _, c := range cols {
			r, ok := ix.get(k.Case, k.Server, k.Subscribers, c)
			if ok {
				line += " " + fmtSpread(r) + " |"
				okRuns = max(okRuns, r.N)
			} else {
				line += " n/a |"
			}
		}
		for _, r := range ix[k] {
			failed = max(failed, r.Failed)
		}
		fmt.Fprintf(w, "%s %d/%d |\n", line, okRuns, failed)
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// oneLine keeps a failure message on one table-safe line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// groups returns the groups of case c in the order servers, then sizes.
func (res *sweepResults) groups(c string) []groupKey {
	var out []groupKey
	seen := map[groupKey]bool{}
	for i := range res.Runs {
		k := keyOf(&res.Runs[i])
		if k.Case == c && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b groupKey) int {
		return cmp.Or(cmp.Compare(serverRank(a.Server), serverRank(b.Server)),
			cmp.Compare(a.Subscribers, b.Subscribers))
	})
	return out
}

func serverRank(s string) int {
	if s == serverChat {
		return 0
	}
	return 1
}
