package multipart

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// testMinPart is the MinPartSize of test stores, so that tests need not
// write 5 MiB parts.
const testMinPart = 1 << 10

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestStore opens a store in dir ("" for a new temp dir) after mod has
// changed its Config, and closes it when the test ends.
func newTestStore(t *testing.T, dir string, mod func(*Config)) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DefaultConfig()
	cfg.MinPartSize = testMinPart
	cfg.SweepInterval = time.Hour
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(t *testing.T, s *Store, key string) string {
	t.Helper()
	id, err := s.Create(context.Background(), core.Info{Bucket: "bucket", Key: key, ContentType: "text/plain",
		UserMeta: map[string]string{"owner": "ann"}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func put(t *testing.T, s *Store, key, id string, n int, data []byte) Part {
	t.Helper()
	p, err := s.PutPart(context.Background(), "bucket", key, id, n, bytes.NewReader(data), int64(len(data)), "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// fill returns n bytes of c.
func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// readAll reads and closes o.
func readAll(t *testing.T, o *Object) []byte {
	t.Helper()
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// files lists the names of the files under dir, recursively, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestPutPartReplaces(t *testing.T) {
	s := newTestStore(t, "", nil)
	id := create(t, s, "k")
	put(t, s, "k", id, 1, []byte("first"))
	p := put(t, s, "k", id, 1, []byte("second"))
	if p.ETag != md5hex([]byte("second")) || p.Size != 6 || p.Number != 1 {
		t.Fatalf("part %+v", p)
	}
	l, err := s.Parts(context.Background(), "bucket", "k", id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Parts) != 1 || l.Parts[0] != p {
		t.Fatalf("parts %+v, want [%+v]", l.Parts, p)
	}
	bodies := 0
	for _, f := range files(t, s.dir) {
		if strings.HasSuffix(f, ".part") {
			bodies++
		}
	}
	if bodies != 1 {
		t.Fatalf("%d part files on disk, want 1: %v", bodies, files(t, s.dir))
	}
}

func TestPutPartErrors(t *testing.T) {
	s := newTestStore(t, "", func(c *Config) { c.MinPartSize, c.MaxPartSize = 10, 100 })
	id := create(t, s, "k")
	data := []byte("hello")
	tests := []struct {
		name   string
		key    string
		id     string
		number int
		body   []byte
		size   int64
		md5    string
		want   error
	}{
		{name: "part 0", number: 0, want: ErrInvalidPartNumber},
		{name: "part 10001", number: MaxParts + 1, want: ErrInvalidPartNumber},
		{name: "unknown upload", id: "AAAAAAAAAAAAAAAAAAAAAAAAAA", want: ErrNoSuchUpload},
		{name: "other key", key: "other", want: ErrNoSuchUpload},
		{name: "short body", size: 6, want: core.ErrIncompleteBody},
		{name: "long body", size: 4, want: core.ErrIncompleteBody},
		{name: "bad md5", md5: md5hex([]byte("other")), want: core.ErrBadDigest},
		{name: "declared too large", size: 101, want: ErrEntityTooLarge},
		{name: "too large, size unknown", body: fill('x', 101), size: -1, want: ErrEntityTooLarge},
		{name: "size unknown", size: -1},
		{name: "upper-case md5", md5: strings.ToUpper(md5hex(data))},
		{name: "largest", body: fill('x', 100), size: 100},
		{name: "part 10000", number: MaxParts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, uid, n, body, size := "k", id, 1, data, int64(len(data))
			if tc.key != "" {
				key = tc.key
			}
			if tc.id != "" {
				uid = tc.id
			}
			if tc.number != 0 || tc.want == ErrInvalidPartNumber {
				n = tc.number
			}
			if tc.body != nil {
				body = tc.body
			}
			if tc.size != 0 {
				size = tc.size
			}
			_, err := s.PutPart(context.Background(), "bucket", key, uid, n, bytes.NewReader(body), size, tc.md5)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tmp := files(t, s.tmp); len(tmp) > 0 {
				t.Fatalf("temp files left: %v", tmp)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	s := newTestStore(t, "", nil)
	id := create(t, s, "k")
	big1, big2, small := fill('a', testMinPart), fill('b', testMinPart+1), []byte("tail")
	p1 := put(t, s, "k", id, 1, big1)
	p2 := put(t, s, "k", id, 2, big2)
	p3 := put(t, s, "k", id, 3, small)
	p5 := put(t, s, "k", id, 5, small)
	cp := func(ps ...Part) []CompletePart {
		var c []CompletePart
		for _, p := range ps {
			c = append(c, CompletePart{Number: p.Number, ETag: p.ETag})
		}
		return c
	}
	tests := []struct {
		name  string
		parts []CompletePart
		want  error
		body  []byte
	}{
		{name: "no parts", want: ErrInvalidPart},
		{name: "out of order", parts: cp(p2, p1, p3), want: ErrInvalidPartOrder},
		{name: "repeated", parts: cp(p1, p1, p3), want: ErrInvalidPartOrder},
		{name: "missing part", parts: []CompletePart{{1, p1.ETag}, {4, p3.ETag}}, want: ErrInvalidPart},
		{name: "wrong etag", parts: []CompletePart{{1, p1.ETag}, {2, p1.ETag}}, want: ErrInvalidPart},
		{name: "small middle part", parts: cp(p1, p3, p5), want: ErrEntityTooSmall},
		{name: "all", parts: cp(p1, p2, p3), body: slicesConcat(big1, big2, small)},
		{name: "some, with a gap", parts: cp(p1, p5), body: slicesConcat(big1, small)},
		{name: "one small part", parts: cp(p3), body: small},
		{name: "quoted upper-case etags", parts: []CompletePart{{1, `"` + strings.ToUpper(p1.ETag) + `"`}, {3, ` "` + p3.ETag + `"`}},
			body: slicesConcat(big1, small)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := s.Complete(context.Background(), "bucket", "k", id, tc.parts)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if o.Info.Bucket != "bucket" || o.Info.Key != "k" || o.Info.ContentType != "text/plain" || o.Info.UserMeta["owner"] != "ann" {
				t.Fatalf("info %+v", o.Info)
			}
			if o.Size != int64(len(tc.body)) {
				t.Fatalf("size %d, want %d", o.Size, len(tc.body))
			}
			if !strings.HasSuffix(o.ETag, "-"+strconv.Itoa(len(tc.parts))) {
				t.Fatalf("etag %q", o.ETag)
			}
			if got := readAll(t, o); !bytes.Equal(got, tc.body) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.body))
			}
		})
	}
	if _, err := s.Complete(context.Background(), "bucket", "other", id, cp(p1)); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("complete under another key: %v", err)
	}
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestCompleteETag checks S3's multipart ETag: the MD5 of the parts'
// binary MD5s, "-" and the number of parts.
func TestCompleteETag(t *testing.T) {
	s := newTestStore(t, "", func(c *Config) { c.MinPartSize = 1 })
	id := create(t, s, "k")
	p1 := put(t, s, "k", id, 1, []byte("hello"))
	p2 := put(t, s, "k", id, 2, []byte("world"))
	o, err := s.Complete(context.Background(), "bucket", "k", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	h1, h2 := md5.Sum([]byte("hello")), md5.Sum([]byte("world"))
	want := md5hex(append(h1[:], h2[:]...)) + "-2"
	if o.ETag != want {
		t.Fatalf("etag %s, want %s", o.ETag, want)
	}
	// The same, worked out independently (Python's hashlib).
	if o.ETag != "065947336a2f2a95ba8899f3675c3be6-2" {
		t.Fatalf("etag %s", o.ETag)
	}
}

// TestCompleteThenRemove checks that Remove ends the upload, and that the
// upload stays until then so that a failed store can be retried.
func TestCompleteThenRemove(t *testing.T) {
	s := newTestStore(t, "", nil)
	ctx := context.Background()
	id := create(t, s, "k")
	p := put(t, s, "k", id, 1, []byte("data"))
	parts := []CompletePart{{1, p.ETag}}
	o, err := s.Complete(ctx, "bucket", "k", id, parts)
	if err != nil {
		t.Fatal(err)
	}
	o.Close() // the store failed, say
	o, err = s.Complete(ctx, "bucket", "k", id, parts)
	if err != nil {
		t.Fatalf("second complete: %v", err)
	}
	if got := readAll(t, o); string(got) != "data" {
		t.Fatalf("read %q", got)
	}
	if err := s.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, id); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := s.Complete(ctx, "bucket", "k", id, parts); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("complete after remove: %v", err)
	}
	if f := files(t, s.dir); len(f) > 0 {
		t.Fatalf("files left: %v", f)
	}
}

// TestReaderKeepsValidatedParts replaces a part and aborts the upload while
// a completion reads it: the reader still reads what Complete validated,
// and the files go once it is closed.
func TestReaderKeepsValidatedParts(t *testing.T) {
	s := newTestStore(t, "", nil)
	ctx := context.Background()
	id := create(t, s, "k")
	a, b := fill('a', testMinPart), fill('b', 10)
	p1 := put(t, s, "k", id, 1, a)
	p2 := put(t, s, "k", id, 2, b)
	o, err := s.Complete(ctx, "bucket", "k", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "k", id, 2, []byte("replaced"))
	if err := s.Abort(ctx, "bucket", "k", id); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); !bytes.Equal(got, slicesConcat(a, b)) {
		t.Fatalf("read %d bytes, want the parts validated", len(got))
	}
	if f := files(t, s.dir); len(f) > 0 {
		t.Fatalf("files left after close: %v", f)
	}
}

func TestReaderDetectsDamage(t *testing.T) {
	s := newTestStore(t, "", func(c *Config) { c.MinPartSize = 1 })
	id := create(t, s, "k")
	p1 := put(t, s, "k", id, 1, []byte("hello"))
	p2 := put(t, s, "k", id, 2, []byte("world"))
	o, err := s.Complete(context.Background(), "bucket", "k", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	s.mu.Lock()
	u := s.uploads[id]
	path := filepath.Join(u.dir, u.parts[2].File)
	s.mu.Unlock()
	if err := os.WriteFile(path, []byte("w0rld"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("read %q, %v; want an error", got, err)
	}
}

func TestAbort(t *testing.T) {
	s := newTestStore(t, "", nil)
	ctx := context.Background()
	id := create(t, s, "k")
	put(t, s, "k", id, 1, []byte("data"))
	other := create(t, s, "k")
	if err := s.Abort(ctx, "bucket", "other-key", id); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("abort under another key: %v", err)
	}
	if err := s.Abort(ctx, "bucket", "k", id); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(ctx, "bucket", "k", id); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := s.Parts(ctx, "bucket", "k", id, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("parts after abort: %v", err)
	}
	if _, err := s.PutPart(ctx, "bucket", "k", id, 1, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("put after abort: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, id)); !os.IsNotExist(err) {
		t.Fatalf("upload directory left: %v", err)
	}
	if _, err := s.Parts(ctx, "bucket", "k", other, 0, 0); err != nil {
		t.Fatalf("the other upload of the key: %v", err)
	}
}

func TestParts(t *testing.T) {
	s := newTestStore(t, "", nil)
	id := create(t, s, "k")
	for _, n := range []int{7, 1, 3, 5, 2} {
		put(t, s, "k", id, n, []byte(strconv.Itoa(n)))
	}
	tests := []struct {
		marker, max int
		want        []int
		truncated   bool
	}{
		{0, 0, []int{1, 2, 3, 5, 7}, false},
		{0, 2, []int{1, 2}, true},
		{2, 2, []int{3, 5}, true},
		{5, 2, []int{7}, false},
		{7, 2, nil, false},
		{0, 5, []int{1, 2, 3, 5, 7}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("after %d, %d", tc.marker, tc.max), func(t *testing.T) {
			l, err := s.Parts(context.Background(), "bucket", "k", id, tc.marker, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range l.Parts {
				got = append(got, p.Number)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || l.Truncated != tc.truncated {
				t.Fatalf("got %v truncated=%v, want %v truncated=%v", got, l.Truncated, tc.want, tc.truncated)
			}
			if len(got) > 0 && l.NextMarker != got[len(got)-1] {
				t.Fatalf("next marker %d", l.NextMarker)
			}
		})
	}
}

func TestUploads(t *testing.T) {
	s := newTestStore(t, "", nil)
	ctx := context.Background()
	ids := map[string]string{}
	for _, k := range []string{"a", "b/1", "b/2", "c", "c"} {
		ids[k] = create(t, s, k) // the second "c" wins in ids; both are listed
	}
	if _, err := s.Create(ctx, core.Info{Bucket: "other", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	list := func(opts UploadsOptions) string {
		l, err := s.Uploads(ctx, "bucket", opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range l.Uploads {
			out = append(out, u.Key)
		}
		for _, cp := range l.CommonPrefixes {
			out = append(out, cp+"*")
		}
		if l.Truncated {
			out = append(out, "next="+l.NextKeyMarker)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name string
		opts UploadsOptions
		want string
	}{
		{"all", UploadsOptions{}, "a b/1 b/2 c c"},
		{"prefix", UploadsOptions{Prefix: "b/"}, "b/1 b/2"},
		{"delimiter", UploadsOptions{Delimiter: "/"}, "a c c b/*"},
		{"page", UploadsOptions{Max: 2}, "a b/1 next=b/1"},
		{"page of prefixes", UploadsOptions{Delimiter: "/", Max: 2}, "a b/* next=b/"},
		{"after a prefix", UploadsOptions{Delimiter: "/", KeyMarker: "b/"}, "c c"},
		{"after a key", UploadsOptions{KeyMarker: "b/1"}, "b/2 c c"},
		{"upload ID marker alone", UploadsOptions{UploadIDMarker: "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"}, "a b/1 b/2 c c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.opts); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}

	// Paging through the two uploads of "c" one at a time.
	l, err := s.Uploads(ctx, "bucket", UploadsOptions{KeyMarker: "b/2", Max: 1})
	if err != nil || len(l.Uploads) != 1 || !l.Truncated || l.NextKeyMarker != "c" {
		t.Fatalf("first c: %+v, %v", l, err)
	}
	first := l.Uploads[0].ID
	l, err = s.Uploads(ctx, "bucket", UploadsOptions{KeyMarker: "c", UploadIDMarker: first, Max: 1})
	if err != nil || len(l.Uploads) != 1 || l.Truncated || l.Uploads[0].ID <= first {
		t.Fatalf("second c: %+v, %v", l, err)
	}
}

// TestRestart checks that uploads and parts survive a restart, and that
// Open removes what interrupted operations leave.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := newTestStore(t, dir, nil)
	id := create(t, s, "k")
	a, b := fill('a', testMinPart), []byte("end")
	p1 := put(t, s, "k", id, 1, a)
	p2 := put(t, s, "k", id, 2, b)
	gone := create(t, s, "gone")
	s.Close()

	// Debris: a temp file, a body no metadata names, an upload whose
	// upload.json was removed (an interrupted Abort).
	debris := []string{
		filepath.Join(dir, tmpDir, "part-123"),
		filepath.Join(dir, id, "00003.ABCDEFGH.part"),
	}
	for _, p := range debris {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, gone, uploadFile)); err != nil {
		t.Fatal(err)
	}

	s = newTestStore(t, dir, nil)
	l, err := s.Parts(ctx, "bucket", "k", id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Parts) != 2 || l.Parts[0] != p1 || l.Parts[1] != p2 {
		t.Fatalf("parts after restart %+v, want %+v %+v", l.Parts, p1, p2)
	}
	for _, p := range debris {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
		t.Errorf("directory of the aborted upload left: %v", err)
	}
	o, err := s.Complete(ctx, "bucket", "k", id, []CompletePart{{1, p1.ETag}, {2, p2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Info.UserMeta["owner"] != "ann" {
		t.Fatalf("metadata lost: %+v", o.Info)
	}
	if got := readAll(t, o); !bytes.Equal(got, slicesConcat(a, b)) {
		t.Fatalf("read %d bytes", len(got))
	}
}

func TestSweep(t *testing.T) {
	clk := newClock()
	s := newTestStore(t, "", func(c *Config) { c.Now = clk.Now; c.MaxAge = time.Hour })
	ctx := context.Background()
	old := create(t, s, "old")
	put(t, s, "old", old, 1, []byte("x"))
	pinned := create(t, s, "pinned")
	p := put(t, s, "pinned", pinned, 1, []byte("y"))
	clk.Advance(30 * time.Minute)
	young := create(t, s, "young")

	if n := s.sweep(); n != 0 {
		t.Fatalf("swept %d uploads before any was an hour old", n)
	}
	o, err := s.Complete(ctx, "bucket", "pinned", pinned, []CompletePart{{1, p.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Minute)
	if n := s.sweep(); n != 1 {
		t.Fatalf("swept %d uploads, want 1", n)
	}
	if _, err := s.Parts(ctx, "bucket", "old", old, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("old upload: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, old)); !os.IsNotExist(err) {
		t.Fatalf("old upload's directory: %v", err)
	}
	if _, err := s.Parts(ctx, "bucket", "young", young, 0, 0); err != nil {
		t.Fatalf("young upload: %v", err)
	}
	o.Close()
	if n := s.sweep(); n != 1 {
		t.Fatalf("swept %d uploads once the completion ended, want 1", n)
	}
}

// TestSweepLoop checks that the loop Open starts sweeps, and that Close
// stops it and is safe twice.
func TestSweepLoop(t *testing.T) {
	clk := newClock()
	s := newTestStore(t, "", func(c *Config) {
		c.Now, c.MaxAge, c.SweepInterval = clk.Now, time.Hour, time.Millisecond
	})
	id := create(t, s, "k")
	clk.Advance(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.Parts(context.Background(), "bucket", "k", id, 0, 0); errors.Is(err, ErrNoSuchUpload) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the upload was not swept")
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	s.Close()
}

// TestConcurrentParts uploads parts in parallel, several times each: one
// body per part remains, the last one stored.
func TestConcurrentParts(t *testing.T) {
	s := newTestStore(t, "", nil)
	id := create(t, s, "k")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 1; n <= 4; n++ {
				data := fill(byte('a'+w), 100*n)
				if _, err := s.PutPart(context.Background(), "bucket", "k", id, n, bytes.NewReader(data), int64(len(data)), ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	l, err := s.Parts(context.Background(), "bucket", "k", id, 0, 0)
	if err != nil || len(l.Parts) != 4 {
		t.Fatalf("parts %+v, %v", l, err)
	}
	bodies := 0
	for _, f := range files(t, s.dir) {
		if strings.HasSuffix(f, ".part") {
			bodies++
		}
	}
	if bodies != 4 {
		t.Fatalf("%d part files on disk, want 4", bodies)
	}
	// Each part's metadata on disk is the one in memory.
	s.Close()
	s2 := newTestStore(t, s.dir, nil)
	l2, err := s2.Parts(context.Background(), "bucket", "k", id, 0, 0)
	if err != nil || fmt.Sprint(l2.Parts) != fmt.Sprint(l.Parts) {
		t.Fatalf("after restart %+v, want %+v (%v)", l2.Parts, l.Parts, err)
	}
}

func TestConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"negative max age": func(c *Config) { c.MaxAge = -1 },
		"min above max":    func(c *Config) { c.MinPartSize, c.MaxPartSize = 10, 5 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			mod(&cfg)
			if _, err := Open(t.TempDir(), cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	c, err := Config{MaxAge: time.Minute}.withDefaults()
	if err != nil || c.SweepInterval != 6*time.Second || c.MinPartSize != DefaultMinPartSize {
		t.Fatalf("defaults %+v, %v", c, err)
	}
}
