package node

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/store"
)

// A fill is one backend GET of a key, written to a temp file that every
// reader waiting for that key streams from as it grows. It is the node's
// singleflight: one fill per key at a time, however many readers. Unlike a
// plain singleflight the waiters need not wait for the whole body, and the
// body is held in memory only when it is not to be kept and is small (a
// peer's copy read without cache on read, see memBody).
//
// The fill is committed to the cache only when the whole body arrived and
// matches its length and (single-part) MD5 ETag. It is cancelled when its
// last reader leaves before it completes, so a client that hangs up leaves
// no partial object behind.
type fill struct {
	n      *Node
	key    string // fills map key
	prev   *object
	opts   fetchOpts
	cancel context.CancelFunc

	ready chan struct{} // closed once info or err is set
	info  core.Info
	src   *source
	err   error
	tmp   *store.Temp // the body, when it may be kept (see memBody)
	body  fillBody    // tmp, or the body in memory
	mem   int64       // bytes of body taken from Node.fillMem
	// logMem is the bytes of body taken from Node.unloggedMem: a small
	// body to keep, in memory until the recorder writes it to the log. A
	// commit hands them to the object.
	logMem int64

	mu       sync.Mutex
	refs     int // readers plus the fill goroutine
	written  int64
	done     bool
	ferr     error
	progress chan struct{} // closed and replaced on every change
}

// fetchOpts qualify a fetch.
type fetchOpts struct {
	// ifNoneMatch makes the backend GET conditional (revalidation): only
	// the backend is asked.
	ifNoneMatch string
	// hops is how many times the request was forwarded to this node.
	hops int
	// replicate: the copy is to be kept whatever NoCacheOnRead says.
	replicate bool
	// skip is a holder that just failed this read (see readHolder).
	skip string
}

// errKeyChanged: fetch found the key cached or deleted since the caller,
// which held no copy of it, looked it up (prev); it should look again.
var errKeyChanged = errors.New("key changed since it was looked up")

// fetch reads (bucket, key) from another node or the backend through the
// key's fill, starting one if none is in flight. prev is the table's
// object when the fill started (nil if none): the result replaces it only
// if it is still current at commit. If no fill is in flight and the key
// now has a body or a tombstone that prev was not, it returns
// errKeyChanged.
func (n *Node) fetch(ctx context.Context, bucket, key string, prev *object, opts fetchOpts) (*Object, error) {
	fk := tableKey(bucket, key) + "\x00" + opts.ifNoneMatch
	n.fillMu.Lock()
	f := n.fills[fk]
	if f != nil {
		f.mu.Lock()
		f.refs++
		f.mu.Unlock()
		n.stats.coalesced.Add(1)
	} else {
		// Look again, under fillMu: a fill installs its object before it
		// leaves fills, so a caller whose lookup came before a fill of the
		// key committed, and which gets here after it ended, would
		// otherwise read it all over again (a second backend GET for what
		// is cached). A caller that holds a copy (a revalidation) asks
		// about that copy whatever came since.
		if cur := n.lookup(bucket, key); cur != prev && cur != nil && (prev == nil || !prev.hasBody()) &&
			(cur.hasBody() || cur.e.State == index.Deleted) {
			n.fillMu.Unlock()
			return nil, errKeyChanged
		}
		fctx, cancel := context.WithCancel(n.ctx)
		f = &fill{n: n, key: fk, prev: prev, opts: opts, cancel: cancel, ready: make(chan struct{}), refs: 2, progress: make(chan struct{})}
		n.fills[fk] = f
		n.fillMu.Unlock()
		f.start(fctx, bucket, key)
		n.fillMu.Lock()
	}
	n.fillMu.Unlock()

	select {
	case <-f.ready:
	case <-ctx.Done():
		f.release(true)
		return nil, fmt.Errorf("get %q: %w", key, ctx.Err())
	}
	if f.err != nil {
		f.release(false)
		return nil, fmt.Errorf("get %q: %w", key, f.err)
	}
	if f.info.Size == 0 {
		// Nothing to stream: let the fill commit first, so that the next
		// request finds the object cached.
		f.wait(ctx)
	}
	release := func() { f.release(ctx.Err() != nil) }
	return &Object{Info: f.info, Source: f.src.from, ver: f.src.ver, Content: &fillReader{f: f, ctx: ctx}, close: release}, nil
}

