package handlers

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics. Each Server has its own registry, so
// tests can run several servers side by side.
type metrics struct {
	registry *prometheus.Registry
	messages prometheus.Counter
	notices  prometheus.Counter
	flagged  prometheus.Counter
	flooded  prometheus.Counter
	logins   prometheus.Counter
	replayed prometheus.Histogram
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		messages: counter("chat_messages_total",
			"Room lines published: messages, actions, renames, joins and leaves."),
		notices: counter("chat_notices_total",
			"Private events sent: notices and direct messages."),
		flagged: counter("chat_messages_flagged_total", "Posts refused by moderation."),
		flooded: counter("chat_posts_rate_limited_total", "Posts refused by the flood limit."),
		logins:  counter("chat_logins_total", "Successful logins."),
		replayed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chat_replay_messages",
			Help:    "Messages replayed one by one to a reconnecting stream.",
			Buckets: []float64{0, 1, 5, 20, 100, ReplayLimit},
		}),
	}

	m.registry.MustRegister(m.messages, m.notices, m.flagged, m.flooded, m.logins, m.replayed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_streams_open",
			Help: "Event streams open now.",
		}, func() float64 { return float64(s.hub.Subscribers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_sessions_online",
			Help: "Sessions online now.",
		}, func() float64 { return float64(len(s.hub.Online())) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "chat_slow_readers_dropped_total",
			Help: "Streams closed because their reader fell behind.",
		}, func() float64 { return float64(s.hub.Dropped()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
