package handlers

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/store"
	"github.com/chatroom/chat/views"
)

// Texts people see. Kept together so their tone stays the same.
const (
	swearNotice = "Please don't swear. Your message was not sent, and no one else saw it."
	helpNotice  = "Commands: /me action · /msg nickname text (or /w) for a private " +
		"message · /nick new name · /help. Start with // to send a line that begins with /."
)

// outcome is how the room answered one post.
type outcome struct {
	status    int    // the HTTP status of the answer
	formError string // shown under the composer of the tab that posted, text kept
	notice    string // sent privately to every tab of the session
}

// serveMessages takes a post from the composer: a message for the room, or a command.
func (s *Server) serveMessages(w http.ResponseWriter, r *http.Request) {
	id, ok, _ := s.identify(r)
	if !ok {
		// The session ended (logout elsewhere, or a server with new keys): start over.
		if isHTMX(r) {
			w.Header().Set("HX-Redirect", "/")
		}
		http.Error(w, "Please log in again.", http.StatusUnauthorized)
		return
	}
	if !parseForm(w, r) {
		return
	}

	text := cleanText(r.PostForm.Get("text"))
	result := s.post(r.Context(), &id, text, w, r)
	s.answerPost(w, r, id, text, result)
}

// post applies the room's rules to one post and returns how to answer it.
func (s *Server) post(ctx context.Context, id *identity, text string, w http.ResponseWriter,
	r *http.Request) outcome {
	length := utf8.RuneCountInString(text)
	switch {
	case length == 0:
		return refused("Please write a message first.")
	case length > MaxMessageChars:
		return refused(fmt.Sprintf("Messages can have at most %d characters; this one has %d.",
			MaxMessageChars, length))
	}

	if ok, wait := s.flood.allow(id.SessionID, time.Now()); !ok {
		seconds := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		s.log.Warn("flood limit", "session_id", shortID(id.SessionID))
		s.metrics.flooded.Inc()
		return outcome{status: http.StatusTooManyRequests, formError: fmt.Sprintf(
			"You're sending messages too fast. You can post again in %d s.", seconds)}
	}

	if strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "//") {
		return s.command(ctx, id, text, w, r)
	}
	text = strings.TrimPrefix(text, "/")
	return s.say(ctx, *id, store.KindText, text)
}

// say moderates text and publishes it to the room.
func (s *Server) say(ctx context.Context, id identity, kind store.Kind, text string) outcome {
	if s.mod.Flagged(text) {
		s.log.Info("message flagged", "session_id", shortID(id.SessionID))
		s.metrics.flagged.Inc()
		return outcome{status: http.StatusOK, notice: swearNotice}
	}

	m := store.Message{Kind: kind, Nickname: id.Nickname, Text: text, Time: time.Now()}
	if _, err := s.room.publish(ctx, m); err != nil {
		s.log.Error("publish message", "session_id", shortID(id.SessionID), "err", err)
		return outcome{status: http.StatusInternalServerError,
			formError: "Your message could not be saved. Please try again."}
	}
	return outcome{status: http.StatusOK}
}

// command runs a line that starts with "/".
func (s *Server) command(ctx context.Context, id *identity, line string, w http.ResponseWriter,
	r *http.Request) outcome {
	name, args, _ := strings.Cut(line[1:], " ")
	args = strings.TrimSpace(args)

	switch strings.ToLower(name) {
	case "me":
		if args == "" {
			return refused("Usage: /me does something")
		}
		return s.say(ctx, *id, store.KindAction, args)
	case "msg", "w":
		return s.direct(ctx, *id, args)
	case "nick":
		return s.rename(ctx, id, args, w, r)
	case "help":
		return outcome{status: http.StatusOK, notice: helpNotice}
	}
	return outcome{status: http.StatusOK, notice: fmt.Sprintf(
		"There is no command /%s. Type /help to see the commands.", truncate(name, 30))}
}

