package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	keyApplied  = []byte("log-applied") // LSN of the last log record in bbolt
	keyQueueSeq = []byte("queue-seq")   // highest queue Seq given
)

// ErrClosed is returned by operations on a closed DB.
var ErrClosed = errors.New("index closed")

// maxGroup bounds the number of operations one group commit applies, and
// maxGroupBodies the bytes of bodies its log record carries.
const (
	maxGroup       = 4096
	maxGroupBodies = 8 << 20
)

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

	// The committer's own: the log, the next record's LSN, the last
	// queue Seq given, the encoding buffer, and the error of a failed
	// log write, after which every commit fails: the record may be on
	// disk in part or whole, and none may follow it.
	wal     *wal
	nextLSN uint64
	qseq    uint64
	buf     []byte
	failed  error

	// Records committed to the log and not yet to bbolt, oldest first;
	// the applier takes them from the front (see scan).
	pmu        sync.Mutex
	recs       []*record
	pendingOps int
	flushMu    sync.Mutex // one flush at a time
	kick       chan struct{}
	applyStop  chan struct{}
	awg        sync.WaitGroup
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
	// SegmentSize is the size of the log's segments; 0 means 64 MiB.
	SegmentSize int64
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
	db := &DB{bolt: b, opts: opts, reqs: make(chan *request, 1024), closed: make(chan struct{}),
		kick: make(chan struct{}, 1), applyStop: make(chan struct{})}
	if err := db.replay(path + ".log"); err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	if err := db.loadVectors(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	db.wg.Add(1)
	go db.committer()
	db.awg.Add(1)
	go db.applier()
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
		close(db.applyStop)
		db.awg.Wait()
		err = db.flush() // else Open replays what bbolt lacks
		db.wal.close()
		if cerr := db.bolt.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// NodeID returns this node's ID, creating it (a ULID) on first use.
func (db *DB) NodeID() (string, error) { return nodeID(db.bolt) }

// ReadNodeID is NodeID of the index at path, without opening it for
// commits: its log is left for Open to replay.
func ReadNodeID(path string) (string, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return "", fmt.Errorf("open index %s: %w", path, err)
	}
	id, err := nodeID(b)
	if cerr := b.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close index %s: %w", path, cerr)
	}
	return id, err
}

func nodeID(db *bolt.DB) (string, error) {
	var id string
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bktMeta)
		if err != nil {
			return err
		}
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
	bodies     []body
}

type body struct {
	bucket, key, gen string
	data             []byte
	loc              Loc // set by Commit
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
// got in Commit (see Entry.Made), and a PendingLoc Pack the Loc of b's
// body of e. Commit does it for the entries of b; a caller does it, after
// Commit, for its own copies of them.
func (b *Batch) NumberEntry(e *Entry) {
	for _, ev := range b.events {
		if ev.Bucket == e.Bucket && ev.Key == e.Key {
			e.Number(ev.Origin, ev.Seq)
		}
	}
	if e.Pack == PendingLoc {
		if i := b.body(e); i >= 0 && !b.bodies[i].loc.IsZero() {
			e.Pack = b.bodies[i].loc
		}
	}
}

// bodyBytes is the size of the bodies b carries.
func (b *Batch) bodyBytes() int {
	n := 0
	for _, bd := range b.bodies {
		n += len(bd.data)
	}
	return n
}

// body is the index in b.bodies of e's body, or -1.
func (b *Batch) body(e *Entry) int {
	return slices.IndexFunc(b.bodies, func(bd body) bool { return bd.bucket == e.Bucket && bd.key == e.Key && bd.gen == e.Gen })
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

// Body stores data as the body of generation gen of (bucket, key) in the
// log, in place of a file: b must Put that entry with Pack PendingLoc,
// and Commit gives it the body's Loc (see NumberEntry). The body is
// durable with b, in one write and flush with the whole group, and
// counts as held (see DB.Release). For small bodies. Body keeps data.
func (b *Batch) Body(bucket, key, gen string, data []byte) {
	b.bodies = append(b.bodies, body{bucket: bucket, key: key, gen: gen, data: data})
}

// Len is the number of operations in b.
func (b *Batch) Len() int {
	return len(b.puts) + len(b.deletes) + len(b.enqueue) + len(b.dequeue) +
		len(b.events) + len(b.forget) + len(b.advance) + len(b.floor) + len(b.bodies)
}

// Commit applies b durably. Concurrent Commits share one log record and
// one fdatasync (group commit). Operations apply in order puts, deletes,
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
		n, bodies := r.b.Len(), r.b.bodyBytes()
	more:
		for n < maxGroup && bodies < maxGroupBodies {
			select {
			case r := <-db.reqs:
				group = append(group, r)
				n += r.b.Len()
				bodies += r.b.bodyBytes()
			default:
				break more
			}
		}
		db.apply(group)
	}
}

