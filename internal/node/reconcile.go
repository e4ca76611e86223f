package node

import (
	"context"
	"fmt"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
	"github.com/objstore/objstore/internal/store"
)

// reconcile loads the index into memory and makes it agree with the bodies
// on disk: a body without an entry (a write that crashed before its index
// commit, or a replaced generation whose removal was cut short) is removed;
// an entry whose body is missing or has the wrong size is downgraded to
// metadata only, with a journal Drop (a dirty or level-0 body existed
// nowhere else: it is lost, and said so in the log).
func (n *Node) reconcile() error {
	byName := make(map[string]*index.Entry)
	var entries []*index.Entry
	err := n.db.Entries(func(e index.Entry) error {
		ep := &e
		entries = append(entries, ep)
		if (e.State == index.Clean || e.State == index.Dirty) && e.Pack.IsZero() {
			byName[store.Name(e.Bucket, e.Key, e.Gen)] = ep
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	present := make(map[*index.Entry]bool, len(byName))
	removed := 0
	err = n.store.Sweep(func(name string, size int64) error {
		if e, ok := byName[name]; ok && e.Size == size {
			present[e] = true
			return nil
		}
		removed++
		return n.store.RemoveName(name)
	})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, e := range entries {
		// A body in the index's log: there while its segment holds it.
		if (e.State == index.Clean || e.State == index.Dirty) && !e.Pack.IsZero() && n.db.Hold(e.Pack, e.Size) == nil {
			present[e] = true
		}
	}
	var fix index.Batch
	var fixed []*index.Entry
	for _, e := range entries {
		if (e.State == index.Clean || e.State == index.Dirty) && !present[e] {
			if e.State == index.Dirty || e.Level == core.LevelLocal {
				where := "file " + store.Name(e.Bucket, e.Key, e.Gen)
				if !e.Pack.IsZero() {
					where = fmt.Sprintf("log segment %d at %d", e.Pack.Seg, e.Pack.Off)
				}
				n.log.Error("body lost from disk; forgetting object", "bucket", e.Bucket, "key", e.Key, "state", e.State,
					"size", e.Size, "body", where)
			}
			// The journal says that this node no longer holds it.
			old := newObject(*e)
			e.State, e.Gen, e.Pack = index.Evicted, "", index.Loc{}
			n.localEvent(&fix, old, e, journal.Drop, e.Ver)
			fix.Put(*e)
			fixed = append(fixed, e)
		}
	}
	if err := n.db.Commit(context.Background(), &fix); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, e := range fixed {
		fix.NumberEntry(e)
	}
	if err := n.db.Counted(); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, e := range entries {
		o := newObject(*e)
		n.objects[tableKey(e.Bucket, e.Key)] = o
		n.trackDirty(tableKey(e.Bucket, e.Key), nil, o)
		if o.hasBody() {
			n.used.Add(e.Size)
			n.stats.objects.Add(1)
		}
	}
	n.log.Info("index loaded", "objects", n.stats.objects.Load(), "bytes", n.used.Load(),
		"entries", len(entries), "orphans_removed", removed, "entries_fixed", fix.Len())
	return nil
}