// direct sends a private message to every tab of the recipient and of the sender.
// It is never stored: private messages are not part of the room's history.
func (s *Server) direct(ctx context.Context, from identity, args string) outcome {
	name, text, _ := strings.Cut(args, " ")
	text = strings.TrimSpace(text)
	if name == "" || text == "" {
		return refused("Usage: /msg nickname text (write spaces in a nickname as _)")
	}

	to, ok := s.hub.Lookup(name)
	if !ok {
		to, ok = s.hub.Lookup(strings.ReplaceAll(name, "_", " "))
	}
	if !ok {
		return outcome{status: http.StatusOK,
			notice: fmt.Sprintf("No one called %s is online.", truncate(name, 30))}
	}
	if s.mod.Flagged(text) {
		return outcome{status: http.StatusOK, notice: swearNotice}
	}

	view := views.Message{Kind: views.KindDirect, Nickname: from.Nickname, To: to.Nickname,
		Text: text, Time: time.Now()}
	frame, err := renderFrame(ctx, eventNotice, 0, views.MessageView(view))
	if err != nil {
		s.log.Error("render private message", "err", err)
		return outcome{status: http.StatusInternalServerError,
			formError: "Your message could not be sent. Please try again."}
	}

	s.hub.SendTo(to.SessionID, hub.Frame{Bytes: frame})
	if to.SessionID != from.SessionID {
		s.hub.SendTo(from.SessionID, hub.Frame{Bytes: frame})
	}
	s.metrics.notices.Inc()
	return outcome{status: http.StatusOK}
}

// rename changes the session's nickname with the same rules as login and tells the
// room. The new name goes into the cookie, so every tab of the session uses it.
func (s *Server) rename(ctx context.Context, id *identity, args string, w http.ResponseWriter,
	r *http.Request) outcome {
	nickname, problem := ValidateNickname(args)
	if problem == "" && nickname == id.Nickname {
		problem = "That is already your nickname."
	}
	if problem == "" {
		problem = s.claim(id.SessionID, nickname)
	}
	if problem != "" {
		return refused(problem)
	}

	old := id.Nickname
	id.Nickname = nickname
	if err := s.saveIdentity(w, r, *id); err != nil {
		s.hub.Claim(id.SessionID, old)
		s.log.Error("rename", "session_id", shortID(id.SessionID), "err", err)
		return outcome{status: http.StatusInternalServerError,
			formError: "Your nickname could not be changed. Please try again."}
	}

	line := store.Message{Kind: store.KindRename, Nickname: old, Text: nickname,
		Time: time.Now()}
	if _, err := s.room.publish(ctx, line); err != nil {
		s.log.Error("publish rename", "session_id", shortID(id.SessionID), "err", err)
	}

	// Every tab of the session learns its new name and highlights mentions of it.
	frame, err := renderFrame(ctx, eventNotice, 0, views.RenameNotice(nickname,
		mentionStyleURL(nickname)))
	if err == nil {
		s.hub.SendTo(id.SessionID, hub.Frame{Bytes: frame})
	}
	return outcome{status: http.StatusOK}
}

// answerPost answers the tab that posted: with htmx a fresh composer (or the text
// kept and an error), without JavaScript a redirect back to the room, or the room
// with the error shown.
func (s *Server) answerPost(w http.ResponseWriter, r *http.Request, id identity, text string,
	result outcome) {
	if result.notice != "" {
		if err := s.sendNotice(r.Context(), id.SessionID, result.notice); err != nil {
			s.log.Error("send notice", "err", err)
		}
	}

	form := views.MessageForm{}
	if result.formError != "" {
		form = views.MessageForm{Text: text, Error: result.formError}
	}

	if isHTMX(r) {
		s.render(w, r, result.status, views.MessageFormView(form))
		return
	}

	// Without JavaScript the notice cannot arrive by stream: show it in the page.
	if result.notice != "" && form.Error == "" {
		form.Error = result.notice
	}
	if form.Error == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderRoom(w, r, result.status, id, form)
}

// refused is the outcome of input that breaks a rule: the text stays in the form.
func refused(problem string) outcome {
	return outcome{status: http.StatusUnprocessableEntity, formError: problem}
}

// cleanText trims a posted text, replaces bytes that are not UTF-8, and drops control
// characters other than line breaks and tabs.
func cleanText(raw string) string {
	raw = strings.ToValidUTF8(raw, "\uFFFD")
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	cleaned := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, raw)
	return strings.TrimSpace(cleaned)
}
