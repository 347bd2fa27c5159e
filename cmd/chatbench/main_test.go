package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantDial string // empty: must be refused
		wantErr  string
	}{
		{"ipv4 loopback", "http://127.0.0.1:8080", "127.0.0.1:8080", ""},
		{"trailing slash", "http://127.0.0.1:8080/", "127.0.0.1:8080", ""},
		{"anywhere in 127/8", "http://127.1.2.3:9000", "127.1.2.3:9000", ""},
		{"default port", "http://127.0.0.1", "127.0.0.1:80", ""},
		{"ipv6 loopback", "http://[::1]:8080", "[::1]:8080", ""},
		{"localhost dials 127.0.0.1", "http://localhost:5055", "127.0.0.1:5055", ""},
		{"localhost any case", "http://LocalHost:5055", "127.0.0.1:5055", ""},
		{"ipv4-mapped loopback", "http://[::ffff:127.0.0.1]:80", "127.0.0.1:80", ""},
		{"private address", "http://10.0.0.1:8080", "", "not a loopback"},
		{"unspecified address", "http://0.0.0.0:8080", "", "not a loopback"},
		{"ipv6 unspecified", "http://[::]:8080", "", "not a loopback"},
		{"public name", "http://example.com", "", "not a loopback"},
		{"name that looks local", "http://127.0.0.1.nip.io:8080", "", "not a loopback"},
		{"localhost subdomain", "http://foo.localhost:8080", "", "not a loopback"},
		{"https", "https://127.0.0.1:8443", "", "only http://"},
		{"no scheme", "localhost:8080", "", "only http://"},
		{"path", "http://127.0.0.1:8080/chat", "", "only scheme, host and port"},
		{"credentials", "http://u:p@127.0.0.1:8080", "", "only scheme, host and port"},
		{"garbage", "http://[::1", "", "missing ']'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, dial, err := checkLoopbackURL(tc.url)
			if tc.wantDial != "" {
				if err != nil || dial != tc.wantDial {
					t.Errorf("got (%q, %v), want %q", dial, err, tc.wantDial)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got (%q, %v), want an error containing %q", dial, err, tc.wantErr)
			}
		})
	}
}

func TestParseFlagsLimits(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: valid
	}{
		{"defaults", nil, ""},
		{"ci smoke", []string{"-subscribers", "1000", "-senders", "10", "-duration", "10s"}, ""},
		{"too many subscribers", []string{"-subscribers", "20001"}, "-subscribers"},
		{"no senders", []string{"-senders", "0"}, "-senders"},
		{"zero rate", []string{"-rate", "0"}, "-rate"},
		{"stall of one", []string{"-stall", "1"}, "-stall"},
		{"no message at all", []string{"-rate", "0.05", "-duration", "10s"},
			"schedules no message"},
		{"over an hour", []string{"-duration", "2h"}, "exceeds -max-duration"},
		{"cap below plan", []string{"-duration", "1m", "-max-duration", "30s"},
			"exceeds -max-duration"},
		{"cap above limit", []string{"-max-duration", "2h"}, "at most 1h"},
		{"too many deliveries", []string{"-subscribers", "20000", "-rate", "5000",
			"-duration", "10s"}, "streams x messages"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultCapCoversThePlan(t *testing.T) {
	cfg, err := parseFlags([]string{"-duration", "30s", "-reconnect-storm"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.maxDuration < cfg.plannedTime() || cfg.maxDuration > maxRunTime {
		t.Errorf("cap %v for a plan of %v", cfg.maxDuration, cfg.plannedTime())
	}
	if cfg.totalMessages() != 40 || cfg.sendTime() != 40*time.Second {
		t.Errorf("%d messages over %v, want 40 over 40s", cfg.totalMessages(), cfg.sendTime())
	}
}
