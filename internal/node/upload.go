package node

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
)

// uploader drains the write-back queue to the backend. A dispatcher reads
// the durable queue in order and hands each item to the worker its key
// hashes to, so the operations on one key reach the backend in the order
// they were acknowledged, while different keys upload in parallel. A failed
// item is retried with exponential back-off and blocks only its worker.
//
// A standby item (a replica of another node's write-back put, uploaded
// only if that node is gone before it did) does not wait in its worker
// while its origin is alive: it is set aside (see later) and handed back
// to the worker when its back-off ends, so that it never holds up this
// node's own uploads. It is not checked at once either: its origin
// acknowledged the put moments ago and has not uploaded it yet, so the
// first check, a backend HEAD, comes after the first back-off.
type uploader struct {
	n       *Node
	length  atomic.Int64 // items in the durable queue
	wake    chan struct{}
	workers []chan index.Item
	seed    maphash.Seed
	wg      sync.WaitGroup

	mu       sync.Mutex
	waiting  waitHeap                 // standby items set aside, soonest first
	delays   map[uint64]time.Duration // by Seq: a waiting item's last back-off
	rewake   chan struct{}            // the soonest waiting item changed
	laterEnd chan struct{}            // closed when laterLoop returns
}

func newUploader(n *Node) *uploader {
	return &uploader{n: n, wake: make(chan struct{}, 1), seed: maphash.MakeSeed(),
		delays: map[uint64]time.Duration{}, rewake: make(chan struct{}, 1), laterEnd: make(chan struct{})}
}

// waitHeap is a min-heap of waiting items by due time.
type waitHeap []waitingItem

type waitingItem struct {
	due time.Time
	it  index.Item
}

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(waitingItem)) }
func (h *waitHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// later sets a standby item aside for its next back-off (RetryMin the first
// time, doubling up to RetryMax), after which laterLoop hands it back to
// its worker.
func (u *uploader) later(it index.Item) {
	u.mu.Lock()
	d := u.delays[it.Seq]
	if d == 0 {
		d = u.n.cfg.RetryMin
	} else {
		d = min(2*d, u.n.cfg.RetryMax)
	}
	u.delays[it.Seq] = d
	heap.Push(&u.waiting, waitingItem{due: time.Now().Add(d), it: it})
	u.mu.Unlock()
	select {
	case u.rewake <- struct{}{}:
	default:
	}
}

// checked reports whether the standby item it has been checked before
// (set aside at least once), and forgets it when done.
func (u *uploader) checked(it index.Item, done bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.delays[it.Seq]
	if done {
		delete(u.delays, it.Seq)
	}
	return ok
}

// laterLoop hands waiting items back to their workers when they are due.
func (u *uploader) laterLoop() {
	defer u.wg.Done()
	defer close(u.laterEnd)
	ctx := u.n.ctx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		u.mu.Lock()
		var due []index.Item
		now := time.Now()
		for len(u.waiting) > 0 && !u.waiting[0].due.After(now) {
			due = append(due, heap.Pop(&u.waiting).(waitingItem).it)
		}
		wait := time.Hour
		if len(u.waiting) > 0 {
			wait = u.waiting[0].due.Sub(now)
		}
		u.mu.Unlock()
		for _, it := range due {
			select {
			case u.workers[u.worker(it)] <- it:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-u.rewake:
		case <-timer.C:
		}
	}
}

// worker is the index of the worker that carries out the items of it's key.
func (u *uploader) worker(it index.Item) int {
	var h maphash.Hash
	h.SetSeed(u.seed)
	h.WriteString(it.Bucket)
	h.WriteByte(0)
	h.WriteString(it.Key)
	return int(h.Sum64() % uint64(len(u.workers)))
}

func (u *uploader) start() error {
	var count int64
	if err := u.n.db.Queue(func(index.Item) bool { count++; return true }); err != nil {
		return err
	}
	u.length.Store(count)
	for i := 0; i < u.n.cfg.UploadWorkers; i++ {
		ch := make(chan index.Item, 64)
		u.workers = append(u.workers, ch)
		u.wg.Add(1)
		go u.work(ch)
	}
	u.wg.Add(2)
	go u.dispatch()
	go u.laterLoop()
	u.added(0)
	return nil
}

// wait returns once the dispatcher and workers stopped (after n.ctx ends).
func (u *uploader) wait() { u.wg.Wait() }

// added tells the uploader that k items were committed to the queue.
func (u *uploader) added(k int64) {
	u.length.Add(k)
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *uploader) dispatch() {
	defer u.wg.Done()
	defer func() {
		<-u.laterEnd // it sends to the workers too
		for _, ch := range u.workers {
			close(ch)
		}
	}()
	ctx := u.n.ctx
	var next uint64 // first sequence not yet dispatched
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		}
		var batch []index.Item
		err := u.n.db.QueueFrom(next, func(it index.Item) bool {
			batch = append(batch, it)
			return len(batch) < 1024
		})
		if err != nil {
			u.n.log.Error("read upload queue", "err", err)
			continue
		}
		for _, it := range batch {
			select {
			case u.workers[u.worker(it)] <- it:
			case <-ctx.Done():
				return
			}
			next = it.Seq + 1
		}
		if len(batch) == 1024 {
			u.added(0) // more to read
		}
	}
}

