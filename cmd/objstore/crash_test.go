//go:build linux

// The crash test runs real objstore processes, kills them with SIGKILL in
// the middle of PUTs and backend fills, restarts them on the same data dir
// and checks the node's guarantees from the outside: every acknowledged
// object reads back byte for byte, a read never shows a body the test did
// not send in full, and the write-back queue survives the crash. Its
// helpers are in proc_test.go.

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/store"
)

const (
	crashClients = 16      // concurrent PUT clients
	crashCycles  = 3       // kill/restart cycles per write mode
	crashMinAcks = 24      // acknowledged PUTs before a kill may land
	crashMaxPut  = 4 << 20 // largest PUT body
	crashMisses  = 20      // objects in the origin for the miss test
)

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore and kills it repeatedly; skipped with -short")
	}
	seed := testSeed(t, "OBJSTORE_CRASH_SEED")
	bin := buildObjstore(t)
	t.Run("put", func(t *testing.T) {
		for _, mode := range []string{writeThrough, writeBack} {
			t.Run(mode, func(t *testing.T) { testCrashPuts(t, bin, mode, seed) })
		}
	})
	t.Run("misses", func(t *testing.T) { testCrashMisses(t, bin, seed) })
	t.Run("sigterm", func(t *testing.T) { testCrashSigterm(t, bin) })
}

// testCrashPuts kills a node crashCycles times while crashClients clients
// PUT new and overwritten objects, some of them slowly, and after each
// restart reads back every key ever sent.
func testCrashPuts(t *testing.T, bin, mode string, seed uint64) {
	dir := t.TempDir()
	dataDir, originDir := filepath.Join(dir, "data"), filepath.Join(dir, "origin")
	// The test's own view of the origin, made before any node runs: New
	// removes temp files, which would pull them from under a node's upload.
	origin, err := fsbackend.New(originDir)
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(seed, "put/"+mode)
	clients := make([]*putter, crashClients)
	for i := range clients {
		clients[i] = &putter{id: i, mode: mode, rng: newRand(seed, fmt.Sprintf("put/%s/%d", mode, i))}
	}
	start := func() *proc {
		return startProc(t, bin, dataDir, "--backend", "file://"+originDir, "--write-mode", mode)
	}

	p := start()
	for cycle := 1; cycle <= crashCycles; cycle++ {
		delay := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		putUntilKilled(t, p, clients, delay)
		p = start()
		t.Logf("cycle %d: restarted: %s", cycle, p.indexLoaded())
		keys := verifyPuts(t, p, clients)
		if problems := bodyProblems(dataDir, servedSizes(keys), true); len(problems) > 0 {
			t.Errorf("cycle %d: bodies on disk after restart:\n%s", cycle, list(problems))
		}
		if mode == writeBack {
			waitUploaded(t, p, origin, keys)
		} else {
			checkOrigin(t, origin, keys)
		}
		if t.Failed() {
			return
		}
	}
}

// putUntilKilled runs the clients against p until crashMinAcks PUTs are
// acknowledged, lets them go on for delay, and kills p with SIGKILL while
// PUTs are in flight.
func putUntilKilled(t *testing.T, p *proc, clients []*putter, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var acks, inflight atomic.Int64
	for _, c := range clients {
		wg.Go(func() { c.run(ctx, t, p, &acks, &inflight) })
	}
	if !waitFor(waitTimeout, func() bool { return acks.Load() >= crashMinAcks }) {
		t.Fatalf("%d PUTs acknowledged after %v, want %d", acks.Load(), waitTimeout, crashMinAcks)
	}
	time.Sleep(delay) // when the crash comes is what this test varies
	busy := inflight.Load()
	p.kill9()
	cancel()
	wg.Wait()
	t.Logf("SIGKILL %v after the %dth acknowledgement, with %d PUTs in flight; %d acknowledged in all",
		delay.Round(time.Millisecond), crashMinAcks, busy, acks.Load())
}

