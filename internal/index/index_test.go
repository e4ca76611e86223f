package index

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
)

func newTestDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func entry(key string) Entry {
	return Entry{
		Info: core.Info{Bucket: "b", Key: key, Size: 3, ETag: "abc", UserMeta: map[string]string{"k": "v"},
			ModTime: time.Unix(100, 0).UTC(), Level: core.LevelBackend},
		Gen: "g", State: Dirty,
	}
}

func TestCommitPersistsAcrossReopen(t *testing.T) {
	db, path := newTestDB(t)
	ctx := context.Background()
	var b Batch
	b.Put(entry("a"))
	b.Put(entry("b"))
	it := &Item{Op: OpPut, Bucket: "b", Key: "a", Gen: "g"}
	b.Enqueue(it)
	if err := db.Commit(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if it.Seq == 0 {
		t.Fatal("seq not assigned")
	}
	var b2 Batch
	b2.Delete("b", "b")
	b2.Enqueue(&Item{Op: OpDelete, Bucket: "b", Key: "b"})
	if err := db.Commit(ctx, &b2); err != nil {
		t.Fatal(err)
	}
	id1, _ := db.NodeID()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := db.Commit(ctx, &b); err != ErrClosed {
		t.Fatalf("commit after close: %v", err)
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []Entry
	if err := db.Entries(func(e Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "a" || got[0].UserMeta["k"] != "v" || got[0].State != Dirty || !got[0].ModTime.Equal(time.Unix(100, 0)) {
		t.Fatalf("entries after reopen: %+v", got)
	}
	var items []Item
	db.Queue(func(it Item) bool { items = append(items, it); return true })
	if len(items) != 2 || items[0].Op != OpPut || items[1].Op != OpDelete || items[0].Seq >= items[1].Seq {
		t.Fatalf("queue after reopen: %+v", items)
	}
	if id2, _ := db.NodeID(); id2 != id1 || id1 == "" {
		t.Fatalf("node id changed: %q → %q", id1, id2)
	}
}

func TestConcurrentCommits(t *testing.T) {
	db, _ := newTestDB(t)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var b Batch
				b.Put(entry(fmt.Sprintf("%d-%d", w, i)))
				b.Enqueue(&Item{Op: OpPut, Bucket: "b", Key: fmt.Sprintf("%d-%d", w, i)})
				if err := db.Commit(context.Background(), &b); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	n := 0
	db.Entries(func(Entry) error { n++; return nil })
	q := 0
	seen := map[uint64]bool{}
	db.Queue(func(it Item) bool { q++; seen[it.Seq] = true; return true })
	if n != 800 || q != 800 || len(seen) != 800 {
		t.Fatalf("entries %d, queue %d, distinct seqs %d; want 800", n, q, len(seen))
	}
}

// BenchmarkGroupCommit measures durable single-entry commits from 32
// concurrent writers, the shape of 4 KiB PUTs.
func BenchmarkGroupCommit(b *testing.B) {
	db, _ := newTestDB(b)
	b.SetParallelism(16) // ×GOMAXPROCS goroutines
	var n int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			var bt Batch
			bt.Put(entry(fmt.Sprint(k)))
			if err := db.Commit(context.Background(), &bt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
