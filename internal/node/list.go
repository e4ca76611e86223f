package node

import (
	"slices"
	"strings"

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
// are not yet in the backend, sorted by key.
func (n *Node) Dirty(bucket, prefix string) []core.Info {
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