func (db *DB) apply(group []*request) {
	err := db.failed
	if err == nil && db.opts.SyncBodies != nil && slices.ContainsFunc(group, func(r *request) bool { return r.b.syncBodies }) {
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

// commit writes the group as one log record and hands it to the applier.
func (db *DB) commit(group []*request) error {
	db.vecMu.Lock()
	vec, floor := db.vector.Clone(), db.floor.Clone()
	db.vecMu.Unlock()
	rec := &record{lsn: db.nextLSN}
	qseq := db.qseq
	var assigned []*journal.Event
	var items []*Item
	var patches []patch
	raised := map[string]bool{}
	for _, r := range group {
		// The journal first: entries may name its new events' Seqs.
		if err := journalOps(rec, r.b, vec, floor, raised, &assigned); err != nil {
			return err
		}
		if err := batchOps(rec, r.b, &qseq, &items, &patches); err != nil {
			return err
		}
	}
	for o := range raised {
		rec.ops = append(rec.ops, op{kind: bVector, key: []byte(o), val: binary.BigEndian.AppendUint64(nil, vec[o])})
	}
	for o, seq := range floor {
		if seq > db.floor[o] {
			rec.ops = append(rec.ops, op{kind: bFloor, key: []byte(o), val: binary.BigEndian.AppendUint64(nil, seq)})
		}
	}
	if qseq != db.qseq {
		rec.ops = append(rec.ops, op{kind: bMeta, key: keyQueueSeq, val: binary.BigEndian.AppendUint64(nil, qseq)})
	}
	undo := func() {
		for _, e := range assigned {
			e.Seq = Pending
		}
		for _, it := range items {
			it.Seq = 0
		}
	}
	// Where the record goes decides where its bodies are, which their
	// entries name: the entries' Locs have a fixed length, so the record's
	// does not depend on them.
	offs, size := rec.layout()
	seg, at, err := db.wal.reserve(rec.lsn, size)
	if err != nil {
		undo()
		return err
	}
	for _, p := range patches {
		loc := Loc{Seg: seg, Off: at + offs[p.body]}
		copy(rec.ops[p.entry].val[len(`{"Pack":`):], loc.appendJSON(nil))
		*p.loc = loc
	}
	db.buf = rec.appendTo(db.buf[:0])
	if cap(db.buf) > 16<<20 {
		defer func() { db.buf = nil }()
	}
	if err := db.wal.write(db.buf); err != nil {
		// Not durable, perhaps half written: no later record may follow
		// it, or a restart would apply it (see DB.failed).
		undo()
		for _, p := range patches {
			*p.loc = Loc{}
		}
		db.failed = fmt.Errorf("%w (the index refuses writes until the node restarts)", err)
		return err
	}
	for _, p := range patches {
		db.wal.hold(*p.loc, int64(len(rec.ops[p.body].val)))
	}
	db.nextLSN++
	db.qseq = qseq
	// The applier needs no body.
	kept := rec.ops[:0]
	for _, o := range rec.ops {
		if o.kind != opBody {
			kept = append(kept, o)
		}
	}
	clear(rec.ops[len(kept):])
	rec.ops = kept
	db.pmu.Lock()
	db.recs = append(db.recs, rec)
	db.pendingOps += len(rec.ops)
	db.pmu.Unlock()
	// Only now that reads find the events: a reader that sees the vector
	// cover an event must find it (see the peers' Delta).
	db.vecMu.Lock()
	db.vector, db.floor = vec, floor
	db.vecMu.Unlock()
	select {
	case db.kick <- struct{}{}:
	default:
	}
	return nil
}

// patch is an entry op whose Pack is its body op's Loc.
type patch struct {
	entry, body int // indexes in the record's ops
	loc         *Loc
}

func journalOps(rec *record, b *Batch, vec, floor journal.Vector, raised map[string]bool, assigned *[]*journal.Event) error {
	raise := func(origin string, seq uint64) {
		if seq > vec[origin] {
			vec[origin] = seq
			raised[origin] = true
		}
	}
	for _, e := range b.events {
		if e.Seq == Pending {
			e.Seq = vec[e.Origin] + 1
			*assigned = append(*assigned, e)
		}
		rec.ops = append(rec.ops, op{kind: bEvents, key: eventKey(e.Origin, e.Seq), val: journal.AppendBody(nil, e)})
		raise(e.Origin, e.Seq)
	}
	for _, f := range b.forget {
		rec.ops = append(rec.ops, op{kind: bEvents | opDelete, key: eventKey(f.origin, f.seq)})
	}
	for _, a := range b.advance {
		raise(a.origin, a.seq)
	}
	for _, f := range b.floor {
		if f.seq > floor[f.origin] {
			floor[f.origin] = f.seq
		}
	}
	return nil
}

func batchOps(rec *record, b *Batch, qseq *uint64, items *[]*Item, patches *[]patch) error {
	bodyOp := len(rec.ops)
	for _, bd := range b.bodies {
		rec.ops = append(rec.ops, op{kind: opBody, val: bd.data})
	}
	for i := range b.puts {
		e := &b.puts[i]
		b.NumberEntry(e)
		v, err := e.appendJSON(make([]byte, 0, entryJSONSize))
		if err != nil {
			return err
		}
		if e.Pack == PendingLoc {
			j := b.body(e)
			if j < 0 || int64(len(b.bodies[j].data)) != e.Size || !bytes.HasPrefix(v, []byte(`{"Pack":"ffffffffffffffff`)) {
				return fmt.Errorf("entry %q of a body in the log: no body of its size in its batch", e.Key)
			}
			*patches = append(*patches, patch{entry: len(rec.ops), body: bodyOp + j, loc: &b.bodies[j].loc})
		}
		rec.ops = append(rec.ops, op{kind: bObjects, key: entryKey(e.Bucket, e.Key), val: v})
	}
	for _, d := range b.deletes {
		rec.ops = append(rec.ops, op{kind: bObjects | opDelete, key: entryKey(d[0], d[1])})
	}
	for _, seq := range b.dequeue {
		rec.ops = append(rec.ops, op{kind: bQueue | opDelete, key: seqKey(seq)})
	}
	for _, it := range b.enqueue {
		*qseq++
		it.Seq = *qseq
		*items = append(*items, it)
		v, err := json.Marshal(it)
		if err != nil {
			return err
		}
		rec.ops = append(rec.ops, op{kind: bQueue, key: seqKey(it.Seq), val: v})
	}
	return nil
}

// applier copies committed records into bbolt, many per transaction: at
// most applyDelay after the first of them, or at once when applyOps
// operations wait.
func (db *DB) applier() {
	defer db.awg.Done()
	for {
		select {
		case <-db.kick:
		case <-db.applyStop:
			return
		}
		t := time.NewTimer(applyDelay)
	wait:
		for {
			db.pmu.Lock()
			n := db.pendingOps
			db.pmu.Unlock()
			if n >= applyOps {
				break
			}
			select {
			case <-t.C:
				break wait
			case <-db.kick:
			case <-db.applyStop:
				break wait
			}
		}
		t.Stop()
		if err := db.flush(); err != nil {
			// The records stay in the log and in memory: try again.
			select {
			case db.kick <- struct{}{}:
			default:
			}
			select {
			case <-time.After(time.Second):
			case <-db.applyStop:
				return
			}
		}
	}
}

// applyDelay and applyOps pace the applier: each of its transactions
// costs two fdatasyncs, whatever its number of operations.
const (
	applyDelay = 200 * time.Millisecond
	applyOps   = 32 << 10
)

// flush applies every pending record to bbolt and removes the log
// segments it no longer needs.
func (db *DB) flush() error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.pmu.Lock()
	recs := db.recs
	db.pmu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1].lsn
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return applyRecords(tx, recs) }); err != nil {
		return fmt.Errorf("apply index log: %w", err)
	}
	ops := 0
	for _, r := range recs {
		ops += len(r.ops)
	}
	db.pmu.Lock()
	// A new slice: readers may hold the old one (see overlay).
	db.recs = slices.Clone(db.recs[len(recs):])
	db.pendingOps -= ops
	db.pmu.Unlock()
	return db.wal.setApplied(last)
}

