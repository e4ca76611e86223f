package membership

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Reconnection. memberlist stops gossiping to a member it declared dead
// after GossipToTheDeadTime, and its probes and state exchanges skip dead
// members: two sides of a partition that lasted longer never talk again,
// each believing the other dead. So, as serf does, a node keeps the
// addresses of failed members (not of those that left) for
// reconnectTimeout and every reconnectInterval joins one of them, chosen
// at random; a node that sees nobody else alive also retries its seeds.
// A successful join exchanges full state, and both sides come back alive.
const (
	reconnectTimeout = 24 * time.Hour
	reconnectLAN     = 10 * time.Second
	reconnectFast    = 500 * time.Millisecond
)

// failedMember is the last address of a member declared dead.
type failedMember struct {
	addr  string
	since time.Time
}

// noteFailedLocked records (state Dead) or forgets (any other state) e as
// failed. m.mu is held.
func (m *Membership) noteFailedLocked(e *entry) {
	if e.member.Self {
		return
	}
	if e.member.State == StateDead && e.member.Addr != "" {
		m.failed[e.member.ID] = failedMember{addr: e.member.Addr, since: time.Now()}
		return
	}
	delete(m.failed, e.member.ID)
}

// reconnectLoop runs until Close.
func (m *Membership) reconnectLoop(every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		var targets []string
		m.mu.Lock()
		now := time.Now()
		var addrs []string
		for id, f := range m.failed {
			if now.Sub(f.since) > reconnectTimeout {
				delete(m.failed, id)
				continue
			}
			addrs = append(addrs, f.addr)
		}
		m.mu.Unlock()
		if len(addrs) > 0 {
			targets = append(targets, addrs[rand.IntN(len(addrs))])
		}
		if len(m.LiveIDs()) <= 1 && len(m.cfg.Join) > 0 {
			targets = append(targets, m.cfg.Join...)
		}
		if len(targets) == 0 {
			continue
		}
		// A Join may overlap Close's Shutdown, as memberlist's own state
		// exchanges do; it then fails and nothing is lost.
		select {
		case <-m.stopJoin:
			return
		default:
		}
		m.reconnects.Add(1)
		if n, err := m.ml.Join(slices.Compact(targets)); n > 0 {
			m.log.Info("reconnected to failed members", "targets", targets, "reached", n)
		} else {
			m.log.Debug("reconnect", "targets", targets, "err", flatten(err))
		}
	}
}
