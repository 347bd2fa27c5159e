package sse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// Event is one event as a browser's EventSource would see it.
type Event struct {
	Name string // "message" when the frame named none, as in the browser
	ID   string // the id line's value, "" when the frame had none
	Data string // the data lines joined by "\n"
}

// Reader parses a stream of frames the way the HTML standard describes, for tests and
// tools that need to see the stream as a browser does. It is not used on the hot path.
type Reader struct {
	r *bufio.Reader

	// Comments counts comment lines (heartbeats) seen so far.
	Comments int

	// Retry is the last reconnect delay the stream set, in milliseconds.
	Retry int
}

// NewReader returns a Reader that reads frames from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReader(r)}
}

// Next returns the next event, skipping comments and frames without data.
func (rd *Reader) Next() (Event, error) {
	var event Event
	var data bytes.Buffer
	hasData := false

	for {
		line, err := rd.readLine()
		if err != nil {
			return Event{}, err
		}

		if len(line) == 0 {
			if !hasData {
				event = Event{}
				continue
			}
			if event.Name == "" {
				event.Name = "message"
			}
			event.Data = data.String()
			return event, nil
		}

		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "":
			rd.Comments++
		case "event":
			event.Name = string(value)
		case "id":
			event.ID = string(value)
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil {
				rd.Retry = ms
			}
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
	}
}

// readLine returns one line without its ending, which may be "\n", "\r\n" or "\r".
func (rd *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		b, err := rd.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, fmt.Errorf("sse: stream ended inside a line: %w", io.ErrUnexpectedEOF)
			}
			return nil, err
		}

		switch b {
		case '\n':
			return line, nil
		case '\r':
			if next, err := rd.r.Peek(1); err == nil && next[0] == '\n' {
				rd.r.ReadByte()
			}
			return line, nil
		}
		line = append(line, b)
	}
}
