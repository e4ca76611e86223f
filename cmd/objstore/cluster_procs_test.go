//go:build linux

// The cluster tests run three real objstore processes that form a
// cluster over loopback and check from the outside what the node
// promises: members find each other through one seed and keep out a
// process without the cluster secret; a write on one node reads the same
// on the others, a delete deletes everywhere; a node killed with SIGKILL
// while the others take writes loses nothing acknowledged and catches up
// when it comes back; and concurrent misses of one key over the whole
// cluster cost the backend one GET. Their helpers are in proc_test.go.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/peer"
	"github.com/objstore/objstore/internal/rendezvous"
)

const (
	clusterSecret  = "cluster-test-secret"
	clusterSize    = 3
	killObjects    = 200       // objects PUT around the kill
	killMaxSize    = 256 << 10 // largest of them
	killWriters    = 8         // concurrent PUTs
	killAfterAcks  = 40        // acknowledged PUTs before the kill
	coalesceGets   = 60        // concurrent GETs of one missing key
	coalesceBucket = "bucket"
)

// testCluster is clusterSize nodes started by startCluster.
type testCluster struct {
	t     *testing.T
	bin   string
	env   []string // added to each node's environment
	args  []string // of every node
	dirs  []string // data dir of node i
	nodes []*proc  // node i as last started
}

// startCluster starts clusterSize nodes with args, the first alone and
// the others joining it (they know only its gossip address), and waits
// until every node lists every node alive.
func startCluster(t *testing.T, bin string, env []string, args ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: bin, env: env, args: args}
	dir := t.TempDir()
	for i := range clusterSize {
		c.dirs = append(c.dirs, filepath.Join(dir, fmt.Sprintf("node%d", i+1)))
		var join []string
		if i > 0 {
			join = []string{"--join", c.nodes[0].gossip}
		}
		c.nodes = append(c.nodes, startProcEnv(t, bin, c.dirs[i], env, append(slices.Clone(args), join...)...))
	}
	waitMembers(t, c.nodes, c.nodes)
	return c
}

// restart starts node i again on its data dir, joining the first other
// node, and returns it.
func (c *testCluster) restart(i int) *proc {
	c.t.Helper()
	seed := c.nodes[(i+1)%len(c.nodes)]
	c.nodes[i] = startProcEnv(c.t, c.bin, c.dirs[i], c.env, append(slices.Clone(c.args), "--join", seed.gossip)...)
	return c.nodes[i]
}

// members returns GET /api/v1/nodes of p.
func (p *proc) members() ([]nodeInfo, error) {
	resp, err := p.client.Get(p.base + "/api/v1/nodes")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/nodes: status %d", resp.StatusCode)
	}
	var ms []nodeInfo
	return ms, json.NewDecoder(resp.Body).Decode(&ms)
}

func describeMembers(ms []nodeInfo) string {
	var b strings.Builder
	for _, m := range ms {
		ready := ""
		if m.Ready {
			ready = ",ready"
		}
		fmt.Fprintf(&b, " %s=%s%s@%s", m.ID, m.State, ready, m.GossipAddr)
	}
	return b.String()
}

