package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
)

var _ peer.Objects = (*Node)(nil)
var _ peer.Journal = (*Node)(nil)

// OpenPeer opens (bucket, key) for another node: the copy this node
// holds, or, with opts.Fetch (this node is the key's owner), the object
// read through once for the cluster: concurrent forwarded misses of a key
// share this node's fill with its own clients. It implements peer.Objects.
func (n *Node) OpenPeer(ctx context.Context, bucket, key string, opts peer.OpenOptions) (*peer.Object, error) {
	if err := validateAddr(bucket, key); err != nil {
		return nil, err
	}
	o := n.lookupKnown(bucket, key)
	if o != nil && o.e.State == index.Deleted {
		return nil, fmt.Errorf("get %q: %w", key, core.ErrDeleted)
	}
	if o != nil && o.hasBody() {
		if obj := n.openLocal(o); obj != nil {
			n.stats.servedToPeers.Add(uint64(o.e.Size))
			return &peer.Object{Info: obj.Info, Ver: obj.ver, Body: obj.Content, Close: obj.Close, Dirty: o.e.State == index.Dirty}, nil
		}
	}
	if !opts.Fetch {
		return nil, fmt.Errorf("get %q: %w", key, core.ErrNotFound)
	}
	obj, err := n.get(ctx, bucket, key, GetOptions{ReadThrough: true}, opts.Hops)
	if err != nil {
		return nil, err
	}
	return &peer.Object{Info: obj.Info, Ver: obj.ver, Body: obj.Content, Close: obj.Close, Fetched: obj.Source == FromBackend}, nil
}

// StoreReplica stores a copy of another node's put, of version o.Ver made
// by event o.Seq, before that put's event may have reached this node: it
// is applied to the key's view here (and stored when it arrives in
// order). The copy is durable when StoreReplica returns. A replica of an
// object not yet in the backend (write-back) is kept dirty, not evicted,
// and queued on standby: this node uploads it only if its origin is gone
// before it did. It implements peer.Objects.
func (n *Node) StoreReplica(ctx context.Context, o *peer.Object) error {
	info := o.Info
	if err := validateInfo(&info); err != nil {
		return err
	}
	if o.Ver.IsZero() || o.Seq == 0 || strings.HasPrefix(o.Ver.Origin, journal.BackendOrigin) {
		return fmt.Errorf("%w: replica of version %v, event %d", core.ErrInvalidArgument, o.Ver, o.Seq)
	}
	if err := n.reserve(info.Size); err != nil {
		return err
	}
	defer n.reserved.Add(-info.Size)
	in, err := n.receive(o.Body, info.Size)
	if err != nil {
		return fmt.Errorf("replica %q: %w", info.Key, err)
	}
	defer in.close()
	if etag := info.ETag; len(etag) == 32 && !strings.Contains(etag, "-") && !strings.EqualFold(etag, in.etag) {
		return fmt.Errorf("replica %q: %w: body MD5 %s, ETag %s", info.Key, core.ErrBadDigest, in.etag, etag)
	}
	gen := newGen()
	if err := in.place(info.Bucket, info.Key, gen); err != nil {
		return fmt.Errorf("replica %q: %w", info.Key, err)
	}
	committed := false
	defer func() {
		if !committed {
			in.unplace(n.store, info.Bucket, info.Key, gen)
		}
	}()
	put := &journal.Event{Origin: o.Ver.Origin, Seq: o.Seq, Time: o.Ver.Time, Kind: journal.Put, Bucket: info.Bucket, Key: info.Key, Info: info}
	n.clock.Observe(put.Time)

	mu := n.keyLock(info.Bucket, info.Key)
	mu.Lock()
	defer mu.Unlock()
	old := n.lookup(info.Bucket, info.Key)
	var v journal.View
	if old != nil {
		v = old.e.View()
	}
	prev := v.Refs()
	v.Apply(put)
	if v.Ver != o.Ver {
		return nil // a later version is known already: nothing to keep
	}
	if old != nil && old.hasBody() && old.e.Ver == o.Ver && (old.e.State == index.Dirty || !o.Dirty) {
		return nil // held already
	}
	now := time.Now().UTC()
	e := index.Entry{Info: v.Info, Gen: gen, State: index.Clean, Atime: now, Validated: now}
	e.SetView(&v)
	var b index.Batch
	in.withBody(&b, &e)
	forgetUnneeded(&b, prev, &v)
	if o.Dirty && n.news.uploaded(tableKey(info.Bucket, info.Key), o.Ver) {
		o.Dirty = false // its origin uploaded it already
	}
	if o.Dirty {
		e.State = index.Dirty
		b.Enqueue(&index.Item{Op: index.OpPut, Bucket: info.Bucket, Key: info.Key, Gen: gen, Enqueued: now, Standby: true})
	}
	cur := newObject(e)
	n.localEvent(&b, cur, &e, journal.Hold, o.Ver)
	b.Put(e)
	if err := n.publish(ctx, &b, change{old, &e}); err != nil {
		return fmt.Errorf("replica %q: %w", info.Key, err)
	}
	committed = true
	if o.Dirty {
		n.up.added(1)
	}
	return nil
}

// replicateWrite copies a write-back put to one other node of its
// placement (or any live node), durably, before the put is acknowledged:
// losing this node's disk before the upload then loses nothing. It
// returns nil when this node has no live peer.
func (n *Node) replicateWrite(ctx context.Context, e *index.Entry) error {
	others, _ := n.peers()
	if len(others) == 0 {
		return nil
	}
	var cands []Member
	for _, m := range n.placement(e.Bucket, e.Key, e.Level) {
		if m.ID != n.id {
			cands = append(cands, m)
		}
	}
	for _, m := range others {
		if !containsMember(cands, m.ID) {
			cands = append(cands, m)
		}
	}
	var errs []error
	for _, m := range cands {
		body, done, err := n.openBody(e)
		if err != nil {
			return err
		}
		err = n.cfg.Peers.Replicate(ctx, m.PeerAddr, &peer.Object{Info: e.Info, Ver: e.Ver, Seq: e.Made.Seq, Dirty: true, Body: body})
		done()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: stored on this node, but no other node took a copy: %w", core.ErrUnavailable, errors.Join(errs...))
}

func containsMember(ms []Member, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}
