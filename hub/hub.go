// Package hub owns the live subscriptions: it fans rendered frames out to every
// stream, or to the streams of one session, and knows from them who is online.
//
// A broadcast is written by the hub's fan-out goroutine straight to each stream's
// connection, without waiting on any: what a connection cannot take at once goes to
// the subscription's bounded queue, and its stream handler writes that. A subscription
// whose queue is full is dropped and closed; its browser reconnects and catches up from
// the store.
package hub

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/cases"
)

// Frame is an encoded SSE event ready to be written. ID is the store id of a room
// message, or zero for private events, which never move a replay cursor.
type Frame struct {
	ID    int64
	Bytes []byte
}

// Member is one online session as presence shows it.
type Member struct {
	SessionID string
	Nickname  string
}

// Defaults for Options fields left zero.
const (
	// DefaultQueueSize is how many frames a subscription may have waiting before the
	// hub decides its reader is too slow and drops it.
	DefaultQueueSize = 256

	// DefaultLeaveGrace is how long a session stays online after its last stream ends,
	// so that a reload or a brief network drop is not a leave and a join.
	DefaultLeaveGrace = 10 * time.Second

	// DefaultClaimTimeout is how long a nickname stays reserved after login for a
	// session that has not opened a stream yet.
	DefaultClaimTimeout = time.Minute

	// DefaultPresenceDelay gathers a burst of joins and leaves into one presence update.
	// It grows by itself for every presenceStreamsPerStep streams in the room.
	DefaultPresenceDelay = 200 * time.Millisecond

	presenceStreamsPerStep = 500
)

// Options configures a Hub. Callbacks run on the hub's own goroutines, one at a time,
// and must not call back into the hub while holding locks of their own that the hub's
// callers take.
type Options struct {
	QueueSize     int
	LeaveGrace    time.Duration
	ClaimTimeout  time.Duration
	PresenceDelay time.Duration

	// OnJoin is called when a session opens its first stream.
	OnJoin func(Member)

	// OnLeave is called when a session's last stream has been gone for LeaveGrace.
	OnLeave func(Member)

	// OnPresence is called, at most once per PresenceDelay, with the online members
	// sorted by nickname, whenever the set changed. Its result, if not nil, is handed
	// to every subscription as the latest presence frame.
	OnPresence func([]Member) []byte
}

// ErrNicknameTaken is returned by Claim when another online session uses the nickname.
var ErrNicknameTaken = errors.New("hub: nickname is in use")

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("hub: closed")

// Hub holds the subscriptions and presence. The zero value is not usable: call New.
type Hub struct {
	opts Options

	mu       sync.RWMutex
	subs     []*Subscription
	sessions map[string]*session // by session id
	nickname map[string]string   // folded nickname to session id
	presence []byte
	closed   bool

	// callbacks holds join and leave callbacks in order; callbackReady wakes the
	// goroutine that runs them one at a time. The queue is unbounded so that queuing
	// under h.mu can never wait on a callback that itself waits for h.mu.
	callbackMu    sync.Mutex
	callbacks     []func()
	callbackReady chan struct{}
	dirty         chan struct{}
	stop          chan struct{}

	// broadcasts waits for the fan-out goroutine, which broadcastReady wakes. It holds
	// at most MaxWaitingBroadcasts: broadcastRoom has a token for each frame in it.
	broadcastMu    sync.Mutex
	broadcasts     []Frame
	broadcastReady chan struct{}
	broadcastRoom  chan struct{}

	dropped atomic.Int64
	wg      sync.WaitGroup
}

// session is what the hub knows of one login: its streams and its presence state.
type session struct {
	member Member
	subs   []*Subscription // its open streams: a private send walks these, not the room
	joined bool
	timer  *time.Timer // leave grace, or claim timeout before the first stream
}

// New returns a running hub. Close stops it.
func New(opts Options) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.LeaveGrace <= 0 {
		opts.LeaveGrace = DefaultLeaveGrace
	}
	if opts.ClaimTimeout <= 0 {
		opts.ClaimTimeout = DefaultClaimTimeout
	}
	if opts.PresenceDelay <= 0 {
		opts.PresenceDelay = DefaultPresenceDelay
	}

	h := &Hub{
		opts:          opts,
		sessions:      make(map[string]*session),
		nickname:      make(map[string]string),
		callbackReady: make(chan struct{}, 1),
		dirty:         make(chan struct{}, 1),
		stop:          make(chan struct{}),

		broadcastReady: make(chan struct{}, 1),
		broadcastRoom:  make(chan struct{}, MaxWaitingBroadcasts),
	}
	h.wg.Add(3)
	go h.runCallbacks()
	go h.runPresence()
	go h.runFanOut()
	return h
}

