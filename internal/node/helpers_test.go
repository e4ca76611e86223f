package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
)

const bkt = "test-bucket"

// testBackend wraps a real filesystem backend, counting calls; it can be
// taken down (every call fails as an unreachable backend would) and can
// hold GET bodies until released.
type testBackend struct {
	backend.Backend
	gets, heads, puts, deletes atomic.Int64
	down                       atomic.Bool
	mu                         sync.Mutex
	gate                       chan struct{} // when set, GET bodies block on it
	headGate                   chan struct{} // when set, HEADs block on it
	refusePuts                 string        // when set, PUTs of keys with this prefix fail
}

var errDown = errors.New("connection refused")

func (b *testBackend) fail(op string) error {
	if b.down.Load() {
		return &core.BackendError{Op: op, Err: errDown}
	}
	return nil
}

func (b *testBackend) Get(ctx context.Context, bucket, key string, opts backend.GetOptions) (*backend.Object, error) {
	b.gets.Add(1)
	if err := b.fail("get"); err != nil {
		return nil, err
	}
	obj, err := b.Backend.Get(ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		obj.Body = &gatedBody{ReadCloser: obj.Body, gate: gate, ctx: ctx}
	}
	return obj, nil
}

func (b *testBackend) Head(ctx context.Context, bucket, key string) (core.Info, error) {
	b.heads.Add(1)
	b.mu.Lock()
	gate := b.headGate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return core.Info{}, ctx.Err()
		}
	}
	if err := b.fail("head"); err != nil {
		return core.Info{}, err
	}
	return b.Backend.Head(ctx, bucket, key)
}

func (b *testBackend) Put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) (string, error) {
	b.puts.Add(1)
	if err := b.fail("put"); err != nil {
		return "", err
	}
	b.mu.Lock()
	refuse := b.refusePuts != "" && strings.HasPrefix(key, b.refusePuts)
	b.mu.Unlock()
	if refuse {
		return "", &core.BackendError{Op: "put", Err: errDown}
	}
	return b.Backend.Put(ctx, bucket, key, body, size, info)
}

func (b *testBackend) Delete(ctx context.Context, bucket, key string) error {
	b.deletes.Add(1)
	if err := b.fail("delete"); err != nil {
		return err
	}
	return b.Backend.Delete(ctx, bucket, key)
}

// setGate makes GET bodies block until the returned func is called.
func (b *testBackend) setGate() (release func()) {
	g := make(chan struct{})
	b.mu.Lock()
	b.gate = g
	b.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// gatedBody yields its first byte at once and the rest after the gate opens.
type gatedBody struct {
	io.ReadCloser
	gate  chan struct{}
	ctx   context.Context
	first bool
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if !g.first {
		g.first = true
		return g.ReadCloser.Read(p[:1])
	}
	select {
	case <-g.gate:
	case <-g.ctx.Done():
		return 0, g.ctx.Err()
	}
	return g.ReadCloser.Read(p)
}

type testNode struct {
	*Node
	be  *testBackend
	dir string
	cfg Config
}

func newTestNode(t *testing.T, opts ...func(*Config)) *testNode {
	t.Helper()
	root := t.TempDir()
	fb, err := fsbackend.New(filepath.Join(root, "origin"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(root, "data")
	cfg.Backend = &testBackend{Backend: fb}
	cfg.Capacity = 1 << 30
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 20*time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	return startNode(t, cfg)
}

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &testNode{Node: n, be: cfg.Backend.(*testBackend), dir: cfg.DataDir, cfg: cfg}
}

// restart closes the node and opens a new one on the same data dir.
func (tn *testNode) restart(t *testing.T) *testNode {
	t.Helper()
	if err := tn.Close(); err != nil {
		t.Fatal(err)
	}
	return startNode(t, tn.cfg)
}

func (tn *testNode) put(t testing.TB, key string, body []byte, mut ...func(*core.Info)) core.Info {
	t.Helper()
	info := core.Info{Bucket: bkt, Key: key, Level: core.LevelBackend, ContentType: "text/plain"}
	for _, m := range mut {
		m(&info)
	}
	got, err := tn.Put(context.Background(), info, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return got
}

// read gets key and returns its body and source.
func (tn *testNode) read(t *testing.T, key string, opts GetOptions) ([]byte, *Object, error) {
	t.Helper()
	obj, err := tn.Get(context.Background(), bkt, key, opts)
	if err != nil {
		return nil, nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj.Content)
	return b, obj, err
}

// eventually waits for cond, up to a deadline generous enough for the race
// detector on a loaded 2-core machine; a passing test waits only as long as
// cond takes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tempFiles lists the partial bodies (temp files holding bytes) of a node.
func tempFiles(t *testing.T, n *Node) []string {
	t.Helper()
	ts, err := n.store.Temps()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for name, size := range ts {
		if size > 0 {
			out = append(out, name)
		}
	}
	return out
}
