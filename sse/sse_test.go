package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrame(t *testing.T) {
	tests := []struct {
		name  string
		event string
		id    int64
		data  string
		want  string
	}{
		{"one line with id", "message", 7, "<li>hi</li>", "event: message\nid: 7\ndata: <li>hi</li>\n\n"},
		{"private event has no id", "notice", 0, "x", "event: notice\ndata: x\n\n"},
		{"empty data", "presence", 0, "", "event: presence\ndata: \n\n"},
		{"LF", "message", 1, "a\nb", "event: message\nid: 1\ndata: a\ndata: b\n\n"},
		{"CRLF", "message", 1, "a\r\nb", "event: message\nid: 1\ndata: a\ndata: b\n\n"},
		{"lone CR", "message", 1, "a\rb", "event: message\nid: 1\ndata: a\ndata: b\n\n"},
		{"blank line inside", "m", 0, "a\n\nb", "event: m\ndata: a\ndata: \ndata: b\n\n"},
		{"trailing newline", "m", 0, "a\n", "event: m\ndata: a\ndata: \n\n"},
		{"no name", "", 0, "a", "data: a\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Frame(tt.event, tt.id, []byte(tt.data)))
			if got != tt.want {
				t.Errorf("Frame(%q, %d, %q) = %q, want %q", tt.event, tt.id, tt.data, got, tt.want)
			}
		})
	}
}

func TestReaderRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(Retry(1500))
	stream.Write(Heartbeat)
	stream.Write(Frame("message", 3, []byte("<p>\r\n  two lines\r\n</p>")))
	stream.Write(Frame("notice", 0, []byte("only you")))

	rd := NewReader(&stream)
	first, err := rd.Next()
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	want := Event{Name: "message", ID: "3", Data: "<p>\n  two lines\n</p>"}
	if first != want {
		t.Errorf("first event = %+v, want %+v", first, want)
	}

	second, err := rd.Next()
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	if second.Name != "notice" || second.ID != "" || second.Data != "only you" {
		t.Errorf("second event = %+v, want notice without id", second)
	}

	if rd.Retry != 1500 || rd.Comments != 1 {
		t.Errorf("Retry, Comments = %d, %d, want 1500, 1", rd.Retry, rd.Comments)
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next() at end error = %v, want io.EOF", err)
	}
}

// FuzzFrame checks that any payload survives the trip through the encoder and a
// browser-like parser, with line breaks normalized to "\n" as EventSource does.
func FuzzFrame(f *testing.F) {
	for _, seed := range []string{"", "a", "a\nb", "a\r\nb", "a\rb", "\n\n", "\r", "data: x\n\n"} {
		f.Add("message", int64(1), seed)
	}

	f.Fuzz(func(t *testing.T, name string, id int64, data string) {
		if strings.ContainsAny(name, "\r\n:") || name == "" {
			t.Skip("event names are constants without line breaks or colons")
		}
		if id < 0 {
			id = -id
		}

		rd := NewReader(bytes.NewReader(Frame(name, id, []byte(data))))
		got, err := rd.Next()
		if err != nil {
			t.Fatalf("Next() error = %v", err)
		}

		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		if got.Data != want || got.Name != name {
			t.Errorf("round trip of %q = %q (%q), want %q (%q)", data, got.Data, got.Name, want, name)
		}
	})
}
