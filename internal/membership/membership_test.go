package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestJoinThroughOneSeed(t *testing.T) {
	metaOf := func(i int) Meta {
		return Meta{
			PublicAddr: fmt.Sprintf("127.0.0.1:%d", 9000+i),
			PeerAddr:   fmt.Sprintf("127.0.0.1:%d", 9100+i),
			Version:    "v0.1.0",
			Capacity:   1 << 30,
			Used:       int64(i) << 20,
			Objects:    int64(i),
		}
	}
	first := newTestNode(t, withMeta(metaOf(0)))
	nodes := []*Membership{first}
	want := map[string]Member{first.LocalID(): {ID: first.LocalID(), Addr: first.LocalAddr(), Meta: metaOf(0)}}
	for i := 1; i < 4; i++ {
		n := newTestNode(t, withMeta(metaOf(i)), withJoin(first.LocalAddr()))
		nodes = append(nodes, n)
		want[n.LocalID()] = Member{ID: n.LocalID(), Addr: n.LocalAddr(), Meta: metaOf(i)}
	}
	for _, n := range nodes[1:] {
		waitClosed(t, n.Joined(), n.LocalID()+" joined")
	}
	waitLiveIDs(t, nodes, ids(nodes))
	for _, n := range nodes {
		members := n.Members()
		if len(members) != 4 {
			t.Fatalf("%s knows %d members", n.LocalID(), len(members))
		}
		for _, got := range members {
			w := want[got.ID]
			w.Self = got.ID == n.LocalID()
			if got != w {
				t.Errorf("%s sees %+v, want %+v", n.LocalID(), got, w)
			}
		}
		if !slices.IsSortedFunc(members, func(a, b Member) int { return cmpID(a, b) }) {
			t.Errorf("%s: Members not sorted", n.LocalID())
		}
		if s := n.Stats(); s.Alive != 4 || s.Dead+s.Left+s.Suspect != 0 {
			t.Errorf("%s: stats %+v", n.LocalID(), s)
		}
	}
}

func cmpID(a, b Member) int {
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func TestSingleNode(t *testing.T) {
	rec := &recorder{}
	n := newTestNode(t, withRecorder(rec))
	waitClosed(t, n.Joined(), "Joined with no seeds")
	if host, port, _ := net.SplitHostPort(n.LocalAddr()); host != "127.0.0.1" || port == "0" {
		t.Fatalf("LocalAddr %q: want the bound 127.0.0.1 port", n.LocalAddr())
	}
	owner, ok := n.Owner("any")
	if !ok || !owner.Self || owner.ID != n.LocalID() {
		t.Fatalf("Owner = %+v, %v", owner, ok)
	}
	if got := n.Top("any", 3); len(got) != 1 {
		t.Fatalf("Top(3) of one node: %v", got)
	}
	// Its own join is the first event.
	eventually(t, func() string { return fmt.Sprint(rec.events()) }, func() bool { return rec.has(EventJoin, n.LocalID()) })
	if _, ok := n.Get("nobody"); ok {
		t.Fatal("Get of an unknown ID")
	}
}

// reserveAddr returns ip:port free on both TCP and UDP now, for a node
// started later. 127.0.0.2 keeps it clear of the ports other programs
// pick on 127.0.0.1.
func reserveAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	return l.Addr().String()
}

func TestJoinRetriedUntilSeedIsUp(t *testing.T) {
	seedAddr := reserveAddr(t)
	late := newTestNode(t, withJoin(seedAddr))
	// Fail at least twice first, so the retry is what joins.
	eventually(t, func() string { return fmt.Sprintf("%d attempts", late.Stats().JoinAttempts) },
		func() bool { return late.Stats().JoinAttempts >= 2 })
	select {
	case <-late.Joined():
		t.Fatal("joined a seed that is not up")
	default:
	}
	seed := newTestNode(t, func(c *Config) { c.BindAddr = seedAddr })
	waitClosed(t, late.Joined(), "join after the seed came up")
	waitLiveIDs(t, []*Membership{seed, late}, ids([]*Membership{seed, late}))
}

// TestJoinListingItself: a first node whose seeds are only itself is not
// joined (reaching itself does not count) until another node joins it.
func TestJoinListingItself(t *testing.T) {
	self := reserveAddr(t)
	first := newTestNode(t, func(c *Config) { c.BindAddr = self }, withJoin(self))
	eventually(t, func() string { return fmt.Sprintf("%d attempts", first.Stats().JoinAttempts) },
		func() bool { return first.Stats().JoinAttempts >= 2 })
	select {
	case <-first.Joined():
		t.Fatal("joined itself")
	default:
	}
	second := newTestNode(t, withJoin(self))
	waitClosed(t, second.Joined(), "second joined")
	waitClosed(t, first.Joined(), "first joined by the second")
	waitLiveIDs(t, []*Membership{first, second}, ids([]*Membership{first, second}))
}

