package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The sweep: for each server under test, each size and each repetition it starts a fresh
// server process, runs one load in this process, stops the server and keeps the report.
// A fresh process per run keeps one run's garbage, caches and half-closed connections out
// of the next run's memory and CPU figures. The servers get the tool's loopback only.
//
//	chatbench sweep [-out docs/bench] [-goals] [-reps 3] ...
//	chatbench report -in docs/bench/results.json [-out docs/bench]
//
// It writes results.json (every run), results.md (the tables) and scaling.svg (the plot)
// into -out, and only once the sweep is complete: an interrupted sweep leaves the
// committed results alone and writes what it has to its temporary folder instead.

// Sweep bounds.
const (
	startTimeout   = 30 * time.Second // a server that is not answering /healthz by then failed
	stopTimeout    = 10 * time.Second // SIGTERM, then SIGKILL
	runSlack       = 90 * time.Second // on top of a run's planned time, its hard cap
	loadPoll       = 10 * time.Second
	soakRSSEvery   = 5 * time.Second
	profileSeconds = 10
	maxReps        = 20
)

// sweepConfig is the sweep's command line.
type sweepConfig struct {
	out      string
	src      string
	chatBin  string
	peerApp  string
	python   string
	servers  []string
	sizes    []int
	peerSize []int
	reps     int

	rate     float64
	senders  int
	warmup   time.Duration
	duration time.Duration
	idle     time.Duration

	goals       bool
	goalSize    int
	soak        time.Duration
	storm       time.Duration
	notices     int
	noticeEvery time.Duration
	profile     bool

	loadMax  float64
	loadWait time.Duration // in all, over the whole sweep
	maxTotal time.Duration
}

// sweepSettings is the part of the configuration results.json keeps.
type sweepSettings struct {
	Servers   []string `json:"servers"`
	Sizes     []int    `json:"sizes"`
	PeerSizes []int    `json:"peer_sizes"`
	Reps      int      `json:"reps"`
	Rate      float64  `json:"rate_per_s"`
	Senders   int      `json:"senders"`
	WarmupS   float64  `json:"warmup_s"`
	DurationS float64  `json:"duration_s"`
	IdleS     float64  `json:"idle_s"`
	Goals     bool     `json:"goals"`
	GoalSize  int      `json:"goal_size"`
	SoakS     float64  `json:"soak_s"`
	LoadMax   float64  `json:"load_max"`
	LoadWaitS float64  `json:"load_wait_budget_s"`
	MaxTotalS float64  `json:"max_total_s"`
}

// machineInfo describes where the numbers were taken.
type machineInfo struct {
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model"`
	MemTotalKiB int64  `json:"mem_total_kib"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go"`
	NoFile      uint64 `json:"open_file_limit"`
	Python      string `json:"python_flask"`
}

// sweepResults is results.json.
type sweepResults struct {
	Started    time.Time     `json:"started"`
	TookS      float64       `json:"took_s"`
	Complete   bool          `json:"complete"`
	Machine    machineInfo   `json:"machine"`
	Git        string        `json:"chat_source"`
	Settings   sweepSettings `json:"settings"`
	LoadWaitS  float64       `json:"load_waited_s"`
	Profiles   []string      `json:"profiles,omitempty"`
	Runs       []runResult   `json:"runs"`
	Aggregates []aggRow      `json:"aggregates"`
	Ratios     []ratioRow    `json:"ratios"`
	Goals      []goalResult  `json:"goals"`
}

// serverSpec says how to start one server under test.
type serverSpec struct {
	name string
	// command is the process serving on 127.0.0.1:port; debugPort is 0 unless debug.
	command func(port, debugPort int, dataDir string) *exec.Cmd
	debug   bool // serves net/http/pprof on debugPort: a GC before the idle RSS, profiles
}

