package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrument wraps h so that every request it serves is recorded with
// ObserveRequest under api and op, with the status code h sent (200 when
// it sent none) and the time until h returned, and logs one line per
// request at debug level when Metrics has a logger.
func (m *Metrics) Instrument(api, op string, h http.Handler) http.Handler {
	// Resolve the label values once, not on every request: this wraps the
	// hot path of cache hits.
	dur := m.durations.WithLabelValues(api, op)
	var counters sync.Map // status code → prometheus.Counter
	count := func(status int) {
		c, ok := counters.Load(status)
		if !ok {
			c, _ = counters.LoadOrStore(status, m.requests.WithLabelValues(api, op, strconv.Itoa(status)))
		}
		c.(prometheus.Counter).Inc()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		status := sw.statusCode()
		count(status)
		dur.Observe(d.Seconds())
		if m.log != nil && m.log.Enabled(r.Context(), slog.LevelDebug) {
			m.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("api", api), slog.String("op", op), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
		}
	})
}

// statusWriter remembers the status code a handler sends.
//
// It implements io.ReaderFrom by delegating to the wrapped writer, because
// io.Copy (and so http.ServeContent) only reaches net/http's sendfile path
// through ReadFrom: without it every cached body would be copied through
// user space. Other optional interfaces (Hijacker, SetReadDeadline, ...)
// are reachable through Unwrap with http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int // final status sent; 0 until then
}

var (
	_ io.ReaderFrom = (*statusWriter)(nil)
	_ http.Flusher  = (*statusWriter)(nil)
)

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK // net/http sends 200 for a handler that wrote nothing
	}
	return w.status
}

// WriteHeader records the first final status. Informational 1xx headers
// (such as 103 Early Hints) may precede it and are not recorded, as in
// net/http; 101 Switching Protocols is final.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom implements io.ReaderFrom by handing r to the wrapped writer's
// ReadFrom, which lets net/http use sendfile when r is (a LimitedReader
// of) an *os.File.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	// Hide the wrapped writer's other methods so that io.Copy does not
	// come back here.
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

// Flush implements http.Flusher, which much code still asserts directly,
// by way of http.ResponseController; a writer that cannot flush makes it
// a no-op, as there is no error to return.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method of a writer but Write.
type writerOnly struct{ io.Writer }
