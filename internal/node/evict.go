package node

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
)

// Disk use counts the logical size of bodies, not filesystem blocks.

// reserve promises size bytes to a write, evicting clean objects first if
// the cache would go over capacity. It fails with core.ErrInsufficientStorage
// when eviction cannot make the room.
func (n *Node) reserve(size int64) error {
	capacity := n.cfg.Capacity
	if size > capacity {
		return fmt.Errorf("%w (object of %d bytes, capacity %d)", core.ErrInsufficientStorage, size, capacity)
	}
	if n.used.Load()+n.reserved.Add(size) <= capacity {
		return nil
	}
	// Make room down to the low watermark, or further if this write needs it.
	target := min(int64(float64(capacity)*n.cfg.LowWater), capacity-size)
	n.evict(n.ctx, target)
	if n.used.Load()+n.reserved.Load() <= capacity {
		return nil
	}
	n.reserved.Add(-size)
	return fmt.Errorf("%w (%d bytes used of %d)", core.ErrInsufficientStorage, n.used.Load(), capacity)
}

func (n *Node) kickEvict() {
	select {
	case n.evictC <- struct{}{}:
	default:
	}
}

func (n *Node) kickEvictIfHigh() {
	if float64(n.used.Load()) > float64(n.cfg.Capacity)*n.cfg.HighWater {
		n.kickEvict()
	}
}

func (n *Node) evictLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.evictC:
		}
		if float64(n.used.Load()) > float64(n.cfg.Capacity)*n.cfg.HighWater {
			n.evict(n.ctx, int64(float64(n.cfg.Capacity)*n.cfg.LowWater))
		}
	}
}

// evict removes least-recently-used clean bodies until disk use plus
// reservations is at most target. Dirty and level-0 objects are never
// evicted; an evicted object keeps its metadata in the index, so it is still
// known and is fetched again from the backend when read.
func (n *Node) evict(ctx context.Context, target int64) {
	n.evictMu.Lock()
	defer n.evictMu.Unlock()
	if n.used.Load()+n.reserved.Load() <= target {
		return
	}
	type cand struct {
		o     *object
		atime int64
		place bool // this node is among the object's placement
	}
	var cands []cand
	n.mu.RLock()
	for _, o := range n.objects {
		if o.e.State == index.Clean && o.e.Level >= core.LevelBackend {
			cands = append(cands, cand{o: o, atime: o.atime.Load()})
		}
	}
	n.mu.RUnlock()
	// In a cluster, copies kept beyond the object's placement (read from
	// a peer, or left by a membership change) go first: the cluster then
	// keeps its Replicas copies of each object longer, and holds more
	// distinct objects in all.
	if n.cfg.Cluster != nil {
		for i := range cands {
			c := &cands[i]
			c.place = slices.ContainsFunc(n.placement(c.o.e.Bucket, c.o.e.Key, c.o.e.Level), func(m Member) bool { return m.ID == n.id })
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].place != cands[j].place {
			return !cands[i].place
		}
		return cands[i].atime < cands[j].atime
	})

	const batch = 256
	for i := 0; i < len(cands) && n.used.Load()+n.reserved.Load() > target; i += batch {
		var objs []*object
		over := n.used.Load() + n.reserved.Load() - target
		for _, c := range cands[i:min(i+batch, len(cands))] {
			if over <= 0 {
				break
			}
			objs = append(objs, c.o)
			over -= c.o.e.Size
		}
		if err := n.evictBatch(ctx, objs); err != nil {
			n.log.Warn("evict", "err", err)
			return
		}
	}
}

// evictBatch drops the bodies of objs, in one index commit, except those
// that changed since they were chosen.
func (n *Node) evictBatch(ctx context.Context, objs []*object) error {
	unlock := n.lockKeys(objs)
	defer unlock()
	var b index.Batch
	var changes []change
	var bytes uint64
	for _, chosen := range objs {
		// The object may have been replaced since it was chosen by one of
		// the same body (a journal event changed only its holders): evict
		// that one; a new body or state is left alone.
		o := n.lookup(chosen.e.Bucket, chosen.e.Key)
		if o == nil || o.e.Gen != chosen.e.Gen || o.e.State != index.Clean {
			continue
		}
		e := o.e
		e.State, e.Gen, e.Pack = index.Evicted, "", index.Loc{}
		e.Atime = timeFromNanos(o.atime.Load())
		n.localEvent(&b, o, &e, journal.Drop, o.e.Ver)
		b.Put(e)
		changes = append(changes, change{o, &e})
		bytes += uint64(o.e.Size)
	}
	if err := n.publish(ctx, &b, changes...); err != nil {
		return err
	}
	n.stats.evictions.Add(uint64(len(changes)))
	n.stats.evictedBytes.Add(bytes)
	return nil
}
