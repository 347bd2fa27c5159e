package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/sse"
)

var retryFrame = sse.Retry(int(ReconnectDelay / time.Millisecond))

// serveEvents is the session's stream. It first catches the browser up (the recent
// history, or exactly what it missed after Last-Event-ID), then writes live frames as
// the hub queues them, several at a time when they pile up.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	id, ok, _ := s.identify(r)
	if !ok {
		// 204 makes EventSource stop for good instead of retrying forever.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if problem, status := s.streamAllowed(id); problem != "" {
		s.log.Warn("stream refused", "session_id", shortID(id.SessionID), "reason", problem)
		http.Error(w, problem, status)
		return
	}
	addr := s.clientAddr(r)
	if !s.streams.acquire(addr, s.cfg.StreamsPerAddr) {
		s.log.Warn("stream refused", "client_addr", addr, "reason", "streams per address")
		http.Error(w, "Too many open streams from your address.", http.StatusTooManyRequests)
		return
	}
	defer s.streams.release(addr)

	sub, err := s.hub.Subscribe(hub.Member{SessionID: id.SessionID, Nickname: id.Nickname})
	if err != nil {
		http.Error(w, "The server is shutting down; reconnect in a moment.",
			http.StatusServiceUnavailable)
		return
	}
	defer s.hub.Unsubscribe(sub)

	frames, cursor, replayed, err := s.room.catchUp(r.Context(), r.Header.Get("Last-Event-ID"))
	if err != nil {
		s.serverError(w, r, "catch up stream", err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	stream := &stream{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
	stream.buf = append(stream.buf, retryFrame...)
	for _, f := range frames {
		stream.buf = append(stream.buf, f...)
	}
	if err := stream.flush(); err != nil {
		return
	}
	s.metrics.replayed.Observe(float64(replayed))
	s.log.Debug("stream open",
		slog.String("session_id", shortID(id.SessionID)),
		slog.Int("replayed", replayed))

	reason := s.pump(r, sub, stream, cursor)
	s.log.Debug("stream closed",
		slog.String("session_id", shortID(id.SessionID)),
		slog.String("reason", reason))
}

// pump writes queued frames until the request ends or the hub closes the
// subscription. Frames with ids at or below cursor were sent during catch-up.
func (s *Server) pump(r *http.Request, sub *hub.Subscription, stream *stream,
	cursor int64) string {
	var frames []hub.Frame
	var presence []byte
	for {
		frames, presence = sub.Take(frames)
		for _, f := range frames {
			if f.ID != 0 {
				if f.ID <= cursor {
					continue
				}
				cursor = f.ID
			}
			stream.buf = append(stream.buf, f.Bytes...)
		}
		stream.buf = append(stream.buf, presence...)
		if err := stream.flush(); err != nil {
			return "write failed"
		}

		select {
		case <-r.Context().Done():
			return "client gone"
		case <-sub.Done():
			return sub.Reason().String()
		case <-sub.Wake():
		}
	}
}

// streamAllowed checks the stream limits for a session.
func (s *Server) streamAllowed(id identity) (problem string, status int) {
	if s.hub.Streams(id.SessionID) >= MaxStreamsPerSession {
		return "Too many open tabs for this session.", http.StatusTooManyRequests
	}
	if s.hub.Subscribers() >= s.cfg.MaxStreams {
		return "The server has too many open streams; try again later.",
			http.StatusServiceUnavailable
	}
	return "", 0
}

// stream is one response being written as SSE.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

// flush writes what is buffered, with a deadline so a dead peer cannot hold the
// handler forever, and flushes it to the network.
func (st *stream) flush() error {
	if len(st.buf) == 0 {
		return nil
	}
	defer func() {
		// A catch-up can be large; an idle stream should not keep that memory.
		if cap(st.buf) > 64<<10 {
			st.buf = nil
		}
		st.buf = st.buf[:0]
	}()

	// Not every ResponseWriter supports deadlines (recorders in tests); then the
	// heartbeat alone finds dead peers, when the kernel gives up on them.
	err := st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := st.w.Write(st.buf); err != nil {
		return err
	}
	return st.rc.Flush()
}