func (u *uploader) work(items <-chan index.Item) {
	defer u.wg.Done()
	n := u.n
	for it := range items {
		delay := n.cfg.RetryMin
		for {
			err := u.do(n.ctx, it)
			if err == nil {
				if it.Standby {
					u.checked(it, true)
				}
				break
			}
			if n.ctx.Err() != nil {
				return
			}
			if errors.Is(err, errOriginUp) {
				u.later(it)
				break
			}
			n.stats.uploadRetries.Add(1)
			n.log.Warn("write-back upload failed; retrying", "op", it.Op, "bucket", it.Bucket, "key", it.Key, "retry_in", delay, "err", err)
			if !sleepCtx(n.ctx, delay) {
				return
			}
			delay = min(2*delay, n.cfg.RetryMax)
		}
	}
}

// errOriginUp: a standby replica's origin is alive and has not uploaded
// it yet (or was not asked yet); the item is set aside and tried later.
var errOriginUp = errors.New("the node that took the write is up and has not uploaded it yet")

// standby decides about a replica of another node's write-back put: done
// if the backend has it already (its origin uploaded it), errOriginUp
// while the origin is alive, and false (upload it) once the origin is gone.
// The first time (first), with the origin alive, it does not ask the
// backend: the origin has had no time to upload yet.
func (n *Node) standby(ctx context.Context, o *object, first bool) (uploaded bool, err error) {
	originUp := n.cfg.Cluster != nil && slices.Contains(n.liveIDs(), o.e.Made.Origin)
	if first && originUp {
		return false, errOriginUp
	}
	info, err := n.backend.Head(ctx, o.e.Bucket, o.e.Key)
	n.backendCall("head", err)
	switch {
	case err == nil && info.ETag == o.e.ETag && info.Size == o.e.Size:
		return true, nil
	case err != nil && !errors.Is(err, core.ErrNotFound):
		return false, err
	}
	if originUp {
		return false, errOriginUp
	}
	return false, nil
}

