package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/chatroom/chat/handlers"
)

// config is everything the command can be told, from flags or, for each flag not
// given, from its environment variable.
type config struct {
	Addr           string
	Data           string
	TLSCert        string
	TLSKey         string
	RedirectAddr   string
	BehindTLSProxy bool
	CookieKeys     [][]byte
	Words          string
	Keep           int
	LogFormat      string
	LogLevel       slog.Level
	Metrics        bool
	LeaveGrace     time.Duration

	StreamsPerAddr  int
	LoginsPerMinute int
	DebugAddr       string
}

// setting is one configuration value: its flag, its environment variable, its help.
type setting struct {
	flag, env, def, help string
}

var settings = []setting{
	{"addr", "CHAT_ADDR", "127.0.0.1:8080", "address to listen on"},
	{"data", "CHAT_DATA", "./data", "data folder: database and generated cookie keys"},
	{"tls-cert", "CHAT_TLS_CERT", "", "TLS certificate file (PEM); serves HTTPS and HTTP/2"},
	{"tls-key", "CHAT_TLS_KEY", "", "TLS private key file (PEM)"},
	{"redirect-addr", "CHAT_REDIRECT_ADDR", "",
		"with TLS, also listen here on plain HTTP and redirect to HTTPS"},
	{"behind-tls-proxy", "CHAT_BEHIND_TLS_PROXY", "false",
		"a TLS proxy is in front: mark cookies Secure and trust X-Forwarded-For"},
	{"cookie-keys", "CHAT_COOKIE_KEYS", "",
		"cookie keys as HASH:BLOCK hex pairs, comma-separated, newest first; " +
			"empty: generated once into the data folder"},
	{"words", "CHAT_WORDS", "", "word list file for moderation; empty: the embedded list"},
	{"keep", "CHAT_KEEP", "10000", "how many messages the history keeps"},
	{"log-format", "CHAT_LOG_FORMAT", "text", "log format: text or json"},
	{"log-level", "CHAT_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
	{"metrics", "CHAT_METRICS", "false", "serve Prometheus metrics at /metrics"},
	{"leave-grace", "CHAT_LEAVE_GRACE", "10s",
		"how long a session stays online after its last stream ends"},
	{"debug-addr", "CHAT_DEBUG_ADDR", "",
		"serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060"},
	{"streams-per-addr", "CHAT_STREAMS_PER_ADDR", strconv.Itoa(handlers.DefaultStreamsPerAddr),
		"streams one client address may hold open; 0: no limit"},
	{"logins-per-minute", "CHAT_LOGINS_PER_MINUTE",
		strconv.Itoa(handlers.DefaultLoginsPerMinute),
		"logins one client address may make per minute; 0: no limit"},
}

// parseConfig reads args, falling back to getenv for each flag not given, and checks
// the result. Errors name the flag and its variable.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make(map[string]*settingValue, len(settings))
	for _, s := range settings {
		v := &settingValue{value: s.def, isBool: s.def == "true" || s.def == "false"}
		if env := getenv(s.env); env != "" {
			v.value = env
		}
		fs.Var(v, s.flag, s.help+" ($"+s.env+")")
		values[s.flag] = v
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, errors.New(usage(fs))
		}
		return config{}, fmt.Errorf("%w\n%s", err, usage(fs))
	}

	get := func(name string) string { return strings.TrimSpace(values[name].value) }
	cfg := config{
		Addr:         get("addr"),
		Data:         get("data"),
		TLSCert:      get("tls-cert"),
		TLSKey:       get("tls-key"),
		RedirectAddr: get("redirect-addr"),
		Words:        get("words"),
		DebugAddr:    get("debug-addr"),
		LogFormat:    get("log-format"),
	}

	var errs []error
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("-%s ($%s): %w", name, envOf(name), err))
		}
	}
	var err error
	cfg.BehindTLSProxy, err = strconv.ParseBool(get("behind-tls-proxy"))
	check("behind-tls-proxy", err)
	cfg.Metrics, err = strconv.ParseBool(get("metrics"))
	check("metrics", err)
	cfg.Keep, err = strconv.Atoi(get("keep"))
	if err == nil && cfg.Keep < 1 {
		err = errors.New("must be at least 1")
	}
	check("keep", err)
	cfg.LeaveGrace, err = time.ParseDuration(get("leave-grace"))
	check("leave-grace", err)
	cfg.StreamsPerAddr, err = nonNegative(get("streams-per-addr"))
	check("streams-per-addr", err)
	cfg.LoginsPerMinute, err = nonNegative(get("logins-per-minute"))
	check("logins-per-minute", err)
	check("log-level", cfg.LogLevel.UnmarshalText([]byte(get("log-level"))))
	cfg.CookieKeys, err = parseCookieKeys(get("cookie-keys"))
	check("cookie-keys", err)

	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		check("log-format", fmt.Errorf("%q is neither text nor json", cfg.LogFormat))
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		check("tls-cert", errors.New("give both -tls-cert and -tls-key, or neither"))
	}
	if cfg.RedirectAddr != "" && cfg.TLSCert == "" {
		check("redirect-addr", errors.New("needs -tls-cert and -tls-key"))
	}
	if cfg.Addr == "" {
		check("addr", errors.New("must not be empty"))
	}
	if cfg.Data == "" {
		check("data", errors.New("must not be empty"))
	}
	return cfg, errors.Join(errs...)
}

// settingValue holds one setting as text until parseConfig checks it. A setting whose
// default is true or false is a boolean flag, so "-metrics" alone means true.
type settingValue struct {
	value  string
	isBool bool
}

func (v *settingValue) String() string { return v.value }

func (v *settingValue) Set(s string) error {
	v.value = s
	return nil
}

// IsBoolFlag tells the flag package that a boolean setting needs no value.
func (v *settingValue) IsBoolFlag() bool { return v.isBool }

// parseCookieKeys reads "HASH:BLOCK,HASH:BLOCK" in hex. Hash keys are 32 or 64 bytes,
// block keys 16, 24 or 32 bytes (AES-128, -192 or -256).
func parseCookieKeys(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}

	var keys [][]byte
	for i, pair := range strings.Split(s, ",") {
		hashHex, blockHex, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok {
			return nil, fmt.Errorf("pair %d: want HASH:BLOCK in hex", i+1)
		}
		hash, err := hex.DecodeString(hashHex)
		if err != nil || (len(hash) != 32 && len(hash) != 64) {
			return nil, fmt.Errorf("pair %d: hash key must be 32 or 64 bytes of hex", i+1)
		}
		block, err := hex.DecodeString(blockHex)
		if err != nil || (len(block) != 16 && len(block) != 24 && len(block) != 32) {
			return nil, fmt.Errorf("pair %d: block key must be 16, 24 or 32 bytes of hex", i+1)
		}
		keys = append(keys, hash, block)
	}
	return keys, nil
}

func nonNegative(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("must not be negative")
	}
	return n, nil
}

func envOf(flagName string) string {
	for _, s := range settings {
		if s.flag == flagName {
			return s.env
		}
	}
	return ""
}

func usage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("usage: chat [flags]\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}
