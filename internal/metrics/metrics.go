package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds a registry and objstore's metrics in it. It is safe for
// concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	node      *nodeCollector
	log       *slog.Logger // request log at debug level; nil for none
}

// New returns Metrics with a fresh registry holding the Go runtime and
// process collectors, the HTTP request metrics and the (for now empty)
// node collector that WatchNode feeds.
func New(log *slog.Logger) *Metrics {
	m := &Metrics{
		log: log,
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "objstore_http_requests_total",
			Help: "HTTP requests served, by API, operation and status code.",
		}, []string{"api", "op", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "objstore_http_request_duration_seconds",
			Help: "Time from receiving an HTTP request to its handler returning, by API and operation.",
			// From a small object served out of the page cache (tens of
			// microseconds) to a large one pulled from a slow backend
			// (seconds), in 1-2.5-5 steps per decade.
			Buckets: []float64{
				0.00005, 0.0001, 0.00025, 0.0005,
				0.001, 0.0025, 0.005,
				0.01, 0.025, 0.05,
				0.1, 0.25, 0.5,
				1, 2.5, 5, 10,
			},
		}, []string{"api", "op"}),
		node: newNodeCollector(),
	}
	// MustRegister cannot fail here: the registry is new and every
	// collector's metric names are distinct, which the tests check.
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests,
		m.durations,
		m.node,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format, for
// GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest records one finished HTTP request: api names the API
// ("compat", "s3", "peer"), op the operation ("get", "put", ...), status the
// status code sent and d the time it took.
func (m *Metrics) ObserveRequest(api, op string, status int, d time.Duration) {
	m.requests.WithLabelValues(api, op, strconv.Itoa(status)).Inc()
	m.durations.WithLabelValues(api, op).Observe(d.Seconds())
}

// WatchNode makes every scrape call snapshot and report what it returns.
// snapshot must be safe to call from any goroutine and should be cheap:
// it runs on each scrape. A later call replaces the earlier function; nil
// stops reporting node metrics.
func (m *Metrics) WatchNode(snapshot func() Snapshot) {
	m.node.set(snapshot)
}
