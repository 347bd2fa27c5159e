package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Per-message state in bench.state.
const (
	msgPending uint32 = iota
	msgAcked
	msgFailed
)

// bench is one run: configuration, sessions, the message table and all counters.
type bench struct {
	cfg    config
	stderr io.Writer
	runID  string
	prefix []byte // "bench <runid> ", the start of every message text of this run

	client      *http.Client
	dialer      net.Dialer
	stallDialer net.Dialer
	eventsReq   *http.Request // only its method is read, by http.ReadResponse
	loginPace   pacer

	// The schedule: seq k is posted at t0 + k/rate. Seqs below warmupN are warm-up, below
	// steadyN the measured window, the rest the storm phase.
	total, warmupN, steadyN int64

	// Indexed by seq.
	sentNs   []atomic.Int64
	state    []atomic.Uint32
	lastRecv []atomic.Int64 // latest first receipt over healthy streams, before any storm

	issuedHigh atomic.Int64
	sent       atomic.Int64
	acked      atomic.Int64
	postMu     sync.Mutex
	postErrors map[string]int64
	postRTT    histogram
	sendLagMax atomic.Int64

	steadyLat histogram
	// steadyReadLat times the same deliveries from when the tool read them.
	steadyReadLat histogram
	stormLat      histogram
	delivered     atomic.Int64 // first receipts of this run's messages, all healthy streams
	live          atomic.Int64 // healthy streams connected right now

	loggedIn   atomic.Int64
	opened     atomic.Int64
	login429   atomic.Int64
	connect429 atomic.Int64

	streams []*stream // subscribers first, then senders
	healthy []*stream // opened and read
	stalled []*stream // opened, never read
	readers sync.WaitGroup
	senders sync.WaitGroup

	// stopCtx ends when the run is over (or cut short); reconnects and posts watch it.
	stopCtx context.Context
	stopAll context.CancelFunc

	stormGo      chan struct{} // closed once every stream has been dropped
	stormStartNs int64
	stormStreams int
	reconnected  atomic.Int64
	stormRetries atomic.Int64

	ticks int64 // clock ticks per second of /proc/PID/stat, read once

	// Private notices (-notices), indexed by notice seq; see notice.go.
	noticePrefix  []byte // "probe <runid> "
	noticeTotal   int64
	noticeSentNs  []atomic.Int64
	noticeState   []atomic.Uint32
	noticeLat     histogram
	noticeReadLat histogram
	noticesSent   atomic.Int64
	noticesAcked  atomic.Int64
	noticeAckedBy []atomic.Int64   // by probe index
	noticeErrors  map[string]int64 // under postMu

	rssMu      sync.Mutex
	rssSamples []RSSSample // while sending, with -rss-every

	phase atomic.Pointer[string]
}

// window is the measured interval for server and client CPU per delivery.
type window struct {
	start, end         time.Time
	srvCPU0, srvCPU1   time.Duration
	srvThr0, srvThr1   map[int]int64 // per-thread run time, ns; nil if unreadable
	host0, host1       time.Duration // CPU time of the whole machine; 0 if unreadable
	selfCPU0, selfCPU1 time.Duration
	deliv0, deliv1     int64
	done               bool
}

// run executes one benchmark and prints its report; the result is the exit code.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	for _, w := range cfg.warnings {
		fmt.Fprintf(stderr, "chatbench: warning: %s\n", w)
	}
	b := newBench(cfg, stderr)
	rep, err := b.execute(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "chatbench: %v\n", err)
		return exitSetup
	}

	rep.writeTable(stdout)
	if cfg.jsonPath != "" {
		if err := rep.writeJSON(cfg.jsonPath); err != nil {
			fmt.Fprintf(stderr, "chatbench: %v\n", err)
			return exitSetup
		}
	}
	return rep.Exit
}