func TestFlatten(t *testing.T) {
	if flatten(nil) != "" || flatten(errors.New("x")) != "x" {
		t.Fatal("plain errors")
	}
	if got := flatten(multi{errors.New("a"), errors.New("b")}); got != "a; b" {
		t.Fatalf("multi: %q", got)
	}
}

type multi []error

func (m multi) Error() string          { return "many" }
func (m multi) WrappedErrors() []error { return m }

func TestJoinStopsWithContext(t *testing.T) {
	seedAddr := reserveAddr(t)
	cfg := testConfig(t)
	cfg.Join = []string{seedAddr}
	ctx, cancel := context.WithCancel(t.Context())
	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cancel()
	waitClosed(t, n.joinDone, "join loop stopped by its context")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJoinByHostName(t *testing.T) {
	seed := newTestNode(t)
	_, port, _ := net.SplitHostPort(seed.LocalAddr())
	n := newTestNode(t, withJoin(net.JoinHostPort("localhost", port)))
	waitClosed(t, n.Joined(), "join through localhost")
	waitLiveIDs(t, []*Membership{seed, n}, ids([]*Membership{seed, n}))
}

// TestJoinNameWithSeveralAddresses serves a DNS name with two A records
// (127.0.0.1 and 127.0.0.2) from an in-process server, over two nodes
// that do not know each other. A third joining through the name merges
// them: memberlist contacted both addresses.
func TestJoinNameWithSeveralAddresses(t *testing.T) {
	a := newTestNode(t)
	_, port, _ := net.SplitHostPort(a.LocalAddr())
	b := newTestNode(t, func(c *Config) { c.BindAddr = "127.0.0.2:" + port })

	const name = "seeds.objstore.test."
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Name == name {
			for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				resp.Answer = append(resp.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.ParseIP(ip),
				})
			}
		} else {
			resp.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(resp)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+l.Addr().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	c := newTestNode(t, withJoin(net.JoinHostPort("seeds.objstore.test", port)), func(c *Config) { c.dnsConfigPath = resolv })
	waitClosed(t, c.Joined(), "join through the name")
	all := []*Membership{a, b, c}
	waitLiveIDs(t, all, ids(all))
}

func TestGracefulLeave(t *testing.T) {
	rec := &recorder{}
	nodes := newCluster(t, 3, withRecorder(rec))
	observer, leaver := nodes[0], nodes[2]
	if err := leaver.Leave(ctxTimeout(t)); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := leaver.Leave(ctxTimeout(t)); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	for _, n := range nodes[:2] {
		waitState(t, n, leaver.LocalID(), StateLeft)
	}
	waitLiveIDs(t, nodes[:2], ids(nodes[:2]))
	// The leaver sees itself left and owns nothing.
	if m, _ := leaver.Get(leaver.LocalID()); m.State != StateLeft {
		t.Fatalf("leaver sees itself %v", m.State)
	}
	// It still routes, to the members that stay, as they do.
	for i := range 100 {
		key := "k" + strconv.Itoa(i)
		got, ok := leaver.Owner(key)
		want, _ := observer.Owner(key)
		if !ok || got.Self || got.ID != want.ID {
			t.Fatalf("leaver: owner of %s is %+v (ok %v), the others say %s", key, got, ok, want.ID)
		}
	}
	if err := leaver.UpdateMeta(ctxTimeout(t), Meta{Version: "x"}); !errors.Is(err, ErrLeft) {
		t.Fatalf("UpdateMeta after Leave: %v", err)
	}
	eventually(t, func() string { return fmt.Sprint(rec.events()) },
		func() bool { return rec.has(EventLeave, leaver.LocalID()) })
	if s := observer.Stats(); s.Left != 1 || s.Alive != 2 {
		t.Fatalf("stats after leave: %+v", s)
	}
}

func TestFailureDetected(t *testing.T) {
	rec := &recorder{}
	nodes := newCluster(t, 3, withRecorder(rec))
	crashed := nodes[2]
	start := time.Now()
	// Shutdown without Leave: to the others it is a crash.
	crash(t, crashed)
	for _, n := range nodes[:2] {
		waitState(t, n, crashed.LocalID(), StateDead)
	}
	t.Logf("failure detected by both in %v", time.Since(start).Round(10*time.Millisecond))
	waitLiveIDs(t, nodes[:2], ids(nodes[:2]))
	eventually(t, func() string { return fmt.Sprint(rec.events()) },
		func() bool { return rec.has(EventFail, crashed.LocalID()) })
}

