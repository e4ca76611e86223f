package backendtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// lister returns a fresh backend and bucket, skipping the test when the
// backend does not list.
func (s *suite) lister(t *testing.T) (backend.Backend, backend.Lister, string) {
	t.Helper()
	b, bucket := s.new(t)
	l, ok := b.(backend.Lister)
	if !ok {
		t.Skipf("%T does not implement backend.Lister", b)
	}
	return b, l, bucket
}

func (s *suite) testListEmpty(t *testing.T) {
	_, l, bucket := s.lister(t)
	for _, opts := range []backend.ListOptions{
		{},
		{Delimiter: "/"},
		{Prefix: "a/", Delimiter: "/", StartAfter: "a/b", MaxKeys: 1},
	} {
		checkList(t, l, bucket, opts, nil, nil, false)
	}
}

func (s *suite) testListPrefix(t *testing.T) {
	b, l, bucket := s.lister(t)
	start := time.Now()
	putKeys(t, b, bucket, "fo", "foo", "foo/bar", "foobar", "bar/foo", "g")
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"bar/foo", "fo", "foo", "foo/bar", "foobar", "g"}},
		{"foo", []string{"foo", "foo/bar", "foobar"}},
		{"foo/", []string{"foo/bar"}},
		{"foo/bar", []string{"foo/bar"}},
		{"f", []string{"fo", "foo", "foo/bar", "foobar"}},
		{"zzz", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.prefix), func(t *testing.T) {
			checkList(t, l, bucket, backend.ListOptions{Prefix: tt.prefix}, tt.want, nil, false)
		})
	}
	p := list(t, l, bucket, backend.ListOptions{Prefix: "foo/"})
	if len(p.Objects) != 1 {
		t.Fatalf("got %d objects, want 1", len(p.Objects))
	}
	got := p.Objects[0]
	if got.Bucket != bucket || got.Key != "foo/bar" || got.Size != int64(len("foo/bar")) || got.ETag != md5Hex([]byte("foo/bar")) {
		t.Errorf("object = %s/%q Size %d ETag %q; want %s/%q Size %d ETag %q",
			got.Bucket, got.Key, got.Size, got.ETag, bucket, "foo/bar", len("foo/bar"), md5Hex([]byte("foo/bar")))
	}
	if mt := got.ModTime; mt.Before(start.Add(-time.Minute)) || mt.After(time.Now().Add(time.Minute)) {
		t.Errorf("ModTime = %v, want about %v", mt, start)
	}
}

func (s *suite) testListDelimiter(t *testing.T) {
	b, l, bucket := s.lister(t)
	putKeys(t, b, bucket, "a", "b/c", "b/d/e", "b/d/f", "b/g", "i/j", "k")
	tests := []struct {
		name              string
		prefix, delimiter string
		objects, prefixes []string
	}{
		{"top level", "", "/", []string{"a", "k"}, []string{"b/", "i/"}},
		{"one level down", "b/", "/", []string{"b/c", "b/g"}, []string{"b/d/"}},
		{"leaf level", "b/d/", "/", []string{"b/d/e", "b/d/f"}, nil},
		{"prefix without delimiter", "b", "/", nil, []string{"b/"}},
		{"prefix inside a level", "b/d", "/", nil, []string{"b/d/"}},
		{"prefix matching nothing", "x", "/", nil, nil},
		{"no delimiter", "b/", "", []string{"b/c", "b/d/e", "b/d/f", "b/g"}, nil},
		{"other delimiter", "", "d", []string{"a", "b/c", "b/g", "i/j", "k"}, []string{"b/d"}},
		{"long delimiter", "", "/d/", []string{"a", "b/c", "b/g", "i/j", "k"}, []string{"b/d/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := backend.ListOptions{Prefix: tt.prefix, Delimiter: tt.delimiter}
			checkList(t, l, bucket, opts, tt.objects, tt.prefixes, false)
		})
	}
}