func parseSweepFlags(args []string, stderr io.Writer) (sweepConfig, error) {
	var c sweepConfig
	var servers, sizes, peerSizes string
	fs := flag.NewFlagSet("chatbench sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.out, "out", "docs/bench", "folder for results.json, results.md, scaling.svg")
	fs.StringVar(&c.src, "src", ".", "the chat's module folder; ./cmd/chat is built from it")
	fs.StringVar(&c.chatBin, "chat-bin", "", "a chat binary to use instead of building one")
	fs.StringVar(&c.peerApp, "peer", "/work/shared/peers/flask-seed/app.py",
		"the Flask peer's app.py")
	fs.StringVar(&c.python, "python", "/usr/bin/python3", "the Python that runs the peer")
	fs.StringVar(&servers, "servers", "chat,peer", "servers to measure: chat, peer or both")
	fs.StringVar(&sizes, "sizes", "100,1000,2000,5000,10000", "subscriber counts for the chat")
	fs.StringVar(&peerSizes, "peer-sizes", "100,1000,2000",
		"subscriber counts for the peer (a thread per stream; it falls over beyond these)")
	fs.IntVar(&c.reps, "reps", 3, "repetitions of every run")
	fs.Float64Var(&c.rate, "rate", 1, "broadcasts per second in the scaling runs")
	fs.IntVar(&c.senders, "senders", 10, "sender sessions per run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "sending before each measured window")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "measured window of a scaling run")
	fs.DurationVar(&c.idle, "idle", 3*time.Second, "idle time before the RSS is read")
	fs.BoolVar(&c.goals, "goals", false,
		"also run the goal loads at -goal-size: notices, soak, stalled readers, storm")
	fs.IntVar(&c.goalSize, "goal-size", 10000, "subscribers of the goal runs")
	fs.DurationVar(&c.soak, "soak", time.Minute,
		"measured window of the soak and stalled runs (2 broadcasts/s)")
	fs.DurationVar(&c.storm, "storm-duration", 10*time.Second,
		"sending time after the streams drop, in the storm runs")
	fs.IntVar(&c.notices, "notices", 4, "probe sessions in the notice runs")
	fs.DurationVar(&c.noticeEvery, "notice-every", 2500*time.Millisecond,
		"interval between two notices of one probe")
	fs.BoolVar(&c.profile, "profile", false,
		"one more chat run at -goal-size with the CPU profilers on (kept out of the tables)")
	fs.Float64Var(&c.loadMax, "load-max", 1.5,
		"wait before a run while the 1-minute load average is above this (and the machine "+
			"used more than 0.25 cores over the last 10 s)")
	fs.DurationVar(&c.loadWait, "load-wait", 10*time.Minute,
		"the most the whole sweep waits for a quieter machine; then runs go ahead, marked busy")
	fs.DurationVar(&c.maxTotal, "max-total", time.Hour,
		"hard cap on the whole sweep; runs not started by then are left out")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var err error
	if c.sizes, err = parseSizes(sizes); err != nil {
		return c, fmt.Errorf("-sizes: %w", err)
	}
	if c.peerSize, err = parseSizes(peerSizes); err != nil {
		return c, fmt.Errorf("-peer-sizes: %w", err)
	}
	for s := range strings.SplitSeq(servers, ",") {
		switch s = strings.TrimSpace(s); s {
		case "chat", "peer":
			if !slices.Contains(c.servers, s) {
				c.servers = append(c.servers, s)
			}
		default:
			return c, fmt.Errorf("-servers: %q is neither chat nor peer", s)
		}
	}
	switch {
	case len(c.servers) == 0:
		return c, errors.New("-servers: name at least one")
	case c.reps < 1 || c.reps > maxReps:
		return c, fmt.Errorf("-reps %d: want 1..%d", c.reps, maxReps)
	case c.goalSize < 1 || c.goalSize > maxSubscribers:
		return c, fmt.Errorf("-goal-size %d: want 1..%d", c.goalSize, maxSubscribers)
	case c.loadWait < 0 || c.maxTotal <= 0 || c.maxTotal > 4*time.Hour:
		return c, errors.New("-load-wait must not be negative; -max-total is 0 < t <= 4h")
	}
	// Every planned run must pass the tool's own checks before the first server starts.
	for _, cs := range plan(&c) {
		if _, err := parseFlags(toolArgs(cs, "http://127.0.0.1:1", 1, ""), io.Discard); err != nil {
			return c, fmt.Errorf("%s %s at %d: %w", cs.Case, cs.Server, cs.Subscribers, err)
		}
	}
	return c, nil
}

// parseSizes reads "100,1000" into increasing, distinct subscriber counts.
func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 1 || n > maxSubscribers {
			return nil, fmt.Errorf("%q: want a count in 1..%d", f, maxSubscribers)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// plan lists one repetition's runs. Scaling runs alternate the two servers size by size, so
// both see the machine in about the same state; the goal runs follow.
func plan(c *sweepConfig) []caseSpec {
	base := caseSpec{Case: caseScale, Senders: c.senders, Rate: c.rate,
		WarmupS: c.warmup.Seconds(), DurationS: c.duration.Seconds(), IdleS: c.idle.Seconds()}
	has := func(s string) bool { return slices.Contains(c.servers, s) }
	all := slices.Clone(c.sizes)
	for _, n := range c.peerSize {
		if !slices.Contains(all, n) {
			all = append(all, n)
		}
	}
	slices.Sort(all)

	var out []caseSpec
	for _, n := range all {
		if has("chat") && slices.Contains(c.sizes, n) {
			cs := base
			cs.Server, cs.Subscribers = serverChat, n
			out = append(out, cs)
		}
		if has("peer") && slices.Contains(c.peerSize, n) {
			cs := base
			cs.Server, cs.Subscribers = serverPeer, n
			out = append(out, cs)
		}
	}
	if !c.goals || !has("chat") {
		return out
	}
	g := base
	g.Server, g.Subscribers = serverChat, c.goalSize

	notices := g
	notices.Case, notices.Notices = caseNotices, c.notices
	notices.NoticeEveryS = c.noticeEvery.Seconds()
	soak := g
	soak.Case, soak.Rate, soak.DurationS = caseSoak, 2, c.soak.Seconds()
	soak.RSSEveryS = soakRSSEvery.Seconds()
	stall := soak
	stall.Case, stall.Stall = caseStall, 0.01
	storm := g
	storm.Case, storm.Storm, storm.StormS = caseStorm, true, c.storm.Seconds()
	return append(out, notices, soak, stall, storm)
}

// toolArgs is the load tool's command line for one run, kept in results.json so any run
// can be repeated by hand against a server started the same way.
func toolArgs(cs caseSpec, url string, pid int, gcURL string) []string {
	sec := func(s float64) string {
		return (time.Duration(s * float64(time.Second))).String()
	}
	a := []string{"-url", url, "-subscribers", strconv.Itoa(cs.Subscribers),
		"-senders", strconv.Itoa(cs.Senders), "-rate", strconv.FormatFloat(cs.Rate, 'g', -1, 64),
		"-warmup", sec(cs.WarmupS), "-duration", sec(cs.DurationS), "-idle", sec(cs.IdleS),
		"-drain", "5s", "-pid", strconv.Itoa(pid), "-progress=false"}
	if gcURL != "" {
		a = append(a, "-gc-url", gcURL)
	}
	if cs.Stall > 0 {
		a = append(a, "-stall", strconv.FormatFloat(cs.Stall, 'g', -1, 64))
	}
	if cs.Storm {
		a = append(a, "-reconnect-storm", "-storm-duration", sec(cs.StormS))
	}
	if cs.Notices > 0 {
		a = append(a, "-notices", strconv.Itoa(cs.Notices),
			"-notice-every", sec(cs.NoticeEveryS))
	}
	if cs.RSSEveryS > 0 {
		a = append(a, "-rss-every", sec(cs.RSSEveryS))
	}
	// The cap is the run's own plan plus slack, so a server that stalls costs minutes,
	// not the tool's default of twice the plan plus two.
	cfg, err := parseFlags(a, io.Discard)
	if err == nil {
		a = append(a, "-max-duration", (cfg.plannedTime() + runSlack).String())
	}
	return a
}

// sweeper runs a sweep.
type sweeper struct {
	cfg      sweepConfig
	stderr   io.Writer
	tmp      string
	servers  map[string]serverSpec
	loadLeft time.Duration
	res      sweepResults

	clockTicks int64
}

// sweepMain is `chatbench sweep`.
func sweepMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseSweepFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitSetup
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatbench sweep: %v\n", err)
		return exitSetup
	}
	// Children inherit the raised limit: the chat raises its own as well, the peer does not.
	need := fdHeadroom + maxSenders
	for _, cs := range plan(&cfg) {
		need = max(need, cs.Subscribers+cs.Senders+cs.Notices+fdHeadroom)
	}
	if err := raiseFileLimit(need); err != nil {
		fmt.Fprintf(stderr, "chatbench sweep: %v\n", err)
		return exitSetup
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.maxTotal)
	defer cancel()

	sw := &sweeper{cfg: cfg, stderr: stderr, loadLeft: cfg.loadWait}
	if err := sw.setup(ctx); err != nil {
		fmt.Fprintf(stderr, "chatbench sweep: %v\n", err)
		sw.cleanup()
		return exitSetup
	}
	defer sw.cleanup()
	return sw.run(ctx, stdout)
}

// setup makes the temporary folder, builds the chat and describes the machine.
func (sw *sweeper) setup(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "chatbench-sweep-")
	if err != nil {
		return err
	}
	sw.tmp = tmp
	sw.servers = map[string]serverSpec{}
	if slices.Contains(sw.cfg.servers, "chat") {
		bin := sw.cfg.chatBin
		if bin == "" {
			bin = filepath.Join(tmp, "chat")
			sw.logf("building ./cmd/chat from %s", sw.cfg.src)
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/chat")
			build.Dir = sw.cfg.src
			if out, err := build.CombinedOutput(); err != nil {
				return fmt.Errorf("go build ./cmd/chat: %v\n%s", err, out)
			}
		}
		sw.servers[serverChat] = chatSpec(bin)
	}
	if slices.Contains(sw.cfg.servers, "peer") {
		if _, err := os.Stat(sw.cfg.peerApp); err != nil {
			return fmt.Errorf("-peer: %w", err)
		}
		sw.servers[serverPeer] = peerSpec(sw.cfg.python, sw.cfg.peerApp, tmp)
	}
	sw.res.Machine = describeMachine(sw.cfg.python)
	sw.res.Git = describeSource(sw.cfg.src, sw.cfg.chatBin)
	c := sw.cfg
	sw.res.Settings = sweepSettings{Servers: c.servers, Sizes: c.sizes, PeerSizes: c.peerSize,
		Reps: c.reps, Rate: c.rate, Senders: c.senders, WarmupS: c.warmup.Seconds(),
		DurationS: c.duration.Seconds(), IdleS: c.idle.Seconds(), Goals: c.goals,
		GoalSize: c.goalSize, SoakS: c.soak.Seconds(), LoadMax: c.loadMax,
		LoadWaitS: c.loadWait.Seconds(), MaxTotalS: c.maxTotal.Seconds()}
	return nil
}

