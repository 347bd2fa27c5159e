package hub

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// socket is a Writer that behaves like a socket's send buffer: it takes at most room
// bytes (all of them when room is negative) and records each write.
type socket struct {
	mu     sync.Mutex
	room   int
	broken bool
	got    []string // one entry per write call that took something
}

func (s *socket) TryWrite(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return 0, errors.New("connection reset")
	}
	n := len(p)
	if s.room >= 0 {
		n = min(n, s.room)
		s.room -= n
	}
	if n > 0 {
		s.got = append(s.got, string(p[:n]))
	}
	return n, nil
}

func (s *socket) writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// directSubscriber subscribes and hands the stream to the hub's direct writes, as a
// stream handler does once it has written the catch-up up to cursor.
func directSubscriber(t *testing.T, h *Hub, session string, cursor int64) (*Subscription,
	*socket) {
	t.Helper()
	sub := subscribe(t, h, session, session)
	sock := &socket{room: -1}
	sub.Start(cursor, sock)
	if frames, _ := sub.Take(nil); len(frames) != 0 {
		t.Fatalf("frames queued before the stream started: %d", len(frames))
	}
	return sub, sock
}

func waitWrites(t *testing.T, sock *socket, want string) {
	t.Helper()
	waitFor(t, func() bool { return fmt.Sprint(sock.writes()) == want },
		func() string { return fmt.Sprintf("writes %q, want %s", sock.writes(), want) })
}

func frame(id int64) Frame {
	return Frame{ID: id, Bytes: fmt.Appendf(nil, "<%d>", id)}
}

func TestDirectWritesBypassTheQueue(t *testing.T) {
	h := newTestHub(t, Options{})
	sub, sock := directSubscriber(t, h, "a", 0)

	h.Broadcast(frame(1))
	waitWrites(t, sock, "[<1>]")
	h.Broadcast(frame(2))
	waitWrites(t, sock, "[<1> <2>]")
	if got := h.SendTo("a", Frame{Bytes: []byte("<private>")}); got != 1 {
		t.Errorf("SendTo(a) = %d, want 1", got)
	}
	waitWrites(t, sock, "[<1> <2> <private>]")

	if frames, _ := sub.Take(nil); len(frames) != 0 {
		t.Errorf("Take() = %d frames, want none: every frame was written directly",
			len(frames))
	}
	select {
	case <-sub.Wake():
		t.Error("the stream handler was woken for frames the hub wrote itself")
	default:
	}
}

func TestDirectWritesSkipWhatCatchUpSent(t *testing.T) {
	h := newTestHub(t, Options{})
	_, sock := directSubscriber(t, h, "a", 2)

	for id := int64(1); id <= 3; id++ {
		h.Broadcast(frame(id))
	}
	h.Broadcast(frame(4))
	// Frame 4 comes last, so once it is written the fan-out is past frames 1 to 3.
	waitFor(t, func() bool { return strings.HasSuffix(strings.Join(sock.writes(), ""), "<4>") },
		func() string { return fmt.Sprintf("writes %q, want <4> last", sock.writes()) })
	if got := strings.Join(sock.writes(), ""); got != "<3><4>" {
		t.Errorf("written %q, want <3><4>: frames 1 and 2 came with the catch-up", got)
	}
}

func TestBatchIsOneWriteFromTheCursor(t *testing.T) {
	sub := newSubscription("a", 10, nil)
	sock := &socket{room: -1}
	sub.Start(1, sock)
	sub.Take(nil)

	b := newBatch([]Frame{frame(1), {Bytes: []byte("<hb>")}, frame(2), frame(3)})
	if !sub.deliver(b) {
		t.Fatal("deliver() = false on an open subscription")
	}
	if got := fmt.Sprint(sock.writes()); got != "[<hb><2><3>]" {
		t.Errorf("writes = %s, want one write of what follows frame 1", got)
	}
}

func TestFullSocketHandsOverToTheStreamHandler(t *testing.T) {
	h := newTestHub(t, Options{})
	sub, sock := directSubscriber(t, h, "a", 0)
	sock.room = 4

	h.Broadcast(Frame{ID: 1, Bytes: []byte("<first>")})
	<-sub.Wake()
	frames, _ := sub.Take(nil)
	if len(frames) != 1 || string(frames[0].Bytes) != "st>" {
		t.Fatalf("queued after a full socket: %v, want the rest of the frame", frames)
	}

	// The handler owns the connection until a Take finds nothing: frames queue.
	h.Broadcast(frame(2))
	<-sub.Wake()
	if got := fmt.Sprint(take(sub)); got != "[2]" {
		t.Errorf("queued while the handler writes: %s, want [2]", got)
	}
	if frames, _ := sub.Take(nil); len(frames) != 0 {
		t.Fatalf("Take() = %d frames, want none", len(frames))
	}

	sock.mu.Lock()
	sock.room = -1
	sock.mu.Unlock()
	h.Broadcast(frame(3))
	waitWrites(t, sock, "[<fir <3>]")
}

func TestBrokenConnectionEndsTheSubscription(t *testing.T) {
	h := newTestHub(t, Options{})
	sub, sock := directSubscriber(t, h, "a", 0)
	sock.broken = true

	h.Broadcast(frame(1))
	waitClosed(t, sub, ReasonBroken)
}

func TestHeartbeatOnlyForSilentStreams(t *testing.T) {
	h := newTestHub(t, Options{})
	_, busySock := directSubscriber(t, h, "busy", 0)
	_, quietSock := directSubscriber(t, h, "quiet", 0)

	h.SendTo("busy", Frame{Bytes: []byte("<note>")})
	h.Heartbeat([]byte("<hb>"))
	if got := fmt.Sprint(busySock.writes()); got != "[<note>]" {
		t.Errorf("busy stream writes = %s, want no heartbeat after a write", got)
	}
	if got := fmt.Sprint(quietSock.writes()); got != "[<hb>]" {
		t.Errorf("quiet stream writes = %s, want a heartbeat", got)
	}

	h.Heartbeat([]byte("<hb>"))
	if got := fmt.Sprint(busySock.writes()); got != "[<note> <hb>]" {
		t.Errorf("busy stream writes = %s, want a heartbeat once silent for a round", got)
	}
	if got := fmt.Sprint(quietSock.writes()); got != "[<hb>]" {
		t.Errorf("quiet stream writes = %s, want no heartbeat right after one", got)
	}

	h.Heartbeat([]byte("<hb>"))
	if got := fmt.Sprint(quietSock.writes()); got != "[<hb> <hb>]" {
		t.Errorf("quiet stream writes = %s, want a heartbeat every other round", got)
	}
}
