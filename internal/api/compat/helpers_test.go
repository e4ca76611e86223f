package compat_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/objstore/objstore/internal/api/compat"
	"github.com/objstore/objstore/internal/backend/s3backend"
	"github.com/objstore/objstore/internal/disk"
	"github.com/objstore/objstore/internal/node"
)

// bucket is the backend bucket /api/v1 objects live in.
const bucket = "objstore-test"

// testVersion is what GET /api/v1/version answers.
const testVersion = "v1.2.3-test"

// fakeS3 is an in-process gofakes3 on a loopback port that a test can take
// down (stop) and bring back (start) on the same port. Its s3mem store
// outlives the listener, so data survives an outage. Every request is
// counted by method, object GETs can be held at a gate, and the store can
// be read and written directly, behind objstore's back.
type fakeS3 struct {
	t    *testing.T
	mem  *s3mem.Backend
	h    http.Handler
	addr string // host:port, fixed for the fake's life

	requests, gets, heads, puts, deletes atomic.Int64
	corrupt                              atomic.Bool // flip the last byte of object GET bodies

	mu     sync.Mutex
	srv    *http.Server
	served chan struct{} // closed when srv.Serve returned
	gate   chan struct{} // when set, object GETs wait for it to close
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{t: t, mem: s3mem.New()}
	f.h = gofakes3.New(f.mem).Server()
	if err := f.mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(f.stop)
	return f
}

// URL is the fake's endpoint.
func (f *fakeS3) URL() string { return "http://" + f.addr }

// ServeHTTP counts the request, holds it at the gate if it is an object
// GET and one is set, and passes it to gofakes3.
func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	object := strings.HasPrefix(r.URL.Path, "/"+bucket+"/") && len(r.URL.Path) > len(bucket)+2
	switch r.Method {
	case http.MethodGet:
		if object {
			f.gets.Add(1)
			f.mu.Lock()
			gate := f.gate
			f.mu.Unlock()
			if gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
		}
		if object && f.corrupt.Load() {
			corruptLastByte(w, r, f.h)
			return
		}
	case http.MethodHead:
		f.heads.Add(1)
	case http.MethodPut:
		f.puts.Add(1)
	case http.MethodDelete:
		f.deletes.Add(1)
	}
	f.h.ServeHTTP(w, r)
}

// corruptLastByte serves r through h with the last byte of the body
// changed and every header (the ETag among them) kept, as a bit flip on
// the way from the backend would.
func corruptLastByte(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if len(body) > 0 {
		body[len(body)-1] ^= 0xff
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (f *fakeS3) serve(ln net.Listener) {
	srv := &http.Server{Handler: f}
	served := make(chan struct{})
	f.mu.Lock()
	f.srv, f.served = srv, served
	f.mu.Unlock()
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
}

// stop takes the fake down: the port refuses connections and open ones
// are closed. Safe to call when already stopped.
func (f *fakeS3) stop() {
	f.mu.Lock()
	srv, served := f.srv, f.served
	f.srv = nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	<-served
}

// start brings the fake back on its port, with the data it held.
func (f *fakeS3) start() {
	f.t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatalf("restart fake S3 on %s: %v", f.addr, err)
	}
	f.serve(ln)
}

// hold makes object GETs wait until the returned release is called (which
// the test's cleanup also does).
func (f *fakeS3) hold() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(gate)
		})
	}
	f.t.Cleanup(release)
	return release
}

// object returns the body and metadata gofakes3 holds for key, or ok
// false if it holds none.
func (f *fakeS3) object(key string) (body []byte, meta map[string]string, ok bool) {
	f.t.Helper()
	obj, err := f.mem.GetObject(bucket, key, nil)
	if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		return nil, nil, false
	}
	if err != nil {
		f.t.Fatalf("fake S3 get %q: %v", key, err)
	}
	defer obj.Contents.Close()
	body, err = io.ReadAll(obj.Contents)
	if err != nil {
		f.t.Fatalf("fake S3 get %q: %v", key, err)
	}
	return body, obj.Metadata, true
}

// has reports whether gofakes3 holds key.
func (f *fakeS3) has(key string) bool {
	f.t.Helper()
	_, _, ok := f.object(key)
	return ok
}

// replace overwrites key's body in gofakes3 directly, keeping its
// metadata (objstore's name and level among it).
func (f *fakeS3) replace(key string, body []byte) {
	f.t.Helper()
	_, meta, ok := f.object(key)
	if !ok {
		f.t.Fatalf("fake S3 replace %q: no such object", key)
	}
	if _, err := f.mem.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		f.t.Fatalf("fake S3 replace %q: %v", key, err)
	}
}

