package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/objstore/objstore/internal/journal"
)

var (
	bktObjects = []byte("objects")
	bktQueue   = []byte("queue")
	bktMeta    = []byte("meta")
	bktEvents  = []byte("events") // origin, 0, big-endian seq → journal.AppendBody
	bktVector  = []byte("vector") // origin → big-endian highest seq
	bktFloor   = []byte("floor")  // origin → big-endian highest seq of a compacted tombstone
	keyNodeID  = []byte("node-id")
)

// ErrClosed is returned by operations on a closed DB.
var ErrClosed = errors.New("index closed")

// maxGroup bounds the number of operations one group commit applies.
const maxGroup = 4096

// DB is the index database. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	opts   Options
	reqs   chan *request
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{} // closed by Close: the committer drains and stops

	// closing guards sends on reqs against Close: Commit sends under the
	// read lock, Close sets isClosed under the write lock.
	closing  sync.RWMutex
	isClosed bool

	vecMu  sync.Mutex
	vector journal.Vector // committed, as in bktVector
	floor  journal.Vector // committed, as in bktFloor
}

type request struct {
	b   *Batch
	err chan error
}

// Options qualify a DB.
type Options struct {
	// SyncBodies, when set, is called by the group commit before it commits
	// a group that holds a batch marked with Batch.SyncBodies, so that the
	// files those entries name are durable before the entries are: one call
	// for the whole group instead of an fsync per file. It must be safe to
	// call from the committer goroutine.
	SyncBodies func() error
}

// Open opens or creates the index file at path.
func Open(path string, opts Options) (*DB, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true, // rebuilt on open; saves a write per commit
		FreelistType:   bolt.FreelistMapType,
		// Address space, not memory: a commit that grows the file past
		// the map remaps it, which waits for every read transaction.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bktObjects, bktQueue, bktMeta, bktEvents, bktVector, bktFloor} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	db := &DB{bolt: b, opts: opts, reqs: make(chan *request, 1024), closed: make(chan struct{})}
	if err := db.loadVectors(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	db.wg.Add(1)
	go db.committer()
	return db, nil
}

// Close stops the committer and closes the database. Safe to call twice.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.closing.Lock()
		db.isClosed = true
		db.closing.Unlock()
		close(db.closed)
		db.wg.Wait()
		err = db.bolt.Close()
	})
	return err
}

// NodeID returns this node's ID, creating it (a ULID) on first use.
func (db *DB) NodeID() (string, error) {
	var id string
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktMeta)
		if v := b.Get(keyNodeID); v != nil {
			id = string(v)
			return nil
		}
		id = ulid.Make().String()
		return b.Put(keyNodeID, []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}

// Batch collects operations to commit together.
type Batch struct {
	syncBodies bool
	puts       []Entry
	deletes    [][2]string
	enqueue    []*Item
	dequeue    []uint64
	events     []*journal.Event
	forget     []eventRef
	advance    []eventRef
	floor      []eventRef
}

type eventRef struct {
	origin string
	seq    uint64
}

// Pending is the Seq of an event Commit is to number (see Batch.Append),
// and in an Entry's Made and Holdings names that event (see Entry.Made).
// It is greater than every real Seq, so a view that applied the event
// already orders it after the events before it.
const Pending uint64 = math.MaxUint64

// Append stores journal event e and raises the vector of its origin to
// e.Seq. An event with Seq Pending gets the next Seq of its origin, set by
// Commit: the events one origin makes are numbered in commit order, with
// no gap, however many Commits run at once.
func (b *Batch) Append(e *journal.Event) { b.events = append(b.events, e) }

// NumberEntry gives e's Pending refs the Seq that b's event of e's key
// got in Commit (see Entry.Made). Commit does it for the entries of b; a
// caller does it, after Commit, for its own copies of them.
func (b *Batch) NumberEntry(e *Entry) {
	for _, ev := range b.events {
		if ev.Bucket == e.Bucket && ev.Key == e.Key {
			e.Number(ev.Origin, ev.Seq)
		}
	}
}

// Forget removes the stored event (origin, seq), compacted away.
func (b *Batch) Forget(origin string, seq uint64) {
	b.forget = append(b.forget, eventRef{origin, seq})
}

// Advance raises the vector of origin to seq: every event of origin up to
// seq has been seen, stored or compacted away.
func (b *Batch) Advance(origin string, seq uint64) {
	b.advance = append(b.advance, eventRef{origin, seq})
}

