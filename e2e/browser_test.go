package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one browser step: a navigation, a key press, one evaluation.
const stepTimeout = 10 * time.Second

// The shared browser: started once, on first use, with no timeout, because a browser
// lives only as long as the context of its first call. Each person gets a new browser
// context inside it, which is as isolated as a separate profile (cookies, storage).
var (
	browserProfileDir string // set by TestMain; Chromium's --user-data-dir

	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel context.CancelFunc
	browserErr    error
)

// chromiumPath returns the Chromium to drive: $CHROMIUM, or Debian's.
func chromiumPath() (string, error) {
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("no Chromium at %s (set $CHROMIUM): %w", path, err)
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable: %w", path, fs.ErrPermission)
	}
	return path, nil
}

// requireBrowser returns the root context of the shared browser, starting it on first
// use. Without Chromium the test is skipped, except under CI, where it fails: a CI run
// that skipped every browser test would look green and prove nothing.
func requireBrowser(tb testing.TB) context.Context {
	tb.Helper()

	path := requireChromium(tb)
	browserOnce.Do(func() { browserErr = startBrowser(path) })
	if browserErr != nil {
		tb.Fatalf("start Chromium: %v", browserErr)
	}
	return browserCtx
}

// requireChromium returns the path of Chromium, or skips the test (fails it under CI)
// as requireBrowser does.
func requireChromium(tb testing.TB) string {
	tb.Helper()

	path, err := chromiumPath()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("browser tests need Chromium under CI: %v", err)
		}
		tb.Skipf("skipping browser test: %v", err)
	}
	return path
}

// startPrivateBrowser starts a Chromium for one test, with flags that the shared
// browser must not have (such as trusting any certificate), and closes it when the
// test ends.
func startPrivateBrowser(tb testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()

	path := requireChromium(tb)
	// The profile folder is made first, so that its removal runs after the browser
	// exited: clean-ups run last in, first out.
	profile := tb.TempDir()
	ctx, cancel, err := launchBrowser(path, profile, extra...)
	if err != nil {
		tb.Fatalf("start a Chromium of the test's own: %v", err)
	}
	tb.Cleanup(cancel)
	return ctx
}

func startBrowser(path string) error {
	ctx, cancel, err := launchBrowser(path, browserProfileDir)
	if err != nil {
		return err
	}
	browserCtx, browserCancel = ctx, cancel
	return nil
}

// launchBrowser starts a Chromium of its own with the harness's flags and any extra
// ones, and returns its root context and the func that closes it.
func launchBrowser(path, profileDir string, extra ...chromedp.ExecAllocatorOption) (
	context.Context, context.CancelFunc, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profileDir),
		// As root, Chromium refuses to start with its sandbox.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// On this closed network, anything that phones home makes Chromium stall. The
		// last two are chromedp defaults too; they are named here as the must-haves.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)

	// No timeout here: the browser would die with it. A cold start takes seconds.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		allocCancel()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ctx, func() {
		cancel()
		allocCancel()
	}, nil
}

// stopBrowser closes the shared browser, if it was started.
func stopBrowser() {
	if browserCancel != nil {
		browserCancel()
	}
}

// tab is one page in the browser, with what its console and network did.
type tab struct {
	name  string // who, for failure messages: "Alice", "Alice (tab 2)"
	base  string // the server's base URL
	ctx   context.Context
	watch *watcher

	cancel context.CancelFunc // closes the tab, and the tabs opened from it
}

// openBrowserContext makes a new isolated browser context (a person of their own, with
// no cookies), opens a tab in it and loads the home page.
func openBrowserContext(tb testing.TB, base, name string) *tab {
	tb.Helper()
	return openBrowserContextIn(tb, requireBrowser(tb), base, name)
}

// openBrowserContextIn is openBrowserContext in the browser of root, for a test that
// needs a browser started with flags of its own.
func openBrowserContextIn(tb testing.TB, root context.Context, base, name string) *tab {
	tb.Helper()
	return openTab(tb, root, base, name, chromedp.WithNewBrowserContext())
}

