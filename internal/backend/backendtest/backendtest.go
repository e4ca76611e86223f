// Package backendtest is the conformance suite every backend.Backend
// implementation must pass. An implementation's test calls Run (or RunCaps
// for a server with known deviations from S3) with a constructor.
//
// Besides the contract in package backend, the suite pins down behaviour
// the node relies on and S3 shows:
//
//   - Put reads size bytes from the body's current position; a body
//     shorter or longer than size fails with core.ErrIncompleteBody and
//     stores nothing.
//   - A Range is Length bytes from Offset, cut at the end of the object
//     (Length < 0 reads to the end). Offset equal to the size, or Length
//     0, gives an empty body; a negative Offset or one past the size wraps
//     core.ErrInvalidArgument.
//   - The ETag of an object stored in one part is the hex MD5 of its body.
//   - An empty ContentType reads back as application/octet-stream; user
//     metadata keys read back lowercase; Name and Level round-trip.
//   - Invalid bucket names and keys wrap core.ErrInvalidBucket and
//     core.ErrInvalidKey; not-found and not-modified errors are never a
//     *core.BackendError.
//   - A backend that also implements backend.Lister is held to S3's
//     ListObjectsV2 ordering, roll-up and paging (see
//     backend.ListOptions) and bucket semantics; the listing subtests are
//     skipped for one that does not. The bucket NewFunc returns must
//     exist, and its backend must allow creating and deleting another.
package backendtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// NewFunc returns the backend under test and an existing, empty bucket in
// it. It is called once per subtest, with the subtest's t, so it can
// register cleanups; backends may share one server across calls as long
// as each call's bucket starts empty.
type NewFunc func(t *testing.T) (b backend.Backend, bucket string)

// Caps lists the ways a server is known to deviate from S3, so that the
// suite skips those assertions instead of failing on them. The zero value
// is a faithful S3.
type Caps struct {
	// UnstoredHeaders are headers of core.StoredHeaders that the server
	// drops. gofakes3 drops Cache-Control, Content-Language and Expires.
	UnstoredHeaders []string
	// OverwriteMergesMetadata: an overwrite keeps the old version's user
	// metadata keys that the new one does not set, so only the new keys
	// (and Name when set) can be checked. gofakes3 merges so.
	OverwriteMergesMetadata bool
	// MultipartETagDiffers: the ETag Put returns for a multipart upload
	// differs from the one Head and Get return. gofakes3 answers
	// CompleteMultipartUpload with "md5-N" but HEAD with a plain MD5.
	MultipartETagDiffers bool
	// ListTruncatedOverstated: a listing page may say it is truncated
	// when no entry follows, so that the next page is empty. gofakes3
	// sets IsTruncated whenever any key follows the page's last one, even
	// a key that rolls up into the page's last common prefix.
	ListTruncatedOverstated bool
	// ListMarkerKeysAsObjects: a key that ends with the delimiter one
	// level below Prefix (a folder marker such as "a/b/" listed with
	// Prefix "a/" and Delimiter "/") is returned as an object instead of
	// rolled up into the common prefix equal to it. gofakes3 does so.
	ListMarkerKeysAsObjects bool
}

// LargeSize is the size of the object of the "Large" subtest. A backend
// that uploads in parts should be configured with a part size and
// threshold well below it (5 MiB, the S3 minimum, gives four parts).
const LargeSize = 20 << 20

// Run runs the suite against a faithful S3 behaviour.
func Run(t *testing.T, newBackend NewFunc) {
	t.Helper()
	RunCaps(t, newBackend, Caps{})
}