// keyModel is what the test knows of one key: every version it sent, and
// which outcomes a read may show.
type keyModel struct {
	name string
	vers []digest // vers[v-1] is the body of version v
	// accept lists what a read may show: a version (from 1), or 0 for not
	// found. A PUT of version v adds v while in flight, since it may land
	// or not, and makes it {v} once acknowledged; a read after a restart
	// narrows it to what was served, durable from then on.
	accept []int
}

// outcome returns what a reply of k shows: a version, 0 for not found, or
// an error for a failed read or a body the test never sent.
func (k *keyModel) outcome(r reply) (int, error) {
	switch {
	case r.err != nil:
		return 0, r.err
	case r.status == http.StatusNotFound:
		return 0, nil
	case r.status != http.StatusOK:
		return 0, fmt.Errorf("status %d: %s", r.status, r.msg)
	}
	for v := len(k.vers); v >= 1; v-- {
		if k.vers[v-1] == r.body {
			return v, nil
		}
	}
	return 0, fmt.Errorf("served %v, which is no version the test sent", r.body)
}

func describeOutcome(v int) string {
	if v == 0 {
		return "not found"
	}
	return fmt.Sprintf("version %d", v)
}

// putter is one PUT client. It owns its keys, so that the PUTs of a key are
// sequential and its last acknowledged version is well defined.
type putter struct {
	id   int
	mode string
	rng  *rand.Rand
	keys []*keyModel
}

// run PUTs until ctx ends or the node is killed: a third of them overwrite
// one of the client's keys; a quarter trickle their body, so that a kill
// lands mid-body; one in eight are chunked, of undeclared length.
func (c *putter) run(ctx context.Context, t *testing.T, p *proc, acks, inflight *atomic.Int64) {
	for ctx.Err() == nil {
		k := c.pick()
		ver := len(k.vers) + 1
		size := int64(math.Exp(c.rng.Float64() * math.Log(crashMaxPut))) // 1 B … 4 MiB, log-uniform
		body := content(k.name, ver, size)
		k.vers = append(k.vers, digestOf(body))
		k.accept = append(k.accept, ver)

		var r io.Reader = bytes.NewReader(body)
		length := size
		switch c.rng.IntN(8) {
		case 0, 1:
			r = &trickle{ctx: ctx, r: r, chunk: 32 << 10, pause: 5 * time.Millisecond}
		case 2:
			length = -1
		}
		inflight.Add(1)
		status, err := p.put(ctx, k.name, r, length)
		inflight.Add(-1)
		switch {
		case err == nil && status == http.StatusOK:
			k.accept = []int{ver}
			acks.Add(1)
		case err == nil:
			t.Errorf("PUT %s version %d (%d bytes): status %d", k.name, ver, size, status)
			return
		case p.killed.Load() || ctx.Err() != nil:
			return // the node is gone; this PUT may or may not have landed
		default:
			t.Errorf("PUT %s version %d (%d bytes) before any kill: %v", k.name, ver, size, err)
			return
		}
	}
}

func (c *putter) pick() *keyModel {
	if len(c.keys) > 0 && c.rng.IntN(3) == 0 {
		return c.keys[c.rng.IntN(len(c.keys))]
	}
	k := &keyModel{name: fmt.Sprintf("%s/c%02d/k%03d", c.mode, c.id, len(c.keys)), accept: []int{0}}
	c.keys = append(c.keys, k)
	return k
}