// waitMembers waits until every node of procs lists exactly the nodes of
// want, alive and ready (caught up, so that they own keys), each at its
// current addresses, itself marked as self.
func waitMembers(t *testing.T, procs, want []*proc) {
	t.Helper()
	for _, p := range procs {
		var last string
		ok := waitFor(waitTimeout, func() bool {
			ms, err := p.members()
			if err != nil {
				last = err.Error()
				return false
			}
			last = describeMembers(ms)
			if len(ms) != len(want) {
				return false
			}
			for _, w := range want {
				i := slices.IndexFunc(ms, func(m nodeInfo) bool { return m.ID == w.id })
				if i < 0 || ms[i].State != "alive" || !ms[i].Ready || ms[i].GossipAddr != w.gossip || ms[i].PeerAddr != w.peer ||
					ms[i].PublicAddr != strings.TrimPrefix(w.base, "http://") || ms[i].Self != (w == p) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("node %s lists%s after %v; want the %d nodes alive and ready", p.id, last, waitTimeout, len(want))
		}
	}
}

// waitState waits until every node of procs lists member id in state.
func waitState(t *testing.T, procs []*proc, id, state string) {
	t.Helper()
	for _, p := range procs {
		var last string
		ok := waitFor(waitTimeout, func() bool {
			ms, err := p.members()
			if err != nil {
				last = err.Error()
				return false
			}
			last = describeMembers(ms)
			i := slices.IndexFunc(ms, func(m nodeInfo) bool { return m.ID == id })
			return i >= 0 && ms[i].State == state
		})
		if !ok {
			t.Fatalf("node %s lists%s after %v; want %s %s", p.id, last, waitTimeout, id, state)
		}
	}
}

func TestClusterJoinAndSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore and runs a cluster of processes; skipped with -short")
	}
	bin := buildObjstore(t)
	origin := filepath.Join(t.TempDir(), "origin")
	c := startCluster(t, bin, nil, "--backend", "file://"+origin, "--cluster-secret", clusterSecret)

	// A node with another secret that tries to join: its gossip cannot
	// be read, so the join fails and it stays alone.
	intruder := startProc(t, bin, filepath.Join(t.TempDir(), "intruder"), "--backend", "file://"+origin,
		"--cluster-secret", "a guess", "--join", c.nodes[0].gossip, "--log-level", "debug")
	if !waitFor(waitTimeout, func() bool { return intruder.logged("join failed; retrying") >= 2 }) {
		t.Fatalf("the intruder logged %d failed joins within %v, want 2", intruder.logged("join failed; retrying"), waitTimeout)
	}
	waitMembers(t, c.nodes, c.nodes)
	// It knows only itself, and never catches up (it has joined nobody).
	switch ms, err := intruder.members(); {
	case err != nil:
		t.Fatalf("the intruder's members: %v", err)
	case len(ms) != 1 || ms[0].ID != intruder.id || !ms[0].Self || ms[0].Ready:
		t.Errorf("the intruder lists%s (ready %v); want itself alone, not ready", describeMembers(ms), len(ms) > 0 && ms[0].Ready)
	}

	// Nor does it get anything from the peer listeners.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	auth, err := peer.NewAuth("a guess", intruder.id)
	if err != nil {
		t.Fatal(err)
	}
	pc := peer.NewClient(peer.ClientConfig{Auth: auth})
	defer pc.Close()
	var pe *peer.Error
	for _, p := range c.nodes {
		if _, err := pc.Open(ctx, p.peer, apiBucket, "any", peer.OpenOptions{Fetch: true}); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
			t.Errorf("object read from %s with another secret: %v, want status 401", p.id, err)
		}
		if _, err := pc.Sync(ctx, p.peer, nil); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
			t.Errorf("journal sync from %s with another secret: %v, want status 401", p.id, err)
		}
		resp, err := http.Get("http://" + p.peer + "/peer/v1/object?bucket=objstore&key=any")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("unsigned peer request to %s: status %d, want 401", p.id, resp.StatusCode)
		}
	}
}

// logged returns how many records with message msg the node logged.
func (p *proc) logged(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, line := range p.lines {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			n++
		}
	}
	return n
}

// request makes a request of p and returns its reply, the body digested.
func (p *proc) request(ctx context.Context, method, path string, hdr http.Header, body []byte) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return reply{err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return p.do(req, 0, nil)
}

// s3Path is the S3 path of key in bucket.
func s3Path(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/" + bucket + "/" + strings.Join(segs, "/")
}

// waitKnown waits until every node of procs knows key (its metadata
// answers), so that a read of it needs no read-through.
func waitKnown(t *testing.T, procs []*proc, key string) {
	t.Helper()
	for _, p := range procs {
		var r reply
		if !waitFor(waitTimeout, func() bool {
			r = p.request(context.Background(), http.MethodGet, "/api/v1/meta/"+url.PathEscape(key), nil, nil)
			return r.status == http.StatusOK
		}) {
			t.Fatalf("node %s: metadata of %s: status %d %s %v after %v", p.id, key, r.status, r.msg, r.err, waitTimeout)
		}
	}
}

// placement returns the IDs of the nodes that should hold a copy of key
// in bucket with --replicas r: the top r of its rendezvous ranking.
func placement(procs []*proc, bucket, key string, r int) []string {
	ids := make([]string, len(procs))
	for i, p := range procs {
		ids[i] = p.id
	}
	return rendezvous.Top(bucket+"\x00"+key, ids, r)
}

