package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
)

// debugLogger is the cluster nodes' logger (nil: discard).
var debugLogger *slog.Logger

// fakeCluster is a hand-written membership: the test says who is live.
type fakeCluster struct {
	mu      sync.Mutex
	members map[string]Member
	down    map[string]bool
}

func (c *fakeCluster) Live() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Member
	for id, m := range c.members {
		if !c.down[id] {
			out = append(out, m)
		}
	}
	return out
}

func (c *fakeCluster) set(id string, m Member, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members[id] = m
	c.down[id] = down
}

// lateNode lets the peer server start before its node is open.
type lateNode struct {
	n     atomic.Pointer[Node]
	stats atomic.Int64 // StatPeer calls
}

func (l *lateNode) node() (*Node, error) {
	if n := l.n.Load(); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: node starting", core.ErrUnavailable)
}

func (l *lateNode) OpenPeer(ctx context.Context, bucket, key string, opts peer.OpenOptions) (*peer.Object, error) {
	n, err := l.node()
	if err != nil {
		return nil, err
	}
	return n.OpenPeer(ctx, bucket, key, opts)
}

func (l *lateNode) LocalDirty(bucket, prefix string) []core.Info {
	n, err := l.node()
	if err != nil {
		return nil
	}
	return n.LocalDirty(bucket, prefix)
}

func (l *lateNode) Uploaded(ctx context.Context, bucket, key string, ver journal.Version) error {
	n, err := l.node()
	if err != nil {
		return err
	}
	return n.Uploaded(ctx, bucket, key, ver)
}

func (l *lateNode) StatPeer(ctx context.Context, bucket, key string, hops int) (core.Info, error) {
	l.stats.Add(1)
	n, err := l.node()
	if err != nil {
		return core.Info{}, err
	}
	return n.StatPeer(ctx, bucket, key, hops)
}

func (l *lateNode) StoreReplica(ctx context.Context, o *peer.Object) error {
	n, err := l.node()
	if err != nil {
		return err
	}
	return n.StoreReplica(ctx, o)
}

func (l *lateNode) Receive(ctx context.Context, from string, r *journal.StreamReader) error {
	n, err := l.node()
	if err != nil {
		return err
	}
	return n.Receive(ctx, from, r)
}

func (l *lateNode) Delta(ctx context.Context, v journal.Vector, w io.Writer) error {
	n, err := l.node()
	if err != nil {
		return err
	}
	return n.Delta(ctx, v, w)
}

type testCluster struct {
	t     testing.TB
	be    *testBackend
	fc    *fakeCluster
	nodes []*clusterNode
	opts  []func(*Config)
}

type clusterNode struct {
	*testNode
	srv  *httptest.Server
	late *lateNode
	up   bool
}

// newTestCluster starts size nodes sharing one backend and one membership.
func newTestCluster(t testing.TB, size int, opts ...func(*Config)) *testCluster {
	t.Helper()
	root := t.TempDir()
	fb, err := fsbackend.New(filepath.Join(root, "origin"))
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{t: t, be: &testBackend{Backend: fb}, fc: &fakeCluster{members: map[string]Member{}, down: map[string]bool{}}, opts: opts}
	for i := 0; i < size; i++ {
		tc.add(filepath.Join(root, fmt.Sprint("node", i)))
	}
	return tc
}

func (tc *testCluster) add(dir string) *clusterNode {
	t := tc.t
	t.Helper()
	late := &lateNode{}
	auth, _ := peer.NewAuth("test secret", "")
	ps := peer.NewServer(late, late, auth, debugLogger)
	t.Cleanup(func() { ps.Close() })
	srv := httptest.NewServer(ps)
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Backend = tc.be
	cfg.Capacity = 1 << 30
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 20*time.Millisecond
	cfg.Cluster = tc.fc
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.RepairGrace = 50 * time.Millisecond
	cfg.Logger = debugLogger
	for _, o := range tc.opts {
		o(&cfg)
	}
	cn := &clusterNode{srv: srv, late: late}
	cn.start(t, tc, cfg)
	tc.nodes = append(tc.nodes, cn)
	return cn
}

