package e2e

import (
	"strings"
	"testing"
)

// TestConsoleWatcherSeesCSPViolations proves that the console check of every other
// test is not vacuous: the test itself breaks the page's CSP, as an inline style or a
// data: image in swapped content would, and the watcher must report both.
func TestConsoleWatcherSeesCSPViolations(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	visitor := openBrowserContext(t, srv.URL(), "visitor")

	evalJS[bool](t, visitor, `(() => {
		const style = document.createElement('style');
		style.textContent = 'body { color: red }';
		document.head.append(style);
		const img = document.createElement('img');
		img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
		document.body.append(img);
		return true;
	})()`)

	var problems []string
	visitor.waitFor(t, stepTimeout, "two CSP violations reported", func() (bool, string) {
		for _, p := range visitor.watch.takeProblems() {
			if isViolation(p) {
				problems = append(problems, p)
			}
		}
		return len(problems) >= 2, strings.Join(problems, "; ")
	})
	for _, directive := range []string{"style-src", "img-src"} {
		if !strings.Contains(strings.Join(problems, "\n"), directive) {
			t.Errorf("CSP violations %q: want one of %s", problems, directive)
		}
	}
}

// TestPagesLogNoConsoleErrors loads the login page and the room and lets nothing pass:
// not even the browser's automatic request for /favicon.ico, which the other tests
// ignore so that they test what they are about.
func TestPagesLogNoConsoleErrors(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	visitor := openBrowserContext(t, srv.URL(), "visitor")
	visitor.watch.strict()

	visitor.login(t, "Carol")
	visitor.waitConnected(t, 0)
	visitor.post(t, "Nothing to see in the console.")
	visitor.waitMessage(t, deliveryTimeout, "Carol", "Nothing to see in the console.")
}
