package deploy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatroom/chat/sse"
	"github.com/chatroom/chat/static"
)

// Timing of the tests.
const (
	// idleTime outlasts nginx's default proxy_read_timeout of 60 s, so a site that
	// lost its own timeout, or a chat that stopped its heartbeat, fails the test.
	idleTime = 90 * time.Second

	// deliveryLimit is how long a posted message may take to reach an open stream.
	deliveryLimit = time.Second

	// minHeartbeats is the fewest heartbeats the idle time may carry: one per 20 s,
	// less one for where the ticks happen to fall.
	minHeartbeats = 3

	// waitLimit bounds any one wait, so a broken setup fails instead of hanging.
	waitLimit    = 10 * time.Second
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	pollInterval = 50 * time.Millisecond
)

// maxExposure is the highest "overall exposure" systemd-analyze security may give the
// unit, from 0 (locked down) to 10. With systemd 252 the unit scores 1.3; loosening
// it past this bound should be a decision, not an accident.
const maxExposure = 2.0

// buildDir holds the chat binary, built once for the package by chatBinary.
var (
	buildDir  string
	buildOnce sync.Once
	builtChat string
	buildErr  error
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests runs the tests with a build folder that is removed afterwards, so that
// deferred clean-up runs before the process exits.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chat-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy: make build folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	buildDir = dir
	return m.Run()
}

func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := requireTool(t, "systemd-analyze", "systemd")
	unit := readFile(t, "systemd/chat.service")

	// verify insists that ExecStart's program exists. Rather than install into
	// /usr/local/bin, check a copy that starts the chat built for this test. The copy
	// keeps the file name: verify takes the unit's name and type from it.
	bin := chatBinary(t)
	unit = replaceCounted(t, "systemd/chat.service", unit,
		`(?m)^ExecStart=/usr/local/bin/chat `, "ExecStart="+bin+" ", 1)
	path := filepath.Join(t.TempDir(), "chat.service")
	writeFile(t, path, unit)

	// verify exits 0 even for unknown keys and values it cannot parse, so any line
	// about this unit is a failure. Lines about other units are the host's business.
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify = %v, want success\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.Contains(line, "chat.service"):
			t.Errorf("systemd-analyze verify said %q, want nothing about the unit", line)
		case line != "":
			t.Logf("systemd-analyze verify, about another unit: %s", line)
		}
	}

	t.Run("hardening", func(t *testing.T) {
		checkExposure(t, analyze, path)
	})
	t.Run("the chat starts, reloads and stops as the unit expects", func(t *testing.T) {
		checkLifecycle(t, unit)
	})
}

// checkExposure rates the unit's sandboxing with systemd-analyze security.
func checkExposure(t *testing.T, analyze, path string) {
	t.Helper()
	out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager",
		path).CombinedOutput()
	if err != nil && strings.Contains(string(out), "unrecognized option") {
		t.Skipf("skipping: this systemd-analyze cannot rate a unit file offline: %s", out)
	}
	if err != nil {
		t.Fatalf("systemd-analyze security = %v, want success\n%s", err, out)
	}

	m := regexp.MustCompile(`Overall exposure level for chat\.service: ([0-9.]+)`).
		FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	exposure, _ := strconv.ParseFloat(string(m[1]), 64)
	if exposure > maxExposure {
		t.Errorf("exposure level = %.1f, want at most %.1f\n%s", exposure, maxExposure, out)
	}
}