func (cn *clusterNode) start(t testing.TB, tc *testCluster, cfg Config) {
	t.Helper()
	n, err := Open(withPeers(cfg, cn))
	if err != nil {
		t.Fatal(err)
	}
	cn.testNode = &testNode{Node: n, be: tc.be, dir: cfg.DataDir, cfg: cfg}
	cn.late.n.Store(n)
	cn.up = true
	tc.fc.set(n.ID(), Member{ID: n.ID(), PeerAddr: strings.TrimPrefix(cn.srv.URL, "http://"), Ready: true}, false)
	t.Cleanup(func() { cn.stop() })
}

// withPeers gives cfg a peer client signing as the node will be known.
func withPeers(cfg Config, cn *clusterNode) Config {
	auth, _ := peer.NewAuth("test secret", "")
	cfg.Peers = peer.NewClient(peer.ClientConfig{Auth: auth, HeaderTimeout: 2 * time.Second})
	return cfg
}

// stop closes the node and takes it out of the live set; its peer server
// answers 503 until it is started again.
func (cn *clusterNode) stop() {
	if !cn.up {
		return
	}
	cn.up = false
	cn.late.n.Store(nil)
	cn.Node.Close()
}

func (tc *testCluster) stop(i int) {
	cn := tc.nodes[i]
	id := cn.ID()
	cn.stop()
	tc.fc.set(id, tc.fc.members[id], true)
}

func (tc *testCluster) restart(i int) {
	cn := tc.nodes[i]
	cn.start(tc.t, tc, cn.cfg)
}

// views returns every key's view on a node, without holdings' seqs.
func views(n *Node) map[string]string {
	out := map[string]string{}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for k, o := range n.objects {
		v := o.e.View()
		out[k] = fmt.Sprintf("%v deleted=%v etag=%s holders=%v", v.Ver, v.Deleted, v.Info.ETag, v.Holders())
	}
	return out
}

// converged waits until every live node has the same views and vector.
func (tc *testCluster) converged(what string) {
	tc.t.Helper()
	var last string
	// Generous: under the race detector on a loaded machine a catch-up of
	// 10k events takes tens of seconds.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if last = tc.difference(); last == "" {
			return
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("%s: nodes did not converge: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// difference describes how the live nodes' journals differ, or is "" when
// they are the same. Version vectors are compared first: they are cheap,
// while a view of every key takes the table's lock for a while, which
// would slow the very catch-up being waited for.
func (tc *testCluster) difference() string {
	var up []*clusterNode
	for _, cn := range tc.nodes {
		if cn.up {
			up = append(up, cn)
		}
	}
	if len(up) < 2 {
		return ""
	}
	refVec := up[0].Vector()
	for _, cn := range up[1:] {
		if vec := cn.Vector(); !reflect.DeepEqual(vec, refVec) {
			return fmt.Sprintf("vectors %v vs %v", vec, refVec)
		}
	}
	ref := views(up[0].Node)
	for _, cn := range up[1:] {
		v := views(cn.Node)
		if reflect.DeepEqual(v, ref) {
			continue
		}
		last := fmt.Sprintf("%d keys vs %d", len(v), len(ref))
		for k, x := range v {
			if ref[k] != x {
				last += fmt.Sprintf("\n%q: %s\n    vs %s", k, x, ref[k])
			}
		}
		for k, x := range ref {
			if _, ok := v[k]; !ok {
				last += fmt.Sprintf("\n%q: missing\n    vs %s", k, x)
			}
		}
		return last
	}
	return ""
}

func TestClusterWritesConverge(t *testing.T) {
	tc := newTestCluster(t, 3)
	for i, cn := range tc.nodes {
		for j := 0; j < 20; j++ {
			cn.put(t, fmt.Sprintf("n%d/k%d", i, j), []byte(fmt.Sprint(i, j)))
		}
	}
	// Every node deletes one key of another's and overwrites another.
	for i, cn := range tc.nodes {
		other := (i + 1) % 3
		if err := cn.Delete(context.Background(), bkt, fmt.Sprintf("n%d/k0", other)); err != nil {
			t.Fatal(err)
		}
		cn.put(t, fmt.Sprintf("n%d/k1", other), []byte("overwritten"))
	}
	tc.converged("writes on every node")
	for _, cn := range tc.nodes {
		for i := 0; i < 3; i++ {
			if _, _, err := cn.read(t, fmt.Sprintf("n%d/k0", i), GetOptions{}); !errors.Is(err, core.ErrDeleted) {
				t.Fatalf("deleted key read on %s: %v", cn.ID(), err)
			}
			got, _, err := cn.read(t, fmt.Sprintf("n%d/k1", i), GetOptions{})
			if err != nil || string(got) != "overwritten" {
				t.Fatalf("overwritten key on %s: %q %v", cn.ID(), got, err)
			}
			got, _, err = cn.read(t, fmt.Sprintf("n%d/k7", i), GetOptions{})
			if err != nil || string(got) != fmt.Sprint(i, 7) {
				t.Fatalf("key of n%d read on %s: %q %v", i, cn.ID(), got, err)
			}
		}
	}
}

// TestClusterConcurrentWritesOneWinner: one key written on every node at
// once resolves to the same version everywhere, the one with the highest
// (HLC, origin).
func TestClusterConcurrentWritesOneWinner(t *testing.T) {
	tc := newTestCluster(t, 3)
	for round := 0; round < 5; round++ {
		key := fmt.Sprint("contended", round)
		var wg sync.WaitGroup
		vers := make([]journal.Version, 3)
		for i, cn := range tc.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if round%2 == 1 && i == 2 {
					if err := cn.Delete(context.Background(), bkt, key); err != nil && !errors.Is(err, core.ErrNotFound) {
						t.Error(err)
					}
				} else {
					cn.put(t, key, []byte(fmt.Sprint("from ", i)))
				}
				if o := cn.lookup(bkt, key); o != nil {
					vers[i] = o.e.Ver
				}
			}()
		}
		wg.Wait()
		tc.converged("concurrent writes")
		win := vers[0]
		for _, v := range vers[1:] {
			if win.Less(v) {
				win = v
			}
		}
		for _, cn := range tc.nodes {
			if o := cn.lookup(bkt, key); o == nil || o.e.Ver != win {
				t.Fatalf("round %d: %s has %+v, want winner %v", round, cn.ID(), o, win)
			}
		}
	}
}

