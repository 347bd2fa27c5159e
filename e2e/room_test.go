package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// leaveTimeout is how long a leave may take to show: the grace period, then the usual
// delivery time.
const leaveTimeout = leaveGrace + deliveryTimeout

// TestPresence follows who is online as people come and go: a login shows at once in
// the others' online list and log; closing the last page leaves only after the grace
// period, and a logout leaves at once; a reload, quicker than the grace period, is
// neither a leave nor a join.
func TestPresence(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newUser(t, srv.URL(), "Alice")

	bob := newUser(t, srv.URL(), "Bob")
	alice.waitOnline(t, deliveryTimeout, "Alice", "Bob")
	alice.waitLine(t, deliveryTimeout, "join", "Bob")

	carol := newUser(t, srv.URL(), "Carol")
	for _, page := range []*tab{alice, bob} {
		page.waitOnline(t, deliveryTimeout, "Alice", "Bob", "Carol")
	}

	// Alice reloads: her only stream ends and a new one opens well within the grace.
	streams := len(alice.watch.streamsSnapshot())
	alice.do(t, "reload the page", chromedp.Reload())
	alice.waitConnected(t, streams)

	// Carol closes her page. Her leave is the ordering barrier for Alice's reload: a
	// leave of Alice's would have been due one grace period after her old stream
	// ended, which was before Carol's ended, and joins and leaves are written in the
	// order they happen. So once Carol's leave is in Bob's log, Alice's would be too.
	closed := time.Now()
	carol.close()
	for _, page := range []*tab{alice, bob} {
		page.waitLine(t, leaveTimeout, "leave", "Carol")
		page.waitOnline(t, deliveryTimeout, "Alice", "Bob")
	}
	if took := time.Since(closed); took < leaveGrace {
		t.Errorf("Carol's leave showed %v after she closed her page, want no sooner "+
			"than the grace period, %v", took, leaveGrace)
	}
	if joins := bob.lineNicks(t, "join"); count(joins, "Alice") != 1 {
		t.Errorf("Bob's join lines %q: want Alice once, her reload is no new join", joins)
	}
	if leaves := bob.lineNicks(t, "leave"); slices.Contains(leaves, "Alice") {
		t.Errorf("Bob's leave lines %q: want none for Alice, who only reloaded", leaves)
	}

	// Bob logs out with the button: a plain form post, answered with a redirect to the
	// login page. His session ends at once, without a grace period, and the server
	// closes his stream, which his page may report as it goes.
	bob.watch.expectStreamErrors()
	loggedOut := time.Now()
	bob.do(t, "click Log out", chromedp.Click(chromedp.CSS(".topbar form button")))
	bob.waitFor(t, stepTimeout, "the login page", func() (bool, string) {
		form, err := tryEvalJS[bool](bob, `document.querySelector('#login-form') !== null`)
		return err == nil && form, fmt.Sprintf("login form %v (%v)", form, err)
	})
	if docs := bob.watch.documentsSnapshot(); !hasDocument(docs, "POST", "/logout", 303) {
		t.Errorf("Bob's page loads %v: want POST /logout answered 303", docs)
	}
	alice.waitLine(t, leaveTimeout, "leave", "Bob")
	alice.waitOnline(t, deliveryTimeout, "Alice")
	t.Logf("Bob's leave reached Alice %v after his logout", time.Since(loggedOut))
}

