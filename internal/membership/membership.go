package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/objstore/objstore/internal/rendezvous"
)

// Membership is this node's membership of the cluster. Its methods are
// safe for concurrent use.
type Membership struct {
	cfg       Config
	log       *slog.Logger
	ml        *memberlist.Memberlist
	localAddr string
	// deadTTL is how long memberlist keeps dead and left members
	// (GossipToTheDeadTime); the table keeps them as long.
	deadTTL time.Duration

	metaMu sync.Mutex
	meta   []byte // this node's encoded Meta, for memberlist's NodeMeta

	// mu guards the table. It is held only for map and slice work, never
	// while calling memberlist or OnChange: memberlist invokes the event
	// callbacks with its own node lock held, and they take mu.
	mu      sync.Mutex
	members map[string]*entry
	live    *snapshot // nil when stale

	changed  chan struct{} // cap 1: the table changed (for the dispatcher)
	peerSeen chan struct{} // cap 1: another member joined (for the join loop)

	joined     chan struct{}
	joinedOnce sync.Once
	stopJoin   chan struct{}
	stopOnce   sync.Once
	joinDone   chan struct{}

	// life serializes Leave and Close (memberlist's Leave panics after
	// its Shutdown) against UpdateMeta; it guards left and closed.
	life   sync.RWMutex
	left   bool
	closed bool

	stop      chan struct{} // closed by Close: the dispatcher stops
	wg        sync.WaitGroup
	closeOnce sync.Once

	events       atomic.Uint64
	coalesced    atomic.Uint64
	joinAttempts atomic.Uint64
	reconnects   atomic.Uint64

	failed map[string]failedMember // by ID; guarded by mu; see reconnect.go
}

// New validates cfg, binds BindAddr and starts this node's membership: it
// is a live member of its own cluster at once, and joins the cluster of
// cfg.Join in the background (see Joined). ctx bounds that background
// join only: when ctx is done before the join succeeds, the node stops
// trying and stays alone. Everything else lasts until Close.
func New(ctx context.Context, cfg Config) (*Membership, error) {
	mc, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	meta, err := cfg.Meta.encode()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "membership")
	m := &Membership{
		cfg:      cfg,
		log:      logger,
		deadTTL:  mc.GossipToTheDeadTime,
		meta:     meta,
		members:  make(map[string]*entry),
		failed:   make(map[string]failedMember),
		changed:  make(chan struct{}, 1),
		peerSeen: make(chan struct{}, 1),
		joined:   make(chan struct{}),
		stopJoin: make(chan struct{}),
		joinDone: make(chan struct{}),
		stop:     make(chan struct{}),
	}
	d := &delegate{m}
	mc.Delegate = d
	mc.Events = d
	mc.Logger = newStdLogger(logger)
	if cfg.Secret == "" {
		logger.Warn("no Secret: cluster gossip is neither encrypted nor authenticated; any process that reaches the bind address can join", "bind", cfg.BindAddr)
	}

	// Create binds, marks this node alive (calling NotifyJoin for it)
	// and starts probing and gossip.
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start memberlist on %s: %w", cfg.BindAddr, err)
	}
	m.ml = ml
	m.localAddr = ml.LocalNode().Address()
	logger.Info("membership started", "node", cfg.NodeID, "addr", m.localAddr, "encrypted", cfg.Secret != "", "seeds", cfg.Join)

	m.wg.Add(2)
	go m.dispatch()
	every := reconnectLAN
	if cfg.Fast {
		every = reconnectFast
	}
	go m.reconnectLoop(every)
	if len(cfg.Join) == 0 {
		m.markJoined()
		close(m.joinDone)
	} else {
		m.wg.Add(1)
		go m.joinLoop(ctx, slices.Clone(cfg.Join))
	}
	return m, nil
}

// LocalID returns this node's ID.
func (m *Membership) LocalID() string { return m.cfg.NodeID }