// RunCaps runs the suite, skipping the assertions caps says the server
// cannot pass.
func RunCaps(t *testing.T, newBackend NewFunc, caps Caps) {
	t.Helper()
	s := &suite{new: newBackend, caps: caps}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"Empty", s.testEmpty},
		{"Overwrite", s.testOverwrite},
		{"Range", s.testRange},
		{"IfNoneMatch", s.testIfNoneMatch},
		{"Head", s.testHead},
		{"Delete", s.testDelete},
		{"Missing", s.testMissing},
		{"Keys", s.testKeys},
		{"InvalidNames", s.testInvalidNames},
		{"SizeMismatch", s.testSizeMismatch},
		{"BodyPosition", s.testBodyPosition},
		{"CanceledContext", s.testCanceledContext},
		{"Large", s.testLarge},
		{"ConcurrentPuts", s.testConcurrentPuts},
		{"ETagIsMD5", s.testETagIsMD5},
		{"ListEmpty", s.testListEmpty},
		{"ListPrefix", s.testListPrefix},
		{"ListDelimiter", s.testListDelimiter},
		{"ListMaxKeys", s.testListMaxKeys},
		{"ListStartAfter", s.testListStartAfter},
		{"ListPagination", s.testListPagination},
		{"ListUnicode", s.testListUnicode},
		{"ListFolderMarkers", s.testListFolderMarkers},
		{"Buckets", s.testBuckets},
		{"BucketInvalidNames", s.testBucketInvalidNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

type suite struct {
	new  NewFunc
	caps Caps
}

func (s *suite) testRoundTrip(t *testing.T) {
	b, bucket := s.new(t)
	ctx := t.Context()
	data := []byte("hello, objstore\n")
	in := core.Info{
		ContentType: "text/plain; charset=utf-8",
		UserMeta:    map[string]string{"color": "blue", "owner": "alice"},
		Header: map[string]string{
			"Cache-Control":       "max-age=60",
			"Content-Disposition": `attachment; filename="hello.txt"`,
			"Content-Encoding":    "gzip",
			"Content-Language":    "en",
			"Expires":             "Thu, 01 Jan 2037 00:00:00 GMT",
		},
		Name:  "rapport d'été 2024.txt",
		Level: core.LevelAll,
	}
	before := time.Now()
	etag := put(t, b, bucket, "dir/hello.txt", data, in)
	if want := md5Hex(data); etag != want {
		t.Errorf("Put ETag = %q, want %q", etag, want)
	}

	obj, body := get(t, b, bucket, "dir/hello.txt", backend.GetOptions{})
	if !bytes.Equal(body, data) {
		t.Errorf("body = %q, want %q", body, data)
	}
	if obj.Length != int64(len(data)) {
		t.Errorf("Length = %d, want %d", obj.Length, len(data))
	}
	want := in
	want.Bucket, want.Key, want.Size, want.ETag = bucket, "dir/hello.txt", int64(len(data)), etag
	s.checkInfo(t, "Get", obj.Info, want)
	if mt := obj.ModTime; mt.Before(before.Add(-time.Minute)) || mt.After(time.Now().Add(time.Minute)) {
		t.Errorf("ModTime = %v, want about %v", mt, before)
	}

	head, err := b.Head(ctx, bucket, "dir/hello.txt")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	s.checkInfo(t, "Head", head, want)
	if !head.ModTime.Equal(obj.ModTime) {
		t.Errorf("Head ModTime = %v, Get ModTime = %v", head.ModTime, obj.ModTime)
	}
}

func (s *suite) testEmpty(t *testing.T) {
	b, bucket := s.new(t)
	etag := put(t, b, bucket, "empty", nil, core.Info{})
	if want := md5Hex(nil); etag != want {
		t.Errorf("Put ETag = %q, want %q", etag, want)
	}
	obj, body := get(t, b, bucket, "empty", backend.GetOptions{})
	if len(body) != 0 || obj.Length != 0 || obj.Size != 0 {
		t.Errorf("got %d bytes, Length %d, Size %d; want all 0", len(body), obj.Length, obj.Size)
	}
	s.checkInfo(t, "Get", obj.Info, core.Info{
		Bucket: bucket, Key: "empty", ETag: etag, ContentType: "application/octet-stream",
	})
	obj, body = get(t, b, bucket, "empty", backend.GetOptions{Range: &backend.Range{Offset: 0, Length: -1}})
	if len(body) != 0 || obj.Length != 0 || obj.Size != 0 {
		t.Errorf("range 0-: got %d bytes, Length %d, Size %d; want all 0", len(body), obj.Length, obj.Size)
	}
}

func (s *suite) testOverwrite(t *testing.T) {
	b, bucket := s.new(t)
	put(t, b, bucket, "k", []byte("first version, longer"), core.Info{
		ContentType: "text/plain",
		UserMeta:    map[string]string{"old": "1"},
		Header:      map[string]string{"Content-Language": "fr"},
		Name:        "old.txt",
		Level:       core.LevelAll,
	})
	second := []byte("second")
	etag := put(t, b, bucket, "k", second, core.Info{
		ContentType: "application/json",
		UserMeta:    map[string]string{"new": "2"},
		Level:       core.LevelBackend,
	})
	obj, body := get(t, b, bucket, "k", backend.GetOptions{})
	if !bytes.Equal(body, second) {
		t.Errorf("body = %q, want %q", body, second)
	}
	want := core.Info{
		Bucket: bucket, Key: "k", Size: int64(len(second)), ETag: etag,
		ContentType: "application/json",
		UserMeta:    map[string]string{"new": "2"},
		Level:       core.LevelBackend,
	}
	if s.caps.OverwriteMergesMetadata {
		if obj.UserMeta["new"] != "2" {
			t.Errorf("UserMeta = %v, want new=2 among them", obj.UserMeta)
		}
		obj.UserMeta, obj.Name = want.UserMeta, want.Name
	}
	s.checkInfo(t, "Get", obj.Info, want)
}

func (s *suite) testRange(t *testing.T) {
	b, bucket := s.new(t)
	data := pattern(100)
	put(t, b, bucket, "r", data, core.Info{})
	tests := []struct {
		name   string
		rng    backend.Range
		from   int // expected body is data[from:to]
		to     int
		badArg bool
	}{
		{name: "middle", rng: backend.Range{Offset: 10, Length: 20}, from: 10, to: 30},
		{name: "to end", rng: backend.Range{Offset: 90, Length: -1}, from: 90, to: 100},
		{name: "whole", rng: backend.Range{Offset: 0, Length: -1}, from: 0, to: 100},
		{name: "first byte", rng: backend.Range{Offset: 0, Length: 1}, from: 0, to: 1},
		{name: "last byte", rng: backend.Range{Offset: 99, Length: 1}, from: 99, to: 100},
		{name: "length past end", rng: backend.Range{Offset: 95, Length: 100}, from: 95, to: 100},
		{name: "zero length", rng: backend.Range{Offset: 10, Length: 0}, from: 10, to: 10},
		{name: "at end", rng: backend.Range{Offset: 100, Length: -1}, from: 100, to: 100},
		{name: "past end", rng: backend.Range{Offset: 101, Length: -1}, badArg: true},
		{name: "past end with length", rng: backend.Range{Offset: 150, Length: 10}, badArg: true},
		{name: "negative offset", rng: backend.Range{Offset: -1, Length: 10}, badArg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := tt.rng
			opts := backend.GetOptions{Range: &rng}
			if tt.badArg {
				obj, err := b.Get(t.Context(), bucket, "r", opts)
				if err == nil {
					obj.Body.Close()
				}
				wantErr(t, err, core.ErrInvalidArgument)
				return
			}
			obj, body := get(t, b, bucket, "r", opts)
			if want := data[tt.from:tt.to]; !bytes.Equal(body, want) {
				t.Errorf("body = %v, want %v", body, want)
			}
			if obj.Length != int64(tt.to-tt.from) {
				t.Errorf("Length = %d, want %d", obj.Length, tt.to-tt.from)
			}
			if obj.Size != int64(len(data)) {
				t.Errorf("Size = %d, want the full %d", obj.Size, len(data))
			}
			if obj.ETag != md5Hex(data) {
				t.Errorf("ETag = %q, want the whole object's %q", obj.ETag, md5Hex(data))
			}
		})
	}
}

