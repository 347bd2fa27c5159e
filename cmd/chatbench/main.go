// Command chatbench is the load tool for the chat server. It logs in many sessions, holds one
// event stream open per session, posts marked messages at a fixed total rate and measures how
// long each broadcast takes to reach every subscriber, whether any delivery was lost or
// duplicated, and (given -pid) what the server paid for it in CPU and memory.
//
// It only ever talks to a loopback address and every run stops by itself.
//
// Phases: log in -subscribers + -senders (+ -notices) sessions (sessions/s), open one stream per
// session on its own TCP connection (streams/s), idle and read the server's RSS (-pid), post
// for -warmup + -duration at -rate messages/s in total, wait up to -drain for stragglers,
// and optionally drop and reconnect every stream (-reconnect-storm) while posting goes on.
//
// Senders are sessions of their own, not among the subscribers, and each also holds a
// stream like a real chat client; so do the -notices probes. Those streams are read and
// checked exactly like the subscribers', so the loss accounting covers every stream the
// tool opened. A -stall fraction of the subscribers (never senders) stops reading once its
// stream is open and is left out of every delivery figure.
//
// Each message text is "bench <runid> <seq> <unixnano>"; latency is receipt time minus that
// send time, so it includes the POST and the sending side of this tool. Receipt is when the
// kernel received the bytes on the stream's socket (SO_TIMESTAMPNS), not when one of the
// tool's ten thousand readers got its turn to read them; "as read by tool" times the same
// deliveries to the read, that wait included (see arrival.go).
// Expected deliveries are acknowledged posts x streams that stayed connected to the end.
//
// With -notices N, N probe sessions each post "/msg <own nickname> probe <runid> <seq>
// <unixnano>" every -notice-every during the measured window; the chat answers with a
// private `notice` event on that session's streams only, and the tool reports the
// POST-to-notice latency and any notice missing, duplicated or delivered to another probe.
// Servers without direct messages (the Flask peer) do not support it.
//
// Server cost (with -pid): CPU over the measured window from each thread's schedstat
// (nanoseconds), or from utime+stime in clock ticks when a thread ended meanwhile; RSS
// before login and after -idle with every stream open (after a forced collection with
// -gc-url), and every -rss-every while sending. The whole machine's CPU over the window
// is read from /proc/stat too, so the report says how much of the cores other processes
// took from the run.
//
// Usage:
//
//	go run ./cmd/chatbench -url http://127.0.0.1:8080 -subscribers 1000 -senders 10 \
//	    -rate 1 -duration 30s [-pid N] [-json out.json] [-stall 0.01] [-reconnect-storm] \
//	    [-notices 4] [-rss-every 5s] [-gc-url http://127.0.0.1:6060/debug/pprof/heap?gc=1]
//	go run ./cmd/chatbench sweep [-out docs/bench] [-goals] [-profile] [-reps 3] ...
//	go run ./cmd/chatbench report [-in docs/bench/results.json]
//
// The sweep (sweep.go) starts a fresh server process for every run, our chat and the
// Flask peer alike, runs the loads above in this process and writes results.json,
// results.md and scaling.svg; report redraws the last two from results.json.
//
// Exit status: 0 normally; 1 if any delivery was missing or duplicated, a healthy stream
// was closed by the server mid-run, or no post was acknowledged; 2 on a usage or setup
// error, or when the run was cut short (-max-duration, Ctrl-C) before its window ended.
// A sweep exits 2 when it was cut short; failed runs are recorded, not fatal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// Hard limits that keep a mistyped flag from turning a load test into an outage of the
// machine running it.
const (
	maxSubscribers = 20000
	maxSenders     = 1000
	maxRate        = 5000.0
	maxRunTime     = time.Hour
	// maxPlannedDeliveries bounds streams × messages, which is what the per-stream "seen"
	// bitsets cost (one bit each): 5e8 bits is 62.5 MB.
	maxPlannedDeliveries = 5e8
	// fdHeadroom is what the tool needs besides its streams: login/post connections,
	// stdio, the JSON file, /proc reads.
	fdHeadroom = 200
)

