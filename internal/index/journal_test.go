package index

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

func collect(t *testing.T, db *DB, origin string, after uint64) []uint64 {
	t.Helper()
	var seqs []uint64
	if err := db.Events(origin, after, func(e *journal.Event) bool { seqs = append(seqs, e.Seq); return true }); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// TestJournalNumbering: events appended with Seq 0 by concurrent Commits
// are numbered 1..n without gaps, and the vector follows.
func TestJournalNumbering(t *testing.T) {
	db, path := newTestDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var b Batch
				e := &journal.Event{Origin: "self", Time: 1, Kind: journal.Put, Bucket: "b", Key: fmt.Sprintf("%d/%d", w, i), Seq: Pending,
					Info: core.Info{Size: 1, ETag: "e"}}
				b.Append(e)
				b.Put(Entry{Info: core.Info{Bucket: "b", Key: e.Key}, Ver: e.Version(),
					Made: journal.Ref{Origin: "self", Seq: Pending}, Holdings: []journal.Holding{{Node: "self", Ver: e.Version(), Seq: Pending}}})
				if err := db.Commit(ctx, &b); err != nil || e.Seq == Pending {
					t.Errorf("commit: %v (seq %d)", err, e.Seq)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	seqs := collect(t, db, "self", 0)
	if len(seqs) != 400 || seqs[0] != 1 || seqs[399] != 400 {
		t.Fatalf("seqs %v…", seqs[:min(len(seqs), 5)])
	}
	if v := db.Vector(); v["self"] != 400 {
		t.Fatalf("vector %v", v)
	}
	if got := collect(t, db, "self", 398); !reflect.DeepEqual(got, []uint64{399, 400}) {
		t.Fatalf("after 398: %v", got)
	}

	// Remote events keep their Seq; advances and floors only raise.
	var b Batch
	b.Append(&journal.Event{Origin: "other", Seq: 7, Time: 2, Kind: journal.Delete, Bucket: "b", Key: "x"})
	b.Append(&journal.Event{Origin: "othe", Seq: 1, Time: 2, Kind: journal.Delete, Bucket: "b", Key: "y"})
	b.Advance("other", 9)
	b.Advance("self", 3)
	b.Forget("self", 1)
	b.RaiseFloor("other", 5)
	if err := db.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, db, "other", 0); !reflect.DeepEqual(got, []uint64{7}) {
		t.Fatalf("other: %v (an origin that is a prefix of another must not mix)", got)
	}
	if got := collect(t, db, "self", 0); got[0] != 2 || len(got) != 399 {
		t.Fatalf("after forget: %v…", got[:3])
	}
	db.Close()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, f := db.Vector(), db.Floor(); !reflect.DeepEqual(v, journal.Vector{"self": 400, "other": 9, "othe": 1}) || !reflect.DeepEqual(f, journal.Vector{"other": 5}) {
		t.Fatalf("after reopen: vector %v floor %v", v, f)
	}
	var b2 Batch
	e := &journal.Event{Origin: "self", Seq: Pending, Time: 3, Kind: journal.Delete, Bucket: "b", Key: "z"}
	b2.Append(e)
	if err := db.Commit(ctx, &b2); err != nil || e.Seq != 401 {
		t.Fatalf("numbering after reopen: %d %v", e.Seq, err)
	}
	// Events of one commit keep their own bodies.
	keys := map[string]bool{}
	db.Events("self", 0, func(x *journal.Event) bool { keys[x.Key] = true; return true })
	if len(keys) != 400 { // 399 puts and "z"
		t.Fatalf("%d distinct keys in 400 events", len(keys))
	}
	var got *journal.Event
	db.Events("self", 400, func(x *journal.Event) bool { got = x; return false })
	if got == nil || got.Key != "z" || got.Kind != journal.Delete || got.Origin != "self" {
		t.Fatalf("stored event %+v", got)
	}
	if db.EventCount() != 402 {
		t.Fatalf("event count %d", db.EventCount())
	}
	var entries int
	made := map[uint64]bool{}
	db.Entries(func(e Entry) error {
		if e.Ver.Origin != "self" || e.Made.Seq == 0 || len(e.Holdings) != 1 || e.Holdings[0].Seq != e.Made.Seq || made[e.Made.Seq] {
			t.Fatalf("entry's journal refs not numbered by its event: %+v", e)
		}
		made[e.Made.Seq] = true
		entries++
		return nil
	})
	if entries != 400 {
		t.Fatalf("%d entries", entries)
	}
}
