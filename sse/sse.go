// Package sse owns the Server-Sent Events wire format: it encodes the frames the
// server writes and parses them back for tests and tools.
package sse

import (
	"bytes"
	"strconv"
)

// Heartbeat is a comment frame. It carries no event, so the browser ignores it, but it
// keeps idle streams alive through proxies and lets a write deadline find a dead peer.
var Heartbeat = []byte(": keep-alive\n\n")

// Retry returns the frame that sets the browser's reconnect delay in milliseconds.
func Retry(milliseconds int) []byte {
	return []byte("retry: " + strconv.Itoa(milliseconds) + "\n\n")
}

// AppendFrame appends one event to dst and returns the extended slice. An id of zero
// writes no id line, so the event does not move the browser's Last-Event-ID. Every
// line of data, whether broken by "\n", "\r\n" or "\r", gets its own "data: " prefix,
// because a bare line break would end the event early in the browser.
func AppendFrame(dst []byte, name string, id int64, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}

	if id != 0 {
		dst = append(dst, "id: "...)
		dst = strconv.AppendInt(dst, id, 10)
		dst = append(dst, '\n')
	}

	for {
		end := bytes.IndexAny(data, "\r\n")
		if end < 0 {
			break
		}
		dst = appendDataLine(dst, data[:end])
		if data[end] == '\r' && end+1 < len(data) && data[end+1] == '\n' {
			end++
		}
		data = data[end+1:]
	}
	dst = appendDataLine(dst, data)

	return append(dst, '\n')
}

// Frame encodes one event into a new slice; see AppendFrame.
func Frame(name string, id int64, data []byte) []byte {
	return AppendFrame(make([]byte, 0, len(data)+32), name, id, data)
}

func appendDataLine(dst, line []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}
