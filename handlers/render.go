package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/a-h/templ"

	"github.com/chatroom/chat/sse"
	"github.com/chatroom/chat/views"
)

var heartbeatFrame = sse.Heartbeat

// render renders c into a buffer first, so that a failed render is a clean 500 and
// never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.serverError(w, r, "render page", err)
		return
	}

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serverError logs err once, with what was being done, and tells the person only
// that something went wrong on our side.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.log.Error("request failed",
		slog.String("op", op),
		slog.String("path", r.URL.Path),
		slog.Any("err", err))
	http.Error(w, "Something went wrong on our side. Please try again.",
		http.StatusInternalServerError)
}

// renderFrame renders c and encodes it as one SSE event.
func renderFrame(ctx context.Context, event string, id int64, c templ.Component) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return nil, fmt.Errorf("render %s event: %w", event, err)
	}
	return sse.Frame(event, id, buf.Bytes()), nil
}

// mentionStyleURL is the style sheet that highlights mentions of nickname.
func mentionStyleURL(nickname string) string {
	return "/mentions.css?for=" + url.QueryEscape(views.MentionKey(nickname))
}
