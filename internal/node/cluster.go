package node

import (
	"context"
	"io"
	"slices"
	"strings"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/peer"
	"github.com/objstore/objstore/internal/rendezvous"
)

// Member is a live node of the cluster.
type Member struct {
	ID       string
	PeerAddr string // host:port of its peer listener
	// Ready: it has caught up with the journal since it started. A node
	// not ready gets pushes and serves the copies it holds, but is not
	// made a key's owner or a new copy's holder.
	Ready bool
	// Capacity is the size of its cache in bytes (0: unknown). Placement
	// gives each node a share of the keys in proportion to it.
	Capacity int64
}

// Cluster is the node's view of its cluster's membership (the membership
// package). Implementations must be safe for concurrent use and must not
// block.
type Cluster interface {
	// Live returns the members currently alive, this node included. The
	// slice may be shared with other callers: it must not be modified.
	Live() []Member
}

// Peers makes requests to other nodes (peer.Client). Implementations must
// be safe for concurrent use and give up on an unresponsive peer quickly.
type Peers interface {
	Open(ctx context.Context, addr, bucket, key string, opts peer.OpenOptions) (*peer.Object, error)
	Replicate(ctx context.Context, addr string, o *peer.Object) error
	Push(ctx context.Context, addr string, stream []byte) error
	Sync(ctx context.Context, addr string, v journal.Vector) (io.ReadCloser, error)
	Dirty(ctx context.Context, addr, bucket, prefix string) ([]core.Info, error)
	Uploaded(ctx context.Context, addr, bucket, key string, ver journal.Version) error
	Stat(ctx context.Context, addr, bucket, key string, hops int) (core.Info, error)
}

// AllReplicas as Config.Replicas keeps a copy of every object on every node.
const AllReplicas = -1

// live returns the live members other than this node, and the count of all
// live members (this node included).
func (n *Node) peers() ([]Member, int) {
	if n.cfg.Cluster == nil {
		return nil, 1
	}
	all := n.cfg.Cluster.Live()
	others := make([]Member, 0, len(all))
	self := false
	for _, m := range all {
		if m.ID == n.id {
			self = true
		} else {
			others = append(others, m)
		}
	}
	count := len(others)
	if self || len(all) == 0 {
		count++
	}
	return others, count
}

// placement returns the members that should hold a copy of an object of
// level lvl: the top Replicas of the key's rendezvous ranking over the
// live, ready members (all of them for level 2), owner first, each member
// weighted by its cache capacity (see share) so that unique capacity is
// about the sum of the disks over the replicas, not limited by the
// smallest. Without a cluster it is this node alone.
func (n *Node) placement(bucket, key string, lvl core.Level) []Member {
	if n.cfg.Cluster == nil {
		return []Member{{ID: n.id}}
	}
	var all []Member
	for _, m := range n.cfg.Cluster.Live() {
		if m.Ready && m.ID != n.id {
			all = append(all, m)
		}
	}
	// This node counts itself once, ready or not: until it has caught up
	// it does its own fetches rather than ask an owner it may not know.
	all = append(all, Member{ID: n.id, Ready: true, Capacity: n.cfg.Capacity})
	if len(all) == 1 {
		return all // alone: no ranking to compute
	}
	r := n.cfg.Replicas
	if lvl == core.LevelAll || r == AllReplicas {
		r = len(all)
	}
	ids := make([]string, len(all))
	shares := make([]uint64, len(all))
	byID := make(map[string]Member, len(all))
	for i, m := range all {
		ids[i], shares[i] = m.ID, share(m.Capacity)
		byID[m.ID] = m
	}
	top := rendezvous.TopShares(tableKey(bucket, key), ids, shares, r)
	out := make([]Member, len(top))
	for i, id := range top {
		out[i] = byID[id]
	}
	return out
}

// share is a member's weight in placement: its capacity in whole GiB (at
// least 1; 0 for a member whose capacity is unknown, which counts as 1), so
// that capacities every node sees alike weigh alike, and a few bytes'
// difference between two runs of one node moves no key.
func share(capacity int64) uint64 {
	return uint64(max(capacity, 0) >> 30)
}

// owner returns the key's owner: the top live member of its ranking.
func (n *Node) owner(bucket, key string) Member {
	return n.placement(bucket, key, core.LevelBackend)[0]
}

// liveHolders returns the live members other than this node that hold the
// current version of o, in the key's ranking order.
func (n *Node) liveHolders(o *object) []Member {
	if n.cfg.Cluster == nil || o == nil {
		return nil
	}
	v := o.e.View()
	holders := v.Holders()
	if len(holders) == 0 || len(holders) == 1 && holders[0] == n.id {
		return nil
	}
	var out []Member
	for _, m := range n.cfg.Cluster.Live() {
		if m.ID != n.id && slices.Contains(holders, m.ID) {
			out = append(out, m)
		}
	}
	if len(out) < 2 {
		return out
	}
	ids := make([]string, len(out))
	for i, m := range out {
		ids[i] = m.ID
	}
	ranked := rendezvous.Rank(tableKey(o.e.Bucket, o.e.Key), ids)
	slices.SortFunc(out, func(a, b Member) int { return slices.Index(ranked, a.ID) - slices.Index(ranked, b.ID) })
	return out
}

// wantsCopy reports whether this node should hold a copy of o and does
// not: o was written through the cluster (not merely read from the
// backend), at level 1 or more, and this node is among its placement.
func (n *Node) wantsCopy(o *object) bool {
	if n.cfg.Cluster == nil || o == nil || o.hasBody() || o.e.State == index.Deleted || o.e.Level < core.LevelBackend ||
		o.e.Ver.IsZero() || strings.HasPrefix(o.e.Ver.Origin, journal.BackendOrigin) {
		return false
	}
	return slices.ContainsFunc(n.placement(o.e.Bucket, o.e.Key, o.e.Level), func(m Member) bool { return m.ID == n.id })
}