// TestRestartAtNewAddress: a node that crashed and comes back under the
// same NodeID at another address (port 0, a new IP) is alive again as
// soon as it has joined, not once the others have forgotten it.
func TestRestartAtNewAddress(t *testing.T) {
	remember := func(c *Config) { c.forgetAfter = time.Hour }
	nodes := newCluster(t, 3, remember)
	crashed := nodes[2]
	crash(t, crashed)
	for _, n := range nodes[:2] {
		waitState(t, n, crashed.LocalID(), StateDead)
	}
	back := newTestNode(t, remember, withJoin(nodes[0].LocalAddr()), func(c *Config) { c.NodeID = crashed.LocalID() })
	if back.LocalAddr() == crashed.LocalAddr() {
		t.Fatalf("restarted at the same address %s", back.LocalAddr())
	}
	for _, n := range nodes[:2] {
		eventually(t, func() string { m, _ := n.Get(back.LocalID()); return fmt.Sprintf("%s sees %+v", n.LocalID(), m) },
			func() bool {
				m, ok := n.Get(back.LocalID())
				return ok && m.State == StateAlive && m.Addr == back.LocalAddr()
			})
	}
	waitLiveIDs(t, append(nodes[:2:2], back), ids(nodes))
}

// TestDeadForgotten: memberlist forgets the dead after
// GossipToTheDeadTime (1 s here); so does the table.
func TestDeadForgotten(t *testing.T) {
	nodes := newCluster(t, 2, func(c *Config) { c.forgetAfter = time.Second })
	crash(t, nodes[1])
	eventually(t, func() string { return fmt.Sprint(nodes[0].Members()) }, func() bool {
		_, ok := nodes[0].Get(nodes[1].LocalID())
		return !ok && len(nodes[0].Members()) == 1
	})
	if s := nodes[0].Stats(); s.Alive != 1 || s.Dead != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	rec := &recorder{}
	nodes := newCluster(t, 3, withRecorder(rec))
	src := nodes[1]
	meta := Meta{PublicAddr: "127.0.0.1:9000", PeerAddr: "127.0.0.1:9001", Version: "v2", Capacity: 100, Used: 42, Objects: 7}
	if err := src.UpdateMeta(ctxTimeout(t), meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	for _, n := range nodes {
		eventually(t, func() string { m, _ := n.Get(src.LocalID()); return fmt.Sprintf("%s sees %+v", n.LocalID(), m.Meta) },
			func() bool { m, _ := n.Get(src.LocalID()); return m.Meta == meta })
	}
	eventually(t, func() string { return fmt.Sprint(rec.events()) }, func() bool {
		return slices.ContainsFunc(rec.events(), func(ev Event) bool {
			return ev.Kind == EventUpdate && ev.Member.ID == src.LocalID() && ev.Member.Meta == meta
		})
	})
	big := Meta{Version: string(make([]byte, MetaMaxSize))}
	if err := src.UpdateMeta(ctxTimeout(t), big); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("oversized UpdateMeta: %v", err)
	}
}

func TestSecret(t *testing.T) {
	const secret = "4d6f7265207468616e2033322062797465732c20706c65617365"
	nodes := newCluster(t, 2, withSecret(secret))
	seed := nodes[0].LocalAddr()
	wrong := newTestNode(t, withSecret("another cluster's secret"), withJoin(seed))
	open := newTestNode(t, withJoin(seed))
	// Let each outsider fail a few times.
	for _, n := range []*Membership{wrong, open} {
		eventually(t, func() string { return fmt.Sprintf("%d attempts", n.Stats().JoinAttempts) },
			func() bool { return n.Stats().JoinAttempts >= 3 })
		select {
		case <-n.Joined():
			t.Fatalf("%s joined a cluster without its secret", n.LocalID())
		default:
		}
		if got := n.LiveIDs(); !slices.Equal(got, []string{n.LocalID()}) {
			t.Fatalf("outsider sees %v", got)
		}
	}
	for _, n := range nodes {
		if got := n.LiveIDs(); !slices.Equal(got, ids(nodes)) {
			t.Fatalf("%s sees %v: an outsider got in", n.LocalID(), got)
		}
		if got := len(n.Members()); got != 2 {
			t.Fatalf("%s knows %d members", n.LocalID(), got)
		}
	}
}