// newTab opens a second tab in t's browser context: the same person, the same cookie.
func (t *tab) newTab(tb testing.TB, name string) *tab {
	tb.Helper()
	return openTab(tb, t.ctx, t.base, name)
}

func openTab(tb testing.TB, parent context.Context, base, name string,
	opts ...chromedp.ContextOption) *tab {
	tb.Helper()

	t := openBlankTab(tb, parent, base, name, opts...)
	t.do(tb, "load the home page", chromedp.Navigate(base+"/"))
	return t
}

// openBlankTab opens a tab on about:blank, for a test that must set up the tab (turn
// off scripts, emulate a device) before its first page load.
func openBlankTab(tb testing.TB, parent context.Context, base, name string,
	opts ...chromedp.ContextOption) *tab {
	tb.Helper()

	w := newWatcher()
	opts = append(opts, chromedp.WithListener(w.handle))
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t := &tab{name: name, base: base, ctx: ctx, watch: w, cancel: cancel}

	// Clean-ups run last in, first out: the console is checked before the tab closes
	// and before the server is killed, which would make the page log errors.
	tb.Cleanup(cancel)
	tb.Cleanup(func() { w.check(tb, name) })

	// The first call creates the target, which lives as long as ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("%s: open a tab: %v", name, err)
	}
	return t
}

// close closes the tab, as a person closing it would, and any tab opened from it.
func (t *tab) close() {
	t.cancel()
}

// newUser opens an isolated browser context, logs in through the form as nickname
// and waits until the room's stream is live, and the person's own join line is in
// the log.
func newUser(tb testing.TB, base, nickname string) *tab {
	tb.Helper()
	return newUserIn(tb, requireBrowser(tb), base, nickname)
}

// newUserIn is newUser in the browser of root.
func newUserIn(tb testing.TB, root context.Context, base, nickname string) *tab {
	tb.Helper()

	t := openBrowserContextIn(tb, root, base, nickname)
	t.login(tb, nickname)
	t.waitConnected(tb, 0)
	t.waitFor(tb, 5*time.Second, "my own join line in #log", func() (bool, string) {
		joins := evalJS[[]string](tb, t, `Array.from(
			document.querySelectorAll('#log li.msg-join .nick'), n => n.textContent)`)
		return slices.Contains(joins, nickname), fmt.Sprintf("join lines of %q", joins)
	})
	return t
}

// login types nickname into the nickname form and submits it with Enter, then waits
// for the room page that htmx loads after the server's HX-Redirect.
func (t *tab) login(tb testing.TB, nickname string) {
	tb.Helper()

	t.do(tb, "type the nickname", chromedp.SendKeys(chromedp.ID("nickname"), nickname+"\n"))
	t.waitFor(tb, stepTimeout, "the room page with #me = "+nickname, func() (bool, string) {
		// The page navigates meanwhile: an evaluation can meet the old page going away.
		me, err := tryEvalJS[string](t, `document.querySelector('#me')?.textContent ?? ''`)
		if err != nil {
			return false, err.Error()
		}
		return me == nickname, fmt.Sprintf("#me = %q", me)
	})
}

// waitConnected waits until the tab has a live stream opened after the first skip
// streams: a GET /events that answered 200 and has delivered its presence event.
//
// This is the real signal, read from the browser's network events, not from a page
// flag: the server subscribes the stream to the hub before it writes anything, then
// sends the catch-up (history or replay) and the online list. So once the presence
// event arrived, every later broadcast reaches this tab, and the catch-up was already
// swapped in, since one EventSource dispatches its events in order.
func (t *tab) waitConnected(tb testing.TB, skip int) {
	tb.Helper()

	t.waitFor(tb, stepTimeout, "a live /events stream", func() (bool, string) {
		streams := t.watch.streamsSnapshot()
		for _, s := range streams[min(skip, len(streams)):] {
			if s.open && s.status == 200 && s.received("presence") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("streams %v", streams)
	})
	me := t.nickname(tb)
	t.waitFor(tb, stepTimeout, "#online to list "+me, func() (bool, string) {
		online := t.online(tb)
		return slices.Contains(online, me), fmt.Sprintf("#online = %q", online)
	})
}

// do runs browser steps with a per-step timeout and fails the test on error.
func (t *tab) do(tb testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()

	ctx, cancel := t.stepContext()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.Fatalf("%s: %s: %v", t.name, what, err)
	}
}