// testListMaxKeys checks that common prefixes count toward MaxKeys.
func (s *suite) testListMaxKeys(t *testing.T) {
	b, l, bucket := s.lister(t)
	putKeys(t, b, bucket, "a/1", "a/2", "b/1", "c", "d/1")
	tests := []struct {
		name              string
		delimiter         string
		maxKeys           int
		objects, prefixes []string
		truncated         bool
	}{
		{"one prefix", "/", 1, nil, []string{"a/"}, true},
		{"two prefixes", "/", 2, nil, []string{"a/", "b/"}, true},
		{"prefixes and a key", "/", 3, []string{"c"}, []string{"a/", "b/"}, true},
		{"exactly all", "/", 4, []string{"c"}, []string{"a/", "b/", "d/"}, false},
		{"default", "/", 0, []string{"c"}, []string{"a/", "b/", "d/"}, false},
		{"above S3's cap", "/", 5000, []string{"c"}, []string{"a/", "b/", "d/"}, false},
		{"keys only", "", 3, []string{"a/1", "a/2", "b/1"}, nil, true},
		{"keys exactly all", "", 5, []string{"a/1", "a/2", "b/1", "c", "d/1"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := backend.ListOptions{Delimiter: tt.delimiter, MaxKeys: tt.maxKeys}
			checkList(t, l, bucket, opts, tt.objects, tt.prefixes, tt.truncated)
		})
	}
	_, err := l.List(t.Context(), bucket, backend.ListOptions{MaxKeys: -1})
	wantErr(t, err, core.ErrInvalidArgument)
}

func (s *suite) testListStartAfter(t *testing.T) {
	b, l, bucket := s.lister(t)
	putKeys(t, b, bucket, "a/1", "a/2", "b/1", "c", "d/1")
	tests := []struct {
		name              string
		opts              backend.ListOptions
		objects, prefixes []string
	}{
		{"a key", backend.ListOptions{StartAfter: "a/2"}, []string{"b/1", "c", "d/1"}, nil},
		{"between keys", backend.ListOptions{StartAfter: "b"}, []string{"b/1", "c", "d/1"}, nil},
		{"before the first key", backend.ListOptions{StartAfter: "0"}, []string{"a/1", "a/2", "b/1", "c", "d/1"}, nil},
		{"beyond the end", backend.ListOptions{StartAfter: "e"}, nil, nil},
		{"beyond the end with delimiter", backend.ListOptions{StartAfter: "e", Delimiter: "/"}, nil, nil},
		{"the common prefix itself", backend.ListOptions{StartAfter: "a/", Delimiter: "/"},
			[]string{"c"}, []string{"b/", "d/"}},
		{"inside a common prefix", backend.ListOptions{StartAfter: "a/1", Delimiter: "/"},
			[]string{"c"}, []string{"a/", "b/", "d/"}},
		{"after a common prefix's last key", backend.ListOptions{StartAfter: "a/2", Delimiter: "/"},
			[]string{"c"}, []string{"b/", "d/"}},
		{"a key between prefixes", backend.ListOptions{StartAfter: "c", Delimiter: "/"}, nil, []string{"d/"}},
		{"the last common prefix", backend.ListOptions{StartAfter: "d/", Delimiter: "/"}, nil, nil},
		{"with prefix", backend.ListOptions{Prefix: "a/", StartAfter: "a/1"}, []string{"a/2"}, nil},
		{"equal to prefix", backend.ListOptions{Prefix: "a/", Delimiter: "/", StartAfter: "a/"},
			[]string{"a/1", "a/2"}, nil},
		{"before prefix", backend.ListOptions{Prefix: "b/", StartAfter: "a"}, []string{"b/1"}, nil},
		{"after prefix", backend.ListOptions{Prefix: "b/", StartAfter: "c"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkList(t, l, bucket, tt.opts, tt.objects, tt.prefixes, false)
		})
	}
}

// paginationKeys are 25 keys that list, with Delimiter "/", as 13
// entries alternating between common prefixes and keys, some prefixes
// holding deeper levels.
var paginationKeys = []string{
	"00/a",
	"01",
	"02/a", "02/b",
	"03",
	"04/a", "04/b", "04/x/y",
	"05",
	"06/a", "06/b", "06/c", "06/d",
	"07",
	"08/a", "08/b", "08/c", "08/d/e", "08/d/f",
	"09",
	"10/a", "10/b",
	"11",
	"12/a", "12/b",
}

