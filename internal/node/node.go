package node

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/singleflight"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/disk"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/store"
)

// Node is one objstore node. Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	log     *slog.Logger
	backend backend.Backend
	store   *store.Store
	db      *index.DB
	id      string

	mu      sync.RWMutex
	objects map[string]*object // by tableKey(bucket, key)

	locks [256]sync.Mutex // per-key write locks, by hash of the key
	seed  maphash.Seed

	fillMu  sync.Mutex
	fills   map[string]*fill
	heads   singleflight.Group // backend HEADs of unknown keys, see headUnknown
	fillq   chan fillJob       // to idle fill workers, unbuffered
	fillMem atomic.Int64       // bytes of fill bodies held in memory, see memBody
	news    uploadNews         // see Uploaded
	hot     atomic.Int64       // bytes of bodies kept in memory, see hotBody
	// unloggedMem is the bytes of small fills' bodies in memory until
	// recorded, see unloggedBudget.
	unloggedMem atomic.Int64
	records     recordQueue // fills to record in the index, see record.go

	dirtyMu sync.Mutex
	dirty   map[string]*object // objects not yet in the backend, by table key

	used     atomic.Int64 // bytes of bodies on disk, committed
	reserved atomic.Int64 // bytes promised to writes in progress
	evictMu  sync.Mutex
	evictC   chan struct{}

	up    *uploader
	files openFiles

	clock    *journal.Clock
	recvMu   sync.Mutex    // one stream of remote events applied at a time
	pushC    chan struct{} // wakes the pusher
	syncC    chan string   // asks the sync loop to pull from a peer
	caughtUp atomic.Bool
	repl     *replicator

	stats stats

	ctx    context.Context // ends at Close: stops background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// object is the in-memory view of an index entry. e is never modified once
// the object is in the table: a change replaces the object.
type object struct {
	e index.Entry
	// fillEvent is the journal event the recorder is to make of a filled
	// object (journal.Hold or journal.Cache); 0 for others.
	fillEvent journal.Kind
	atime     atomic.Int64               // unix nanoseconds of the last access
	saved     int64                      // atime last persisted; owned by the flusher
	valid     atomic.Int64               // unix nanoseconds of the last validation
	fd        atomic.Pointer[sharedFile] // open body of a small object, see openLocal
	mem       atomic.Pointer[[]byte]     // the body in memory, see hotBody
	// unlogged is the body of a small fill not yet in the index's log, its
	// only copy (see unloggedBudget).
	unlogged []byte
}

func newObject(e index.Entry) *object {
	o := &object{e: e}
	o.atime.Store(e.Atime.UnixNano())
	o.saved = e.Atime.UnixNano()
	o.valid.Store(e.Validated.UnixNano())
	return o
}

// hasBody reports whether the node holds the object's body.
func (o *object) hasBody() bool { return o.e.State == index.Clean || o.e.State == index.Dirty }

// Open opens the node's data dir, reconciles the index with the bodies on
// disk and starts background work (eviction, upload queue, access-time
// flushing). Close stops it.
func Open(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "bodies"))
	if err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	db, err := index.Open(filepath.Join(cfg.DataDir, "index.db"), index.Options{SyncBodies: st.Sync, SegmentSize: cfg.logSegment})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open node: %w", err)
	}
	id, err := db.NodeID()
	if err != nil {
		db.Close()
		st.Close()
		return nil, fmt.Errorf("open node: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: cfg.Logger, backend: cfg.Backend, store: st, db: db, id: id,
		objects: make(map[string]*object),
		seed:    maphash.MakeSeed(),
		fills:   make(map[string]*fill),
		fillq:   make(chan fillJob),
		records: recordQueue{wake: make(chan struct{}, 1)},
		dirty:   make(map[string]*object),
		evictC:  make(chan struct{}, 1),
		clock:   journal.NewClock(nil),
		pushC:   make(chan struct{}, 1),
		syncC:   make(chan string, 1),
		ctx:     ctx, cancel: cancel,
	}
	n.repl = newReplicator(n)
	fail := func(err error) (*Node, error) {
		cancel()
		db.Close()
		st.Close()
		return nil, fmt.Errorf("open node: %w", err)
	}
	if err := n.reconcile(); err != nil {
		return fail(err)
	}
	if n.cfg.Capacity == 0 {
		u, err := disk.Stat(cfg.DataDir)
		if err != nil {
			return fail(fmt.Errorf("capacity: %w", err))
		}
		n.cfg.Capacity = int64(float64(u.Free)*n.cfg.CapacityShare) + n.used.Load()
	}
	n.up = newUploader(n)
	if err := n.up.start(); err != nil {
		return fail(err)
	}
	n.wg.Add(5)
	go n.evictLoop()
	go n.atimeLoop()
	go n.sweepLoop()
	go n.recordLoop()
	go n.compactLoop()
	n.kickEvict()
	if n.cfg.Cluster != nil {
		n.wg.Add(4)
		go n.pushLoop()
		go n.syncLoop()
		go n.repl.run()
		go n.repairLoop()
	} else {
		n.caughtUp.Store(true)
	}
	return n, nil
}

