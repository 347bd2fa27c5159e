package handlers

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/chatroom/chat/hub"
	"github.com/chatroom/chat/sse"
)

var retryFrame = sse.Retry(int(ReconnectDelay / time.Millisecond))

// streamSendBuffer is the socket send buffer of a taken-over stream connection (Linux
// doubles it). It holds a burst such as a history swap, not minutes of a room.
const streamSendBuffer = 64 << 10

// hijackedHeader is the response head of a stream on a connection taken over from
// net/http. The body ends when the connection closes, which EventSource expects.
var hijackedHeader = []byte("HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Accel-Buffering: no\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Connection: close\r\n\r\n")

// serveEvents is the session's stream. It first catches the browser up (the recent
// history, or exactly what it missed after Last-Event-ID), then writes live frames as
// the hub queues them, several in one write when they pile up.
//
// Over HTTP/1.1 the connection is taken over once the request is checked: the stream
// then costs two small goroutines and no net/http buffers, which matters with ten
// thousand idle streams. Over HTTP/2 the stream stays a normal response.
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

	sub, err := s.hub.Subscribe(hub.Member{SessionID: id.SessionID, Nickname: id.Nickname})
	if err != nil {
		s.streams.release(addr)
		http.Error(w, "The server is shutting down; reconnect in a moment.",
			http.StatusServiceUnavailable)
		return
	}
	finish := func(reason string) {
		s.hub.Unsubscribe(sub)
		s.streams.release(addr)
		s.log.Debug("stream closed",
			slog.String("session_id", shortID(id.SessionID)),
			slog.String("reason", reason))
	}

	frames, cursor, replayed, err := s.room.catchUp(r.Context(), r.Header.Get("Last-Event-ID"))
	if err != nil {
		finish("catch-up failed")
		s.serverError(w, r, "catch up stream", err)
		return
	}
	s.metrics.replayed.Observe(float64(replayed))
	s.log.Debug("stream open",
		slog.String("session_id", shortID(id.SessionID)),
		slog.Int("replayed", replayed))

	if r.ProtoMajor == 1 {
		if conn, err := takeOver(w); err == nil {
			s.streamOnConn(conn, sub, frames, cursor, finish)
			return
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// TODO: HTTP/2 streams get every frame through the queue, waking their goroutine
	// each time, as every stream did before the hub wrote to sockets itself: HTTP/2
	// shares one connection among streams, so there is no socket of the stream's own.
	out := &responseWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
	if err := out.write(append([][]byte{retryFrame}, frames...)); err != nil {
		finish("write failed")
		return
	}
	finish(s.pump(r.Context().Done(), sub, out, nil, cursor))
}

// takeOver hijacks the connection of an HTTP/1.1 request.
func takeOver(w http.ResponseWriter) (net.Conn, error) {
	conn, _, err := http.NewResponseController(w).Hijack()
	return conn, err
}

// streamOnConn writes the stream on a hijacked connection from its own goroutine and
// returns at once, so net/http's goroutine for the request and its buffers are gone.
// A second goroutine reads the connection only to notice the moment the browser
// closes it.
func (s *Server) streamOnConn(conn net.Conn, sub *hub.Subscription, frames [][]byte,
	cursor int64, finish func(string)) {
	// Left to itself the kernel grows a socket's send buffer to megabytes, and a reader
	// that stopped would swallow minutes of frames before its queue ever filled. A
	// fixed buffer makes a stalled reader block its writer after kilobytes.
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetWriteBuffer(streamSendBuffer)
	}
	out := newConnWriter(conn, s.cfg.WriteTimeout)
	head := append([][]byte{hijackedHeader, retryFrame}, frames...)
	if err := out.write(head); err != nil {
		conn.Close()
		finish("write failed")
		return
	}

	gone := make(chan struct{})
	go func() {
		defer close(gone)
		var discard [1]byte
		for {
			if _, err := conn.Read(discard[:]); err != nil {
				return
			}
		}
	}()
	go func() {
		var direct hub.Writer
		if out.fd >= 0 {
			direct = out
		}
		reason := s.pump(gone, sub, out, direct, cursor)
		out.close()
		finish(reason)
	}()
}

