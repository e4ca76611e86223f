package membership

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// entry is the table's record of one member.
type entry struct {
	member Member
	// gen counts the member's joins, so the dispatcher sees a restart
	// even when it missed the failure in between.
	gen uint64
	// leaving: the member said it is leaving; its NotifyLeave means Left.
	leaving bool
	// since is when the state last changed.
	since time.Time
}

// snapshot is an immutable view of the live members, rebuilt after each
// change, so Owner and Top hash outside the lock without copying.
type snapshot struct {
	members []Member // sorted by ID
	ids     []string // members' IDs, same order
}

// expired reports whether memberlist has forgotten e (about when: it
// reaps dead members in its probe loop). m.mu is held.
func (m *Membership) expired(e *entry, now time.Time) bool {
	return !e.member.State.Live() && now.Sub(e.since) > m.deadTTL
}

func (m *Membership) snapshot() *snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live != nil {
		return m.live
	}
	s := &snapshot{}
	for _, e := range m.members {
		if e.member.State.Live() {
			s.members = append(s.members, e.member)
		}
	}
	slices.SortFunc(s.members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	s.ids = make([]string, len(s.members))
	for i := range s.members {
		s.ids[i] = s.members[i].ID
	}
	m.live = s
	return s
}

// changedLocked invalidates the live snapshot and wakes the dispatcher
// without blocking: if a wake-up is already pending, this change is
// folded into it. m.mu is held.
func (m *Membership) changedLocked() {
	m.live = nil
	select {
	case m.changed <- struct{}{}:
	default:
		m.coalesced.Add(1)
	}
}

// entryLocked returns the entry for n, updated from it (address and
// meta), creating it when new. m.mu is held.
func (m *Membership) entryLocked(n *memberlist.Node) *entry {
	e, ok := m.members[n.Name]
	if !ok {
		e = &entry{member: Member{ID: n.Name, Self: n.Name == m.cfg.NodeID, State: StateDead}}
		m.members[n.Name] = e
	}
	e.member.Addr = n.Address()
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		m.log.Warn("member sent metadata this version cannot read", "member", n.Name, "err", err)
	}
	e.member.Meta = meta
	return e
}

// leavingMsg is the first byte of the user message a leaving node sends
// each live member directly before memberlist's leave broadcast; its ID
// follows. memberlist (v0.7.0) knows a member left rather than died, but
// passes NotifyLeave a Node whose State field is not the one it updates
// (hashicorp/memberlist#293), so the notice is how members tell the two
// apart. A member that misses it records the leaver as Dead.
const leavingMsg byte = 1

// sendLeaving sends the leaving notice to every live peer in parallel and
// waits for them for at most wait. The senders are owned by m.wg: a
// sender that outlives wait ends within memberlist's TCP timeout.
func (m *Membership) sendLeaving(wait time.Duration) {
	msg := append([]byte{leavingMsg}, m.cfg.NodeID...)
	var sent sync.WaitGroup
	for _, n := range m.ml.Members() {
		if n.Name == m.cfg.NodeID {
			continue
		}
		sent.Add(1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer sent.Done()
			if err := m.ml.SendReliable(n, msg); err != nil {
				m.log.Debug("leaving notice not delivered", "member", n.Name, "err", err)
			}
		}()
	}
	done := make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		sent.Wait()
		close(done)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// delegate receives memberlist's callbacks. They only update the table
// under m.mu, which no one holds across anything slow, and signal
// without blocking: memberlist calls them from its network loops (the
// event ones with its node lock held), and a slow callback would delay
// probes and gossip for the whole node.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

func (d *delegate) NotifyJoin(n *memberlist.Node) {
	m := d.m
	m.mu.Lock()
	e := m.entryLocked(n)
	e.member.State = StateAlive
	e.gen++
	e.leaving = false
	e.since = time.Now()
	m.noteFailedLocked(e)
	m.changedLocked()
	m.mu.Unlock()
	if n.Name != m.cfg.NodeID {
		select {
		case m.peerSeen <- struct{}{}:
		default:
		}
	}
}

func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	m := d.m
	m.mu.Lock()
	m.entryLocked(n)
	m.changedLocked()
	m.mu.Unlock()
}

func (d *delegate) NotifyLeave(n *memberlist.Node) {
	m := d.m
	m.mu.Lock()
	e := m.entryLocked(n)
	// memberlist calls NotifyLeave for this node only when it left.
	if e.leaving || e.member.Self {
		e.member.State = StateLeft
	} else {
		e.member.State = StateDead
	}
	e.since = time.Now()
	m.noteFailedLocked(e)
	m.changedLocked()
	m.mu.Unlock()
}

// NotifyMsg receives the leaving notice (the only user message). It may
// arrive after the leave broadcast it was sent ahead of; then it turns
// the Dead already recorded into Left.
func (d *delegate) NotifyMsg(b []byte) {
	if len(b) < 2 || b[0] != leavingMsg {
		return
	}
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.members[string(b[1:])]
	if !ok || e.member.Self {
		return
	}
	e.leaving = true
	if e.member.State == StateDead {
		e.member.State = StateLeft
		m.noteFailedLocked(e)
		m.changedLocked()
	}
}

// NodeMeta returns this node's encoded Meta; UpdateMeta and New keep it
// within MetaMaxSize (memberlist panics beyond limit).
func (d *delegate) NodeMeta(limit int) []byte {
	d.m.metaMu.Lock()
	defer d.m.metaMu.Unlock()
	if len(d.m.meta) > limit {
		return nil
	}
	return d.m.meta
}

// This package gossips nothing of its own, nor any state beyond
// membership.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}
