package journal

import (
	"maps"

	"github.com/objstore/objstore/internal/core"
)

// Kind is what an event records.
type Kind uint8

const (
	// Put: a new version of an object, with its metadata. Its origin holds
	// the body.
	Put Kind = iota + 1
	// Delete: the object was deleted; every copy is to be dropped.
	Delete
	// Hold: the origin now holds a copy of version Ver.
	Hold
	// Drop: the origin no longer holds a copy of version Ver.
	Drop
	// Cache: the origin holds a copy of the backend's object, with its
	// metadata Info, of a key it knew no version of. Its version is the
	// backend's (see Event.Version), so the same backend object cached by
	// several nodes is one version, and any put or delete through the
	// cluster after the backend wrote it wins.
	Cache
)

func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Delete:
		return "delete"
	case Hold:
		return "hold"
	case Drop:
		return "drop"
	case Cache:
		return "cache"
	}
	return "unknown"
}

// Version names one put or delete of a key: its Timestamp and origin.
// The zero Version is older than every other.
type Version struct {
	Time   Timestamp
	Origin string
}

// Less orders versions by time, then origin: the last-writer-wins order.
func (v Version) Less(w Version) bool {
	if v.Time != w.Time {
		return v.Time < w.Time
	}
	return v.Origin < w.Origin
}

// IsZero reports whether v names no version.
func (v Version) IsZero() bool { return v.Time == 0 && v.Origin == "" }

// Event is one change of the cluster's history.
type Event struct {
	Origin string    // the node that made it
	Seq    uint64    // 1, 2, … per origin, without gaps when made
	Time   Timestamp // the origin's clock when made
	Kind   Kind
	Bucket string
	Key    string
	// Info is the object's metadata (Put and Cache).
	Info core.Info
	// Ver is the version a Hold or Drop refers to; for a Put or Delete it
	// is the event's own version (Time, Origin), see Version.
	Ver Version
}

// BackendOrigin prefixes the Origin of the versions of objects read from
// the backend (see Cache).
const BackendOrigin = "backend/"

// Version is the version a Put or Delete makes, the backend version a
// Cache holds (the object's modification time and ETag), or the one a Hold
// or Drop refers to.
func (e *Event) Version() Version {
	switch e.Kind {
	case Put, Delete:
		return Version{e.Time, e.Origin}
	case Cache:
		return Version{MakeTimestamp(e.Info.ModTime), BackendOrigin + e.Info.ETag}
	}
	return e.Ver
}

// Vector is a version vector: per origin, the highest Seq seen with no
// gap before it.
type Vector map[string]uint64

// Clone returns a copy of v.
func (v Vector) Clone() Vector { return maps.Clone(v) }

// Merge raises v to w wherever w is higher.
func (v Vector) Merge(w Vector) {
	for o, s := range w {
		if s > v[o] {
			v[o] = s
		}
	}
}

// Covers reports whether v has seen everything w has.
func (v Vector) Covers(w Vector) bool {
	for o, s := range w {
		if v[o] < s {
			return false
		}
	}
	return true
}