// applyRecords applies recs to bbolt in order and records the last LSN.
func applyRecords(tx *bolt.Tx, recs []*record) error {
	bkts := make([]*bolt.Bucket, len(buckets))
	for i, n := range buckets {
		bkts[i] = tx.Bucket(n)
	}
	for _, r := range recs {
		for _, o := range r.ops {
			if o.kind == opBody {
				continue
			}
			var err error
			if b := bkts[o.kind&^opDelete]; o.kind&opDelete != 0 {
				err = b.Delete(o.key)
			} else {
				err = b.Put(o.key, o.val)
			}
			if err != nil {
				return err
			}
		}
	}
	return bkts[bMeta].Put(keyApplied, binary.BigEndian.AppendUint64(nil, recs[len(recs)-1].lsn))
}

// replay applies the log's records that bbolt lacks.
func (db *DB) replay(dir string) error {
	var applied uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		applied = u64(meta.Get(keyApplied))
		db.qseq = max(u64(meta.Get(keyQueueSeq)), tx.Bucket(bktQueue).Sequence())
		if k, _ := tx.Bucket(bktQueue).Cursor().Last(); k != nil {
			db.qseq = max(db.qseq, u64(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	w, recs, next, err := openWAL(dir, applied)
	if err != nil {
		return err
	}
	db.wal, db.nextLSN = w, next
	w.segSize = cmp.Or(db.opts.SegmentSize, segmentSize)
	if len(recs) == 0 {
		return nil
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return applyRecords(tx, recs) }); err != nil {
		return fmt.Errorf("replay index log: %w", err)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		db.qseq = max(db.qseq, u64(tx.Bucket(bktMeta).Get(keyQueueSeq)))
		return nil
	})
	if err != nil {
		return err
	}
	return w.setApplied(recs[len(recs)-1].lsn)
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

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
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
	prefix := append([]byte(origin), 0)
	return db.scan(bEvents, eventKey(origin, after+1), prefix, func(k, v []byte) (bool, error) {
		if len(k) != len(prefix)+8 {
			return true, nil
		}
		e := &journal.Event{Origin: origin, Seq: binary.BigEndian.Uint64(k[len(prefix):])}
		if err := journal.DecodeBody(v, e); err != nil {
			return false, fmt.Errorf("event %s/%d: %w", origin, e.Seq, err)
		}
		return fn(e), nil
	})
}

// EventCount is the number of stored events (those of records not yet in
// bbolt counted as new ones).
func (db *DB) EventCount() int {
	var n int
	db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktEvents).Stats().KeyN
		return nil
	})
	db.pmu.Lock()
	for _, r := range db.recs {
		for _, o := range r.ops {
			switch o.kind {
			case bEvents:
				n++
			case bEvents | opDelete:
				n--
			}
		}
	}
	db.pmu.Unlock()
	return max(n, 0)
}