// checkLifecycle runs the chat with the unit's own command line, so a flag the chat
// does not know fails here and not on a server. Only -addr and -data are overridden
// (the flag package takes the last value): port 0 and a temporary folder. Then it
// reloads the chat as ExecReload does and stops it as systemd would.
func checkLifecycle(t *testing.T, unit string) {
	t.Helper()
	if reload := unitValue(t, unit, "ExecReload"); !strings.Contains(reload, "-HUP") {
		t.Fatalf("ExecReload = %q; this test knows only SIGHUP", reload)
	}
	fields := strings.Fields(unitValue(t, unit, "ExecStart"))
	args := append(fields[1:], "-addr", "127.0.0.1:0", "-data", t.TempDir())
	p, addr := startChat(t, fields[0], args...)

	// The chat takes SIGHUP before it serves, so a reload right after start is safe.
	checkHealthy(t, addr, "before SIGHUP")

	// SIGHUP's default action is to end a process, and systemd counts that as a
	// clean exit, so Restart=on-failure would not even bring the chat back.
	p.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond) // long enough for a fatal signal to land
	select {
	case <-p.exited:
		t.Fatalf("chat exited on SIGHUP (%v), want a reload", p.err)
	default:
	}
	checkHealthy(t, addr, "after SIGHUP")

	stopWithin, err := time.ParseDuration(unitValue(t, unit, "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("chat exit after SIGTERM = %v, want success", p.err)
		}
	case <-time.After(stopWithin):
		t.Errorf("chat still running %v after SIGTERM, want it gone before systemd "+
			"resorts to SIGKILL", stopWithin)
	}
}

// checkHealthy fails the test unless the chat at addr answers its health check.
func checkHealthy(t *testing.T, addr, when string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitLimit}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz %s: %v", when, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz %s status = %d, want 200", when, resp.StatusCode)
	}
}

// TestNginxProxiesStreams is case C07: through nginx with the shipped site file, over
// HTTP/2, events arrive at once, and an idle stream outlives nginx's default timeout.
func TestNginxProxiesStreams(t *testing.T) {
	t.Parallel()
	nginx := requireTool(t, "nginx", "nginx")
	bin := chatBinary(t)

	// -behind-tls-proxy: to the browser this is a TLS site, so cookies must be Secure.
	_, chatAddr := startChat(t, bin, "-addr", "127.0.0.1:0", "-data", t.TempDir(),
		"-behind-tls-proxy=true")
	certFile, keyFile, roots := writeCertificate(t, t.TempDir())
	site := startNginx(t, nginx, chatAddr, certFile, keyFile, roots)

	t.Run("plain HTTP redirects to HTTPS", func(t *testing.T) {
		checkRedirect(t, site.http)
	})
	t.Run("static files keep the chat's caching", func(t *testing.T) {
		checkStatic(t, newBrowser(t, roots), site.https)
	})

	reader, poster := newBrowser(t, roots), newBrowser(t, roots)
	logIn(t, reader, site.https, "Reader")
	logIn(t, poster, site.https, "Poster")
	events := openStream(t, reader, site.https)

	first := events.waitFor(t, waitLimit, "the history event", func(e streamEvent) bool {
		return e.Name == "history"
	})
	if first.retry <= 0 {
		t.Errorf("retry before the history = %d ms, want a reconnect delay", first.retry)
	}
	before := deliver(t, poster, events, site.https, "first")

	if testing.Short() {
		t.Logf("-short: not staying idle for %v", idleTime)
	} else {
		events.stayIdle(t, idleTime)
	}

	after := make([]streamEvent, 3)
	for i := range after {
		after[i] = deliver(t, poster, events, site.https, fmt.Sprint("after idle ", i+1))
	}
	if testing.Short() {
		return
	}
	heartbeats := after[0].heartbeats - before.heartbeats
	if heartbeats < minHeartbeats {
		t.Errorf("heartbeats during %v idle = %d, want at least %d",
			idleTime, heartbeats, minHeartbeats)
	}
	t.Logf("%d heartbeats kept the stream open for %v", heartbeats, idleTime)
}

