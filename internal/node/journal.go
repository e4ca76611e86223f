package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
)

// Every change of what the node knows of a key is a journal event, stored
// in the index in the same commit as the key's entry, which records the
// key's merged journal.View: what this node made (put, delete, hold, drop,
// cache) and what it received from its peers. The node pushes its own new
// events to every live peer as soon as they are committed (batched: the
// pusher sends whatever accumulated while it was busy) and pulls what it
// lacks from a random peer every SyncInterval, by version vector; so a
// round with nothing new costs a few bytes whatever the number of objects.
//
// Events a view no longer needs (a put superseded by a later one, a
// holding replaced) are forgotten in the commit that supersedes them, so
// the journal holds about one event per key and copy. Tombstones are
// forgotten after TombstoneHorizon; the floor records it, and a peer
// whose vector is below the floor gets a snapshot instead of a delta so
// that it cannot resurrect what was deleted.

const (
	applyBatch   = 512     // remote events per commit
	deltaPage    = 1024    // events read per read transaction of a delta
	pushMaxBytes = 1 << 20 // larger backlogs are left to anti-entropy
	pushTimeout  = 2 * time.Second
	syncTimeout  = 30 * time.Second
)

// localEvent makes this node's event of kind about e's key, applies it to
// the view of old (nil: none), records the new view in e, and adds the
// event, and the forgetting of the events the view no longer needs, to b.
// ver is the version a Hold or Drop refers to. The caller holds the key's
// lock and publishes b with the change old → e.
func (n *Node) localEvent(b *index.Batch, old *object, e *index.Entry, kind journal.Kind, ver journal.Version) *journal.Event {
	ev := &journal.Event{Origin: n.id, Seq: index.Pending, Time: n.clock.Now(), Kind: kind, Bucket: e.Bucket, Key: e.Key, Ver: ver}
	if kind == journal.Put || kind == journal.Cache {
		ev.Info = e.Info
	}
	var v journal.View
	if old != nil {
		v = old.e.View()
	}
	prev := v.Refs()
	v.Apply(ev)
	v.Prune()
	e.SetView(&v)
	b.Append(ev)
	forgetUnneeded(b, prev, &v)
	return ev
}

// forgetUnneeded adds to b the forgetting of the events of prev that v no
// longer needs.
func forgetUnneeded(b *index.Batch, prev []journal.Ref, v *journal.View) {
	if len(prev) == 0 {
		return
	}
	keep := v.Refs()
	for _, r := range prev {
		if r.Seq != index.Pending && !slices.Contains(keep, r) {
			b.Forget(r.Origin, r.Seq)
		}
	}
}

