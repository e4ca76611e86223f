package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// Object is an object body with its metadata and journal version.
type Object struct {
	Info core.Info
	Ver  journal.Version
	// Body holds Info.Size bytes. On the serving side an *os.File lets the
	// server use sendfile. On the client side a Body that is a Bytes (a
	// small body read off a pipe) holds them in memory until Close.
	Body io.Reader
	// Close releases the body; on the client side it closes the
	// connection's response.
	Close func()
	// Fetched: the serving node read the body from the backend for this
	// request (a forwarded miss), rather than from its disk.
	Fetched bool
	// Seq is the Seq of the put event that made Ver (replicas only).
	Seq uint64
	// Dirty: the object is not in the backend yet (a write-back put), so
	// a copy of it must not be evicted before it is.
	Dirty bool
}

// Bytes is a body already in memory, whole; its bytes are the caller's
// to read (not to change) until the Object's Close.
type Bytes interface{ Bytes() []byte }

// OpenOptions qualify a peer read.
type OpenOptions struct {
	// Fetch asks the key's owner to read it through from the backend (once
	// for the whole cluster) when no node holds it.
	Fetch bool
	// Hops is how many times the request was forwarded.
	Hops int
	// Size is the body size the caller expects (from the journal), 0 if
	// it does not know: reads of small bodies share a stream (see pipe.go).
	Size int64
}

// Objects is what the server needs to serve object bodies. Implementations
// must be safe for concurrent use.
type Objects interface {
	// OpenPeer opens (bucket, key) for a peer: a copy this node holds or,
	// with opts.Fetch, one it reads through. core.ErrNotFound (or
	// core.ErrDeleted) when it has none.
	OpenPeer(ctx context.Context, bucket, key string, opts OpenOptions) (*Object, error)
	// StoreReplica stores o (Body of o.Info.Size bytes) as this node's copy
	// of version o.Ver, durably, before it returns.
	StoreReplica(ctx context.Context, o *Object) error
	// LocalDirty returns the objects of bucket under prefix that this node
	// holds and that are not in the backend yet.
	LocalDirty(bucket, prefix string) []core.Info
	// Uploaded learns from the origin of version ver of (bucket, key), a
	// write-back put this node may hold a replica of, that it is in the
	// backend now.
	Uploaded(ctx context.Context, bucket, key string, ver journal.Version) error
	// StatPeer returns the metadata of (bucket, key) for a peer, asking
	// the backend about a key this node does not know (it is the key's
	// owner, and coalesces such HEADs for the cluster). hops is how many
	// times the request was forwarded.
	StatPeer(ctx context.Context, bucket, key string, hops int) (core.Info, error)
}

// Journal is what the server needs to synchronise journals.
// Implementations must be safe for concurrent use.
type Journal interface {
	// Receive applies the events of a stream sent by node from.
	Receive(ctx context.Context, from string, r *journal.StreamReader) error
	// Delta writes to w the stream of events a node whose version vector
	// is v lacks (a snapshot when v is below what was compacted away).
	Delta(ctx context.Context, v journal.Vector, w io.Writer) error
}

