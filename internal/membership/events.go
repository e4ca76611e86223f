package membership

import (
	"slices"
	"strings"
	"time"
)

// told is what the dispatcher last reported about a member.
type told struct {
	member Member
	gen    uint64
}

// dispatch is the goroutine that turns table changes into OnChange calls
// and forgets members memberlist has forgotten. Rather than queue every
// memberlist notification (a queue that could fill), it compares the
// table with what it last reported and reports the difference: however
// many notifications arrived meanwhile, each member is reported once, in
// its latest state, and nothing is lost.
func (m *Membership) dispatch() {
	defer m.wg.Done()
	reported := make(map[string]told)
	prune := time.NewTicker(max(m.deadTTL/4, 100*time.Millisecond))
	defer prune.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-m.changed:
		case <-prune.C:
		}
		for _, ev := range m.diff(reported) {
			if m.cfg.OnChange != nil {
				m.cfg.OnChange(ev)
				m.events.Add(1)
			}
			select {
			case <-m.stop:
				return
			default:
			}
		}
	}
}

// diff drops expired members from the table and returns the events that
// bring reported up to date with it, sorted by member ID.
func (m *Membership) diff(reported map[string]told) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var evs []Event
	for id, e := range m.members {
		if m.expired(e, now) {
			delete(m.members, id) // not live: the snapshot stays valid
			continue
		}
		cur := e.member
		prev, seen := reported[id]
		reported[id] = told{cur, e.gen}
		if ev, ok := change(prev, seen, cur, e.gen); ok {
			evs = append(evs, Event{Kind: ev, Member: cur})
		}
	}
	for id := range reported {
		if _, ok := m.members[id]; !ok {
			// Expired: it was reported dead or left already (or
			// never reported at all).
			delete(reported, id)
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Member.ID, b.Member.ID) })
	return evs
}

// change returns the event that takes a member from prev (when seen) to
// cur of join generation gen. Per member the events run Join, Update...,
// Leave or Fail, Join again...: a member that joined and went while the
// dispatcher was busy is not reported at all, and a Fail is not followed
// by a Leave when a late leaving notice turns Dead into Left.
func change(prev told, seen bool, cur Member, gen uint64) (EventKind, bool) {
	wasLive := seen && prev.member.State.Live()
	switch {
	case cur.State.Live() && (!wasLive || prev.gen != gen):
		return EventJoin, true
	case !cur.State.Live():
		if !wasLive {
			return 0, false
		}
		if cur.State == StateLeft {
			return EventLeave, true
		}
		return EventFail, true
	case prev.member != cur:
		return EventUpdate, true
	}
	return 0, false
}
