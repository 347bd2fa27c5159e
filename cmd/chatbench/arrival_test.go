package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestArrivalStampIsWhenTheBytesCame writes to a loopback connection, reads it only a
// while later, and checks that the stamp is the time of the write, not of the read.
func TestArrivalStampIsWhenTheBytesCame(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	conn, err := newArrivalConn(client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.stampNs != 0 {
		t.Fatalf("stamp before any read = %d, want 0", conn.stampNs)
	}

	// Linux turns receive stamps on for the whole system in deferred work when the first
	// socket asks, so the first bytes may come unstamped; wait until they are stamped.
	buf := make([]byte, 64)
	for try := 0; conn.stampNs == 0; try++ {
		if try == 50 {
			t.Fatal("no receive stamp after 50 reads")
		}
		if _, err := server.Write([]byte(":\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	const readDelay = 50 * time.Millisecond
	before := time.Now().UnixNano()
	if _, err := server.Write([]byte("data: one\n\n")); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	time.Sleep(readDelay)

	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("Read = %q, %v; want the bytes written", buf[:n], err)
	}
	readAt := time.Now().UnixNano()
	if conn.stampNs < before || conn.stampNs > after {
		t.Errorf("stamp %d is outside the write [%d, %d]", conn.stampNs, before, after)
	}
	if lag := time.Duration(readAt - conn.stampNs); lag < readDelay {
		t.Errorf("read came %v after the stamp, want at least %v", lag, readDelay)
	}

	// Deadlines still apply, and the end of the stream is io.EOF.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := conn.Read(buf); !isTimeout(err) {
		t.Errorf("Read past the deadline = %v, want a timeout", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	server.Close()
	if _, err := conn.Read(buf); err != io.EOF {
		t.Errorf("Read after the peer closed = %v, want io.EOF", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