func newBench(cfg config, stderr io.Writer) *bench {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	b := &bench{
		cfg:        cfg,
		stderr:     stderr,
		runID:      hex.EncodeToString(id),
		eventsReq:  &http.Request{Method: http.MethodGet},
		postErrors: map[string]int64{},
		stormGo:    make(chan struct{}),

		noticeErrors: map[string]int64{},
	}
	b.prefix = []byte("bench " + b.runID + " ")
	b.noticePrefix = []byte("probe " + b.runID + " ")
	b.setPhase("setup")
	b.dialer = net.Dialer{Timeout: cfg.requestTimeout}
	b.stallDialer = net.Dialer{Timeout: cfg.requestTimeout, Control: stallControl}
	b.client = b.newHTTPClient()
	if cfg.loginRate > 0 {
		b.loginPace.interval = time.Duration(float64(time.Second) / cfg.loginRate)
	}

	b.total = cfg.totalMessages()
	b.warmupN = min(b.total, int64(cfg.rate*cfg.warmup.Seconds()))
	b.steadyN = min(b.total, int64(cfg.rate*(cfg.warmup+cfg.duration).Seconds()))
	b.sentNs = make([]atomic.Int64, b.total)
	b.state = make([]atomic.Uint32, b.total)
	b.lastRecv = make([]atomic.Int64, b.total)
	b.issuedHigh.Store(-1)
	b.noticeTotal = int64(cfg.notices) * cfg.noticesPerProbe()
	b.noticeSentNs = make([]atomic.Int64, b.noticeTotal)
	b.noticeState = make([]atomic.Uint32, b.noticeTotal)
	b.noticeAckedBy = make([]atomic.Int64, cfg.notices)

	// Stalled subscribers are spread evenly over the subscriber indexes.
	nStall := int(cfg.stall*float64(cfg.subscribers) + 0.5)
	for i := range cfg.subscribers {
		s := &stream{idx: i, nick: fmt.Sprintf("b%sn%d", b.runID, i)}
		s.stalled = nStall > 0 && (i*nStall)%cfg.subscribers < nStall
		b.streams = append(b.streams, s)
	}
	for j := range cfg.senders {
		b.streams = append(b.streams, &stream{idx: cfg.subscribers + j,
			nick: fmt.Sprintf("b%ss%d", b.runID, j), sender: true})
	}
	for j := range cfg.notices {
		b.streams = append(b.streams, &stream{idx: cfg.subscribers + cfg.senders + j,
			nick: fmt.Sprintf("b%sp%d", b.runID, j), probe: true, probeIdx: j})
	}
	return b
}

func (b *bench) setPhase(p string) { b.phase.Store(&p) }