// keyPlacedWith returns a key starting with prefix whose placement (2
// replicas) holds node id and leaves out another node, which has to read
// it from a peer.
func keyPlacedWith(procs []*proc, prefix, id string) string {
	for i := 0; ; i++ {
		key := fmt.Sprintf("%s%d", prefix, i)
		if slices.Contains(placement(procs, apiBucket, key, 2), id) {
			return key
		}
	}
}

// checkPeerRead checks a read on p of an object another node took: the
// body that was PUT, from a peer (PEER, X-Meta-Symlink on /api/v1) unless
// p is in its placement and may hold its own copy already (HIT); never
// from the backend.
func checkPeerRead(t *testing.T, p *proc, what string, r reply, want digest, placed, v1 bool) {
	t.Helper()
	cache := r.header.Get("X-Objstore-Cache")
	switch {
	case r.err != nil || r.status != http.StatusOK:
		t.Errorf("%s on %s: status %d %s %v", what, p.id, r.status, r.msg, r.err)
	case r.body != want:
		t.Errorf("%s on %s: %v, want %v", what, p.id, r.body, want)
	case cache != "PEER" && !(placed && cache == "HIT"):
		t.Errorf("%s on %s (placed: %v): X-Objstore-Cache %q", what, p.id, placed, cache)
	case v1 && (r.header.Get("X-Meta-Symlink") == "true") != (cache == "PEER"):
		t.Errorf("%s on %s: X-Objstore-Cache %s with X-Meta-Symlink %q", what, p.id, cache, r.header.Get("X-Meta-Symlink"))
	case r.header.Get("X-Meta-Fetched") != "":
		t.Errorf("%s on %s: X-Meta-Fetched %q: read from the backend", what, p.id, r.header.Get("X-Meta-Fetched"))
	}
}

func TestClusterReadsAndDeletes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore and runs a cluster of processes; skipped with -short")
	}
	bin := buildObjstore(t)
	originDir := filepath.Join(t.TempDir(), "origin")
	c := startCluster(t, bin, nil, "--backend", "file://"+originDir, "--cluster-secret", clusterSecret)
	n1 := c.nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()

	// Over /api/v1 and over S3, a key that at least one other node
	// has no copy of: that one must read it from a peer.
	// The S3 API writes only to a bucket that exists (the directory
	// backend's /api/v1 bucket is made by its first write).
	if r := n1.request(ctx, http.MethodPut, "/"+apiBucket, nil, nil); r.status != http.StatusOK {
		t.Fatalf("create bucket %s on %s: status %d %s %v", apiBucket, n1.id, r.status, r.msg, r.err)
	}
	keys := []struct {
		key string
		s3  bool // PUT over S3
	}{
		{keyPlacedWith(c.nodes, "reads/v1-", n1.id), false},
		{keyPlacedWith(c.nodes, "reads/s3-", n1.id), true},
	}
	for _, k := range keys {
		key, s3 := k.key, k.s3
		body := content(key, 1, 100<<10)
		var r reply
		if s3 {
			r = n1.request(ctx, http.MethodPut, s3Path(apiBucket, key), nil, body)
		} else {
			r = n1.request(ctx, http.MethodPost, "/api/v1/put", http.Header{"X-Meta-Id": {key}}, body)
		}
		if r.status != http.StatusOK {
			t.Fatalf("PUT %s on %s (S3: %v): status %d %s %v", key, n1.id, s3, r.status, r.msg, r.err)
		}
		waitKnown(t, c.nodes[1:], key)
		placed := placement(c.nodes, apiBucket, key, 2)
		for _, p := range c.nodes[1:] {
			in := slices.Contains(placed, p.id)
			if s3 {
				r = p.request(ctx, http.MethodGet, s3Path(apiBucket, key), nil, nil)
				checkPeerRead(t, p, "S3 GET "+key, r, digestOf(body), in, false)
			}
			r = p.get(ctx, key, false, 0, nil)
			checkPeerRead(t, p, "GET "+key, r, digestOf(body), in || s3, true)
			if id := r.header.Get("X-Meta-Id"); id != key {
				t.Errorf("GET %s on %s: X-Meta-ID %q", key, p.id, id)
			}
			// It kept the copy it read (--cache-on-read).
			if r = p.get(ctx, key, false, 0, nil); r.status != http.StatusOK || r.header.Get("X-Objstore-Cache") != "HIT" {
				t.Errorf("second GET %s on %s: status %d, X-Objstore-Cache %q; want a HIT", key, p.id, r.status, r.header.Get("X-Objstore-Cache"))
			}
		}
	}
	if t.Failed() {
		return
	}

	// A delete on the third node deletes everywhere, the backend too.
	n3 := c.nodes[2]
	origin, err := fsbackend.New(originDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		key := k.key
		if r := n3.request(ctx, http.MethodPost, "/api/v1/delete/"+url.PathEscape(key), nil, nil); r.status != http.StatusOK {
			t.Fatalf("delete %s on %s: status %d %s %v", key, n3.id, r.status, r.msg, r.err)
		}
		for _, p := range c.nodes {
			var r reply
			if !waitFor(waitTimeout, func() bool {
				r = p.get(ctx, key, true, 0, nil)
				return r.status == http.StatusNotFound
			}) {
				t.Errorf("GET %s on %s after the delete: status %d; want 404", key, p.id, r.status)
				continue
			}
			if r.header.Get("X-Meta-Deleted") != "true" {
				t.Errorf("GET %s on %s after the delete: 404 without X-Meta-Deleted: true", key, p.id)
			}
			if r := p.request(ctx, http.MethodGet, s3Path(apiBucket, key), nil, nil); r.status != http.StatusNotFound {
				t.Errorf("S3 GET %s on %s after the delete: status %d; want 404", key, p.id, r.status)
			}
		}
		if _, ok, err := originDigest(origin, key); ok || err != nil {
			t.Errorf("origin after the delete of %s: present %v, err %v", key, ok, err)
		}
	}
}

