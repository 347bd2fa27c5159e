package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/chatroom/chat/static"
)

// contentSecurityPolicy allows scripts and styles from this site only: no inline
// script, no inline style, no eval. htmx is configured in the page to need none.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
	"base-uri 'none'; object-src 'none'"

// Handler returns the chat's routes behind its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveIndex)
	mux.HandleFunc("POST /login", s.serveLogin)
	mux.HandleFunc("POST /logout", s.serveLogout)
	mux.HandleFunc("POST /messages", s.serveMessages)
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /mentions.css", serveMentionStyle)
	mux.Handle("GET /static/", http.StripPrefix("/static/", serveStatic()))
	mux.HandleFunc("GET /healthz", serveHealth)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		// Browsers ask for this path whatever the page says; answer with the icon.
		http.Redirect(w, r, static.Path("favicon.svg"), http.StatusMovedPermanently)
	})
	if s.cfg.Metrics {
		mux.Handle("GET /metrics", s.metrics.handler())
	}

	// Forged cross-site posts are refused with 403 before they reach a handler; the
	// SameSite=Lax cookie is a second line for browsers without Sec-Fetch-Site.
	protected := http.NewCrossOriginProtection().Handler(mux)
	return s.logRequests(s.secureHeaders(limitBody(protected)))
}

func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if s.cfg.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies. Reading past the cap fails, and the handlers answer
// 413 when form parsing reports it.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			http.Error(w, fmt.Sprintf("Request body too large: the limit is %d bytes.",
				MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// parseForm parses the posted form and answers 413 or 400 itself when it cannot.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm()
	if err == nil {
		return true
	}

	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("Request body too large: the limit is %d bytes.",
			MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return false
	}
	http.Error(w, "The form could not be read.", http.StatusBadRequest)
	return false
}

// logRequests logs each request at Debug, with its status and duration. The wrapper
// keeps Flush and Unwrap so streams behind it are not buffered.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func serveStatic() http.Handler {
	files := http.FileServerFS(static.Files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request that names the current version may be cached for good; the URL
		// changes when the file does.
		if v := r.URL.Query().Get("v"); v != "" && v == static.Version(r.URL.Path) {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

func serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// serveMentionStyle answers the style sheet that highlights mentions of one person.
// The page of each reader links to its own, so the broadcast fragment can stay the
// same bytes for everyone.
func serveMentionStyle(w http.ResponseWriter, r *http.Request) {
	key := cssString(r.URL.Query().Get("for"))
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	fmt.Fprintf(w, ".msg[data-mentions~=%s] { background: var(--mention); }\n", key)
	fmt.Fprintf(w, ".mention[data-mention=%s] { text-decoration: underline; }\n", key)
}

// cssString quotes s as a CSS string, escaping every character that is not a letter
// or digit, so a hostile value cannot end the string or the rule.
func cssString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-', r > 0x7f:
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\%x ", r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clientAddr returns the address a request comes from: the connection's peer, or,
// behind a trusted proxy, the last address in X-Forwarded-For, which is the one the
// proxy itself appended (earlier entries are whatever the client claimed).
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustForwardedFor {
		forwarded := r.Header.Values("X-Forwarded-For")
		if len(forwarded) > 0 {
			hops := strings.Split(forwarded[len(forwarded)-1], ",")
			if addr := strings.TrimSpace(hops[len(hops)-1]); addr != "" {
				return addr
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