// FoldNickname returns the form in which nicknames are compared: case folded, so that
// "Anna", "ANNA" and "anna" are one name.
func FoldNickname(nickname string) string {
	// A Caser keeps state between calls, so each call gets its own.
	return cases.Fold().String(nickname)
}

// Claim reserves nickname for sessionID, or renames the session if it holds another
// one. It fails with ErrNicknameTaken if a different session that is online, or that
// claimed it recently, holds the same folded nickname.
func (h *Hub) Claim(sessionID, nickname string) error {
	folded := FoldNickname(nickname)

	h.mu.Lock()
	defer h.mu.Unlock()

	if owner, ok := h.nickname[folded]; ok && owner != sessionID {
		return ErrNicknameTaken
	}

	s, ok := h.sessions[sessionID]
	if !ok {
		s = &session{member: Member{SessionID: sessionID}}
		h.sessions[sessionID] = s
		s.timer = time.AfterFunc(h.opts.ClaimTimeout, func() { h.expireClaim(sessionID) })
	}
	h.setNicknameLocked(s, nickname)
	return nil
}

// Release forgets a session at once, as on logout: its streams are closed, its
// nickname is free, and it leaves without a grace period.
func (h *Hub) Release(sessionID string) {
	h.mu.Lock()
	s, ok := h.sessions[sessionID]
	if !ok {
		h.mu.Unlock()
		return
	}
	for _, sub := range s.subs {
		sub.close(ReasonReleased)
	}
	h.forgetLocked(s)
	h.mu.Unlock()
}

// Online returns the online members, in no particular order.
func (h *Hub) Online() []Member {
	h.mu.RLock()
	defer h.mu.RUnlock()

	members := make([]Member, 0, len(h.sessions))
	for _, s := range h.sessions {
		if s.joined {
			members = append(members, s.member)
		}
	}
	return members
}

// Lookup returns the online member whose folded nickname equals that of nickname.
func (h *Hub) Lookup(nickname string) (Member, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()

	id, ok := h.nickname[FoldNickname(nickname)]
	if !ok || !h.sessions[id].joined {
		return Member{}, false
	}
	return h.sessions[id].member, true
}

// Subscribe registers a stream of the session and returns its subscription. The
// session joins with its first stream. The caller must Unsubscribe when the stream
// ends. A session that never claimed its nickname (after a restart, say) is claimed
// here, even if the name is taken: the cookie proves it was granted.
func (h *Hub) Subscribe(m Member) (*Subscription, error) {
	sub := newSubscription(m.SessionID, h.opts.QueueSize, &h.dropped)

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}

	s, ok := h.sessions[m.SessionID]
	if !ok {
		s = &session{member: m}
		h.sessions[m.SessionID] = s
		h.setNicknameLocked(s, m.Nickname)
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.subs = append(s.subs, sub)

	sub.index = len(h.subs)
	h.subs = append(h.subs, sub)
	sub.presence = h.presence

	joined := !s.joined
	s.joined = true
	member := s.member
	h.mu.Unlock()

	if joined {
		h.changed()
		if h.opts.OnJoin != nil {
			h.enqueue(func() { h.opts.OnJoin(member) })
		}
	}
	return sub, nil
}

// Unsubscribe removes a subscription. When it was the session's last stream, the
// session leaves after the grace period unless a new stream comes first.
func (h *Hub) Unsubscribe(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()

	sub.close(ReasonGone)
	if sub.index < 0 {
		return
	}

	last := len(h.subs) - 1
	h.subs[sub.index] = h.subs[last]
	h.subs[sub.index].index = sub.index
	h.subs[last] = nil
	h.subs = h.subs[:last]
	sub.index = -1

	s, ok := h.sessions[sub.sessionID]
	if !ok {
		return
	}
	if i := slices.Index(s.subs, sub); i >= 0 {
		s.subs = slices.Delete(s.subs, i, i+1)
	}
	if len(s.subs) == 0 && !h.closed {
		id := sub.sessionID
		s.timer = time.AfterFunc(h.opts.LeaveGrace, func() { h.expireSession(id) })
	}
}

