package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestWithoutJavaScript uses the chat in a browser with JavaScript turned off, as the
// README promises it works: a refused nickname shows its error in the page (422),
// the login and every post are plain form posts answered with a redirect (303), and
// the room page shows the history, with what others posted before and the person's
// own message after the redirect. Others see that message live.
func TestWithoutJavaScript(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	bob := newUser(t, srv.URL(), "Bob")
	bob.post(t, "Posted before Nora came.")

	nora := openNoScriptContext(t, srv.URL(), "Nora (no JavaScript)")
	// Chromium logs the 422 page as a failed load.
	nora.watch.expect("status of 422")

	nora.do(t, "type a refused nickname",
		chromedp.SendKeys(chromedp.ID("nickname"), "Nora!\n"))
	nora.waitFor(t, stepTimeout, "the refusal page", func() (bool, string) {
		state, err := tryEvalJS[string](nora, `(() => {
			const error = document.querySelector('#nickname-error');
			return error ? document.querySelector('#nickname').value + ': ' +
				error.textContent : '';
		})()`)
		return err == nil && state != "", fmt.Sprintf("%q (%v)", state, err)
	})
	if value := evalJS[string](t, nora, `document.querySelector('#nickname').value`); value !=
		"Nora!" {
		t.Errorf("the refused nickname field holds %q, want %q kept", value, "Nora!")
	}
	if docs := nora.watch.documentsSnapshot(); !hasDocument(docs, "POST", "/login", 422) {
		t.Errorf("page loads %v: want POST /login answered 422", docs)
	}

	// A fresh form, since chromedp cannot empty a field (see chat_test.go).
	nora.do(t, "load the login page", chromedp.Navigate(srv.URL()+"/"))
	nora.do(t, "type a nickname", chromedp.SendKeys(chromedp.ID("nickname"), "Nora\n"))
	nora.waitFor(t, stepTimeout, "the room page with #me = Nora", func() (bool, string) {
		me, err := tryEvalJS[string](nora, `document.querySelector('#me')?.textContent ?? ''`)
		return err == nil && me == "Nora", fmt.Sprintf("#me = %q (%v)", me, err)
	})
	nora.checkDocuments(t, "POST", "/login")
	nora.waitMessage(t, stepTimeout, "Bob", "Posted before Nora came.")

	text := "Hello from a browser without JavaScript."
	nora.do(t, "post through the form", chromedp.SendKeys(chromedp.ID("text"), text+"\n"))
	nora.waitFor(t, stepTimeout, "the room page with the message", func() (bool, string) {
		messages, err := tryEvalJS[[]textMessage](nora, `Array.from(
			document.querySelectorAll('#log li.msg-text'), li => ({
				nick: li.querySelector('.nick')?.textContent ?? '',
				body: li.querySelector('.body')?.textContent ?? '',
			}))`)
		found := slices.Contains(messages, textMessage{Nick: "Nora", Body: text})
		return err == nil && found, fmt.Sprintf("messages %v (%v)", messages, err)
	})
	nora.checkDocuments(t, "POST", "/messages")
	bob.waitMessage(t, deliveryTimeout, "Nora", text)

	// The checks above mean something only if no script ran: htmx never loaded, and
	// nothing opened a stream.
	if loaded := evalJS[bool](t, nora, `typeof htmx !== 'undefined'`); loaded {
		t.Errorf("htmx is loaded in the page, want JavaScript off")
	}
	if got := nora.watch.requested("/events"); len(got) != 0 {
		t.Errorf("the page requested %v, want no stream without JavaScript", got)
	}
}

// openNoScriptContext opens a new isolated browser context with JavaScript turned off
// in its tab, as a person who disabled it would have, and loads the home page.
func openNoScriptContext(tb testing.TB, base, name string) *tab {
	tb.Helper()

	t := openBlankTab(tb, requireBrowser(tb), base, name, chromedp.WithNewBrowserContext())
	ctx, cancel := t.stepContext()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
		emulation.SetScriptExecutionDisabledParams{Value: true})
	if err != nil {
		tb.Fatalf("%s: turn JavaScript off: %v", name, err)
	}
	t.do(tb, "load the home page", chromedp.Navigate(base+"/"))
	return t
}

// checkDocuments fails unless the page's last form post went to path with method and
// was answered 303, and the page it led to is GET / answered 200.
func (t *tab) checkDocuments(tb testing.TB, method, path string) {
	tb.Helper()

	docs := t.watch.documentsSnapshot()
	want := []documentRecord{{method, path, 303}, {"GET", "/", 200}}
	for i := len(docs) - 2; i >= 0; i-- {
		if docs[i].method == method && docs[i].path == path {
			if !slices.Equal(docs[i:], want) {
				tb.Errorf("%s: page loads %v: want %v at the end", t.name, docs, want)
			}
			return
		}
	}
	tb.Errorf("%s: page loads %v: want %v", t.name, docs, want)
}
