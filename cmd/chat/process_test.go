package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the chat command, so process tests run the
// real main (under -race too) without building a separate binary.
func TestMain(m *testing.M) {
	if os.Getenv("CHAT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is the chat command running as a child process.
type process struct {
	cmd    *exec.Cmd
	url    string
	output *syncBuffer
	exited chan error
}

var listeningLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChat runs the command with args and waits until it listens.
func startChat(t testing.TB, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CHAT_TEST_MAIN=1")
	out := &syncBuffer{}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chat error = %v", err)
	}

	p := &process{cmd: cmd, output: out, exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			out.WriteString(scanner.Text() + "\n")
			if m := listeningLine.FindStringSubmatch(scanner.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.exited:
		t.Fatalf("chat exited before listening: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("chat did not listen within 30 s:\n%s", out.String())
	}
	return p
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) WriteString(v string) { s.Write([]byte(v)) }

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func TestKillNineLosesNoAcknowledgedMessage(t *testing.T) {
	data := t.TempDir()
	first := startChat(t, "-addr", "127.0.0.1:0", "-data", data)

	// Several posters, so the flood limit of one session does not slow the test.
	var acknowledged []string
	for i := range 4 {
		client := newClient()
		resp, err := client.PostForm(first.url+"/login",
			url.Values{"nickname": {fmt.Sprint("Poster", i)}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d: %v %v", i, err, resp)
		}
		for j := range 5 {
			text := fmt.Sprintf("durable %d-%d", i, j)
			resp, err := client.PostForm(first.url+"/messages", url.Values{"text": {text}})
			if err != nil {
				t.Fatalf("post %q error = %v", text, err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				acknowledged = append(acknowledged, text)
			}
		}
	}

	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exited

	second := startChat(t, "-addr", "127.0.0.1:0", "-data", data)
	page := getBody(t, newClient(), second.url+"/", "Reader")
	last := -1
	for _, text := range acknowledged {
		at := strings.Index(page, text)
		if at < 0 {
			t.Errorf("acknowledged message %q is missing after kill -9", text)
			continue
		}
		if at < last {
			t.Errorf("message %q is out of order after kill -9", text)
		}
		last = at
	}
	if len(acknowledged) != 20 {
		t.Errorf("%d of 20 posts acknowledged, want all", len(acknowledged))
	}
}

// getBody logs in as nickname and returns the room page.
func getBody(t testing.TB, client *http.Client, pageURL, nickname string) string {
	t.Helper()
	base := strings.TrimSuffix(pageURL, "/")
	resp, err := client.PostForm(base+"/login", url.Values{"nickname": {nickname}})
	if err != nil {
		t.Fatalf("login error = %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestSIGTERMClosesStreamsAndExits(t *testing.T) {
	p := startChat(t, "-addr", "127.0.0.1:0", "-data", t.TempDir())
	client := newClient()
	getBody(t, client, p.url, "Watcher")

	streamClient := *client
	streamClient.Timeout = 0
	var streams []*http.Response
	for range 5 {
		resp, err := streamClient.Get(p.url + "/events")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /events: %v %v", err, resp)
		}
		streams = append(streams, resp)
	}

	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("exit after SIGTERM = %v, want success\n%s", err, p.output.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM with %d open streams", time.Since(start), len(streams))

	for i, resp := range streams {
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Errorf("stream %d ended with %v, want a clean end", i, err)
		}
	}
	if !strings.Contains(p.output.String(), "msg=stopped") {
		t.Errorf("log lacks the stopped line:\n%s", p.output.String())
	}
}

func TestStartFailsNamingThePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, []byte("x"), 0o600)
	corrupt := filepath.Join(dir, "corrupt")
	os.MkdirAll(corrupt, 0o700)
	os.WriteFile(filepath.Join(corrupt, "chat.db"), []byte(strings.Repeat("junk", 1000)), 0o600)

	tests := []struct {
		name string
		data string
		want string
	}{
		{"data folder cannot be created", filepath.Join(blocker, "data"), blocker},
		{"corrupt database", corrupt, filepath.Join(corrupt, "chat.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0", "-data", tt.data)
			cmd.Env = append(os.Environ(), "CHAT_TEST_MAIN=1")
			out, err := cmd.CombinedOutput()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
				t.Fatalf("exit = %v, want status 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output = %q, want it to name %s", out, tt.want)
			}
		})
	}
}

func TestCookieKeysAreKeptAcrossRestarts(t *testing.T) {
	data := t.TempDir()
	first := startChat(t, "-addr", "127.0.0.1:0", "-data", data)
	client := newClient()
	getBody(t, client, first.url, "Keeper")
	first.cmd.Process.Signal(syscall.SIGTERM)
	<-first.exited

	info, err := os.Stat(filepath.Join(data, keysFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v, mode %v, want mode 0600", err, info.Mode().Perm())
	}

	second := startChat(t, "-addr", "127.0.0.1:0", "-data", data)
	// The cookie jar is keyed by host; both runs are on 127.0.0.1.
	resp, err := client.Get(second.url + "/")
	if err != nil {
		t.Fatalf("GET / error = %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `<b id="me">Keeper</b>`) {
		t.Errorf("after a restart the session is gone:\n%.300s", body)
	}
}

func TestHeadersOverTheLimitAre431(t *testing.T) {
	p := startChat(t, "-addr", "127.0.0.1:0", "-data", t.TempDir())
	req, _ := http.NewRequest("GET", p.url+"/", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 2*maxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET / error = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status with %d bytes of headers = %d, want 431", 2*maxHeaderBytes,
			resp.StatusCode)
	}
}