func TestClusterPeerReadAndCoalescedMiss(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.Replicas = 1 })
	a, b := tc.nodes[0], tc.nodes[1]
	a.put(t, "written", []byte("on a"))
	tc.converged("a put")
	// b reads it from a holder and keeps a copy (cache on read).
	eventually(t, "b learns of the put", func() bool { return b.lookup(bkt, "written") != nil })
	o := b.lookup(bkt, "written")
	if !o.hasBody() {
		got, obj, err := b.read(t, "written", GetOptions{})
		if err != nil || string(got) != "on a" || obj.Source != FromPeer {
			t.Fatalf("peer read: %q %+v %v", got, obj, err)
		}
	}
	eventually(t, "b's copy in the journal", func() bool {
		v := a.lookup(bkt, "written").e.View()
		return v.Holds(b.ID())
	})

	// The coalescing proof: 60 concurrent misses of a key only the backend
	// has, over all nodes, cost one backend GET.
	if _, err := tc.be.Put(context.Background(), bkt, "cold", bytes.NewReader([]byte("in the backend")), 14, core.Info{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	before := tc.be.gets.Load()
	release := tc.be.setGate()
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func(cn *clusterNode) {
			defer wg.Done()
			got, _, err := cn.read(t, "cold", GetOptions{ReadThrough: true})
			if err == nil && string(got) != "in the backend" {
				err = fmt.Errorf("body %q", got)
			}
			errs <- err
		}(tc.nodes[i%3])
	}
	time.Sleep(50 * time.Millisecond) // let them pile up on the gate; the count holds either way
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := tc.be.gets.Load() - before; got != 1 {
		t.Fatalf("%d backend GETs for 60 concurrent misses over 3 nodes", got)
	}
	tc.converged("after the coalesced miss")
}

func TestClusterDeleteNotResurrected(t *testing.T) {
	tc := newTestCluster(t, 3)
	a := tc.nodes[0]
	a.put(t, "doomed", []byte("v1"))
	tc.converged("put")
	tc.stop(2)
	if err := a.Delete(context.Background(), bkt, "doomed"); err != nil {
		t.Fatal(err)
	}
	tc.converged("delete while c is down")
	tc.restart(2)
	tc.converged("c back")
	c := tc.nodes[2]
	if _, _, err := c.read(t, "doomed", GetOptions{ReadThrough: true}); !errors.Is(err, core.ErrDeleted) {
		t.Fatalf("c reads a deleted key: %v", err)
	}
}

func TestClusterCatchUpAfterManyWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("10k writes")
	}
	tc := newTestCluster(t, 3)
	tc.stop(2)
	a := tc.nodes[0]
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < 10000; i += 16 {
				// Level 0: journal traffic without backend traffic.
				info := core.Info{Bucket: bkt, Key: fmt.Sprint("bulk/", i), Level: core.LevelLocal}
				if _, err := a.Put(context.Background(), info, strings.NewReader("x"), 1); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	tc.restart(2)
	tc.converged("catch-up of 10k writes")
	if n := len(views(tc.nodes[2].Node)); n != 10000 {
		t.Fatalf("c knows %d keys", n)
	}
	got, obj, err := tc.nodes[2].read(t, "bulk/1234", GetOptions{})
	if err != nil || string(got) != "x" || obj.Source != FromPeer {
		t.Fatalf("level-0 object read from its node: %q %v", got, err)
	}
}

func TestClusterReplicationRestoresReplicas(t *testing.T) {
	tc := newTestCluster(t, 4, func(c *Config) { c.Replicas = 2; c.NoCacheOnRead = true })
	tc.nodes[0].put(t, "precious", []byte("keep two copies"))
	holders := func() []string {
		var out []string
		for _, cn := range tc.nodes {
			if cn.up {
				if o := cn.lookup(bkt, "precious"); o != nil && o.hasBody() {
					out = append(out, cn.ID())
				}
			}
		}
		return out
	}
	place := tc.nodes[0].placement(bkt, "precious", core.LevelBackend)
	eventually(t, "placement holds it", func() bool {
		h := holders()
		for _, m := range place {
			if !containsString(h, m.ID) {
				return false
			}
		}
		return true
	})
	// Kill a holder of the placement that is not the writer; a new one
	// takes its place.
	victim := -1
	for i, cn := range tc.nodes {
		if i != 0 && cn.ID() == place[0].ID || i != 0 && cn.ID() == place[1].ID {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Skip("the writer holds both placement slots") // cannot happen with 2 of 4 and the writer counted once
	}
	tc.stop(victim)
	live := tc.nodes[0].placement(bkt, "precious", core.LevelBackend)
	eventually(t, "copies restored after the loss of a holder", func() bool {
		h := holders()
		for _, m := range live {
			if !containsString(h, m.ID) {
				return false
			}
		}
		return true
	})
	tc.converged("after repair")
}

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestClusterWriteBackReplicaSurvivesTheOrigin(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.WriteMode = WriteBack })
	tc.be.down.Store(true) // nothing reaches the backend yet
	a := tc.nodes[0]
	a.put(t, "unsynced", []byte("only on two disks"))
	// Acknowledged: another node holds it durably already.
	var replica *clusterNode
	for _, cn := range tc.nodes[1:] {
		if o := cn.lookup(bkt, "unsynced"); o != nil && o.hasBody() && o.e.State == index.Dirty {
			replica = cn
		}
	}
	if replica == nil {
		t.Fatal("write-back put acknowledged without a replica")
	}
	tc.stop(0) // the origin is lost before it uploaded
	tc.be.down.Store(false)
	eventually(t, "the replica uploads it", func() bool {
		info, err := tc.be.Head(context.Background(), bkt, "unsynced")
		return err == nil && info.Size == int64(len("only on two disks"))
	})
}