// SendTo writes f to every stream of one session at once, ahead of any broadcast
// still waiting, and reports how many streams there were.
func (h *Hub) SendTo(sessionID string, f Frame) int {
	h.mu.RLock()
	defer h.mu.RUnlock()

	s, ok := h.sessions[sessionID]
	if !ok {
		return 0
	}

	b := newBatch([]Frame{f})
	sent := 0
	for _, sub := range s.subs {
		if sub.deliver(b) {
			sent++
		}
	}
	return sent
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Dropped returns how many subscriptions were closed because their reader fell
// behind, since the hub started.
func (h *Hub) Dropped() int64 {
	return h.dropped.Load()
}

// Streams returns the number of open streams of one session.
func (h *Hub) Streams(sessionID string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s, ok := h.sessions[sessionID]; ok {
		return len(s.subs)
	}
	return 0
}

// Close closes every subscription, so that stream handlers return and browsers
// reconnect to the next process, and stops the hub's goroutines.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, sub := range h.subs {
		sub.close(ReasonShutdown)
	}
	for _, s := range h.sessions {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	h.mu.Unlock()

	close(h.stop)
	h.wg.Wait()
}

func (h *Hub) setNicknameLocked(s *session, nickname string) {
	if s.member.Nickname != "" {
		old := FoldNickname(s.member.Nickname)
		if h.nickname[old] == s.member.SessionID {
			delete(h.nickname, old)
		}
	}
	s.member.Nickname = nickname
	h.nickname[FoldNickname(nickname)] = s.member.SessionID
	if s.joined {
		h.changed()
	}
}

func (h *Hub) forgetLocked(s *session) {
	if s.timer != nil {
		s.timer.Stop()
	}
	delete(h.sessions, s.member.SessionID)
	folded := FoldNickname(s.member.Nickname)
	if h.nickname[folded] == s.member.SessionID {
		delete(h.nickname, folded)
	}
	if s.joined {
		h.changed()
		if h.opts.OnLeave != nil {
			member := s.member
			h.enqueue(func() { h.opts.OnLeave(member) })
		}
	}
}

func (h *Hub) expireClaim(sessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()

	if s, ok := h.sessions[sessionID]; ok && !s.joined && len(s.subs) == 0 {
		h.forgetLocked(s)
	}
}

func (h *Hub) expireSession(sessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()

	if s, ok := h.sessions[sessionID]; ok && len(s.subs) == 0 && !h.closed {
		h.forgetLocked(s)
	}
}

// enqueue hands a callback to the callback goroutine, keeping joins and leaves in
// the order they happened. It may be called with h.mu held.
func (h *Hub) enqueue(fn func()) {
	h.callbackMu.Lock()
	h.callbacks = append(h.callbacks, fn)
	h.callbackMu.Unlock()
	notify(h.callbackReady)
}

// notify signals a channel of capacity one without waiting: one pending signal stands
// for any number of events, since its reader takes everything waiting at once.
func notify(ready chan<- struct{}) {
	select {
	case ready <- struct{}{}:
	default:
	}
}

func (h *Hub) runCallbacks() {
	defer h.wg.Done()
	for {
		select {
		case <-h.callbackReady:
		case <-h.stop:
			return
		}

		h.callbackMu.Lock()
		pending := h.callbacks
		h.callbacks = nil
		h.callbackMu.Unlock()

		for _, fn := range pending {
			fn()
		}
	}
}

// changed marks presence as out of date; runPresence renders it once per burst.
func (h *Hub) changed() {
	notify(h.dirty)
}

func (h *Hub) runPresence() {
	defer h.wg.Done()
	for {
		select {
		case <-h.dirty:
		case <-h.stop:
			return
		}

		select {
		case <-time.After(h.presenceDelay()):
		case <-h.stop:
			return
		}
		h.publishPresence()
	}
}

// presenceDelay grows with the room: a presence frame goes to every stream, so in a
// room of thousands a burst of joins is gathered over seconds instead of resent to
// everyone five times a second.
func (h *Hub) presenceDelay() time.Duration {
	h.mu.RLock()
	streams := len(h.subs)
	h.mu.RUnlock()
	return h.opts.PresenceDelay * time.Duration(1+streams/presenceStreamsPerStep)
}

func (h *Hub) publishPresence() {
	if h.opts.OnPresence == nil {
		return
	}
	members := h.Online()
	sortMembers(members)
	frame := h.opts.OnPresence(members)
	if frame == nil {
		return
	}

	h.mu.Lock()
	h.presence = frame
	subs := append([]*Subscription(nil), h.subs...)
	h.mu.Unlock()

	// A stream that subscribes from here on starts with h.presence, which is frame.
	fanOut(subs, func(sub *Subscription) { sub.setPresence(frame) })
}
