package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/peer"
)

// secret is the benchmark cluster's secret: every peer request is signed
// and verified, as in a real cluster.
const secret = "objstore cluster bench"

// members is the cluster's membership, kept by the benchmark: it says who
// is live, as memberlist would. Safe for concurrent use.
type members struct {
	mu   sync.Mutex
	live []node.Member
}

var _ node.Cluster = (*members)(nil)

func (m *members) Live() []node.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}

func (m *members) set(mem node.Member, live bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = slices.DeleteFunc(m.live, func(x node.Member) bool { return x.ID == mem.ID })
	if live {
		m.live = append(m.live, mem)
	}
}

// cluster is a set of in-process nodes, each a real node.Node with its own
// data dir, peer client and peer HTTP server on 127.0.0.1, sharing one
// backend directory and one membership.
type cluster struct {
	dir     string
	backend backend.Backend
	members *members
	nodes   []*benchNode
}

func newCluster(dir string, size int) (*cluster, error) {
	be, err := fsbackend.New(filepath.Join(dir, "origin"))
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, backend: be, members: &members{}}
	for i := range size {
		bn := &benchNode{c: c, name: string(rune('a' + i)), dir: filepath.Join(dir, fmt.Sprint("node", i))}
		id, err := node.ReadID(bn.dir)
		if err != nil {
			c.close()
			return nil, err
		}
		bn.id = id
		c.nodes = append(c.nodes, bn)
		if err := bn.start(); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) close() {
	for _, bn := range c.nodes {
		bn.stop()
	}
}

// benchNode is one node of a cluster, stopped and started at will; its
// data dir and ID survive a restart, its peer port does not.
type benchNode struct {
	c    *cluster
	name string
	dir  string
	id   string

	n   *node.Node
	ln  *countingListener
	srv *http.Server
	ps  *peer.Server
	cli *peer.Client
	mem node.Member
}

// start opens the node, serves its peer routes (configured as
// cmd/objstore does) and makes it live.
func (bn *benchNode) start() error {
	auth, err := peer.NewAuth(secret, bn.id)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bn.ln = newCountingListener(ln)
	bn.cli = peer.NewClient(peer.ClientConfig{Auth: auth})
	cfg := node.DefaultConfig()
	cfg.DataDir = bn.dir
	cfg.Backend = bn.c.backend
	cfg.Capacity = 16 << 30
	cfg.Cluster = bn.c.members
	cfg.Peers = bn.cli
	n, err := node.Open(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	bn.n = n
	bn.ps = peer.NewServer(n, n, auth, nil)
	bn.srv = &http.Server{
		Handler:           bn.ln.tagged(bn.ps),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ConnContext:       bn.ln.connContext,
	}
	go bn.srv.Serve(bn.ln)
	bn.mem = node.Member{ID: bn.id, PeerAddr: ln.Addr().String()}
	bn.c.members.set(bn.mem, true)
	return nil
}

// stop takes the node out of the live set, then stops serving and closes
// it. Safe to call on a stopped node.
func (bn *benchNode) stop() {
	if bn.n == nil {
		return
	}
	bn.c.members.set(bn.mem, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	bn.srv.Shutdown(ctx)
	cancel()
	bn.ps.Close()
	bn.n.Close()
	bn.cli.Close()
	bn.n = nil
}

// converged reports whether every node in nodes has seen every event the
// others have.
func converged(nodes ...*benchNode) bool {
	vecs := make([]journal.Vector, len(nodes))
	for i, bn := range nodes {
		vecs[i] = bn.n.Vector()
	}
	for i := range vecs {
		for j := range vecs {
			if !vecs[i].Covers(vecs[j]) {
				return false
			}
		}
	}
	return true
}

// waitFor polls cond every interval until it holds or timeout passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return nil
}

// countingListener counts the bytes of every connection it accepts, in
// (read: requests) and out (written: responses), as they pass through the
// socket: HTTP headers, chunk framing and bodies, not TCP/IP headers. Each
// connection is tagged with the node ID of its client, read from the
// first request's X-Objstore-Node header (peer.Client keeps its own
// connections per node, so a connection has one client).
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

func newCountingListener(ln net.Listener) *countingListener {
	return &countingListener{Listener: ln}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

type connKey struct{}

func (l *countingListener) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// tagged wraps h to tag each request's connection with its client's ID.
func (l *countingListener) tagged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cc, ok := r.Context().Value(connKey{}).(*countingConn); ok {
			if cc.from.Load() == nil {
				id := r.Header.Get("X-Objstore-Node")
				cc.from.Store(&id)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// traffic is bytes in and out, per client node ID.
type traffic map[string]flow

type flow struct{ In, Out int64 }

// traffic returns the bytes so far of every connection, by client.
func (l *countingListener) traffic() traffic {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := traffic{}
	for _, c := range l.conns {
		from := "?"
		if p := c.from.Load(); p != nil {
			from = *p
		}
		f := t[from]
		f.In += c.in.Load()
		f.Out += c.out.Load()
		t[from] = f
	}
	return t
}

// sub returns t − u, client by client.
func (t traffic) sub(u traffic) traffic {
	d := traffic{}
	for k, f := range t {
		g := u[k]
		if x := (flow{f.In - g.In, f.Out - g.Out}); x != (flow{}) {
			d[k] = x
		}
	}
	return d
}

func (t traffic) total() flow {
	var s flow
	for _, f := range t {
		s.In += f.In
		s.Out += f.Out
	}
	return s
}

type countingConn struct {
	net.Conn
	in, out atomic.Int64
	from    atomic.Pointer[string]
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}
