package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stallRcvBuf is the receive buffer of a stalled subscriber's socket. Small, so the server
// sees back-pressure after kilobytes rather than after the default few hundred KiB.
const stallRcvBuf = 4096

// sseBufSize is the line buffer of one stream; longer lines (history snapshots) are
// assembled separately, so this only needs to hold a typical message frame.
const sseBufSize = 4096

// stream is one session and its event stream.
type stream struct {
	idx     int
	nick    string
	sender  bool // a sender session; its stream is read and checked like the others
	probe   bool // a notice probe (-notices); its stream is read and checked likewise
	stalled bool // stops reading once the stream is open
	cookie  string

	mu     sync.Mutex
	conn   net.Conn
	reason closeReason

	unique atomic.Int64 // distinct messages of this run received; read by the drain check
	lost   atomic.Bool

	// Owned by the reader goroutine; read by others only after it has finished.
	seen           bitset
	dups, foreign  int64
	notices        int64
	presence       int64
	history        int64
	historyMarkers int64
	comments       int64
	otherMsgs      int64
	other          int64
	lastID         []byte
	lostErr        error
	arrival        *arrivalConn // the open connection, for its receive stamps

	poster poster // a sender's or probe's posts; owned by its sending goroutine

	// Private notices, for a probe; also owned by the reader goroutine.
	probeIdx      int
	noticeUnique  atomic.Int64 // distinct notices received; read by the drain check
	noticeSeen    bitset
	noticeDups    int64
	noticeForeign int64

	// Reconnect storm, also owned by the reader goroutine.
	inStorm       bool
	noLastID      bool
	stormTarget   int64 // highest seq issued when the stream came back
	reconnectedNs int64
	caughtUpNs    int64 // latest first receipt of a seq <= stormTarget after coming back
	historyAfter  int64
}

// closeReason tells a reader goroutine why its connection was closed under it.
type closeReason int

const (
	closeNone  closeReason = iota // the server (or the network) ended the stream
	closeStorm                    // the reconnect storm: come back with Last-Event-ID
	closeStop                     // the run is over
)

// setConn installs a freshly opened connection unless the run is stopping.
func (s *stream) setConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == closeStop {
		return false
	}
	s.conn = c
	return true
}

// currentConn returns the open connection, or nil.
func (s *stream) currentConn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// closeFor closes the stream's connection for reason r and reports whether one was open.
// A stop is remembered even with no connection, so a reconnect in flight gives up.
func (s *stream) closeFor(r closeReason) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r == closeStop {
		s.reason = closeStop
	}
	if s.conn == nil {
		return false
	}
	if s.reason != closeStop {
		s.reason = r
	}
	s.conn.Close()
	s.conn = nil
	return true
}

// takeReason is called by the reader once its connection failed: it releases the
// connection if nobody closed it yet and says why it ended, clearing a storm reason so the
// next connection starts afresh.
func (s *stream) takeReason() closeReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	r := s.reason
	if r == closeStorm {
		s.reason = closeNone
	}
	return r
}

// statusError is a non-success HTTP answer, with the server's Retry-After if it sent one.
type statusError struct {
	what       string
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: status %d", e.what, e.code) }

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped at a minute so a
// confused server cannot park the run.
func retryAfter(h http.Header, def time.Duration) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return def
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return def
	}
	return max(min(d, time.Minute), 10*time.Millisecond)
}

// pacer spaces calls to wait at a fixed interval across goroutines (0 = no pacing).
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if p.interval <= 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	return sleepCtx(ctx, time.Until(at))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newHTTPClient builds the client for logins and posts. It dials only the validated
// loopback address, ignores proxy settings and never follows redirects, because the login
// answer that matters is the Set-Cookie on the 303 itself.
func (b *bench) newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return b.dialer.DialContext(ctx, "tcp", b.cfg.dialAddr)
		},
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   b.cfg.requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func okStatus(code int) bool { return code >= 200 && code < 400 }