// TestClusterCompactionThenSnapshot: a node away for longer than the
// tombstone horizon comes back by snapshot and does not resurrect keys
// deleted meanwhile.
func TestClusterCompactionThenSnapshot(t *testing.T) {
	tc := newTestCluster(t, 2, func(c *Config) { c.TombstoneHorizon = time.Millisecond; c.CompactInterval = time.Hour })
	a, b := tc.nodes[0], tc.nodes[1]
	for i := 0; i < 10; i++ {
		a.put(t, fmt.Sprint("t", i), []byte("v"))
	}
	tc.converged("puts")
	tc.stop(1)
	for i := 0; i < 5; i++ {
		if err := a.Delete(context.Background(), bkt, fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // past the 1 ms horizon
	if err := a.compactTombstones(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := a.lookup(bkt, "t0"); o != nil {
		t.Fatalf("tombstone not compacted: %+v", o.e)
	}
	if f := a.db.Floor(); f[a.ID()] == 0 {
		t.Fatalf("floor not raised: %v", f)
	}
	tc.restart(1)
	b = tc.nodes[1]
	eventually(t, "b drops what was deleted while it was away", func() bool {
		return b.lookup(bkt, "t0") == nil && b.lookup(bkt, "t4") == nil
	})
	tc.converged("snapshot")
	for i := 5; i < 10; i++ {
		if got, _, err := b.read(t, fmt.Sprint("t", i), GetOptions{}); err != nil || string(got) != "v" {
			t.Fatalf("t%d on b: %q %v", i, got, err)
		}
	}
}

// TestClusterDeleteWinningOverOwnPutDeletesInBackend: a delete made
// elsewhere that wins over this node's own put (whose upload may have
// reached the backend after that delete) is carried out in the backend
// again by this node.
func TestClusterDeleteWinningOverOwnPutDeletesInBackend(t *testing.T) {
	tc := newTestCluster(t, 1)
	a := tc.nodes[0]
	a.put(t, "raced", []byte("uploaded late"))
	own := a.lookup(bkt, "raced").e.Ver
	del := &journal.Event{Origin: "ZZREMOTE", Seq: 1, Time: own.Time + 1, Kind: journal.Delete, Bucket: bkt, Key: "raced"}
	if err := a.applyRemote(context.Background(), []*journal.Event{del}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.read(t, "raced", GetOptions{}); !errors.Is(err, core.ErrDeleted) {
		t.Fatalf("read after the remote delete: %v", err)
	}
	eventually(t, "the backend object deleted again", func() bool {
		_, err := tc.be.Head(context.Background(), bkt, "raced")
		return errors.Is(err, core.ErrNotFound)
	})
}

// TestClusterPutWinningOverOwnPutUploadsWinner: when another node's put
// wins over this node's own, whose upload reached the backend after the
// winner's, this node uploads the winner again (read from its holder), so
// that the backend agrees with the journal.
func TestClusterPutWinningOverOwnPutUploadsWinner(t *testing.T) {
	tc := newTestCluster(t, 2, func(c *Config) { c.NoCacheOnRead = true; c.Replicas = 1 })
	a, b := tc.nodes[0], tc.nodes[1]
	lost := []byte("the losing put")
	a.put(t, "raced", lost)
	eventually(t, "b knows a's put", func() bool { o := b.lookup(bkt, "raced"); return o != nil && o.e.Ver == a.lookup(bkt, "raced").e.Ver })
	// Cut the two apart, b writes the winner, and a's upload lands after
	// b's (as if it had been slower).
	a.late.n.Store(nil)
	b.late.n.Store(nil)
	won := []byte("the winning put, written later")
	b.put(t, "raced", won)
	lostInfo := a.lookup(bkt, "raced").e.Info
	if _, err := tc.be.Backend.Put(context.Background(), bkt, "raced", bytes.NewReader(lost), int64(len(lost)), lostInfo); err != nil {
		t.Fatal(err)
	}
	a.late.n.Store(a.Node)
	b.late.n.Store(b.Node)
	eventually(t, "a knows b's put", func() bool { return a.lookup(bkt, "raced").e.Ver == b.lookup(bkt, "raced").e.Ver })
	eventually(t, "the backend holds the winner", func() bool {
		obj, err := tc.be.Backend.Get(context.Background(), bkt, "raced", backend.GetOptions{})
		if err != nil {
			return false
		}
		defer obj.Body.Close()
		got, _ := io.ReadAll(obj.Body)
		return bytes.Equal(got, won)
	})
}

// TestClusterHeadsOfUnknownKeyCostOneBackendHead: HEADs of a key no node
// knows, arriving at every node at once, cost the backend one HEAD: each
// node asks the key's owner, which coalesces them with its own.
func TestClusterHeadsOfUnknownKeyCostOneBackendHead(t *testing.T) {
	tc := newTestCluster(t, 3)
	body := []byte("written straight into the bucket")
	if _, err := tc.be.Backend.Put(context.Background(), bkt, "elsewhere", bytes.NewReader(body), int64(len(body)), core.Info{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	var owner *clusterNode
	for _, cn := range tc.nodes {
		if cn.ID() == tc.nodes[0].owner(bkt, "elsewhere").ID {
			owner = cn
		}
	}
	gate := make(chan struct{})
	tc.be.mu.Lock()
	tc.be.headGate = gate
	tc.be.mu.Unlock()
	var wg sync.WaitGroup
	for _, cn := range tc.nodes {
		wg.Go(func() {
			info, _, err := cn.Stat(context.Background(), bkt, "elsewhere", GetOptions{ReadThrough: true})
			if err != nil || info.Size != int64(len(body)) || info.ContentType != "text/plain" {
				t.Errorf("stat on %s: %+v %v", cn.ID(), info, err)
			}
		})
	}
	// The owner's HEAD is out, and the two others asked the owner.
	eventually(t, "every node waiting on the owner's HEAD", func() bool {
		return tc.be.heads.Load() == 1 && owner.late.stats.Load() == 2
	})
	close(gate)
	wg.Wait()
	if h := tc.be.heads.Load(); h != 1 {
		t.Fatalf("%d backend HEADs for a HEAD on each of 3 nodes, want 1", h)
	}
	for _, cn := range tc.nodes {
		if _, _, err := cn.Stat(context.Background(), bkt, "nowhere", GetOptions{ReadThrough: true}); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("stat of a key nowhere on %s: %v", cn.ID(), err)
		}
	}
}

// TestClusterEvictsExtraCopiesFirst: under pressure a node evicts the
// copies it keeps beyond their placement before its placement copies,
// even more recently used ones.
func TestClusterEvictsExtraCopiesFirst(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.Replicas = 1 })
	a := tc.nodes[0]
	body := bytes.Repeat([]byte("p"), 1<<10)
	var mine, extra []string
	for i := 0; len(mine) < 4 || len(extra) < 4; i++ {
		k := fmt.Sprint("obj", i)
		if a.placement(bkt, k, core.LevelBackend)[0].ID == a.ID() {
			if len(mine) < 4 {
				mine = append(mine, k)
				a.put(t, k, body)
			}
		} else if len(extra) < 4 {
			extra = append(extra, k)
			a.put(t, k, body) // a keeps it as the node that took it
		}
	}
	// Use the extra copies last, so that plain LRU would evict a's own.
	for _, k := range append(mine, extra...) {
		if _, _, err := a.read(t, k, GetOptions{}); err != nil {
			t.Fatal(err)
		}
		o := a.lookup(bkt, k)
		o.atime.Store(time.Now().UnixNano())
		time.Sleep(time.Millisecond)
	}
	a.evict(context.Background(), a.used.Load()-4<<10)
	for _, k := range extra {
		if o := a.lookup(bkt, k); o.hasBody() {
			t.Fatalf("extra copy %s kept while placement copies were evicted", k)
		}
	}
	for _, k := range mine {
		if o := a.lookup(bkt, k); !o.hasBody() {
			t.Fatalf("placement copy %s evicted", k)
		}
	}
}

// TestClusterDirtyListsPeersWrites: objects not in the backend yet are
// listed by every node, not only by those that hold them, and a delete
// hides them.
func TestClusterDirtyListsPeersWrites(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.WriteMode = WriteBack; c.Replicas = 1 })
	tc.be.down.Store(true) // nothing reaches the backend
	a := tc.nodes[0]
	for i := 0; i < 6; i++ {
		a.put(t, fmt.Sprintf("wb/%d", i), []byte("pending upload"))
	}
	a.put(t, "other/x", []byte("pending too"))
	ctx := context.Background()
	for i, cn := range tc.nodes {
		d := cn.Dirty(ctx, bkt, "wb/")
		if len(d) != 6 {
			t.Fatalf("node %d lists %d objects not yet in the backend, want 6: %+v", i, len(d), d)
		}
		for j, info := range d {
			if want := fmt.Sprintf("wb/%d", j); info.Key != want || info.Size != int64(len("pending upload")) {
				t.Fatalf("node %d: entry %d is %+v, want %s", i, j, info, want)
			}
		}
	}
	// Some node holds no copy of some key: it still lists it.
	var bare bool
	for _, cn := range tc.nodes[1:] {
		for i := 0; i < 6; i++ {
			if o := cn.lookup(bkt, fmt.Sprintf("wb/%d", i)); o == nil || !o.hasBody() {
				bare = true
			}
		}
	}
	if !bare {
		t.Fatal("every node holds every object: the test proves nothing")
	}
	c := tc.nodes[2]
	if err := c.Delete(ctx, bkt, "wb/3"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete hides the object everywhere", func() bool {
		for _, cn := range tc.nodes {
			for _, info := range cn.Dirty(ctx, bkt, "wb/") {
				if info.Key == "wb/3" {
					return false
				}
			}
		}
		return true
	})
	tc.stop(0)
	if d := c.Dirty(ctx, bkt, ""); len(d) == 0 {
		t.Fatal("the replicas' copies are no longer listed once the origin is gone")
	}
}

