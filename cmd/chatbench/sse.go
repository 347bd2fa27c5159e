package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxSSELine bounds one line of the stream. A history snapshot arrives as one long data line,
// so this is generous; it only exists so a broken server cannot grow a reader without limit.
const maxSSELine = 16 << 20

var errLineTooLong = errors.New("sse: line longer than 16 MiB")

// typeMessage is the event type of an event that names none, as the SSE spec defines.
var typeMessage = []byte("message")

// sseEvent is one dispatched event. Its slices point into the reader's buffers and stay
// valid only until the next call to Next.
type sseEvent struct {
	Type []byte // "message" when the stream gave no event: field
	ID   []byte // the last event ID in effect at dispatch, possibly empty
	Data []byte // the data: lines joined by "\n"
}

// sseReader parses a text/event-stream body the way the WHATWG spec describes: lines end in
// LF, CRLF or a lone CR; ":" starts a comment; a field's value loses one leading space; an
// empty line dispatches the event if it has data. It reuses its buffers, so steady-state
// parsing allocates nothing.
type sseReader struct {
	br      *bufio.Reader
	long    []byte // a line that did not fit br's buffer, assembled across reads
	skipLF  bool   // the last line ended in CR, so an LF right after it is part of that end
	started bool   // whether a leading byte-order mark has been looked for

	typ    []byte
	data   []byte
	lastID []byte
	stale  bool // typ and data were handed out by Next and must be reset before reuse

	// Comments counts comment lines (heartbeats); Retry is the last retry: value in ms,
	// or -1.
	Comments int
	Retry    int64
}

func newSSEReader(r io.Reader, size int) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, size), Retry: -1}
}

// Next returns the next dispatched event. An incomplete event at the end of the stream is
// dropped, as the spec says, and the read error is returned.
func (p *sseReader) Next() (sseEvent, error) {
	if p.stale {
		p.typ, p.data, p.stale = p.typ[:0], p.data[:0], false
	}
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if ev, ok := p.processLine(line); ok {
			return ev, nil
		}
	}
}

// readLine returns the next line without its terminator. The slice points into the read
// buffer (or p.long) and is only valid until the next call.
//
// A line ending in CR is returned at once rather than after peeking at the next byte, which
// could block until the server writes again and so delay the event; skipLF then drops an LF
// that turns out to follow it.
func (p *sseReader) readLine() ([]byte, error) {
	p.long = p.long[:0]
	if !p.started {
		p.started = true
		if bom, _ := p.br.Peek(3); string(bom) == "\xef\xbb\xbf" {
			_, _ = p.br.Discard(3)
		}
	}
	for {
		if p.br.Buffered() == 0 {
			if _, err := p.br.Peek(1); err != nil {
				return nil, err // a partial line at the end is dropped with its event
			}
		}
		buf, _ := p.br.Peek(p.br.Buffered())
		if p.skipLF {
			p.skipLF = false
			if buf[0] == '\n' {
				_, _ = p.br.Discard(1)
				continue
			}
		}

		end, used := lineEnd(buf)
		if end < 0 {
			if len(p.long)+len(buf) > maxSSELine {
				return nil, errLineTooLong
			}
			p.long = append(p.long, buf...)
			_, _ = p.br.Discard(len(buf))
			continue
		}
		line := buf[:end]
		if used == end+1 && buf[end] == '\r' && used == len(buf) {
			p.skipLF = true // CR is the last byte read so far; an LF may still follow
		}
		if len(p.long) > 0 {
			p.long = append(p.long, line...)
			line = p.long
		}
		// Discard only moves the read position; the bytes stay put until the next fill,
		// which happens in the next call at the earliest.
		_, _ = p.br.Discard(used)
		return line, nil
	}
}

// lineEnd finds the first line terminator in buf: the line's length and the bytes used
// including the terminator, or -1 if buf holds none.
func lineEnd(buf []byte) (end, used int) {
	lf := bytes.IndexByte(buf, '\n')
	search := buf
	if lf >= 0 {
		search = buf[:lf]
	}
	cr := bytes.IndexByte(search, '\r')
	switch {
	case cr >= 0 && cr+1 == lf:
		return cr, cr + 2 // CRLF
	case cr >= 0:
		return cr, cr + 1 // lone CR (or CR at the end of what has been read)
	case lf >= 0:
		return lf, lf + 1
	default:
		return -1, 0
	}
}

func (p *sseReader) processLine(line []byte) (sseEvent, bool) {
	if len(line) == 0 {
		return p.dispatch()
	}
	if line[0] == ':' {
		p.Comments++
		return sseEvent{}, false
	}

	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}

	// A switch on string(field) compiles to comparisons without allocating.
	switch string(field) {
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.lastID = append(p.lastID[:0], value...)
		}
	case "retry":
		if n, ok := parseDigits(value); ok {
			p.Retry = n
		}
	}
	return sseEvent{}, false
}

func (p *sseReader) dispatch() (sseEvent, bool) {
	if len(p.data) == 0 {
		p.typ = p.typ[:0]
		return sseEvent{}, false
	}
	ev := sseEvent{Type: p.typ, ID: p.lastID, Data: p.data[:len(p.data)-1]}
	if len(ev.Type) == 0 {
		ev.Type = typeMessage
	}
	p.stale = true
	return ev, true
}

// parseDigits parses a non-empty run of ASCII digits that fits an int64.
func parseDigits(b []byte) (int64, bool) {
	n, used := leadingDigits(b)
	return n, used > 0 && used == len(b)
}

// leadingDigits parses the ASCII digits at the start of b, returning the value and how many
// bytes it used; 0 bytes if b does not start with a digit or the number overflows an int64.
func leadingDigits(b []byte) (int64, int) {
	const cutoff = (1<<63 - 1) / 10
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n > cutoff || (n == cutoff && d > (1<<63-1)%10) {
			return 0, 0
		}
		n = n*10 + d
	}
	return n, i
}

// parseMarker finds the first "bench <runid> <seq> <unixnano>" text in data, where prefix is
// "bench <runid> ", and returns its sequence number and send time.
func parseMarker(data, prefix []byte) (seq, sentNs int64, ok bool) {
	i := bytes.Index(data, prefix)
	if i < 0 {
		return 0, 0, false
	}
	rest := data[i+len(prefix):]
	seq, n := leadingDigits(rest)
	if n == 0 || n >= len(rest) || rest[n] != ' ' {
		return 0, 0, false
	}
	sentNs, m := leadingDigits(rest[n+1:])
	if m == 0 {
		return 0, 0, false
	}
	return seq, sentNs, true
}
