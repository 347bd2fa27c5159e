package e2e

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// deliveryTimeout is how long a broadcast may take to show in every open page.
const deliveryTimeout = 2 * time.Second

// TestChatEndToEnd is the chat as two people use it: a post reaches both pages, a swear
// word stays private to its author's tabs, and markup in a nickname or a message is
// only ever text.
func TestChatEndToEnd(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newUser(t, srv.URL(), "Alice")
	bob := newUser(t, srv.URL(), "Bob")
	waitSameLog(t, alice, bob)

	// A post through the form reaches both pages, under its author's name, and the
	// author gets an empty composer back.
	alice.post(t, "Hello Bob, the room works!")
	for _, reader := range []*tab{alice, bob} {
		reader.waitMessage(t, deliveryTimeout, "Alice", "Hello Bob, the room works!")
	}
	bob.postWithButton(t, "Hi @Alice, I see it live.")
	for _, reader := range []*tab{alice, bob} {
		reader.waitMessage(t, deliveryTimeout, "Bob", "Hi @Alice, I see it live.")
	}
	saveScreenshot(t, alice)

	checkSwearStaysPrivate(t, alice, bob)
	checkMarkupNicknameRefused(t, srv.URL())
	checkMarkupMessagesAreText(t, alice, bob)
}

// checkSwearStaysPrivate posts a swear word from alice: every tab of hers gets a
// notice, and bob sees neither the message nor the notice.
func checkSwearStaysPrivate(t *testing.T, alice, bob *tab) {
	t.Helper()

	// A second tab of the same browser context shares the cookie: the same session.
	alice2 := alice.newTab(t, "Alice (tab 2)")
	alice2.waitConnected(t, 0)
	waitSameLog(t, alice, alice2, bob)
	bobBefore := bob.messageIDs(t)

	alice.post(t, "this is shit")
	for _, page := range []*tab{alice, alice2} {
		page.waitFor(t, deliveryTimeout, "a notice not to swear", func() (bool, string) {
			notices := page.notices(t)
			for _, n := range notices {
				if strings.Contains(n, "swear") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("notices %q", notices)
		})
	}

	// One stream delivers in order, so once bob has a message posted after the swear
	// word, he would have had the swear word or its notice before it.
	after := "(that one was not for everyone)"
	alice.post(t, after)
	bob.waitMessage(t, deliveryTimeout, "Alice", after)
	bobAfter := bob.messageIDs(t)
	if got, want := len(bobAfter), len(bobBefore)+1; got != want {
		t.Errorf("Bob's log after the swear word and one message = %v, want %v and one more",
			bobAfter, bobBefore)
	}
	if notices := bob.notices(t); len(notices) != 0 {
		t.Errorf("Bob's notices = %q, want none", notices)
	}
	for _, m := range bob.textMessages(t) {
		if strings.Contains(m.Body, "shit") {
			t.Errorf("Bob's log has %+v, want no swear word", m)
		}
	}
}

// checkMarkupNicknameRefused logs in with nicknames that are markup: the form refuses
// them, shows the error, keeps what was typed as text and creates no element from it.
func checkMarkupNicknameRefused(t *testing.T, base string) {
	t.Helper()

	visitor := openBrowserContext(t, base, "visitor")
	// htmx swaps the 422 answer in, and Chromium logs the status as an error.
	visitor.watch.expect("status of 422")

	for i, nickname := range []string{"<i>Eve</i>", "<img src=x onerror=alert(1)>"} {
		// Each nickname from a fresh form. (chromedp v0.23.1 cannot empty a field:
		// SetValue with "" sets it to "undefined", and Clear only resets the
		// attribute.)
		if i > 0 {
			visitor.do(t, "reload the login page", chromedp.Navigate(base+"/"))
		}
		loads := visitor.watch.pageLoads()
		visitor.do(t, "type a nickname",
			chromedp.SendKeys(chromedp.ID("nickname"), nickname+"\n"))
		visitor.waitFor(t, stepTimeout, "an error for nickname "+nickname, func() (bool, string) {
			value := evalJS[string](t, visitor, `document.querySelector('#nickname-error')
				? document.querySelector('#nickname').value : ''`)
			return value == nickname, fmt.Sprintf("#nickname = %q with an error shown", value)
		})
		// htmx swapped the refusal into the page: no page load.
		visitor.checkNoReload(t, loads)

		problem := evalJS[string](t, visitor,
			`document.querySelector('#nickname-error').textContent`)
		if problem == "" {
			t.Errorf("#nickname-error for %q is empty, want why it is refused", nickname)
		}
		elements := evalJS[int](t, visitor,
			`document.querySelectorAll('body i, body img, #login-form [onerror]').length`)
		if elements != 0 {
			t.Errorf("nickname %q: %d i, img or onerror elements in the page, want 0",
				nickname, elements)
		}
		if me := visitor.nickname(t); me != "" {
			t.Errorf("nickname %q: signed in as %q, want the login form still", nickname, me)
		}
	}
}

// checkMarkupMessagesAreText posts messages that are markup, and checks they show as
// their literal text in the live log, in a freshly loaded page, and make no element;
// and that htmx obeyed none of their hx-* attributes.
func checkMarkupMessagesAreText(t *testing.T, alice, bob *tab) {
	t.Helper()

	hostile := []string{
		`<img src=x onerror=alert(1)>`,
		`<div hx-get="/logout" hx-trigger="load">x</div>`,
		`"><script>alert(1)</script>`,
	}
	for _, text := range hostile {
		bob.post(t, text)
	}

	// A new tab renders the same messages from the server's page and history event.
	bob2 := bob.newTab(t, "Bob (tab 2)")
	bob2.waitConnected(t, 0)
	for _, reader := range []*tab{alice, bob, bob2} {
		for _, text := range hostile {
			reader.waitMessage(t, deliveryTimeout, "Bob", text)
		}
		checkNoActiveMarkup(t, reader)
	}

	// htmx wires swapped content up when it settles, 20 ms after the swap; a second
	// leaves a load trigger ample time to fire, had it been made an element.
	time.Sleep(time.Second)
	for _, reader := range []*tab{alice, bob, bob2} {
		if got := reader.watch.requested("/logout"); len(got) != 0 {
			t.Errorf("%s requested %v, want no request to /logout", reader.name, got)
		}
	}
	if me := bob.nickname(t); me != "Bob" {
		t.Errorf("Bob's page: signed in as %q, want Bob still", me)
	}
	bob.post(t, "still here")
	alice.waitMessage(t, deliveryTimeout, "Bob", "still here")
}

// checkNoActiveMarkup fails if #log holds an element that came from user text: an img
// or a script, or any element with an hx-* or on* attribute.
func checkNoActiveMarkup(t *testing.T, reader *tab) {
	t.Helper()

	active := evalJS[[]string](t, reader, `Array.from(document.querySelectorAll('#log *'))
		.filter(el => el.matches('img, script, iframe, object') ||
			el.getAttributeNames().some(a => a.startsWith('hx-') ||
				a.startsWith('data-hx-') || a.startsWith('on')))
		.map(el => el.outerHTML)`)
	if len(active) != 0 {
		t.Errorf("%s: #log has elements made from user text: %q, want none",
			reader.name, active)
	}
}

// saveScreenshot takes a screenshot of the room at 1100x700: into the test's temp
// folder always, to prove it works, and into docs/screenshot.png when
// UPDATE_SCREENSHOTS=1, so that CI never dirties the work tree.
func saveScreenshot(t *testing.T, reader *tab) {
	t.Helper()

	reader.do(t, "set the viewport", chromedp.EmulateViewport(1100, 700))
	ctx, cancel := reader.stepContext()
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: capture a screenshot: %v", reader.name, err)
	}

	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	if got := img.Bounds().Size(); got.X != 1100 || got.Y != 700 {
		t.Errorf("screenshot size = %v, want 1100x700", got)
	}

	paths := []string{filepath.Join(t.TempDir(), "screenshot.png")}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		paths = append(paths, filepath.Join("..", "docs", "screenshot.png"))
	}
	for _, path := range paths {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatalf("save the screenshot: %v", err)
		}
	}
}

// waitSameLog waits until every tab shows the same stored messages, each once and in
// order, so that a check starts from a settled room; it returns their ids.
func waitSameLog(tb testing.TB, tabs ...*tab) []string {
	tb.Helper()
	return waitSameLogWithin(tb, stepTimeout, tabs...)
}
