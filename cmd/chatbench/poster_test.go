package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPosterKeepsOrRedialsItsConnection posts four forms to a server that closes the
// connection after every second answer (as an HTTP/1.0 server does after each): every post
// arrives whole, and the poster dials only when the server closed the last connection.
func TestPosterKeepsOrRedialsItsConnection(t *testing.T) {
	var conns, posts atomic.Int64
	var bodies []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Cookie") != "s=1" {
			http.Error(w, "want a POST with the cookie", http.StatusBadRequest)
			return
		}
		_ = r.ParseForm()
		bodies = append(bodies, r.PostForm.Get("text"))
		if posts.Add(1)%2 == 0 {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	b := &bench{cfg: config{host: strings.TrimPrefix(srv.URL, "http://"),
		dialAddr: strings.TrimPrefix(srv.URL, "http://"), requestTimeout: 5 * time.Second}}
	var p poster
	defer p.close()
	for _, text := range []string{"one", "two", "three", "four"} {
		resp, err := p.send(context.Background(), b, "/messages", "s=1", "text="+text)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("send(%s) = %v, %v; want 204", text, resp, err)
		}
	}

	if got := strings.Join(bodies, " "); got != "one two three four" {
		t.Errorf("server got %q, want the four posts in order", got)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("connections = %d, want 2 (a new one only after Connection: close)", got)
	}
}

// TestPosterStopsWaitingWhenTheRunStops cancels a post whose answer never comes.
func TestPosterStopsWaitingWhenTheRunStops(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)

	b := &bench{cfg: config{host: strings.TrimPrefix(srv.URL, "http://"),
		dialAddr: strings.TrimPrefix(srv.URL, "http://"), requestTimeout: time.Minute}}
	var p poster
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)

	start := time.Now()
	_, err := p.send(ctx, b, "/messages", "", "text=x")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("send = %v, want context.Canceled", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("send returned after %v, want soon after the stop", waited)
	}
	if p.conn != nil {
		t.Error("the connection was kept after a failed post")
	}
}