// verifyPuts reads every key the clients ever sent: each must show one of
// its acceptable outcomes, in full. It returns the keys, each narrowed to
// the outcome it showed.
func verifyPuts(t *testing.T, p *proc, clients []*putter) []*keyModel {
	t.Helper()
	var keys []*keyModel
	for _, c := range clients {
		keys = append(keys, c.keys...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	replies := make([]reply, len(keys))
	parallel(len(keys), 8, func(i int) { replies[i] = p.get(ctx, keys[i].name, false, 0, nil) })

	var present, landed, lost int
	for i, k := range keys {
		v, err := k.outcome(replies[i])
		if err != nil {
			t.Errorf("GET %s after restart: %v", k.name, err)
			continue
		}
		if !slices.Contains(k.accept, v) {
			var ok []string
			for _, a := range k.accept {
				ok = append(ok, describeOutcome(a))
			}
			t.Errorf("GET %s after restart shows %s; want one of: %s", k.name, describeOutcome(v), strings.Join(ok, ", "))
			continue
		}
		if len(k.accept) > 1 { // a PUT was in flight at the kill
			if v == k.accept[len(k.accept)-1] {
				landed++
			} else {
				lost++
			}
		}
		if v > 0 {
			present++
		}
		k.accept = []int{v}
	}
	t.Logf("%d keys, %d present; of the PUTs cut short by the kill, %d landed and %d did not", len(keys), present, landed, lost)
	return keys
}

// servedSizes maps each key read back to the size of its body.
func servedSizes(keys []*keyModel) map[string]int64 {
	m := make(map[string]int64)
	for _, k := range keys {
		if v := k.accept[0]; v > 0 {
			m[k.name] = k.vers[v-1].size
		}
	}
	return m
}

// checkOrigin checks, in write-through mode, that the origin holds every
// object the node serves, or a later version whose PUT reached the backend
// but was cut short before the node recorded it.
func checkOrigin(t *testing.T, origin *fsbackend.Backend, keys []*keyModel) {
	t.Helper()
	for _, k := range keys {
		v := k.accept[0]
		if v == 0 {
			continue
		}
		d, ok, err := originDigest(origin, k.name)
		switch {
		case err != nil:
			t.Errorf("origin %s: %v", k.name, err)
		case !ok:
			t.Errorf("origin lacks %s, which the node serves as version %d", k.name, v)
		case !slices.Contains(k.vers[v-1:], d):
			t.Errorf("origin holds %v for %s, not version %d or later", d, k.name, v)
		}
	}
}

// waitUploaded waits, in write-back mode, for the node's upload queue to
// drain and the origin to hold exactly what the node serves: what was
// queued before the crash is uploaded after it, and nothing else.
func waitUploaded(t *testing.T, p *proc, origin *fsbackend.Backend, keys []*keyModel) {
	t.Helper()
	var problems []string
	drained := waitFor(waitTimeout, func() bool {
		problems = problems[:0]
		if q, err := p.uploadQueue(); err != nil || q != 0 {
			problems = append(problems, fmt.Sprintf("upload queue: %d items (%v)", q, err))
			return false
		}
		for _, k := range keys {
			d, ok, err := originDigest(origin, k.name)
			v := k.accept[0]
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("origin %s: %v", k.name, err))
			case v == 0 && ok:
				problems = append(problems, fmt.Sprintf("origin holds %s, which the node does not have", k.name))
			case v > 0 && !ok:
				problems = append(problems, fmt.Sprintf("origin lacks %s", k.name))
			case v > 0 && d != k.vers[v-1]:
				problems = append(problems, fmt.Sprintf("origin holds %v for %s, the node serves version %d: %v", d, k.name, v, k.vers[v-1]))
			}
		}
		return len(problems) == 0
	})
	if !drained {
		t.Errorf("write-back uploads not done %v after restart:\n%s", waitTimeout, list(problems))
	}
}