// stepContext returns the tab's context with the per-step timeout.
func (t *tab) stepContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, stepTimeout)
}

// evalJS evaluates a JavaScript expression in the page and decodes its value. This is
// the test reading the DOM; the app itself runs no script of ours.
func evalJS[T any](tb testing.TB, t *tab, expr string) T {
	tb.Helper()

	v, err := tryEvalJS[T](t, expr)
	if err != nil {
		tb.Fatalf("%s: %v", t.name, err)
	}
	return v
}

// tryEvalJS is evalJS that returns its error, for a poll that spans a navigation.
func tryEvalJS[T any](t *tab, expr string) (T, error) {
	ctx, cancel := t.stepContext()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		return v, fmt.Errorf("evaluate %s: %w", expr, err)
	}
	return v, nil
}

// waitFor polls check until it reports done, and fails the test with check's last
// description of what it saw if that takes longer than timeout.
func (t *tab) waitFor(tb testing.TB, timeout time.Duration, want string,
	check func() (done bool, got string)) {
	tb.Helper()
	waitFor(tb, timeout, t.name+": "+want, check)
}

func waitFor(tb testing.TB, timeout time.Duration, want string,
	check func() (done bool, got string)) {
	tb.Helper()

	deadline := time.Now().Add(timeout)
	for {
		done, got := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: got %s, want %s", timeout, got, want)
		}
		time.Sleep(pollInterval)
	}
}

// post types text into the composer and sends it with Enter, then waits until htmx
// swapped in the server's answer: an empty composer.
func (t *tab) post(tb testing.TB, text string) {
	tb.Helper()

	loads := t.watch.pageLoads()
	t.do(tb, "type a message", chromedp.SendKeys(chromedp.ID("text"), text+"\n"))
	t.waitComposerEmpty(tb)
	t.checkNoReload(tb, loads)
}

