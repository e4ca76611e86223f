package index

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// State is what a node holds of an object.
type State uint8

const (
	// Clean: the body is on local disk and in the backend (or level 0).
	Clean State = iota
	// Dirty: the body is on local disk and not yet in the backend.
	Dirty
	// Evicted: only the metadata is kept; the body is in the backend or
	// on other nodes of the cluster.
	Evicted
	// Deleted: a tombstone; the object was deleted through objstore.
	Deleted
)

func (s State) String() string {
	switch s {
	case Clean:
		return "clean"
	case Dirty:
		return "dirty"
	case Evicted:
		return "evicted"
	case Deleted:
		return "deleted"
	}
	return "unknown"
}

// Entry is the index record of one object.
type Entry struct {
	// Pack, when set, says that the body is not a file but bytes in the
	// index's log (see Batch.Body and DB.OpenBody). First, so that Commit
	// finds it at a fixed place in the encoded entry.
	Pack Loc `json:",omitzero"`
	core.Info
	// Gen names the body file generation (see store.Name); empty when no
	// body is held.
	Gen   string
	State State
	// Atime is the last access, persisted in batches, so it may lag.
	Atime time.Time
	// Validated is when the body was last known to match the backend.
	Validated time.Time
	// Ver is the journal version of the object (zero for an object no
	// journal event names, as on a node without a cluster).
	Ver journal.Version `json:",omitzero"`
	// Made and Holdings are those of the key's journal.View. A Seq of
	// Pending in them names the event of the same key appended with Seq
	// Pending in the same Batch: Commit writes the Seq it gives that event.
	Made     journal.Ref       `json:",omitzero"`
	Holdings []journal.Holding `json:",omitempty"`
}

// View returns the journal view the entry records, with its own copy of
// Holdings: applying events to it changes nothing of e.
func (e *Entry) View() journal.View {
	return journal.View{Ver: e.Ver, Deleted: e.State == Deleted, Made: e.Made, Info: e.Info, Holdings: slices.Clone(e.Holdings)}
}

// Number gives the Pending Seq of origin in e's Made and Holdings the
// value seq (see Made). It copies Holdings rather than change a slice e
// may share.
func (e *Entry) Number(origin string, seq uint64) {
	if e.Made.Origin == origin && e.Made.Seq == Pending {
		e.Made.Seq = seq
	}
	for i, h := range e.Holdings {
		if h.Node == origin && h.Seq == Pending {
			e.Holdings = slices.Clone(e.Holdings)
			e.Holdings[i].Seq = seq
			break
		}
	}
}

// SetView records v in e (its Info and whether it is deleted are left to
// the caller, with the state).
func (e *Entry) SetView(v *journal.View) {
	e.Ver, e.Made, e.Holdings = v.Ver, v.Made, v.Holdings
}

// Loc is where a body lies in the index's log: the segment (named by its
// first record's LSN) and the offset of the body's first byte.
type Loc struct {
	Seg uint64
	Off int64
}

// PendingLoc, as an Entry's Pack, names the body the same Batch carries
// for the entry's bucket, key and generation: Commit writes its Loc.
var PendingLoc = Loc{Seg: math.MaxUint64}

// IsZero reports whether l names no place.
func (l Loc) IsZero() bool { return l == Loc{} }

// locJSON is the length of a Loc's JSON: fixed, so that Commit can write
// it in place of PendingLoc in an encoded entry.
const locJSON = 2 + 32

// MarshalJSON encodes l as a string of 32 hex digits.
func (l Loc) MarshalJSON() ([]byte, error) { return l.appendJSON(make([]byte, 0, locJSON)), nil }

func (l Loc) appendJSON(b []byte) []byte {
	var q [locJSON]byte
	q[0], q[locJSON-1] = '"', '"'
	for i, v := range [2]uint64{l.Seg, uint64(l.Off)} {
		for j := 16; j > 0; j-- {
			q[1+16*i+j-1] = "0123456789abcdef"[v&0xf]
			v >>= 4
		}
	}
	return append(b, q[:]...)
}

// UnmarshalJSON decodes MarshalJSON's form.
func (l *Loc) UnmarshalJSON(b []byte) error {
	if len(b) != locJSON || b[0] != '"' || b[locJSON-1] != '"' {
		return fmt.Errorf("body location %s: want 32 hex digits", b)
	}
	seg, err1 := strconv.ParseUint(string(b[1:17]), 16, 64)
	off, err2 := strconv.ParseUint(string(b[17:33]), 16, 63)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("body location %s: want 32 hex digits", b)
	}
	l.Seg, l.Off = seg, int64(off)
	return nil
}

// Op is an upload-queue operation.
type Op uint8

const (
	// OpPut uploads the body of Gen.
	OpPut Op = iota + 1
	// OpDelete deletes the object in the backend.
	OpDelete
	// OpSync makes the backend hold what the journal says of the key now:
	// its version's body (from this node or a holder), or nothing.
	OpSync
)

// Item is one write-back upload-queue record. Items are kept in Seq order.
type Item struct {
	Seq uint64
	Op  Op
	// Standby: an OpPut of a replica this node holds of another node's
	// write-back put. It is uploaded only if that node is gone before it
	// uploaded it; until then the uploader checks the backend for it.
	Standby  bool `json:",omitempty"`
	Bucket   string
	Key      string
	Gen      string
	Enqueued time.Time
}