// postForm sends one urlencoded form and returns the response with its body drained.
func (b *bench) postForm(ctx context.Context, path, cookie, form string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.base+path,
		strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	// Drain so the keep-alive connection is reused for the next request.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

// login creates session i and returns its Cookie header, waiting out 429s.
func (b *bench) login(ctx context.Context, s *stream) error {
	const maxAttempts = 20
	form := "nickname=" + url.QueryEscape(s.nick)
	for attempt := 1; ; attempt++ {
		if err := b.loginPace.wait(ctx); err != nil {
			return fmt.Errorf("login %d: %w", s.idx, err)
		}
		resp, err := b.postForm(ctx, "/login", "", form)
		if err != nil {
			return fmt.Errorf("login %d: %w", s.idx, err)
		}

		switch code := resp.StatusCode; {
		case code == http.StatusTooManyRequests && attempt < maxAttempts:
			b.login429.Add(1)
			if err := sleepCtx(ctx, retryAfter(resp.Header, time.Second)); err != nil {
				return fmt.Errorf("login %d: %w", s.idx, err)
			}
		case okStatus(code):
			cookie := cookieHeader(resp.Cookies())
			if cookie == "" {
				return fmt.Errorf("login %d: status %d without a session cookie", s.idx, code)
			}
			s.cookie = cookie
			return nil
		default:
			return fmt.Errorf("login %d: %w", s.idx, &statusError{what: "login", code: code})
		}
	}
}

// cookieHeader turns Set-Cookie answers into a Cookie request header. A whole cookie jar
// would do the same for one host and path; this is all the server's session needs.
func cookieHeader(cs []*http.Cookie) string {
	var sb strings.Builder
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			continue // a deletion, not a session
		}
		if sb.Len() > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(c.Name + "=" + c.Value)
	}
	return sb.String()
}

// post sends message seq from a sender session and records whether it was acknowledged.
func (b *bench) post(ctx context.Context, s *stream, seq int64) {
	_ = s.poster.connect(ctx, b) // not timed; a failure shows again in send
	start := time.Now()
	sentNs := start.UnixNano()
	b.sentNs[seq].Store(sentNs)
	atomicMax(&b.issuedHigh, seq)
	b.sent.Add(1)

	// The marker is plain ASCII so HTML escaping leaves it intact: "bench <run> <seq> <ns>".
	text := make([]byte, 0, 64)
	text = append(text, b.prefix...)
	text = strconv.AppendInt(text, seq, 10)
	text = append(text, ' ')
	text = strconv.AppendInt(text, sentNs, 10)
	resp, err := s.poster.send(ctx, b, "/messages", s.cookie,
		"text="+url.QueryEscape(string(text)))
	b.postRTT.record(s.idx, int64(time.Since(start)))

	switch {
	case err != nil:
		b.postFailed(seq, errKind(err))
	case okStatus(resp.StatusCode):
		b.state[seq].Store(msgAcked)
		b.acked.Add(1)
	default:
		b.postFailed(seq, strconv.Itoa(resp.StatusCode))
	}
}

func (b *bench) postFailed(seq int64, kind string) {
	b.state[seq].Store(msgFailed)
	b.postMu.Lock()
	b.postErrors[kind]++
	b.postMu.Unlock()
}

// errKind names a transport error briefly, for counting.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	default:
		return "transport"
	}
}