// TestPlacementFollowsCapacity: a node with a larger cache owns and holds
// a larger share of the keys, every node agrees on the owners, and nodes
// of equal capacity share alike.
func TestPlacementFollowsCapacity(t *testing.T) {
	fc := &fakeCluster{members: map[string]Member{}, down: map[string]bool{}}
	caps := map[string]int64{"small": 10 << 30, "medium": 10 << 30, "large": 60 << 30}
	for id, c := range caps {
		fc.set(id, Member{ID: id, PeerAddr: id + ":1", Ready: true, Capacity: c}, false)
	}
	nodes := map[string]*Node{}
	for id, c := range caps {
		nodes[id] = &Node{id: id, cfg: Config{Cluster: fc, Replicas: 2, Capacity: c}}
	}
	owned, held := map[string]int{}, map[string]int{}
	const keys = 20000
	for i := 0; i < keys; i++ {
		key := fmt.Sprint("k/", i)
		p := nodes["small"].placement(bkt, key, core.LevelBackend)
		for id, n := range nodes {
			if q := n.placement(bkt, key, core.LevelBackend); q[0].ID != p[0].ID || q[1].ID != p[1].ID {
				t.Fatalf("%s: %s places on %s,%s, small on %s,%s", key, id, q[0].ID, q[1].ID, p[0].ID, p[1].ID)
			}
		}
		owned[p[0].ID]++
		held[p[0].ID]++
		held[p[1].ID]++
	}
	if o := float64(owned["large"]) / keys; o < 0.70 || o > 0.80 {
		t.Errorf("the node with 75%% of the capacity owns %.2f of the keys", o)
	}
	if s, m := owned["small"], owned["medium"]; math.Abs(float64(s-m)) > 0.15*float64(s+m)/2 {
		t.Errorf("equal nodes own %d and %d keys", s, m)
	}
	if held["large"] <= held["small"] {
		t.Errorf("copies held: %v", held)
	}
}