func (sw *sweeper) cleanup() {
	if sw.tmp != "" {
		_ = os.RemoveAll(sw.tmp)
	}
}

// chatSpec starts our server the way the issue measures it: no per-address limits (every
// session comes from 127.0.0.1), warnings only in the log, and the profiler on its own port.
func chatSpec(bin string) serverSpec {
	return serverSpec{
		name: serverChat, debug: true,
		command: func(port, debugPort int, dataDir string) *exec.Cmd {
			return exec.Command(bin, "-addr", loopback(port), "-data", dataDir,
				"-log-level", "warn", "-streams-per-addr", "0", "-logins-per-minute", "0",
				"-debug-addr", loopback(debugPort))
		},
	}
}

// peerSpec starts the Flask peer as its docstring says it ran: Werkzeug's threaded server.
func peerSpec(python, app, dir string) serverSpec {
	return serverSpec{
		name: serverPeer,
		command: func(port, _ int, _ string) *exec.Cmd {
			cmd := exec.Command(python, app, "--port", strconv.Itoa(port))
			cmd.Dir = dir
			// Leave no bytecode cache next to the shared peer.
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			return cmd
		},
	}
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// run executes every planned run, then writes the results.
func (sw *sweeper) run(ctx context.Context, stdout io.Writer) int {
	sw.res.Started = time.Now()
	one := plan(&sw.cfg)
	total := len(one) * sw.cfg.reps
	if _, ok := sw.servers[serverChat]; ok && sw.cfg.profile {
		total++
	}
	expect, bound := sw.estimate(one)
	sw.logf("%d runs; expect about %s, at most %s plus up to %s waiting for a quiet machine "+
		"(hard cap %s)", total, expect.Round(time.Minute), bound.Round(time.Minute),
		sw.cfg.loadWait, sw.cfg.maxTotal)

	i := 0
	for rep := 1; rep <= sw.cfg.reps && ctx.Err() == nil; rep++ {
		for _, cs := range one {
			if ctx.Err() != nil {
				break
			}
			i++
			sw.runAndLog(ctx, cs, rep, i, total, false)
		}
	}
	if _, ok := sw.servers[serverChat]; ok && sw.cfg.profile && ctx.Err() == nil {
		c := sw.cfg
		cs := caseSpec{Case: caseProfile, Server: serverChat, Subscribers: c.goalSize,
			Senders: c.senders, Rate: c.rate, WarmupS: c.warmup.Seconds(),
			DurationS: max(c.duration.Seconds(), profileSeconds+4), IdleS: c.idle.Seconds()}
		i++
		sw.runAndLog(ctx, cs, 1, i, total, true)
	}

	res := &sw.res
	res.TookS = time.Since(res.Started).Seconds()
	res.Complete = ctx.Err() == nil
	res.LoadWaitS = (sw.cfg.loadWait - sw.loadLeft).Seconds()
	finish(res)

	out := sw.cfg.out
	if !res.Complete {
		// Never overwrite complete results with partial ones; the temporary folder goes
		// away on return, so they get a folder of their own.
		dir, err := os.MkdirTemp("", "chatbench-partial-")
		if err != nil {
			fmt.Fprintf(sw.stderr, "chatbench sweep: %v\n", err)
			return exitSetup
		}
		out = dir
		sw.logf("the sweep was cut short (%v); partial results go to %s, not %s",
			context.Cause(ctx), out, sw.cfg.out)
	}
	if err := writeResults(out, res); err != nil {
		fmt.Fprintf(sw.stderr, "chatbench sweep: %v\n", err)
		return exitSetup
	}
	for _, p := range res.Profiles {
		src := filepath.Join(sw.tmp, p)
		if b, err := os.ReadFile(src); err == nil {
			_ = os.WriteFile(filepath.Join(out, p), b, 0o644)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (results.json, results.md, scaling.svg) in %s\n", out,
		time.Duration(res.TookS*float64(time.Second)).Round(time.Second))
	for _, g := range res.Goals {
		fmt.Fprintf(stdout, "  %-7s %s: %s (target %s)\n", g.Verdict, g.Goal,
			orDash(g.Measured), g.Target)
	}
	if !res.Complete {
		return exitSetup
	}
	return exitOK
}

// finish derives the aggregates, ratios and goals from the runs.
func finish(res *sweepResults) {
	res.Aggregates = aggregate(res.Runs)
	res.Ratios = ratios(res.Aggregates)
	res.Goals = judgeGoals(res.Aggregates, goalSettings{GoalSize: res.Settings.GoalSize,
		ScaleRate: res.Settings.Rate})
}

// writeResults writes results.json, results.md and scaling.svg into dir.
func writeResults(dir string, res *sweepResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'),
		0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	writeMarkdown(&md, res)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	var svg bytes.Buffer
	caption := fmt.Sprintf("chat vs Flask peer: %g broadcast/s, loopback, %d CPUs "+
		"(median of %d runs, bars min–max)", res.Settings.Rate, res.Machine.CPUs,
		res.Settings.Reps)
	if err := writeSVG(&svg, res.Aggregates, caption); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "scaling.svg"), svg.Bytes(), 0o644)
}