// killObject is one object of the kill test.
type killObject struct {
	key  string
	body digest
	size int64
	acks atomic.Bool
}

func TestClusterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore, runs a cluster of processes and kills one; skipped with -short")
	}
	bin := buildObjstore(t)
	seed := testSeed(t, "OBJSTORE_CLUSTER_SEED")
	for _, mode := range []string{writeThrough, writeBack} {
		t.Run(mode, func(t *testing.T) { testClusterKill(t, bin, mode, seed) })
	}
}

// testClusterKill PUTs killObjects objects to two nodes of three, kills
// the third with SIGKILL while they do, and checks that every
// acknowledged object reads back from both, then from the third once it
// is back on its data dir.
func testClusterKill(t *testing.T, bin, mode string, seed uint64) {
	rng := newRand(seed, "kill/"+mode)
	originDir := filepath.Join(t.TempDir(), "origin")
	origin, err := fsbackend.New(originDir)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, bin, nil, "--backend", "file://"+originDir, "--write-mode", mode, "--cluster-secret", clusterSecret)
	vi := rng.IntN(clusterSize)
	victim := c.nodes[vi]
	var survivors []*proc
	for i, p := range c.nodes {
		if i != vi {
			survivors = append(survivors, p)
		}
	}
	objs := make([]*killObject, killObjects)
	for i := range objs {
		key := fmt.Sprintf("kill/%s/%03d", mode, i)
		size := 1 + rng.Int64N(killMaxSize)
		objs[i] = &killObject{key: key, size: size, body: digestOf(content(key, 1, size))}
	}

	var next, acked atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for range killWriters {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(objs); i = int(next.Add(1) - 1) {
				o, p := objs[i], survivors[i%len(survivors)]
				status, err := p.put(ctx, o.key, bytes.NewReader(content(o.key, 1, o.size)), o.size)
				if err != nil || status != http.StatusOK {
					t.Errorf("PUT %s on %s: status %d, %v", o.key, p.id, status, err)
					continue
				}
				o.acks.Store(true)
				acked.Add(1)
			}
		})
	}
	if !waitFor(waitTimeout, func() bool { return acked.Load() >= killAfterAcks }) {
		cancel()
		wg.Wait()
		t.Fatalf("%d PUTs acknowledged after %v, want %d", acked.Load(), waitTimeout, killAfterAcks)
	}
	victim.kill9()
	atKill := acked.Load()
	wg.Wait()
	t.Logf("killed %s after %d acknowledged PUTs; %d acknowledged in all", victim.id, atKill, acked.Load())
	if t.Failed() {
		return
	}

	for _, p := range survivors {
		waitReadable(t, p, objs)
	}
	// Restart it once the others know it died: a member that memberlist
	// still believes alive cannot take a new address at once.
	waitState(t, survivors, victim.id, "dead")
	back := c.restart(vi)
	t.Logf("restarted: %s", back.indexLoaded())
	waitMembers(t, c.nodes, c.nodes)
	waitReadable(t, back, objs)

	// Every object reached the backend: at once (write-through), or
	// through the upload queues (write-back), whoever queued it.
	var problems []string
	if !waitFor(waitTimeout, func() bool {
		problems = problems[:0]
		for _, p := range c.nodes {
			if q, err := p.uploadQueue(); err != nil || q != 0 {
				problems = append(problems, fmt.Sprintf("node %s: upload queue %d (%v)", p.id, q, err))
			}
		}
		for _, o := range objs {
			switch d, ok, err := originDigest(origin, o.key); {
			case err != nil:
				problems = append(problems, fmt.Sprintf("origin %s: %v", o.key, err))
			case !ok:
				problems = append(problems, "origin lacks "+o.key)
			case d != o.body:
				problems = append(problems, fmt.Sprintf("origin holds %v for %s, want %v", d, o.key, o.body))
			}
		}
		return len(problems) == 0
	}) {
		t.Errorf("backend after %v:\n%s", waitTimeout, list(problems))
	}
}

