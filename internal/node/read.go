package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
)

// GetOptions qualifies a read.
type GetOptions struct {
	// ReadThrough fetches a key this node has never seen from the backend;
	// without it such a key is core.ErrNotFound (the /api/v1 default). A key
	// the node knows but holds no body of is always fetched.
	ReadThrough bool
	// Revalidate checks a cached copy against the backend whatever its age
	// (a client's Cache-Control: no-cache).
	Revalidate bool
}

// Object is an open object. Close it when done.
type Object struct {
	core.Info
	// Source says where the body comes from.
	Source Source
	// Stale is set when the copy could not be revalidated because the
	// backend failed, and is served anyway (stale-if-error).
	Stale bool
	// Content reads the body: Info.Size bytes, seekable. For a local hit
	// it is the *os.File, so that the HTTP server can use sendfile.
	Content io.ReadSeeker
	close   func()
	ver     journal.Version // the journal version served
}

// CacheStatus says how the read was served, for the X-Objstore-Cache
// header: HIT, MISS, PEER or STALE.
func (o *Object) CacheStatus() string {
	switch {
	case o.Stale:
		return "STALE"
	case o.Source == FromBackend:
		return "MISS"
	case o.Source == FromPeer:
		return "PEER"
	}
	return "HIT"
}

// Close releases the object's resources.
func (o *Object) Close() { o.close() }

// Get opens an object for reading: from local disk if the node holds it,
// else from the backend. Concurrent misses of one key share one backend GET.
// A deleted object returns core.ErrDeleted; an unknown one core.ErrNotFound
// unless opts.ReadThrough. Backend failures on a miss are *core.BackendError.
func (n *Node) Get(ctx context.Context, bucket, key string, opts GetOptions) (*Object, error) {
	return n.get(ctx, bucket, key, opts, 0)
}

// get is Get of a request forwarded hops times.
func (n *Node) get(ctx context.Context, bucket, key string, opts GetOptions, hops int) (*Object, error) {
	if err := validateAddr(bucket, key); err != nil {
		return nil, err
	}
	o := n.lookupKnown(bucket, key)
	switch {
	case o == nil && !opts.ReadThrough:
		return nil, fmt.Errorf("get %q: %w", key, core.ErrNotFound)
	case o == nil:
	case o.e.State == index.Deleted:
		return nil, fmt.Errorf("get %q: %w", key, core.ErrDeleted)
	case o.hasBody():
		if n.needsRevalidate(o, opts) {
			return n.revalidate(ctx, o)
		}
		if obj := n.openLocal(o); obj != nil {
			return obj, nil
		}
	}
	fo := fetchOpts{hops: hops}
	if o != nil && !o.hasBody() && o.e.State != index.Deleted && o.e.Size <= smallBody && !n.keepsPeerCopies(o.e.Level) {
		obj, tried := n.readHolder(ctx, o, hops)
		if obj != nil {
			n.stats.misses.Add(1)
			return obj, nil
		}
		fo.skip = tried
	}
	obj, err := n.fetch(ctx, bucket, key, o, fo)
	if errors.Is(err, errKeyChanged) {
		return n.get(ctx, bucket, key, opts, hops) // look again: it is cached or deleted now
	}
	n.stats.misses.Add(1)
	return obj, err
}

// holderBufs hold small bodies read from a holder, see readHolder.
var holderBufs = sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }}