// Receive applies a stream of journal events sent by peer from (a push,
// or the answer to a sync). An origin whose events start after a gap in
// what this node has is skipped, and a sync with from is started to fill
// it. It implements peer.Journal.
func (n *Node) Receive(ctx context.Context, from string, sr *journal.StreamReader) error {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.stats.journalReceived.Add(1)
	vec := n.db.Vector()
	accept := make(map[string]bool)
	var seen map[journal.Ref]bool // snapshot: every event it named
	if sr.Snapshot() {
		seen = make(map[journal.Ref]bool)
	}
	upto := journal.Vector{}
	var pending []*journal.Event
	advance := journal.Vector{}
	gap := false
	flush := func() error {
		if len(pending) == 0 && len(advance) == 0 {
			return nil
		}
		err := n.applyRemote(ctx, pending, advance)
		pending, advance = pending[:0], journal.Vector{}
		return err
	}
	for {
		var f journal.Frame
		err := sr.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fmt.Errorf("receive from %s: %w", from, err)
		}
		switch f.Kind {
		case journal.FrameOrigin:
			ok := f.Origin != n.id && (sr.Snapshot() || f.Seq <= vec[f.Origin])
			accept[f.Origin] = ok
			gap = gap || !ok && f.Origin != n.id
		case journal.FrameEvent:
			if seen != nil {
				seen[journal.Ref{Origin: f.Origin, Seq: f.Seq}] = true
			}
			if !accept[f.Origin] || f.Seq <= vec[f.Origin] {
				continue
			}
			ev := f.Event
			pending = append(pending, &ev)
			vec[f.Origin] = f.Seq
			if len(pending) >= applyBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		case journal.FrameUpto:
			if accept[f.Origin] {
				upto[f.Origin] = f.Seq
				if f.Seq > vec[f.Origin] {
					vec[f.Origin] = f.Seq
					advance[f.Origin] = f.Seq
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if seen != nil {
		if err := n.dropCompacted(ctx, upto, seen); err != nil {
			return err
		}
	}
	if gap {
		n.requestSync(from)
	}
	return nil
}

// pendingKey is a key's view while a batch of remote events is applied.
type pendingKey struct {
	bucket, key string
	old         *object
	v           journal.View
	prev        []journal.Ref
}

// applyRemote applies other nodes' events (each origin's in Seq order,
// each after the last this node has of its origin) and raises the vector
// by advance, in one commit.
func (n *Node) applyRemote(ctx context.Context, events []*journal.Event, advance journal.Vector) error {
	stripes := make([]int, 0, len(events))
	for _, ev := range events {
		stripes = append(stripes, n.stripe(ev.Bucket, ev.Key))
	}
	unlock := n.lockStripes(stripes)
	defer unlock()

	var b index.Batch
	keys := make(map[string]*pendingKey)
	var order []string
	for _, ev := range events {
		n.clock.Observe(ev.Time)
		k := tableKey(ev.Bucket, ev.Key)
		p := keys[k]
		if p == nil {
			p = &pendingKey{bucket: ev.Bucket, key: ev.Key, old: n.lookup(ev.Bucket, ev.Key)}
			if p.old != nil {
				p.v = p.old.e.View()
			}
			p.prev = p.v.Refs()
			keys[k] = p
			order = append(order, k)
		}
		p.v.Apply(ev)
		if p.v.Needs(ev) {
			b.Append(ev)
		} else {
			b.Advance(ev.Origin, ev.Seq)
		}
	}
	for o, s := range advance {
		b.Advance(o, s)
	}
	changes := make([]change, 0, len(order))
	var repairs int64
	for _, k := range order {
		p := keys[k]
		p.v.Prune()
		forgetUnneeded(&b, p.prev, &p.v)
		e, fill := entryFor(p.bucket, p.key, p.old, &p.v)
		if fill || p.old != nil && p.old.unrecorded() && e.Gen == p.old.e.Gen {
			// The entry names a body only the recorder would have made
			// durable (a fill of the backend's object, or a copy of a
			// version the journal knows, fetched from a peer, which news
			// of that version keeps): make it durable with this commit.
			bodyWith(&b, p.old, &e)
		}
		if p.v.Deleted && p.old != nil && p.old.e.State != index.Deleted && p.old.e.Made.Origin == n.id && p.old.e.Level >= core.LevelBackend {
			// A delete won over this node's own put, which may have
			// reached the backend after the delete did: delete it there
			// (again), so that the backend agrees with the journal.
			b.Enqueue(&index.Item{Op: index.OpDelete, Bucket: e.Bucket, Key: e.Key, Enqueued: time.Now().UTC()})
			repairs++
		} else if !p.v.Deleted && p.old != nil && p.old.e.State != index.Deleted && p.old.e.Made.Origin == n.id &&
			p.old.e.Level >= core.LevelBackend && p.v.Ver != p.old.e.Ver && p.v.Info.Level >= core.LevelBackend {
			// Another node's put won over this node's own, whose upload
			// may reach the backend after that put's: make sure the winner
			// is there once this node's uploads of the key are done.
			b.Enqueue(&index.Item{Op: index.OpSync, Bucket: e.Bucket, Key: e.Key, Enqueued: time.Now().UTC()})
			repairs++
		}
		b.Put(e)
		changes = append(changes, change{p.old, &e})
	}
	if err := n.publish(ctx, &b, changes...); err != nil {
		return fmt.Errorf("apply journal events: %w", err)
	}
	if repairs > 0 {
		n.up.added(repairs)
	}
	n.stats.eventsApplied.Add(uint64(len(events)))
	for _, c := range changes {
		if o := n.lookup(c.e.Bucket, c.e.Key); o != nil && n.wantsCopy(o) {
			n.repl.add(o)
		}
	}
	return nil
}

// entryFor returns the entry of a key whose view became v, old being its
// object before (nil if none). A body of another version than v's is
// dropped; a deleted key keeps a tombstone.
func entryFor(bucket, key string, old *object, v *journal.View) (e index.Entry, fill bool) {
	if old != nil {
		e = old.e
	}
	now := time.Now().UTC()
	if old != nil && old.hasBody() && old.e.Ver.IsZero() && !v.Deleted && v.Ver == cacheVersion(old.e.Info) {
		// A fill the recorder has not recorded yet (so of no version
		// yet) of the very backend object v's version is: keep it.
		e.SetView(v)
		return e, true
	}
	switch {
	case v.Deleted:
		e = index.Entry{Info: core.Info{Bucket: bucket, Key: key, ModTime: v.Ver.Time.Time().UTC()}, State: index.Deleted, Atime: now}
	case old == nil || old.e.Ver != v.Ver || old.e.State == index.Deleted:
		e = index.Entry{Info: v.Info, State: index.Evicted, Atime: now}
	}
	e.Bucket, e.Key = bucket, key
	e.SetView(v)
	return e, false
}

// cacheVersion is the version a Cache event of info makes: the backend
// object's.
func cacheVersion(info core.Info) journal.Version {
	ev := journal.Event{Kind: journal.Cache, Info: info}
	return ev.Version()
}

// dropCompacted forgets the keys a snapshot shows were compacted away by
// its sender: their version was made by an event the sender had seen (at
// or below its Upto) yet did not send.
func (n *Node) dropCompacted(ctx context.Context, upto journal.Vector, seen map[journal.Ref]bool) error {
	var gone []*object
	n.mu.RLock()
	for _, o := range n.objects {
		m := o.e.Made
		if m.Seq != 0 && m.Origin != n.id && m.Seq <= upto[m.Origin] && !seen[m] {
			gone = append(gone, o)
		}
	}
	n.mu.RUnlock()
	for i := 0; i < len(gone); i += applyBatch {
		if err := n.forgetKeys(ctx, gone[i:min(i+applyBatch, len(gone))]); err != nil {
			return err
		}
	}
	return nil
}

// forgetKeys removes objs from the index and the table with every event
// their views need (compaction of tombstones, or keys a snapshot dropped).
func (n *Node) forgetKeys(ctx context.Context, objs []*object) error {
	unlock := n.lockKeys(objs)
	defer unlock()
	var b index.Batch
	var changes []change
	for _, o := range objs {
		if n.lookup(o.e.Bucket, o.e.Key) != o {
			continue
		}
		v := o.e.View()
		for _, r := range v.Refs() {
			b.Forget(r.Origin, r.Seq)
		}
		b.Delete(o.e.Bucket, o.e.Key)
		changes = append(changes, change{o, nil})
	}
	return n.publish(ctx, &b, changes...)
}

// compactTombstones forgets the tombstones older than TombstoneHorizon and
// raises the floor past them.
func (n *Node) compactTombstones(ctx context.Context) error {
	cutoff := journal.MakeTimestamp(time.Now().Add(-n.cfg.TombstoneHorizon))
	var old []*object
	n.mu.RLock()
	for _, o := range n.objects {
		if o.e.State == index.Deleted && o.e.Ver.Time < cutoff && o.e.Made.Seq != 0 {
			old = append(old, o)
		}
	}
	n.mu.RUnlock()
	for i := 0; i < len(old); i += applyBatch {
		objs := old[i:min(i+applyBatch, len(old))]
		// The floor first: a peer must never get a delta that lacks a
		// tombstone without knowing it needs a snapshot.
		var fb index.Batch
		for _, o := range objs {
			fb.RaiseFloor(o.e.Made.Origin, o.e.Made.Seq)
		}
		if err := n.db.Commit(ctx, &fb); err != nil {
			return err
		}
		if err := n.forgetKeys(ctx, objs); err != nil {
			return err
		}
		n.stats.tombstonesCompacted.Add(uint64(len(objs)))
	}
	return nil
}

// Delta writes the events a node whose vector is v lacks: for each origin
// the stored events after v's, then its Upto. When v is below the floor
// of some origin (the node missed a tombstone compacted since), it writes
// a snapshot: every stored event. It implements peer.Journal.
func (n *Node) Delta(ctx context.Context, v journal.Vector, w io.Writer) error {
	vec, floor := n.db.Vector(), n.db.Floor()
	snapshot := false
	for o, f := range floor {
		if v[o] < f {
			snapshot = true
		}
	}
	origins := make([]string, 0, len(vec))
	for o := range vec {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	sw := journal.NewStreamWriter(w, snapshot)
	for _, o := range origins {
		after, top := v[o], vec[o]
		if snapshot {
			after = 0
		}
		if after >= top {
			continue
		}
		if err := sw.Origin(o, after); err != nil {
			return err
		}
		// Pages, each read in its own short read transaction and written
		// after it ended: a transaction held open while the peer is slow
		// to read would keep this node's index from growing its map, and
		// two nodes syncing from each other could then wait on each
		// other for ever.
		page := make([]*journal.Event, 0, deltaPage)
		for from := after; from < top; {
			page = page[:0]
			err := n.db.Events(o, from, func(e *journal.Event) bool {
				if e.Seq > top {
					return false
				}
				page = append(page, e)
				return len(page) < deltaPage
			})
			if err != nil {
				return err
			}
			for _, e := range page {
				if err := sw.Event(e); err != nil {
					return err
				}
			}
			if len(page) < deltaPage {
				break
			}
			from = page[len(page)-1].Seq
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := sw.Upto(o, top); err != nil {
			return err
		}
	}
	n.stats.deltasServed.Add(1)
	return sw.Close()
}

func (n *Node) kickPush() {
	select {
	case n.pushC <- struct{}{}:
	default:
	}
}

// pushLoop sends this node's new events to every live peer.
func (n *Node) pushLoop() {
	defer n.wg.Done()
	pushed := n.db.Vector()[n.id]
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.pushC:
		}
		top := n.db.Vector()[n.id]
		if top <= pushed {
			continue
		}
		others, _ := n.peers()
		if len(others) == 0 {
			pushed = top
			continue
		}
		var buf bytes.Buffer
		sw := journal.NewStreamWriter(&buf, false)
		sw.Origin(n.id, pushed)
		last := pushed
		err := n.db.Events(n.id, pushed, func(e *journal.Event) bool {
			if e.Seq > top || buf.Len() > pushMaxBytes {
				return false
			}
			sw.Event(e)
			last = e.Seq
			return true
		})
		if err != nil {
			n.log.Warn("read journal to push", "err", err)
			continue
		}
		if buf.Len() <= pushMaxBytes {
			last = top
		}
		sw.Upto(n.id, last)
		sw.Close()
		stream := buf.Bytes()
		var wg sync.WaitGroup
		for _, m := range others {
			wg.Add(1)
			go func(m Member) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(n.ctx, pushTimeout)
				defer cancel()
				if err := n.cfg.Peers.Push(ctx, m.PeerAddr, stream); err != nil {
					n.stats.pushFailures.Add(1)
					n.log.Debug("push journal events", "peer", m.ID, "err", err)
					return
				}
				n.stats.eventsPushed.Add(uint64(last - pushed))
				n.stats.pushBytes.Add(uint64(len(stream)))
			}(m)
		}
		wg.Wait()
		pushed = last
		if last < top {
			n.kickPush()
		}
	}
}

// requestSync asks the sync loop to pull from peer id soon.
func (n *Node) requestSync(id string) {
	select {
	case n.syncC <- id:
	default:
	}
}

// syncLoop pulls what this node lacks from a random live peer every
// SyncInterval (anti-entropy), and from a given peer when a push showed a
// gap.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.SyncInterval)
	defer t.Stop()
	compact := time.NewTicker(n.cfg.CompactInterval)
	defer compact.Stop()
	n.syncOnce("") // catch up at start
	for {
		select {
		case <-n.ctx.Done():
			return
		case id := <-n.syncC:
			n.syncOnce(id)
		case <-t.C:
			n.syncOnce("")
		case <-compact.C:
			if err := n.compactTombstones(n.ctx); err != nil {
				n.log.Warn("compact tombstones", "err", err)
			}
		}
	}
}

// syncOnce pulls from peer id, or a random live peer when id is empty. A
// node alone in its cluster (its membership lists it, and no other) has
// caught up by definition; one whose membership lists nobody yet has not
// joined.
func (n *Node) syncOnce(id string) {
	others, _ := n.peers()
	if len(others) == 0 {
		if slices.ContainsFunc(n.cfg.Cluster.Live(), func(m Member) bool { return m.ID == n.id }) {
			n.caughtUp.Store(true)
		}
		return
	}
	m := others[rand.IntN(len(others))]
	for _, o := range others {
		if o.ID == id {
			m = o
		}
	}
	if err := n.SyncWith(n.ctx, m); err != nil {
		n.log.Debug("anti-entropy", "peer", m.ID, "err", err)
		return
	}
	n.caughtUp.Store(true)
}

// SyncWith pulls from m the events this node lacks and applies them.
func (n *Node) SyncWith(ctx context.Context, m Member) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	n.stats.syncRounds.Add(1)
	rc, err := n.cfg.Peers.Sync(ctx, m.PeerAddr, n.db.Vector())
	if err != nil {
		return err
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	defer func() { n.stats.syncBytes.Add(uint64(cr.n)) }()
	sr, err := journal.NewStreamReader(cr)
	if err != nil {
		return err
	}
	return n.Receive(ctx, m.ID, sr)
}

// CaughtUp reports whether the node has synchronised its journal with a
// peer since it started (or has no peers): until then it is not ready to
// serve its peers, though it serves clients.
func (n *Node) CaughtUp() bool { return n.caughtUp.Load() }

// Vector returns the node's journal version vector.
func (n *Node) Vector() journal.Vector { return n.db.Vector() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