// postWithButton is post with a click on Send instead of Enter.
func (t *tab) postWithButton(tb testing.TB, text string) {
	tb.Helper()

	loads := t.watch.pageLoads()
	t.do(tb, "type and click Send",
		chromedp.SendKeys(chromedp.ID("text"), text),
		chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
	t.waitComposerEmpty(tb)
	t.checkNoReload(tb, loads)
}

// checkNoReload fails the test if the page was loaded again since it had loads page
// loads: the live page must do its work through htmx and the stream.
func (t *tab) checkNoReload(tb testing.TB, loads int) {
	tb.Helper()

	if got := t.watch.pageLoads(); got != loads {
		tb.Errorf("%s: page loads = %d, want %d (the page reloaded)", t.name, got, loads)
	}
}

// waitComposerEmpty waits until htmx has swapped in a fresh, empty composer and has
// processed it. htmx wires swapped content up only when it settles (20 ms later, while
// the new form still has the class htmx-added): an Enter before that would post the
// form natively and reload the page.
func (t *tab) waitComposerEmpty(tb testing.TB) {
	tb.Helper()

	t.waitFor(tb, stepTimeout, "an empty composer after the post", func() (bool, string) {
		state := evalJS[string](tb, t, `(() => {
			const form = document.querySelector('#composer');
			const input = document.querySelector('#text');
			if (!form || !input) return 'missing';
			const error = document.querySelector('#text-error');
			if (error) return 'error: ' + error.textContent;
			if (form.classList.contains('htmx-added')) return 'not settled';
			return input.value;
		})()`)
		return state == "", fmt.Sprintf("composer %q", state)
	})
}

// nickname returns the name the page says the person is signed in as.
func (t *tab) nickname(tb testing.TB) string {
	tb.Helper()
	return evalJS[string](tb, t, `document.querySelector('#me')?.textContent ?? ''`)
}

// online returns the names in the online list.
func (t *tab) online(tb testing.TB) []string {
	tb.Helper()
	return evalJS[[]string](tb, t,
		`Array.from(document.querySelectorAll('#online li'), li => li.textContent.trim())`)
}

// messageIDs returns the element ids of the stored messages in #log, in page order.
func (t *tab) messageIDs(tb testing.TB) []string {
	tb.Helper()
	return evalJS[[]string](tb, t,
		`Array.from(document.querySelectorAll('#log li[id^="m-"]'), li => li.id)`)
}

// checkOnceInOrder fails unless ids are message element ids ("m-<store id>") with
// store ids that only grow: every message once, in order.
func checkOnceInOrder(tb testing.TB, who string, ids []string) {
	tb.Helper()

	var prev int64
	for i, id := range ids {
		var n int64
		if _, err := fmt.Sscanf(id, "m-%d", &n); err != nil {
			tb.Errorf("%s: message %d has id %q, want m-<number>", who, i, id)
			continue
		}
		if n <= prev {
			tb.Errorf("%s: message ids %v: m-%d after m-%d, want each once, increasing",
				who, ids, n, prev)
		}
		prev = n
	}
}

// textMessage is a room message as the page shows it.
type textMessage struct {
	ID   string `json:"id"`
	Nick string `json:"nick"`
	Body string `json:"body"`
}

// textMessages returns the text messages in #log, in page order.
func (t *tab) textMessages(tb testing.TB) []textMessage {
	tb.Helper()
	return evalJS[[]textMessage](tb, t, `Array.from(
		document.querySelectorAll('#log li.msg-text'), li => ({
			id: li.id,
			nick: li.querySelector('.nick')?.textContent ?? '',
			body: li.querySelector('.body')?.textContent ?? '',
		}))`)
}

// notices returns the text of the private lines in #log.
func (t *tab) notices(tb testing.TB) []string {
	tb.Helper()
	return evalJS[[]string](tb, t,
		`Array.from(document.querySelectorAll('#log .notice'), n => n.textContent.trim())`)
}

// waitMessage waits until a text message with body from nick is in the log.
func (t *tab) waitMessage(tb testing.TB, timeout time.Duration, nick, body string) {
	tb.Helper()

	t.waitFor(tb, timeout, fmt.Sprintf("a message %q from %s", body, nick),
		func() (bool, string) {
			messages := t.textMessages(tb)
			want := textMessage{Nick: nick, Body: body}
			for _, m := range messages {
				if m.Nick == want.Nick && m.Body == want.Body {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d text messages, last %v", len(messages), last(messages))
		})
}

// watcher records, for one tab, what its console said, the pages it loaded and the
// life of each of its event streams, from the DevTools events of the tab.
type watcher struct {
	mu       sync.Mutex
	problems []string // console errors, exceptions, CSP violations
	expected []string // substrings of console errors that the test caused
	requests []string // "METHOD path" of every request the page made
	pages    int      // documents loaded: the first load and every reload
	streams  []*streamRecord
	byID     map[network.RequestID]*streamRecord
	lastIDs  map[network.RequestID]string // Last-Event-ID headers, as sent on the wire

	documents []*documentRecord // page loads and form posts, redirects included
	docByID   map[network.RequestID]*documentRecord
}

// documentRecord is one request for a whole page, as the browser saw it: a load or a
// plain form post. A redirect ends one record and starts the next.
type documentRecord struct {
	method string
	path   string
	status int64 // 0 while no answer came
}

func (d documentRecord) String() string {
	return fmt.Sprintf("%s %s %d", d.method, d.path, d.status)
}

// streamRecord is one GET /events request as the browser saw it.
type streamRecord struct {
	requestID   network.RequestID
	lastEventID string // the Last-Event-ID header it sent, "" for none
	status      int64
	protocol    string // of the answer, as Chromium names it: "http/1.1", "h2"
	open        bool
	events      []string // names of the events it delivered, in order
	data        []string // the data of each event, in the same order
	failure     string   // why it ended, if it failed
}

func (s streamRecord) received(name string) bool {
	return slices.Contains(s.events, name)
}

func (s streamRecord) String() string {
	return fmt.Sprintf("{Last-Event-ID %q, status %d, open %v, events %v, failure %q}",
		s.lastEventID, s.status, s.open, s.events, s.failure)
}

// missingFavicon is the console error of every page load while the app has no
// favicon; see TestPagesLogNoConsoleErrors, the one test that does not ignore it.
const missingFavicon = "/favicon.ico"

func newWatcher() *watcher {
	return &watcher{
		expected: []string{missingFavicon},
		byID:     make(map[network.RequestID]*streamRecord),
		lastIDs:  make(map[network.RequestID]string),
		docByID:  make(map[network.RequestID]*documentRecord),
	}
}

// expect allows console errors that contain one of substrings: a test that cuts the
// network expects the page to complain about it. CSP violations and exceptions are
// never allowed.
func (w *watcher) expect(substrings ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expected = append(w.expected, substrings...)
}

// expectStreamErrors allows what a page logs when its stream breaks: the failed
// GET /events, and the htmx:sseError event that htmx logs as console.error.
func (w *watcher) expectStreamErrors() {
	w.expect("/events)", `console.error("[object Event]")`)
}

// strict makes every console error count, even the known favicon one.
func (w *watcher) strict() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expected = nil
}

// takeProblems returns the console problems so far and forgets them.
func (w *watcher) takeProblems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()

	problems := w.problems
	w.problems = nil
	return problems
}

// streamsSnapshot returns a copy of the streams seen so far, oldest first.
func (w *watcher) streamsSnapshot() []streamRecord {
	w.mu.Lock()
	defer w.mu.Unlock()

	out := make([]streamRecord, len(w.streams))
	for i, s := range w.streams {
		out[i] = *s
		out[i].events = append([]string(nil), s.events...)
		out[i].data = append([]string(nil), s.data...)
		out[i].lastEventID = w.lastIDs[s.requestID]
	}
	return out
}

// openStreams returns how many GET /events requests are in flight.
func (w *watcher) openStreams() int {
	n := 0
	for _, s := range w.streamsSnapshot() {
		if s.open {
			n++
		}
	}
	return n
}

// pageLoads returns how many documents the tab loaded.
func (w *watcher) pageLoads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pages
}