// release drops one reference; the last one closes the body. A fill
// whose last reader hung up (hangup: its client is gone) before the body
// arrived is cancelled; one whose readers simply needed no more of it (a
// HEAD, a 304, a range) completes and is cached.
func (f *fill) release(hangup bool) {
	f.n.fillMu.Lock()
	f.mu.Lock()
	f.refs--
	refs, done := f.refs, f.done
	arrived := f.written == f.info.Size && f.body != nil
	f.mu.Unlock()
	// Cancel only a transfer still under way: a body that has fully arrived
	// is worth committing even if its readers are gone.
	if hangup && refs <= 1 && !done && !arrived && f.n.fills[f.key] == f {
		delete(f.n.fills, f.key) // later readers start afresh
		f.cancel()
	}
	f.n.fillMu.Unlock()
	if refs == 0 {
		f.cancel()
		if f.body != nil {
			f.body.Close()
		}
		f.n.fillMem.Add(-f.mem)
		f.n.unloggedMem.Add(-f.logMem)
	}
}

// start runs the fill: it opens the source in the caller's goroutine,
// which waits for that anyway, and then copies a small body there too, or
// hands a larger one to a fill worker, so that its readers stream it as it
// arrives. Each hand-off between goroutines costs a wake-up (a futex call
// on an idle core), and a 4 KiB miss made four before.
func (f *fill) start(ctx context.Context, bucket, key string) {
	src := f.open(ctx, bucket, key)
	switch {
	case src == nil:
	case src.info.Size <= inlineFill:
		f.transfer(src)
	default:
		f.n.startFill(fillJob{f, src})
	}
}

// inlineFill is the largest body a fill copies in the goroutine that
// started it, before any reader gets a byte of it.
const inlineFill = logBody

// fillJob is a fill's transfer for a fill worker to run.
type fillJob struct {
	f   *fill
	src *source
}

// fillWorkerIdle is how long a fill worker waits for the next fill.
const fillWorkerIdle = 10 * time.Second

// startFill runs job on an idle fill worker, or on a new one. Workers
// outlive their fill for fillWorkerIdle: a goroutine started per fill
// grew its stack (a copy) on every peer read, 5% of a 4 KiB peer hit's
// CPU on the reading node.
func (n *Node) startFill(job fillJob) {
	select {
	case n.fillq <- job:
	default:
		n.wg.Add(1)
		go n.fillWorker(job)
	}
}

func (n *Node) fillWorker(job fillJob) {
	defer n.wg.Done()
	idle := time.NewTimer(fillWorkerIdle)
	defer idle.Stop()
	for {
		job.f.transfer(job.src)
		idle.Reset(fillWorkerIdle)
		select {
		case job = <-n.fillq:
		case <-idle.C:
			return
		case <-n.ctx.Done():
			return
		}
	}
}

// open opens the fill's source and makes the fill ready. On failure it
// ends the fill and drops the fill's own reference, returning nil.
func (f *fill) open(ctx context.Context, bucket, key string) *source {
	n := f.n
	src, err := n.openSource(ctx, bucket, key, f.prev, f.opts)
	if err == nil {
		err = f.newBody(src)
		if err != nil {
			src.body.Close()
		}
	}
	if err != nil {
		f.err = err
		f.end(err)
		close(f.ready)
		f.release(false)
		return nil
	}
	f.mu.Lock() // release reads info.Size under mu, possibly before ready
	f.info, f.src = src.info, src
	f.mu.Unlock()
	close(f.ready)
	return src
}

