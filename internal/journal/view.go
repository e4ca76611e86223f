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

// Ref names a stored event.
type Ref struct {
	Origin string
	Seq    uint64
}

// View is the merged state of one key: the winning put or delete and who
// holds copies. The zero View knows nothing.
type View struct {
	// Ver is the winning put or delete; zero when none is known.
	Ver     Version
	Deleted bool
	// Made is the event that made Ver (of several Caches of one backend
	// version, the least by origin and Seq).
	Made Ref
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
		ref := Ref{e.Origin, e.Seq}
		if ver := e.Version(); v.Ver.Less(ver) || ver == v.Ver && refLess(ref, v.Made) {
			v.Ver, v.Deleted, v.Made = ver, e.Kind == Delete, ref
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
// node can revive the holding. The holding of Made's origin is kept: the
// event Made names would otherwise revive it.
func (v *View) Prune() bool {
	n := len(v.Holdings)
	v.Holdings = slices.DeleteFunc(v.Holdings, func(h Holding) bool {
		return h.Ver.Less(v.Ver) && (v.Deleted || h.Node != v.Made.Origin)
	})
	if len(v.Holdings) == 0 {
		v.Holdings = nil
	}
	return len(v.Holdings) != n
}

// Needs reports whether e still contributes to v: it made the winning
// version, or it is the latest event of a node's holding. Events v does
// not need can be compacted away: applying the rest gives the same View.
func (v *View) Needs(e *Event) bool {
	if (Ref{e.Origin, e.Seq}) == v.Made {
		return true
	}
	i, found := v.holding(e.Origin)
	return found && v.Holdings[i].Seq == e.Seq
}

// Refs returns the events v Needs.
func (v *View) Refs() []Ref {
	var refs []Ref
	if v.Made.Seq != 0 {
		refs = append(refs, v.Made)
	}
	for _, h := range v.Holdings {
		if r := (Ref{h.Node, h.Seq}); r != v.Made {
			refs = append(refs, r)
		}
	}
	return refs
}

func refLess(a, b Ref) bool {
	if a.Origin != b.Origin {
		return a.Origin < b.Origin
	}
	return a.Seq < b.Seq
}

// Clone returns a deep copy of v (Holdings is copied; Info's maps are
// shared, as they are never modified once stored).
func (v *View) Clone() View {
	c := *v
	c.Holdings = slices.Clone(v.Holdings)
	return c
}