// documentsSnapshot returns the page loads and form posts so far, oldest first.
func (w *watcher) documentsSnapshot() []documentRecord {
	w.mu.Lock()
	defer w.mu.Unlock()

	out := make([]documentRecord, len(w.documents))
	for i, d := range w.documents {
		out[i] = *d
	}
	return out
}

// requested returns the requests that the page made to path.
func (w *watcher) requested(path string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()

	var out []string
	for _, r := range w.requests {
		if strings.HasSuffix(r, " "+path) {
			out = append(out, r)
		}
	}
	return out
}

// check fails the test for every console problem that the test did not expect.
func (w *watcher) check(tb testing.TB, name string) {
	tb.Helper()

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		if !isViolation(p) && containsAny(p, w.expected) {
			continue
		}
		tb.Errorf("%s: browser console: got %s, want no errors or CSP violations", name, p)
	}
}

// isViolation reports a message that no test may cause: the page broke its CSP or
// threw.
func isViolation(problem string) bool {
	return strings.HasPrefix(problem, "exception") || strings.HasPrefix(problem, "security") ||
		containsAny(problem, []string{"Content Security Policy", "Refused to"})
}

// handle receives every DevTools event of the tab, in order, on the tab's reading
// goroutine: it must be quick and must not call the browser.
func (w *watcher) handle(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()

	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		w.requestSent(ev)
	case *network.EventRequestWillBeSentExtraInfo:
		// The raw headers, with those that Chromium adds below the page, such as
		// EventSource's Last-Event-ID. They may come before or after the request.
		for k, v := range ev.Headers {
			if strings.EqualFold(k, "Last-Event-ID") {
				w.lastIDs[ev.RequestID] = fmt.Sprint(v)
			}
		}
	case *network.EventResponseReceived:
		if s := w.byID[ev.RequestID]; s != nil {
			s.status = ev.Response.Status
			s.protocol = ev.Response.Protocol
		}
		if d := w.docByID[ev.RequestID]; d != nil {
			d.status = ev.Response.Status
		}
	case *network.EventEventSourceMessageReceived:
		if s := w.byID[ev.RequestID]; s != nil {
			s.events = append(s.events, ev.EventName)
			s.data = append(s.data, ev.Data)
		}
	case *network.EventLoadingFinished:
		if s := w.byID[ev.RequestID]; s != nil {
			s.open = false
		}
	case *network.EventLoadingFailed:
		if s := w.byID[ev.RequestID]; s != nil {
			s.open, s.failure = false, ev.ErrorText
		}
	default:
		w.consoleEvent(ev)
	}
}

