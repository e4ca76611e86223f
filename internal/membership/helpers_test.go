package membership

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// waitTimeout bounds every wait on the cluster. Conditions usually hold
// within a second with Fast timings; the margin is for a loaded machine
// running -race.
const waitTimeout = 15 * time.Second

// testConfig returns a Config for a node on 127.0.0.1, port 0, with Fast
// timings and a fresh ULID. Its log, memberlist's debug lines included,
// is kept and shown only when the test fails.
func testConfig(t *testing.T) Config {
	cfg, _ := testConfigLog(t)
	return cfg
}

func testConfigLog(t *testing.T) (Config, *logBuf) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = ulid.Make().String()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Fast = true
	cfg.BroadcastTimeout = 3 * time.Second
	buf := &logBuf{}
	cfg.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", cfg.NodeID, buf)
		}
	})
	return cfg, buf
}

// logBuf collects a node's log. memberlist's goroutines may write to it
// while they stop, after the test is done, which t.Log would not allow.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestNode starts a node with testConfig changed by opts, closed when
// the test ends.
func newTestNode(t *testing.T, opts ...func(*Config)) *Membership {
	t.Helper()
	cfg, log := testConfigLog(t)
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		start := time.Now()
		err := m.Close()
		if d := time.Since(start); d > time.Second || err != nil {
			// Not a failure (the node is shut down all the same),
			// but worth a look.
			t.Logf("close %s took %v: %v; its log:\n%s", m.LocalID(), d, err, log)
		}
	})
	return m
}

func withJoin(seeds ...string) func(*Config) {
	return func(c *Config) { c.Join = seeds }
}

func withSecret(s string) func(*Config) {
	return func(c *Config) { c.Secret = s }
}

func withMeta(meta Meta) func(*Config) {
	return func(c *Config) { c.Meta = meta }
}

// newCluster starts n nodes; all but the first know only the first's
// address. It waits until every node sees all n alive.
func newCluster(t *testing.T, n int, opts ...func(*Config)) []*Membership {
	t.Helper()
	first := newTestNode(t, opts...)
	nodes := []*Membership{first}
	for i := 1; i < n; i++ {
		nodes = append(nodes, newTestNode(t, append(slices.Clone(opts), withJoin(first.LocalAddr()))...))
	}
	waitLiveIDs(t, nodes, ids(nodes))
	return nodes
}

func ids(nodes []*Membership) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.LocalID()
	}
	slices.Sort(out)
	return out
}

// eventually waits until cond holds, polling, and fails the test with
// what() when waitTimeout passes first.
func eventually(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", waitTimeout, what())
		}
		<-tick.C
	}
}

// waitLiveIDs waits until every node in nodes reports exactly want live.
func waitLiveIDs(t *testing.T, nodes []*Membership, want []string) {
	t.Helper()
	for _, n := range nodes {
		eventually(t,
			func() string { return fmt.Sprintf("%s sees live %v, want %v", n.LocalID(), n.LiveIDs(), want) },
			func() bool { return slices.Equal(n.LiveIDs(), want) })
	}
}

// waitState waits until node sees member id in state s.
func waitState(t *testing.T, node *Membership, id string, s State) {
	t.Helper()
	eventually(t,
		func() string {
			m, ok := node.Get(id)
			return fmt.Sprintf("%s sees %s as %v (known %v), want %v", node.LocalID(), id, m.State, ok, s)
		},
		func() bool { m, ok := node.Get(id); return ok && m.State == s })
}

// waitClosed waits for ch with the test's deadline.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("not within %v: %s", waitTimeout, what)
	}
}

// recorder collects OnChange events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) onChange(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// has reports whether an event of kind for member id was recorded.
func (r *recorder) has(kind EventKind, id string) bool {
	return slices.ContainsFunc(r.events(), func(ev Event) bool { return ev.Kind == kind && ev.Member.ID == id })
}

func withRecorder(r *recorder) func(*Config) {
	return func(c *Config) { c.OnChange = r.onChange }
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// crash shuts memberlist down without leaving, as a killed process
// would, and keeps Close from trying to leave a shut-down memberlist.
func crash(t *testing.T, m *Membership) {
	t.Helper()
	m.life.Lock()
	defer m.life.Unlock()
	m.left = true
	if err := m.ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
}
