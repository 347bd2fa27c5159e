package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/views"
)

// serveIndex shows the room to a session and the nickname form to a visitor.
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	id, ok, bad := s.identify(r)
	if bad {
		s.clearCookie(w)
	}
	if !ok {
		s.render(w, r, http.StatusOK, views.LoginPage(views.LoginForm{}))
		return
	}

	s.renderRoom(w, r, http.StatusOK, id, views.MessageForm{})
}

// renderRoom renders the whole room page for id, with form as the composer.
func (s *Server) renderRoom(w http.ResponseWriter, r *http.Request, status int, id identity,
	form views.MessageForm) {
	history, err := s.room.history(r.Context())
	if err != nil {
		s.serverError(w, r, "read history", err)
		return
	}

	online, more := s.onlineNames(id)
	page := views.RoomPage(views.Room{
		Me:           id.Nickname,
		MentionStyle: mentionStyleURL(id.Nickname),
		Messages:     history,
		Online:       online,
		MoreOnline:   more,
		Form:         form,
	})
	s.render(w, r, status, page)
}

// serveLogin checks the nickname and starts a session.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	raw := r.PostForm.Get("nickname")

	addr := s.clientAddr(r)
	if ok, wait := s.logins.allow(addr, time.Now()); !ok {
		seconds := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		s.log.Warn("login limit", "client_addr", addr)
		form := views.LoginForm{Nickname: truncate(raw, 2*MaxNicknameChars), Error: fmt.Sprintf(
			"Too many logins from your address. Please try again in %d s.", seconds)}
		s.renderEither(w, r, http.StatusTooManyRequests,
			views.LoginFormView(form), views.LoginPage(form))
		return
	}

	nickname, problem := ValidateNickname(raw)
	sessionID := newSessionID()
	if problem == "" {
		problem = s.claim(sessionID, nickname)
	}
	if problem != "" {
		s.log.Info("login refused", "remote_addr", r.RemoteAddr, "reason", problem)
		form := views.LoginForm{Nickname: truncate(raw, 2*MaxNicknameChars), Error: problem}
		s.renderEither(w, r, http.StatusUnprocessableEntity,
			views.LoginFormView(form), views.LoginPage(form))
		return
	}

	if old, ok, _ := s.identify(r); ok {
		s.hub.Release(old.SessionID)
	}
	id := identity{SessionID: sessionID, Nickname: nickname}
	if err := s.saveIdentity(w, r, id); err != nil {
		s.hub.Release(sessionID)
		s.serverError(w, r, "login", err)
		return
	}

	s.log.Info("login", "session_id", shortID(sessionID))
	s.metrics.logins.Inc()
	redirectHome(w, r)
}

// claim reserves nickname for the session and returns a problem for the person if
// someone online already uses it.
func (s *Server) claim(sessionID, nickname string) string {
	err := s.hub.Claim(sessionID, nickname)
	if errors.Is(err, hub.ErrNicknameTaken) {
		return fmt.Sprintf("Someone online is already called %s. Please pick another name.",
			nickname)
	}
	return ""
}

// serveLogout ends the session: its streams close, its nickname is free, and its
// cookie stops working, even a copy of it kept elsewhere.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if id, ok, _ := s.identify(r); ok {
		if err := s.revoked.add(r.Context(), id.SessionID); err != nil {
			// The session is still refused until a restart; say so in the log.
			s.log.Error("keep logout", "session_id", shortID(id.SessionID), "err", err)
		}
		s.hub.Release(id.SessionID)
		s.log.Info("logout", "session_id", shortID(id.SessionID))
	}
	s.clearCookie(w)
	redirectHome(w, r)
}

// redirectHome sends the browser to the room: htmx follows HX-Redirect with a full
// page load, a plain form post follows the 303.
func redirectHome(w http.ResponseWriter, r *http.Request) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", "/")
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true"
}

// renderEither renders fragment for htmx and page for a plain request.
func (s *Server) renderEither(w http.ResponseWriter, r *http.Request, status int,
	fragment, page templ.Component) {
	if isHTMX(r) {
		s.render(w, r, status, fragment)
		return
	}
	s.render(w, r, status, page)
}

// shortID is enough of a session id to follow one session through the logs without
// writing down the whole secret.
func shortID(sessionID string) string {
	if len(sessionID) > 8 {
		return sessionID[:8]
	}
	return sessionID
}

// truncate cuts s to at most n characters, so an absurd input is not echoed whole.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
