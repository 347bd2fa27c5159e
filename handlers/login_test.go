package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestValidateNickname(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		want        string
		wantProblem string
	}{
		{"plain", "Alice", "Alice", ""},
		{"trimmed and spaces folded", "  Ann   Lee ", "Ann Lee", ""},
		{"other scripts", "Zoë Ωμέγα 李雷", "Zoë Ωμέγα 李雷", ""},
		{"devanagari with marks", "अनिल", "अनिल", ""},
		{"digits, _ and -", "r2-d2_x", "r2-d2_x", ""},
		{"decomposed accent composed", "Zoe\u0308", "Zoë", ""},
		{"exactly 24", strings.Repeat("a", 24), strings.Repeat("a", 24), ""},
		{"empty", "   ", "", "Please choose"},
		{"25 characters", strings.Repeat("a", 25), "", "at most 24"},
		{"5000 characters", strings.Repeat("é", 5000), "", "this one has 5000"},
		{"markup", "<b>x</b>", "", `not "<"`},
		{"zero-width space", "Al\u200bice", "", "invisible character U+200B"},
		{"right-to-left override", "Al\u202eice", "", "invisible character U+202E"},
		{"control character", "Al\x07ice", "", "invisible character U+0007"},
		{"emoji", "Al😀", "", `not "😀"`},
		{"not UTF-8", "Al\xffice", "", "could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := ValidateNickname(tt.raw)
			if got != tt.want || !strings.Contains(problem, tt.wantProblem) ||
				(tt.wantProblem == "") != (problem == "") {
				t.Errorf("ValidateNickname(%q) = %q, %q, want %q and a problem with %q",
					tt.raw, got, problem, tt.want, tt.wantProblem)
			}
		})
	}
}

// FuzzValidateNickname checks that what is accepted is always within the rules.
func FuzzValidateNickname(f *testing.F) {
	for _, seed := range []string{"Alice", " a  b ", "<img>", "Zoe\u0308", "\u200b", "a\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		nickname, problem := ValidateNickname(raw)
		if problem != "" {
			if nickname != "" {
				t.Errorf("ValidateNickname(%q) returned %q with a problem", raw, nickname)
			}
			return
		}
		again, problem := ValidateNickname(nickname)
		if again != nickname || problem != "" {
			t.Errorf("ValidateNickname(%q) = %q, %q; not stable for accepted %q",
				nickname, again, problem, raw)
		}
		if strings.ContainsAny(nickname, "<>&\"'") || strings.TrimSpace(nickname) != nickname {
			t.Errorf("ValidateNickname(%q) accepted %q", raw, nickname)
		}
	})
}

func TestLoginRefusals(t *testing.T) {
	ts := newTestServer(t)
	login(t, ts, "Taken")
	tests := []struct {
		name      string
		nickname  string
		wantError string
	}{
		{"empty", "", "Please choose a nickname."},
		{"too long", strings.Repeat("n", 5000), "at most 24 characters"},
		{"markup", "<img src=x>", "but not &#34;&lt;&#34;"},
		{"taken, other case", "tAKEN", "Someone online is already called tAKEN"},
	}
	for _, tt := range tests {
		for _, htmx := range []bool{true, false} {
			t.Run(tt.name+map[bool]string{true: " htmx", false: " plain"}[htmx], func(t *testing.T) {
				visitor := newUser(t, ts)
				resp := visitor.postForm("/login", url.Values{"nickname": {tt.nickname}}, htmx)

				if resp.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("status = %d, want 422", resp.StatusCode)
				}
				if !strings.Contains(resp.Body, `id="nickname-error"`) ||
					!strings.Contains(resp.Body, tt.wantError) {
					t.Errorf("body lacks error %q next to the field:\n%.500s", tt.wantError,
						resp.Body)
				}
				isPage := strings.Contains(resp.Body, "<html")
				if isPage == htmx {
					t.Errorf("whole page = %v for htmx = %v, want a fragment for htmx only",
						isPage, htmx)
				}
				if strings.Contains(resp.Body, "<img") {
					t.Errorf("input echoed as markup:\n%.500s", resp.Body)
				}
				if resp.Header.Get("Set-Cookie") != "" {
					t.Errorf("refused login set a cookie: %s", resp.Header.Get("Set-Cookie"))
				}
			})
		}
	}
}