// TestDirectMessage sends a private message with /msg: its sender and its recipient
// see it, marked as private, and nobody else does; a /msg to someone who is not
// online only tells its sender so.
func TestDirectMessage(t *testing.T) {
	alice, bob, carol := threePeople(t)

	alice.post(t, "/msg Bob psst secret 42")
	for _, page := range []*tab{alice, bob} {
		page.waitFor(t, deliveryTimeout, "a private line with the secret", func() (bool, string) {
			lines := page.privateLines(t)
			for _, l := range lines {
				if l.Body == "psst secret 42" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("private lines %+v", lines)
		})
		want := privateLine{Tag: "Private", From: "Alice", To: "Bob", Body: "psst secret 42"}
		if lines := page.privateLines(t); len(lines) != 1 || lines[0] != want {
			t.Errorf("%s: private lines %+v, want exactly %+v", page.name, lines, want)
		}
	}

	// A public message after the secret is the barrier: Alice's posts reach Carol in
	// order, so the secret would have come first.
	alice.post(t, "Nothing to hide here.")
	carol.waitMessage(t, deliveryTimeout, "Alice", "Nothing to hide here.")
	checkNoSecret(t, carol, "psst")

	// Not kept: a page loaded now has the room's history, but not the secret.
	bob2 := bob.newTab(t, "Bob (tab 2)")
	bob2.waitConnected(t, 0)
	bob2.waitMessage(t, deliveryTimeout, "Alice", "Nothing to hide here.")
	checkNoSecret(t, bob2, "psst")

	alice.post(t, "/msg nobody hi")
	want := "No one called nobody is online."
	alice.waitFor(t, deliveryTimeout, "a notice: "+want, func() (bool, string) {
		notices := alice.notices(t)
		return slices.Contains(notices, want), fmt.Sprintf("notices %q", notices)
	})
	alice.post(t, "Back to the room.")
	for _, page := range []*tab{alice, bob, carol} {
		page.waitMessage(t, deliveryTimeout, "Alice", "Back to the room.")
	}
	if notices := alice.notices(t); !slices.Equal(notices, []string{want}) {
		t.Errorf("Alice's notices %q, want only %q", notices, want)
	}
	if lines := alice.privateLines(t); len(lines) != 1 {
		t.Errorf("Alice's private lines %+v, want only the one to Bob", lines)
	}
	for _, page := range []*tab{bob, carol} {
		if notices := page.notices(t); len(notices) != 0 {
			t.Errorf("%s: notices %q, want none", page.name, notices)
		}
	}
}

// checkNoSecret fails if the page has a private line or any line with secret in it.
func checkNoSecret(t *testing.T, page *tab, secret string) {
	t.Helper()

	if lines := page.privateLines(t); len(lines) != 0 {
		t.Errorf("%s: private lines %+v, want none", page.name, lines)
	}
	text := evalJS[string](t, page, `document.querySelector('#log').textContent`)
	if strings.Contains(text, secret) {
		t.Errorf("%s: the log has %q in it, want it not to", page.name, secret)
	}
}

// TestMentionHighlight posts a mention of Bob: his page highlights the line, the
// others' pages do not, and the stream delivered the same bytes to all three. The
// highlight is Bob's own style sheet at work, not a difference in the fragment.
func TestMentionHighlight(t *testing.T) {
	alice, bob, carol := threePeople(t)

	carol.post(t, "A plain line.")
	alice.post(t, "hi @bob")
	pages := []*tab{alice, bob, carol}
	for _, page := range pages {
		page.waitMessage(t, deliveryTimeout, "Carol", "A plain line.")
		page.waitMessage(t, deliveryTimeout, "Alice", "hi @bob")
	}

	var frames []string
	for _, page := range pages {
		plain := page.background(t, "A plain line.")
		mention := page.background(t, "hi @bob")
		highlighted := mention != plain
		t.Logf("%s: mention line %s, plain line %s", page.name, mention, plain)
		if want := page == bob; highlighted != want {
			t.Errorf("%s: the line %q has background %s, a plain line %s: "+
				"highlighted = %v, want %v", page.name, "hi @bob", mention, plain,
				highlighted, want)
		}

		key := strings.ToLower(page.nickname(t))
		sheet := evalJS[string](t, page,
			`document.querySelector('link#mention-style')?.getAttribute('href') ?? ''`)
		if want := "/mentions.css?for=" + key; sheet != want {
			t.Errorf("%s: mention style sheet %q, want %q", page.name, sheet, want)
		}

		// The fragment only marks whom it mentions; each reader's own style sheet
		// decides whether that is them.
		frame := page.streamData(t, "message", `data-mentions="bob"`)
		if !strings.Contains(frame, ">@bob</span>") {
			t.Errorf("%s: the frame %q does not hold the text @bob", page.name, frame)
		}
		frames = append(frames, frame)
	}
	for i, frame := range frames[1:] {
		if frame != frames[0] {
			t.Errorf("%s got the frame %q, %s got %q: want the same bytes for everyone",
				pages[0].name, frames[0], pages[i+1].name, frame)
		}
	}
}

// TestFloodNotice posts six messages at once: five pass (the burst), and the sixth is
// refused in the composer, with the text kept and the wait named. Bob sees five, and
// after the named wait the kept text can be sent with Enter.
func TestFloodNotice(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newUser(t, srv.URL(), "Alice")
	bob := newUser(t, srv.URL(), "Bob")
	waitSameLog(t, alice, bob)
	// Chromium logs the refused post as a failed load.
	alice.watch.expect("status of 429")

	// The bucket refills one post every 2 s: the burst must take less than that for
	// the sixth post to be refused, which it does by far (0.15 s a post, 0.25 s on a
	// loaded machine).
	start := time.Now()
	for i := 1; i <= 5; i++ {
		alice.post(t, fmt.Sprintf("Flood %d", i))
	}
	sixth := "Flood 6, one too many"
	loads := alice.watch.pageLoads()
	alice.do(t, "type the sixth message",
		chromedp.SendKeys(chromedp.ID("text"), sixth+"\n"))
	tooFast := regexp.MustCompile(
		`^You're sending messages too fast\. You can post again in ([0-9]+) s\.$`)
	var wait time.Duration
	alice.waitFor(t, stepTimeout, "the flood error under the composer", func() (bool, string) {
		got := alice.composerState(t)
		if got == (composer{}) {
			// An empty, settled composer with no error: the sixth was taken.
			t.Fatalf("the sixth post, %v after the first, was accepted, want it refused "+
				"(a burst slower than one post per 2 s would explain it)", time.Since(start))
		}
		m := tooFast.FindStringSubmatch(got.Error)
		if m == nil || got.Settling {
			return false, fmt.Sprintf("composer %+v", got)
		}
		if got.Text != sixth || !got.Invalid {
			t.Errorf("composer after the refusal %+v, want the text %q kept and "+
				"aria-invalid", got, sixth)
		}
		var seconds int
		fmt.Sscan(m[1], &seconds)
		wait = time.Duration(seconds) * time.Second
		return true, ""
	})
	refused := time.Now()
	t.Logf("five posts took %v, then the sixth was refused for %v", refused.Sub(start), wait)
	// htmx swapped the 429 answer into the page, as it does a 422: no reload.
	alice.checkNoReload(t, loads)
	if wait < time.Second || wait > 2*time.Second {
		t.Errorf("the error names a wait of %v, want 1 or 2 s (one post every 2 s)", wait)
	}

	// Bob posts after the refusal: his own stream delivers in order, so had the sixth
	// been published, he would have it before his own message.
	bob.post(t, "Slow down, Alice.")
	bob.waitMessage(t, deliveryTimeout, "Bob", "Slow down, Alice.")
	if got := bob.bodiesFrom(t, "Alice"); len(got) != 5 {
		t.Errorf("Bob saw Alice's messages %q, want exactly the first five", got)
	}

	// After the wait the error named, the kept text goes through with Enter.
	time.Sleep(time.Until(refused.Add(wait)))
	alice.do(t, "press Enter in the kept text",
		chromedp.SendKeys(chromedp.ID("text"), "\n"))
	alice.waitComposerEmpty(t)
	bob.waitMessage(t, deliveryTimeout, "Alice", sixth)
}

// TestActionLine posts /me: the room shows an action line, "* name text", with a
// space between the name and the text, as the README shows it.
func TestActionLine(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	alice := newUser(t, srv.URL(), "Alice")

	alice.post(t, "/me waves to everyone")
	var got []string
	alice.waitFor(t, deliveryTimeout, "an action line", func() (bool, string) {
		got = evalJS[[]string](t, alice, `Array.from(
			document.querySelectorAll('#log li.msg-action .body'), b => b.textContent)`)
		return len(got) == 1, fmt.Sprintf("action lines %q", got)
	})
	if want := "* Alice waves to everyone"; got[0] != want {
		t.Errorf("action line %q, want %q", got[0], want)
	}
}

// composer is the state of the composer as the page shows it.
type composer struct {
	Text     string `json:"text"`
	Error    string `json:"error"`
	Invalid  bool   `json:"invalid"`  // aria-invalid="true" on the field
	Settling bool   `json:"settling"` // htmx has swapped it in but not yet wired it up
}

func (t *tab) composerState(tb testing.TB) composer {
	tb.Helper()
	return evalJS[composer](tb, t, `(() => {
		const input = document.querySelector('#text');
		return {
			text: input?.value ?? '',
			error: document.querySelector('#text-error')?.textContent ?? '',
			invalid: input?.getAttribute('aria-invalid') === 'true',
			settling: !!document.querySelector('#composer.htmx-added'),
		};
	})()`)
}

// waitOnline waits until the online list is exactly names, in any order.
func (t *tab) waitOnline(tb testing.TB, timeout time.Duration, names ...string) {
	tb.Helper()

	want := slices.Sorted(slices.Values(names))
	t.waitFor(tb, timeout, fmt.Sprintf("#online = %q", want), func() (bool, string) {
		got := slices.Sorted(slices.Values(t.online(tb)))
		return slices.Equal(got, want), fmt.Sprintf("#online = %q", got)
	})
}

// lineNicks returns the nicknames of the log's lines of one kind: join, leave.
func (t *tab) lineNicks(tb testing.TB, kind string) []string {
	tb.Helper()
	return evalJS[[]string](tb, t, fmt.Sprintf(`Array.from(
		document.querySelectorAll('#log li.msg-%s .nick'), n => n.textContent)`, kind))
}

// waitLine waits until the log has a line of kind for nick.
func (t *tab) waitLine(tb testing.TB, timeout time.Duration, kind, nick string) {
	tb.Helper()

	t.waitFor(tb, timeout, fmt.Sprintf("a %s line for %s", kind, nick), func() (bool, string) {
		nicks := t.lineNicks(tb, kind)
		return slices.Contains(nicks, nick), fmt.Sprintf("%s lines of %q", kind, nicks)
	})
}

// privateLine is a direct message as the log shows it.
type privateLine struct {
	Tag  string `json:"tag"`
	From string `json:"from"`
	To   string `json:"to"`
	Body string `json:"body"`
}

// privateLines returns the direct messages in the log.
func (t *tab) privateLines(tb testing.TB) []privateLine {
	tb.Helper()
	return evalJS[[]privateLine](tb, t, `Array.from(
		document.querySelectorAll('#log li.msg.private'), li => {
			const nicks = li.querySelectorAll('.meta .nick');
			return {
				tag: li.querySelector('.tag')?.textContent ?? '',
				from: nicks[0]?.textContent ?? '',
				to: nicks[1]?.textContent ?? '',
				body: li.querySelector('.body')?.textContent ?? '',
			};
		})`)
}

// bodiesFrom returns the texts of nick's messages in the log.
func (t *tab) bodiesFrom(tb testing.TB, nick string) []string {
	tb.Helper()

	var out []string
	for _, m := range t.textMessages(tb) {
		if m.Nick == nick {
			out = append(out, m.Body)
		}
	}
	return out
}

// background returns the computed background colour of the text message with body.
func (t *tab) background(tb testing.TB, body string) string {
	tb.Helper()

	color := evalJS[string](tb, t, fmt.Sprintf(`(() => {
		const li = Array.from(document.querySelectorAll('#log li.msg-text'))
			.find(li => li.querySelector('.body')?.textContent === %q);
		return li ? getComputedStyle(li).backgroundColor : '';
	})()`, body))
	if color == "" {
		tb.Fatalf("%s: no message %q in the log", t.name, body)
	}
	return color
}

// streamData returns the data of the one event called name, on any of the tab's
// streams, that contains substring: the bytes the server sent, before htmx parsed
// them.
func (t *tab) streamData(tb testing.TB, name, substring string) string {
	tb.Helper()

	var found []string
	for _, s := range t.watch.streamsSnapshot() {
		for i, event := range s.events {
			if event == name && strings.Contains(s.data[i], substring) {
				found = append(found, s.data[i])
			}
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%s: %d %s events with %q, want 1: %q", t.name, len(found), name,
			substring, found)
	}
	return found[0]
}

// hasDocument reports whether a page load or form post of method and path got status.
func hasDocument(docs []documentRecord, method, path string, status int64) bool {
	return slices.Contains(docs, documentRecord{method: method, path: path, status: status})
}

func count[T comparable](list []T, v T) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

// threePeople starts a server and logs Alice, Bob and Carol in from isolated browsers,
// returning once all three logs show the same lines.
func threePeople(t *testing.T) (alice, bob, carol *tab) {
	t.Helper()
	requireBrowser(t)
	srv := startServer(t)
	alice = newUser(t, srv.URL(), "Alice")
	bob = newUser(t, srv.URL(), "Bob")
	carol = newUser(t, srv.URL(), "Carol")
	waitSameLog(t, alice, bob, carol)
	return alice, bob, carol
}