// Exit codes.
const (
	exitOK    = 0
	exitLoss  = 1
	exitSetup = 2
)

// config is the validated command line.
type config struct {
	rawURL   string
	base     string // scheme://host[:port] with no trailing slash, for building request URLs
	host     string // Host header value
	dialAddr string // loopback ip:port every connection is dialed to

	subscribers int
	senders     int
	rate        float64 // messages per second, all senders together

	duration      time.Duration
	warmup        time.Duration
	idle          time.Duration
	drain         time.Duration
	stormDuration time.Duration
	maxDuration   time.Duration

	pid      int
	jsonPath string
	stall    float64
	storm    bool

	notices     int           // probe sessions posting private notices to themselves
	noticeEvery time.Duration // between two notices of one probe
	rssEvery    time.Duration // RSS sampling interval while sending (with -pid), 0: off
	gcURL       string        // fetched before the idle RSS is read, to collect garbage first

	loginRate          float64 // logins per second, 0 = unpaced
	loginConcurrency   int
	connectConcurrency int
	requestTimeout     time.Duration
	progress           bool
	cpuProfile         string

	warnings []string
}

func main() {
	os.Exit(mainWithArgs(os.Args[1:], os.Stdout, os.Stderr))
}

// mainWithArgs is main without the process-global parts, so tests can drive it.
func mainWithArgs(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sweep":
			return sweepMain(args[1:], stdout, stderr)
		case "report":
			return reportMain(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitSetup
	}
	if err != nil {
		fmt.Fprintf(stderr, "chatbench: %v\n", err)
		return exitSetup
	}

	if err := raiseFileLimit(cfg.streamCount() + fdHeadroom); err != nil {
		fmt.Fprintf(stderr, "chatbench: %v\n", err)
		return exitSetup
	}

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "chatbench: cpu profile: %v\n", err)
			return exitSetup
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "chatbench: cpu profile: %v\n", err)
			return exitSetup
		}
		defer pprof.StopCPUProfile()
	}

	// Ctrl-C ends the run early but still prints what was measured so far.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	return run(ctx, cfg, stdout, stderr)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.rawURL, "url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	fs.IntVar(&cfg.subscribers, "subscribers", 100, "subscriber sessions, one stream each")
	fs.IntVar(&cfg.senders, "senders", 10,
		"sender sessions (separate from -subscribers; each also holds a stream)")
	fs.Float64Var(&cfg.rate, "rate", 1, "messages per second, all senders together")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "measured sending time")
	fs.DurationVar(&cfg.warmup, "warmup", 0,
		"sending time before the measured window (delivered and checked, not timed)")
	fs.DurationVar(&cfg.idle, "idle", 5*time.Second,
		"pause with all streams idle before reading the server's RSS (only with -pid)")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second,
		"longest wait after the last post for deliveries still in flight")
	fs.DurationVar(&cfg.stormDuration, "storm-duration", 10*time.Second,
		"sending time after the streams are dropped, with -reconnect-storm")
	fs.DurationVar(&cfg.maxDuration, "max-duration", 0,
		"hard cap on the whole run (0: planned time x2 + 2m, at most 1h)")
	fs.IntVar(&cfg.pid, "pid", 0, "server process id, to read its CPU and RSS from /proc")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the figures as JSON to this file")
	fs.Float64Var(&cfg.stall, "stall", 0,
		"fraction of subscribers that stop reading once their stream is open")
	fs.BoolVar(&cfg.storm, "reconnect-storm", false,
		"after the steady phase drop every stream at once and reconnect with Last-Event-ID")
	fs.IntVar(&cfg.notices, "notices", 0,
		"probe sessions that each send a private notice to themselves (/msg own-name) every "+
			"-notice-every in the measured window; 0: off (the Flask peer has no /msg)")
	fs.DurationVar(&cfg.noticeEvery, "notice-every", 2500*time.Millisecond,
		"interval between two notices of one probe (the chat allows one post per 2s)")
	fs.DurationVar(&cfg.rssEvery, "rss-every", 0,
		"with -pid, sample the server's RSS at this interval while sending (0: off)")
	fs.StringVar(&cfg.gcURL, "gc-url", "",
		"with -pid, GET this loopback URL before reading the idle RSS, e.g. the chat's "+
			"http://127.0.0.1:6060/debug/pprof/heap?gc=1, so the figure is after a GC")
	fs.Float64Var(&cfg.loginRate, "login-rate", 0, "logins per second (0: as fast as possible)")
	fs.IntVar(&cfg.loginConcurrency, "login-concurrency", 32, "logins in flight")
	fs.IntVar(&cfg.connectConcurrency, "connect-concurrency", 128, "stream opens in flight")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 15*time.Second,
		"timeout of one login, post or stream open")
	fs.BoolVar(&cfg.progress, "progress", true, "print a progress line every second to stderr")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "",
		"write this tool's own CPU profile to the file (to keep the tool cheap)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return cfg, cfg.validate()
}

