package s3backend_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/s3backend"
	"github.com/objstore/objstore/internal/core"
)

// recorder keeps the requests a wrapped server received.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method string
	url    *url.URL
	body   string
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL, string(body)})
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})
}

// last returns the last request with method.
func (r *recorder) last(t *testing.T, method string) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.reqs) - 1; i >= 0; i-- {
		if r.reqs[i].method == method {
			return r.reqs[i]
		}
	}
	t.Fatalf("no %s request", method)
	return recorded{}
}

// TestListStartAfterSent checks what List sends as start-after: a
// StartAfter that is a common prefix of the listing is moved past every
// key under it.
func TestListStartAfterSent(t *testing.T) {
	var rec recorder
	b := newFake(t, rec.wrap)
	tests := []struct {
		name string
		opts backend.ListOptions
		want string
	}{
		{"common prefix", backend.ListOptions{Delimiter: "/", StartAfter: "a/"}, "a/\U0010FFFF"},
		{"deeper common prefix", backend.ListOptions{Prefix: "a/", Delimiter: "/", StartAfter: "a/b/"}, "a/b/\U0010FFFF"},
		{"long delimiter", backend.ListOptions{Delimiter: "--", StartAfter: "a--"}, "a--\U0010FFFF"},
		{"a key", backend.ListOptions{Delimiter: "/", StartAfter: "a/b"}, "a/b"},
		{"two levels", backend.ListOptions{Delimiter: "/", StartAfter: "a/b/"}, "a/b/"},
		{"the prefix", backend.ListOptions{Prefix: "a/", Delimiter: "/", StartAfter: "a/"}, "a/"},
		{"outside the prefix", backend.ListOptions{Prefix: "b/", Delimiter: "/", StartAfter: "a/"}, "a/"},
		{"no delimiter", backend.ListOptions{StartAfter: "a/"}, "a/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.List(t.Context(), bucket, tt.opts); err != nil {
				t.Fatal(err)
			}
			q := rec.last(t, http.MethodGet).url.Query()
			if got := q.Get("start-after"); got != tt.want {
				t.Errorf("start-after = %q, want %q", got, tt.want)
			}
			if got := q.Get("encoding-type"); got != "url" {
				t.Errorf("encoding-type = %q, want url", got)
			}
		})
	}
}

// cannedServer answers ListObjectsV2 and ListBuckets with fixed XML, as
// a server that URL-encodes keys and pages buckets would.
func cannedServer(t *testing.T) string {
	t.Helper()
	return newFakeServer(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			w.Header().Set("Content-Type", "application/xml")
			switch {
			case r.URL.Path == "/" && q.Get("continuation-token") == "":
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Buckets><Bucket><Name>b-two</Name><CreationDate>2024-01-02T03:04:05.000Z</CreationDate></Bucket></Buckets>
<ContinuationToken>page2</ContinuationToken></ListAllMyBucketsResult>`)
			case r.URL.Path == "/" && q.Get("continuation-token") == "page2":
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Buckets><Bucket><Name>a-one</Name><CreationDate>2023-01-02T03:04:05.000Z</CreationDate></Bucket></Buckets>
</ListAllMyBucketsResult>`)
			case r.URL.Path == "/"+bucket && q.Get("list-type") == "2":
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>test-bucket</Name><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><Delimiter>%2F</Delimiter>
<IsTruncated>true</IsTruncated><EncodingType>url</EncodingType>
<Contents><Key>a%2Bb+c%25</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>
<ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>%01dir%2F</Prefix></CommonPrefixes>
<CommonPrefixes><Prefix>skip%2F</Prefix></CommonPrefixes>
</ListBucketResult>`)
			default:
				t.Errorf("unexpected request %s %s", r.Method, r.URL)
				http.Error(w, "unexpected", http.StatusBadRequest)
			}
		})
	})
}

// TestListDecodesKeys: URL-encoded keys and prefixes come back decoded,
// and a common prefix equal to StartAfter is dropped.
func TestListDecodesKeys(t *testing.T) {
	b := newBackend(t, cannedServer(t), nil)
	p, err := b.List(t.Context(), bucket, backend.ListOptions{Delimiter: "/", StartAfter: "skip/", MaxKeys: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != 1 {
		t.Fatalf("objects = %+v, want one", p.Objects)
	}
	o := p.Objects[0]
	want := core.Info{
		Bucket: bucket, Key: "a+b c%", Size: 5, ETag: "0123456789abcdef0123456789abcdef",
		ModTime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Level: core.LevelBackend,
	}
	if o.Bucket != want.Bucket || o.Key != want.Key || o.Size != want.Size || o.ETag != want.ETag || !o.ModTime.Equal(want.ModTime) {
		t.Errorf("object = %+v, want %+v", o, want)
	}
	if want := []string{"\x01dir/"}; !slices.Equal(p.CommonPrefixes, want) {
		t.Errorf("common prefixes = %q, want %q", p.CommonPrefixes, want)
	}
	if !p.Truncated {
		t.Error("Truncated = false, want true")
	}
}

// TestBucketsPaged follows ListBuckets' continuation token and sorts.
func TestBucketsPaged(t *testing.T) {
	b := newBackend(t, cannedServer(t), nil)
	buckets, err := b.Buckets(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []backend.BucketInfo{
		{Name: "a-one", Created: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)},
		{Name: "b-two", Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	if !slices.EqualFunc(buckets, want, func(x, y backend.BucketInfo) bool {
		return x.Name == y.Name && x.Created.Equal(y.Created)
	}) {
		t.Errorf("Buckets = %v, want %v", buckets, want)
	}
}

// TestCreateBucketRegion: us-east-1 must not be named as a location
// constraint; any other region must be.
func TestCreateBucketRegion(t *testing.T) {
	for _, region := range []string{"us-east-1", "eu-west-3"} {
		t.Run(region, func(t *testing.T) {
			var rec recorder
			b := newBackend(t, newFakeServer(t, rec.wrap), func(c *s3backend.Config) { c.Region = region })
			if err := b.CreateBucket(t.Context(), "new-bucket"); err != nil {
				t.Fatal(err)
			}
			body := rec.last(t, http.MethodPut).body
			hasConstraint := strings.Contains(body, "<LocationConstraint>"+region+"</LocationConstraint>")
			if hasConstraint != (region != "us-east-1") {
				t.Errorf("CreateBucket body = %q", body)
			}
		})
	}
}

// TestForbiddenBucketIsBackendError: a bucket that exists but is not
// ours (403) is neither missing nor an answer to EnsureBucket.
func TestForbiddenBucketIsBackendError(t *testing.T) {
	forbid := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
		})
	}
	b := newBackend(t, newFakeServer(t, forbid), nil)
	var be *core.BackendError
	if err := b.HeadBucket(t.Context(), "theirs"); !errors.As(err, &be) || errors.Is(err, core.ErrNotFound) {
		t.Errorf("HeadBucket = %v, want a *core.BackendError", err)
	}
	if err := b.EnsureBucket(t.Context(), "theirs"); !errors.As(err, &be) {
		t.Errorf("EnsureBucket = %v, want a *core.BackendError", err)
	}
}