// readHolder reads o, a small object this node holds no copy of and will
// keep none of, whole from its first live holder, in the request's own
// goroutine: such a read needs no fill (nothing is written here, and the
// holder reads its disk, not the backend), and a fill's hand-offs between
// goroutines cost more than the read of 4 KiB itself. It returns nil and
// the holder it tried when that holder fails or has another version; the
// caller then fetches as usual, without that holder.
func (n *Node) readHolder(ctx context.Context, o *object, hops int) (*Object, string) {
	if n.cfg.Cluster == nil {
		return nil, ""
	}
	holders := n.liveHolders(o)
	if len(holders) == 0 {
		return nil, ""
	}
	m := holders[0]
	po, err := n.cfg.Peers.Open(ctx, m.PeerAddr, o.e.Bucket, o.e.Key, peer.OpenOptions{Hops: hops, Size: o.e.Size})
	if err == nil && (po.Ver != o.e.Ver || po.Info.Size != o.e.Size) {
		po.Close()
		err = fmt.Errorf("peer %s holds version %v of %d bytes, not %v", m.ID, po.Ver, po.Info.Size, o.e.Ver)
	}
	if err != nil {
		n.stats.peerReadFailed.Add(1)
		n.log.Debug("read from holder failed", "peer", m.ID, "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
		return nil, m.ID
	}
	info := po.Info
	info.Bucket, info.Key = o.e.Bucket, o.e.Key
	if b, ok := po.Body.(peer.Bytes); ok && int64(len(b.Bytes())) == info.Size {
		// In memory already (a pipe's): served from there.
		n.stats.peerReadOK.Add(1)
		return &Object{Info: info, Source: FromPeer, Content: bytes.NewReader(b.Bytes()), close: po.Close, ver: po.Ver}, ""
	}
	bp := holderBufs.Get().(*[]byte)
	buf := (*bp)[:po.Info.Size]
	_, err = io.ReadFull(po.Body, buf)
	po.Close()
	if err != nil {
		holderBufs.Put(bp)
		n.stats.peerReadFailed.Add(1)
		n.log.Debug("read from holder failed", "peer", m.ID, "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
		return nil, m.ID
	}
	n.stats.peerReadOK.Add(1)
	return &Object{Info: info, Source: FromPeer, Content: bytes.NewReader(buf), close: func() { holderBufs.Put(bp) }, ver: po.Ver}, ""
}

// openLocal opens o's body, or returns nil if it is gone from disk (which
// reconciliation rules out but a disk fault may not).
func (n *Node) openLocal(o *object) *Object {
	m := o.unlogged
	if p := o.mem.Load(); m == nil && p != nil && p != &droppedMem {
		m = *p
	}
	if m != nil {
		touch(o)
		n.stats.hits.Add(1)
		return &Object{Info: o.e.Info, Source: FromLocal, Content: bytes.NewReader(m), close: func() {}, ver: o.e.Ver}
	}
	var content io.ReadSeeker
	var release func()
	var err error
	if o.e.Size <= smallBody && o.e.Pack.IsZero() {
		content, release, err = n.openShared(o)
	} else {
		content, release, err = n.openBody(&o.e)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			n.log.Warn("open cached body", "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
		}
		return nil
	}
	if m := n.keepHot(o, content); m != nil {
		release()
		content, release = bytes.NewReader(m), func() {}
	}
	touch(o)
	n.stats.hits.Add(1)
	return &Object{Info: o.e.Info, Source: FromLocal, Content: content, close: release, ver: o.e.Ver}
}

// Stat returns an object's metadata. It never asks the backend about an
// object the node knows (cached or evicted); an unknown one is looked up
// with a backend HEAD when opts.ReadThrough.
func (n *Node) Stat(ctx context.Context, bucket, key string, opts GetOptions) (core.Info, Source, error) {
	return n.stat(ctx, bucket, key, opts, 0)
}

// StatPeer is Stat for a peer that forwarded a HEAD to this node, the
// key's owner, hops times. It implements peer.Objects.
func (n *Node) StatPeer(ctx context.Context, bucket, key string, hops int) (core.Info, error) {
	info, _, err := n.stat(ctx, bucket, key, GetOptions{ReadThrough: true}, hops)
	return info, err
}

func (n *Node) stat(ctx context.Context, bucket, key string, opts GetOptions, hops int) (core.Info, Source, error) {
	if err := validateAddr(bucket, key); err != nil {
		return core.Info{}, 0, err
	}
	o := n.lookupKnown(bucket, key)
	switch {
	case o != nil && o.e.State == index.Deleted:
		return core.Info{}, 0, fmt.Errorf("stat %q: %w", key, core.ErrDeleted)
	case o != nil && o.hasBody():
		touch(o)
		return o.e.Info, FromLocal, nil
	case o != nil:
		return o.e.Info, FromBackend, nil
	case !opts.ReadThrough:
		return core.Info{}, 0, fmt.Errorf("stat %q: %w", key, core.ErrNotFound)
	}
	info, err := n.headUnknown(ctx, bucket, key, hops)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.Info{}, 0, fmt.Errorf("stat %q: %w", key, core.ErrNotFound)
		}
		return core.Info{}, 0, fmt.Errorf("stat %q: %w", key, asBackendError("head", err))
	}
	fixFetched(&info, bucket, key)
	return info, FromBackend, nil
}