// testListPagination pages through a bucket with StartAfter set to the
// last entry of the previous page, as the S3 API does, and checks that
// every entry and every object comes exactly once.
func (s *suite) testListPagination(t *testing.T) {
	b, l, bucket := s.lister(t)
	putKeys(t, b, bucket, paginationKeys...)
	topLevel := []string{"00/", "01", "02/", "03", "04/", "05", "06/", "07", "08/", "09", "10/", "11", "12/"}
	for _, maxKeys := range []int{1, 7} {
		t.Run(fmt.Sprintf("MaxKeys %d", maxKeys), func(t *testing.T) {
			t.Run("keys", func(t *testing.T) {
				entries, objects := s.pageAll(t, l, bucket, backend.ListOptions{MaxKeys: maxKeys})
				if !slices.Equal(entries, paginationKeys) {
					t.Errorf("entries = %q, want %q", entries, paginationKeys)
				}
				for _, o := range objects {
					if o.Size != int64(len(o.Key)) || o.ETag != md5Hex([]byte(o.Key)) {
						t.Errorf("object %q: Size %d, ETag %q; want %d, %q",
							o.Key, o.Size, o.ETag, len(o.Key), md5Hex([]byte(o.Key)))
					}
				}
			})
			t.Run("delimiter", func(t *testing.T) {
				opts := backend.ListOptions{Delimiter: "/", MaxKeys: maxKeys}
				entries, _ := s.pageAll(t, l, bucket, opts)
				if !slices.Equal(entries, topLevel) {
					t.Errorf("entries = %q, want %q", entries, topLevel)
				}
				// Descending into every common prefix finds every
				// object once.
				var walk func(prefix string) []string
				walk = func(prefix string) []string {
					opts.Prefix = prefix
					var keys []string
					entries, _ := s.pageAll(t, l, bucket, opts)
					for _, e := range entries {
						if strings.HasSuffix(e, "/") {
							keys = append(keys, walk(e)...)
						} else {
							keys = append(keys, e)
						}
					}
					return keys
				}
				if keys := walk(""); !slices.Equal(keys, paginationKeys) {
					t.Errorf("objects found by descending = %q, want %q", keys, paginationKeys)
				}
			})
		})
	}
}

// pageAll lists every page of opts (StartAfter aside) and returns the
// entries, objects and common prefixes merged in order, and the objects.
func (s *suite) pageAll(t *testing.T, l backend.Lister, bucket string, opts backend.ListOptions) ([]string, []core.Info) {
	t.Helper()
	limit := opts.MaxKeys
	opts.StartAfter = ""
	var entries []string
	var objects []core.Info
	for pages := 1; ; pages++ {
		p := list(t, l, bucket, opts)
		page := make([]string, 0, len(p.Objects)+len(p.CommonPrefixes))
		for _, o := range p.Objects {
			page = append(page, o.Key)
		}
		page = append(page, p.CommonPrefixes...)
		slices.Sort(page)
		if len(page) > limit {
			t.Fatalf("page %d of %+v has %d entries, want at most %d", pages, opts, len(page), limit)
		}
		if len(page) == 0 && p.Truncated {
			t.Fatalf("page %d of %+v is empty and truncated: paging cannot go on", pages, opts)
		}
		if len(page) == 0 && pages > 1 && !s.caps.ListTruncatedOverstated {
			t.Errorf("page %d of %+v is empty: the previous one was truncated for nothing", pages, opts)
		}
		entries = append(entries, page...)
		objects = append(objects, p.Objects...)
		if !p.Truncated {
			return entries, objects
		}
		if pages > 100 {
			t.Fatalf("listing %+v does not end", opts)
		}
		opts.StartAfter = page[len(page)-1]
	}
}

