package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/api/compat"
	"github.com/objstore/objstore/internal/api/cork"
	"github.com/objstore/objstore/internal/api/fastlane"
	"github.com/objstore/objstore/internal/api/s3api"
	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/backend/s3backend"
	"github.com/objstore/objstore/internal/disk"
	"github.com/objstore/objstore/internal/metrics"
	"github.com/objstore/objstore/internal/multipart"
	"github.com/objstore/objstore/internal/node"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT/SIGTERM.
const shutdownTimeout = 30 * time.Second

// serve runs a node until ctx ends.
func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	cfg, err := parseServe(args, getenv)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The heap is small next to what it serves (the index and buffers):
		// collect less often, for about 5% more hits per CPU; GOGC wins.
		debug.SetGCPercent(200)
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	be, bucket, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	mode, err := node.ParseWriteMode(cfg.WriteMode)
	if err != nil {
		return err
	}
	ncfg := node.DefaultConfig()
	ncfg.DataDir = cfg.DataDir
	ncfg.Backend = be
	ncfg.Capacity = cfg.CacheSize
	ncfg.WriteMode = mode
	ncfg.RevalidateAfter = cfg.RevalidateAfter
	ncfg.UploadWorkers = cfg.UploadWorkers
	ncfg.Logger = log.With("component", "node")
	id, err := node.ReadID(cfg.DataDir)
	if err != nil {
		return err
	}
	cl, err := newCluster(cfg, id, log)
	if err != nil {
		return err
	}
	ncfg.Cluster, ncfg.Peers = cl.view, cl.client
	ncfg.Replicas = cfg.Replicas
	ncfg.NoCacheOnRead = !cfg.CacheOnRead
	ncfg.TombstoneHorizon = cfg.TombstoneHorizon
	n, err := node.Open(ncfg)
	if err != nil {
		cl.close(ctx)
		return err
	}
	defer n.Close()
	uploads, err := multipart.Open(filepath.Join(cfg.DataDir, "multipart"), multipart.Config{
		MaxAge: cfg.MultipartMaxAge, Logger: log.With("component", "multipart"),
	})
	if err != nil {
		return err
	}
	defer uploads.Close()

	m := metrics.New(log.With("component", "http"))
	var lane *fastlane.Server // set below, before anything is served
	m.WatchNode(func() metrics.Snapshot {
		s := snapshot(n.Stats())
		s.Cluster.Members = cl.membersByState()
		ls := lane.Stats()
		s.Connections, s.ConnectionsHandedOff = ls.Accepted, ls.HandedOff
		return s
	})
	var ready atomic.Bool
	mux := http.NewServeMux()
	auth, err := newAuth(cfg)
	if err != nil {
		return err
	}
	for _, w := range auth.warnings {
		log.Warn(w)
	}
	lister, _ := be.(backend.Lister)
	s3 := s3api.New(s3api.Config{
		Node:           n,
		Buckets:        lister,
		Verifier:       auth.verifier,
		AllowAnonymous: auth.anonymousS3,
		Domain:         cfg.Domain,
		Region:         regionOf(cfg.Backend),
		Multipart:      uploads,
		Wrap:           func(op string, h http.Handler) http.Handler { return m.Instrument("s3", op, h) },
		Logger:         log.With("component", "s3api"),
	})
	v1 := compat.New(compat.Config{
		Node:    n,
		Bucket:  bucket,
		Version: version,
		Stats:   func() (any, error) { return stats(cfg.DataDir, n) },
		Nodes:   func() (any, error) { return cl.nodes(n), nil },
		Wrap:    func(op string, h http.Handler) http.Handler { return m.Instrument("v1", op, h) },
		Token:   cfg.APIToken,
		Logger:  log.With("component", "api"),
	})
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.DebugListen != "" {
		_, stopDebug, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}
	srv := &http.Server{
		Handler:           routes(v1, s3, mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext:       cork.ConnContext,
	}
	// Plain HTTP goes through the lane, which serves GETs and HEADs itself
	// and hands other connections to srv (see package fastlane); TLS
	// connections are all srv's.
	lane = fastlane.New(srv)
	lane.Wrap = cork.Listener
	served := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			served <- srv.ServeTLS(cork.Listener(ln), cfg.TLSCert, cfg.TLSKey)
			return
		}
		served <- lane.Serve(ln)
	}()
	if err := cl.start(ctx, cfg, n, ln.Addr().String()); err != nil {
		lane.Close()
		cl.close(ctx)
		return err
	}
	defer cl.close(context.Background())
	ready.Store(true)
	log.Info("objstore serving", "listen", ln.Addr().String(), "backend", cfg.Backend.String(),
		"bucket", bucket, "data_dir", cfg.DataDir, "node_id", n.ID(), "write_mode", mode.String(),
		"cache_size", n.Capacity(), "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdown := srv.Shutdown
	if cfg.TLSCert == "" {
		shutdown = lane.Shutdown
	}
	if err := shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	cl.close(sctx)
	uploads.Close()
	if err := n.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// routes sends /api/v1/ to v1 and the operational endpoints to mux, and
// every other request to the S3 API. /api/v1/ goes to v1 before the mux
// sees it: ServeMux cleans paths, which would turn an ID such as "a//b" or
// "a/../b" into another. An unsigned GET of /metrics, /healthz or /readyz
// without a query is operational; the S3 API still serves buckets of those
// names to signed requests and to requests with a query (listings).
func routes(v1, s3, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/api/v1/"):
			v1.ServeHTTP(w, r)
		case (p == "/metrics" || p == "/healthz" || p == "/readyz") && r.URL.RawQuery == "" && r.Header.Get("Authorization") == "":
			mux.ServeHTTP(w, r)
		default:
			s3.ServeHTTP(w, r)
		}
	})
}

