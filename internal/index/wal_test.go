package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/objstore/objstore/internal/journal"
)

// stopApplier keeps db's records out of bbolt, in its log and memory.
func stopApplier(db *DB) {
	close(db.applyStop)
	db.awg.Wait()
}

// crash stops db as a kill would: nothing pending reaches bbolt, and
// the log is left as it is.
func crash(t *testing.T, db *DB) {
	t.Helper()
	db.closing.Lock()
	db.isClosed = true
	db.closing.Unlock()
	close(db.closed)
	db.wg.Wait()
	db.wal.close()
	if err := db.bolt.Close(); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, db *DB) []string {
	t.Helper()
	var ks []string
	if err := db.Entries(func(e Entry) error { ks = append(ks, e.Key+"="+e.Gen); return nil }); err != nil {
		t.Fatal(err)
	}
	return ks
}

func queued(t *testing.T, db *DB, from uint64) []string {
	t.Helper()
	var q []string
	if err := db.QueueFrom(from, func(it Item) bool { q = append(q, fmt.Sprintf("%d %s", it.Seq, it.Key)); return true }); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestLogOverlayAndReplay: what is committed but not yet in bbolt reads
// back (the log's records over bbolt's state), and survives a crash.
func TestLogOverlayAndReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	ctx := context.Background()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// In bbolt: a, b, c and two queue items.
	var b Batch
	for _, k := range []string{"a", "b", "c"} {
		b.Put(entry(k))
		b.Enqueue(&Item{Op: OpPut, Bucket: "b", Key: k})
	}
	b.Append(&journal.Event{Origin: "o", Seq: Pending, Time: 1, Kind: journal.Delete, Bucket: "b", Key: "a"})
	if err := db.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	stopApplier(db)

	// Only in the log: b replaced, c deleted, d new, item 1 done, two events.
	var b2 Batch
	nb := entry("b")
	nb.Gen = "g2"
	b2.Put(nb)
	b2.Delete("b", "c")
	b2.Dequeue(1)
	b2.Enqueue(&Item{Op: OpPut, Bucket: "b", Key: "d"})
	b2.Append(&journal.Event{Origin: "o", Seq: Pending, Time: 2, Kind: journal.Delete, Bucket: "b", Key: "c"})
	b2.Append(&journal.Event{Origin: "o", Seq: Pending, Time: 3, Kind: journal.Delete, Bucket: "b", Key: "d"})
	b2.Forget("o", 1)
	nd := entry("d")
	nd.Gen, nd.Pack, nd.Size = "gd", PendingLoc, 10
	b2.Put(nd)
	b2.Body("b", "d", "gd", []byte("bytes of d"))
	if err := db.Commit(ctx, &b2); err != nil {
		t.Fatal(err)
	}
	b2.NumberEntry(&nd)
	if nd.Pack.IsZero() || nd.Pack == PendingLoc {
		t.Fatalf("the entry's body has no place: %+v", nd.Pack)
	}
	readBody(t, db, nd, "bytes of d")
	want := []string{"a=g", "b=g2", "d=gd"}
	if got := keys(t, db); !reflect.DeepEqual(got, want) {
		t.Fatalf("entries before the applier: %v, want %v", got, want)
	}
	wantQ := []string{"2 b", "3 c", "4 d"}
	if got := queued(t, db, 0); !reflect.DeepEqual(got, wantQ) {
		t.Fatalf("queue before the applier: %v, want %v", got, wantQ)
	}
	if got := queued(t, db, 3); !reflect.DeepEqual(got, wantQ[1:]) {
		t.Fatalf("queue from 3: %v", got)
	}
	if got := collect(t, db, "o", 0); !reflect.DeepEqual(got, []uint64{2, 3}) {
		t.Fatalf("events before the applier: %v", got)
	}
	if n := db.EventCount(); n != 2 {
		t.Fatalf("event count %d", n)
	}

	crash(t, db)
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored Entry
	db.Entries(func(e Entry) error {
		if e.Key == "d" {
			stored = e
		}
		return nil
	})
	if stored.Pack != nd.Pack {
		t.Fatalf("entry's body place after the crash: %+v, want %+v", stored.Pack, nd.Pack)
	}
	readBody(t, db, stored, "bytes of d")
	if got := keys(t, db); !reflect.DeepEqual(got, want) {
		t.Fatalf("entries after the crash: %v, want %v", got, want)
	}
	if got := queued(t, db, 0); !reflect.DeepEqual(got, wantQ) {
		t.Fatalf("queue after the crash: %v", got)
	}
	if got := collect(t, db, "o", 0); !reflect.DeepEqual(got, []uint64{2, 3}) {
		t.Fatalf("events after the crash: %v", got)
	}
	if v := db.Vector(); v["o"] != 3 {
		t.Fatalf("vector after the crash: %v", v)
	}
	// Numbering goes on where it stopped.
	var b3 Batch
	it := &Item{Op: OpPut, Bucket: "b", Key: "e"}
	b3.Enqueue(it)
	ev := &journal.Event{Origin: "o", Seq: Pending, Time: 4, Kind: journal.Delete, Bucket: "b", Key: "e"}
	b3.Append(ev)
	if err := db.Commit(ctx, &b3); err != nil || it.Seq != 5 || ev.Seq != 4 {
		t.Fatalf("after the crash: item %d, event %d, %v", it.Seq, ev.Seq, err)
	}
}