func (s *suite) testIfNoneMatch(t *testing.T) {
	b, bucket := s.new(t)
	data := []byte("conditional")
	etag := put(t, b, bucket, "c", data, core.Info{})

	obj, err := b.Get(t.Context(), bucket, "c", backend.GetOptions{IfNoneMatch: etag})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, core.ErrNotModified)

	obj, err = b.Get(t.Context(), bucket, "c", backend.GetOptions{
		IfNoneMatch: etag, Range: &backend.Range{Offset: 2, Length: 3},
	})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, core.ErrNotModified)

	_, body := get(t, b, bucket, "c", backend.GetOptions{IfNoneMatch: md5Hex([]byte("stale"))})
	if !bytes.Equal(body, data) {
		t.Errorf("mismatch: body = %q, want %q", body, data)
	}
}

func (s *suite) testHead(t *testing.T) {
	b, bucket := s.new(t)
	data := pattern(1000)
	etag := put(t, b, bucket, "h", data, core.Info{ContentType: "image/png", UserMeta: map[string]string{"a": "b"}})
	info, err := b.Head(t.Context(), bucket, "h")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	s.checkInfo(t, "Head", info, core.Info{
		Bucket: bucket, Key: "h", Size: 1000, ETag: etag,
		ContentType: "image/png", UserMeta: map[string]string{"a": "b"},
	})
	if info.ModTime.IsZero() {
		t.Error("Head ModTime is zero")
	}
}