// RaiseFloor records that a tombstone of origin with Seq seq was compacted
// away, so that a node whose vector is below it needs a snapshot.
func (b *Batch) RaiseFloor(origin string, seq uint64) {
	b.floor = append(b.floor, eventRef{origin, seq})
}

// Put records e, replacing any entry for its bucket and key.
func (b *Batch) Put(e Entry) { b.puts = append(b.puts, e) }

// Delete forgets the entry of (bucket, key).
func (b *Batch) Delete(bucket, key string) { b.deletes = append(b.deletes, [2]string{bucket, key}) }

// Enqueue appends it to the upload queue; Commit sets it.Seq.
func (b *Batch) Enqueue(it *Item) { b.enqueue = append(b.enqueue, it) }

// Dequeue removes the queue item seq.
func (b *Batch) Dequeue(seq uint64) { b.dequeue = append(b.dequeue, seq) }

// SyncBodies asks that Options.SyncBodies run before b is committed.
func (b *Batch) SyncBodies() { b.syncBodies = true }

// Len is the number of operations in b.
func (b *Batch) Len() int {
	return len(b.puts) + len(b.deletes) + len(b.enqueue) + len(b.dequeue) +
		len(b.events) + len(b.forget) + len(b.advance) + len(b.floor)
}

// Commit applies b durably. Concurrent Commits share one transaction and
// one fsync (group commit). Operations apply in order puts, deletes,
// dequeues, enqueues, then journal events, forgets, advances and floors.
func (db *DB) Commit(ctx context.Context, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	r := &request{b: b, err: make(chan error, 1)}
	db.closing.RLock()
	if db.isClosed {
		db.closing.RUnlock()
		return ErrClosed
	}
	select {
	case db.reqs <- r:
	case <-ctx.Done():
		db.closing.RUnlock()
		return ctx.Err()
	}
	db.closing.RUnlock()
	// Once queued the request will be committed; wait for it even if ctx
	// ends, so the caller knows whether it is durable.
	return <-r.err
}

func (db *DB) committer() {
	defer db.wg.Done()
	group := make([]*request, 0, 64)
	for {
		var r *request
		select {
		case r = <-db.reqs:
		case <-db.closed:
			// Drain what was accepted before Close.
			for {
				select {
				case r := <-db.reqs:
					db.apply([]*request{r})
				default:
					return
				}
			}
		}
		group = append(group[:0], r)
		n := r.b.Len()
	more:
		for n < maxGroup {
			select {
			case r := <-db.reqs:
				group = append(group, r)
				n += r.b.Len()
			default:
				break more
			}
		}
		db.apply(group)
	}
}

func (db *DB) apply(group []*request) {
	var err error
	if db.opts.SyncBodies != nil && slices.ContainsFunc(group, func(r *request) bool { return r.b.syncBodies }) {
		err = db.opts.SyncBodies()
	}
	if err == nil {
		err = db.commit(group)
	}
	if err != nil {
		err = fmt.Errorf("commit index: %w", err)
	}
	for _, r := range group {
		r.err <- err
	}
}