func readBody(t *testing.T, db *DB, e Entry, want string) {
	t.Helper()
	r, done, err := db.OpenBody(e.Pack, e.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != want {
		t.Fatalf("body %q, %v; want %q", got, err, want)
	}
}

// TestLogTornTail: a record cut short or garbage after the last record
// (a write the crash interrupted, never acknowledged) is ignored, and what
// came before it is kept.
func TestLogTornTail(t *testing.T) {
	for _, damage := range []string{"cut", "garbage", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			stopApplier(db)
			for _, k := range []string{"a", "b"} {
				var b Batch
				b.Put(entry(k))
				if err := db.Commit(context.Background(), &b); err != nil {
					t.Fatal(err)
				}
			}
			seg := filepath.Join(db.wal.dir, segName(db.wal.cur.first))
			end := db.wal.off
			crash(t, db)
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"a=g"}
			switch damage {
			case "cut":
				data = data[:end-5]
			case "garbage":
				copy(data[end:], strings.Repeat("\xff", 64))
				want = []string{"a=g", "b=g"}
			case "flipped":
				data[end-1] ^= 1
			}
			if err := os.WriteFile(seg, data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := keys(t, db); !reflect.DeepEqual(got, want) {
				t.Fatalf("entries: %v, want %v", got, want)
			}
		})
	}
}

// TestLogWriteFailure: once a log write fails, no commit succeeds: the
// failed record may be on disk, and a record after it would make a
// restart apply it.
func TestLogWriteFailure(t *testing.T) {
	db, _ := newTestDB(t)
	var b Batch
	b.Put(entry("a"))
	if err := db.Commit(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	db.wal.cur.f.Close() // the next write fails
	it := &Item{Op: OpPut, Bucket: "b", Key: "b"}
	var b2 Batch
	b2.Enqueue(it)
	if err := db.Commit(context.Background(), &b2); err == nil || it.Seq != 0 {
		t.Fatalf("commit after a failed write: %v, seq %d", err, it.Seq)
	}
	var b3 Batch
	b3.Put(entry("c"))
	if err := db.Commit(context.Background(), &b3); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("commit after a failed commit: %v", err)
	}
	if got := keys(t, db); !reflect.DeepEqual(got, []string{"a=g"}) {
		t.Fatalf("entries: %v", got)
	}
}

// TestLogSegments: records spill into new segments; a segment goes once
// bbolt holds its records and no entry holds a body in it, and one where
// held bodies are sparse is reported.
func TestLogSegments(t *testing.T) {
	db, _ := newTestDB(t)
	big := strings.Repeat("x", segmentSize/3)
	var es []Entry
	for i := range 5 {
		var b Batch
		e := entry(fmt.Sprint(i))
		e.Size, e.Pack = int64(len(big)), PendingLoc
		b.Put(e)
		b.Body(e.Bucket, e.Key, e.Gen, []byte(big))
		if err := db.Commit(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		b.NumberEntry(&e)
		es = append(es, e)
	}
	if err := db.flush(); err != nil {
		t.Fatal(err)
	}
	segs := func() []string {
		names, _ := filepath.Glob(filepath.Join(db.wal.dir, "*.log"))
		sort.Strings(names)
		return names
	}
	if got := segs(); len(got) != 3 || es[0].Pack.Seg != es[1].Pack.Seg || es[2].Pack.Seg == es[1].Pack.Seg {
		t.Fatalf("segments %v, bodies at %+v", got, es)
	}
	if err := db.Counted(); err != nil {
		t.Fatal(err)
	}
	// Bodies 0 and 1 share the first segment: releasing one makes it
	// sparse, both frees it.
	db.Release(es[0].Pack, es[0].Size)
	if got := db.Sparse(0.6); !reflect.DeepEqual(got, []uint64{es[1].Pack.Seg}) {
		t.Fatalf("sparse segments %v, want [%d]", got, es[1].Pack.Seg)
	}
	readBody(t, db, es[1], big)
	r, done, err := db.OpenBody(es[1].Pack, es[1].Size) // a reader keeps reading after the segment goes
	if err != nil {
		t.Fatal(err)
	}
	db.Release(es[1].Pack, es[1].Size)
	if got := segs(); len(got) != 2 {
		t.Fatalf("segments after releasing the first one's bodies: %v", got)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != big {
		t.Fatalf("reading a removed segment's body: %d bytes, %v", len(got), err)
	}
	done()
	if _, _, err := db.OpenBody(es[1].Pack, es[1].Size); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("body of a removed segment: %v", err)
	}
	if n := len(keys(t, db)); n != 5 {
		t.Fatalf("%d entries", n)
	}
}