func (s *suite) testDelete(t *testing.T) {
	b, bucket := s.new(t)
	ctx := t.Context()
	put(t, b, bucket, "d", []byte("doomed"), core.Info{})
	if err := b.Delete(ctx, bucket, "d"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	obj, err := b.Get(ctx, bucket, "d", backend.GetOptions{})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, core.ErrNotFound)
	_, err = b.Head(ctx, bucket, "d")
	wantErr(t, err, core.ErrNotFound)
	if err := b.Delete(ctx, bucket, "d"); err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Errorf("second Delete = %v, want nil or core.ErrNotFound", err)
	}
	// The key is usable again.
	put(t, b, bucket, "d", []byte("reborn"), core.Info{})
	if _, body := get(t, b, bucket, "d", backend.GetOptions{}); string(body) != "reborn" {
		t.Errorf("after re-put: body = %q", body)
	}
}

func (s *suite) testMissing(t *testing.T) {
	b, bucket := s.new(t)
	ctx := t.Context()
	obj, err := b.Get(ctx, bucket, "never-written", backend.GetOptions{})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, core.ErrNotFound)
	obj, err = b.Get(ctx, bucket, "never-written", backend.GetOptions{Range: &backend.Range{Offset: 5, Length: 5}})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, core.ErrNotFound)
	_, err = b.Head(ctx, bucket, "never-written")
	wantErr(t, err, core.ErrNotFound)
	if err := b.Delete(ctx, bucket, "never-written"); err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Delete = %v, want nil or core.ErrNotFound", err)
	}
}