// do carries out one queue item and removes it from the queue.
func (u *uploader) do(ctx context.Context, it index.Item) error {
	n := u.n
	var done *object // the dirty object this upload made clean
	switch it.Op {
	case index.OpPut:
		o := n.lookup(it.Bucket, it.Key)
		if o == nil || o.e.Gen != it.Gen {
			// The item is visible from its Put's index commit on, but that
			// Put updates the table only afterwards, under the key's lock:
			// look again once it has, or the item looks superseded.
			mu := n.keyLock(it.Bucket, it.Key)
			mu.Lock()
			o = n.lookup(it.Bucket, it.Key)
			mu.Unlock()
		}
		if o == nil || o.e.Gen != it.Gen || o.e.State != index.Dirty {
			break // superseded by a later put or delete, queued after this one
		}
		if it.Standby {
			uploaded, err := n.standby(ctx, o, !u.checked(it, false))
			if err != nil {
				return err
			}
			if uploaded {
				done = o
				break
			}
		}
		body, release, err := n.openObject(o)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		_, err = n.backend.Put(ctx, it.Bucket, it.Key, body, o.e.Size, o.e.Info)
		release()
		n.backendCall("put", err)
		if err != nil {
			return err
		}
		done = o
	case index.OpSync:
		if err := n.syncBackend(ctx, it.Bucket, it.Key); err != nil {
			return err
		}
	case index.OpDelete:
		err := n.backend.Delete(ctx, it.Bucket, it.Key)
		n.backendCall("delete", err)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
	}

	var b index.Batch
	b.Dequeue(it.Seq)
	mu := n.keyLock(it.Bucket, it.Key)
	mu.Lock()
	defer mu.Unlock()
	var changes []change
	if done != nil && n.lookup(it.Bucket, it.Key) == done {
		e := done.e
		e.State = index.Clean
		e.Validated = time.Now().UTC()
		e.Atime = timeFromNanos(done.atime.Load())
		b.Put(e)
		changes = append(changes, change{done, &e})
	}
	if err := n.publish(ctx, &b, changes...); err != nil {
		return err
	}
	u.length.Add(-1)
	n.stats.uploads.Add(1)
	if done != nil {
		n.kickEvictIfHigh() // the object became evictable
		if !it.Standby && done.e.Made.Origin == n.id {
			n.tellUploaded(done)
		}
	}
	return nil
}

// tellUploaded tells the live nodes that may hold replicas of o, this
// node's write-back put, that o is in the backend, so that they neither ask
// the backend about it (standby) nor keep it from eviction: the holders the
// journal knows of, and the key's placement, whose news of their copies
// may not have arrived yet. It does not wait: a replica that misses the
// news asks the backend at its next check.
func (n *Node) tellUploaded(o *object) {
	holders := n.liveHolders(o)
	for _, m := range n.placement(o.e.Bucket, o.e.Key, o.e.Level) {
		if m.ID != n.id && !slices.ContainsFunc(holders, func(h Member) bool { return h.ID == m.ID }) {
			holders = append(holders, m)
		}
	}
	if len(holders) == 0 {
		return
	}
	// Counted with the uploader's workers, one of which calls this: an
	// Add to n.wg could race Close's Wait, which precedes the uploader's.
	n.up.wg.Add(1)
	go func() {
		defer n.up.wg.Done()
		for _, m := range holders {
			if err := n.cfg.Peers.Uploaded(n.ctx, m.PeerAddr, o.e.Bucket, o.e.Key, o.e.Ver); err != nil && n.ctx.Err() == nil {
				n.log.Debug("tell a replica its object is uploaded", "peer", m.ID, "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
			}
		}
	}()
}

// uploadNews remembers the latest versions origins said they uploaded,
// for copies of them that arrive after the news (bounded: it forgets all
// at uploadNewsMax keys, and a copy that missed the news checks for
// itself, as a standby replica does).
type uploadNews struct {
	mu sync.Mutex
	m  map[string]journal.Version
}

const uploadNewsMax = 4096

func (u *uploadNews) note(k string, ver journal.Version) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil || len(u.m) >= uploadNewsMax {
		u.m = make(map[string]journal.Version)
	}
	u.m[k] = ver
}

// uploaded reports whether version ver of the key k is known to be in the
// backend.
func (u *uploadNews) uploaded(k string, ver journal.Version) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.m[k]
	return ok && v == ver
}