func (w *watcher) requestSent(ev *network.EventRequestWillBeSent) {
	path := ev.Request.URL
	if u, err := url.Parse(path); err == nil {
		path = u.Path
	}
	w.requests = append(w.requests, ev.Request.Method+" "+path)

	switch {
	case ev.Type == network.ResourceTypeDocument:
		w.pages++
		// A redirect keeps the request id: the redirect's answer ends the last record.
		if d := w.docByID[ev.RequestID]; d != nil && ev.RedirectResponse != nil {
			d.status = ev.RedirectResponse.Status
		}
		d := &documentRecord{method: ev.Request.Method, path: path}
		w.documents = append(w.documents, d)
		w.docByID[ev.RequestID] = d
	case ev.Type == network.ResourceTypeEventSource && path == "/events":
		s := &streamRecord{requestID: ev.RequestID, open: true}
		w.streams = append(w.streams, s)
		w.byID[ev.RequestID] = s
	}
}

// consoleEvent records console errors and warnings, uncaught exceptions, and the
// browser's own log entries, where CSP violations ("security") and failed loads
// ("network") appear.
func (w *watcher) consoleEvent(ev any) {
	switch ev := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		w.problems = append(w.problems, "exception: "+exceptionText(ev))
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == "error" || ev.Type == "warning" || ev.Type == "assert" {
			w.problems = append(w.problems,
				fmt.Sprintf("console.%s(%s)", ev.Type, consoleArgs(ev)))
		}
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level == "error" || e.Level == "warning" || isViolation(e.Text) {
			w.problems = append(w.problems,
				fmt.Sprintf("%s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
		}
	}
}

func containsAny(s string, substrings []string) bool {
	for _, sub := range substrings {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func last[T any](list []T) any {
	if len(list) == 0 {
		return "none"
	}
	return list[len(list)-1]
}

// exceptionText describes an uncaught exception: its message and where it was thrown.
func exceptionText(ev *cdpruntime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s at %s:%d", text, d.URL, d.LineNumber+1)
}

// consoleArgs joins the arguments of a console call as the console would show them.
func consoleArgs(ev *cdpruntime.EventConsoleAPICalled) string {
	parts := make([]string, 0, len(ev.Args))
	for _, arg := range ev.Args {
		switch {
		case arg.Value != nil:
			parts = append(parts, string(arg.Value))
		case arg.Description != "":
			parts = append(parts, arg.Description)
		default:
			parts = append(parts, string(arg.Type))
		}
	}
	return strings.Join(parts, ", ")
}