func eventKey(origin string, seq uint64) []byte {
	k := make([]byte, 0, len(origin)+9)
	k = append(k, origin...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// Entries calls fn for every entry, in key order.
func (db *DB) Entries(fn func(Entry) error) error {
	return db.scan(bObjects, nil, nil, func(k, v []byte) (bool, error) {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("index entry %q: %w", k, err)
		}
		return true, fn(e)
	})
}

// Queue calls fn for every upload-queue item in order until fn returns false.
func (db *DB) Queue(fn func(Item) bool) error { return db.QueueFrom(0, fn) }

// QueueFrom is Queue starting at the first item with Seq >= seq.
func (db *DB) QueueFrom(seq uint64, fn func(Item) bool) error {
	return db.scan(bQueue, seqKey(seq), nil, func(k, v []byte) (bool, error) {
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			return false, fmt.Errorf("queue item %x: %w", k, err)
		}
		return fn(it), nil
	})
}

// scan calls fn, in key order from the key from on, for the keys with
// prefix of bucket bkt as committed: bbolt's, overlaid with the records
// the applier has not copied yet. It stops when fn returns false or an
// error. Values are valid only during the call.
func (db *DB) scan(bkt byte, from, prefix []byte, fn func(k, v []byte) (bool, error)) error {
	// The records and the transaction are taken together: the applier
	// drops records only once a transaction holding them committed, so
	// what the overlay lacks, the transaction has.
	db.pmu.Lock()
	recs := db.recs
	tx, err := db.bolt.Begin(false)
	db.pmu.Unlock()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ov := overlay(recs, bkt, from, prefix)
	c := tx.Bucket(buckets[bkt]).Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for i := 0; ; {
		if k != nil && !bytes.HasPrefix(k, prefix) {
			k = nil
		}
		var ok bool
		switch {
		case k == nil && i == len(ov):
			return nil
		case i < len(ov) && (k == nil || bytes.Compare(ov[i].key, k) <= 0):
			if k != nil && bytes.Equal(ov[i].key, k) {
				k, v = c.Next()
			}
			o := ov[i]
			i++
			if o.kind&opDelete != 0 {
				continue
			}
			ok, err = fn(o.key, o.val)
		default:
			ok, err = fn(k, v)
			k, v = c.Next()
		}
		if err != nil || !ok {
			return err
		}
	}
}