// openStream dials its own TCP connection, asks for /events (resuming after lastID if it is
// not empty) and returns once the response headers say 200 text/event-stream. The body
// reader undoes chunked encoding; the caller parses it.
func (b *bench) openStream(ctx context.Context, s *stream, lastID []byte) (
	net.Conn, io.Reader, error) {
	d := &b.dialer
	if s.stalled {
		d = &b.stallDialer
	}
	tcp, err := d.DialContext(ctx, "tcp", b.cfg.dialAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("stream %d: dial: %w", s.idx, err)
	}
	conn, err := newArrivalConn(tcp)
	if err != nil {
		tcp.Close()
		return nil, nil, fmt.Errorf("stream %d: %w", s.idx, err)
	}
	s.arrival = conn

	// Written by hand: one small write per stream, and no http.Transport bookkeeping
	// for 20,000 long-lived connections.
	req := make([]byte, 0, 256+len(s.cookie)+len(lastID))
	req = append(req, "GET /events HTTP/1.1\r\nHost: "...)
	req = append(req, b.cfg.host...)
	req = append(req, "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nCookie: "...)
	req = append(req, s.cookie...)
	if len(lastID) > 0 {
		req = append(req, "\r\nLast-Event-ID: "...)
		req = append(req, lastID...)
	}
	req = append(req, "\r\n\r\n"...)

	_ = conn.SetDeadline(time.Now().Add(b.cfg.requestTimeout))
	if _, err := conn.Write(req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("stream %d: send request: %w", s.idx, err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), b.eventsReq)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("stream %d: read response: %w", s.idx, err)
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, nil, fmt.Errorf("stream %d: %w", s.idx, &statusError{what: "events",
			code: resp.StatusCode, retryAfter: retryAfter(resp.Header, time.Second)})
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt !=
		"text/event-stream" {
		conn.Close()
		return nil, nil, fmt.Errorf("stream %d: content type %q, want text/event-stream",
			s.idx, resp.Header.Get("Content-Type"))
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, resp.Body, nil
}

// openWithRetry opens a stream, waiting out 429 answers up to a few times.
func (b *bench) openWithRetry(ctx context.Context, s *stream, lastID []byte) (
	net.Conn, io.Reader, error) {
	const maxAttempts = 10
	for attempt := 1; ; attempt++ {
		conn, body, err := b.openStream(ctx, s, lastID)
		var se *statusError
		if err == nil || !errors.As(err, &se) || se.code != http.StatusTooManyRequests ||
			attempt == maxAttempts {
			return conn, body, err
		}
		b.connect429.Add(1)
		if err := sleepCtx(ctx, se.retryAfter); err != nil {
			return nil, nil, fmt.Errorf("stream %d: %w", s.idx, err)
		}
	}
}

// stallControl shrinks a socket's receive buffer before it connects, so the window the
// server sees stays small.
func stallControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF,
			stallRcvBuf)
	})
	if err != nil {
		return err
	}
	return serr
}

// readLoop reads one healthy stream until the run stops, reconnecting once per storm.
func (b *bench) readLoop(s *stream, body io.Reader) {
	defer b.readers.Done()
	for {
		err := b.consume(s, body)
		b.live.Add(-1)

		switch s.takeReason() {
		case closeStop:
			return
		case closeStorm:
			body = b.reconnect(s)
			if body == nil {
				return
			}
			b.live.Add(1)
		default:
			s.lostErr = err
			s.lost.Store(true)
			return
		}
	}
}

// consume parses events until the connection fails.
func (b *bench) consume(s *stream, body io.Reader) error {
	p := newSSEReader(body, sseBufSize)
	p.lastID = s.lastID // an EventSource keeps its last id across reconnects
	defer func() {
		s.lastID = p.lastID
		s.comments += int64(p.Comments)
	}()

	for {
		ev, err := p.Next()
		if err != nil {
			return err
		}
		readNs := time.Now().UnixNano()
		now := s.arrivedAt(readNs)

		switch string(ev.Type) {
		case "message":
			seq, sentNs, ok := parseMarker(ev.Data, b.prefix)
			if !ok {
				s.otherMsgs++
				continue
			}
			b.deliver(s, seq, sentNs, now, readNs)
		case "history":
			// The snapshot may repeat messages already seen; it is noted, not counted.
			s.history++
			s.historyMarkers += int64(countMarkers(ev.Data, b.prefix))
			if s.inStorm {
				s.historyAfter++
			}
		case "notice":
			s.notices++
			if s.probe {
				b.deliverNotice(s, ev.Data, now, readNs)
			}
		case "presence":
			s.presence++
		default:
			s.other++
		}
	}
}

// arrivedAt is when the kernel received the bytes read last, or readNs, when the tool read
// them, if there is no stamp to go by.
func (s *stream) arrivedAt(readNs int64) int64 {
	if s.arrival == nil {
		return readNs
	}
	if stamp := s.arrival.stampNs; stamp > 0 && stamp <= readNs {
		return stamp
	}
	return readNs
}

// deliver accounts one message event of this run at stream s, received by the kernel at
// now and read by the tool at readNs.
func (b *bench) deliver(s *stream, seq, sentNs, now, readNs int64) {
	if seq < 0 || seq >= b.total {
		s.foreign++
		return
	}
	if s.seen.testAndSet(seq) {
		s.dups++
		return
	}
	s.unique.Add(1)
	b.delivered.Add(1)

	switch lat := now - sentNs; {
	case seq < b.warmupN:
		// Warm-up messages are checked for loss but not timed.
	case s.inStorm || seq >= b.steadyN:
		// A steady-phase message that arrives only after the reconnect waited out the
		// storm; it is timed with the storm so the steady figures stay steady.
		b.stormLat.record(s.idx, lat)
	default:
		b.steadyLat.record(s.idx, lat)
		b.steadyReadLat.record(s.idx, readNs-sentNs)
		atomicMax(&b.lastRecv[seq], now)
	}
	if s.inStorm && seq <= s.stormTarget {
		s.caughtUpNs = max(s.caughtUpNs, now)
	}
}

