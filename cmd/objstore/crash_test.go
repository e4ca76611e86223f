//go:build linux

// The crash test runs real objstore processes, kills them with SIGKILL in
// the middle of PUTs and backend fills, restarts them on the same data dir
// and checks the node's guarantees from the outside: every acknowledged
// object reads back byte for byte, a read never shows a body the test did
// not send in full, and the write-back queue survives the crash.
//
// Linux only: each child gets Pdeathsig, so it dies with the test binary
// even when a -timeout panic skips t.Cleanup and would leave it serving.

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/store"
)

const (
	crashBucket  = "objstore" // the default --bucket, where /api/v1 objects live
	crashClients = 16         // concurrent PUT clients
	crashCycles  = 3          // kill/restart cycles per write mode
	crashMinAcks = 24         // acknowledged PUTs before a kill may land
	crashMaxPut  = 4 << 20    // largest PUT body
	crashMisses  = 20         // objects in the origin for the miss test

	startTimeout = 15 * time.Second // for a node to log that it serves
	waitTimeout  = 20 * time.Second // for any other condition
)

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objstore and kills it repeatedly; skipped with -short")
	}
	seed := crashSeed(t)
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
			info := core.Info{Bucket: crashBucket, Key: key, Level: core.LevelBackend}
			if _, err := origin.Put(context.Background(), crashBucket, key, bytes.NewReader(body), size, info); err != nil {
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

// proc is a running objstore serve.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	base    string // http://host:port
	client  *http.Client
	killed  atomic.Bool   // set just before SIGKILL: requests may fail from then on
	exited  chan struct{} // closed once the process is reaped

	mu      sync.Mutex
	lines   []string // its log, one JSON record a line
	checked sync.Once
}

// startProc starts objstore serve on dataDir with a free port, JSON logs
// and the extra args, and returns once it logs that it serves. t.Cleanup
// kills it.
func startProc(t *testing.T, bin, dataDir string, args ...string) *proc {
	t.Helper()
	args = append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start objstore: %v", err)
	}
	p := &proc{
		t: t, cmd: cmd, dataDir: dataDir, exited: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * crashClients, DisableCompression: true}},
	}
	listen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			var rec struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "objstore serving" {
				select {
				case listen <- rec.Listen:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr) // past an over-long line: Wait wants the pipe drained
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.cleanup)
	select {
	case addr := <-listen:
		p.base = "http://" + addr
	case <-p.exited:
		t.Fatalf("objstore ended before serving: %v", cmd.ProcessState)
	case <-time.After(startTimeout):
		t.Fatalf("objstore not serving after %v", startTimeout)
	}
	return p
}

// childEnv is the test's environment without OBJSTORE_* variables, so that
// a developer's settings cannot change the nodes under test.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, envPrefix) })
}

func (p *proc) cleanup() {
	p.cmd.Process.Kill() // fails harmlessly if it has ended
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("objstore pid %d still running 10s after SIGKILL", p.cmd.Process.Pid)
		return
	}
	p.client.CloseIdleConnections()
	p.checkLog()
	if p.t.Failed() {
		p.mu.Lock()
		tail := p.lines[max(0, len(p.lines)-25):]
		p.mu.Unlock()
		p.t.Logf("objstore pid %d, last lines of its log:\n%s", p.cmd.Process.Pid, strings.Join(tail, "\n"))
	}
}

// kill9 kills the node as a crash would, and waits until it is gone.
func (p *proc) kill9() {
	p.t.Helper()
	p.killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	p.wait(10 * time.Second)
}

// wait waits at most d for the process to end and returns how it ended.
func (p *proc) wait(d time.Duration) *os.ProcessState {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("objstore still running %v after it was told to stop", d)
	}
	p.client.CloseIdleConnections()
	p.checkLog()
	return p.cmd.ProcessState
}

// checkLog fails the test on what a node must never log, crash or not: an
// error, a data race or a panic, and, at start, an index entry whose body
// was missing or short (bodies are durable before their entries are
// committed, so no crash can explain one).
func (p *proc) checkLog() {
	p.checked.Do(func() {
		p.mu.Lock()
		lines := slices.Clone(p.lines)
		p.mu.Unlock()
		for _, line := range lines {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				if strings.Contains(line, "DATA RACE") || strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
					p.t.Errorf("objstore: %s", line)
				}
				continue
			}
			switch {
			case rec["level"] == "ERROR":
				p.t.Errorf("objstore logged an error: %s", line)
			case rec["msg"] == "index loaded" && rec["entries_fixed"] != 0.0:
				p.t.Errorf("objstore found index entries without their body: %s", line)
			}
		}
	})
}

