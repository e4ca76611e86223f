package node

import (
	"context"
	"time"

	"github.com/objstore/objstore/internal/index"
)

// Access times live in memory: a hit writes nothing to the index. They are
// persisted in batches every Config.AtimeFlush and at Close, so that a
// restarted node evicts in nearly the same order.

// touch records an access to o. It skips the store when the recorded time is
// less than a second old, so that hot objects do not bounce a cache line
// between cores on every hit.
func touch(o *object) {
	now := time.Now().UnixNano()
	if now-o.atime.Load() > int64(time.Second) {
		o.atime.Store(now)
	}
}

func timeFromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func (n *Node) atimeLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.AtimeFlush)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.flushAtimes(n.ctx)
		}
	}
}

// flushAtimes persists the access times that changed since the last flush.
func (n *Node) flushAtimes(ctx context.Context) {
	var dirty []*object
	n.mu.RLock()
	for _, o := range n.objects {
		if o.hasBody() && o.atime.Load() != o.saved {
			dirty = append(dirty, o)
		}
	}
	n.mu.RUnlock()
	const batch = 1024
	for i := 0; i < len(dirty); i += batch {
		objs := dirty[i:min(i+batch, len(dirty))]
		unlock := n.lockKeys(objs)
		var b index.Batch
		b.SyncBodies() // a fill not yet recorded may be among them
		for _, o := range objs {
			if n.lookup(o.e.Bucket, o.e.Key) != o || o.unlogged != nil {
				// Replaced; or a small fill whose body only the recorder
				// writes (its access time is saved after it does).
				continue
			}
			e := o.e
			at := o.atime.Load()
			e.Atime = timeFromNanos(at)
			e.Validated = timeFromNanos(o.valid.Load())
			b.Put(e)
			o.saved = at
		}
		err := n.db.Commit(ctx, &b)
		unlock()
		if err != nil {
			n.log.Warn("persist access times", "err", err)
			return
		}
	}
}