// openBackend builds the backend of spec and returns it with the bucket
// /api/v1 uses: the s3 URL's bucket, or --bucket for a directory.
func openBackend(ctx context.Context, cfg serveConfig) (backend.Backend, string, error) {
	spec := cfg.Backend
	switch spec.Kind {
	case backendFile:
		b, err := fsbackend.New(spec.Dir)
		return b, cfg.Bucket, err
	case backendS3:
		sc := s3backend.DefaultConfig()
		sc.Endpoint, sc.Region, sc.PathStyle = spec.Endpoint, spec.Region, spec.PathStyle
		b, err := s3backend.New(ctx, sc)
		return b, spec.Bucket, err
	}
	return nil, "", errors.New("unknown backend kind " + spec.Kind)
}

// stats is the body of GET /api/v1/stats: the original's disk figures of
// the data dir's filesystem, plus the cache's.
func stats(dataDir string, n *node.Node) (any, error) {
	u, err := disk.Stat(dataDir)
	if err != nil {
		return nil, err
	}
	st := n.Stats()
	return map[string]any{
		"node_id":            n.ID(),
		"total":              u.Total,
		"used":               u.Used,
		"free":               u.Free,
		"cache_objects":      st.Objects,
		"cache_bytes":        st.BytesCached,
		"cache_capacity":     st.Capacity,
		"upload_queue":       st.UploadQueueLength,
		"hits":               st.Hits,
		"misses":             st.Misses,
		"backend_gets_saved": st.CoalescedMisses,
	}, nil
}

func snapshot(s node.Stats) metrics.Snapshot {
	c := &s.Cluster
	return metrics.Snapshot{
		Hits: s.Hits, Misses: s.Misses,
		Revalidations: s.Revalidations, StaleServed: s.StaleServed,
		CoalescedMisses: s.CoalescedMisses, CoalescedHeads: s.CoalescedHeads,
		BytesServed:     s.BytesServed,
		BackendRequests: s.BackendRequests, BackendErrors: s.BackendErrors,
		Evictions: s.Evictions, EvictedBytes: s.EvictedBytes,
		Objects: s.Objects, BytesCached: s.BytesCached, Capacity: s.Capacity,
		LogSegments: s.LogSegments, LogBytes: s.LogBytes,
		UploadQueueLength: s.UploadQueueLength, UploadQueueOldest: s.UploadQueueOldest,
		UploadsDone: s.UploadsDone, UploadRetries: s.UploadRetries,
		Cluster: metrics.ClusterSnapshot{
			StreamsReceived: c.StreamsReceived, EventsApplied: c.EventsApplied, EventsPushed: c.EventsPushed,
			PushBytes: c.PushBytes, PushFailures: c.PushFailures,
			SyncRounds: c.SyncRounds, SyncBytes: c.SyncBytes, DeltasServed: c.DeltasServed,
			TombstonesCompacted: c.TombstonesCompacted, EventsStored: c.EventsStored,
			PeerReads: map[string]uint64{
				"holder_ok": c.PeerReadsOK, "holder_failed": c.PeerReadsFailed,
				"owner_ok": c.OwnerReadsOK, "owner_failed": c.OwnerReadsFailed,
			},
			Replicated: c.Replicated, ReplicationFailed: c.ReplicationFailed, ReplicationDropped: c.ReplicationDropped,
			ReplicationQueue: c.ReplicationQueue, BytesServedToPeers: c.BytesServedToPeers,
		},
	}
}

// regionOf is the region the S3 API reports for buckets.
func regionOf(b backendSpec) string {
	if b.Kind == backendS3 && b.Region != "" {
		return b.Region
	}
	return "us-east-1"
}

// serveDebug serves Go's profiler (net/http/pprof) on addr until stop is
// called. bound is the address it listens on.
func serveDebug(addr string, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("debug listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("profiler serving", "listen", ln.Addr().String())
	return ln.Addr().String(), func() { srv.Close() }, nil
}