// LocalAddr returns the ip:port the other members reach this node's
// memberlist at (the advertised address, with the real port when
// BindAddr had port 0). Give it to other nodes as a Join seed.
func (m *Membership) LocalAddr() string { return m.localAddr }

// Joined is closed once this node has exchanged state with at least one
// other member, whether it joined them or they joined it; at once when
// Config.Join is empty. It is never reopened. A node whose seeds never
// answer (a first node whose Join lists only peers not started yet)
// keeps it open until someone joins it, so wait on it with a deadline.
func (m *Membership) Joined() <-chan struct{} { return m.joined }

func (m *Membership) markJoined() {
	m.joinedOnce.Do(func() { close(m.joined) })
}

// UpdateMeta replaces this node's Meta and gossips it. It waits until the
// update has been sent out (to every member memberlist picks for it) or
// until Config.BroadcastTimeout or ctx's deadline, whichever is sooner;
// the new Meta is in effect locally and keeps spreading even when it
// returns a timeout error.
func (m *Membership) UpdateMeta(ctx context.Context, meta Meta) error {
	b, err := meta.encode()
	if err != nil {
		return fmt.Errorf("membership: update meta: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("membership: update meta: %w", err)
	}
	m.life.RLock()
	defer m.life.RUnlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.left:
		// A new alive message would bring the node back as alive.
		return ErrLeft
	}
	m.metaMu.Lock()
	m.meta = b
	m.metaMu.Unlock()
	if err := m.ml.UpdateNode(m.timeout(ctx)); err != nil {
		return fmt.Errorf("membership: update meta: %w", err)
	}
	return nil
}

// timeout is Config.BroadcastTimeout, or less when ctx's deadline is
// sooner: memberlist's blocking calls take a timeout, not a context.
func (m *Membership) timeout(ctx context.Context) time.Duration {
	t := m.cfg.BroadcastTimeout
	if dl, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(dl))
	}
	return max(t, time.Millisecond)
}

// Leave leaves the cluster gracefully: it stops the background join,
// tells every live member directly that this node is leaving (so they
// record it as Left rather than Dead) and broadcasts memberlist's leave,
// waiting up to Config.BroadcastTimeout or ctx's deadline for it to go
// out. The node keeps answering probes until Close, but reports itself
// Left and cannot come back: memberlist has no rejoin, only a new
// process (with the same NodeID) can. Leave is safe to call more than
// once; it returns ErrClosed after Close.
func (m *Membership) Leave(ctx context.Context) error {
	m.life.Lock()
	defer m.life.Unlock()
	if m.closed {
		return ErrClosed
	}
	return m.leave(m.timeout(ctx))
}

// leave does the work of Leave; m.life is held.
func (m *Membership) leave(timeout time.Duration) error {
	if m.left {
		return nil
	}
	m.left = true
	m.stopJoining()
	<-m.joinDone
	deadline := time.Now().Add(timeout)

	// Tell the live peers first, and wait for that (at most half the
	// time), so the notice is in before the leave broadcast.
	m.sendLeaving(timeout / 2)

	if err := m.ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	m.log.Info("left the cluster", "node", m.cfg.NodeID)
	return nil
}

// Close leaves the cluster (unless Leave was called) and shuts down
// memberlist, then waits for this package's goroutines: after it returns
// OnChange is not called again. It returns the leave's error, if any:
// the node is shut down all the same. Calling it again does nothing and
// returns nil.
func (m *Membership) Close() error {
	var err error
	m.closeOnce.Do(func() {
		// Stop the join first: a join running into a shut-down
		// memberlist would only log errors.
		m.stopJoining()
		<-m.joinDone
		m.life.Lock()
		err = m.leave(m.timeout(context.Background()))
		m.closed = true
		if serr := m.ml.Shutdown(); serr != nil {
			err = errors.Join(err, fmt.Errorf("membership: shutdown: %w", serr))
		}
		m.life.Unlock()
		close(m.stop)
		m.wg.Wait()
	})
	return err
}