func TestLoginKeepsInput(t *testing.T) {
	ts := newTestServer(t)
	resp := newUser(t, ts).postForm("/login", url.Values{"nickname": {"bad<name"}}, true)
	if !strings.Contains(resp.Body, `value="bad&lt;name"`) {
		t.Errorf("form does not keep the input as text:\n%s", resp.Body)
	}
}

func TestLoginWithHTMXRedirects(t *testing.T) {
	ts := newTestServer(t)
	resp := newUser(t, ts).postForm("/login", url.Values{"nickname": {"Ann"}}, true)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Redirect") != "/" {
		t.Errorf("htmx login: status %d, HX-Redirect %q, want 200 and /", resp.StatusCode,
			resp.Header.Get("HX-Redirect"))
	}
}

func TestSessionCookieFlags(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		wantSecure bool
	}{
		{"plain HTTP", false, false},
		{"TLS or TLS proxy", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.Secure = tt.secure })
			resp := newUser(t, ts).postForm("/login", url.Values{"nickname": {"Ann"}}, false)

			cookie := findCookie(resp, cookieName)
			if cookie == nil {
				t.Fatalf("login set no %s cookie", cookieName)
			}
			if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode ||
				cookie.Path != "/" || cookie.Secure != tt.wantSecure ||
				cookie.MaxAge != int(SessionMaxAge/time.Second) {
				t.Errorf("cookie = HttpOnly %v SameSite %v Path %q Secure %v MaxAge %d, "+
					"want true, Lax, /, %v, %d", cookie.HttpOnly, cookie.SameSite, cookie.Path,
					cookie.Secure, cookie.MaxAge, tt.wantSecure, int(SessionMaxAge/time.Second))
			}
			if strings.Contains(cookie.Value, "Ann") {
				t.Errorf("cookie value shows the nickname in clear: %s", cookie.Value)
			}
		})
	}
}

func findCookie(resp *reply, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestUnreadableCookieGetsLoginPage(t *testing.T) {
	ts := newTestServer(t)
	other := newTestServer(t)
	foreign := login(t, other, "Ann") // signed with other keys
	var foreignValue string
	for _, c := range foreign.client.Jar.Cookies(other.urlOf(t)) {
		foreignValue = c.Value
	}

	tests := []struct {
		name  string
		value string
	}{
		{"garbage", "garbage"},
		{"tampered", foreignValue[:len(foreignValue)-4] + "AAAA"},
		{"other keys", foreignValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/", nil)
			req.AddCookie(&http.Cookie{Name: cookieName, Value: tt.value})
			resp := newUser(t, ts).do(req)

			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `id="login-form"`) {
				t.Errorf("status %d, want 200 and the login form", resp.StatusCode)
			}
			if c := findCookie(resp, cookieName); c == nil || c.MaxAge >= 0 {
				t.Errorf("answer does not clear the bad cookie: %v", c)
			}
		})
	}
}

func TestSessionSurvivesRestartWithSameKeys(t *testing.T) {
	before := newTestServer(t)
	alice := login(t, before, "Alice")
	before.stop()

	after := startTestServer(t, before.dir, before.keys)
	alice.ts = after
	if resp := alice.get("/"); !strings.Contains(resp.Body, `<b id="me">Alice</b>`) {
		t.Errorf("after a restart GET / does not show Alice's room:\n%.300s", resp.Body)
	}
}