// TestClusterStandbyReplicaHoldsUpNoUpload: a replica of another node's
// write-back put, waiting for that node to upload it, does not hold up the
// uploads of this node's own writes, even with one upload worker.
func TestClusterStandbyReplicaHoldsUpNoUpload(t *testing.T) {
	tc := newTestCluster(t, 2, func(c *Config) { c.WriteMode = WriteBack; c.UploadWorkers = 1; c.Replicas = 1 })
	tc.be.mu.Lock()
	tc.be.refusePuts = "stuck/" // the origin cannot upload these
	tc.be.mu.Unlock()
	a, b := tc.nodes[0], tc.nodes[1]
	for i := 0; i < 5; i++ {
		a.put(t, fmt.Sprint("stuck/", i), []byte("waits for its origin"))
	}
	for i := 0; i < 5; i++ {
		if o := b.lookup(bkt, fmt.Sprint("stuck/", i)); o == nil || !o.hasBody() || o.e.State != index.Dirty {
			t.Fatalf("b holds no dirty replica of stuck/%d", i)
		}
	}
	b.put(t, "own", []byte("b's own write"))
	eventually(t, "b uploads its own write", func() bool {
		_, err := tc.be.Head(context.Background(), bkt, "own")
		return err == nil
	})
	// The replicas still wait, and take over once their origin is gone.
	if o := b.lookup(bkt, "stuck/0"); o.e.State != index.Dirty {
		t.Fatalf("replica state %v while its origin is up and has not uploaded", o.e.State)
	}
	tc.be.mu.Lock()
	tc.be.refusePuts = ""
	tc.be.mu.Unlock()
	tc.stop(0)
	eventually(t, "b uploads the replicas of the node it lost", func() bool {
		for i := 0; i < 5; i++ {
			if _, err := tc.be.Head(context.Background(), bkt, fmt.Sprint("stuck/", i)); err != nil {
				return false
			}
		}
		return true
	})
}

