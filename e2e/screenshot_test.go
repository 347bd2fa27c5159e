package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestScreenshots draws a room with a mention, a link, an action and a private line
// on a phone and in dark mode, checks that neither layout is broken, and saves the
// pictures: into the test's temp folder always, and into docs/ with
// UPDATE_SCREENSHOTS=1.
//
// Both views are tabs of Alice's, open before the messages are posted, because a
// private line is never in the history: a page loaded later would not have it.
func TestScreenshots(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newUser(t, srv.URL(), "Alice")
	bob := newUser(t, srv.URL(), "Bob")

	phone := openEmulatedTab(t, alice, "Alice (phone)",
		chromedp.EmulateViewport(390, 844,
			chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	dark := openEmulatedTab(t, alice, "Alice (dark)",
		chromedp.EmulateViewport(1100, 700), emulateDarkMode())

	bob.post(t, "Morning! Has anyone read the release notes yet?")
	alice.post(t, "Yes, they are at https://go.dev/doc/devel/release")
	bob.post(t, "Thanks @alice, reading them now.")
	bob.post(t, "/me puts the kettle on")
	alice.post(t, "/msg Bob Lunch at noon? Don't tell the others.")
	for _, page := range []*tab{phone, dark} {
		page.waitMessage(t, deliveryTimeout, "Bob", "Thanks @alice, reading them now.")
		page.waitFor(t, deliveryTimeout, "the private line", func() (bool, string) {
			lines := page.privateLines(t)
			return len(lines) == 1, fmt.Sprintf("private lines %+v", lines)
		})
	}
	waitSameLog(t, alice, phone, dark, bob)

	checkPhoneLayout(t, phone)
	checkDarkMode(t, dark)
	saveScreenshotAs(t, phone, "screenshot-phone.png", 390, 844)
	saveScreenshotAs(t, dark, "screenshot-dark.png", 1100, 700)
}

// emulateDarkMode makes the tab report prefers-color-scheme: dark.
func emulateDarkMode() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, emulation.SetEmulatedMedia,
			emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: "dark"},
			}})
		return err
	})
}

// openEmulatedTab opens a tab of owner's browser context (the same session), sets up
// the emulation before its first load, so that the page starts the way a phone or a
// dark desktop would load it, and waits for its stream.
func openEmulatedTab(tb testing.TB, owner *tab, name string,
	setup ...chromedp.Action[chromedp.Void]) *tab {
	tb.Helper()

	t := openBlankTab(tb, owner.ctx, owner.base, name)
	t.do(tb, "set up the emulation", setup...)
	t.do(tb, "load the room", chromedp.Navigate(owner.base+"/"))
	t.waitConnected(tb, 0)
	return t
}

// pageLayout is what the phone check measures.
type pageLayout struct {
	InnerWidth     int      `json:"innerWidth"`
	ScrollWidth    int      `json:"scrollWidth"`
	ComposerBottom float64  `json:"composerBottom"`
	InnerHeight    int      `json:"innerHeight"`
	OnlineTop      float64  `json:"onlineTop"` // where the online list is
	LogTop         float64  `json:"logTop"`
	WideElements   []string `json:"wideElements"` // elements wider than the viewport
}

// checkPhoneLayout fails if the page scrolls sideways at phone width, or if the
// composer is not on screen without scrolling.
func checkPhoneLayout(t *testing.T, phone *tab) {
	t.Helper()

	l := evalJS[pageLayout](t, phone, `(() => {
		const composer = document.querySelector('#composer').getBoundingClientRect();
		return {
			innerWidth: innerWidth,
			scrollWidth: document.documentElement.scrollWidth,
			composerBottom: composer.bottom,
			innerHeight: innerHeight,
			onlineTop: document.querySelector('#online').getBoundingClientRect().top,
			logTop: document.querySelector('#log').getBoundingClientRect().top,
			wideElements: Array.from(document.querySelectorAll('body *'))
				.filter(el => el.getBoundingClientRect().right > innerWidth + 0.5 &&
					!el.matches('.skip-link, .skip-link *, .visually-hidden'))
				.map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')),
		};
	})()`)
	t.Logf("phone layout: %+v", l)
	if l.InnerWidth != 390 {
		t.Errorf("innerWidth = %d at phone width, want 390", l.InnerWidth)
	}
	if l.ScrollWidth > l.InnerWidth || len(l.WideElements) != 0 {
		t.Errorf("at phone width the page is %d px wide in a %d px viewport, elements "+
			"past the edge %q: want no sideways scrolling", l.ScrollWidth, l.InnerWidth,
			l.WideElements)
	}
	if l.ComposerBottom > float64(l.InnerHeight) {
		t.Errorf("the composer ends at %v px, below the %d px screen: want it on screen",
			l.ComposerBottom, l.InnerHeight)
	}
	if l.OnlineTop > l.LogTop {
		t.Errorf("the online list is at %v px, under the log at %v px: want it above "+
			"on a phone", l.OnlineTop, l.LogTop)
	}
}

// checkDarkMode fails unless the page uses its dark colours: a dark background, light
// text, and a mention highlight that differs from a plain line.
func checkDarkMode(t *testing.T, dark *tab) {
	t.Helper()

	colors := evalJS[map[string]string](t, dark, `({
		background: getComputedStyle(document.body).backgroundColor,
		text: getComputedStyle(document.body).color,
	})`)
	t.Logf("dark mode colours: %v", colors)
	if colors["background"] != "rgb(21, 22, 26)" || colors["text"] != "rgb(230, 231, 235)" {
		t.Errorf("dark mode: body background %s and text %s, want rgb(21, 22, 26) "+
			"and rgb(230, 231, 235) from chat.css", colors["background"], colors["text"])
	}
	mention := dark.background(t, "Thanks @alice, reading them now.")
	plain := dark.background(t, "Morning! Has anyone read the release notes yet?")
	if mention == plain {
		t.Errorf("dark mode: the mention of Alice has the background %s of a plain "+
			"line, want it highlighted", mention)
	}
}

// saveScreenshotAs captures the tab's viewport, checks the picture decodes with the
// size the emulation asked for, and writes it to the test's temp folder and, with
// UPDATE_SCREENSHOTS=1, to docs/name.
func saveScreenshotAs(t *testing.T, page *tab, name string, width, height int) {
	t.Helper()

	ctx, cancel := page.stepContext()
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: capture a screenshot: %v", page.name, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s: decode the screenshot: %v", page.name, err)
	}
	if got := img.Bounds().Size(); got.X != width || got.Y != height {
		t.Errorf("%s: screenshot size %v, want %dx%d", page.name, got, width, height)
	}

	paths := []string{filepath.Join(t.TempDir(), name)}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		paths = append(paths, filepath.Join("..", "docs", name))
	}
	for _, path := range paths {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatalf("save the screenshot: %v", err)
		}
	}
	t.Logf("%s: saved %v", page.name, paths)
}