func TestLogoutRevokesCopiedCookie(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	copied := newUser(t, ts)
	copied.client.Jar.SetCookies(ts.urlOf(t), alice.client.Jar.Cookies(ts.urlOf(t)))
	stream := alice.tab().openStream("")
	stream.next(2 * time.Second)

	if resp := alice.postForm("/logout", nil, false); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout status = %d, want 303", resp.StatusCode)
	}
	stream.ended(time.Second)

	if resp := copied.get("/"); !strings.Contains(resp.Body, `id="login-form"`) {
		t.Errorf("a copy of the cookie still opens the room after logout")
	}
	if got := copied.get("/events").StatusCode; got != http.StatusNoContent {
		t.Errorf("GET /events with a copied cookie after logout = %d, want 204", got)
	}
	if got := copied.post("hi").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("POST /messages with a copied cookie after logout = %d, want 401", got)
	}

	// The nickname is free again at once.
	login(t, ts, "alice")

	// And the copy stays refused after a restart.
	ts.stop()
	after := startTestServer(t, ts.dir, ts.keys)
	copied.ts = after
	if resp := copied.get("/"); !strings.Contains(resp.Body, `id="login-form"`) {
		t.Errorf("a copy of the cookie opens the room again after a restart")
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	ts := newTestServer(t)
	alice := login(t, ts, "Alice")
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"same origin by fetch metadata", map[string]string{"Sec-Fetch-Site": "same-origin"},
			http.StatusOK},
		{"same origin by Origin", map[string]string{"Origin": ts.URL}, http.StatusOK},
		{"no browser headers", nil, http.StatusOK},
		{"cross-site by fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site"},
			http.StatusForbidden},
		{"cross-site by Origin", map[string]string{"Origin": "https://evil.example"},
			http.StatusForbidden},
		{"same-site other origin", map[string]string{"Sec-Fetch-Site": "same-site"},
			http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"text": {"cross-origin check " + string(rune('a'+i))}}
			req, _ := http.NewRequest("POST", ts.URL+"/messages",
				strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if got := alice.do(req).StatusCode; got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
			time.Sleep(PostInterval / 4) // stay under the flood limit
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.HSTS = true })
	resp := newUser(t, ts).get("/")
	want := map[string]string{
		"Content-Security-Policy":   contentSecurityPolicy,
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "same-origin",
		"X-Frame-Options":           "DENY",
		"Strict-Transport-Security": "max-age=31536000",
	}
	expectHeaders(t, resp.Header, want)
	if !strings.Contains(contentSecurityPolicy, "script-src 'self';") ||
		strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Errorf("policy %q allows inline or eval", contentSecurityPolicy)
	}
}

func TestCookieKeyRotation(t *testing.T) {
	oldKeys := randomKeys()
	before := startTestServer(t, t.TempDir(), oldKeys)
	alice := login(t, before, "Alice")
	before.stop()

	// The new pair signs new cookies; the old pair, listed second, is still accepted.
	rotated := append(randomKeys(), oldKeys...)
	after := startTestServer(t, before.dir, rotated)
	alice.ts = after
	if page := alice.get("/").Body; !strings.Contains(page, `<b id="me">Alice</b>`) {
		t.Fatal("a cookie signed with the old keys is refused after rotation")
	}

	bob := login(t, after, "Bob")
	dropped := startTestServer(t, t.TempDir(), rotated[:2])
	bob.ts = dropped
	if page := bob.get("/").Body; !strings.Contains(page, `<b id="me">Bob</b>`) {
		t.Error("a cookie signed after rotation is not signed with the new keys")
	}
	alice.ts = dropped
	if page := alice.get("/").Body; !strings.Contains(page, `id="login-form"`) {
		t.Error("a cookie signed with retired keys still opens the room")
	}
}

func TestExpiredCookieGetsLoginPage(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SessionMaxAge = time.Second })
	alice := login(t, ts, "Alice")
	cookies := alice.client.Jar.Cookies(ts.urlOf(t))

	time.Sleep(2100 * time.Millisecond) // securecookie counts whole seconds
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	for _, c := range cookies {
		req.AddCookie(c) // as a browser with a wrong clock would still send it
	}
	resp := newUser(t, ts).do(req)
	if !strings.Contains(resp.Body, `id="login-form"`) {
		t.Error("an expired cookie still opens the room")
	}
	if c := findCookie(resp, cookieName); c == nil || c.MaxAge >= 0 {
		t.Errorf("answer does not clear the expired cookie: %v", c)
	}
}
