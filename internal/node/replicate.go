package node

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"sync"
	"time"
)

// Copies are made by pulling: a node that learns (from the journal) of an
// object it should hold, or finds after a membership change that it now
// should, queues it, and a worker reads it as a client would, from a live
// holder (or, failing that, through the owner or from the backend),
// keeping the copy; the fill records the Hold. One worker, throttled to
// RepairRate, so that serving comes first.

const replQueue = 8192 // objects waiting for a copy; more are found by the next repair scan

type replicator struct {
	n     *Node
	queue chan string // table keys
	mu    sync.Mutex
	set   map[string]bool // queued
}

func newReplicator(n *Node) *replicator {
	return &replicator{n: n, queue: make(chan string, replQueue), set: make(map[string]bool)}
}

func (r *replicator) length() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.set))
}

// add queues o for a copy, unless it is queued already or the queue is
// full (then the next repair scan finds it again).
func (r *replicator) add(o *object) {
	k := tableKey(o.e.Bucket, o.e.Key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set[k] {
		return
	}
	select {
	case r.queue <- k:
		r.set[k] = true
	default:
		r.n.stats.replicationDropped.Add(1)
	}
}

func (r *replicator) run() {
	n := r.n
	defer n.wg.Done()
	for {
		var k string
		select {
		case <-n.ctx.Done():
			return
		case k = <-r.queue:
		}
		r.mu.Lock()
		delete(r.set, k)
		r.mu.Unlock()
		n.mu.RLock()
		o := n.objects[k]
		n.mu.RUnlock()
		if !n.wantsCopy(o) {
			continue
		}
		start := time.Now()
		if err := n.copyOf(n.ctx, o); err != nil {
			n.stats.replicationFailed.Add(1)
			n.log.Debug("replicate", "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
			continue
		}
		n.stats.replicated.Add(1)
		// Throttle: the copy should have taken size/RepairRate.
		if d := time.Duration(float64(o.e.Size) / float64(n.cfg.RepairRate) * float64(time.Second)); d > time.Since(start) {
			sleepCtx(n.ctx, d-time.Since(start))
		}
	}
}

// copyOf makes this node's copy of o.
func (n *Node) copyOf(ctx context.Context, o *object) error {
	obj, err := n.fetch(ctx, o.e.Bucket, o.e.Key, o, fetchOpts{replicate: true})
	if errors.Is(err, errKeyChanged) {
		return nil // cached meanwhile, or deleted: nothing to copy
	}
	if err != nil {
		return err
	}
	defer obj.Close()
	_, err = io.Copy(io.Discard, obj.Content)
	return err
}

// repairLoop scans for objects this node should hold a copy of once
// membership has been stable for RepairGrace after a change, and once at
// start when the journal has caught up.
func (n *Node) repairLoop() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last []string // live member IDs at the last scan
	var seen []string // live member IDs at the last tick
	changed := time.Time{}
	scanned := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		live := n.liveIDs()
		if !slices.Equal(live, seen) {
			seen, changed = live, time.Now()
		}
		due := !scanned && n.CaughtUp() || scanned && !slices.Equal(seen, last) && time.Since(changed) >= n.cfg.RepairGrace
		if !due {
			continue
		}
		scanned, last = true, seen
		n.repairScan()
	}
}

func (n *Node) liveIDs() []string {
	all := n.cfg.Cluster.Live()
	ids := make([]string, len(all))
	for i, m := range all {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	return ids
}

// repairScan queues every object this node should hold and does not.
func (n *Node) repairScan() {
	var want []*object
	n.mu.RLock()
	for _, o := range n.objects {
		if !o.hasBody() {
			want = append(want, o)
		}
	}
	n.mu.RUnlock()
	for _, o := range want {
		if n.wantsCopy(o) {
			n.repl.add(o)
		}
	}
}