// waitReadable waits until p serves every acknowledged object of objs,
// byte for byte. A node answers 404 for a key until the journal event
// of its PUT reached it; a wrong body fails at once.
func waitReadable(t *testing.T, p *proc, objs []*killObject) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	parallel(len(objs), 8, func(i int) {
		o := objs[i]
		if !o.acks.Load() {
			return
		}
		var r reply
		waitFor(time.Until(deadline), func() bool {
			r = p.get(ctx, o.key, false, 0, nil)
			return r.err == nil && r.status == http.StatusOK
		})
		var problem string
		switch {
		case r.err != nil || r.status != http.StatusOK:
			problem = fmt.Sprintf("%s: status %d %s %v", o.key, r.status, r.msg, r.err)
		case r.body != o.body:
			problem = fmt.Sprintf("%s: %v, want %v", o.key, r.body, o.body)
		default:
			return
		}
		mu.Lock()
		problems = append(problems, problem)
		mu.Unlock()
	})
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("node %s does not serve %d acknowledged objects:\n%s", p.id, len(problems), list(problems))
	}
}

// countingS3 is an in-process gofakes3 that counts object GETs by key
// and can hold the bodies of a key's GETs.
type countingS3 struct {
	mem *s3mem.Backend
	url string

	mu    sync.Mutex
	gets  map[string]int
	gates map[string]chan struct{}
}

