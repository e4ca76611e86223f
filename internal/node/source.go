package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
)

// source is where a fill reads a body from: a peer that holds it, the
// key's owner (which reads it through for the whole cluster), or the
// backend.
type source struct {
	info core.Info
	ver  journal.Version // the version the peer served; zero from the backend
	from Source
	peer string // the peer's ID, if any
	body io.ReadCloser
	// keep: the fill is to be cached here (not for a peer read when the
	// node does not cache on read, nor for a journal version this node
	// does not know yet).
	keep bool
	// dirty: the peer's copy is not in the backend yet; so is this one.
	dirty bool
}

// fail wraps an error reading the body.
func (s *source) fail(err error) error {
	if s.from == FromBackend && s.peer == "" {
		return asBackendError("get", err)
	}
	return fmt.Errorf("read from peer %s: %w", s.peer, err)
}

type peerBody struct {
	io.Reader
	close func()
}

func (b peerBody) Close() error { b.close(); return nil }

// openSource opens the body of (bucket, key) for a fill: from a live
// holder of the version this node knows (prev), else through the key's
// owner unless this node is the owner or the request was forwarded here
// already, else from the backend. A peer that fails is skipped; an owner
// that answers that the backend has no such object is believed.
func (n *Node) openSource(ctx context.Context, bucket, key string, prev *object, opts fetchOpts) (*source, error) {
	if opts.ifNoneMatch == "" && n.cfg.Cluster != nil {
		for _, m := range n.liveHolders(prev) {
			if m.ID == opts.skip {
				continue
			}
			o, err := n.cfg.Peers.Open(ctx, m.PeerAddr, bucket, key, peer.OpenOptions{Hops: opts.hops, Size: prev.e.Size})
			if err == nil && o.Ver != prev.e.Ver {
				o.Close()
				err = fmt.Errorf("peer %s holds version %v, not %v", m.ID, o.Ver, prev.e.Ver)
			}
			if err != nil {
				n.stats.peerReadFailed.Add(1)
				n.log.Debug("read from holder failed", "peer", m.ID, "bucket", bucket, "key", key, "err", err)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			n.stats.peerReadOK.Add(1)
			return &source{info: o.Info, ver: o.Ver, from: FromPeer, peer: m.ID, body: peerBody{o.Body, o.Close},
				keep: n.keepPeerCopy(o, opts), dirty: o.Dirty}, nil
		}
		if owner := n.owner(bucket, key); owner.ID != n.id && opts.hops < peer.MaxHops {
			o, err := n.cfg.Peers.Open(ctx, owner.PeerAddr, bucket, key, peer.OpenOptions{Fetch: true, Hops: opts.hops + 1})
			if err == nil {
				n.stats.ownerReadOK.Add(1)
				return n.ownerSource(o, owner.ID, prev, opts), nil
			}
			if errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrDeleted) {
				n.stats.ownerReadOK.Add(1)
				return nil, fmt.Errorf("get %q: %w", key, core.ErrNotFound)
			}
			n.stats.ownerReadFailed.Add(1)
			n.log.Debug("read through owner failed; reading from the backend", "owner", owner.ID, "bucket", bucket, "key", key, "err", err)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	obj, err := n.backend.Get(ctx, bucket, key, backend.GetOptions{IfNoneMatch: opts.ifNoneMatch})
	n.backendCall("get", err)
	if err != nil {
		if !isExpected(err) {
			err = asBackendError("get", err)
		}
		return nil, err
	}
	fixFetched(&obj.Info, bucket, key)
	return &source{info: obj.Info, from: FromBackend, body: obj.Body, keep: true}, nil
}

// keepPeerCopy says whether to keep a copy of what a peer served: for
// replication, or on read unless NoCacheOnRead; never of a level-0
// object, which stays on the node that took it.
func (n *Node) keepPeerCopy(o *peer.Object, opts fetchOpts) bool {
	return o.Info.Level >= core.LevelBackend && (opts.replicate || !n.cfg.NoCacheOnRead)
}

// keepsPeerCopies says whether a client's read of an object of level lvl
// from a peer leaves a copy here.
func (n *Node) keepsPeerCopies(lvl core.Level) bool {
	return lvl >= core.LevelBackend && !n.cfg.NoCacheOnRead
}

// ownerSource is the source of a body the key's owner served.
func (n *Node) ownerSource(o *peer.Object, owner string, prev *object, opts fetchOpts) *source {
	s := &source{info: o.Info, ver: o.Ver, from: FromPeer, peer: owner, body: peerBody{o.Body, o.Close},
		keep: n.keepPeerCopy(o, opts), dirty: o.Dirty}
	if o.Fetched {
		s.from = FromBackend
	}
	known := prev != nil && prev.e.State != index.Deleted && o.Ver == prev.e.Ver
	if !known && !o.Ver.IsZero() && !strings.HasPrefix(o.Ver.Origin, journal.BackendOrigin) {
		// A version written through the cluster that this node's journal
		// has not shown it yet: serve it, but keep no copy of what it
		// cannot name.
		s.keep = false
	}
	return s
}