// headUnknown asks the backend about a key the node does not know, one
// request at a time per key: concurrent HEADs of it share the answer, as
// concurrent misses share a fill. The shared request is not cancelled with
// the first caller's context; each caller stops waiting when its own ends.
func (n *Node) headUnknown(ctx context.Context, bucket, key string, hops int) (core.Info, error) {
	leader := false // set by the caller whose HEAD goes out; read after it did
	ch := n.heads.DoChan(tableKey(bucket, key), func() (any, error) {
		leader = true
		ctx := context.WithoutCancel(ctx)
		if info, ok, err := n.headThroughOwner(ctx, bucket, key, hops); ok {
			return info, err
		}
		info, err := n.backend.Head(ctx, bucket, key)
		n.backendCall("head", err)
		return info, err
	})
	select {
	case r := <-ch:
		if !leader {
			n.stats.coalescedHeads.Add(1)
		}
		info, _ := r.Val.(core.Info)
		return info, r.Err
	case <-ctx.Done():
		return core.Info{}, ctx.Err()
	}
}

// headThroughOwner asks the key's owner, unless this node is the owner or
// the request was forwarded here already: the owner coalesces the
// cluster's HEADs of a key no node knows into one backend request, as it
// does misses. ok is false when the owner did not answer (the caller asks
// the backend itself).
func (n *Node) headThroughOwner(ctx context.Context, bucket, key string, hops int) (info core.Info, ok bool, err error) {
	if n.cfg.Cluster == nil || hops > 0 {
		return core.Info{}, false, nil
	}
	owner := n.owner(bucket, key)
	if owner.ID == n.id {
		return core.Info{}, false, nil
	}
	info, err = n.cfg.Peers.Stat(ctx, owner.PeerAddr, bucket, key, hops+1)
	switch {
	case err == nil:
		return info, true, nil
	case errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrDeleted):
		return core.Info{}, true, fmt.Errorf("stat %q: %w", key, core.ErrNotFound)
	}
	n.log.Debug("HEAD through owner failed; asking the backend", "owner", owner.ID, "bucket", bucket, "key", key, "err", err)
	return core.Info{}, false, nil
}

func (n *Node) needsRevalidate(o *object, opts GetOptions) bool {
	if o.e.State != index.Clean || o.e.Level < core.LevelBackend {
		return false // the backend does not have (this version of) it
	}
	if opts.Revalidate {
		return true
	}
	return n.cfg.RevalidateAfter > 0 && time.Since(timeFromNanos(o.valid.Load())) > n.cfg.RevalidateAfter
}

// revalidate asks the backend whether o is still current, with a
// conditional GET: unchanged costs no transfer, changed streams the new
// version, gone forgets the object, and a failure serves the cached copy.
func (n *Node) revalidate(ctx context.Context, o *object) (*Object, error) {
	n.stats.revalidations.Add(1)
	obj, err := n.fetch(ctx, o.e.Bucket, o.e.Key, o, fetchOpts{ifNoneMatch: o.e.ETag})
	switch {
	case err == nil:
		return obj, nil
	case errors.Is(err, core.ErrNotModified):
		o.valid.Store(time.Now().UnixNano())
		if obj := n.openLocal(o); obj != nil {
			return obj, nil
		}
		return n.fetch(ctx, o.e.Bucket, o.e.Key, o, fetchOpts{})
	case errors.Is(err, core.ErrNotFound):
		n.forget(ctx, o)
		return nil, err
	case ctx.Err() != nil:
		return nil, err
	}
	n.log.Warn("revalidate failed; serving cached copy", "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
	obj = n.openLocal(o)
	if obj == nil {
		return nil, err
	}
	n.stats.stale.Add(1)
	obj.Stale = true
	return obj, nil
}

// forget drops o, gone from the backend behind objstore's back.
func (n *Node) forget(ctx context.Context, o *object) {
	if err := n.forgetKeys(ctx, []*object{o}); err != nil {
		n.log.Warn("forget object", "bucket", o.e.Bucket, "key", o.e.Key, "err", err)
	}
}

// fixFetched completes the Info of an object read from the backend: it is
// in the backend, so its level is at least LevelBackend whatever the
// metadata says.
func fixFetched(info *core.Info, bucket, key string) {
	info.Bucket, info.Key = bucket, key
	if info.Level < core.LevelBackend {
		info.Level = core.LevelBackend
	}
}