// transfer copies the body from src and commits it, then drops the
// fill's own reference.
func (f *fill) transfer(src *source) {
	defer f.release(false)
	defer src.body.Close()
	err := f.copy(src.body)
	if err == nil {
		err = f.commit()
	}
	f.end(err) // a no-op if commit ended it already
}

// copy writes the body to the temp file (or memory), waking readers as
// bytes arrive, and checks it against the length and ETag announced.
func (f *fill) copy(body io.Reader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	m, _ := f.body.(*memBody)
	for {
		dst := buf
		direct := m != nil && m.n < len(m.b)
		if direct {
			dst = m.b[m.n:min(len(m.b), m.n+len(buf))] // no copy through buf
		}
		k, rerr := body.Read(dst)
		if k > 0 {
			if f.written+int64(k) > f.info.Size {
				return f.src.fail(fmt.Errorf("body longer than the %d bytes announced", f.info.Size))
			}
			if direct {
				m.n += k
			} else if _, err := f.body.Write(buf[:k]); err != nil {
				return fmt.Errorf("cache body: %w", err)
			}
			f.mu.Lock()
			f.written += int64(k)
			close(f.progress)
			f.progress = make(chan struct{})
			f.mu.Unlock()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return f.src.fail(rerr)
		}
	}
	if f.written != f.info.Size {
		return f.src.fail(fmt.Errorf("body of %d bytes, announced %d", f.written, f.info.Size))
	}
	if !f.src.keep {
		return nil // a peer's copy, checked by that peer (see memBody)
	}
	etag := f.info.ETag
	if len(etag) != 32 || strings.Contains(etag, "-") {
		return nil // not an MD5 (a multipart upload's)
	}
	var sum string
	if f.tmp != nil {
		sum = f.tmp.ETag()
	} else {
		b := md5.Sum(m.b)
		sum = hex.EncodeToString(b[:])
	}
	if !strings.EqualFold(etag, sum) {
		return f.src.fail(fmt.Errorf("body MD5 %s does not match ETag %s", sum, etag))
	}
	return nil
}

// commit makes the fetched body the cached copy, unless the key changed
// since the fill started to other than a bodiless view of the version
// the fill copied, or there is no room (then the readers are served and
// nothing is kept). It ends the fill for its readers as soon as the
// body is in place and in the table; recording it in the index is left to
// the recorder (see record.go), off the client's path: a fill is a copy of
// what the backend holds, so a crash before it is recorded loses nothing.
func (f *fill) commit() error {
	n, info := f.n, f.info
	if !f.src.keep {
		return nil
	}
	if err := n.reserve(info.Size); err != nil {
		n.log.Info("not caching fetched object", "bucket", info.Bucket, "key", info.Key, "err", err)
		return nil
	}
	defer n.reserved.Add(-info.Size)
	mu := n.keyLock(info.Bucket, info.Key)
	mu.Lock()
	prev := f.prev
	if cur := n.lookup(info.Bucket, info.Key); cur != prev {
		// Changed meanwhile: keep the copy only if it is one of the
		// version the key has now, which news from another node (its
		// holding, its copy of the same backend object) leaves as it was.
		if cur == nil || cur.hasBody() || !f.copies(cur) {
			mu.Unlock()
			return nil
		}
		prev = cur
	}
	gen := newGen()
	var mem []byte // a small body, which the recorder writes to the log
	if f.tmp == nil {
		mem = f.body.(*memBody).b
	} else if err := f.tmp.Place(info.Bucket, info.Key, gen); err != nil {
		mu.Unlock()
		n.log.Warn("cache fetched object", "bucket", info.Bucket, "key", info.Key, "err", err)
		return nil
	}
	now := time.Now().UTC()
	e := index.Entry{Info: info, Gen: gen, State: index.Clean, Atime: now, Validated: now}
	kind := journal.Cache
	if p := prev; p != nil && f.copies(p) {
		// A copy of the version the journal knows: keep its metadata.
		kind = journal.Hold
		e.Info = p.e.Info
		v := p.e.View()
		e.SetView(&v)
		if f.src.dirty && !n.news.uploaded(tableKey(info.Bucket, info.Key), p.e.Ver) {
			e.State = index.Dirty // the recorder queues it on standby
		}
	}
	o := n.applyFill(prev, &e, kind, mem)
	f.logMem = 0 // the object's now
	mu.Unlock()
	f.end(nil)
	n.toRecord(o) // after unlocking: the recorder takes the key's lock
	n.kickEvictIfHigh()
	return nil
}