func (db *DB) commit(group []*request) error {
	db.vecMu.Lock()
	vec, floor := db.vector.Clone(), db.floor.Clone()
	db.vecMu.Unlock()
	var assigned []*journal.Event
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		objs, q := tx.Bucket(bktObjects), tx.Bucket(bktQueue)
		for _, r := range group {
			// The journal first: entries may name its new events' Seqs.
			if err := applyJournal(tx, r.b, vec, floor, &assigned); err != nil {
				return err
			}
			if err := applyBatch(objs, q, r.b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, e := range assigned {
			e.Seq = Pending // not committed: numbered afresh if committed again
		}
		return err
	}
	db.vecMu.Lock()
	db.vector, db.floor = vec, floor
	db.vecMu.Unlock()
	return nil
}

func applyJournal(tx *bolt.Tx, b *Batch, vec, floor journal.Vector, assigned *[]*journal.Event) error {
	if len(b.events)+len(b.forget)+len(b.advance)+len(b.floor) == 0 {
		return nil
	}
	evs, vb, fb := tx.Bucket(bktEvents), tx.Bucket(bktVector), tx.Bucket(bktFloor)
	raise := func(v journal.Vector, bkt *bolt.Bucket, origin string, seq uint64) error {
		if seq <= v[origin] {
			return nil
		}
		v[origin] = seq
		return bkt.Put([]byte(origin), binary.BigEndian.AppendUint64(nil, seq))
	}
	for _, e := range b.events {
		if e.Seq == Pending {
			e.Seq = vec[e.Origin] + 1
			*assigned = append(*assigned, e)
		}
		// bbolt keeps the value until the transaction ends: one buffer
		// per event.
		if err := evs.Put(eventKey(e.Origin, e.Seq), journal.AppendBody(nil, e)); err != nil {
			return err
		}
		if err := raise(vec, vb, e.Origin, e.Seq); err != nil {
			return err
		}
	}
	for _, f := range b.forget {
		if err := evs.Delete(eventKey(f.origin, f.seq)); err != nil {
			return err
		}
	}
	for _, a := range b.advance {
		if err := raise(vec, vb, a.origin, a.seq); err != nil {
			return err
		}
	}
	for _, f := range b.floor {
		if err := raise(floor, fb, f.origin, f.seq); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) loadVectors() error {
	db.vector, db.floor = journal.Vector{}, journal.Vector{}
	return db.bolt.View(func(tx *bolt.Tx) error {
		for bkt, v := range map[string]journal.Vector{string(bktVector): db.vector, string(bktFloor): db.floor} {
			err := tx.Bucket([]byte(bkt)).ForEach(func(k, val []byte) error {
				if len(val) != 8 {
					return fmt.Errorf("%s of %q: %d bytes", bkt, k, len(val))
				}
				v[string(k)] = binary.BigEndian.Uint64(val)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Vector returns the committed version vector: per origin, the highest
// Seq stored or advanced to.
func (db *DB) Vector() journal.Vector {
	db.vecMu.Lock()
	defer db.vecMu.Unlock()
	return db.vector.Clone()
}

// Floor returns, per origin, the highest Seq of a tombstone compacted away.
func (db *DB) Floor() journal.Vector {
	db.vecMu.Lock()
	defer db.vecMu.Unlock()
	return db.floor.Clone()
}

// Events calls fn for each stored event of origin with a Seq after after,
// in Seq order, until fn returns false. The event passed is fn's to keep.
func (db *DB) Events(origin string, after uint64, fn func(*journal.Event) bool) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktEvents).Cursor()
		prefix := append([]byte(origin), 0)
		for k, v := c.Seek(eventKey(origin, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
			e := &journal.Event{Origin: origin, Seq: binary.BigEndian.Uint64(k[len(prefix):])}
			if err := journal.DecodeBody(v, e); err != nil {
				return fmt.Errorf("event %s/%d: %w", origin, e.Seq, err)
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// EventCount is the number of stored events.
func (db *DB) EventCount() int {
	var n int
	db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktEvents).Stats().KeyN
		return nil
	})
	return n
}

func eventKey(origin string, seq uint64) []byte {
	k := make([]byte, 0, len(origin)+9)
	k = append(k, origin...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func applyBatch(objs, q *bolt.Bucket, b *Batch) error {
	for i := range b.puts {
		b.NumberEntry(&b.puts[i])
		v, err := json.Marshal(&b.puts[i])
		if err != nil {
			return err
		}
		if err := objs.Put(entryKey(b.puts[i].Bucket, b.puts[i].Key), v); err != nil {
			return err
		}
	}
	for _, d := range b.deletes {
		if err := objs.Delete(entryKey(d[0], d[1])); err != nil {
			return err
		}
	}
	for _, seq := range b.dequeue {
		if err := q.Delete(seqKey(seq)); err != nil {
			return err
		}
	}
	for _, it := range b.enqueue {
		seq, err := q.NextSequence()
		if err != nil {
			return err
		}
		it.Seq = seq
		v, err := json.Marshal(it)
		if err != nil {
			return err
		}
		if err := q.Put(seqKey(seq), v); err != nil {
			return err
		}
	}
	return nil
}

// Entries calls fn for every entry, in key order.
func (db *DB) Entries(fn func(Entry) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktObjects).ForEach(func(k, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("index entry %q: %w", k, err)
			}
			return fn(e)
		})
	})
}

// Queue calls fn for every upload-queue item in order until fn returns false.
func (db *DB) Queue(fn func(Item) bool) error { return db.QueueFrom(0, fn) }

// QueueFrom is Queue starting at the first item with Seq >= seq.
func (db *DB) QueueFrom(seq uint64, fn func(Item) bool) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktQueue).Cursor()
		for k, v := c.Seek(seqKey(seq)); k != nil; k, v = c.Next() {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("queue item %x: %w", k, err)
			}
			if !fn(it) {
				return nil
			}
		}
		return nil
	})
}

func entryKey(bucket, key string) []byte {
	k := make([]byte, 0, len(bucket)+1+len(key))
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, key...)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}