// TestClusterPeerReadSkipsFailedHolder: a read tries the next holder when
// the first one answers with an error, and neither keeps a copy nor asks
// the backend.
func TestClusterPeerReadSkipsFailedHolder(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.Replicas = 1; c.NoCacheOnRead = true })
	reader, writer, other := tc.nodes[0], tc.nodes[1], tc.nodes[2]
	// A key whose placement is the other node: the writer and it hold it.
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprint("two-holders/", i); writer.placement(bkt, k, core.LevelBackend)[0].ID == other.ID() {
			key = k
		}
	}
	writer.put(t, key, []byte("held twice"))
	var holders []Member
	eventually(t, "the reader knows both holders", func() bool {
		holders = reader.liveHolders(reader.lookup(bkt, key))
		return len(holders) == 2
	})
	for _, cn := range tc.nodes {
		if cn.ID() == holders[0].ID {
			cn.late.n.Store(nil) // its peer server answers 503; it stays live
		}
	}
	gets, failed, owner := tc.be.gets.Load(), reader.stats.peerReadFailed.Load(), reader.stats.ownerReadOK.Load()
	got, obj, err := reader.read(t, key, GetOptions{})
	if err != nil || string(got) != "held twice" || obj.Source != FromPeer {
		t.Fatalf("read: %q %+v %v", got, obj, err)
	}
	if reader.stats.peerReadFailed.Load() != failed+1 || reader.stats.ownerReadOK.Load() != owner || tc.be.gets.Load() != gets || reader.lookup(bkt, key).hasBody() {
		t.Fatalf("failed peer reads %d (was %d), reads through the owner %d (was %d), backend GETs %d (was %d)",
			reader.stats.peerReadFailed.Load(), failed, reader.stats.ownerReadOK.Load(), owner, tc.be.gets.Load(), gets)
	}
}

// TestClusterOriginTellsReplicasUploaded: once the origin of a write-back
// put uploaded it, its replicas become clean without asking the backend.
func TestClusterOriginTellsReplicasUploaded(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) {
		c.WriteMode = WriteBack
		c.RetryMin, c.RetryMax = 5*time.Second, 10*time.Second // a replica's own check comes late
	})
	a := tc.nodes[0]
	a.put(t, "told", []byte("uploaded by its origin"))
	var replicas []*clusterNode
	for _, cn := range tc.nodes[1:] {
		if o := cn.lookup(bkt, "told"); o != nil && o.hasBody() {
			replicas = append(replicas, cn)
		}
	}
	if len(replicas) == 0 {
		t.Fatal("no replica")
	}
	eventually(t, "the replicas learn that the origin uploaded", func() bool {
		for _, cn := range replicas {
			if o := cn.lookup(bkt, "told"); o == nil || o.e.State != index.Clean {
				return false
			}
		}
		return true
	})
	if h := tc.be.heads.Load(); h != 0 {
		t.Fatalf("%d backend HEADs", h)
	}
	if _, err := tc.be.Head(context.Background(), bkt, "told"); err != nil {
		t.Fatalf("not in the backend: %v", err)
	}
	// The news about another version changes nothing.
	r := replicas[0]
	r.put(t, "mine", []byte("r's own, not uploaded yet"))
	o := r.lookup(bkt, "mine")
	if err := r.Uploaded(context.Background(), bkt, "mine", journal.Version{Time: o.e.Ver.Time + 1, Origin: a.ID()}); err != nil {
		t.Fatal(err)
	}
	if o := r.lookup(bkt, "mine"); o.e.Made.Origin == r.ID() && o.e.State == index.Clean {
		if _, err := tc.be.Head(context.Background(), bkt, "mine"); err != nil {
			t.Fatal("news of another version made r's own put clean before its upload")
		}
	}
}