func (s *suite) testListUnicode(t *testing.T) {
	b, l, bucket := s.lister(t)
	// In byte (UTF-8) order. U+FF71 before U+1F600 is where UTF-16 order,
	// which some servers use, differs.
	keys := []string{"Z", "a", "e\u0301", "z", "~", "é", "日本人", "日本語", "\uff71", "😀", "😀/x"}
	shuffled := slices.Clone(keys)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	putKeys(t, b, bucket, shuffled...)
	tests := []struct {
		name              string
		opts              backend.ListOptions
		objects, prefixes []string
		truncated         bool
	}{
		{"all", backend.ListOptions{}, keys, nil, false},
		{"page after ASCII", backend.ListOptions{StartAfter: "~", MaxKeys: 3}, []string{"é", "日本人", "日本語"}, nil, true},
		{"last page", backend.ListOptions{StartAfter: "日本語", MaxKeys: 3}, []string{"\uff71", "😀", "😀/x"}, nil, false},
		{"prefix", backend.ListOptions{Prefix: "日本"}, []string{"日本人", "日本語"}, nil, false},
		{"multibyte delimiter", backend.ListOptions{Delimiter: "本"}, []string{"Z", "a", "e\u0301", "z", "~", "é", "\uff71", "😀", "😀/x"}, []string{"日本"}, false},
		{"delimiter after multibyte", backend.ListOptions{Delimiter: "/", StartAfter: "\uff71"}, []string{"😀"}, []string{"😀/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkList(t, l, bucket, tt.opts, tt.objects, tt.prefixes, tt.truncated)
		})
	}
}

// testListFolderMarkers covers keys that end with the delimiter, as the
// "folders" S3 consoles make: such a key rolls up into a common prefix
// equal to itself, unless it is the Prefix itself.
func (s *suite) testListFolderMarkers(t *testing.T) {
	if s.caps.ListMarkerKeysAsObjects {
		t.Skip("the server lists folder markers as objects")
	}
	b, l, bucket := s.lister(t)
	putKeys(t, b, bucket, "a/", "a/b", "a/b/", "a/b/c", "d")
	tests := []struct {
		name              string
		opts              backend.ListOptions
		objects, prefixes []string
		truncated         bool
	}{
		{"top level", backend.ListOptions{Delimiter: "/"}, []string{"d"}, []string{"a/"}, false},
		{"marker is the prefix", backend.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/", "a/b"}, []string{"a/b/"}, false},
		{"deeper marker is the prefix", backend.ListOptions{Prefix: "a/b/", Delimiter: "/"}, []string{"a/b/", "a/b/c"}, nil, false},
		{"prefix before the delimiter", backend.ListOptions{Prefix: "a", Delimiter: "/"}, nil, []string{"a/"}, false},
		{"first page", backend.ListOptions{Delimiter: "/", MaxKeys: 1}, nil, []string{"a/"}, true},
		{"second page", backend.ListOptions{Delimiter: "/", MaxKeys: 1, StartAfter: "a/"}, []string{"d"}, nil, false},
		{"no delimiter", backend.ListOptions{Prefix: "a/"}, []string{"a/", "a/b", "a/b/", "a/b/c"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkList(t, l, bucket, tt.opts, tt.objects, tt.prefixes, tt.truncated)
		})
	}
}

func (s *suite) testBuckets(t *testing.T) {
	b, l, bucket := s.lister(t)
	ctx := t.Context()
	// Unique, in case the backend shares its server between subtests.
	name := fmt.Sprintf("backendtest-%08x", rand.Uint32())
	start := time.Now()

	wantErr(t, l.HeadBucket(ctx, name), core.ErrNotFound)
	_, err := l.List(ctx, name, backend.ListOptions{})
	wantErr(t, err, core.ErrNotFound)
	if err := l.CreateBucket(ctx, name); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	t.Cleanup(func() {
		// Leave nothing behind on a shared server, whatever failed.
		_ = b.Delete(t.Context(), name, "k")
		_ = l.DeleteBucket(t.Context(), name)
	})
	wantErr(t, l.CreateBucket(ctx, name), backend.ErrBucketExists)
	if err := l.HeadBucket(ctx, name); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
	checkList(t, l, name, backend.ListOptions{}, nil, nil, false)

	buckets, err := l.Buckets(ctx)
	if err != nil {
		t.Fatalf("Buckets: %v", err)
	}
	if !slices.IsSortedFunc(buckets, func(a, b backend.BucketInfo) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Buckets are not sorted by name: %v", buckets)
	}
	i := slices.IndexFunc(buckets, func(bi backend.BucketInfo) bool { return bi.Name == name })
	if i < 0 {
		t.Errorf("Buckets = %v, want %s among them", buckets, name)
	} else if c := buckets[i].Created; c.Before(start.Add(-time.Minute)) || c.After(time.Now().Add(time.Minute)) {
		t.Errorf("bucket %s Created = %v, want about %v", name, c, start)
	}
	if !slices.ContainsFunc(buckets, func(bi backend.BucketInfo) bool { return bi.Name == bucket }) {
		t.Errorf("Buckets = %v, want the suite's %s among them", buckets, bucket)
	}

	put(t, b, name, "k", []byte("v"), core.Info{})
	checkList(t, l, name, backend.ListOptions{}, []string{"k"}, nil, false)
	wantErr(t, l.DeleteBucket(ctx, name), backend.ErrBucketNotEmpty)
	if err := l.HeadBucket(ctx, name); err != nil {
		t.Errorf("HeadBucket after refused DeleteBucket: %v", err)
	}
	if _, body := get(t, b, name, "k", backend.GetOptions{}); string(body) != "v" {
		t.Errorf("after refused DeleteBucket: body = %q", body)
	}

	if err := b.Delete(ctx, name, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := l.DeleteBucket(ctx, name); err != nil {
		t.Fatalf("DeleteBucket of an emptied bucket: %v", err)
	}
	wantErr(t, l.HeadBucket(ctx, name), core.ErrNotFound)
	_, err = l.List(ctx, name, backend.ListOptions{})
	wantErr(t, err, core.ErrNotFound)
	wantErr(t, l.DeleteBucket(ctx, name), core.ErrNotFound)
	buckets, err = l.Buckets(ctx)
	if err != nil {
		t.Fatalf("Buckets: %v", err)
	}
	if slices.ContainsFunc(buckets, func(bi backend.BucketInfo) bool { return bi.Name == name }) {
		t.Errorf("Buckets = %v after DeleteBucket, still with %s", buckets, name)
	}

	// The bucket can be made again.
	if err := l.CreateBucket(ctx, name); err != nil {
		t.Fatalf("CreateBucket after DeleteBucket: %v", err)
	}
	if err := l.DeleteBucket(ctx, name); err != nil {
		t.Fatalf("DeleteBucket of a new bucket: %v", err)
	}
}

func (s *suite) testBucketInvalidNames(t *testing.T) {
	_, l, _ := s.lister(t)
	ctx := t.Context()
	for _, name := range []string{"Bucket", "..", "a/b/c", "ab", ""} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			wantErr(t, l.CreateBucket(ctx, name), core.ErrInvalidBucket)
			wantErr(t, l.DeleteBucket(ctx, name), core.ErrInvalidBucket)
			wantErr(t, l.HeadBucket(ctx, name), core.ErrInvalidBucket)
			_, err := l.List(ctx, name, backend.ListOptions{})
			wantErr(t, err, core.ErrInvalidBucket)
		})
	}
}