// execute runs the phases in order. Setup failures return an error; a run cut short after
// setup still returns a report, marked aborted.
func (b *bench) execute(parent context.Context) (*Report, error) {
	ctx, cancel := context.WithTimeout(parent, b.cfg.maxDuration)
	defer cancel()
	b.stopCtx, b.stopAll = context.WithCancel(ctx)
	defer b.shutdown()

	if err := b.checkHealth(ctx); err != nil {
		return nil, err
	}

	rep := b.newReport()
	var srv *ServerCost
	if pid := b.cfg.pid; pid > 0 {
		b.ticks = clockTicks()
		if _, err := procCPU(pid, b.ticks); err != nil {
			return nil, err
		}
		rss, err := procRSS(pid)
		if err != nil {
			return nil, err
		}
		srv = &ServerCost{PID: pid, Comm: procComm(pid), RSSBeforeKiB: rss}
		if srv.Comm == "go" {
			rep.warn("pid %d is the go command, not the server it runs; "+
				"pass the server's own pid (e.g. pgrep -n chat)", pid)
		}
		rep.Server = srv
	}

	progressDone := make(chan struct{})
	defer close(progressDone)
	if b.cfg.progress {
		go b.progressLoop(progressDone)
	}

	// Phase 1: sessions, then streams, timed separately.
	b.setPhase("login")
	rep.Login = b.loginAll(ctx)
	if ctx.Err() != nil {
		return b.abort(rep, &window{}, "cut short during login")
	}
	b.setPhase("connect")
	rep.Connect = b.connectAll(ctx)
	if ctx.Err() != nil {
		return b.abort(rep, &window{}, "cut short while opening streams")
	}
	var senders, probes []*stream
	for _, s := range b.streams {
		if s.sender && s.cookie != "" {
			senders = append(senders, s)
		}
	}
	for _, s := range b.healthy {
		if s.probe {
			probes = append(probes, s)
		}
	}
	// A probe that could not log in or open its stream would only post notices that can
	// never arrive; the rest carry on, and the report says how many probes there were.
	slices.SortFunc(probes, func(x, y *stream) int { return x.probeIdx - y.probeIdx })
	if len(b.healthy) == 0 || len(senders) == 0 {
		return nil, fmt.Errorf("setup failed: %d streams open, %d senders logged in "+
			"(login: %s; streams: %s)", len(b.healthy), len(senders),
			orNone(rep.Login.FirstErr), orNone(rep.Connect.FirstErr))
	}

	// Idle streams: what do they cost the server in memory?
	if srv != nil {
		b.setPhase("idle")
		if sleepCtx(ctx, b.cfg.idle) != nil {
			return b.abort(rep, &window{}, "cut short while idle")
		}
		if b.cfg.gcURL != "" {
			err := fetchLoopback(ctx, b.cfg.gcURL, b.cfg.requestTimeout, io.Discard)
			if err != nil {
				rep.warn("-gc-url: %v; the idle RSS is read without a collection first", err)
			} else {
				srv.AfterGC = true
			}
			if sleepCtx(ctx, gcSettle) != nil {
				return b.abort(rep, &window{}, "cut short while idle")
			}
		}
		rss, err := procRSS(srv.PID)
		if err != nil {
			return nil, err
		}
		srv.RSSIdleKiB = rss
		open := len(b.healthy) + len(b.stalled)
		srv.KiBPerIdleStream = float64(rss-srv.RSSBeforeKiB) / float64(open)
		if rss <= srv.RSSBeforeKiB {
			rep.warn("server RSS did not grow with %d streams: it still holds memory from "+
				"earlier load; measure per-stream memory against a freshly started server", open)
		}
	}

	// Phase 2: post on schedule; the window opens after the warm-up.
	b.setPhase("warmup")
	t0 := time.Now()
	for j, s := range senders {
		b.senders.Go(func() { b.sendLoop(s, j, len(senders), t0) })
	}
	stopSampling := b.startRSSSampler(t0)
	defer stopSampling()
	var win window
	if sleepCtx(ctx, time.Until(t0.Add(b.cfg.warmup))) != nil {
		return b.abort(rep, &win, "cut short during warm-up")
	}
	b.openWindow(&win)
	b.setPhase("steady")
	// Probes are numbered by their configured index, so a probe that failed to start
	// leaves its seqs unsent rather than shifting the others' schedules.
	for _, s := range probes {
		b.senders.Go(func() { b.noticeLoop(s, s.probeIdx, b.cfg.notices, win.start) })
	}
	if sleepCtx(ctx, time.Until(t0.Add(b.cfg.warmup+b.cfg.duration))) != nil {
		return b.abort(rep, &win, "cut short during the measured window")
	}

	if b.cfg.storm {
		// The window closes before the streams drop, so storm traffic is not in it.
		b.closeWindow(&win)
		b.setPhase("storm")
		b.startStorm()
	}
	b.senders.Wait()
	b.setPhase("drain")
	drained := b.waitDrained(ctx)
	if !b.cfg.storm {
		b.closeWindow(&win)
	}
	stopSampling()
	if ctx.Err() != nil {
		rep.Aborted = "cut short while draining"
	}

	// Phase 3: did the server let go of the subscribers that stopped reading?
	if len(b.stalled) > 0 {
		b.setPhase("stall-check")
		rep.Stall = b.checkStalled()
	}
	b.shutdown()
	b.account(rep, &win, drained)
	return rep, nil
}

func orNone(s string) string {
	if s == "" {
		return "no error"
	}
	return s
}

// abort ends a run that was cut short (hard cap or signal) and still reports it.
func (b *bench) abort(rep *Report, win *window, why string) (*Report, error) {
	rep.Aborted = why
	b.shutdown()
	b.account(rep, win, false)
	return rep, nil
}

