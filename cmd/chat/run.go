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
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chatroom/chat/handlers"
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
// reconnect to the next process, then the servers, within shutdownTimeout.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	log := newLogger(cfg, stdout)

	st, err := store.Open(ctx, cfg.Data, cfg.Keep)
	if err != nil {
		return err
	}
	defer st.Close()

	filter, err := newLiveFilter(cfg.Words)
	if err != nil {
		return err
	}
	var cert *liveCertificate
	if cfg.TLSCert != "" {
		if cert, err = newLiveCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}

	keys := cfg.CookieKeys
	if len(keys) == 0 {
		if keys, err = loadOrCreateKeys(cfg.Data); err != nil {
			return err
		}
	}

	chat, err := handlers.New(ctx, handlers.Config{
		CookieKeys:        keys,
		Secure:            cert != nil || cfg.BehindTLSProxy,
		HSTS:              cert != nil,
		TrustForwardedFor: cfg.BehindTLSProxy,
		StreamsPerAddr:    cfg.StreamsPerAddr,
		LoginsPerMinute:   cfg.LoginsPerMinute,
		Metrics:           cfg.Metrics,
		LeaveGrace:        cfg.LeaveGrace,
	}, st, filter, log)
	if err != nil {
		return err
	}
	defer chat.Close()

	// Listen before serving, so a busy port fails at once with its address.
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	servers := []*http.Server{newServer(chat.Handler(), log)}
	listeners := []net.Listener{listener}
	if cert != nil {
		servers[0].TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: cert.get,
		}
	}
	if cfg.RedirectAddr != "" {
		redirectListener, err := net.Listen("tcp", cfg.RedirectAddr)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("listen on %s: %w", cfg.RedirectAddr, err)
		}
		servers = append(servers, newServer(redirectToHTTPS(listener.Addr()), log))
		listeners = append(listeners, redirectListener)
	}

	if cfg.DebugAddr != "" {
		debugListener, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("listen on %s: %w", cfg.DebugAddr, err)
		}
		servers = append(servers, newServer(debugHandler(), log))
		listeners = append(listeners, debugListener)
	}

	// Take SIGHUP before serving: once systemd sees the service up it may send one, and
	// an unhandled SIGHUP would end the process.
	reloads := make(chan os.Signal, 1)
	signal.Notify(reloads, syscall.SIGHUP)
	defer signal.Stop(reloads)

	served := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { served <- serve(srv, listeners[i]) }()
	}
	logListening(log, cfg, listeners)

	for running := true; running; {
		select {
		case err := <-served:
			return err
		case <-reloads:
			reload(log, filter, cert)
		case <-ctx.Done():
			running = false
		}
	}

	log.Info("shutting down")
	chat.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

func closeAll(listeners []net.Listener) {
	for _, l := range listeners {
		l.Close()
	}
}

// debugHandler serves Go's profiler, on its own listener so it is never exposed on
// the chat's address by accident.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	return mux
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve serves plain HTTP, or HTTPS with HTTP/2 when the server has a TLS config.
func serve(srv *http.Server, listener net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(listener, "", "")
	} else {
		err = srv.Serve(listener)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve on %s: %w", listener.Addr(), err)
}

// redirectToHTTPS answers every plain-HTTP request with a permanent redirect to the
// same path on the HTTPS listener.
func redirectToHTTPS(httpsAddr net.Addr) http.Handler {
	_, port, _ := net.SplitHostPort(httpsAddr.String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// reload applies SIGHUP: the word list and the TLS certificate are read again. Open
// streams are not touched; on an error the old ones stay in use.
func reload(log *slog.Logger, filter *liveFilter, cert *liveCertificate) {
	if err := filter.reload(); err != nil {
		log.Error("reload word list", "err", err)
	} else {
		log.Info("reloaded word list", "path", filter.path)
	}
	if cert == nil {
		return
	}
	if err := cert.reload(); err != nil {
		log.Error("reload TLS certificate", "err", err)
	} else {
		log.Info("reloaded TLS certificate", "path", cert.certFile)
	}
}

func logListening(log *slog.Logger, cfg config, listeners []net.Listener) {
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	addr := listeners[0].Addr().String()
	log.Info("listening",
		slog.String("addr", addr),
		slog.String("url", scheme+"://"+addr+"/"),
		slog.String("data", cfg.Data),
		slog.Int("pid", os.Getpid()))
	for _, l := range listeners[1:] {
		log.Info("also listening", slog.String("addr", l.Addr().String()))
	}
}

func newLogger(cfg config, stdout io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stdout, opts))
	}
	return slog.New(slog.NewTextHandler(stdout, opts))
}