// validate checks limits and fills the derived fields.
func (c *config) validate() error {
	u, dialAddr, err := checkLoopbackURL(c.rawURL)
	if err != nil {
		return err
	}
	c.base = u.Scheme + "://" + u.Host
	c.host = u.Host
	c.dialAddr = dialAddr

	switch {
	case c.subscribers < 1 || c.subscribers > maxSubscribers:
		return fmt.Errorf("-subscribers %d: want 1..%d", c.subscribers, maxSubscribers)
	case c.senders < 1 || c.senders > maxSenders:
		return fmt.Errorf("-senders %d: want 1..%d", c.senders, maxSenders)
	case !(c.rate > 0 && c.rate <= maxRate):
		return fmt.Errorf("-rate %g: want more than 0 and at most %g", c.rate, maxRate)
	case c.duration <= 0:
		return fmt.Errorf("-duration %v: want more than 0", c.duration)
	case c.warmup < 0 || c.idle < 0 || c.drain < 0 || c.stormDuration < 0:
		return errors.New("durations must not be negative")
	case !(c.stall >= 0 && c.stall < 1):
		return fmt.Errorf("-stall %g: want a fraction in [0, 1)", c.stall)
	case c.loginRate < 0:
		return fmt.Errorf("-login-rate %g: want 0 (unpaced) or more", c.loginRate)
	case c.loginConcurrency < 1 || c.connectConcurrency < 1:
		return errors.New("-login-concurrency and -connect-concurrency must be at least 1")
	case c.requestTimeout <= 0:
		return errors.New("-request-timeout must be more than 0")
	case c.pid < 0:
		return fmt.Errorf("-pid %d: want a process id", c.pid)
	case c.notices < 0 || c.notices > maxProbes:
		return fmt.Errorf("-notices %d: want 0..%d", c.notices, maxProbes)
	case c.notices > 0 && c.noticeEvery <= 0:
		return errors.New("-notice-every must be more than 0")
	case c.rssEvery < 0:
		return errors.New("-rss-every must not be negative")
	}
	if c.gcURL != "" {
		if err := checkLoopbackTarget(c.gcURL); err != nil {
			return fmt.Errorf("-gc-url: %w", err)
		}
	}

	if c.totalMessages() < 1 {
		return fmt.Errorf("-rate %g over %v of sending schedules no message", c.rate,
			c.sendTime())
	}

	planned := c.plannedTime()
	if c.maxDuration == 0 {
		c.maxDuration = min(2*planned+2*time.Minute, maxRunTime)
	}
	if c.maxDuration > maxRunTime {
		return fmt.Errorf("-max-duration %v: at most %v", c.maxDuration, maxRunTime)
	}
	if planned > c.maxDuration {
		return fmt.Errorf("planned run time %v exceeds -max-duration %v", planned, c.maxDuration)
	}

	streams := float64(c.streamCount())
	if d := streams * float64(c.totalMessages()); d > maxPlannedDeliveries {
		return fmt.Errorf("streams x messages = %.3g exceeds the cap of %.3g; "+
			"lower -subscribers, -rate or -duration", d, float64(maxPlannedDeliveries))
	}
	if per := c.rate / float64(c.senders); per > 0.5 {
		// Not an error: the Python peer has no limit. Our server's would answer 429.
		c.warnf("%.2f messages/s per sender exceeds the server's 5 per 10 s per session; "+
			"expect 429s (raise -senders)", per)
	}
	if c.notices > 0 && c.noticeEvery < 2*time.Second {
		c.warnf("-notice-every %v is faster than the chat's one post per 2s per session; "+
			"expect 429s after the first five", c.noticeEvery)
	}
	return nil
}