// shutdown stops senders and closes every stream; it is safe to call twice.
func (b *bench) shutdown() {
	b.setPhase("stopping")
	b.stopAll()
	for _, s := range b.streams {
		s.closeFor(closeStop)
	}
	b.senders.Wait()
	for _, s := range b.streams {
		s.poster.close()
	}
	b.readers.Wait()
	b.client.CloseIdleConnections()
}

func (b *bench) checkHealth(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.base+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("server not reachable at %s: %w", b.cfg.base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %w", &statusError{what: "healthz", code: resp.StatusCode})
	}
	return nil
}

// forEach runs fn over items with a fixed number of workers and counts the outcomes.
// Items not reached before ctx ends count as failed.
func forEach(ctx context.Context, items []*stream, workers int,
	fn func(*stream) error) (ok, failed int, firstErr error) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range min(workers, len(items)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(items[i])
				}
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, failed, firstErr
}

func phaseRate(ok, failed int, firstErr error, took time.Duration, n429 int64) PhaseRate {
	pr := PhaseRate{OK: ok, Failed: failed, Seconds: took.Seconds(), Status429: n429}
	if took > 0 {
		pr.PerSecond = float64(ok) / took.Seconds()
	}
	if firstErr != nil {
		pr.FirstErr = firstErr.Error()
	}
	return pr
}

func (b *bench) loginAll(ctx context.Context) PhaseRate {
	start := time.Now()
	ok, failed, firstErr := forEach(ctx, b.streams, b.cfg.loginConcurrency,
		func(s *stream) error {
			err := b.login(ctx, s)
			if err == nil {
				b.loggedIn.Add(1)
			}
			return err
		})
	return phaseRate(ok, failed, firstErr, time.Since(start), b.login429.Load())
}

func (b *bench) connectAll(ctx context.Context) PhaseRate {
	var todo []*stream
	for _, s := range b.streams {
		if s.cookie != "" {
			todo = append(todo, s)
		}
	}

	var mu sync.Mutex
	start := time.Now()
	ok, failed, firstErr := forEach(ctx, todo, b.cfg.connectConcurrency,
		func(s *stream) error {
			conn, body, err := b.openWithRetry(ctx, s, nil)
			if err != nil {
				return err
			}
			if !s.setConn(conn) {
				conn.Close()
				return errors.New("run stopped")
			}
			b.opened.Add(1)

			mu.Lock()
			defer mu.Unlock()
			if s.stalled {
				// Keep the connection, never read it again.
				b.stalled = append(b.stalled, s)
				return nil
			}
			b.healthy = append(b.healthy, s)
			b.live.Add(1)
			b.readers.Add(1)
			go b.readLoop(s, body)
			return nil
		})
	return phaseRate(ok, failed, firstErr, time.Since(start), b.connect429.Load())
}

// sendLoop posts seqs j, j+n, j+2n, ... each at its scheduled time; a sender that falls
// behind posts at once to catch up, and the lag is reported.
func (b *bench) sendLoop(s *stream, j, n int, t0 time.Time) {
	for seq := int64(j); seq < b.total; seq += int64(n) {
		at := t0.Add(time.Duration(float64(seq) / b.cfg.rate * float64(time.Second)))
		if sleepCtx(b.stopCtx, time.Until(at)) != nil {
			return
		}
		atomicMax(&b.sendLagMax, int64(time.Since(at)))
		b.post(b.stopCtx, s, seq)
	}
}

func (b *bench) openWindow(w *window) {
	w.start = time.Now()
	w.host0, _ = hostBusy(b.hostTicks())
	w.selfCPU0 = selfCPU()
	w.deliv0 = b.delivered.Load()
	if b.cfg.pid > 0 {
		w.srvThr0, _ = procThreadsCPU(b.cfg.pid)
		w.srvCPU0, _ = procCPU(b.cfg.pid, b.ticks)
	}
}

// hostTicks is the unit of /proc/stat, read once per run like the server's.
func (b *bench) hostTicks() int64 {
	if b.ticks == 0 {
		b.ticks = clockTicks()
	}
	return b.ticks
}