// estimate is the expected length of the sweep and an upper bound (each run at its cap).
func (sw *sweeper) estimate(one []caseSpec) (expect, bound time.Duration) {
	for _, cs := range one {
		cfg, err := parseFlags(toolArgs(cs, "http://127.0.0.1:1", 1, ""), io.Discard)
		if err != nil {
			continue
		}
		expect += cfg.plannedTime() + 3*time.Second
		bound += cfg.maxDuration + startTimeout + stopTimeout
	}
	expect *= time.Duration(sw.cfg.reps)
	bound *= time.Duration(sw.cfg.reps)
	return expect, min(bound, sw.cfg.maxTotal)
}

func (sw *sweeper) logf(format string, args ...any) {
	fmt.Fprintf(sw.stderr, "chatbench sweep: "+format+"\n", args...)
}

func (sw *sweeper) runAndLog(ctx context.Context, cs caseSpec, rep, i, total int,
	profile bool) {
	r := sw.runOne(ctx, cs, rep, profile)
	sw.res.Runs = append(sw.res.Runs, r)
	what := fmt.Sprintf("[%d/%d] %s %s %s subs rep %d (load %.2f)", i, total, cs.Case,
		cs.Server, fmtInt(cs.Subscribers), rep, r.LoadAvg1)
	if !r.OK {
		sw.logf("%s FAILED after %.0fs: %s", what, r.Seconds, oneLine(r.Failure))
		return
	}
	f := r.Figures
	line := fmt.Sprintf("%s ok in %.0fs: cpu %s µs/delivery, %s KiB/stream, p99 %s ms",
		what, r.Seconds, fmtNum(f["cpu_us_per_delivery"]), fmtNum(f["kib_per_stream"]),
		fmtNum(f["latency_p99_ms"]))
	if v, ok := f["notice_p99_ms"]; ok {
		line += fmt.Sprintf(", notice p99 %s ms", fmtNum(v))
	}
	if v, ok := f["storm_caught_up_max_s"]; ok {
		line += fmt.Sprintf(", storm caught up in %s s", fmtNum(v))
	}
	if v, ok := f["rss_growth_pct"]; ok {
		line += fmt.Sprintf(", RSS growth %s %%", fmtNum(v))
	}
	sw.logf("%s", line)
}

