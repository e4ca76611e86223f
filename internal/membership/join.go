package membership

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// Join backoff: the first retry after joinBackoffMin, doubling up to
// joinBackoffMax, each wait jittered by ±20% so nodes started together
// do not retry in step.
const (
	joinBackoffMin = 100 * time.Millisecond
	joinBackoffMax = 5 * time.Second
)

func (m *Membership) stopJoining() {
	m.stopOnce.Do(func() { close(m.stopJoin) })
}

// joinLoop joins the cluster of seeds, retrying until this node shares
// state with another member, ctx is done, or Leave or Close stops it.
// memberlist's Join takes no context: an attempt in flight ends within
// its TCP timeout per seed address.
func (m *Membership) joinLoop(ctx context.Context, seeds []string) {
	defer m.wg.Done()
	defer close(m.joinDone)
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		// Joined by someone else meanwhile (or an earlier attempt
		// reached only this node's own address).
		if m.ml.NumMembers() > 1 {
			m.markJoined()
			m.log.Info("joined the cluster", "members", m.ml.NumMembers())
			return
		}
		m.joinAttempts.Add(1)
		n, err := m.ml.Join(seeds)
		if n > 0 && m.ml.NumMembers() > 1 {
			m.markJoined()
			m.log.Info("joined the cluster", "seeds_reached", n, "members", m.ml.NumMembers())
			return
		}
		wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		// A node whose seeds are not up yet retries forever: say so
		// at the first attempt and every tenth, not every 5 s.
		level := slog.LevelDebug
		if attempt == 1 || attempt%10 == 0 {
			level = slog.LevelWarn
		}
		msg := "join failed; retrying"
		if err == nil {
			msg = "seeds reached only this node; retrying"
		}
		m.log.Log(ctx, level, msg, "seeds", seeds, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", flatten(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-m.peerSeen:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			m.log.Warn("join abandoned: context done", "err", ctx.Err())
			return
		case <-m.stopJoin:
			t.Stop()
			return
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// flatten renders memberlist's multi-errors (one per seed address, as
// go-multierror's list over several lines) on one line.
func flatten(err error) string {
	if err == nil {
		return ""
	}
	if me, ok := err.(interface{ WrappedErrors() []error }); ok {
		msgs := make([]string, 0, len(me.WrappedErrors()))
		for _, e := range me.WrappedErrors() {
			msgs = append(msgs, e.Error())
		}
		return strings.Join(msgs, "; ")
	}
	return err.Error()
}
