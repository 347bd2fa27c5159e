// Package e2e drives the chat end to end: the real binary in a subprocess, and Debian's
// headless Chromium through chromedp, one isolated browser context per person.
//
// The tests need Chromium at /usr/bin/chromium (or $CHROMIUM). Without it they are
// skipped, except under CI (the CI variable set), where a missing browser fails them.
// UPDATE_SCREENSHOTS=1 also writes docs/screenshot.png, docs/screenshot-phone.png and
// docs/screenshot-dark.png.
package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Time limits of the harness. Steps poll against a deadline instead of sleeping.
const (
	serverStartTimeout = 15 * time.Second
	serverStopTimeout  = 10 * time.Second
	pollInterval       = 50 * time.Millisecond

	// leaveGrace is the server's -leave-grace: short, so that tests of leaving are
	// quick, and still far longer than a reload takes.
	leaveGrace = time.Second
)

// appBinary is the chat binary built once for the whole package by TestMain.
var appBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the app, runs the tests and then stops the shared browser, so that
// deferred clean-ups run before the process exits.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chat-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	appBinary = filepath.Join(dir, "chat")
	if err := buildApp(appBinary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}

	browserProfileDir = filepath.Join(dir, "chromium-profile")
	defer stopBrowser()
	return m.Run()
}

// buildApp builds cmd/chat with the race detector, so a data race in the server under
// a real browser fails the test that met it (see server.checkLog).
func buildApp(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go tool: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-race", "-o", out, "github.com/chatroom/chat/cmd/chat")
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build cmd/chat: %w\n%s", err, output)
	}
	return nil
}

// server is one run of the chat binary, and the address and data folder that a
// restart keeps.
type server struct {
	tb   testing.TB
	addr string // host:port it listens on, the same after a restart
	data string // data folder: database and cookie keys, kept across restarts

	scheme string         // "http", or "https" with withTLS
	args   []string       // flags beyond those every run gets
	roots  *x509.CertPool // with TLS, what the health check trusts

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	output bytes.Buffer // stdout and stderr of every run, for failure reports
}

// listeningLine matches the log line that names the address the server listens on.
var listeningLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// serverOption changes how startServer runs the chat.
type serverOption func(*server)

// withTLS serves HTTPS (with HTTP/2) from PEM files; roots holds the certificate, so
// that the harness's own health check verifies it rather than skipping verification.
func withTLS(certFile, keyFile string, roots *x509.CertPool) serverOption {
	return func(s *server) {
		s.scheme = "https"
		s.roots = roots
		s.args = append(s.args, "-tls-cert", certFile, "-tls-key", keyFile)
	}
}

// startServer runs the chat on a free port of 127.0.0.1 with a fresh data folder. It
// is killed when the test ends; its log is printed if the test failed.
func startServer(tb testing.TB, opts ...serverOption) *server {
	tb.Helper()

	s := &server{tb: tb, addr: "127.0.0.1:0", data: tb.TempDir(), scheme: "http"}
	for _, opt := range opts {
		opt(s)
	}
	tb.Cleanup(func() {
		s.stop(syscall.SIGKILL)
		s.checkLog()
		if tb.Failed() {
			tb.Logf("server log:\n%s", s.log())
		}
	})
	s.start()
	return s
}

// URL returns the base URL of the server, without a trailing slash.
func (s *server) URL() string {
	return s.scheme + "://" + s.addr
}

// start runs the binary, learns its address from its log and waits for /healthz.
func (s *server) start() {
	s.tb.Helper()

	args := []string{
		"-addr", s.addr,
		"-data", s.data,
		"-leave-grace", leaveGrace.String(),
		"-log-level", "debug",
	}
	cmd := exec.Command(appBinary, append(args, s.args...)...)
	addrc := make(chan string, 1)
	cmd.Stdout = &logWriter{s: s, addrc: addrc}
	cmd.Stderr = &logWriter{s: s}
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("start server %s: %v", appBinary, err)
	}

	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	select {
	case addr := <-addrc:
		s.addr = addr
	case <-exited:
		s.tb.Fatalf("server exited before listening; log:\n%s", s.log())
	case <-time.After(serverStartTimeout):
		s.tb.Fatalf("server did not log its address within %v; log:\n%s",
			serverStartTimeout, s.log())
	}
	s.waitHealthy()
}