func (s *suite) testKeys(t *testing.T) {
	b, bucket := s.new(t)
	ctx := t.Context()
	keys := []struct{ name, key string }{
		{"slashes", "a/b/c.txt"},
		{"leading slash", "/leading"},
		{"trailing slash", "a/b/"},
		{"double slash", "a//b"},
		{"dot dot", ".."},
		{"dot", "."},
		{"escape root", "../../../../etc/passwd"},
		{"escape mid", "a/../../b"},
		{"unicode", "日本語/ключ/😀 é"},
		{"spaces and escapes", "with space/%2F/+plus?q=1&x#frag"},
		{"max length", strings.Repeat("k", core.MaxKeyLen)},
		{"max length multibyte", strings.Repeat("é", core.MaxKeyLen/2)},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			data := []byte("value of " + k.name)
			etag := put(t, b, bucket, k.key, data, core.Info{})
			obj, body := get(t, b, bucket, k.key, backend.GetOptions{})
			if !bytes.Equal(body, data) {
				t.Errorf("body = %q, want %q", body, data)
			}
			if obj.Key != k.key {
				t.Errorf("Key = %q, want %q", obj.Key, k.key)
			}
			info, err := b.Head(ctx, bucket, k.key)
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			if info.ETag != etag || info.Size != int64(len(data)) {
				t.Errorf("Head = ETag %q, Size %d; want %q, %d", info.ETag, info.Size, etag, len(data))
			}
		})
	}
	// Every key is its own object: nothing above overwrote another.
	for _, k := range keys {
		if _, body := get(t, b, bucket, k.key, backend.GetOptions{}); string(body) != "value of "+k.name {
			t.Errorf("key %q: body = %q, want %q", k.key, body, "value of "+k.name)
		}
	}
	for _, k := range keys {
		if err := b.Delete(ctx, bucket, k.key); err != nil {
			t.Errorf("Delete(%q): %v", k.key, err)
		}
		if _, err := b.Head(ctx, bucket, k.key); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Head(%q) after Delete = %v, want core.ErrNotFound", k.key, err)
		}
	}
}

func (s *suite) testInvalidNames(t *testing.T) {
	b, bucket := s.new(t)
	ctx := t.Context()
	tests := []struct {
		name, bucket, key string
		want              error
	}{
		{"empty key", bucket, "", core.ErrInvalidKey},
		{"key too long", bucket, strings.Repeat("k", core.MaxKeyLen+1), core.ErrInvalidKey},
		{"key not UTF-8", bucket, "bad\xff", core.ErrInvalidKey},
		{"bucket uppercase", "Bucket", "k", core.ErrInvalidBucket},
		{"bucket dot dot", "..", "k", core.ErrInvalidBucket},
		{"bucket slash", "a/b/c", "k", core.ErrInvalidBucket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Put(ctx, tt.bucket, tt.key, strings.NewReader("x"), 1, core.Info{})
			wantErr(t, err, tt.want)
			obj, err := b.Get(ctx, tt.bucket, tt.key, backend.GetOptions{})
			if err == nil {
				obj.Body.Close()
			}
			wantErr(t, err, tt.want)
			_, err = b.Head(ctx, tt.bucket, tt.key)
			wantErr(t, err, tt.want)
			wantErr(t, b.Delete(ctx, tt.bucket, tt.key), tt.want)
		})
	}
}

func (s *suite) testSizeMismatch(t *testing.T) {
	b, bucket := s.new(t)
	tests := []struct {
		name string
		body string
		size int64
	}{
		{"body shorter", "short", 10},
		{"body longer", "longer than declared", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Put(t.Context(), bucket, "m", strings.NewReader(tt.body), tt.size, core.Info{})
			wantErr(t, err, core.ErrIncompleteBody)
			_, err = b.Head(t.Context(), bucket, "m")
			wantErr(t, err, core.ErrNotFound)
		})
	}
}