// reconnect brings a stream back after the storm closed it, resuming from the last id it
// saw. It returns nil when the run stopped first.
func (b *bench) reconnect(s *stream) io.Reader {
	// Wait until every stream is closed, so the reconnects arrive together.
	select {
	case <-b.stormGo:
	case <-b.stopCtx.Done():
		return nil
	}
	s.inStorm = true
	s.noLastID = len(s.lastID) == 0

	backoff := 50 * time.Millisecond
	for {
		conn, body, err := b.openStream(b.stopCtx, s, s.lastID)
		if err == nil {
			if !s.setConn(conn) {
				conn.Close()
				return nil
			}
			s.reconnectedNs = time.Now().UnixNano()
			s.stormTarget = b.issuedHigh.Load()
			b.reconnected.Add(1)
			return body
		}
		if b.stopCtx.Err() != nil {
			s.lostErr = fmt.Errorf("reconnect: %w", err)
			s.lost.Store(true)
			return nil
		}

		b.stormRetries.Add(1)
		wait := backoff
		if se := (*statusError)(nil); errors.As(err, &se) && se.retryAfter > 0 {
			wait = se.retryAfter
		}
		backoff = min(2*backoff, 2*time.Second)
		if sleepCtx(b.stopCtx, wait) != nil {
			s.lostErr = fmt.Errorf("reconnect: %w", err)
			s.lost.Store(true)
			return nil
		}
	}
}

// countMarkers counts this run's message texts inside a history snapshot.
func countMarkers(data, prefix []byte) int {
	n := 0
	for {
		i := bytes.Index(data, prefix)
		if i < 0 {
			return n
		}
		n++
		data = data[i+len(prefix):]
	}
}

// bitset is a growable set of sequence numbers.
type bitset []uint64

// testAndSet adds i and reports whether it was already there.
func (b *bitset) testAndSet(i int64) bool {
	w := int(i >> 6)
	if w >= len(*b) {
		grown := make(bitset, max(w+1, 2*len(*b)))
		copy(grown, *b)
		*b = grown
	}
	mask := uint64(1) << (i & 63)
	had := (*b)[w]&mask != 0
	(*b)[w] |= mask
	return had
}

func (b bitset) has(i int64) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(uint64(1)<<(i&63)) != 0
}

// eachMissing calls fn for every member of want that is not in b, up to and including
// limit, and returns how many there were.
func (b bitset) eachMissing(want bitset, limit int64, fn func(int64)) int64 {
	var n int64
	for w, bitsWanted := range want {
		if int64(w)<<6 > limit {
			break
		}
		var have uint64
		if w < len(b) {
			have = b[w]
		}
		for m := bitsWanted &^ have; m != 0; m &= m - 1 {
			seq := int64(w)<<6 + int64(bits.TrailingZeros64(m))
			if seq > limit {
				break
			}
			n++
			if fn != nil {
				fn(seq)
			}
		}
	}
	return n
}

// countNotIn counts members of b that are not in other.
func (b bitset) countNotIn(other bitset) int64 {
	var n int64
	for w, m := range b {
		if w < len(other) {
			m &^= other[w]
		}
		n += int64(bits.OnesCount64(m))
	}
	return n
}

// fetchLoopback GETs a URL on a loopback address (checked here, and dialed as checked, so
// no name is ever resolved) over a connection of its own, and copies the answer's body
// to w. Anything but 200 is an error. The sweep uses it for health checks and the
// profiler; the tool for -gc-url.
func fetchLoopback(ctx context.Context, raw string, timeout time.Duration, w io.Writer) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	_, dialAddr, err := checkLoopbackURL(u.Scheme + "://" + u.Host)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", dialAddr)
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{what: "GET " + u.Path, code: resp.StatusCode}
	}
	// A CPU profile is a few hundred KiB; the cap only stops a runaway answer.
	if _, err := io.Copy(w, io.LimitReader(resp.Body, 64<<20)); err != nil {
		return fmt.Errorf("GET %s: %w", u.Path, err)
	}
	return nil
}
