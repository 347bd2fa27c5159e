package handlers

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/sessions"
)

// cookieName is the session cookie's name.
const cookieName = "chat_session"

// Keys in the session cookie.
const (
	keySessionID = "sid"
	keyNickname  = "nick"
)

// identity is who a request comes from: a session id and the nickname it uses.
type identity struct {
	SessionID string
	Nickname  string
}

func newCookieStore(cfg Config) *sessions.CookieStore {
	cookies := sessions.NewCookieStore(cfg.CookieKeys...)

	// gorilla/sessions defaults to Secure and SameSite=None, which drops the cookie
	// over plain HTTP anywhere but localhost: every flag is set here on purpose.
	cookies.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(cfg.SessionMaxAge / time.Second),
		HttpOnly: true,
		Secure:   cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	}
	cookies.MaxAge(cookies.Options.MaxAge)
	return cookies
}

// newSessionID returns a random id of 130 bits (26 base32 characters).
func newSessionID() string {
	return rand.Text()
}

// identify returns the request's identity. bad reports a cookie that was sent but
// could not be read (tampered, garbage, expired or signed with a retired key): the
// caller clears it and treats the request as a visitor's.
func (s *Server) identify(r *http.Request) (id identity, ok bool, bad bool) {
	session, err := s.cookies.Get(r, cookieName)
	if err != nil {
		s.log.Warn("unreadable session cookie", "remote_addr", r.RemoteAddr, "err", err)
		return identity{}, false, true
	}

	id.SessionID, _ = session.Values[keySessionID].(string)
	id.Nickname, _ = session.Values[keyNickname].(string)
	if id.SessionID == "" || id.Nickname == "" {
		return identity{}, false, false
	}
	if s.revoked.has(id.SessionID) {
		return identity{}, false, true
	}
	return id, true, false
}

// saveIdentity writes the session cookie for id.
func (s *Server) saveIdentity(w http.ResponseWriter, r *http.Request, id identity) error {
	session, _ := s.cookies.New(r, cookieName)
	session.Values[keySessionID] = id.SessionID
	session.Values[keyNickname] = id.Nickname
	if err := session.Save(r, w); err != nil {
		return fmt.Errorf("save session cookie for %s: %w", id.SessionID, err)
	}
	return nil
}

// clearCookie tells the browser to forget the session cookie.
func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.cfg.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// revocations remembers the session ids that logged out, until their cookies would
// have expired anyway, so a copy of a cookie stops working at logout, also after a
// restart. Every request checks the map; the store only hears of changes.
type revocations struct {
	mu     sync.Mutex
	until  map[string]time.Time
	maxAge time.Duration
	store  SessionStore
}

func newRevocations(maxAge time.Duration, st SessionStore,
	loaded map[string]time.Time) *revocations {
	return &revocations{until: loaded, maxAge: maxAge, store: st}
}

func (v *revocations) add(ctx context.Context, sessionID string) error {
	v.mu.Lock()
	now := time.Now()
	for id, until := range v.until {
		if now.After(until) {
			delete(v.until, id)
		}
	}
	until := now.Add(v.maxAge)
	v.until[sessionID] = until
	v.mu.Unlock()

	return v.store.Revoke(ctx, sessionID, until)
}

func (v *revocations) has(sessionID string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.until[sessionID]
	return ok
}
