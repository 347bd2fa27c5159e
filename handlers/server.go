// Package handlers serves the chat's HTTP surface: the pages, the login, posting, the
// event streams and the static files. It holds the room's rules (validation,
// moderation, flood control, commands) and turns them into rendered fragments that
// the hub fans out.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/store"
)

// Limits of the room. Each is named here and in the README's limits table.
const (
	// MaxMessageChars is the longest message, in characters, after trimming.
	MaxMessageChars = 2000

	// MaxNicknameChars is the longest nickname, in characters, after trimming.
	MaxNicknameChars = 24

	// MaxBodyBytes is the largest request body; a larger one gets 413.
	MaxBodyBytes = 64 << 10

	// HistorySize is how many recent messages the page and a fresh stream show.
	HistorySize = 100

	// ReplayLimit is the most messages a reconnecting stream is sent one by one; a
	// browser that missed more gets the recent history as one swap instead.
	ReplayLimit = 500

	// ReplayCacheSize is how many recent broadcast frames are kept in memory, so that
	// replays after a reconnect are not rendered or read from disk again.
	ReplayCacheSize = 1024

	// MaxStreamsPerSession is how many streams (tabs) one session may hold open.
	MaxStreamsPerSession = 20

	// MaxStreams is how many streams the server holds open in all.
	MaxStreams = 15_000

	// DefaultStreamsPerAddr is how many streams one client address may hold open, the
	// default of Config.StreamsPerAddr. Offices and homes share an address, so it is
	// generous; it stops one machine from taking every stream.
	DefaultStreamsPerAddr = 200

	// DefaultLoginsPerMinute is how many logins one client address may make in a
	// minute, all at once or spread out; the default of Config.LoginsPerMinute.
	DefaultLoginsPerMinute = 20

	// PostBurst and PostInterval make the flood limit: a session may post PostBurst
	// messages at once, then one more per PostInterval (5 in 10 s when sustained).
	PostBurst    = 5
	PostInterval = 2 * time.Second

	// MaxOnlineListed is how many names the online list shows; the rest are counted.
	MaxOnlineListed = 200

	// MaxAnnouncedRoom is the largest room in which joins and leaves are written to
	// the log; in a bigger room they would drown the conversation.
	MaxAnnouncedRoom = 100
)

// Stream timing.
const (
	// HeartbeatInterval is how often an idle stream gets a comment line, well under
	// the 60 s read timeout that proxies such as nginx use by default.
	HeartbeatInterval = 20 * time.Second

	// StreamWriteTimeout is how long one write to a stream may take before the peer
	// is taken for dead.
	StreamWriteTimeout = 10 * time.Second

	// ReconnectDelay is the reconnect delay the stream asks browsers to use.
	ReconnectDelay = 2 * time.Second

	// SessionMaxAge is how long a login cookie lasts.
	SessionMaxAge = 30 * 24 * time.Hour
)

// MessageStore is the room's history, as the handlers need it.
type MessageStore interface {
	Append(ctx context.Context, m store.Message) (store.Message, error)
	Recent(ctx context.Context, n int) ([]store.Message, error)
	After(ctx context.Context, id int64, limit int) ([]store.Message, error)
	Bounds(ctx context.Context) (oldest, newest int64, err error)

	// Keep is how many messages the store keeps; replays never reach further back.
	Keep() int
}

// SessionStore remembers logged-out sessions across restarts.
type SessionStore interface {
	Revoke(ctx context.Context, sessionID string, until time.Time) error
	Revoked(ctx context.Context) (map[string]time.Time, error)
}

// Store is everything the handlers keep on disk.
type Store interface {
	MessageStore
	SessionStore
}

// Moderator decides whether a message may be shown.
type Moderator interface {
	Flagged(text string) bool
}