// Capacity is the most bytes of bodies the node keeps on disk.
func (n *Node) Capacity() int64 { return n.cfg.Capacity }

// ID is the node's ID, a ULID created once and kept in the data dir.
func (n *Node) ID() string { return n.id }

// Close stops background work, persists access times and closes the index.
// Requests still in progress may fail. Safe to call twice.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.cancel()
		n.wg.Wait()
		n.up.wait()
		n.flushAtimes(context.Background())
		err = n.db.Close()
		n.store.Close()
	})
	return err
}

// tableKey is the key of an object in the in-memory table.
func tableKey(bucket, key string) string { return bucket + "\x00" + key }

// lookup returns the table's object for (bucket, key), or nil.
func (n *Node) lookup(bucket, key string) *object {
	n.mu.RLock()
	o := n.objects[tableKey(bucket, key)]
	n.mu.RUnlock()
	return o
}

// lookupKnown is lookup for reads: a key whose only news so far is that
// some node holds a version whose put has not arrived here yet has no
// metadata to serve, and reads as unknown.
func (n *Node) lookupKnown(bucket, key string) *object {
	o := n.lookup(bucket, key)
	if o != nil && o.e.State == index.Evicted && o.e.Ver.IsZero() && o.e.ETag == "" && len(o.e.Holdings) > 0 {
		return nil
	}
	return o
}

// keyLock returns the write lock of (bucket, key). Changes to one key's
// entry (put, delete, fill, evict, upload done) hold it from index commit to
// table update, so the index and the table agree on the order of changes.
func (n *Node) keyLock(bucket, key string) *sync.Mutex {
	return &n.locks[n.stripe(bucket, key)]
}

func (n *Node) stripe(bucket, key string) int {
	var h maphash.Hash
	h.SetSeed(n.seed)
	h.WriteString(bucket)
	h.WriteByte(0)
	h.WriteString(key)
	return int(h.Sum64() % uint64(len(n.locks)))
}

// change replaces the table's object old (nil if none) for a key by entry
// e (nil removes the key from the table).
type change struct {
	old *object
	e   *index.Entry
}

// publish commits b and then applies the changes to the table, releasing
// the bodies of the entries they replace. The caller holds the keyLock of
// every key changed, so the index and the table agree on the order of
// changes to a key.
func (n *Node) publish(ctx context.Context, b *index.Batch, changes ...change) error {
	if err := n.db.Commit(ctx, b); err != nil {
		return err
	}
	for _, c := range changes {
		if c.e != nil {
			b.NumberEntry(c.e)
		}
		n.apply(c.old, c.e)
	}
	n.kickPush()
	return nil
}

func (n *Node) apply(old *object, e *index.Entry) *object {
	var no *object
	if e != nil {
		no = newFrom(old, e)
	}
	return n.install(old, no)
}

// newFrom returns the object of entry e, which replaces old (nil if none):
// a new generation of the same body keeps old's access time.
func newFrom(old *object, e *index.Entry) *object {
	no := newObject(*e)
	if old != nil && e.Gen != "" && old.e.Gen == e.Gen {
		no.atime.Store(old.atime.Load())
		if e.Pack.IsZero() {
			no.unlogged = old.unlogged // still to be recorded
		}
	}
	return no
}