// Members returns every member this node knows, sorted by ID: the live
// ones, and the dead and left ones for as long as memberlist remembers
// them (Config.Fast: 5 s, else 30 s).
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	out := make([]Member, 0, len(m.members))
	for _, e := range m.members {
		if !m.expired(e, now) {
			out = append(out, e.member)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Live returns the live members, this node included until it leaves,
// sorted by ID. Live means alive or suspect: a suspect member may still
// refute the suspicion (it is often only slow, or lost a packet), and
// moving its keys to another owner for that would churn caches on every
// hiccup; a member that really failed is declared dead when the
// suspicion times out (see Config.Fast), and leaves this list then.
func (m *Membership) Live() []Member {
	return slices.Clone(m.snapshot().members)
}

// LiveView is Live without the copy: the slice is shared by every
// caller, who must not modify it, and is replaced by a new one whenever
// the live members change.
func (m *Membership) LiveView() []Member {
	return m.snapshot().members
}

// LiveIDs returns the IDs of Live, sorted.
func (m *Membership) LiveIDs() []string {
	return slices.Clone(m.snapshot().ids)
}

// Get returns the member with the given ID, if this node knows it (in
// any state, like Members).
func (m *Membership) Get(id string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.members[id]
	if !ok || m.expired(e, time.Now()) {
		return Member{}, false
	}
	return e.member, true
}

// Owner returns the live member that owns key: the first of Top(key, 1).
// After Leave this node is not live, so it names the members that stay
// (the node can hand its work over); false means no member is live.
func (m *Membership) Owner(key string) (Member, bool) {
	top := m.Top(key, 1)
	if len(top) == 0 {
		return Member{}, false
	}
	return top[0], true
}

// Top returns the n live members that should hold key, in order of
// preference (all of them, ranked, when n < 0 or n >= their number):
// rendezvous hashing over the live member IDs. Two nodes that see the
// same live set get the same answer; while a change is still spreading
// they may disagree, so callers must tolerate a wrong owner (and fall
// back to the backend).
func (m *Membership) Top(key string, n int) []Member {
	s := m.snapshot()
	ids := rendezvous.Top(key, s.ids, n)
	out := make([]Member, len(ids))
	for i, id := range ids {
		j, _ := slices.BinarySearch(s.ids, id)
		out[i] = s.members[j]
	}
	return out
}

// Stats are counters for metrics.
type Stats struct {
	// Members by state, as Members reports them.
	Alive, Suspect, Dead, Left int
	// Events is the number of events passed to Config.OnChange.
	Events uint64
	// Coalesced counts memberlist notifications that arrived while an
	// earlier one was still pending and were folded into it instead of
	// queued (see Config.OnChange): events dropped, state kept.
	Coalesced uint64
	// JoinAttempts counts background join attempts (each tries every
	// seed).
	JoinAttempts uint64
	// Reconnects counts attempts to rejoin members declared dead (or the
	// seeds, when no other member is alive), see reconnect.go.
	Reconnects uint64
	// HealthScore is memberlist's view of its own timeliness: 0 is
	// healthy, higher means this node misses its probe deadlines (an
	// overloaded host) and has slowed its failure detection.
	HealthScore int
}

// Stats returns the current counters.
func (m *Membership) Stats() Stats {
	var s Stats
	for _, mem := range m.Members() {
		switch mem.State {
		case StateAlive:
			s.Alive++
		case StateSuspect:
			s.Suspect++
		case StateDead:
			s.Dead++
		case StateLeft:
			s.Left++
		}
	}
	s.Events = m.events.Load()
	s.Coalesced = m.coalesced.Load()
	s.JoinAttempts = m.joinAttempts.Load()
	s.Reconnects = m.reconnects.Load()
	s.HealthScore = m.ml.GetHealthScore()
	return s
}