// indexLoaded summarises the node's "index loaded" log record.
func (p *proc) indexLoaded() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.lines {
		var rec struct {
			Msg              string
			Objects, Entries int
			Orphans          int `json:"orphans_removed"`
			Fixed            int `json:"entries_fixed"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "index loaded" {
			return fmt.Sprintf("%d objects, %d entries, %d orphan bodies removed, %d entries fixed",
				rec.Objects, rec.Entries, rec.Orphans, rec.Fixed)
		}
	}
	return "no index loaded record"
}

// put PUTs an object through /api/v1 and returns the status. A size of -1
// sends the body chunked.
func (p *proc) put(ctx context.Context, key string, body io.Reader, size int64) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/put", body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	req.Header.Set("X-Meta-ID", key)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// reply is the outcome of a GET.
type reply struct {
	status    int
	body      digest // of a 200's body, read in full
	msg       string // the body of another status
	err       error  // the request failed or the body was cut short
	afterKill bool   // err came once the node was being killed
}

// get reads an object through /api/v1: fetch sets X-Meta-Fetch: 1, pace
// above zero reads 64 KiB at a time with that pause in between, and
// onHeader, if set, is called once the status arrived.
func (p *proc) get(ctx context.Context, key string, fetch bool, pace time.Duration, onHeader func()) (r reply) {
	defer func() {
		if r.err != nil {
			r.afterKill = p.killed.Load()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/get/"+url.PathEscape(key), nil)
	if err != nil {
		return reply{err: err}
	}
	if fetch {
		req.Header.Set("X-Meta-Fetch", "1")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	if onHeader != nil {
		onHeader()
	}
	if resp.StatusCode != http.StatusOK {
		msg, err := io.ReadAll(io.LimitReader(resp.Body, 512))
		return reply{status: resp.StatusCode, msg: strings.TrimSpace(string(msg)), err: err}
	}
	var src io.Reader = resp.Body
	if pace > 0 {
		src = &trickle{ctx: ctx, r: resp.Body, chunk: 64 << 10, pause: pace}
	}
	h := sha256.New()
	n, err := io.Copy(h, src)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("read %d bytes of a %d-byte body", n, resp.ContentLength)
	}
	if err != nil {
		return reply{status: resp.StatusCode, err: fmt.Errorf("body: %w", err)}
	}
	d := digest{size: n}
	h.Sum(d.sum[:0])
	return reply{status: resp.StatusCode, body: d}
}

// uploadQueue returns the length of the node's write-back queue.
func (p *proc) uploadQueue() (int64, error) {
	resp, err := p.client.Get(p.base + "/api/v1/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		UploadQueue int64 `json:"upload_queue"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("stats: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("stats: %w", err)
	}
	return st.UploadQueue, nil
}

// originDigest reads key from the origin: its digest, or false if absent.
func originDigest(origin *fsbackend.Backend, key string) (digest, bool, error) {
	obj, err := origin.Get(context.Background(), crashBucket, key, backend.GetOptions{})
	if errors.Is(err, core.ErrNotFound) {
		return digest{}, false, nil
	}
	if err != nil {
		return digest{}, false, err
	}
	defer obj.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj.Body)
	if err != nil {
		return digest{}, false, err
	}
	d := digest{size: n}
	h.Sum(d.sum[:0])
	return d, true, nil
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

// bodyProblems lists what is wrong with the cached bodies under dataDir: a
// temp file left behind, a body of no key in sizes, a body whose size is
// not its key's, a key with more than one body, and, when complete, a key
// with none.
func bodyProblems(dataDir string, sizes map[string]int64, complete bool) []string {
	var problems []string
	for _, name := range partialTemps(dataDir) {
		problems = append(problems, "temp file "+name+" left behind with bytes in it")
	}
	byPrefix := make(map[string]string) // body name without the generation → key
	for key := range sizes {
		byPrefix[store.Name(crashBucket, key, "")] = key
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
	for key := range sizes {
		switch n := bodies[key]; {
		case n > 1:
			problems = append(problems, fmt.Sprintf("%s has %d bodies", key, n))
		case n == 0 && complete:
			problems = append(problems, fmt.Sprintf("%s has no body", key))
		}
	}
	slices.Sort(problems)
	return problems
}

// digest identifies a body by its size and SHA-256.
type digest struct {
	size int64
	sum  [sha256.Size]byte
}

func digestOf(b []byte) digest { return digest{int64(len(b)), sha256.Sum256(b)} }

func (d digest) String() string { return fmt.Sprintf("%d bytes, sha256 %x…", d.size, d.sum[:6]) }

// content returns version ver of key's body: size bytes of a ChaCha8
// stream seeded by both, so that no two versions look alike.
func content(key string, ver int, size int64) []byte {
	b := make([]byte, size)
	rand.NewChaCha8(sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", key, ver))).Read(b)
	return b
}

// trickle passes its reader's bytes on a chunk at a time, pausing before
// every chunk but the first, as a slow client would. It fails once ctx ends.
type trickle struct {
	ctx   context.Context
	r     io.Reader
	chunk int
	pause time.Duration
	n     atomic.Int64 // bytes passed on
}

func (tr *trickle) Read(p []byte) (int, error) {
	if tr.n.Load() > 0 {
		t := time.NewTimer(tr.pause)
		select {
		case <-t.C:
		case <-tr.ctx.Done():
			t.Stop()
			return 0, tr.ctx.Err()
		}
	}
	k, err := tr.r.Read(p[:min(len(p), tr.chunk)])
	tr.n.Add(int64(k))
	return k, err
}

// crashSeed returns the seed of the test's random choices (sizes, keys,
// delays): $OBJSTORE_CRASH_SEED when set, to repeat a run's choices, else
// the time. The timing of requests and kills stays random either way.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OBJSTORE_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OBJSTORE_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (OBJSTORE_CRASH_SEED=%[1]d repeats its choices)", seed)
	return seed
}

// newRand returns a generator for one stream of the test's choices.
func newRand(seed uint64, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// buildObjstore builds this command into a temp dir, with the race
// detector when the test has it, so that the nodes are checked too.
func buildObjstore(t *testing.T) string {
	t.Helper()
	gotool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("go tool: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "objstore")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	out, err := exec.Command(gotool, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// waitFor polls cond every 20ms until it holds or d has passed, and
// reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// parallel calls fn(0) … fn(n-1) on up to workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// list formats problems one a line, the first 20 of them.
func list(problems []string) string {
	if len(problems) > 20 {
		problems = append(problems[:20:20], fmt.Sprintf("… and %d more", len(problems)-20))
	}
	return "\t" + strings.Join(problems, "\n\t")
}
