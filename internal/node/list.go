package node

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
)

// A backend listing does not show what the node has not uploaded yet
// (write-back) and may still show what it deleted but not yet deleted in
// the backend. These two methods let a listing be corrected.

// Deleted reports whether (bucket, key) was deleted through objstore and not
// written since. Reads of it answer core.ErrDeleted, so a listing hides it.
func (n *Node) Deleted(bucket, key string) bool {
	o := n.lookup(bucket, key)
	return o != nil && o.e.State == index.Deleted
}

// Dirty returns the objects of bucket whose key starts with prefix and that
// are not in the backend yet, sorted by key: those this node holds and
// those the live peers hold (write-back puts they took), asked all at once.
// A peer that does not answer within the peer timeout is left out, as are
// peers' objects this node knows to be deleted since.
func (n *Node) Dirty(ctx context.Context, bucket, prefix string) []core.Info {
	out := n.LocalDirty(bucket, prefix)
	peers, _ := n.peers()
	if len(peers) == 0 {
		return out
	}
	lists := make([][]core.Info, len(peers))
	var wg sync.WaitGroup
	for i, m := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := n.cfg.Peers.Dirty(ctx, m.PeerAddr, bucket, prefix)
			if err != nil {
				n.log.Warn("list objects not yet in the backend", "peer", m.ID, "err", err)
				return
			}
			lists[i] = l
		}()
	}
	wg.Wait()
	// Each key once: the latest write of it.
	byKey := make(map[string]core.Info, len(out))
	for _, info := range out {
		byKey[info.Key] = info
	}
	for _, l := range lists {
		for _, info := range l {
			if info.Bucket != bucket || !strings.HasPrefix(info.Key, prefix) {
				continue
			}
			if o := n.lookup(bucket, info.Key); o != nil && o.e.State == index.Deleted && !o.e.ModTime.Before(info.ModTime) {
				continue
			}
			if cur, ok := byKey[info.Key]; !ok || info.ModTime.After(cur.ModTime) {
				byKey[info.Key] = info
			}
		}
	}
	out = slices.AppendSeq(out[:0], maps.Values(byKey))
	slices.SortFunc(out, func(a, b core.Info) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// LocalDirty returns the objects of bucket whose key starts with prefix
// that this node holds and that are not in the backend yet, sorted by key.
func (n *Node) LocalDirty(bucket, prefix string) []core.Info {
	n.dirtyMu.Lock()
	var out []core.Info
	for _, o := range n.dirty {
		if o.e.Bucket == bucket && strings.HasPrefix(o.e.Key, prefix) {
			out = append(out, o.e.Info)
		}
	}
	n.dirtyMu.Unlock()
	slices.SortFunc(out, func(a, b core.Info) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// trackDirty keeps the set of dirty objects current as the table changes.
func (n *Node) trackDirty(k string, old, no *object) {
	wasDirty := old != nil && old.e.State == index.Dirty
	isDirty := no != nil && no.e.State == index.Dirty
	if !wasDirty && !isDirty {
		return
	}
	n.dirtyMu.Lock()
	if isDirty {
		n.dirty[k] = no
	} else {
		delete(n.dirty, k)
	}
	n.dirtyMu.Unlock()
}