func (b *bench) closeWindow(w *window) {
	w.end = time.Now()
	w.host1, _ = hostBusy(b.hostTicks())
	w.selfCPU1 = selfCPU()
	w.deliv1 = b.delivered.Load()
	if b.cfg.pid > 0 {
		w.srvCPU1, _ = procCPU(b.cfg.pid, b.ticks)
		w.srvThr1, _ = procThreadsCPU(b.cfg.pid)
	}
	w.done = true
}

// startStorm drops every healthy stream at once; their readers reconnect when stormGo closes.
func (b *bench) startStorm() {
	b.stormStartNs = time.Now().UnixNano()
	for _, s := range b.healthy {
		if !s.lost.Load() && s.closeFor(closeStorm) {
			b.stormStreams++
		}
	}
	close(b.stormGo)
}

// waitDrained waits until every connected healthy stream has seen as many distinct messages
// as were acknowledged (and every probe its notices), or -drain passes. (A post that failed
// but was still broadcast can end the wait early; the final accounting is exact either
// way.)
func (b *bench) waitDrained(ctx context.Context) bool {
	deadline := time.Now().Add(b.cfg.drain)
	for {
		acked := b.acked.Load()
		done := true
		for _, s := range b.healthy {
			if !s.lost.Load() && s.unique.Load() < acked {
				done = false
				break
			}
		}
		if done && b.noticesDrained() {
			return true
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return false
		}
	}
}

// checkStalled reads whatever the stalled connections hold and reports which ones the server
// has closed (EOF or reset) and which are still attached (the read times out).
func (b *bench) checkStalled() *StallReport {
	rep := &StallReport{Stalled: len(b.stalled)}
	var cut atomic.Int64
	var wg sync.WaitGroup
	for _, s := range b.stalled {
		conn := s.currentConn()
		if conn == nil {
			cut.Add(1)
			continue
		}
		wg.Go(func() {
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			buf := make([]byte, 16<<10)
			for {
				_, err := conn.Read(buf)
				if err == nil {
					continue
				}
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					cut.Add(1)
				}
				return
			}
		})
	}
	wg.Wait()
	rep.CutLoose = int(cut.Load())
	rep.StillAttached = rep.Stalled - rep.CutLoose
	return rep
}