// TestNginxLocationsInheritHeaders guards a trap the proxying test cannot see: nginx
// passes a location the server's proxy_set_header and add_header lines only when the
// location has none of its own. One stray line in location = /events would drop Host,
// X-Forwarded-For and the keepalive's empty Connection there, and every stream would
// still work, counted against the proxy's address instead of the browser's.
func TestNginxLocationsInheritHeaders(t *testing.T) {
	// Comments go first: they may name the directives, and braces in them would
	// confuse the block matching.
	site := regexp.MustCompile(`#.*`).ReplaceAllString(readFile(t, "nginx/chat.conf"), "")
	locations := regexp.MustCompile(`(?m)^[ \t]*location[ \t]+([^{]*)\{([^{}]*)\}`).
		FindAllStringSubmatch(site, -1)
	if len(locations) < 3 {
		t.Fatalf("nginx/chat.conf has %d location blocks, want at least 3", len(locations))
	}
	own := regexp.MustCompile(`\b(proxy_set_header|add_header)\b`)
	for _, l := range locations {
		if m := own.FindStringSubmatch(l[2]); m != nil {
			t.Errorf("location %s sets %s, want none: it would drop the server's",
				strings.TrimSpace(l[1]), m[1])
		}
	}
}

// checkRedirect asks the port-80 server for a page and expects to be sent to HTTPS.
func checkRedirect(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{
		Timeout: waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Get(base + "/some/page?x=1")
	if err != nil {
		t.Fatalf("GET over plain HTTP: %v", err)
	}
	resp.Body.Close()

	if resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("GET over plain HTTP status = %d, want 301", resp.StatusCode)
	}
	// $host has no port, so the redirect names the default HTTPS port.
	if got, want := resp.Header.Get("Location"), "https://127.0.0.1/some/page?x=1"; got != want {
		t.Errorf("GET over plain HTTP Location = %q, want %q", got, want)
	}
}