// runOne waits for a quiet machine, then measures one run.
func (sw *sweeper) runOne(ctx context.Context, cs caseSpec, rep int, profile bool) runResult {
	r := runResult{caseSpec: cs, Rep: rep}
	r.LoadAvg1, r.LoadWaitS, r.UsedCores, r.Busy = sw.waitQuiet(ctx)
	r.Start = time.Now()
	if ctx.Err() != nil {
		r.Failure = fmt.Sprintf("sweep stopped before the run: %v", context.Cause(ctx))
	} else if err := sw.measure(ctx, &r, profile); err != nil {
		r.Failure = err.Error()
	}
	r.Seconds = time.Since(r.Start).Seconds()
	return r
}

// measure starts a fresh server, runs the load of r against it, stops it and fills r in.
// An error is a run that failed; so is a report that shows loss, an abort, or sessions
// that never got in, though its figures are kept in results.json.
func (sw *sweeper) measure(ctx context.Context, r *runResult, profile bool) error {
	spec := sw.servers[r.Server]
	srv, err := sw.startServer(ctx, spec, len(sw.res.Runs))
	if err != nil {
		return err
	}
	defer srv.stop()

	gcURL := ""
	if spec.debug {
		gcURL = "http://" + loopback(srv.debugPort) + "/debug/pprof/heap?gc=1"
	}
	r.Args = toolArgs(r.caseSpec, "http://"+loopback(srv.port), srv.cmd.Process.Pid, gcURL)
	cfg, err := parseFlags(r.Args, io.Discard)
	if err != nil {
		return fmt.Errorf("tool flags: %w", err)
	}
	b := newBench(cfg, io.Discard)
	if profile {
		stopProf := sw.profileDuringSteady(ctx, b, srv, r.Subscribers)
		defer stopProf() // before the server stops: deferred calls run last-in first-out
	}
	rep, err := b.execute(ctx)
	if exited := srv.exited(); exited != nil {
		return fmt.Errorf("the server exited during the run (%v); its log ends:\n%s", exited,
			srv.logTail())
	}
	if err != nil {
		return err
	}
	r.Report = rep
	r.Figures = figuresOf(rep)
	if why := runFailure(rep); why != "" {
		return errors.New(why)
	}
	r.OK = true
	return nil
}