// Uploaded is the news from the origin of version ver of (bucket, key)
// that it is in the backend: a replica of it here, dirty and on standby,
// becomes clean (evictable), and its queue item is dropped at its next
// turn without asking the backend. It implements peer.Objects.
func (n *Node) Uploaded(ctx context.Context, bucket, key string, ver journal.Version) error {
	if err := validateAddr(bucket, key); err != nil {
		return err
	}
	mu := n.keyLock(bucket, key)
	mu.Lock()
	defer mu.Unlock()
	o := n.lookup(bucket, key)
	if ver.Origin != n.id {
		// A copy on its way here (a fill or a replica from a peer that
		// had it dirty) is clean when it lands.
		n.news.note(tableKey(bucket, key), ver)
	}
	if o == nil || o.e.State != index.Dirty || o.e.Ver != ver || o.e.Made.Origin == n.id {
		return nil // not a replica of that version, or clean already
	}
	e := o.e
	e.State = index.Clean
	e.Validated = time.Now().UTC()
	e.Atime = timeFromNanos(o.atime.Load())
	var b index.Batch
	if o.unrecorded() {
		bodyWith(&b, o, &e) // a copy fetched from a peer, which the entry names now
	}
	b.Put(e)
	if err := n.publish(ctx, &b, change{o, &e}); err != nil {
		return err
	}
	n.kickEvictIfHigh()
	return nil
}

// syncBackend makes the backend hold what the journal says of (bucket,
// key) now (index.OpSync): nothing for a tombstone, else the body of the
// key's version, unless the backend has an object of its ETag and size
// already: from this node, or read from a holder into a temp file (so
// that a retried backend PUT reads it again).
func (n *Node) syncBackend(ctx context.Context, bucket, key string) error {
	o := n.lookup(bucket, key)
	switch {
	case o == nil:
		return nil
	case o.e.State == index.Deleted:
		err := n.backend.Delete(ctx, bucket, key)
		n.backendCall("delete", err)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		return nil
	case o.e.Level < core.LevelBackend:
		return nil
	}
	// Most often the backend holds it already (its origin's upload came
	// last): a HEAD, no transfer.
	info, err := n.backend.Head(ctx, bucket, key)
	n.backendCall("head", err)
	if err == nil && info.ETag == o.e.ETag && info.Size == o.e.Size {
		return nil
	}
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	if o.hasBody() {
		body, release, err := n.openObject(o)
		if err != nil {
			return err
		}
		defer release()
		_, err = n.backend.Put(ctx, bucket, key, body, o.e.Size, o.e.Info)
		n.backendCall("put", err)
		return err
	}
	var errs []error
	for _, m := range n.liveHolders(o) {
		po, err := n.cfg.Peers.Open(ctx, m.PeerAddr, bucket, key, peer.OpenOptions{})
		if err == nil && (po.Ver != o.e.Ver || po.Info.Size != o.e.Size) {
			po.Close()
			err = fmt.Errorf("holds version %v of %d bytes, not %v", po.Ver, po.Info.Size, o.e.Ver)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
			continue
		}
		tmp, err := n.store.NewTemp()
		if err != nil {
			po.Close()
			return err
		}
		_, err = tmp.ReadFrom(io.LimitReader(po.Body, o.e.Size+1))
		po.Close()
		if err == nil && tmp.Size() != o.e.Size {
			err = fmt.Errorf("%w (received %d of %d bytes)", core.ErrIncompleteBody, tmp.Size(), o.e.Size)
		}
		if err == nil {
			_, err = n.backend.Put(ctx, bucket, key, io.NewSectionReader(tmp.File(), 0, tmp.Size()), tmp.Size(), o.e.Info)
			n.backendCall("put", err)
		}
		tmp.Close()
		return err
	}
	return fmt.Errorf("sync %q with the backend: no holder of version %v answered: %w", key, o.e.Ver, errors.Join(errs...))
}