func TestOwnersAgree(t *testing.T) {
	nodes := newCluster(t, 5)
	check := func(nodes []*Membership) map[string]string {
		owners := map[string]string{}
		for i := range 1000 {
			key := "bucket/object-" + strconv.Itoa(i)
			want := nodes[0].Top(key, -1)
			if len(want) != len(nodes) {
				t.Fatalf("Top(-1) has %d members, want %d", len(want), len(nodes))
			}
			for _, n := range nodes {
				top := n.Top(key, 3)
				owner, ok := n.Owner(key)
				if !ok || owner.ID != want[0].ID || len(top) != 3 {
					t.Fatalf("%s: owner of %s is %s, node 0 says %s", n.LocalID(), key, owner.ID, want[0].ID)
				}
				for j := range top {
					if top[j].ID != want[j].ID {
						t.Fatalf("%s: Top(%s, 3) = %v, node 0 says %v", n.LocalID(), key, top, want[:3])
					}
				}
			}
			owners[key] = want[0].ID
		}
		return owners
	}
	before := check(nodes)
	gone := nodes[4]
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	rest := nodes[:4]
	waitLiveIDs(t, rest, ids(rest))
	after := check(rest)
	for key, owner := range before {
		if owner != gone.LocalID() && after[key] != owner {
			t.Fatalf("%s moved from %s to %s when %s left", key, owner, after[key], gone.LocalID())
		}
	}
}

// TestSlowOnChangeBlocksNothing holds OnChange of the first node while
// others join: memberlist must go on (the first node's table fills), and
// once released the events catch up, coalesced.
func TestSlowOnChangeBlocksNothing(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{}
	first := newTestNode(t, func(c *Config) {
		c.OnChange = func(ev Event) {
			<-release
			rec.onChange(ev)
		}
	})
	nodes := []*Membership{first}
	for range 3 {
		nodes = append(nodes, newTestNode(t, withJoin(first.LocalAddr())))
	}
	waitLiveIDs(t, nodes, ids(nodes))
	close(release)
	for _, n := range nodes {
		eventually(t, func() string { return fmt.Sprint(rec.events()) }, func() bool { return rec.has(EventJoin, n.LocalID()) })
	}
	if s := first.Stats(); s.Events != uint64(len(rec.events())) {
		t.Fatalf("stats count %d events, OnChange got %d", s.Events, len(rec.events()))
	}
}

func TestCloseTwice(t *testing.T) {
	before := runtime.NumGoroutine()
	rec := &recorder{}
	a := newTestNode(t, withRecorder(rec))
	b := newTestNode(t, withJoin(a.LocalAddr()))
	waitLiveIDs(t, []*Membership{a, b}, ids([]*Membership{a, b}))
	for _, n := range []*Membership{b, a} {
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := n.Leave(ctxTimeout(t)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Leave after Close: %v", err)
		}
		if err := n.UpdateMeta(ctxTimeout(t), Meta{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("UpdateMeta after Close: %v", err)
		}
	}
	// No OnChange after Close returned.
	n := len(rec.events())
	if _, ok := a.Get(b.LocalID()); !ok {
		t.Fatal("table emptied by Close")
	}
	// The goroutines of both nodes, memberlist's included, end.
	eventually(t, func() string { return fmt.Sprintf("%d goroutines, %d before", runtime.NumGoroutine(), before) },
		func() bool { return runtime.NumGoroutine() <= before })
	if len(rec.events()) != n {
		t.Fatal("OnChange called after Close")
	}
}

// TestReconnectAfterLongPartition: a member declared dead and forgotten
// that comes back at its address, alone and joining no one (the far side
// of a partition that outlasted GossipToTheDeadTime), is found again by
// the others' reconnection, and both sides see each other alive.
func TestReconnectAfterLongPartition(t *testing.T) {
	nodes := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	id, addr := b.LocalID(), b.LocalAddr()
	crash(t, b)
	waitState(t, a, id, StateDead)
	// Past the time memberlist gossips to the dead, and forgets them.
	eventually(t, func() string { return fmt.Sprint(a.Members()) }, func() bool {
		_, known := a.Get(id)
		return !known
	})
	back := newTestNode(t, func(c *Config) { c.NodeID, c.BindAddr = id, addr })
	waitLiveIDs(t, []*Membership{a, back}, ids([]*Membership{a, back}))
	if a.Stats().Reconnects == 0 {
		t.Fatal("healed without a reconnection")
	}
}
