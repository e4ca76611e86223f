package store

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestCommitOpenRemove(t *testing.T) {
	s, _ := newTestStore(t)
	body := bytes.Repeat([]byte("objstore"), 100_000)
	tmp, err := s.NewTemp()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.ReadFrom(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	if got, want := tmp.ETag(), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("etag %s, want %s", got, want)
	}
	if tmp.Size() != int64(len(body)) {
		t.Fatalf("size %d", tmp.Size())
	}
	if _, err := s.Open("b", "k", "g1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("uncommitted body visible: %v", err)
	}
	if err := tmp.Place("b", "k", "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Still readable through the temp handle after commit.
	buf := make([]byte, 8)
	if _, err := tmp.File().ReadAt(buf, 8); err != nil || string(buf) != "objstore" {
		t.Fatalf("read after place: %q %v", buf, err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open("b", "k", "g1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("body differs")
	}
	var names []string
	if err := s.Sweep(func(name string, size int64) error {
		names = append(names, name)
		if size != int64(len(body)) {
			t.Errorf("walk size %d", size)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != Name("b", "k", "g1") {
		t.Fatalf("walk %v", names)
	}
	if err := s.Remove("b", "k", "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("b", "k", "g1"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := s.Open("b", "k", "g1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed body visible: %v", err)
	}
}

// partial lists the temp files that hold bytes: partial bodies. Empty
// spare files do not count.
func partial(t *testing.T, s *Store) []string {
	t.Helper()
	ts, err := s.Temps()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for name, size := range ts {
		if size > 0 {
			out = append(out, name)
		}
	}
	return out
}

func TestAbortedTempLeavesNothing(t *testing.T) {
	s, _ := newTestStore(t)
	tmp, err := s.NewTemp()
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write([]byte("partial"))
	if len(partial(t, s)) != 1 {
		t.Fatal("temp file not listed")
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if left := partial(t, s); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestOpenClearsStaleTemps(t *testing.T) {
	s, dir := newTestStore(t)
	tmp, _ := s.NewTemp()
	tmp.Write([]byte("crash mid-write"))
	// Simulate a crash: the file is never closed or removed. The first
	// store's goroutines stop, as a crashed process's would (its spare
	// maker would otherwise keep adding files while Open clears them).
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if left := partial(t, s2); len(left) != 0 {
		t.Fatalf("stale temp files survived Open: %v", left)
	}
	n := 0
	if err := s2.Sweep(func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("sweep found %d bodies", n)
	}
}

func TestCloseRemovesSpares(t *testing.T) {
	s, dir := newTestStore(t)
	tmp, _ := s.NewTemp() // waits for nothing: makes one if none is ready
	tmp.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "spare"))
	if len(ents) != 0 {
		t.Fatalf("%d spare files left after Close", len(ents))
	}
}

func TestNameDistinct(t *testing.T) {
	cases := []struct{ b1, k1, b2, k2 string }{
		{"ab", "c", "a", "bc"},
		{"a", "b/c", "a", "b\\c"},
		{"a", "k", "a", "k "},
	}
	for _, c := range cases {
		if Name(c.b1, c.k1, "g") == Name(c.b2, c.k2, "g") {
			t.Errorf("%q/%q and %q/%q collide", c.b1, c.k1, c.b2, c.k2)
		}
	}
}

// FuzzPath checks that no key can place a body outside the store: the seeds
// run in every normal test run.
func FuzzPath(f *testing.F) {
	for _, k := range []string{"a", "../../etc/passwd", "/abs", "a/../../b", "..", ".", "\x00", "dir/", "ünïcödé/ключ", strings.Repeat("x", 1024)} {
		f.Add("bucket", k)
	}
	s := &Store{objs: "/data/objects"}
	f.Fuzz(func(t *testing.T, bucket, key string) {
		p := s.Path(bucket, key, "01GEN")
		if filepath.Dir(filepath.Dir(p)) != s.objs {
			t.Fatalf("path %q escapes %q", p, s.objs)
		}
		if filepath.Clean(p) != p {
			t.Fatalf("path %q is not clean", p)
		}
		base := filepath.Base(p)
		if !strings.HasPrefix(base, filepath.Base(filepath.Dir(p))) || len(base) != 64+1+5 {
			t.Fatalf("unexpected name %q", base)
		}
	})
}