// putKeys stores each key with the key as its body.
func putKeys(t *testing.T, b backend.Backend, bucket string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		put(t, b, bucket, k, []byte(k), core.Info{})
	}
}

func list(t *testing.T, l backend.Lister, bucket string, opts backend.ListOptions) *backend.ListPage {
	t.Helper()
	p, err := l.List(t.Context(), bucket, opts)
	if err != nil {
		t.Fatalf("List(%+v): %v", opts, err)
	}
	return p
}

// checkList lists opts and compares the page's keys, common prefixes and
// Truncated with the wanted ones.
func checkList(t *testing.T, l backend.Lister, bucket string, opts backend.ListOptions, objects, prefixes []string, truncated bool) {
	t.Helper()
	p := list(t, l, bucket, opts)
	var keys []string
	for _, o := range p.Objects {
		keys = append(keys, o.Key)
		if o.Bucket != bucket {
			t.Errorf("List(%+v): object %q has Bucket %q, want %q", opts, o.Key, o.Bucket, bucket)
		}
	}
	if !slices.Equal(keys, objects) {
		t.Errorf("List(%+v): objects = %q, want %q", opts, keys, objects)
	}
	if !slices.Equal(p.CommonPrefixes, prefixes) {
		t.Errorf("List(%+v): common prefixes = %q, want %q", opts, p.CommonPrefixes, prefixes)
	}
	if p.Truncated != truncated {
		t.Errorf("List(%+v): Truncated = %v, want %v", opts, p.Truncated, truncated)
	}
}
