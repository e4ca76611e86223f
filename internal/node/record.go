package node

import (
	"context"
	"time"

	"github.com/objstore/objstore/internal/index"
)

// Fills are recorded in the index in batches, off the clients' path: each
// group commit syncs the filesystem (see index.Options.SyncBodies), and a
// commit per miss would keep the journal busy and stall every file create
// and rename behind it. Until it is recorded, a filled object is served
// from the table like any other; a crash forgets it and the body, which the
// backend still holds.
const (
	recordQueue = 4096                  // fills waiting to be recorded
	recordBatch = 512                   // most fills per commit
	recordDelay = 20 * time.Millisecond // how long a batch may wait to grow
)

// toRecord hands a filled object to the recorder, or records it at once if
// the recorder is behind. The caller must not hold the object's key lock.
func (n *Node) toRecord(o *object) {
	select {
	case n.records <- o:
	default:
		n.record(n.ctx, []*object{o})
	}
}

func (n *Node) recordLoop() {
	defer n.wg.Done()
	batch := make([]*object, 0, recordBatch)
	for {
		select {
		case o := <-n.records:
			batch = append(batch[:0], o)
		case <-n.ctx.Done():
			// Record what is queued: Close waits for it.
			for {
				select {
				case o := <-n.records:
					n.record(context.Background(), []*object{o})
				default:
					return
				}
			}
		}
		deadline := time.NewTimer(recordDelay)
	more:
		for len(batch) < recordBatch {
			select {
			case o := <-n.records:
				batch = append(batch, o)
			case <-deadline.C:
				break more
			case <-n.ctx.Done():
				break more
			}
		}
		deadline.Stop()
		n.record(context.Background(), batch)
	}
}

// record commits the entries of filled objects that are still current (a
// put, delete or eviction since then recorded its own entry).
func (n *Node) record(ctx context.Context, objs []*object) {
	unlock := n.lockKeys(objs)
	defer unlock()
	var b index.Batch
	b.SyncBodies()
	var current []*object
	for _, o := range objs {
		if n.lookup(o.e.Bucket, o.e.Key) == o {
			b.Put(o.e)
			current = append(current, o)
		}
	}
	if err := n.db.Commit(ctx, &b); err != nil {
		// The index does not hold them: forget them here too, as a restart
		// would (their bodies are removed; the backend has them).
		n.log.Warn("record fetched objects", "objects", len(current), "err", err)
		for _, o := range current {
			n.apply(o, nil)
		}
	}
}
