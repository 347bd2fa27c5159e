package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(name string) string { return vars[name] }
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.Addr == "127.0.0.1:8080" && c.Data == "./data" && c.Keep == 10000 &&
				c.LeaveGrace == 10*time.Second && c.LogFormat == "text"
		}, ""},
		{"environment", nil, map[string]string{"CHAT_ADDR": ":9000", "CHAT_DATA": "/srv/chat"},
			func(c config) bool { return c.Addr == ":9000" && c.Data == "/srv/chat" }, ""},
		{"flag beats environment", []string{"-addr", "127.0.0.1:1"},
			map[string]string{"CHAT_ADDR": ":9000"},
			func(c config) bool { return c.Addr == "127.0.0.1:1" }, ""},
		{"cookie keys", []string{"-cookie-keys", strings.Repeat("ab", 32) + ":" +
			strings.Repeat("cd", 16) + "," + strings.Repeat("ef", 64) + ":" +
			strings.Repeat("01", 32)}, nil,
			func(c config) bool { return len(c.CookieKeys) == 4 && len(c.CookieKeys[2]) == 64 },
			""},
		{"bad cookie keys", []string{"-cookie-keys", "abc"}, nil, nil,
			"-cookie-keys ($CHAT_COOKIE_KEYS): pair 1"},
		{"short hash key", nil, map[string]string{"CHAT_COOKIE_KEYS": "abcd:" +
			strings.Repeat("cd", 16)}, nil, "hash key must be 32 or 64 bytes"},
		{"bad keep", []string{"-keep", "0"}, nil, nil, "-keep ($CHAT_KEEP): must be at least 1"},
		{"bad log format", nil, map[string]string{"CHAT_LOG_FORMAT": "xml"}, nil,
			`-log-format ($CHAT_LOG_FORMAT): "xml" is neither`},
		{"cert without key", []string{"-tls-cert", "c.pem"}, nil, nil,
			"give both -tls-cert and -tls-key"},
		{"redirect without TLS", []string{"-redirect-addr", ":80"}, nil, nil,
			"-redirect-addr ($CHAT_REDIRECT_ADDR): needs -tls-cert"},
		{"unknown flag", []string{"-nope"}, nil, nil, "flag provided but not defined"},
		{"bare boolean flag at the end", []string{"-addr", ":1", "-behind-tls-proxy"}, nil,
			func(c config) bool { return c.BehindTLSProxy && c.Addr == ":1" }, ""},
		{"bare boolean flag before another", []string{"-metrics", "-addr", ":2"}, nil,
			func(c config) bool { return c.Metrics && c.Addr == ":2" }, ""},
		{"boolean flag with a value", []string{"-behind-tls-proxy=false"},
			map[string]string{"CHAT_BEHIND_TLS_PROXY": "true"},
			func(c config) bool { return !c.BehindTLSProxy }, ""},
		{"bad boolean in the environment", nil, map[string]string{"CHAT_METRICS": "yes"}, nil,
			"-metrics ($CHAT_METRICS): strconv.ParseBool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig error = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig error = %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("parseConfig = %+v, not as expected", cfg)
			}
		})
	}
}
