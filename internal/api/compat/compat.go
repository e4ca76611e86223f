package compat

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/objstore/objstore/internal/api/objhttp"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/node"
)

// Node is what the API needs of a node. Implementations must be safe for
// concurrent use; errors follow the core sentinels.
type Node interface {
	ID() string
	Get(ctx context.Context, bucket, key string, opts node.GetOptions) (*node.Object, error)
	Stat(ctx context.Context, bucket, key string, opts node.GetOptions) (core.Info, node.Source, error)
	Put(ctx context.Context, info core.Info, body io.Reader, size int64) (core.Info, error)
	Delete(ctx context.Context, bucket, key string) error
	AddServed(src node.Source, bytes int64)
}

var _ Node = (*node.Node)(nil)

// Config configures the API.
type Config struct {
	Node Node
	// Bucket is the backend bucket /api/v1 objects live in.
	Bucket string
	// Version is what GET /api/v1/version answers.
	Version string
	// Stats returns the body of GET /api/v1/stats; it is marshalled to JSON.
	Stats func() (any, error)
	// Nodes returns the body of GET /api/v1/nodes (the cluster's members);
	// it is marshalled to JSON. Nil: the endpoint answers 404.
	Nodes func() (any, error)
	// Wrap, when set, wraps each endpoint's handler (metrics, logging);
	// op names the endpoint.
	Wrap func(op string, h http.Handler) http.Handler
	// Token, when set, is the bearer token every request must carry
	// (Authorization: Bearer <token>); others get 401.
	Token string
	// Logger receives errors the API could not report to a client.
	Logger *slog.Logger
}

// API is the /api/v1 handler.
type API struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	keyed map[string]keyedRoute
}

// New returns the API; mount it at /api/v1/.
func New(cfg Config) *API {
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	wrap := cfg.Wrap
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	route := func(pattern, op string, h handlerFunc) {
		a.mux.Handle(pattern, wrap(op, a.adapt(h)))
	}
	route("GET /api/v1/id", "id", a.id)
	route("POST /api/v1/put", "put", a.put)
	route("PUT /api/v1/put", "put", a.put)
	route("GET /api/v1/version", "version", a.version)
	route("GET /api/v1/ping", "ping", a.ping)
	route("GET /api/v1/stats", "stats", a.stats)
	if cfg.Nodes != nil {
		route("GET /api/v1/nodes", "nodes", a.nodes)
	}
	// Keyed routes take the rest of the raw path as the ID, so that any key
	// (with "//", "." or ".." segments) arrives intact instead of being
	// cleaned and redirected by the mux.
	a.keyed = map[string]keyedRoute{
		"get":    {op: "get", methods: "GET HEAD", h: wrap("get", a.adapt(a.get))},
		"meta":   {op: "meta", methods: "GET HEAD", h: wrap("meta", a.adapt(a.meta))},
		"delete": {op: "delete", methods: "POST DELETE", h: wrap("delete", a.adapt(a.delete))},
	}
	return a
}

type keyedRoute struct {
	op      string
	methods string
	h       http.Handler
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Token != "" && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="objstore"`)
		http.Error(w, "missing or wrong bearer token (Authorization: Bearer <token>)", http.StatusUnauthorized)
		return
	}
	if name, _, ok := splitKeyed(r); ok {
		if rt, ok := a.keyed[name]; ok {
			if !strings.Contains(rt.methods, r.Method) {
				w.Header().Set("Allow", strings.ReplaceAll(rt.methods, " ", ", "))
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

func (a *API) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) == 1
}

// splitKeyed splits /api/v1/<name>/<escaped id> into its parts.
func splitKeyed(r *http.Request) (name, escapedID string, ok bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v1/")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// keyOf returns the ID of a keyed route's request, unescaped.
func keyOf(r *http.Request) (string, error) {
	_, id, _ := splitKeyed(r)
	key, err := url.PathUnescape(id)
	if err != nil {
		return "", fmt.Errorf("%w: bad escape in ID: %v", core.ErrInvalidKey, err)
	}
	return key, nil
}

// handlerFunc is an endpoint: it writes a success response or returns an
// error for adapt to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// adapt turns an endpoint's error into a plain-text response.
func (a *API) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status := statusOf(err)
		// The context also ends when the client only half-closes its side
		// (say, after a body shorter than its Content-Length). It may still
		// be reading, so answer anyway: a handler that writes nothing would
		// be taken for 200 OK.
		if r.Context().Err() != nil {
			a.log.Debug("request ended by client", "method", r.Method, "path", r.URL.Path, "err", err)
		} else if status >= 500 {
			a.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		if errors.Is(err, core.ErrDeleted) {
			w.Header().Set("X-Meta-Deleted", "true")
		}
		http.Error(w, err.Error(), status)
	})
}

func statusOf(err error) int {
	var be *core.BackendError
	switch {
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, core.ErrInvalidKey), errors.Is(err, core.ErrInvalidArgument),
		errors.Is(err, core.ErrMetaTooLarge), errors.Is(err, core.ErrIncompleteBody),
		errors.Is(err, core.ErrInvalidBucket), errors.Is(err, core.ErrBadDigest):
		return http.StatusBadRequest
	case errors.Is(err, objhttp.ErrPreconditionFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, objhttp.ErrRangeNotSatisfiable):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, core.ErrInsufficientStorage):
		return http.StatusInsufficientStorage
	case errors.As(err, &be):
		if errors.Is(err, context.DeadlineExceeded) {
			return http.StatusGatewayTimeout
		}
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}