// Config is what the handlers need to know about how they are served.
type Config struct {
	// CookieKeys are pairs of hash and block keys for the session cookie; the first
	// pair signs new cookies and the others are still accepted, for rotation.
	CookieKeys [][]byte

	// Secure marks cookies Secure: set when served over TLS or behind a TLS proxy.
	Secure bool

	// HSTS adds Strict-Transport-Security: set when served over TLS.
	HSTS bool

	// LeaveGrace overrides hub.DefaultLeaveGrace when set.
	LeaveGrace time.Duration

	// TrustForwardedFor takes the client address from the X-Forwarded-For header that
	// the proxy in front appends. Only set it behind a proxy: anyone can send one.
	TrustForwardedFor bool

	// StreamsPerAddr and LoginsPerMinute limit each client address; zero means no
	// limit. The command sets DefaultStreamsPerAddr and DefaultLoginsPerMinute.
	StreamsPerAddr  int
	LoginsPerMinute int

	// MaxStreams overrides the MaxStreams limit when set.
	MaxStreams int

	// Metrics serves Prometheus metrics at /metrics.
	Metrics bool

	// SessionMaxAge overrides SessionMaxAge when set (tests use a short one).
	SessionMaxAge time.Duration

	// Heartbeat and WriteTimeout override HeartbeatInterval and StreamWriteTimeout
	// when set; tests use short ones.
	Heartbeat    time.Duration
	WriteTimeout time.Duration
}

// Server serves the chat. Create it with New and stop it with Close.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   MessageStore
	mod     Moderator
	hub     *hub.Hub
	room    *room
	cookies *sessions.CookieStore
	flood   *keyedLimiter
	logins  *keyedLimiter
	revoked *revocations
	streams *addressCounter
	metrics *metrics

	stopHeartbeat chan struct{}
	heartbeatDone chan struct{}
	closeOnce     sync.Once
}

// New returns a Server with a running hub.
func New(ctx context.Context, cfg Config, st Store, mod Moderator,
	log *slog.Logger) (*Server, error) {
	if len(cfg.CookieKeys) < 2 || len(cfg.CookieKeys)%2 != 0 {
		return nil, errors.New("handlers: cookie keys must come in hash and block pairs")
	}

	s := &Server{
		cfg:           cfg,
		log:           log,
		store:         st,
		mod:           mod,
		flood:         newKeyedLimiter(PostBurst, PostInterval),
		logins:        newLoginLimiter(cfg.LoginsPerMinute),
		streams:       newAddressCounter(),
		stopHeartbeat: make(chan struct{}),
		heartbeatDone: make(chan struct{}),
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = SessionMaxAge
	}
	s.cfg = cfg
	s.cookies = newCookieStore(cfg)
	revoked, err := st.Revoked(ctx)
	if err != nil {
		return nil, fmt.Errorf("handlers: load revoked sessions: %w", err)
	}
	s.revoked = newRevocations(cfg.SessionMaxAge, st, revoked)
	if s.cfg.Heartbeat <= 0 {
		s.cfg.Heartbeat = HeartbeatInterval
	}
	if s.cfg.MaxStreams <= 0 {
		s.cfg.MaxStreams = MaxStreams
	}
	if s.cfg.WriteTimeout <= 0 {
		s.cfg.WriteTimeout = StreamWriteTimeout
	}

	room, err := newRoom(ctx, st, log)
	if err != nil {
		return nil, fmt.Errorf("handlers: load room: %w", err)
	}
	s.room = room

	s.hub = hub.New(hub.Options{
		LeaveGrace: cfg.LeaveGrace,
		OnJoin:     s.announceJoin,
		OnLeave:    s.announceLeave,
		OnPresence: s.renderPresence,
	})
	room.hub = s.hub
	s.metrics = newMetrics(s)
	room.published = s.metrics.messages

	go s.heartbeat()
	return s, nil
}

// Hub returns the server's hub, for metrics and tests.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Close ends every stream, so stream handlers return and browsers reconnect, and
// stops the server's goroutines. Call it before http.Server.Shutdown, which waits for
// handlers to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stopHeartbeat)
		<-s.heartbeatDone
		s.hub.Close()
		s.flood.close()
		s.logins.close()
	})
}

// heartbeat sends a comment to every stream that had nothing else to say for a while.
// One timer for the whole room is cheaper than one per stream, and a write to a dead
// peer then fails its deadline. Ticking at half the interval keeps every silence
// under a whole one.
func (s *Server) heartbeat() {
	defer close(s.heartbeatDone)
	ticker := time.NewTicker(s.cfg.Heartbeat / 2)
	defer ticker.Stop()

	for {
		select {
		case <-ticker.C:
			s.hub.Heartbeat(heartbeatFrame)
		case <-s.stopHeartbeat:
			return
		}
	}
}