// testCrashMisses kills a node while it fills its cache from the origin for
// concurrent read-through GETs, and checks that the restarted node cleared
// the partial fills and serves every object whole. Each of its rounds
// brings crashMisses new objects to the origin, so that every kill finds
// fills under way.
func testCrashMisses(t *testing.T, bin string, seed uint64) {
	dir := t.TempDir()
	dataDir, originDir := filepath.Join(dir, "data"), filepath.Join(dir, "origin")
	origin, err := fsbackend.New(originDir)
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(seed, "misses")
	want := make(map[string]digest)
	sizes := make(map[string]int64)
	var all []string
	p := startProc(t, bin, dataDir, "--backend", "file://"+originDir)
	for round := 1; round <= 2; round++ {
		keys := make([]string, crashMisses)
		for i := range keys {
			key := fmt.Sprintf("miss/r%d/%02d", round, i)
			size := 2<<20 + rng.Int64N(6<<20+1) // 2–8 MiB
			body := content(key, 1, size)
			info := core.Info{Bucket: apiBucket, Key: key, Level: core.LevelBackend}
			if _, err := origin.Put(context.Background(), apiBucket, key, bytes.NewReader(body), size, info); err != nil {
				t.Fatal(err)
			}
			keys[i], want[key], sizes[key] = key, digestOf(body), size
		}
		all = append(all, keys...)
		delay := time.Duration(rng.Int64N(int64(250 * time.Millisecond)))
		readUntilKilled(t, p, keys, want, delay)
		p = startProc(t, bin, dataDir, "--backend", "file://"+originDir)
		t.Logf("round %d: restarted: %s", round, p.indexLoaded())
		// Before any read: no temp file is left, and what was committed is whole.
		if problems := bodyProblems(dataDir, sizes, false); len(problems) > 0 {
			t.Errorf("round %d: bodies on disk after restart:\n%s", round, list(problems))
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		parallel(len(all), 8, func(i int) {
			key := all[i]
			switch r := p.get(ctx, key, true, 0, nil); {
			case r.err != nil:
				t.Errorf("GET %s after restart: %v", key, r.err)
			case r.status != http.StatusOK:
				t.Errorf("GET %s after restart: status %d: %s", key, r.status, r.msg)
			case r.body != want[key]:
				t.Errorf("GET %s after restart served %v, want %v", key, r.body, want[key])
			}
		})
		cancel()
		// A fill commits after its readers have the body, so wait for it.
		var problems []string
		if !waitFor(waitTimeout, func() bool { problems = bodyProblems(dataDir, sizes, true); return len(problems) == 0 }) {
			t.Errorf("round %d: bodies on disk after reading every object:\n%s", round, list(problems))
		}
		if t.Failed() {
			return
		}
	}
}

// readUntilKilled reads keys through p, two readers per key, one of them
// slow, and kills p with SIGKILL delay after the first answer, so that the
// kill finds fills at every stage: starting, streaming, committed, and read
// by no one. Every read that ended before the kill must have been whole.
func readUntilKilled(t *testing.T, p *proc, keys []string, want map[string]digest, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	replies := make([]reply, 2*len(keys))
	var headers atomic.Int64
	for i := range replies {
		key, pace := keys[i%len(keys)], time.Duration(0)
		if i >= len(keys) {
			pace = 2 * time.Millisecond // 64 KiB at a time: 32 MB/s
		}
		wg.Go(func() { replies[i] = p.get(ctx, key, true, pace, func() { headers.Add(1) }) })
	}
	if !waitFor(waitTimeout, func() bool { return headers.Load() > 0 }) {
		t.Fatalf("no GET answered within %v", waitTimeout)
	}
	time.Sleep(delay) // when the crash comes is what this test varies
	p.kill9()
	cancel()
	wg.Wait()
	var whole, cut int
	for i, r := range replies {
		key := keys[i%len(keys)]
		switch {
		case r.err != nil && r.afterKill:
			cut++
		case r.err != nil:
			t.Errorf("GET %s before the kill: %v", key, r.err)
		case r.status != http.StatusOK:
			t.Errorf("GET %s before the kill: status %d: %s", key, r.status, r.msg)
		case r.body != want[key]:
			t.Errorf("GET %s before the kill served %v, want %v", key, r.body, want[key])
		default:
			whole++
		}
	}
	t.Logf("SIGKILL %v after the first answer: %d reads were whole, %d cut short; %d partial bodies left as temp files",
		delay.Round(time.Millisecond), whole, cut, len(partialTemps(p.dataDir)))
}

// testCrashSigterm stops a node with SIGTERM while a slow PUT is in flight:
// the node must finish the request and exit 0 within its shutdown timeout,
// and the PUT either succeeds and survives the restart or leaves nothing.
func testCrashSigterm(t *testing.T, bin string) {
	dir := t.TempDir()
	dataDir, originDir := filepath.Join(dir, "data"), filepath.Join(dir, "origin")
	p := startProc(t, bin, dataDir, "--backend", "file://"+originDir)

	const key, size = "sigterm/slow", 1 << 20
	body := content(key, 1, size)
	tr := &trickle{ctx: context.Background(), r: bytes.NewReader(body), chunk: 32 << 10, pause: 40 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout+waitTimeout)
	defer cancel()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, err := p.put(ctx, key, tr, size)
		done <- result{status, err}
	}()
	if !waitFor(waitTimeout, func() bool { return tr.n.Load() >= size/4 }) {
		t.Fatalf("%d bytes of the PUT sent after %v", tr.n.Load(), waitTimeout)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	sent := tr.n.Load()
	if st := p.wait(shutdownTimeout); st.ExitCode() != 0 {
		t.Errorf("objstore ended with %v after SIGTERM, want exit status 0", st)
	}
	res := <-done // ctx bounds it
	t.Logf("SIGTERM after %d of %d bytes; the PUT ended with status %d, err %v", sent, size, res.status, res.err)

	p = startProc(t, bin, dataDir, "--backend", "file://"+originDir)
	r := p.get(context.Background(), key, false, 0, nil)
	switch {
	case r.err != nil:
		t.Errorf("GET after restart: %v", r.err)
	case r.status == http.StatusOK && r.body != digestOf(body):
		t.Errorf("GET after restart served %v, want %v", r.body, digestOf(body))
	case r.status == http.StatusNotFound && res.err == nil && res.status == http.StatusOK:
		t.Errorf("GET after restart: not found, but the PUT was acknowledged")
	case r.status != http.StatusOK && r.status != http.StatusNotFound:
		t.Errorf("GET after restart: status %d: %s", r.status, r.msg)
	}
}

// partialTemps lists the temp files under dataDir that hold bytes: bodies
// being written, or partial ones left by a crash. The store keeps empty
// spare files ready, which do not count.
func partialTemps(dataDir string) []string {
	var out []string
	ents, _ := os.ReadDir(filepath.Join(dataDir, "bodies", "spare"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > 0 {
			out = append(out, filepath.Join("bodies", "spare", e.Name()))
		}
	}
	return out
}

// logBody is node.logBody: PUT bodies up to this size are bytes of the
// index's log, not files.
const logBody = 64 << 10

// bodyProblems lists what is wrong with the cached bodies under dataDir: a
// temp file left behind, a body of no key in sizes, a body whose size is
// not its key's, a key with more than one body, and, when complete, a
// key with none, or one up to logBody with a file.
func bodyProblems(dataDir string, sizes map[string]int64, complete bool) []string {
	var problems []string
	for _, name := range partialTemps(dataDir) {
		problems = append(problems, "temp file "+name+" left behind with bytes in it")
	}
	byPrefix := make(map[string]string) // body name without the generation → key
	for key := range sizes {
		byPrefix[store.Name(apiBucket, key, "")] = key
	}
	bodies := make(map[string]int)
	err := filepath.WalkDir(filepath.Join(dataDir, "bodies", "objects"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		prefix, _, _ := strings.Cut(d.Name(), ".")
		key, ok := byPrefix[prefix+"."]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("body %s (%d bytes) belongs to no object the node serves", d.Name(), fi.Size()))
		case fi.Size() != sizes[key]:
			problems = append(problems, fmt.Sprintf("body %s of %s has %d bytes; reads serve %d", d.Name(), key, fi.Size(), sizes[key]))
		}
		bodies[key]++
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	for key, size := range sizes {
		switch n := bodies[key]; {
		case size <= logBody && complete:
			// A small body PUT lives in the index's log: reads check it.
			if n > 0 {
				problems = append(problems, fmt.Sprintf("%s (%d bytes) has a body file besides its bytes in the index's log", key, size))
			}
		case n > 1:
			problems = append(problems, fmt.Sprintf("%s has %d bodies", key, n))
		case n == 0 && complete:
			problems = append(problems, fmt.Sprintf("%s has no body", key))
		}
	}
	slices.Sort(problems)
	return problems
}