// frameWriter writes a batch of frames to a stream and pushes them to the network.
type frameWriter interface {
	write(frames [][]byte) error
}

// pump writes what the hub queues for the stream until gone is closed or the hub
// closes the subscription. Room frames with ids at or below cursor were sent during
// catch-up. With a direct writer the hub writes most frames itself, and pump only
// finishes what a full socket could not take.
func (s *Server) pump(gone <-chan struct{}, sub *hub.Subscription, out frameWriter,
	direct hub.Writer, cursor int64) string {
	sub.Start(cursor, direct)

	var frames []hub.Frame
	var batch [][]byte
	for {
		var presence []byte
		frames, presence = sub.Take(frames)
		if len(frames) == 0 && presence == nil {
			select {
			case <-gone:
				return "client gone"
			case <-sub.Done():
				return sub.Reason().String()
			case <-sub.Wake():
			}
			continue
		}

		batch = batch[:0]
		for _, f := range frames {
			batch = append(batch, f.Bytes)
		}
		if presence != nil {
			batch = append(batch, presence)
		}
		if err := out.write(batch); err != nil {
			return "write failed"
		}
		clear(frames)
		clear(batch)
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

// connWriter writes frames straight to a hijacked connection: batches from the stream's
// own goroutine in one writev call, with a deadline so a dead peer cannot hold the
// stream forever; and single writes from the hub that never wait (TryWrite).
type connWriter struct {
	conn     net.Conn
	timeout  time.Duration
	deadline time.Time

	// fd is the socket for TryWrite, or -1. TryWrite goes to the socket itself rather
	// than through net.Conn: at ten thousand writes a message the bookkeeping of
	// net.Conn costs a tenth of the write. fdMu makes sure the number is never written
	// to after close, when the kernel may have given it to another connection.
	fdMu sync.Mutex
	fd   int
}

func newConnWriter(conn net.Conn, timeout time.Duration) *connWriter {
	c := &connWriter{conn: conn, timeout: timeout, fd: -1}

	// Only a plain TCP connection hands out its socket; a TLS one does not, and its
	// stream then keeps every frame in the queue, encrypted by its own goroutine.
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	return c
}

// close closes the connection; TryWrite fails from then on.
func (c *connWriter) close() {
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	c.fd = -1
	c.conn.Close()
}

func (c *connWriter) write(frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}

	// Moving the deadline costs a timer update; a deadline still at least half the
	// timeout away is good enough, so most writes skip it.
	now := time.Now()
	if c.deadline.Sub(now) < c.timeout/2 {
		c.deadline = now.Add(c.timeout)
		if err := c.conn.SetWriteDeadline(c.deadline); err != nil {
			return err
		}
	}
	buffers := net.Buffers(frames)
	_, err := buffers.WriteTo(c.conn)
	return err
}

// TryWrite writes what the socket takes now, in one system call that never waits. A
// full socket is not an error: the hub queues the rest for write.
//
// The socket is non-blocking, so the call can be a raw one: that skips telling the
// scheduler about a system call that might block, which costs as much as the write
// itself when there are ten thousand of them in a row.
func (c *connWriter) TryWrite(p []byte) (int, error) {
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	if c.fd < 0 {
		return 0, net.ErrClosed
	}

	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd),
		uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case syscall.EAGAIN, syscall.EINTR:
		return 0, nil
	}
	return 0, errno
}

// responseWriter writes frames to a normal response (HTTP/2), which buffers them, and
// flushes once per batch.
type responseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (rw *responseWriter) write(frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}

	// Not every ResponseWriter supports deadlines; then the heartbeat alone finds dead
	// peers, when the kernel gives up on them.
	err := rw.rc.SetWriteDeadline(time.Now().Add(rw.timeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for _, f := range frames {
		if _, err := rw.w.Write(f); err != nil {
			return err
		}
	}
	return rw.rc.Flush()
}