// install replaces old (nil if none) by no (nil: remove the key) in the
// table, keeping disk use, the dirty set and open files current, and
// removes the body no longer named.
func (n *Node) install(old, no *object) *object {
	var k string
	if no != nil {
		k = tableKey(no.e.Bucket, no.e.Key)
	} else {
		k = tableKey(old.e.Bucket, old.e.Key)
	}
	n.mu.Lock()
	if no == nil {
		delete(n.objects, k)
	} else {
		n.objects[k] = no
	}
	n.mu.Unlock()
	n.trackDirty(k, old, no)
	if no != nil && no.hasBody() && (old == nil || !old.hasBody() || old.e.Gen != no.e.Gen) {
		n.used.Add(no.e.Size)
		n.stats.objects.Add(1)
	}
	if old != nil {
		n.files.drop(old)
		n.handHot(old, no)
	}
	if old != nil && old.unlogged != nil && (no == nil || no.unlogged == nil) {
		n.unloggedMem.Add(-int64(len(old.unlogged)))
	}
	if old != nil && old.hasBody() && (no == nil || !no.hasBody() || old.e.Gen != no.e.Gen) {
		n.used.Add(-old.e.Size)
		n.stats.objects.Add(-1)
		if old.e.Pack.IsZero() && old.unlogged == nil {
			if err := n.store.Remove(old.e.Bucket, old.e.Key, old.e.Gen); err != nil {
				n.log.Warn("remove replaced body", "bucket", old.e.Bucket, "key", old.e.Key, "err", err)
			}
		}
	}
	// A body in the index's log is released once no entry names it there
	// (the same body moved elsewhere in the log counts as another).
	if old != nil && old.hasBody() && !old.e.Pack.IsZero() && (no == nil || !no.hasBody() || no.e.Pack != old.e.Pack) {
		if err := n.db.Release(old.e.Pack, old.e.Size); err != nil {
			n.log.Warn("release replaced body", "bucket", old.e.Bucket, "key", old.e.Key, "err", err)
		}
	}
	return no
}

// openObject opens o's body, wherever it is.
func (n *Node) openObject(o *object) (io.ReadSeeker, func(), error) {
	if o.unlogged != nil {
		return bytes.NewReader(o.unlogged), func() {}, nil
	}
	return n.openBody(&o.e)
}

// openBody opens the body entry e names: a file of the store (an
// *os.File, for sendfile), or bytes in the index's log. A body gone from
// disk returns an error wrapping fs.ErrNotExist.
func (n *Node) openBody(e *index.Entry) (io.ReadSeeker, func(), error) {
	if !e.Pack.IsZero() {
		r, done, err := n.db.OpenBody(e.Pack, e.Size)
		if err != nil {
			return nil, nil, err
		}
		return r, done, nil
	}
	f, err := n.store.Open(e.Bucket, e.Key, e.Gen)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// lockKeys locks the keyLocks of several objects, each stripe once and in
// stripe order (so two callers cannot deadlock), and returns the unlock.
func (n *Node) lockKeys(objs []*object) (unlock func()) {
	idx := make([]int, len(objs))
	for i, o := range objs {
		idx[i] = n.stripe(o.e.Bucket, o.e.Key)
	}
	return n.lockStripes(idx)
}

// lockStripes locks the key lock stripes idx (which it sorts), each once.
func (n *Node) lockStripes(idx []int) (unlock func()) {
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		n.locks[i].Lock()
	}
	return func() {
		for _, i := range idx {
			n.locks[i].Unlock()
		}
	}
}

// newGen returns a fresh body generation.
func newGen() string { return ulid.Make().String() }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ReadID returns the ID of the node whose data dir is dataDir, creating
// the data dir and the ID if needed, without opening the node: a node's
// cluster identity is needed to configure its peers before Open.
func ReadID(dataDir string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return index.ReadNodeID(filepath.Join(dataDir, "index.db"))
}
