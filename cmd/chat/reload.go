package main

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"

	"github.com/chatroom/chat/moderation"
)

// liveFilter is the moderation filter, replaceable while the server runs (SIGHUP).
type liveFilter struct {
	path    string
	current atomic.Pointer[moderation.Filter]
}

func newLiveFilter(path string) (*liveFilter, error) {
	f := &liveFilter{path: path}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Flagged reports whether the current word list flags text.
func (f *liveFilter) Flagged(text string) bool {
	return f.current.Load().Flagged(text)
}

// reload reads the word list again; on error the old one stays in use.
func (f *liveFilter) reload() error {
	if f.path == "" {
		f.current.Store(moderation.Default())
		return nil
	}
	filter, err := moderation.Load(f.path)
	if err != nil {
		return err
	}
	f.current.Store(filter)
	return nil
}

// liveCertificate is the TLS certificate, replaceable while the server runs (SIGHUP),
// so a renewed certificate is picked up without dropping a stream.
type liveCertificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

func newLiveCertificate(certFile, keyFile string) (*liveCertificate, error) {
	c := &liveCertificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *liveCertificate) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&cert)
	return nil
}

func (c *liveCertificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}
