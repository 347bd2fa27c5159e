package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestKeyboardAndAccessibility uses the room with the keyboard only: the log is
// announced politely to screen readers; Tab from the top of the page goes to the
// skip link, then Log out, then on to the composer, each with a visible focus ring;
// the skip link moves focus to the composer, and Enter there posts and leaves focus
// in the new, empty composer.
func TestKeyboardAndAccessibility(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	bob := newUser(t, srv.URL(), "Bob")
	bob.post(t, "The notes are at https://go.dev/doc/ for anyone.")
	alice := newUser(t, srv.URL(), "Alice")
	alice.waitMessage(t, deliveryTimeout, "Bob", "The notes are at https://go.dev/doc/ for anyone.")

	role := evalJS[string](t, alice, `document.querySelector('#log').getAttribute('role')`)
	live := evalJS[string](t, alice, `document.querySelector('#log').getAttribute('aria-live')`)
	if role != "log" || live != "polite" {
		t.Errorf(`#log has role=%q aria-live=%q, want role="log" aria-live="polite"`,
			role, live)
	}

	// The composer has autofocus, so the page opens with focus in it. Tab walks on
	// from there, out of the page (to the browser's own controls, the body in headless
	// Chromium) and back in at the top: the order from that point is the one a
	// keyboard user meets on every visit.
	if got := alice.focused(t); got.Desc != "input#text" {
		t.Errorf("focus after the page loaded: %s, want the composer (autofocus)", got.Desc)
	}
	var order []focusState
	for len(order) == 0 || order[len(order)-1].Desc != "input#text" {
		if len(order) > 20 {
			t.Fatalf("20 presses of Tab never came back to the composer: %v", order)
		}
		alice.do(t, "press Tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, alice.focused(t))
	}
	top := -1
	for i, f := range order {
		if f.Desc == "body" {
			top = i
		}
	}
	if top < 0 {
		t.Fatalf("Tab order %v: focus never left the page, want it to wrap to the top", order)
	}
	fromTop := order[top+1:]
	t.Logf("Tab order from the top: %v", fromTop)
	if len(fromTop) < 3 || fromTop[0].Desc != "a.skip-link" ||
		!strings.HasPrefix(fromTop[1].Desc, "button") || fromTop[1].Text != "Log out" {
		t.Errorf("Tab order from the top %v: want the skip link, Log out, …, the composer",
			fromTop)
	}
	for _, f := range order {
		if f.Desc == "body" {
			continue
		}
		if f.Outline == "none" || f.OutlineWidth == "0px" {
			t.Errorf("%s has focus with outline %s %s, want a visible focus ring",
				f, f.Outline, f.OutlineWidth)
		}
		if !f.OnScreen {
			t.Errorf("%s has focus off screen, want it visible", f)
		}
	}

	// The skip link, reached from the top, jumps to the composer.
	for range len(order) {
		alice.do(t, "press Tab", chromedp.KeyEvent(kb.Tab))
		if alice.focused(t).Desc == "a.skip-link" {
			break
		}
	}
	alice.do(t, "press Enter on the skip link", chromedp.KeyEvent(kb.Enter))
	if got := alice.focused(t); got.Desc != "input#text" {
		t.Errorf("focus after the skip link: %s, want the composer", got)
	}

	// Typing and Enter post; htmx swaps in a new composer and keeps focus in it, so
	// the next message can be typed straight away.
	loads := alice.watch.pageLoads()
	alice.do(t, "type and press Enter", chromedp.KeyEvent("Typed with the keyboard only\r"))
	alice.waitComposerEmpty(t)
	alice.checkNoReload(t, loads)
	bob.waitMessage(t, deliveryTimeout, "Alice", "Typed with the keyboard only")
	if got := alice.focused(t); got.Desc != "input#text" {
		t.Errorf("focus after posting: %s, want still the composer", got)
	}
}

// focusState describes the focused element and how it is drawn.
type focusState struct {
	Desc         string `json:"desc"` // tag#id or tag.class
	Text         string `json:"text"`
	Outline      string `json:"outline"` // computed outline-style
	OutlineWidth string `json:"outlineWidth"`
	OnScreen     bool   `json:"onScreen"`
}

func (f focusState) String() string {
	if f.Text != "" {
		return fmt.Sprintf("%s %q", f.Desc, f.Text)
	}
	return f.Desc
}

// focused returns the element that has focus.
func (t *tab) focused(tb testing.TB) focusState {
	tb.Helper()

	f := evalJS[focusState](tb, t, `(() => {
		const el = document.activeElement ?? document.body;
		const style = getComputedStyle(el);
		const box = el.getBoundingClientRect();
		let desc = el.tagName.toLowerCase();
		if (el.id) desc += '#' + el.id;
		else if (el.classList.length) desc += '.' + el.classList[0];
		return {
			desc: desc,
			text: el.matches('a, button') ? el.textContent.trim() : '',
			outline: style.outlineStyle,
			outlineWidth: style.outlineWidth,
			onScreen: box.width > 0 && box.right > 0 && box.bottom > 0 &&
				box.left < innerWidth && box.top < innerHeight,
		};
	})()`)
	f.Text = strings.Join(strings.Fields(f.Text), " ")
	return f
}