// logWriter keeps what the server writes, and on stdout sends the address of its
// first "listening" line. exec.Cmd calls Write from one goroutine per stream.
type logWriter struct {
	s       *server
	addrc   chan<- string // nil for stderr
	partial []byte        // the start of a line not yet ended
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	w.s.output.Write(p)
	w.s.mu.Unlock()
	if w.addrc == nil {
		return len(p), nil
	}

	w.partial = append(w.partial, p...)
	for {
		end := bytes.IndexByte(w.partial, '\n')
		if end < 0 {
			break
		}
		if m := listeningLine.FindSubmatch(w.partial[:end]); m != nil {
			w.addrc <- string(m[1])
			w.addrc = nil
			w.partial = nil
			break
		}
		w.partial = w.partial[end+1:]
	}
	return len(p), nil
}

// waitHealthy polls GET /healthz until it answers 200.
func (s *server) waitHealthy() {
	s.tb.Helper()

	client := &http.Client{Timeout: time.Second}
	if s.roots != nil {
		client.Transport = &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: s.roots},
		}
		defer client.CloseIdleConnections()
	}
	deadline := time.Now().Add(serverStartTimeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(pollInterval)
	}
	s.tb.Fatalf("GET %s/healthz = %s, want 200 OK within %v", s.URL(), last, serverStartTimeout)
}

// stop sends sig to the running server, if any, and waits for it to exit. After a
// SIGTERM that does not end it in time, it kills it.
func (s *server) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}

	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(serverStopTimeout):
		s.tb.Errorf("server did not exit within %v of %v; killing it", serverStopTimeout, sig)
		cmd.Process.Kill()
		<-exited
	}
}

// restart stops the server with sig, runs whileDown, and starts the server again on
// the same address and data folder, as a crash or a deploy and a service manager
// would. whileDown waits for what the test needs to happen during the outage.
func (s *server) restart(sig syscall.Signal, whileDown func()) {
	s.tb.Helper()

	s.stop(sig)
	whileDown()
	s.start()
}

// log returns everything the server wrote so far.
func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// checkLog fails the test if the race detector reported a data race in the server.
func (s *server) checkLog() {
	if bytes.Contains([]byte(s.log()), []byte("WARNING: DATA RACE")) {
		s.tb.Errorf("the server reported a data race (it is built with -race)")
	}
}

// startProxy puts a reverse proxy on 127.0.0.1 in front of s, as nginx would be in
// production. While the server is down it answers 502 Bad Gateway, which is what makes
// the SSE extension drop its EventSource and open a new one.
func startProxy(tb testing.TB, s *server) string {
	tb.Helper()

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen for the proxy: %v", err)
	}

	// The target is read per request: the address stays the same across restarts,
	// but this keeps the proxy honest if it ever does not.
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			target, _ := url.Parse(s.URL())
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		// A stream cut by the restart is expected: no log line for it.
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(listener)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + listener.Addr().String()
}

// link is a TCP forwarder between one browser and the server: the test's stand-in for
// that person's network, which it can cut. Cutting it closes every connection through
// it at once, as a dropped Wi-Fi would, and while it is down every new connection is
// closed as soon as it is accepted, so the browser sees network errors, not HTTP ones.
type link struct {
	listener net.Listener
	target   string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

// startLink forwards a new port of 127.0.0.1 to the server's address.
func startLink(tb testing.TB, s *server) *link {
	tb.Helper()

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen for a link: %v", err)
	}
	l := &link{listener: listener, target: s.addr, conns: make(map[net.Conn]struct{})}
	go l.serve()
	tb.Cleanup(func() {
		listener.Close()
		l.setDown(true)
	})
	return l
}

// URL returns the base URL through the link.
func (l *link) URL() string {
	return "http://" + l.listener.Addr().String()
}

// setDown cuts the link, closing every connection through it, or restores it.
func (l *link) setDown(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()

	l.down = down
	if down {
		for c := range l.conns {
			c.Close()
		}
		clear(l.conns)
	}
}

func (l *link) serve() {
	for {
		client, err := l.listener.Accept()
		if err != nil {
			return
		}
		go l.forward(client)
	}
}

// forward copies bytes both ways between client and a new connection to the server,
// until either side or a cut closes them.
func (l *link) forward(client net.Conn) {
	defer client.Close()
	if !l.track(client) {
		return
	}
	upstream, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	defer upstream.Close()
	if !l.track(upstream) {
		return
	}

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
}

// track registers c so a cut can close it, and reports false if the link is down.
func (l *link) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()

	if l.down {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}
