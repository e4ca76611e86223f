//go:build linux

// Helpers of the tests that run real objstore processes (crash_test.go,
// cluster_procs_test.go): the binary, built once per test run with the race
// detector when the tests have it; a running node, started on free
// ports, whose log is kept, checked and shown on failure; and the bodies
// the tests send and check.
//
// Linux only: each child gets Pdeathsig, so it dies with the test binary
// even when a -timeout panic skips t.Cleanup and would leave it serving.

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
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
)

const (
	apiBucket = "objstore" // the default --bucket, where /api/v1 objects live

	startTimeout = 15 * time.Second // for a node to log that it serves
	waitTimeout  = 20 * time.Second // for any other condition
)

func TestMain(m *testing.M) {
	code := m.Run()
	if objstoreBin.dir != "" {
		os.RemoveAll(objstoreBin.dir)
	}
	os.Exit(code)
}

// proc is a running objstore serve.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	base    string // http://host:port
	// id, gossip and peer are the node's ID and the host:port of its
	// membership and peer listeners, from its log.
	id, gossip, peer string
	client           *http.Client
	killed           atomic.Bool   // set just before SIGKILL: requests may fail from then on
	exited           chan struct{} // closed once the process is reaped

	mu      sync.Mutex
	lines   []string // its log, one JSON record a line
	checked sync.Once
}

// startProc starts objstore serve on dataDir with free ports, JSON logs
// and the extra args, and returns once it logs that it serves. t.Cleanup
// kills it.
func startProc(t *testing.T, bin, dataDir string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, bin, dataDir, nil, args...)
}

// startProcEnv is startProc with env (KEY=value) added to the child's
// environment.
func startProcEnv(t *testing.T, bin, dataDir string, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(childEnv(), env...)
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
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true}},
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
			var rec struct {
				Msg, Listen   string
				NodeID        string `json:"node_id"`
				ClusterListen string `json:"cluster_listen"`
				PeerListen    string `json:"peer_listen"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch rec.Msg {
			case "cluster": // logged before "objstore serving"
				p.id, p.gossip, p.peer = rec.NodeID, rec.ClusterListen, rec.PeerListen
			case "objstore serving":
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
		p.t.Logf("objstore pid %d (node %s), last lines of its log:\n%s", p.cmd.Process.Pid, p.id, strings.Join(tail, "\n"))
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
	header    http.Header
	body      digest // of a 200's body, read in full
	msg       string // the body of another status
	err       error  // the request failed or the body was cut short
	afterKill bool   // err came once the node was being killed
}

// get reads an object through /api/v1: fetch sets X-Meta-Fetch: 1, pace
// above zero reads 64 KiB at a time with that pause in between, and
// onHeader, if set, is called once the status arrived.
func (p *proc) get(ctx context.Context, key string, fetch bool, pace time.Duration, onHeader func()) reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/get/"+url.PathEscape(key), nil)
	if err != nil {
		return reply{err: err}
	}
	if fetch {
		req.Header.Set("X-Meta-Fetch", "1")
	}
	return p.do(req, pace, onHeader)
}

// do makes req and reads its answer: the body of a 200 digested, read
// with pace as get does, that of another status kept as its message.
func (p *proc) do(req *http.Request, pace time.Duration, onHeader func()) (r reply) {
	defer func() {
		if r.err != nil {
			r.afterKill = p.killed.Load()
		}
	}()
	ctx := req.Context()
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
		return reply{status: resp.StatusCode, header: resp.Header, msg: strings.TrimSpace(string(msg)), err: err}
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
		return reply{status: resp.StatusCode, header: resp.Header, err: fmt.Errorf("body: %w", err)}
	}
	d := digest{size: n}
	h.Sum(d.sum[:0])
	return reply{status: resp.StatusCode, header: resp.Header, body: d}
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
	obj, err := origin.Get(context.Background(), apiBucket, key, backend.GetOptions{})
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

// testSeed returns the seed of a test's random choices (sizes, keys,
// delays): $env when set, to repeat a run's choices, else the time. The
// timing of requests and kills stays random either way.
func testSeed(t *testing.T, env string) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (%s=%[1]d repeats its choices)", seed, env)
	return seed
}

// newRand returns a generator for one stream of the test's choices.
func newRand(seed uint64, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// objstoreBin is the binary buildObjstore built, shared by every test of
// the run; TestMain removes its directory.
var objstoreBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildObjstore builds this command once per test run, with the race
// detector when the test has it, so that the nodes are checked too, and
// returns the binary's path.
func buildObjstore(t *testing.T) string {
	t.Helper()
	b := &objstoreBin
	b.once.Do(func() {
		gotool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
		if err != nil {
			b.err = fmt.Errorf("go tool: %w", err)
			return
		}
		if b.dir, b.err = os.MkdirTemp("", "objstore-test-bin-"); b.err != nil {
			return
		}
		bin := filepath.Join(b.dir, "objstore")
		args := []string{"build", "-o", bin}
		if raceEnabled() {
			args = append(args, "-race")
		}
		if out, err := exec.Command(gotool, append(args, ".")...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		b.path = bin
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
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