// runFailure says why a finished run does not count, or "" if it does. Beyond the tool's own
// verdict (loss, duplicates, lost streams, an abort), a run counts only if every session
// got in and every post was answered: a server that times out half the posts has not
// carried the load, however fast the rest arrived.
func runFailure(rep *Report) string {
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	switch {
	case rep.Aborted != "":
		return "aborted: " + rep.Aborted
	case rep.Exit != exitOK:
		return rep.Result
	case rep.Login.Failed > 0:
		return fmt.Sprintf("%d of %d logins failed; first: %s", rep.Login.Failed,
			rep.Login.Failed+rep.Login.OK, rep.Login.FirstErr)
	case rep.Connect.Failed > 0:
		return fmt.Sprintf("%d of %d streams failed to open; first: %s", rep.Connect.Failed,
			rep.Connect.Failed+rep.Connect.OK, rep.Connect.FirstErr)
	case sum(rep.PostErrors) > 0:
		return fmt.Sprintf("%d of %d posts failed (%s)", sum(rep.PostErrors), rep.Sent,
			fmtErrors(rep.PostErrors))
	case rep.Notices != nil && sum(rep.Notices.PostErrors) > 0:
		return fmt.Sprintf("%d of %d notices failed (%s)", sum(rep.Notices.PostErrors),
			rep.Notices.Sent, fmtErrors(rep.Notices.PostErrors))
	}
	return ""
}