func newCountingS3(t *testing.T, bucket string) *countingS3 {
	t.Helper()
	f := &countingS3{mem: s3mem.New(), gets: make(map[string]int), gates: make(map[string]chan struct{})}
	if err := f.mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(f.mem).Server()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, ok := strings.CutPrefix(r.URL.Path, "/"+bucket+"/"); ok && key != "" && r.Method == http.MethodGet {
			f.mu.Lock()
			f.gets[key]++
			gate := f.gates[key]
			f.mu.Unlock()
			if gate != nil {
				w = &gatedWriter{ResponseWriter: w, gate: gate, ctx: r.Context()}
			}
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.url = "http://" + ln.Addr().String()
	return f
}

// hold makes the GETs of key send their headers and first byte, and the
// rest once release is called (t.Cleanup calls it too).
func (f *countingS3) hold(t *testing.T, key string) (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gates[key] = gate
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

func (f *countingS3) getsOf(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[key]
}

// gatedWriter writes the first byte of a body, then waits for gate.
type gatedWriter struct {
	http.ResponseWriter
	gate    <-chan struct{}
	ctx     context.Context
	started bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if g.started || len(p) == 0 {
		return g.ResponseWriter.Write(p)
	}
	g.started = true
	n, err := g.ResponseWriter.Write(p[:1])
	if err != nil {
		return n, err
	}
	http.NewResponseController(g.ResponseWriter).Flush()
	select {
	case <-g.gate:
	case <-g.ctx.Done():
		return n, g.ctx.Err()
	}
	m, err := g.ResponseWriter.Write(p[1:])
	return n + m, err
}

// readPathCount returns how many reads of p went to fills so far: misses
// and reads that joined a fill in flight.
func (p *proc) readPathCount() (int64, error) {
	resp, err := p.client.Get(p.base + "/api/v1/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Misses int64 `json:"misses"`
		Saved  int64 `json:"backend_gets_saved"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Misses + st.Saved, nil
}

// metric returns the line of the node's /metrics that starts with name.
func (p *proc) metric(name string) string {
	resp, err := p.client.Get(p.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return name + " not found"
}

// TestClusterCoalescedMiss fires coalesceGets concurrent GETs of a key
// only the backend has, spread over the nodes and both APIs: once with
// the backend's body held until every GET reached a fill (each node's
// own fill, or the owner's for the whole cluster), once without, so that
// GETs arrive while fills end and commit; then reads both keys again.
// Each key must cost the backend exactly one GET.
func TestClusterCoalescedMiss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore and runs a cluster of processes; skipped with -short")
	}
	bin := buildObjstore(t)
	s3 := newCountingS3(t, coalesceBucket)
	env := []string{"AWS_ACCESS_KEY_ID=test-key", "AWS_SECRET_ACCESS_KEY=test-secret", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
	c := startCluster(t, bin, env, "--backend", "s3://"+coalesceBucket+"?endpoint="+s3.url+"&path_style=true",
		"--cluster-secret", clusterSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	// Open the clients' connections first, so that the GETs leave together.
	parallel(coalesceGets, coalesceGets, func(i int) {
		c.nodes[i%len(c.nodes)].request(ctx, http.MethodGet, "/healthz", nil, nil)
	})

	bodies := make(map[string][]byte)
	for _, key := range []string{"coalesce/held", "coalesce/free"} {
		bodies[key] = content(key, 1, 1<<20)
		if _, err := s3.mem.PutObject(coalesceBucket, key, map[string]string{}, bytes.NewReader(bodies[key]), 1<<20, nil); err != nil {
			t.Fatal(err)
		}
	}
	round := func(name, key string, onStart func()) {
		t.Helper()
		replies := make([]reply, coalesceGets)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range replies {
			p := c.nodes[i%len(c.nodes)]
			wg.Go(func() {
				<-start
				if i%2 == 0 {
					replies[i] = p.get(ctx, key, true, 0, nil)
				} else {
					replies[i] = p.request(ctx, http.MethodGet, s3Path(coalesceBucket, key), nil, nil)
				}
			})
		}
		close(start)
		if onStart != nil {
			onStart()
		}
		wg.Wait()
		sources := make([]map[string]int, len(c.nodes)) // by node: X-Objstore-Cache → count
		for i := range sources {
			sources[i] = make(map[string]int)
		}
		for i, r := range replies {
			if r.err != nil || r.status != http.StatusOK || r.body != digestOf(bodies[key]) {
				t.Errorf("%s: GET %d of %s on %s: status %d %s %v, %v", name, i, key, c.nodes[i%len(c.nodes)].id, r.status, r.msg, r.err, r.body)
			}
			sources[i%len(c.nodes)][r.header.Get("X-Objstore-Cache")]++
		}
		t.Logf("%s: %d GETs of %s, answered by node: %v; backend GETs of it so far: %d", name, coalesceGets, key, sources, s3.getsOf(key))
	}

	release := s3.hold(t, "coalesce/held")
	round("held", "coalesce/held", func() {
		var total int64
		if !waitFor(waitTimeout, func() bool {
			total = 0
			for _, p := range c.nodes {
				n, err := p.readPathCount()
				if err != nil {
					return false
				}
				total += n
			}
			return total >= coalesceGets
		}) {
			t.Errorf("%d of %d GETs reached a fill within %v", total, coalesceGets, waitTimeout)
		}
		release()
	})
	round("free", "coalesce/free", nil)
	round("again", "coalesce/held", nil)
	round("again", "coalesce/free", nil)
	for key := range bodies {
		if n := s3.getsOf(key); n != 1 {
			t.Errorf("%d backend GETs of %s for %d concurrent misses over %d nodes, and as many reads after; want 1", n, key, coalesceGets, len(c.nodes))
		}
	}
	if t.Failed() {
		for _, p := range c.nodes {
			t.Logf("node %s: %s", p.id, p.metric(`objstore_backend_requests_total{op="get"}`))
		}
	}
}