func (b *bench) progressLoop(done <-chan struct{}) {
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		phase := *b.phase.Load()
		n := len(b.streams)
		head := fmt.Sprintf("chatbench: [%4.0fs] %-11s", time.Since(start).Seconds(), phase)
		switch phase {
		case "login":
			fmt.Fprintf(b.stderr, "%s logged in %d/%d\n", head, b.loggedIn.Load(), n)
		case "connect":
			fmt.Fprintf(b.stderr, "%s streams %d/%d\n", head, b.opened.Load(), n)
		default:
			snap := b.steadyLat.snapshot()
			fmt.Fprintf(b.stderr, "%s connected %d/%d sent %d acked %d delivered %d p99 %s\n",
				head, b.live.Load(), n-len(b.stalled), b.sent.Load(), b.acked.Load(),
				b.delivered.Load(), fmtMs(ms(snap.quantile(99))))
		}
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func (b *bench) newReport() *Report {
	return &Report{
		RunID:       b.runID,
		URL:         b.cfg.base,
		Subscribers: b.cfg.subscribers,
		Senders:     b.cfg.senders,
		Rate:        b.cfg.rate,
		DurationS:   b.cfg.duration.Seconds(),
		WarmupS:     b.cfg.warmup.Seconds(),
		Warnings:    append([]string(nil), b.cfg.warnings...),
	}
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// account turns the streams' records into the report, after every reader has finished.
func (b *bench) account(rep *Report, win *window, drained bool) {
	ackedSet := make(bitset, (b.total+63)/64)
	for seq := range b.total {
		if b.state[seq].Load() == msgAcked {
			ackedSet.testAndSet(seq)
		}
	}
	rep.Sent, rep.Acked = b.sent.Load(), b.acked.Load()
	rep.PostErrors = b.postErrors
	rep.PostRTT = distOfHist(b.postRTT.snapshot())
	rep.SendLagMax = ms(time.Duration(b.sendLagMax.Load()))

	// Loss and duplicates over the streams that stayed (or came back) to the end.
	d := &rep.Deliveries
	e := &rep.Events
	missingPerSeq := make([]int32, b.total)
	rep.Streams.Opened = len(b.healthy) + len(b.stalled)
	rep.Streams.Healthy = len(b.healthy)
	for _, s := range b.healthy {
		d.Duplicates += s.dups
		d.Foreign += s.foreign
		d.Unacked += s.seen.countNotIn(ackedSet)
		e.Notices += s.notices
		e.Presence += s.presence
		e.History += s.history
		e.HistoryMarkers += s.historyMarkers
		e.Heartbeats += s.comments
		e.OtherMessages += s.otherMsgs
		e.Other += s.other
		if s.lost.Load() {
			rep.Streams.Lost++
			if rep.Streams.LostErr == "" && s.lostErr != nil {
				rep.Streams.LostErr = fmt.Sprintf("stream %d: %v", s.idx, s.lostErr)
			}
			continue
		}
		rep.Streams.FullRun++
		miss := s.seen.eachMissing(ackedSet, b.total, func(seq int64) { missingPerSeq[seq]++ })
		d.Missing += miss
		if miss > 0 {
			d.MissingSubs++
		}
	}
	d.Delivered = b.delivered.Load()
	d.Expected = rep.Acked * int64(rep.Streams.FullRun)
	d.Drained = drained

	steady := b.steadyLat.snapshot()
	rep.Latency = distOfHist(steady)
	rep.ReadLatency = distOfHist(b.steadyReadLat.snapshot())
	// Over the measured sending time, or as much of it as ran before an abort.
	if !win.start.IsZero() {
		if sending := min(b.cfg.duration, time.Since(win.start)); sending > 0 {
			d.PerSecond = float64(steady.total) / sending.Seconds()
		}
	}

	// Time for a broadcast to reach its last subscriber, over the measured messages that
	// reached every full-run stream.
	var ttl []int64
	for seq := b.warmupN; seq < b.steadyN; seq++ {
		last := b.lastRecv[seq].Load()
		if ackedSet.has(seq) && missingPerSeq[seq] == 0 && last > 0 && rep.Streams.FullRun > 0 {
			ttl = append(ttl, last-b.sentNs[seq].Load())
		}
	}
	rep.TimeToLast = distOfSamples(ttl)

	b.accountCost(rep, win)
	if b.cfg.storm {
		rep.Storm = b.accountStorm(ackedSet)
	}
	if b.cfg.notices > 0 {
		rep.Notices = b.accountNotices()
	}
	if sv := rep.Server; sv != nil {
		b.rssMu.Lock()
		sv.RSSSamples = slices.Clone(b.rssSamples)
		b.rssMu.Unlock()
		sv.RSSSending = summarizeRSS(sv.RSSSamples)
	}
	b.verdict(rep, win)
}

func (b *bench) accountCost(rep *Report, win *window) {
	if !win.done {
		return
	}
	deliv := win.deliv1 - win.deliv0
	rep.Client.WindowSeconds = win.end.Sub(win.start).Seconds()
	rep.Client.CPUSeconds = (win.selfCPU1 - win.selfCPU0).Seconds()
	if deliv > 0 {
		rep.Client.CPUMicrosPerDeliv = float64((win.selfCPU1 - win.selfCPU0).Microseconds()) /
			float64(deliv)
	}
	if win.host0 > 0 && win.host1 > 0 {
		h := &rep.Host
		h.CPUs = runtime.NumCPU()
		h.BusyCPUSeconds = (win.host1 - win.host0).Seconds()
		others := h.BusyCPUSeconds - rep.Client.CPUSeconds
		if sv := rep.Server; sv != nil {
			c, _ := serverCPU(win)
			others -= c.Seconds()
		}
		// Tick rounding can take a quiet machine's remainder a little below zero.
		h.OthersCPUSeconds = max(others, 0)
		if rep.Client.WindowSeconds > 0 {
			h.OthersPercent = 100 * h.OthersCPUSeconds /
				(rep.Client.WindowSeconds * float64(h.CPUs))
		}
	}
	if sv := rep.Server; sv != nil {
		cpu, source := serverCPU(win)
		sv.CPUSeconds, sv.CPUSource = cpu.Seconds(), source
		sv.CPUTicksSeconds = (win.srvCPU1 - win.srvCPU0).Seconds()
		if deliv > 0 {
			sv.CPUMicrosPerDeliv = float64(cpu.Nanoseconds()) / 1000 / float64(deliv)
		}
	}
}

// serverCPU is the server's CPU time over the window: from the threads' schedstat when
// every thread lived through the window, else from the clock ticks of /proc/PID/stat.
func serverCPU(win *window) (time.Duration, string) {
	ticks := win.srvCPU1 - win.srvCPU0
	if win.srvThr0 == nil || win.srvThr1 == nil {
		return ticks, "ticks"
	}
	ns, gone := threadsDelta(win.srvThr0, win.srvThr1)
	if gone > 0 {
		return ticks, "ticks"
	}
	return time.Duration(ns), "schedstat"
}

func (b *bench) accountStorm(ackedSet bitset) *StormReport {
	sr := &StormReport{Streams: b.stormStreams, Retries: b.stormRetries.Load()}
	var back, caught []int64
	for _, s := range b.healthy {
		if !s.inStorm {
			continue
		}
		sr.HistoryAfter += s.historyAfter
		if s.reconnectedNs == 0 {
			continue
		}
		sr.Reconnected++
		if s.noLastID {
			sr.NoLastID++
		}
		back = append(back, s.reconnectedNs-b.stormStartNs)
		// Caught up once it holds every acknowledged message issued before it came back.
		if s.seen.eachMissing(ackedSet, s.stormTarget, nil) > 0 {
			sr.NotCaughtUp++
			continue
		}
		caught = append(caught, max(s.reconnectedNs, s.caughtUpNs)-b.stormStartNs)
	}
	sr.Failed = sr.Streams - sr.Reconnected
	sr.Back = distOfSamples(back)
	sr.CaughtUp = distOfSamples(caught)
	sr.Latency = distOfHist(b.stormLat.snapshot())
	return sr
}

// verdict sets the result line and exit code: loss or duplicates fail the run, time never
// does. A healthy stream the server closed mid-run is left out of "expected" but fails the
// run as well, since its subscriber lost every later message; so does a run that checked
// nothing (no post acknowledged), so a broken server cannot pass a smoke test vacuously.
func (b *bench) verdict(rep *Report, win *window) {
	d := rep.Deliveries
	switch {
	case rep.Aborted != "" && !win.done:
		rep.Exit, rep.Result = exitSetup, "ABORTED: "+rep.Aborted
	case d.Missing > 0 || d.Duplicates > 0 || rep.Streams.Lost > 0:
		rep.Exit = exitLoss
		rep.Result = fmt.Sprintf("FAIL: %d missing, %d duplicate deliveries, "+
			"%d healthy streams lost mid-run", d.Missing, d.Duplicates, rep.Streams.Lost)
	case rep.Notices != nil && (rep.Notices.Missing > 0 || rep.Notices.Duplicates > 0 ||
		rep.Notices.Foreign > 0):
		n := rep.Notices
		rep.Exit = exitLoss
		rep.Result = fmt.Sprintf("FAIL: %d private notices missing, %d duplicated, "+
			"%d at the wrong session", n.Missing, n.Duplicates, n.Foreign)
	case rep.Notices != nil && rep.Notices.Acked == 0:
		rep.Exit, rep.Result = exitLoss, "FAIL: no private notice was acknowledged"
	case rep.Streams.FullRun == 0:
		rep.Exit, rep.Result = exitLoss, "FAIL: no stream stayed connected to the end"
	case rep.Acked == 0:
		rep.Exit, rep.Result = exitLoss, "FAIL: no post was acknowledged, nothing was checked"
	default:
		rep.Exit = exitOK
		rep.Result = fmt.Sprintf("PASS: %d acknowledged messages reached all %d full-run "+
			"streams exactly once", rep.Acked, rep.Streams.FullRun)
	}
}
