package node

import (
	"context"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
)

// Fills are recorded in the index in batches, off the clients' path: a
// group commit writes the small bodies to the log or syncs the filesystem
// for the files (see index.Batch.SyncBodies), and a commit per miss would
// keep the journal busy and stall every file create and rename behind it.
// Until it is recorded, a filled object is served from the table like any
// other (a small body from memory, see unloggedBudget); a crash forgets it
// and the body, which the backend still holds.
const (
	recordMax   = 4096                  // fills waiting to be recorded
	recordBatch = 512                   // most fills per commit
	recordDelay = 20 * time.Millisecond // how long a batch may wait to grow
)

// recordQueue is the fills waiting for the recorder. The recorder is woken
// once per batch, by the fill that starts it, not once per fill: a
// goroutine woken is a futex call, a tenth of a 4 KiB miss's CPU.
type recordQueue struct {
	mu   sync.Mutex
	objs []*object
	wake chan struct{} // buffered: the queue is no longer empty
}

// toRecord hands a filled object to the recorder, or records it at once if
// the recorder is behind. The caller must not hold the object's key lock.
func (n *Node) toRecord(o *object) {
	q := &n.records
	q.mu.Lock()
	if len(q.objs) >= recordMax {
		q.mu.Unlock()
		n.record(n.ctx, []*object{o})
		return
	}
	q.objs = append(q.objs, o)
	first := len(q.objs) == 1
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the queued fills and empties the queue.
func (q *recordQueue) take() []*object {
	q.mu.Lock()
	defer q.mu.Unlock()
	objs := q.objs
	q.objs = nil
	return objs
}

func (n *Node) recordLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.records.wake:
			sleepCtx(n.ctx, recordDelay) // let the batch grow
		case <-n.ctx.Done():
		}
		// On shutdown too: Close waits for what is queued to be recorded.
		objs := n.records.take()
		for len(objs) > 0 {
			k := min(len(objs), recordBatch)
			n.record(context.Background(), objs[:k])
			objs = objs[k:]
		}
		if n.ctx.Err() != nil {
			return
		}
	}
}

// applyFill puts the filled object of entry e in the table in place of
// prev; the recorder is to make journal event kind of it.
func (n *Node) applyFill(prev *object, e *index.Entry, kind journal.Kind, unlogged []byte) *object {
	o := newFrom(prev, e)
	o.fillEvent = kind
	o.unlogged = unlogged
	return n.install(prev, o)
}

// record commits the entries of filled objects whose bodies are still
// current (a put, delete or eviction since then recorded its own entry),
// each with
// the journal event saying that this node holds a copy: a Hold of the
// version the journal knows, or a Cache of the backend's version. A Cache
// that loses to a version the journal knows keeps no body.
func (n *Node) record(ctx context.Context, objs []*object) {
	unlock := n.lockKeys(objs)
	defer unlock()
	var b index.Batch
	var current []*object
	var changes []change
	var standby int64
	for _, fo := range objs {
		// The fill's object may have been replaced since by one of the
		// same body (a remote event about the key changed its view): its
		// copy still needs recording, with the view of now.
		o := n.lookup(fo.e.Bucket, fo.e.Key)
		if o == nil || o.e.Gen != fo.e.Gen || !o.hasBody() {
			continue
		}
		if v := o.e.View(); o != fo && v.Holds(n.id) && o.unlogged == nil {
			continue
		}
		e := o.e
		if fo.fillEvent == journal.Cache {
			n.localEvent(&b, o, &e, journal.Cache, journal.Version{})
			if v := e.View(); !v.Holds(n.id) {
				e.Info, e.State, e.Gen, e.Pack = v.Info, index.Evicted, "", index.Loc{}
			}
		} else {
			n.localEvent(&b, o, &e, journal.Hold, o.e.Ver)
		}
		if e.State == index.Dirty {
			// A copy of another node's write-back put, not yet uploaded.
			b.Enqueue(&index.Item{Op: index.OpPut, Bucket: e.Bucket, Key: e.Key, Gen: e.Gen, Enqueued: time.Now().UTC(), Standby: true})
			standby++
		}
		bodyWith(&b, o, &e)
		b.Put(e)
		current = append(current, o)
		changes = append(changes, change{o, &e})
	}
	if err := n.publish(ctx, &b, changes...); err != nil {
		// The index does not hold them: forget them here too, as a restart
		// would (their bodies are removed; the backend has them).
		n.log.Warn("record fetched objects", "objects", len(current), "err", err)
		for _, o := range current {
			n.apply(o, nil)
		}
		return
	}
	if standby > 0 {
		n.up.added(standby)
	}
}

// unrecorded reports whether o is a fill the recorder has not recorded:
// an entry naming its body must carry it (bodyWith).
func (o *object) unrecorded() bool { return o.fillEvent != 0 || o.unlogged != nil }

// bodyWith makes the body of o, a fill, durable with b, which puts e, an
// entry naming it: a small body in memory goes into the log with b (e's
// Pack is set by the commit), a file is synced before b commits. An index
// entry never names a body that a crash could lose.
func bodyWith(b *index.Batch, o *object, e *index.Entry) {
	switch {
	case !(e.State == index.Clean || e.State == index.Dirty) || !e.Pack.IsZero():
	case o.unlogged != nil:
		e.Pack = index.PendingLoc
		b.Body(e.Bucket, e.Key, e.Gen, o.unlogged)
	default:
		b.SyncBodies()
	}
}
