package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/chatroom/chat/handlers"
	"github.com/chatroom/chat/moderation"
	"github.com/chatroom/chat/store"
)

// Server timeouts. There is deliberately no WriteTimeout: it would cut every event
// stream at that age. Streams set a deadline per write instead.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
)

// run serves until ctx is cancelled, then shuts down: streams first, so browsers
// reconnect to the next process, then the server, within shutdownTimeout.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	log := newLogger(cfg, stdout)

	st, err := store.Open(ctx, cfg.Data, cfg.Keep)
	if err != nil {
		return err
	}
	defer st.Close()

	filter, err := loadFilter(cfg.Words)
	if err != nil {
		return err
	}

	keys := cfg.CookieKeys
	if len(keys) == 0 {
		if keys, err = loadOrCreateKeys(cfg.Data); err != nil {
			return err
		}
	}

	chat, err := handlers.New(ctx, handlers.Config{
		CookieKeys: keys,
		Secure:     cfg.TLSCert != "" || cfg.BehindTLSProxy,
		HSTS:       cfg.TLSCert != "",
		LeaveGrace: cfg.LeaveGrace,
	}, st, filter, log)
	if err != nil {
		return err
	}

	// Listen before serving, so a busy port fails at once with its address.
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		chat.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}

	srv := &http.Server{
		Handler:           chat.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	served := make(chan error, 1)
	go func() { served <- serve(srv, listener, cfg) }()

	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("listening",
		slog.String("addr", listener.Addr().String()),
		slog.String("url", scheme+"://"+listener.Addr().String()+"/"),
		slog.String("data", cfg.Data),
		slog.Int("pid", os.Getpid()))

	select {
	case err := <-served:
		chat.Close()
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down")
	chat.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serve serves plain HTTP, or HTTPS with HTTP/2 when a certificate is configured.
func serve(srv *http.Server, listener net.Listener, cfg config) error {
	var err error
	if cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		err = srv.ServeTLS(listener, cfg.TLSCert, cfg.TLSKey)
	} else {
		err = srv.Serve(listener)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve on %s: %w", listener.Addr(), err)
}

func loadFilter(path string) (*moderation.Filter, error) {
	if path == "" {
		return moderation.Default(), nil
	}
	return moderation.Load(path)
}

func newLogger(cfg config, stdout io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stdout, opts))
	}
	return slog.New(slog.NewTextHandler(stdout, opts))
}
