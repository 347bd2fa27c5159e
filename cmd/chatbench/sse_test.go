package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll parses the whole input and renders each event as "type|id|data".
func readAll(r io.Reader, bufSize int) ([]string, *sseReader, error) {
	p := newSSEReader(r, bufSize)
	var got []string
	for {
		ev, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return got, p, err
		}
		got = append(got, fmt.Sprintf("%s|%s|%s", ev.Type, ev.ID, ev.Data))
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name     string
		in       string
		want     []string
		comments int
		retry    int64
	}{
		{
			name: "one event with LF",
			in:   "event: message\nid: 1\ndata: hello\n\n",
			want: []string{"message|1|hello"},
		},
		{
			name: "CRLF endings",
			in:   "event: notice\r\nid: 7\r\ndata: slow down\r\n\r\n",
			want: []string{"notice|7|slow down"},
		},
		{
			name: "lone CR endings",
			in:   "event: message\rid: 2\rdata: a\r\rdata: b\r\r",
			want: []string{"message|2|a", "message|2|b"},
		},
		{
			name: "mixed endings",
			in:   "data: a\r\ndata: b\rdata: c\n\r\n",
			want: []string{"message||a\nb\nc"},
		},
		{
			name: "CR then CRLF is two line ends",
			in:   "data: a\r\r\ndata: b\n\n",
			want: []string{"message||a", "message||b"},
		},
		{
			name: "multiple data lines join with LF",
			in:   "event: history\ndata: <ul>\ndata: <li>x</li>\ndata: </ul>\n\n",
			want: []string{"history||<ul>\n<li>x</li>\n</ul>"},
		},
		{
			name:     "comments and heartbeats dispatch nothing",
			in:       ": hello\n\n:ping\n\n: \n\n",
			want:     nil,
			comments: 3,
		},
		{
			name:     "comment inside an event",
			in:       "event: presence\n: keepalive\ndata: 3 online\n\n",
			want:     []string{"presence||3 online"},
			comments: 1,
		},
		{
			name: "event without data is dropped and its type forgotten",
			in:   "event: notice\nid: 4\n\ndata: x\n\n",
			want: []string{"message|4|x"},
		},
		{
			name: "bare data field is an empty line of data",
			in:   "data\n\ndata:\ndata:\n\n",
			want: []string{"message||", "message||\n"},
		},
		{
			name: "only one leading space is removed",
			in:   "data:no space\n\ndata:  two spaces\n\n",
			want: []string{"message||no space", "message|| two spaces"},
		},
		{
			name: "colon in value is kept",
			in:   "data: a: b\n\n",
			want: []string{"message||a: b"},
		},
		{
			name: "id persists and an empty id resets it",
			in:   "id: 9\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			want: []string{"message|9|a", "message|9|b", "message||c"},
		},
		{
			name: "id with NUL is ignored",
			in:   "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n",
			want: []string{"message|3|a", "message|3|b"},
		},
		{
			name:  "retry digits only",
			in:    "retry: 2500\nretry: soon\ndata: a\n\n",
			want:  []string{"message||a"},
			retry: 2500,
		},
		{
			name: "unknown fields are ignored",
			in:   "foo: bar\ndata: a\n\n",
			want: []string{"message||a"},
		},
		{
			name: "leading byte-order mark",
			in:   "\xef\xbb\xbfdata: a\n\n",
			want: []string{"message||a"},
		},
		{
			name: "unterminated event at EOF is dropped",
			in:   "data: a\n\ndata: b\n",
			want: []string{"message||a"},
		},
		{
			name: "line longer than the buffer",
			in:   "data: " + long + "\r\n\r\n",
			want: []string{"message||" + long},
		},
	}

	// Each input is read whole, a byte at a time and half a read at a time, with a
	// small and a large buffer: events must not depend on where reads split.
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tc := range tests {
		for _, rd := range readers {
			for _, size := range []int{16, 4096} {
				t.Run(fmt.Sprintf("%s/%s/%d", tc.name, rd.name, size), func(t *testing.T) {
					got, p, err := readAll(rd.wrap(strings.NewReader(tc.in)), size)
					if err != nil {
						t.Fatalf("error %v", err)
					}
					if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
						t.Errorf("events\n got %q\nwant %q", got, tc.want)
					}
					if p.Comments != tc.comments {
						t.Errorf("comments %d, want %d", p.Comments, tc.comments)
					}
					wantRetry := tc.retry
					if wantRetry == 0 {
						wantRetry = -1
					}
					if p.Retry != wantRetry {
						t.Errorf("retry %d, want %d", p.Retry, wantRetry)
					}
				})
			}
		}
	}
}

// An event's slices are reused: a caller must be able to read the next event correctly
// even though the previous one pointed into the same buffers.
func TestSSEReaderReusesBuffers(t *testing.T) {
	p := newSSEReader(strings.NewReader(
		"event: long-type\ndata: first event\n\ndata: 2nd\n\n"), 16)
	ev, err := p.Next()
	if err != nil || string(ev.Type) != "long-type" || string(ev.Data) != "first event" {
		t.Fatalf("first: %q %q %v", ev.Type, ev.Data, err)
	}
	ev, err = p.Next()
	if err != nil || string(ev.Type) != "message" || string(ev.Data) != "2nd" {
		t.Fatalf("second: %q %q %v", ev.Type, ev.Data, err)
	}
}

func TestSSEReaderSteadyStateDoesNotAllocate(t *testing.T) {
	frame := "event: message\r\nid: 12\r\ndata: <li><b>n</b> bench ab 1 2</li>\r\n\r\n: ping\n\n"
	r := strings.NewReader("")
	p := newSSEReader(r, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(frame)
		if _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per event, want 0", allocs)
	}
}

func TestParseMarker(t *testing.T) {
	prefix := []byte("bench ab12 ")
	tests := []struct {
		name     string
		data     string
		seq, ns  int64
		ok       bool
		nMarkers int
	}{
		{"in a fragment", `<li class="message"><b>x</b> bench ab12 42 1700000000123456789</li>`,
			42, 1700000000123456789, true, 1},
		{"at the very end", "bench ab12 0 5", 0, 5, true, 1},
		{"other run", "bench ab13 1 2", 0, 0, false, 0},
		{"missing time", "bench ab12 7</li>", 0, 0, false, 1},
		{"missing space", "bench ab12 7", 0, 0, false, 1},
		{"not a number", "bench ab12 x 5", 0, 0, false, 1},
		{"overflowing time", "bench ab12 1 99999999999999999999", 0, 0, false, 1},
		{"first of several", "bench ab12 1 10<br>bench ab12 2 20", 1, 10, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, ns, ok := parseMarker([]byte(tc.data), prefix)
			if seq != tc.seq || ns != tc.ns || ok != tc.ok {
				t.Errorf("got (%d, %d, %v), want (%d, %d, %v)", seq, ns, ok,
					tc.seq, tc.ns, tc.ok)
			}
			if n := countMarkers([]byte(tc.data), prefix); n != tc.nMarkers {
				t.Errorf("countMarkers %d, want %d", n, tc.nMarkers)
			}
		})
	}
}

func BenchmarkSSEReader(b *testing.B) {
	frame := "event: message\r\nid: 12345\r\n" +
		"data: <li class=\"message\"><b>bab12n1</b> bench ab12 4 1700000000123456789</li>\r\n\r\n"
	r := strings.NewReader("")
	p := newSSEReader(r, 4096)
	prefix := []byte("bench ab12 ")
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		ev, err := p.Next()
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok := parseMarker(ev.Data, prefix); !ok {
			b.Fatal("no marker")
		}
	}
}