// waitQuiet waits, while the sweep's waiting budget lasts, for the 1-minute load average
// to drop to -load-max: other people's builds on a two-core machine would otherwise show
// up as our latency. The load average lags by a minute and counts our own previous run
// too, so each poll also measures what the machine actually used over its 10 s; a machine
// that stayed under quietCores is quiet whatever the average still says. It returns the
// load it started at, how long it waited, the cores in use over the last poll (-1 if it
// did not poll), and whether it gave up waiting.
func (sw *sweeper) waitQuiet(ctx context.Context) (load, waitedS, usedCores float64,
	busy bool) {
	start := time.Now()
	load, usedCores = loadAvg1(), -1
	waited := func() float64 { return time.Since(start).Seconds() }
	for polls := 0; ; polls++ {
		if load <= sw.cfg.loadMax || ctx.Err() != nil {
			return load, waited(), usedCores, false
		}
		if polls > 0 && usedCores >= 0 && usedCores <= quietCores {
			return load, waited(), usedCores, false
		}
		if sw.loadLeft <= 0 {
			return load, waited(), usedCores, true
		}
		if polls%6 == 0 { // once a minute is enough to show the sweep is alive
			sw.logf("load average %.2f is above %.2f; waiting (%s of waiting left)", load,
				sw.cfg.loadMax, sw.loadLeft.Round(time.Second))
		}
		d := min(loadPoll, sw.loadLeft)
		t0 := time.Now()
		h0, err0 := hostBusy(sw.ticks())
		if sleepCtx(ctx, d) != nil {
			return load, waited(), usedCores, false
		}
		h1, err1 := hostBusy(sw.ticks())
		elapsed := time.Since(t0)
		sw.loadLeft -= elapsed
		usedCores = -1
		if err0 == nil && err1 == nil {
			usedCores = (h1 - h0).Seconds() / elapsed.Seconds()
		}
		load = loadAvg1()
	}
}

// quietCores is how much CPU the whole machine may use, between runs, and still count as
// quiet: background daemons, not someone's build.
const quietCores = 0.25

// ticks is USER_HZ for /proc/stat, asked once.
func (sw *sweeper) ticks() int64 {
	if sw.clockTicks == 0 {
		sw.clockTicks = clockTicks()
	}
	return sw.clockTicks
}

// loadAvg1 is the first field of /proc/loadavg, or -1 if it cannot be read.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	return parseLoadAvg(b)
}

