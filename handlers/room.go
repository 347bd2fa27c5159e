package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/store"
	"github.com/chatroom/chat/views"
)

// Event names on the stream.
const (
	eventMessage  = "message"  // a room message, appended to the log; carries its id
	eventNotice   = "notice"   // a private line for one session; no id
	eventPresence = "presence" // the online list; no id
	eventHistory  = "history"  // the recent log as one swap that replaces the page's
)

// room publishes the room's messages: store, render once, encode once, fan out. One
// lock orders store appends with broadcasts, so ids reach every stream in order.
type room struct {
	store     MessageStore
	hub       *hub.Hub
	log       *slog.Logger
	published prometheus.Counter

	mu     sync.RWMutex
	last   views.Message // the newest message, to group the next one under it
	recent []hub.Frame   // frames of the newest messages, oldest first

	snapshotMu sync.Mutex
	snapshot   hub.Frame // the history event for the newest id, built on demand
}

func newRoom(ctx context.Context, st MessageStore, log *slog.Logger) (*room, error) {
	r := &room{store: st, log: log}

	latest, err := st.Recent(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(latest) == 1 {
		r.last = messageView(latest[0])
	}
	return r, nil
}

// publish stores m, renders it once and queues the same frame for every stream. When
// it returns without error the message is committed and will reach everyone, live or
// by replay.
func (r *room) publish(ctx context.Context, m store.Message) (store.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	stored, err := r.store.Append(ctx, m)
	if err != nil {
		return store.Message{}, err
	}

	view := messageView(stored)
	view.Continued = views.Continues(r.last, view)
	r.last = view

	frame, err := renderFrame(ctx, eventMessage, stored.ID, views.MessageView(view))
	if err != nil {
		// BUG: rendering into memory cannot fail. Should it, the message is stored but
		// not sent, and the ring of recent frames is emptied so that replays read the
		// store, which has it, instead of skipping it.
		r.log.Error("render message", "message_id", stored.ID, "err", err)
		r.recent = nil
		r.dropSnapshot()
		return stored, nil
	}

	f := hub.Frame{ID: stored.ID, Bytes: frame}
	r.remember(f)
	// In a room past hub.MaxWaitingBroadcasts this waits, under r.mu: later posts and
	// the catch-ups of opening streams wait behind it, which keeps them in order.
	r.hub.Broadcast(f)
	r.published.Inc()
	return stored, nil
}

// remember keeps f among the recent frames for replay: at most ReplayCacheSize, and
// never more than the store keeps, so memory cannot replay what the store deleted.
func (r *room) remember(f hub.Frame) {
	if len(r.recent) >= min(ReplayCacheSize, r.store.Keep()) {
		copy(r.recent, r.recent[1:])
		r.recent = r.recent[:len(r.recent)-1]
	}
	r.recent = append(r.recent, f)
	r.dropSnapshot()
}

// dropSnapshot forgets the cached history event after the history changed.
func (r *room) dropSnapshot() {
	r.snapshotMu.Lock()
	r.snapshot = hub.Frame{}
	r.snapshotMu.Unlock()
}

// history returns the recent messages as the page shows them.
func (r *room) history(ctx context.Context) ([]views.Message, error) {
	stored, err := r.store.Recent(ctx, HistorySize)
	if err != nil {
		return nil, err
	}
	messages := make([]views.Message, len(stored))
	for i, m := range stored {
		messages[i] = messageView(m)
	}
	views.Group(messages)
	return messages, nil
}

// catchUp returns what a stream that just subscribed must be sent before live frames,
// and the id of the newest message in it. lastEventID is the browser's Last-Event-ID
// header: with a known id the stream gets exactly the messages after it; without one,
// or when it is unknown or too old, the recent history as one swap.
//
// The caller subscribes before calling catchUp. Appends and broadcasts happen under
// r.mu, so every message is either in what catchUp returns or queued after it, and
// the caller skips queued frames with ids not above the returned cursor.
func (r *room) catchUp(ctx context.Context, lastEventID string) (frames [][]byte,
	cursor int64, replayed int, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()

	last, parseErr := strconv.ParseInt(strings.TrimSpace(lastEventID), 10, 64)
	if lastEventID == "" || parseErr != nil || last < 0 {
		return r.historyFrame(ctx)
	}

	if frames, cursor, ok := r.replayFromMemory(last); ok {
		return frames, cursor, len(frames), nil
	}

	oldest, newest, err := r.store.Bounds(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	if last > newest || last < oldest-1 {
		return r.historyFrame(ctx)
	}

	frames, cursor, err = r.replayFromStore(ctx, last)
	if err != nil {
		return nil, 0, 0, err
	}
	if frames == nil {
		return r.historyFrame(ctx)
	}
	return frames, cursor, len(frames), nil
}

// replayFromMemory answers a replay from the recent frames when they reach back far
// enough: the common case of a dropped connection, with no store read or render.
func (r *room) replayFromMemory(last int64) ([][]byte, int64, bool) {
	if len(r.recent) == 0 {
		return nil, 0, false
	}
	first, newest := r.recent[0].ID, r.recent[len(r.recent)-1].ID
	if last < first-1 || last > newest {
		return nil, 0, false
	}

	start := sort.Search(len(r.recent), func(i int) bool { return r.recent[i].ID > last })
	if len(r.recent)-start > ReplayLimit {
		return nil, 0, false
	}
	frames := make([][]byte, 0, len(r.recent)-start)
	for _, f := range r.recent[start:] {
		frames = append(frames, f.Bytes)
	}
	if len(frames) == 0 {
		return nil, last, true
	}
	return frames, newest, true
}

// replayFromStore renders the messages after last from the store. It returns nil
// frames when there are more than ReplayLimit, so the caller sends history instead.
func (r *room) replayFromStore(ctx context.Context, last int64) ([][]byte, int64, error) {
	// One message before the first missed one decides whether that one is grouped.
	stored, err := r.store.After(ctx, last-1, ReplayLimit+2)
	if err != nil {
		return nil, 0, err
	}

	var prev views.Message
	if len(stored) > 0 && stored[0].ID <= last {
		prev = messageView(stored[0])
		stored = stored[1:]
	}
	if len(stored) > ReplayLimit {
		return nil, 0, nil
	}

	frames := make([][]byte, 0, len(stored))
	cursor := last
	for _, m := range stored {
		view := messageView(m)
		view.Continued = views.Continues(prev, view)
		prev = view

		frame, err := renderFrame(ctx, eventMessage, m.ID, views.MessageView(view))
		if err != nil {
			return nil, 0, err
		}
		frames = append(frames, frame)
		cursor = m.ID
	}
	return frames, cursor, nil
}

// historyFrame returns the recent history as one event that replaces the page's log.
// It carries the newest id, so the browser's next reconnect asks for what follows.
// The frame is built once per newest id, which keeps a reconnect storm cheap.
func (r *room) historyFrame(ctx context.Context) ([][]byte, int64, int, error) {
	r.snapshotMu.Lock()
	cached := r.snapshot
	r.snapshotMu.Unlock()
	if cached.Bytes != nil {
		return [][]byte{cached.Bytes}, cached.ID, 0, nil
	}

	messages, err := r.history(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	var newest int64
	if len(messages) > 0 {
		newest = messages[len(messages)-1].ID
	}

	frame, err := renderFrame(ctx, eventHistory, newest, views.LogItems(messages))
	if err != nil {
		return nil, 0, 0, err
	}
	// The caller holds r.mu for reading, so no publish can have made this stale.
	r.snapshotMu.Lock()
	r.snapshot = hub.Frame{ID: newest, Bytes: frame}
	r.snapshotMu.Unlock()
	return [][]byte{frame}, newest, 0, nil
}

// messageView turns a stored message into what the screen shows.
func messageView(m store.Message) views.Message {
	v := views.Message{
		ID:       m.ID,
		Kind:     views.Kind(m.Kind),
		Nickname: m.Nickname,
		Text:     m.Text,
		Time:     m.Time,
	}
	return v
}

// announceJoin writes a join line when a session opens its first stream.
func (s *Server) announceJoin(m hub.Member) {
	s.log.Info("join", "session_id", shortID(m.SessionID))
	s.announce(m, store.KindJoin)
}

// announceLeave writes a leave line when a session's last stream has been gone for
// the grace period.
func (s *Server) announceLeave(m hub.Member) {
	s.log.Info("leave", "session_id", shortID(m.SessionID))
	s.announce(m, store.KindLeave)
}

func (s *Server) announce(m hub.Member, kind store.Kind) {
	if s.hub.Subscribers() > MaxAnnouncedRoom {
		return
	}
	line := store.Message{Kind: kind, Nickname: m.Nickname, Time: time.Now()}
	if _, err := s.room.publish(context.Background(), line); err != nil {
		s.log.Error("announce presence", "kind", string(kind), "err", err)
	}
}

// renderPresence renders the online list once for every stream.
func (s *Server) renderPresence(members []hub.Member) []byte {
	names := make([]string, 0, min(len(members), MaxOnlineListed))
	for _, m := range members[:min(len(members), MaxOnlineListed)] {
		names = append(names, m.Nickname)
	}
	p := views.Presence{Online: names, More: len(members) - len(names)}

	frame, err := renderFrame(context.Background(), eventPresence, 0, views.PresenceView(p))
	if err != nil {
		s.log.Error("render presence", "err", err)
		return nil
	}
	return frame
}

// onlineNames returns the online list for a page, with id's own name in it even
// before its stream opens.
func (s *Server) onlineNames(id identity) ([]string, int) {
	members := s.hub.Online()
	names := []string{id.Nickname}
	for _, m := range members {
		if m.SessionID != id.SessionID {
			names = append(names, m.Nickname)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return hub.FoldNickname(names[i]) < hub.FoldNickname(names[j])
	})
	if len(names) > MaxOnlineListed {
		return names[:MaxOnlineListed], len(names) - MaxOnlineListed
	}
	return names, 0
}

// sendNotice sends a private line to every stream of one session.
func (s *Server) sendNotice(ctx context.Context, sessionID, text string) error {
	frame, err := renderFrame(ctx, eventNotice, 0, views.NoticeView(views.Notice{Text: text}))
	if err != nil {
		return fmt.Errorf("notice to %s: %w", shortID(sessionID), err)
	}
	s.hub.SendTo(sessionID, hub.Frame{Bytes: frame})
	s.metrics.notices.Inc()
	return nil
}
