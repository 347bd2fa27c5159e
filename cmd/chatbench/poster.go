package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// poster sends one session's timed posts (broadcasts and notices) on a keep-alive
// connection of its own, written by the goroutine that stamps the send time. Through
// http.Client the request would be written by the transport's goroutine, which during a
// fan-out waits its turn behind the tool's ten thousand readers, and that wait would count
// as the server's latency. A poster is used by one goroutine at a time.
type poster struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

// postRequest is what http.ReadResponse needs to know of the request it answers.
var postRequest = &http.Request{Method: http.MethodPost}

// connect makes sure a connection is open, so that dialling is done before the send time
// is stamped.
func (p *poster) connect(ctx context.Context, b *bench) error {
	if p.conn != nil {
		return nil
	}
	conn, err := b.dialer.DialContext(ctx, "tcp", b.cfg.dialAddr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	p.conn, p.br = conn, bufio.NewReaderSize(conn, 4096)
	return nil
}

// send posts an urlencoded form to path and returns the answer with its body drained.
// The connection is dropped after an error, or when the server says it closes it.
func (p *poster) send(ctx context.Context, b *bench, path, cookie, form string) (
	*http.Response, error) {
	if err := p.connect(ctx, b); err != nil {
		return nil, err
	}
	// A stopped run ends the wait for an answer at once; registered after the deadline
	// is set, so that it cannot be overwritten.
	_ = p.conn.SetDeadline(time.Now().Add(b.cfg.requestTimeout))
	conn := p.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := append(p.req[:0], "POST "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, b.cfg.host...)
	req = append(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(form)), 10)
	if cookie != "" {
		req = append(req, "\r\nCookie: "...)
		req = append(req, cookie...)
	}
	req = append(req, "\r\n\r\n"...)
	req = append(req, form...)
	p.req = req

	if _, err := p.conn.Write(req); err != nil {
		return nil, p.fail(ctx, fmt.Errorf("send %s: %w", path, err))
	}
	resp, err := http.ReadResponse(p.br, postRequest)
	if err != nil {
		return nil, p.fail(ctx, fmt.Errorf("read answer to %s: %w", path, err))
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, p.fail(ctx, fmt.Errorf("read answer to %s: %w", path, err))
	}
	if resp.Close {
		p.close()
	}
	return resp, nil
}

// fail drops the connection and says why the post failed: the run's stop, if that came
// first.
func (p *poster) fail(ctx context.Context, err error) error {
	p.close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (p *poster) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.br = nil, nil
	}
}