// overlay is the last op of recs for each key of bucket bkt from from on
// with prefix, in key order.
func overlay(recs []*record, bkt byte, from, prefix []byte) []op {
	var ov []op
	for _, r := range recs {
		for _, o := range r.ops {
			if o.kind&^opDelete == bkt && o.kind != opBody && bytes.Compare(o.key, from) >= 0 && bytes.HasPrefix(o.key, prefix) {
				ov = append(ov, o)
			}
		}
	}
	if len(ov) == 0 {
		return nil
	}
	slices.SortStableFunc(ov, func(a, b op) int { return bytes.Compare(a.key, b.key) })
	out := ov[:0]
	for i, o := range ov {
		if i+1 < len(ov) && bytes.Equal(ov[i+1].key, o.key) {
			continue // a later op of the same key wins
		}
		out = append(out, o)
	}
	return out
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

// OpenBody returns the body of size bytes that the log holds at l (see
// Batch.Body), and the func to call once done with it. A body whose
// segment is gone returns an error wrapping fs.ErrNotExist.
func (db *DB) OpenBody(l Loc, size int64) (*io.SectionReader, func(), error) {
	return db.wal.open(l, size)
}

// Hold counts size bytes at l as held by an entry: a segment of the log
// is removed once every record in it is in bbolt and no body in it is
// held. A Commit holds the bodies it stores; Open holds none, so the
// caller holds those its entries name and then calls Counted.
func (db *DB) Hold(l Loc, size int64) error { return db.wal.hold(l, size) }

// Release ends a Hold: the entry no longer names the body.
func (db *DB) Release(l Loc, size int64) error { return db.wal.hold(l, -size) }

// Counted says that every body entries name is held: from now on a
// segment no body in which is held may go.
func (db *DB) Counted() error {
	db.wal.mu.Lock()
	defer db.wal.mu.Unlock()
	db.wal.counting = true
	return db.wal.dropLocked()
}

// LogSize returns the number of segments of the log and their bytes on
// disk (records, with the small bodies they hold, live or not).
func (db *DB) LogSize() (segments int, bytes int64) {
	db.wal.mu.Lock()
	defer db.wal.mu.Unlock()
	for _, sg := range db.wal.segs {
		bytes += max(sg.size, sg.alloc)
	}
	return len(db.wal.segs), bytes
}

// Sparse returns the segments of the log where held bodies fill less than
// ratio of the bytes: moving those bodies (a new Commit of each with
// Batch.Body, and the Release of the old Loc) frees the segment.
func (db *DB) Sparse(ratio float64) []uint64 { return db.wal.sparse(ratio) }
