package journal

import (
	"slices"
	"strings"

	"github.com/objstore/objstore/internal/core"
)

// Holding is what Node's latest event about a key (Seq) says it holds:
// a copy of version Ver, or nothing when Ver is zero.
type Holding struct {
	Node string
	Ver  Version
	Seq  uint64
}

// View is the merged state of one key: the winning put or delete and who
// holds copies. The zero View knows nothing.
type View struct {
	// Ver is the winning put or delete; zero when none is known.
	Ver     Version
	Deleted bool
	// Info is the metadata of the winning put.
	Info core.Info
	// Holdings, sorted by Node: one per node that made a put, hold or drop
	// of the key, as its latest such event says. A holding of a version
	// other than Ver (an older one, or a newer one whose put this node has
	// not seen yet) does not count in Holders.
	Holdings []Holding
}

// Apply merges e into v and reports whether v changed. Applying an event
// twice changes nothing; applying a set of events in any order gives the
// same View, provided each origin's events are applied in Seq order (the
// sync protocol guarantees it).
func (v *View) Apply(e *Event) bool {
	changed := false
	switch e.Kind {
	case Put, Delete, Cache:
		if ver := e.Version(); v.Ver.Less(ver) {
			v.Ver, v.Deleted = ver, e.Kind == Delete
			v.Info = core.Info{}
			if e.Kind != Delete {
				v.Info = e.Info
				v.Info.Bucket, v.Info.Key = e.Bucket, e.Key
			}
			changed = true
		}
		if e.Kind != Delete {
			changed = v.setHolding(Holding{Node: e.Origin, Ver: e.Version(), Seq: e.Seq}) || changed
		}
	case Hold:
		changed = v.setHolding(Holding{Node: e.Origin, Ver: e.Ver, Seq: e.Seq})
	case Drop:
		changed = v.setHolding(Holding{Node: e.Origin, Seq: e.Seq})
	}
	return changed
}

// setHolding records h unless a later event of h.Node is already recorded.
func (v *View) setHolding(h Holding) bool {
	i, found := v.holding(h.Node)
	if found {
		if v.Holdings[i].Seq >= h.Seq {
			return false
		}
		v.Holdings[i] = h
		return true
	}
	v.Holdings = slices.Insert(v.Holdings, i, h)
	return true
}

func (v *View) holding(node string) (int, bool) {
	return slices.BinarySearchFunc(v.Holdings, node, func(x Holding, n string) int { return strings.Compare(x.Node, n) })
}

// Holders returns the nodes holding the current version, sorted.
func (v *View) Holders() []string {
	if v.Deleted || v.Ver.IsZero() {
		return nil
	}
	var out []string
	for _, h := range v.Holdings {
		if h.Ver == v.Ver {
			out = append(out, h.Node)
		}
	}
	return out
}

// Holds reports whether node holds the current version.
func (v *View) Holds(node string) bool {
	i, found := v.holding(node)
	return found && !v.Deleted && !v.Ver.IsZero() && v.Holdings[i].Ver == v.Ver
}

// Prune forgets holdings of versions older than the current one (drops
// included), and reports whether it forgot any. A pruned view has the same
// Holders, and the events it Needs rebuild it. Safe because a node never
// receives an origin's events out of Seq order, so no older event of that
// node can revive the holding. The holding of the winning put's origin is
// kept: the put it Needs would otherwise revive it; so are all holdings
// when a Cache won, as each of its Cache events would.
func (v *View) Prune() bool {
	if strings.HasPrefix(v.Ver.Origin, BackendOrigin) && !v.Deleted {
		return false
	}
	n := len(v.Holdings)
	v.Holdings = slices.DeleteFunc(v.Holdings, func(h Holding) bool {
		return h.Ver.Less(v.Ver) && (v.Deleted || h.Node != v.Ver.Origin)
	})
	if len(v.Holdings) == 0 {
		v.Holdings = nil
	}
	return len(v.Holdings) != n
}

// Needs reports whether e still contributes to v: it is the winning put
// or delete, or the latest event of a node's holding. Events v does not
// need can be compacted away: applying the rest gives the same View.
func (v *View) Needs(e *Event) bool {
	switch e.Kind {
	case Put, Delete, Cache:
		if e.Version() == v.Ver {
			return true
		}
	}
	i, found := v.holding(e.Origin)
	return found && v.Holdings[i].Seq == e.Seq
}

// Clone returns a deep copy of v (Holdings is copied; Info's maps are
// shared, as they are never modified once stored).
func (v *View) Clone() View {
	c := *v
	c.Holdings = slices.Clone(v.Holdings)
	return c
}