// streamCount is every session the run holds a stream for: subscribers, senders, probes.
func (c *config) streamCount() int {
	return c.subscribers + c.senders + c.notices
}

// warnf records a warning found during validation; run prints it before anything else.
func (c *config) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// sendTime is how long the senders post for.
func (c *config) sendTime() time.Duration {
	t := c.warmup + c.duration
	if c.storm {
		t += c.stormDuration
	}
	return t
}

// totalMessages is how many messages the schedule holds; seq numbers run 0..total-1.
func (c *config) totalMessages() int64 {
	return int64(c.rate * c.sendTime().Seconds())
}

// plannedTime is a rough upper estimate of a run that goes well, used for the default cap.
func (c *config) plannedTime() time.Duration {
	streams := c.streamCount()
	connect := time.Duration(streams) * time.Millisecond // generous: 1,000 connects/s
	if c.loginRate > 0 {
		connect += time.Duration(float64(streams) / c.loginRate * float64(time.Second))
	}
	idle := time.Duration(0)
	if c.pid > 0 {
		idle = c.idle
		if c.gcURL != "" {
			idle += c.requestTimeout + gcSettle
		}
	}
	drains := c.drain
	if c.storm {
		drains *= 2
	}
	return connect + idle + c.sendTime() + drains
}

// checkLoopbackURL accepts only plain-HTTP URLs whose host is a loopback address
// (127.0.0.0/8, ::1, or the name localhost) and returns the address to dial. Names other than
// localhost are refused rather than resolved, so a DNS answer can never point the load
// elsewhere; localhost itself is dialed as 127.0.0.1 for the same reason.
func checkLoopbackURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("-url %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("-url %q: only http:// is supported (got scheme %q)",
			raw, u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("-url %q: give only scheme, host and port", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}

	var ip net.IP
	if strings.EqualFold(host, "localhost") {
		ip = net.IPv4(127, 0, 0, 1)
	} else {
		ip = net.ParseIP(host)
	}
	if ip == nil {
		return nil, "", fmt.Errorf("-url %q: host %q is not a loopback address; "+
			"chatbench only loads 127.0.0.0/8, ::1 or localhost", raw, host)
	}
	if !ip.IsLoopback() {
		return nil, "", fmt.Errorf("-url %q: %s is not a loopback address; "+
			"chatbench only loads 127.0.0.0/8, ::1 or localhost", raw, ip)
	}
	return u, net.JoinHostPort(ip.String(), port), nil
}

// checkLoopbackTarget is checkLoopbackURL for a URL that may carry a path and a query,
// such as a profiler endpoint: only its scheme and host are checked.
func checkLoopbackTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q: no credentials or fragment", raw)
	}
	_, _, err = checkLoopbackURL(u.Scheme + "://" + u.Host)
	return err
}

// raiseFileLimit lifts the soft open-file limit towards the hard one, since every stream is a
// file descriptor, and fails early when even the hard limit is too low for the run.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
		}
	}
	if uint64(need) > lim.Cur {
		return fmt.Errorf("the run needs about %d open files but the limit is %d; "+
			"lower -subscribers or raise the hard limit (ulimit -Hn)", need, lim.Cur)
	}
	return nil
}
