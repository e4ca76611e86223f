package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// logSegments lists the files of the index's log.
func logSegments(t *testing.T, tn *testNode) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(tn.dir, "index.db.log", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestSmallBodiesInLog: a small body is bytes of the index's log, not a
// file; it reads back after a restart, in both write modes; replacing and
// deleting release it, and compaction moves the bodies still named out of
// sparse segments so that those go, the bodies reading back the same.
func TestSmallBodiesInLog(t *testing.T) {
	for _, mode := range []WriteMode{WriteThrough, WriteBack} {
		t.Run(mode.String(), func(t *testing.T) {
			tn := newTestNode(t, func(c *Config) { c.WriteMode = mode; c.logSegment = 32 << 10 })
			body := func(i, v int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%d/%d,", i, v)), 400) }
			for i := range 60 {
				tn.put(t, fmt.Sprint("k", i), body(i, 1))
			}
			o := tn.lookup(bkt, "k0")
			if o.e.Pack.IsZero() {
				t.Fatal("a small body is not in the log")
			}
			if _, err := os.Stat(tn.store.Path(bkt, "k0", o.e.Gen)); !os.IsNotExist(err) {
				t.Fatalf("a small body has a file too: %v", err)
			}
			before := len(logSegments(t, tn))
			if before < 4 {
				t.Fatalf("%d log segments for 60 bodies of 3 KiB in segments of 32 KiB", before)
			}
			// Most of the first segments' bodies are replaced or deleted.
			for i := range 60 {
				switch {
				case i%4 == 0:
				case i%4 == 1:
					if err := tn.Delete(context.Background(), bkt, fmt.Sprint("k", i)); err != nil {
						t.Fatal(err)
					}
				default:
					tn.put(t, fmt.Sprint("k", i), body(i, 2))
				}
			}
			tn.waitUploaded(t)
			// Segments are sparse once the index holds their records.
			eventually(t, "sparse segments", func() bool { return len(tn.db.Sparse(compactRatio)) > 0 })
			mid := len(logSegments(t, tn))
			moved, err := tn.compact(context.Background())
			if err != nil || moved == 0 {
				t.Fatalf("compact: moved %d, %v", moved, err)
			}
			eventually(t, "fewer segments", func() bool { return len(logSegments(t, tn)) < mid })
			// At most about twice the bodies' bytes, with their entries and
			// the segment being written.
			held := int64(45 * len(body(10, 1)))
			eventually(t, "the log's bytes bounded by its bodies'", func() bool {
				_, logBytes := tn.db.LogSize()
				return logBytes <= 2*held+held/2+2*(32<<10)
			})
			check := func(what string) {
				t.Helper()
				for i := range 60 {
					got, obj, err := tn.read(t, fmt.Sprint("k", i), GetOptions{})
					want := body(i, 2)
					switch i % 4 {
					case 0:
						want = body(i, 1)
					case 1:
						if err == nil {
							t.Fatalf("%s: deleted k%d reads", what, i)
						}
						continue
					}
					if err != nil || !bytes.Equal(got, want) || obj.Source != FromLocal {
						t.Fatalf("%s: k%d: %q… %v", what, i, got[:min(len(got), 8)], err)
					}
				}
			}
			check("after compaction")
			tn = tn.restart(t)
			tn.be.down.Store(true)
			check("after restart")
			if st := tn.Stats(); st.Objects != 45 {
				t.Fatalf("objects after restart: %d", st.Objects)
			}
		})
	}
}

// waitUploaded waits for a write-back node's queue to drain.
func (tn *testNode) waitUploaded(t *testing.T) {
	t.Helper()
	eventually(t, "uploads", func() bool { return tn.up.length.Load() == 0 })
}

// TestHotBodies: a small body read once is kept in memory, within the
// budget, and released with its object; a larger one is not kept.
func TestHotBodies(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "small", []byte("v1"))
	tn.put(t, "large", bytes.Repeat([]byte("L"), hotBody+1))
	for i := 0; i < 3; i++ {
		if got, _, err := tn.read(t, "small", GetOptions{}); err != nil || string(got) != "v1" {
			t.Fatalf("read %d: %q %v", i, got, err)
		}
		if got, _, err := tn.read(t, "large", GetOptions{}); err != nil || len(got) != hotBody+1 {
			t.Fatalf("large read %d: %d bytes, %v", i, len(got), err)
		}
	}
	if h := tn.hot.Load(); h != 2 || tn.lookup(bkt, "small").mem.Load() == nil || tn.lookup(bkt, "large").mem.Load() != nil {
		t.Fatalf("%d bytes kept in memory, want the small body's 2", h)
	}
	old, err := tn.Get(context.Background(), bkt, "small", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tn.put(t, "small", []byte("version two"))
	if h := tn.hot.Load(); h != 0 {
		t.Fatalf("a replaced body kept in memory: %d bytes", h)
	}
	if got, _ := io.ReadAll(old.Content); string(got) != "v1" {
		t.Fatalf("a reader of the old version: %q", got)
	}
	old.Close()
	if got, _, _ := tn.read(t, "small", GetOptions{}); string(got) != "version two" {
		t.Fatalf("after the replace: %q", got)
	}
	if err := tn.Delete(context.Background(), bkt, "small"); err != nil {
		t.Fatal(err)
	}
	if h := tn.hot.Load(); h != 0 {
		t.Fatalf("a deleted body kept in memory: %d bytes", h)
	}
}