// Server serves the peer routes over HTTP, and object reads over the
// streams those routes upgrade to (see stream.go). Every request must pass
// auth. Safe for concurrent use.
type Server struct {
	http.Handler
	objs Objects
	jr   Journal
	auth *Auth
	log  *slog.Logger

	mu      sync.Mutex
	streams map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// NewServer returns the Server of objs and jr. Close it after the HTTP
// server that serves it has shut down.
func NewServer(objs Objects, jr Journal, auth *Auth, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{objs: objs, jr: jr, auth: auth, log: log, streams: map[net.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /peer/v1/object", s.get)
	mux.HandleFunc("HEAD /peer/v1/object", s.get)
	mux.HandleFunc("PUT /peer/v1/object", s.put)
	mux.HandleFunc("POST /peer/v1/events", s.events)
	mux.HandleFunc("POST /peer/v1/sync", s.sync)
	mux.HandleFunc("GET /peer/v1/dirty", s.dirty)
	mux.HandleFunc("POST /peer/v1/uploaded", s.uploaded)
	mux.HandleFunc("GET /peer/v1/stat", s.stat)
	mux.HandleFunc("GET "+streamPath, s.stream)
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.Verify(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s
}

// Close closes the streams (which an HTTP server's Shutdown leaves open,
// as they are no longer HTTP) and waits for their requests to end. Safe
// to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.streams {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// status is the HTTP status that answers err.
func status(ctxErr bool, err error) int {
	var be *core.BackendError
	switch {
	case errors.Is(err, core.ErrDeleted):
		return http.StatusGone
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, core.ErrInsufficientStorage):
		return http.StatusInsufficientStorage
	case errors.Is(err, core.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, core.ErrInvalidKey), errors.Is(err, core.ErrInvalidBucket), errors.Is(err, core.ErrInvalidArgument),
		errors.Is(err, core.ErrIncompleteBody), errors.Is(err, journal.ErrCorrupt), errors.Is(err, core.ErrBadDigest):
		return http.StatusBadRequest
	case errors.As(err, &be):
		return http.StatusBadGateway
	case ctxErr:
		return 0
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status(r.Context().Err() != nil, err)
	if code == 0 {
		return
	}
	if code >= 500 {
		s.log.Warn("peer request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), code)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hops, _ := strconv.Atoi(r.Header.Get(hdrHops))
	o, err := s.objs.OpenPeer(r.Context(), q.Get("bucket"), q.Get("key"), OpenOptions{Fetch: q.Get("fetch") == "1", Hops: hops})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer o.Close()
	setObjectHeaders(w.Header(), o.Info, o.Ver)
	if o.Fetched {
		w.Header().Set(hdrFetched, "1")
	}
	if o.Dirty {
		w.Header().Set(hdrDirty, "1")
	}
	w.Header().Set("Content-Length", strconv.FormatInt(o.Info.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// A failure is the peer's to see: the body is short.
	if o.Info.Size > smallBody {
		io.Copy(w, o.Body) // an *os.File goes by sendfile
		return
	}
	// A small body in one Write from a pooled buffer: io.Copy would hand
	// a body that is no file to the connection's ReadFrom, which makes a
	// 32 KiB buffer for each.
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	buf := (*bp)[:o.Info.Size]
	if _, err := io.ReadFull(o.Body, buf); err != nil {
		return
	}
	w.Write(buf)
}

// smallBody is the largest body get writes from a pooled buffer.
const smallBody = 64 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	info, ver, err := objectHeaders(r.Header)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info.Bucket, info.Key = q.Get("bucket"), q.Get("key")
	seq, err := strconv.ParseUint(r.Header.Get(hdrSeq), 10, 64)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: %s", journal.ErrCorrupt, hdrSeq))
		return
	}
	if r.ContentLength != info.Size {
		s.fail(w, r, fmt.Errorf("%w: Content-Length %d, object of %d bytes", core.ErrIncompleteBody, r.ContentLength, info.Size))
		return
	}
	o := &Object{Info: info, Ver: ver, Body: r.Body, Close: func() {}, Seq: seq, Dirty: r.Header.Get(hdrDirty) == "1"}
	if err := s.objs.StoreReplica(r.Context(), o); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	sr, err := journal.NewStreamReader(r.Body)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", journal.ErrCorrupt, err))
		return
	}
	if err := s.jr.Receive(r.Context(), r.Header.Get(hdrNode), sr); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := journal.DecodeVector(b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := s.jr.Delta(r.Context(), v, w); err != nil {
		// The stream then has no end frame: the receiver sees it
		// incomplete and keeps only what it received.
		s.log.Warn("journal delta", "err", err)
	}
}