// checkStatic fetches a versioned static file and the health check through nginx.
func checkStatic(t *testing.T, client *http.Client, base string) {
	t.Helper()
	resp, _ := send(t, client, http.MethodGet, base+static.Path("htmx.min.js"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET htmx.min.js status = %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
		t.Errorf("GET htmx.min.js Cache-Control = %q, want the chat's immutable", got)
	}

	resp, _ = send(t, client, http.MethodGet, base+"/healthz", nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got == "" {
		t.Errorf("GET /healthz Strict-Transport-Security = %q, want one from nginx", got)
	}
}

// deliver posts a message from poster and waits for it on the stream. It returns
// the event, and fails the test when the event took longer than deliveryLimit.
func deliver(t *testing.T, poster *http.Client, events *stream,
	base, label string) streamEvent {
	t.Helper()
	text := fmt.Sprintf("%s message %x", label, time.Now().UnixNano())
	start := time.Now()
	resp, _ := send(t, poster, http.MethodPost, base+"/messages", url.Values{"text": {text}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /messages %q status = %d, want 200", text, resp.StatusCode)
	}

	event := events.waitFor(t, waitLimit, "message "+strconv.Quote(text),
		func(e streamEvent) bool {
			return e.Name == "message" && strings.Contains(e.Data, text)
		})
	took := event.at.Sub(start)
	if took > deliveryLimit {
		t.Errorf("message %q arrived after %v, want under %v", text, took, deliveryLimit)
	}
	t.Logf("%s message: posted and received in %v", label, took.Round(time.Millisecond))
	if event.ID == "" {
		t.Errorf("message %q has id %q, want one, so a reconnect can resume", text, event.ID)
	}
	return event
}

// nginxSite is nginx serving the shipped site file.
type nginxSite struct {
	https string // base URL of the TLS server
	http  string // base URL of the redirecting server
}

// startNginx runs nginx with the shipped site file, rendered for loopback, in front
// of the chat at chatAddr, and waits until it answers over HTTPS. The ports are picked
// free but may be taken before nginx binds them; then it tries again on others.
func startNginx(t *testing.T, nginx, chatAddr, certFile, keyFile string,
	roots *x509.CertPool) nginxSite {
	t.Helper()
	shipped := readFile(t, "nginx/chat.conf")
	client := newBrowser(t, roots)

	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		s := nginxSite{https: "https://" + freeAddr(t), http: "http://" + freeAddr(t)}
		writeFile(t, filepath.Join(dir, "chat.conf"), renderSite(t, shipped, loopbackSite{
			httpsAddr: strings.TrimPrefix(s.https, "https://"),
			httpAddr:  strings.TrimPrefix(s.http, "http://"),
			upstream:  chatAddr,
			certFile:  certFile,
			keyFile:   keyFile,
		}))
		conf := filepath.Join(dir, "nginx.conf")
		writeFile(t, conf, nginxMain(dir))

		p := startProcess(t, "nginx",
			exec.Command(nginx, "-p", dir+"/", "-c", conf, "-e", "stderr"), nil)
		err := waitHealthy(client, s.https, p)
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(p.output.String(), "Address already in use") {
			continue
		}
		t.Fatalf("nginx: %v", err)
	}
}

// loopbackSite is what the shipped site file must change to run in a test.
type loopbackSite struct {
	httpsAddr, httpAddr string // replace ports 443 and 80
	upstream            string // replaces 127.0.0.1:8080
	certFile, keyFile   string // replace the placeholder certificate paths
}

// renderSite returns the shipped site with only these changed: the listen addresses
// (loopback on free ports; the IPv6 ones dropped, since tests stay on 127.0.0.1), the
// chat's address, and the certificate paths. Everything that shapes the proxying is
// the shipped text. Each edit must match as often as the shipped file has the line,
// so a reshaped file fails here instead of silently testing something else.
func renderSite(t *testing.T, shipped string, s loopbackSite) string {
	t.Helper()
	edits := []struct {
		pattern, replace string
		count            int
	}{
		{`(?m)^[ \t]*listen[ \t]+\[::\]:\d+[^;\n]*;\n`, "", -1},
		{`(?m)^([ \t]*listen[ \t]+)443\b`, "${1}" + s.httpsAddr, 1},
		{`(?m)^([ \t]*listen[ \t]+)80\b`, "${1}" + s.httpAddr, 1},
		{`(?m)^([ \t]*server[ \t]+)127\.0\.0\.1:8080;`, "${1}" + s.upstream + ";", 1},
		{`(?m)^([ \t]*ssl_certificate[ \t]+)\S+;`, "${1}" + s.certFile + ";", 1},
		{`(?m)^([ \t]*ssl_certificate_key[ \t]+)\S+;`, "${1}" + s.keyFile + ";", 1},
	}
	for _, e := range edits {
		shipped = replaceCounted(t, "nginx/chat.conf", shipped, e.pattern, e.replace, e.count)
	}
	return shipped
}

// nginxMain returns the main configuration around the site: what Debian's
// /etc/nginx/nginx.conf gives a site, for an nginx that runs in the foreground with
// every file it writes inside dir, and two lines that make the test stricter.
func nginxMain(dir string) string {
	// As root, nginx's workers would switch to an unprivileged user that cannot enter
	// the test's private temporary folders.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr notice;
%[2]s

events {
    worker_connections 256;
}

http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

    # Debian's nginx.conf turns gzip on for every site. With the stream's type added,
    # only the site's own "gzip off" keeps events from waiting in the compressor.
    gzip on;
    gzip_types text/event-stream;
    # The chat asks nginx not to buffer its streams (X-Accel-Buffering: no). Ignoring
    # that here makes the site's own "proxy_buffering off" the thing under test.
    proxy_ignore_headers X-Accel-Buffering;

    include %[1]s/chat.conf;
}
`, dir, user)
}

// waitHealthy polls base/healthz until it answers 200, p exits, or time runs out.
func waitHealthy(client *http.Client, base string, p *process) error {
	deadline := time.Now().Add(waitLimit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before serving: %v", p.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("GET /healthz status = %d", resp.StatusCode)
		}
		cancel()
		last = err
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("not serving %s/healthz after %v: %v", base, waitLimit, last)
}

// newBrowser returns a client that acts as one browser: its own cookies, and a
// transport that trusts the test certificate and asks for HTTP/2, as browsers do.
func newBrowser(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: transport}
}

// send makes one request the way htmx in an older browser would: with Origin but no
// Sec-Fetch-Site, so the chat's cross-origin check compares Origin with the Host that
// nginx passed on. It fails the test unless the answer came over HTTP/2.
func send(t *testing.T, client *http.Client, method, target string,
	form url.Values) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)

	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, req.URL.Path, err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("%s %s protocol = %s, want HTTP/2", method, req.URL.Path, resp.Proto)
	}
	return resp, string(text)
}

// logIn signs client in as nickname and checks that the cookie is Secure and that
// the room then knows the session.
func logIn(t *testing.T, client *http.Client, base, nickname string) {
	t.Helper()
	resp, _ := send(t, client, http.MethodPost, base+"/login",
		url.Values{"nickname": {nickname}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /login as %s status = %d, want 200", nickname, resp.StatusCode)
	}
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		t.Fatalf("POST /login as %s set no cookie, want the session's", nickname)
	}
	for _, c := range cookies {
		if !c.Secure {
			t.Errorf("cookie %s Secure = false, want true with -behind-tls-proxy", c.Name)
		}
	}

	_, page := send(t, client, http.MethodGet, base+"/", nil)
	if want := `id="me">` + nickname + "<"; !strings.Contains(page, want) {
		t.Fatalf("GET / after login as %s: no %q in the page:\n%.300s", nickname, want, page)
	}
}

// stream is an open event stream, parsed in the background as a browser would.
type stream struct {
	events chan streamEvent
	done   chan struct{} // closed when the stream has ended
	err    error         // why it ended, once done is closed
}

// streamEvent is one event, when it arrived, and what the reader had seen so far.
type streamEvent struct {
	sse.Event
	at         time.Time
	heartbeats int // comment lines so far
	retry      int // the reconnect delay the stream set, in milliseconds
}

// openStream opens GET /events for client's session and checks the response head.
func openStream(t *testing.T, client *http.Client, base string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	// Set by hand, so Go leaves the body as nginx sent it and a compressed stream shows.
	req.Header.Set("Accept-Encoding", "gzip")
	// The head must come at once (case C05): a proxy that buffers may hold it back.
	tooLate := time.AfterFunc(waitLimit, cancel)
	resp, err := client.Do(req)
	if err != nil || !tooLate.Stop() {
		cancel()
		t.Fatalf("GET /events: no response head within %v: %v", waitLimit, err)
	}

	s := &stream{events: make(chan streamEvent, 256), done: make(chan struct{})}
	go s.read(ctx, resp.Body)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-s.done
	})

	checks := []struct{ what, got, want string }{
		{"status", resp.Status, "200 OK"},
		{"protocol", resp.Proto, "HTTP/2.0"},
		{"media type", strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"),
			";")[0]), "text/event-stream"},
		{"Cache-Control", resp.Header.Get("Cache-Control"), "no-cache"},
		{"Content-Encoding", resp.Header.Get("Content-Encoding"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("GET /events %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	return s
}

func (s *stream) read(ctx context.Context, body io.Reader) {
	defer close(s.done)
	rd := sse.NewReader(body)
	for {
		event, err := rd.Next()
		if err != nil {
			s.err = err
			return
		}
		e := streamEvent{Event: event, at: time.Now(), heartbeats: rd.Comments,
			retry: rd.Retry}
		select {
		case s.events <- e:
		case <-ctx.Done():
			s.err = ctx.Err()
			return
		}
	}
}

// waitFor returns the first event that match accepts, skipping others, and fails the
// test if none comes within limit or the stream ends.
func (s *stream) waitFor(t *testing.T, limit time.Duration, what string,
	match func(streamEvent) bool) streamEvent {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case e := <-s.events:
			if match(e) {
				return e
			}
		case <-s.done:
			// Events read before the end may still be queued.
			for len(s.events) > 0 {
				if e := <-s.events; match(e) {
					return e
				}
			}
			t.Fatalf("stream ended while waiting for %s: %v", what, s.err)
		case <-timer.C:
			t.Fatalf("no %s on the stream within %v", what, limit)
		}
	}
}

// stayIdle waits for d without posting, and fails at once if the stream ends.
func (s *stream) stayIdle(t *testing.T, d time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-s.done:
		t.Fatalf("stream ended after %v of idle time, want it open after %v: %v",
			time.Since(start).Round(time.Second), d, s.err)
	case <-time.After(d):
	}
}

// process is a command the test started and stops when it ends.
type process struct {
	name   string
	cmd    *exec.Cmd
	output *lockedBuffer // stdout and stderr, interleaved
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// startProcess starts cmd with its output collected; onLine, if set, sees each line as
// it comes. When the test ends the process gets SIGTERM, and SIGKILL if it outstays
// stopTimeout; on failure its output goes into the test log.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, onLine func(string)) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, output: &lockedBuffer{}, exited: make(chan struct{})}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	// Should the test binary die without cleaning up (a -timeout panic), the kernel
	// stops the process too instead of leaving it behind, listening.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}

	go func() {
		scanner := bufio.NewScanner(r)
		for scanner.Scan() {
			p.output.WriteLine(scanner.Text())
			if onLine != nil {
				onLine(scanner.Text())
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		p.err = cmd.Wait()
		w.Close()
		close(p.exited)
	}()

	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output.String())
		}
	})
	return p
}

func (p *process) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Errorf("%s still running %v after SIGTERM; killing it", p.name, stopTimeout)
		p.cmd.Process.Kill()
		<-p.exited
	}
}

var listeningLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChat runs the chat binary with args, without the caller's CHAT_* variables,
// and waits until it logs the address it listens on.
func startChat(t *testing.T, bin string, args ...string) (*process, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}

	addrs := make(chan string, 1)
	p := startProcess(t, "chat", cmd, func(line string) {
		if m := listeningLine.FindStringSubmatch(line); m != nil {
			select {
			case addrs <- m[1]:
			default:
			}
		}
	})
	select {
	case addr := <-addrs:
		return p, addr
	case <-p.exited:
		t.Fatalf("chat exited before listening: %v", p.err)
	case <-time.After(startTimeout):
		t.Fatalf("chat not listening after %v", startTimeout)
	}
	return nil, ""
}

// chatBinary builds ./cmd/chat once for the package and returns its path.
func chatBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtChat = filepath.Join(buildDir, "chat")
		cmd := exec.Command("go", "build", "-o", builtChat, "github.com/chatroom/chat/cmd/chat")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/chat: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtChat
}

// requireTool returns the path of a program the test needs. Without it the test is
// skipped, except under CI, where a skip would pass for a check that never ran.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing and CI is set: apt-get install %s (%v)", name, debianPackage, err)
	}
	t.Skipf("skipping: %s is missing; apt-get install %s to run this test", name, debianPackage)
	return ""
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and its key into
// dir, and returns a pool that trusts it, as a browser would once told to.
func writeCertificate(t *testing.T, dir string) (certFile, keyFile string,
	roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "chat deploy test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}

	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
		Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY",
		Bytes: keyDER})))
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replaceCounted replaces pattern in text, which came from file, and fails the test
// unless it matched count times (any number when count is -1).
func replaceCounted(t *testing.T, file, text, pattern, replace string, count int) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	if got := len(re.FindAllStringIndex(text, -1)); count >= 0 && got != count {
		t.Fatalf("%s: %d lines match %s, want %d: has the file changed shape?",
			file, got, pattern, count)
	}
	return re.ReplaceAllString(text, replace)
}

// unitValue returns the value of key in unit; the key must appear exactly once.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(key)+`=(.*)$`).
		FindAllStringSubmatch(unit, -1)
	if len(m) != 1 {
		t.Fatalf("chat.service has %d %s= lines, want 1", len(m), key)
	}
	return strings.TrimSpace(m[0][1])
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read shipped file: %v", err)
	}
	return string(content)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// lockedBuffer collects a process's output lines from one goroutine for others.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(line)
	b.b.WriteByte('\n')
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