func parseLoadAvg(b []byte) float64 {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// server is one started server process.
type server struct {
	cmd       *exec.Cmd
	port      int
	debugPort int
	logPath   string
	dataDir   string
	done      chan struct{}
	waitErr   error
}

// startServer starts spec on free loopback ports and waits until /healthz answers.
func (sw *sweeper) startServer(ctx context.Context, spec serverSpec, n int) (*server, error) {
	if spec.command == nil {
		return nil, fmt.Errorf("server %q is not set up", spec.name)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	debugPort := 0
	if spec.debug {
		if debugPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	s := &server{port: port, debugPort: debugPort, done: make(chan struct{}),
		dataDir: filepath.Join(sw.tmp, fmt.Sprintf("run-%d-data", n)),
		logPath: filepath.Join(sw.tmp, fmt.Sprintf("run-%d.log", n))}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor

	s.cmd = spec.command(port, debugPort, s.dataDir)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group, so a Ctrl-C reaches the sweep, which stops the server in
	// order; and killed with the sweep should the sweep die first.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	deadline := time.Now().Add(startTimeout)
	health := "http://" + loopback(port) + "/healthz"
	for {
		err := fetchLoopback(ctx, health, time.Second, io.Discard)
		if err == nil {
			return s, nil
		}
		if e := s.exited(); e != nil {
			return nil, fmt.Errorf("%s exited at start (%v); its log ends:\n%s", spec.name, e,
				s.logTail())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("%s did not answer %s within %v: %v", spec.name, health,
				startTimeout, err)
		}
		_ = sleepCtx(ctx, 100*time.Millisecond)
	}
}

// exited returns why the process ended, or nil while it runs.
func (s *server) exited() error {
	select {
	case <-s.done:
		if s.waitErr == nil {
			return errors.New("exit status 0")
		}
		return s.waitErr
	default:
		return nil
	}
}

// stop ends the server: SIGTERM, then SIGKILL after stopTimeout. It removes the data folder.
func (s *server) stop() {
	defer os.RemoveAll(s.dataDir)
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// logTail is the end of the server's log, for a failure message.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. Another process could take it before
// the server binds it; the server then fails to start and the run is recorded as failed.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// profileDuringSteady takes a CPU profile of the server (through its pprof port) and of
// this process at the same time, once the run's measured window opens. The files go to
// the temporary folder and are copied next to the results at the end.
func (sw *sweeper) profileDuringSteady(ctx context.Context, b *bench, srv *server,
	subs int) (wait func()) {
	done := make(chan struct{})
	runOver := make(chan struct{})
	go func() {
		defer close(done)
		// Poll the phase: the run may also end (or fail) before its window ever opens.
		for *b.phase.Load() != "steady" {
			select {
			case <-runOver:
				return
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		srvName := fmt.Sprintf("cpu-chat-%d.pprof", subs)
		toolName := fmt.Sprintf("cpu-chatbench-%d.pprof", subs)
		tf, err := os.Create(filepath.Join(sw.tmp, toolName))
		if err == nil {
			if pprof.StartCPUProfile(tf) == nil {
				defer func() {
					pprof.StopCPUProfile()
					tf.Close()
					sw.res.Profiles = append(sw.res.Profiles, toolName)
				}()
			} else {
				tf.Close()
			}
		}
		var prof bytes.Buffer
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d",
			loopback(srv.debugPort), profileSeconds)
		if err := fetchLoopback(ctx, url, (profileSeconds+30)*time.Second, &prof); err != nil {
			sw.logf("server profile: %v", err)
			return
		}
		if os.WriteFile(filepath.Join(sw.tmp, srvName), prof.Bytes(), 0o644) == nil {
			sw.res.Profiles = append(sw.res.Profiles, srvName)
		}
	}()
	return func() {
		close(runOver)
		<-done
	}
}

// describeMachine reads what BENCHMARKS.md reports about the machine.
func describeMachine(python string) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					m.MemTotalKiB, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.NoFile = lim.Cur
	}
	out, err := exec.Command(python, "-c",
		"import sys, flask; print('Python', sys.version.split()[0], 'Flask', flask.__version__)").
		Output()
	if err == nil {
		m.Python = strings.TrimSpace(string(out))
	}
	return m
}

// describeSource names the chat that was measured: its commit, and the tracked files that
// differ from it, since other people may be editing the tree while it is built.
func describeSource(src, bin string) string {
	if bin != "" {
		return "binary " + bin
	}
	head, err := exec.Command("git", "-C", src, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	desc := "commit " + strings.TrimSpace(string(head))
	status, err := exec.Command("git", "-C", src, "status", "--porcelain",
		"--untracked-files=no").Output()
	if err != nil {
		return desc
	}
	var changed []string
	for line := range strings.SplitSeq(strings.TrimRight(string(status), "\n"), "\n") {
		if len(line) > 3 {
			changed = append(changed, line[3:])
		}
	}
	if len(changed) > 0 {
		desc += fmt.Sprintf(" with uncommitted changes to %d files (%s)", len(changed),
			strings.Join(changed, ", "))
	}
	return desc
}

// reportMain is `chatbench report`: redraw the tables and the plot from results.json.
func reportMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chatbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "docs/bench/results.json", "results.json of a sweep")
	out := fs.String("out", "", "folder to write into (default: the folder of -in)")
	if err := fs.Parse(args); err != nil {
		return exitSetup
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintf(stderr, "chatbench report: %v\n", err)
		return exitSetup
	}
	var res sweepResults
	if err := json.Unmarshal(b, &res); err != nil {
		fmt.Fprintf(stderr, "chatbench report: %s: %v\n", *in, err)
		return exitSetup
	}
	finish(&res)
	dir := *out
	if dir == "" {
		dir = filepath.Dir(*in)
	}
	if err := writeResults(dir, &res); err != nil {
		fmt.Fprintf(stderr, "chatbench report: %v\n", err)
		return exitSetup
	}
	fmt.Fprintf(stdout, "wrote %s\n", dir)
	return exitOK
}
