package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeServerEnv makes the test binary serve the fake chat instead of running tests, so the
// sweep can start, measure and stop real server processes without building the chat.
const fakeServerEnv = "CHATBENCH_TEST_FAKE_SERVER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(fakeServerEnv); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		// Serves until the sweep's SIGTERM ends the process.
		_ = http.Serve(l, newFakeChat().handler())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeSpec starts this test binary as a fake server.
func fakeSpec(name string) serverSpec {
	return serverSpec{name: name, command: func(port, _ int, _ string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fakeServerEnv+"="+loopback(port))
		return cmd
	}}
}

// brokenSpec is a server that exits at once, like a peer that cannot start.
func brokenSpec(name string) serverSpec {
	return serverSpec{name: name, command: func(int, int, string) *exec.Cmd {
		return exec.Command("/bin/sh", "-c", "echo cannot bind >&2; exit 7")
	}}
}

func TestSweepEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	out := t.TempDir()
	cfg, err := parseSweepFlags([]string{"-out", out, "-sizes", "5,10", "-peer-sizes", "5",
		"-reps", "1", "-warmup", "0s", "-duration", "1s", "-idle", "100ms",
		"-rate", "10", "-senders", "4", "-load-max", "1000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sw := &sweeper{cfg: cfg, stderr: io.Discard, tmp: t.TempDir(), loadLeft: 0,
		servers: map[string]serverSpec{serverChat: fakeSpec(serverChat),
			serverPeer: brokenSpec(serverPeer)}}
	sw.res.Settings = sweepSettings{Rate: cfg.rate, Reps: cfg.reps, GoalSize: cfg.goalSize}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if code := sw.run(ctx, &stdout); code != exitOK {
		t.Fatalf("sweep exit %d: %s", code, stdout.String())
	}

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res sweepResults
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !res.Complete || len(res.Runs) != 3 {
		t.Fatalf("complete %v with %d runs, want 3", res.Complete, len(res.Runs))
	}
	tests := []struct {
		name   string
		run    runResult
		server string
		subs   int
		ok     bool
		reason string
	}{
		{"chat at 5", res.Runs[0], serverChat, 5, true, ""},
		{"peer at 5 cannot start", res.Runs[1], serverPeer, 5, false, "exited at start"},
		{"chat at 10", res.Runs[2], serverChat, 10, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run
			if r.Server != tc.server || r.Subscribers != tc.subs || r.OK != tc.ok ||
				!strings.Contains(r.Failure, tc.reason) {
				t.Fatalf("run %s %d ok %v (%q), want %s %d ok %v (%q)", r.Server,
					r.Subscribers, r.OK, r.Failure, tc.server, tc.subs, tc.ok, tc.reason)
			}
			if !tc.ok {
				if len(r.Figures) != 0 {
					t.Errorf("a failed start has figures %v", r.Figures)
				}
				return
			}
			if r.Report == nil || r.Report.Server == nil || r.Report.Acked != 10 {
				t.Fatalf("report %+v: want server costs and 10 acknowledged posts", r.Report)
			}
			if r.Figures["missing"] != 0 || r.Figures["latency_p99_ms"] <= 0 {
				t.Errorf("figures %v", r.Figures)
			}
			// The arguments repeat the run by hand.
			if _, err := parseFlags(r.Args, io.Discard); err != nil {
				t.Errorf("recorded args %q do not parse: %v", r.Args, err)
			}
			if pid, _ := strconv.Atoi(argAfter(r.Args, "-pid")); pid <= 0 {
				t.Errorf("no server pid in %q", r.Args)
			}
		})
	}

	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	if !strings.Contains(string(md), "| flask-peer | 5 | n/a |") ||
		!strings.Contains(string(md), "exited at start") {
		t.Errorf("results.md does not show the peer's failure:\n%s", md)
	}
	svg, _ := os.ReadFile(filepath.Join(out, "scaling.svg"))
	sum := parseSVG(t, svg)
	if sc := sum.panels["latency_p99_ms"][serverChat]; sc == nil || sc.points != 2 {
		t.Errorf("chat latency series %+v, want 2 points", sc)
	}
	if sc := sum.panels["latency_p99_ms"][serverPeer]; sc == nil || sc.failures != 1 {
		t.Errorf("peer latency series %+v, want 1 failure", sc)
	}

	// `chatbench report` redraws the same files from results.json.
	again := t.TempDir()
	var errOut bytes.Buffer
	if code := reportMain([]string{"-in", filepath.Join(out, "results.json"), "-out", again},
		io.Discard, &errOut); code != exitOK {
		t.Fatalf("report exit %d: %s", code, errOut.String())
	}
	md2, _ := os.ReadFile(filepath.Join(again, "results.md"))
	if !bytes.Equal(md, md2) {
		t.Error("report wrote a different results.md from the same results")
	}
}

func argAfter(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestPlan(t *testing.T) {
	cfg, err := parseSweepFlags([]string{"-sizes", "100,1000,10000", "-peer-sizes",
		"100,2000", "-goals", "-goal-size", "10000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cs := range plan(&cfg) {
		got = append(got, fmt.Sprintf("%s/%s/%d@%g", cs.Case, cs.Server, cs.Subscribers,
			cs.Rate))
	}
	want := []string{
		"scale/chat/100@1", "scale/flask-peer/100@1", "scale/chat/1000@1",
		"scale/flask-peer/2000@1", "scale/chat/10000@1",
		"notices/chat/10000@1", "soak/chat/10000@2", "stall/chat/10000@2",
		"storm/chat/10000@1",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("plan\n got %v\nwant %v", got, want)
	}
}

func TestParseSweepFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"goals", []string{"-goals", "-profile"}, ""},
		{"unknown server", []string{"-servers", "nginx"}, "neither chat nor peer"},
		{"bad size", []string{"-sizes", "100,lots"}, "-sizes"},
		{"too many reps", []string{"-reps", "50"}, "-reps"},
		{"no time at all", []string{"-max-total", "0s"}, "-max-total"},
		// The tool's own limits apply to every planned run before anything starts.
		{"a run the tool refuses", []string{"-rate", "0.01", "-duration", "10s"},
			"schedules no message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSweepFlags(tc.args, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunFailure(t *testing.T) {
	ok := func() *Report {
		return &Report{Exit: exitOK, Result: "PASS", Sent: 20, Acked: 20,
			Login: PhaseRate{OK: 10}, Connect: PhaseRate{OK: 10}}
	}
	tests := []struct {
		name   string
		change func(*Report)
		want   string // substring; empty: the run counts
	}{
		{"clean", func(*Report) {}, ""},
		{"aborted", func(r *Report) { r.Aborted = "cut short" }, "aborted: cut short"},
		{"loss", func(r *Report) { r.Exit, r.Result = exitLoss, "FAIL: 3 missing" },
			"FAIL: 3 missing"},
		{"a login failed", func(r *Report) { r.Login.Failed, r.Login.FirstErr = 1, "x" },
			"1 of 11 logins failed"},
		{"a stream failed", func(r *Report) { r.Connect.Failed = 2 },
			"2 of 12 streams failed"},
		{"posts timed out", func(r *Report) {
			r.Acked, r.PostErrors = 12, map[string]int64{"timeout": 8}
		}, "8 of 20 posts failed (timeout x8)"},
		{"notices refused", func(r *Report) {
			r.Notices = &NoticeReport{Sent: 6, PostErrors: map[string]int64{"429": 1}}
		}, "1 of 6 notices failed (429 x1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.change(r)
			got := runFailure(r)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("runFailure = %q, want %q", got, tc.want)
			}
		})
	}
}
