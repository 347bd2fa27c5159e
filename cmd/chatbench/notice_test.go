package main

import (
	"html"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNoticeMarker(t *testing.T) {
	prefix := []byte("probe 0badcafe ")
	text := noticeText("b0badcafep3", prefix, 17, 1733300000123456789)
	if want := "/msg b0badcafep3 probe 0badcafe 17 1733300000123456789"; text != want {
		t.Fatalf("noticeText = %q, want %q", text, want)
	}
	// The body of the /msg as the chat renders it: escaped, wrapped, possibly line-broken.
	body := text[len("/msg b0badcafep3 "):]
	tests := []struct {
		name    string
		data    string
		wantSeq int64
		wantNs  int64
		wantOK  bool
	}{
		{"as rendered", `<li class="direct"><b>me</b> to me: ` + html.EscapeString(body) +
			`</li>`, 17, 1733300000123456789, true},
		{"bare marker", body, 17, 1733300000123456789, true},
		{"across data lines", "<li>\n" + body + "\n</li>", 17, 1733300000123456789, true},
		{"another run's probe", "probe 12345678 17 1733300000123456789", 0, 0, false},
		{"a broadcast of this run", "bench 0badcafe 17 1733300000123456789", 0, 0, false},
		{"rate-limit notice", "<li>Slow down: you can post again in 2 s.</li>", 0, 0, false},
		{"no time", "probe 0badcafe 17 ", 0, 0, false},
		{"no seq", "probe 0badcafe x 17", 0, 0, false},
		{"seq overflows", "probe 0badcafe 99999999999999999999 1", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, ns, ok := parseMarker([]byte(tc.data), prefix)
			if ok != tc.wantOK || seq != tc.wantSeq || ns != tc.wantNs {
				t.Errorf("parseMarker = (%d, %d, %v), want (%d, %d, %v)", seq, ns, ok,
					tc.wantSeq, tc.wantNs, tc.wantOK)
			}
		})
	}
}

func TestNoticeSchedule(t *testing.T) {
	tests := []struct {
		name      string
		duration  time.Duration
		every     time.Duration
		storm     bool
		notices   int
		wantPer   int64
		wantFirst time.Duration // offset of probe 1's first notice
	}{
		{"off", 30 * time.Second, 2500 * time.Millisecond, false, 0, 0, 0},
		{"four probes over 30s", 30 * time.Second, 2500 * time.Millisecond, false, 4, 13,
			625 * time.Millisecond},
		{"window shorter than the interval", time.Second, 2500 * time.Millisecond, false, 2,
			1, 1250 * time.Millisecond},
		{"a storm follows: stop a second early", 10 * time.Second, 2 * time.Second, true, 1,
			5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := config{duration: tc.duration, noticeEvery: tc.every, storm: tc.storm,
				notices: tc.notices}
			if got := c.noticesPerProbe(); got != tc.wantPer {
				t.Errorf("noticesPerProbe = %d, want %d", got, tc.wantPer)
			}
			if tc.notices < 2 {
				return
			}
			if got := noticeOffset(tc.every, 1, tc.notices, 0); got != tc.wantFirst {
				t.Errorf("probe 1 starts at %v, want %v", got, tc.wantFirst)
			}
			// Every probe's scheduled notices fit the array noticesPerProbe sized.
			for j := range tc.notices {
				k := int64(0)
				for noticeOffset(tc.every, j, tc.notices, k) < c.noticeWindow() {
					k++
				}
				if k > tc.wantPer {
					t.Errorf("probe %d schedules %d notices, more than %d", j, k, tc.wantPer)
				}
			}
		})
	}
}

func TestRunNotices(t *testing.T) {
	tests := []struct {
		name       string
		dropEvery  int
		toAll      bool
		wantExit   int
		wantMiss   bool
		wantLeaked bool
	}{
		{"every notice reaches its probe once", 0, false, exitOK, false, false},
		{"lost notices fail the run", 2, false, exitLoss, true, false},
		{"a notice at another session fails the run", 0, true, exitLoss, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeChat()
			fake.noticeDropEvery, fake.noticeToAll = tc.dropEvery, tc.toAll
			srv := httptest.NewServer(fake.handler())
			defer srv.Close()

			rep, code := runAgainst(t, srv, "-notices", "3", "-notice-every", "300ms")

			n := rep.Notices
			if n == nil {
				t.Fatal("no notice report")
			}
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d (%s)", code, tc.wantExit, rep.Result)
			}
			if n.Probes != 3 || n.Acked == 0 || n.Sent != n.Acked {
				t.Errorf("notices %+v: want 3 probes, all sent acknowledged", n)
			}
			if (n.Missing > 0) != tc.wantMiss || (n.Foreign > 0) != tc.wantLeaked {
				t.Errorf("missing %d, foreign %d; want missing %v, foreign %v", n.Missing,
					n.Foreign, tc.wantMiss, tc.wantLeaked)
			}
			if !tc.wantMiss && (n.Received != n.Acked || n.Latency.Count != n.Received) {
				t.Errorf("received %d of %d, %d timed", n.Received, n.Acked, n.Latency.Count)
			}
			// Probes hold streams of their own, checked for broadcasts like any other.
			if rep.Streams.FullRun != 27 || rep.Deliveries.Missing != 0 {
				t.Errorf("%d full-run streams, %d missing; want 27 and 0",
					rep.Streams.FullRun, rep.Deliveries.Missing)
			}
		})
	}
}