// newBackend returns an S3 backend on the fake. It makes one attempt per
// request, so that an outage fails at once instead of after the SDK's
// back-off; the node's own retries (write-back) still apply.
func newBackend(t *testing.T, f *fakeS3) *s3backend.Backend {
	t.Helper()
	cfg := s3backend.DefaultConfig()
	cfg.Endpoint = f.URL()
	cfg.PathStyle = true
	cfg.AccessKeyID, cfg.SecretAccessKey = "test-key", "test-secret"
	cfg.MaxAttempts = 1
	cfg.ConnectTimeout = 2 * time.Second
	cfg.ResponseHeaderTimeout = 10 * time.Second
	b, err := s3backend.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testNode is a real node on a temp dir, served by compat through httptest.
type testNode struct {
	*node.Node
	cfg    node.Config
	srv    *httptest.Server
	client *http.Client
	once   sync.Once
}

// newTestNode opens a node on a fresh data dir with a backend on f; opts
// adjust its config.
func newTestNode(t *testing.T, f *fakeS3, opts ...func(*node.Config)) *testNode {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Backend = newBackend(t, f)
	cfg.Capacity = 1 << 30
	cfg.RetryMin, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	return startNode(t, cfg)
}

func startNode(t *testing.T, cfg node.Config) *testNode {
	t.Helper()
	n, err := node.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := compat.New(compat.Config{
		Node:    n,
		Bucket:  bucket,
		Version: testVersion,
		Stats: func() (any, error) {
			return disk.Stat(cfg.DataDir)
		},
	})
	tn := &testNode{Node: n, cfg: cfg, srv: httptest.NewServer(api)}
	tn.client = tn.srv.Client()
	t.Cleanup(func() { tn.close(t) })
	return tn
}

// close stops serving, then closes the node. Safe to call twice.
func (tn *testNode) close(t *testing.T) {
	t.Helper()
	tn.once.Do(func() {
		tn.srv.Close()
		if err := tn.Node.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
}

// reopen closes the node and opens a new one on the same data dir and
// backend.
func (tn *testNode) reopen(t *testing.T) *testNode {
	t.Helper()
	tn.close(t)
	return startNode(t, tn.cfg)
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request to the node's API. path is relative to /api/v1/ and
// sent as given (already escaped); hdr is a list of header name/value pairs.
func (tn *testNode) do(t *testing.T, method, path string, body io.Reader, hdr ...string) reply {
	t.Helper()
	r, err := tn.try(t.Context(), method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (tn *testNode) try(ctx context.Context, method, path string, body io.Reader, hdr ...string) (reply, error) {
	if len(hdr)%2 != 0 {
		return reply{}, errors.New("odd header list")
	}
	req, err := http.NewRequestWithContext(ctx, method, tn.srv.URL+"/api/v1/"+path, body)
	if err != nil {
		return reply{}, err
	}
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tn.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// put stores body under key through POST /api/v1/put with the extra
// headers hdr and fails the test unless it answers 200.
func (tn *testNode) put(t *testing.T, key, body string, hdr ...string) reply {
	t.Helper()
	r := tn.do(t, http.MethodPost, "put", strings.NewReader(body), append([]string{"X-Meta-ID", key}, hdr...)...)
	if r.status != http.StatusOK {
		t.Fatalf("put %q: %d %s", key, r.status, r.body)
	}
	return r
}

// get reads key through GET /api/v1/get/{id}.
func (tn *testNode) get(t *testing.T, key string, hdr ...string) reply {
	t.Helper()
	return tn.do(t, http.MethodGet, "get/"+url.PathEscape(key), nil, hdr...)
}

// meta reads key's metadata through GET /api/v1/meta/{id}.
func (tn *testNode) meta(t *testing.T, key string, hdr ...string) reply {
	t.Helper()
	return tn.do(t, http.MethodGet, "meta/"+url.PathEscape(key), nil, hdr...)
}

// del deletes key through POST /api/v1/delete/{id}.
func (tn *testNode) del(t *testing.T, key string) reply {
	t.Helper()
	return tn.do(t, http.MethodPost, "delete/"+url.PathEscape(key), nil)
}

// wantStatus fails the test unless r has status want.
func wantStatus(t *testing.T, what string, r reply, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d (body %q)", what, r.status, want, r.body)
	}
}

// wantHeader fails the test unless r's header name is want.
func wantHeader(t *testing.T, what string, r reply, name, want string) {
	t.Helper()
	if got := r.header.Get(name); got != want {
		t.Errorf("%s: %s = %q, want %q", what, name, got, want)
	}
}

// wantPlainError checks that r is an error answered with status and a
// plain-text message.
func wantPlainError(t *testing.T, what string, r reply, status int) {
	t.Helper()
	wantStatus(t, what, r, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("%s: error Content-Type %q, want text/plain", what, ct)
	}
	if strings.TrimSpace(r.body) == "" || strings.HasPrefix(r.body, "{") || strings.HasPrefix(r.body, "<") {
		t.Errorf("%s: error body %q is not a plain-text message", what, r.body)
	}
}

// waitFor waits up to 10 s for cond, checking it every few milliseconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