// copies reports whether the fill's body is a copy of the version of p
// that the journal knows: the one a peer served, or the backend's object
// of the same ETag and size.
func (f *fill) copies(p *object) bool {
	return !p.e.Ver.IsZero() && p.e.State != index.Deleted &&
		(f.src.ver == p.e.Ver || f.src.from == FromBackend && p.e.ETag == f.info.ETag && p.e.Size == f.info.Size)
}

// wait returns once the fill ended or ctx is done.
func (f *fill) wait(ctx context.Context) {
	for {
		f.mu.Lock()
		done, ch := f.done, f.progress
		f.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// end records the outcome and wakes every reader; only the first call
// counts.
func (f *fill) end(err error) {
	f.n.fillMu.Lock()
	if f.n.fills[f.key] == f {
		delete(f.n.fills, f.key)
	}
	f.n.fillMu.Unlock()
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return
	}
	f.done, f.ferr = true, err
	close(f.progress)
	f.progress = make(chan struct{})
	f.mu.Unlock()
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// fillReader reads a fill's body as it arrives.
type fillReader struct {
	f   *fill
	ctx context.Context
	off int64
}

func (r *fillReader) Read(p []byte) (int, error) {
	if r.off >= r.f.info.Size {
		return 0, io.EOF
	}
	avail, err := r.wait()
	if err != nil {
		return 0, err
	}
	k := int(min(int64(len(p)), avail-r.off))
	k, err = r.f.body.ReadAt(p[:k], r.off)
	r.off += int64(k)
	if err == io.EOF && k > 0 {
		err = nil
	}
	return k, err
}

// WriteTo writes the rest of the body to w as it arrives. A body in
// memory goes to w straight from its buffer, without a copy.
func (r *fillReader) WriteTo(w io.Writer) (int64, error) {
	m, ok := r.f.body.(*memBody)
	if !ok {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		return io.CopyBuffer(w, struct{ io.Reader }{r}, *bp)
	}
	var total int64
	for r.off < r.f.info.Size {
		avail, err := r.wait()
		if err != nil {
			return total, err
		}
		k, err := w.Write(m.b[r.off:avail])
		r.off += int64(k)
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// wait returns, once there is one, the end of the bytes from r.off on
// that readers may have, or the fill's error.
func (r *fillReader) wait() (int64, error) {
	f := r.f
	for {
		f.mu.Lock()
		avail, done, ferr, ch := f.written, f.done, f.ferr, f.progress
		f.mu.Unlock()
		if !done || ferr != nil {
			// Hold back the last byte until the fill has checked the body
			// and committed it: a client that has read a whole body then
			// finds it cached on its next request (not a 404, nor the
			// copy it replaced), and a body that fails its check never
			// reaches a client complete.
			avail = min(avail, f.info.Size-1)
		}
		if r.off < avail {
			return avail, nil
		}
		if ferr != nil {
			return 0, ferr
		}
		if done {
			return 0, io.ErrUnexpectedEOF
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *fillReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.f.info.Size
	}
	if offset < 0 {
		return 0, errors.New("seek before start")
	}
	r.off = offset
	return offset, nil
}

// A fill whose body is only served, not kept (a read from a peer without
// cache on read, or of a level-0 object), holds the body in memory rather
// than in a temp file: no file is created, written, read back and
// removed per request, which cost more CPU than the rest of a small peer
// read. Nor is its MD5 computed: the peer checked the body when it stored
// it (or, reading it through as the key's owner, before it sent the last
// byte, see fillReader), as a node serving a local hit relies on its own
// check; the length is checked as for any fill. Memory for such bodies is
// bounded per body and in all; a fill beyond either uses a temp file.
const (
	memBodyMax    = 8 << 20  // largest body held in memory
	memBodyBudget = 64 << 20 // most bytes of such bodies held at once
)

// fillBody is where a fill writes its body as it arrives and its readers
// read it back from (ReadAt below what was written, while writing goes
// on).
type fillBody interface {
	io.Writer
	io.ReaderAt
	Close() error
}

// Small bodies to keep are also filled in memory, and written to the
// index's log by the recorder (see record.go) with the fill's entry, as
// puts write theirs: no file is created, written and renamed on the
// client's path (a third of a 4 KiB miss's CPU on this machine's ext4).
// Until recorded such a body is served from memory, within
// unloggedBudget bytes for the node; a fill beyond it uses a temp file.
const unloggedBudget = 64 << 20

// newBody sets where the body of src goes: memory when it is only served
// and fits, or is small, else a temp file of the store. It sets them under
// f.mu: a reader that gives up before the fill is ready looks at f.body.
func (f *fill) newBody(src *source) error {
	n, size := f.n, src.info.Size
	if src.keep && size <= logBody {
		if n.unloggedMem.Add(size) <= unloggedBudget {
			f.mu.Lock()
			f.logMem, f.body = size, &memBody{b: make([]byte, size)}
			f.mu.Unlock()
			return nil
		}
		n.unloggedMem.Add(-size)
	}
	if src.peer != "" && !src.keep && size <= memBodyMax {
		if n.fillMem.Add(size) <= memBodyBudget {
			f.mu.Lock()
			f.mem, f.body = size, newMemBody(size)
			f.mu.Unlock()
			return nil
		}
		n.fillMem.Add(-size)
	}
	tmp, err := n.store.NewTemp()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.tmp, f.body = tmp, tempBody{tmp}
	f.mu.Unlock()
	return nil
}

// tempBody is a fillBody in a temp file.
type tempBody struct{ *store.Temp }

func (t tempBody) ReadAt(p []byte, off int64) (int, error) { return t.File().ReadAt(p, off) }

// memBody is a fillBody in memory, of a size known ahead. Write appends
// (one writer), ReadAt reads what the fill published as written: the
// fill's mutex orders the two.
type memBody struct {
	b    []byte
	n    int
	buf  *[]byte    // b's buffer, from pool
	pool *sync.Pool // nil: b is not pooled
}

func (m *memBody) Write(p []byte) (int, error) {
	if len(p) > len(m.b)-m.n {
		return 0, errors.New("body longer than announced")
	}
	m.n += copy(m.b[m.n:], p)
	return len(p), nil
}

func (m *memBody) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	k := copy(p, m.b[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// Close gives the buffer back; the fill's last reference closes it.
func (m *memBody) Close() error {
	if m.pool != nil {
		m.pool.Put(m.buf)
		m.pool, m.buf, m.b = nil, nil, nil
	}
	return nil
}

// memBufs pool memBody buffers, one pool per power of two from 4 KiB to
// memBodyMax: a megabyte made (and cleared) per peer read cost a tenth of
// its CPU.
var memBufs [12]sync.Pool

func newMemBody(size int64) *memBody {
	i := 0
	for int64(4<<10)<<i < size {
		i++
	}
	if i >= len(memBufs) {
		return &memBody{b: make([]byte, size)}
	}
	bp, _ := memBufs[i].Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 4<<10<<i)
		bp = &b
	}
	return &memBody{b: (*bp)[:size], buf: bp, pool: &memBufs[i]}
}