func (s *suite) testBodyPosition(t *testing.T) {
	b, bucket := s.new(t)
	tests := []struct {
		name string
		body func(t *testing.T, data []byte) io.ReadSeeker
	}{
		{"bytes.Reader", func(t *testing.T, data []byte) io.ReadSeeker { return bytes.NewReader(data) }},
		{"os.File", func(t *testing.T, data []byte) io.ReadSeeker { return tempFile(t, data) }},
		{"plain ReadSeeker", func(t *testing.T, data []byte) io.ReadSeeker {
			return struct{ io.ReadSeeker }{bytes.NewReader(data)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte("skip-these:keep these bytes")
			r := tt.body(t, data)
			if _, err := r.Seek(int64(len("skip-these:")), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			want := data[len("skip-these:"):]
			etag, err := b.Put(t.Context(), bucket, "p", r, int64(len(want)), core.Info{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if etag != md5Hex(want) {
				t.Errorf("ETag = %q, want %q", etag, md5Hex(want))
			}
			if _, body := get(t, b, bucket, "p", backend.GetOptions{}); !bytes.Equal(body, want) {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
}

func (s *suite) testCanceledContext(t *testing.T) {
	b, bucket := s.new(t)
	put(t, b, bucket, "exists", []byte("x"), core.Info{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := b.Put(ctx, bucket, "new", strings.NewReader("x"), 1, core.Info{})
	wantErr(t, err, context.Canceled)
	obj, err := b.Get(ctx, bucket, "exists", backend.GetOptions{})
	if err == nil {
		obj.Body.Close()
	}
	wantErr(t, err, context.Canceled)
	_, err = b.Head(ctx, bucket, "exists")
	wantErr(t, err, context.Canceled)
	wantErr(t, b.Delete(ctx, bucket, "exists"), context.Canceled)

	if _, err := b.Head(t.Context(), bucket, "new"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Head of the canceled Put = %v, want core.ErrNotFound", err)
	}
	if _, err := b.Head(t.Context(), bucket, "exists"); err != nil {
		t.Errorf("Head after the canceled Delete = %v, want the object", err)
	}
}

func (s *suite) testLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large object in -short mode")
	}
	b, bucket := s.new(t)
	ctx := t.Context()
	data := make([]byte, LargeSize)
	rand.NewChaCha8([32]byte{1}).Read(data)
	sum := md5Hex(data)

	// An *os.File, as the node passes its cached bodies.
	f := tempFile(t, data)
	etag, err := b.Put(ctx, bucket, "large", f, int64(len(data)), core.Info{ContentType: "application/x-large"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !multipartETag.MatchString(etag) && etag != sum {
		t.Errorf("Put ETag = %q, want %q or a multipart ETag", etag, sum)
	}

	head, err := b.Head(ctx, bucket, "large")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.Size != LargeSize {
		t.Errorf("Head Size = %d, want %d", head.Size, LargeSize)
	}
	if head.ETag != etag && !s.caps.MultipartETagDiffers {
		t.Errorf("Head ETag = %q, Put returned %q", head.ETag, etag)
	}

	obj, err := b.Get(ctx, bucket, "large", backend.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	h := md5.New()
	n, err := io.Copy(h, obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if n != LargeSize || obj.Length != LargeSize || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Errorf("Get: %d bytes (Length %d) with MD5 %x; want %d bytes with MD5 %s",
			n, obj.Length, h.Sum(nil), LargeSize, sum)
	}
	if obj.ETag != head.ETag {
		t.Errorf("Get ETag = %q, Head ETag = %q", obj.ETag, head.ETag)
	}

	// A range across the 5 MiB boundary of the smallest S3 part.
	off := int64(5<<20 - 10)
	obj, body := get(t, b, bucket, "large", backend.GetOptions{Range: &backend.Range{Offset: off, Length: 20}})
	if !bytes.Equal(body, data[off:off+20]) {
		t.Errorf("range across a part boundary: body differs")
	}
	if obj.Size != LargeSize {
		t.Errorf("range: Size = %d, want %d", obj.Size, LargeSize)
	}
}

var multipartETag = regexp.MustCompile(`^[0-9a-f]{32}-[0-9]+$`)

func (s *suite) testConcurrentPuts(t *testing.T) {
	b, bucket := s.new(t)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("concurrent/%02d", i)
			data := bytes.Repeat([]byte{byte(i)}, 1000+i)
			if _, err := b.Put(t.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), core.Info{}); err != nil {
				t.Errorf("Put(%q): %v", key, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		key := fmt.Sprintf("concurrent/%02d", i)
		if _, body := get(t, b, bucket, key, backend.GetOptions{}); !bytes.Equal(body, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
			t.Errorf("%s: wrong body of %d bytes", key, len(body))
		}
	}
}

func (s *suite) testETagIsMD5(t *testing.T) {
	b, bucket := s.new(t)
	for _, size := range []int{1, 4095, 4096, 65537, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := pattern(size)
			etag := put(t, b, bucket, "etag", data, core.Info{})
			if want := md5Hex(data); etag != want {
				t.Errorf("Put ETag = %q, want %q", etag, want)
			}
			info, err := b.Head(t.Context(), bucket, "etag")
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			if want := md5Hex(data); info.ETag != want {
				t.Errorf("Head ETag = %q, want %q", info.ETag, want)
			}
		})
	}
}

// checkInfo compares what the suite can compare: everything but ModTime,
// with headers the server drops (Caps.UnstoredHeaders) left out.
func (s *suite) checkInfo(t *testing.T, what string, got, want core.Info) {
	t.Helper()
	if got.Bucket != want.Bucket || got.Key != want.Key {
		t.Errorf("%s: object %s/%q, want %s/%q", what, got.Bucket, got.Key, want.Bucket, want.Key)
	}
	if got.Size != want.Size {
		t.Errorf("%s: Size = %d, want %d", what, got.Size, want.Size)
	}
	if got.ETag != want.ETag {
		t.Errorf("%s: ETag = %q, want %q", what, got.ETag, want.ETag)
	}
	if got.ContentType != want.ContentType {
		t.Errorf("%s: ContentType = %q, want %q", what, got.ContentType, want.ContentType)
	}
	if !maps.Equal(got.UserMeta, want.UserMeta) {
		t.Errorf("%s: UserMeta = %v, want %v", what, got.UserMeta, want.UserMeta)
	}
	wantHeader := make(map[string]string)
	for k, v := range want.Header {
		if !slices.Contains(s.caps.UnstoredHeaders, k) {
			wantHeader[k] = v
		}
	}
	gotHeader := make(map[string]string)
	for k, v := range got.Header {
		if !slices.Contains(s.caps.UnstoredHeaders, k) {
			gotHeader[k] = v
		}
	}
	if !maps.Equal(gotHeader, wantHeader) {
		t.Errorf("%s: Header = %v, want %v", what, got.Header, wantHeader)
	}
	if got.Name != want.Name {
		t.Errorf("%s: Name = %q, want %q", what, got.Name, want.Name)
	}
	if got.Level != want.Level {
		t.Errorf("%s: Level = %d, want %d", what, got.Level, want.Level)
	}
}

func put(t *testing.T, b backend.Backend, bucket, key string, data []byte, info core.Info) string {
	t.Helper()
	etag, err := b.Put(t.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), info)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return etag
}

func get(t *testing.T, b backend.Backend, bucket, key string, opts backend.GetOptions) (*backend.Object, []byte) {
	t.Helper()
	obj, err := b.Get(t.Context(), bucket, key, opts)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("Get(%q): read body: %v", key, err)
	}
	if int64(len(body)) != obj.Length {
		t.Errorf("Get(%q): read %d bytes, Length says %d", key, len(body), obj.Length)
	}
	return obj, body
}

// wantErr fails unless err wraps target. Errors a caller must be able to
// tell from an outage must not be a *core.BackendError.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error = %v, want %v", err, target)
		return
	}
	var be *core.BackendError
	if errors.As(err, &be) {
		t.Errorf("error %v is a *core.BackendError, want a plain %v", err, target)
	}
}

func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pattern returns n bytes in which no short window repeats at a nearby
// offset, so a range read from the wrong place cannot pass.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
