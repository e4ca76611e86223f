package s3backend_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/backendtest"
	"github.com/objstore/objstore/internal/backend/s3backend"
	"github.com/objstore/objstore/internal/core"
)

const bucket = "test-bucket"

// gofakes3Caps are gofakes3's known deviations from S3, so the suite skips
// those assertions for it: it stores none of Cache-Control,
// Content-Language and Expires; an overwrite keeps the old version's
// metadata keys the new one does not set; HEAD gives a multipart object a
// plain MD5 where CompleteMultipartUpload gave "md5-N"; a listing page is
// truncated whenever any key follows it, even one that rolls up into the
// page's last common prefix; a folder marker one level below the prefix
// lists as an object. (It also ignores If-None-Match on GET, which
// s3backend makes up for; see TestNotModifiedStatus for the 304 path. It
// answers its owner's CreateBucket of an existing bucket with
// BucketAlreadyExists, which is backend.ErrBucketExists all the same.)
var gofakes3Caps = backendtest.Caps{
	UnstoredHeaders:         []string{"Cache-Control", "Content-Language", "Expires"},
	OverwriteMergesMetadata: true,
	MultipartETagDiffers:    true,
	ListTruncatedOverstated: true,
	ListMarkerKeysAsObjects: true,
}

// newFakeServer serves a fresh in-memory gofakes3 on loopback, wrapped in
// wrap when it is not nil, and returns its URL.
func newFakeServer(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := gofakes3.New(s3mem.New()).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newBackend returns a Backend on endpoint with static credentials, after
// edit (if any) has adjusted its config.
func newBackend(t testing.TB, endpoint string, edit func(*s3backend.Config)) *s3backend.Backend {
	t.Helper()
	cfg := s3backend.DefaultConfig()
	cfg.Endpoint = endpoint
	cfg.PathStyle = true
	cfg.AccessKeyID, cfg.SecretAccessKey = "test-key", "test-secret"
	if edit != nil {
		edit(&cfg)
	}
	b, err := s3backend.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// newFake returns a Backend on a fresh gofakes3 with an empty bucket.
// Parts are S3's minimum, so the suite's large object takes four.
func newFake(t *testing.T, wrap func(http.Handler) http.Handler) *s3backend.Backend {
	t.Helper()
	b := newBackend(t, newFakeServer(t, wrap), func(c *s3backend.Config) {
		c.MultipartThreshold = s3backend.MinPartSize
		c.PartSize = s3backend.MinPartSize
	})
	if err := b.EnsureBucket(t.Context(), bucket); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	return b
}

func TestSuite(t *testing.T) {
	backendtest.RunCaps(t, func(t *testing.T) (backend.Backend, string) {
		return newFake(t, nil), bucket
	}, gofakes3Caps)
}

// TestSuiteIgnoredRange runs the suite against a server that ignores
// Range, as some S3-compatible servers do, to cover the fallback that
// skips to the range on the client.
func TestSuiteIgnoredRange(t *testing.T) {
	dropRange := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Range")
			h.ServeHTTP(w, r)
		})
	}
	backendtest.RunCaps(t, func(t *testing.T) (backend.Backend, string) {
		return newFake(t, dropRange), bucket
	}, gofakes3Caps)
}

// TestNotModifiedStatus covers the path of a server that honours
// If-None-Match (gofakes3 does not): its 304 must become
// core.ErrNotModified.
func TestNotModifiedStatus(t *testing.T) {
	answer304 := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.Header.Get("If-None-Match") != "" {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	b := newFake(t, answer304)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{IfNoneMatch: "0123456789abcdef0123456789abcdef"})
	if !errors.Is(err, core.ErrNotModified) {
		t.Errorf("Get = %v, want core.ErrNotModified", err)
	}
}

// TestServerErrorIsBackendError: a 5xx (after the retries) is a
// *core.BackendError, not a missing object.
func TestServerErrorIsBackendError(t *testing.T) {
	var requests atomic.Int32
	fail := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			http.Error(w, "boom", http.StatusInternalServerError)
		})
	}
	b := newBackend(t, newFakeServer(t, fail), nil)
	_, err := b.Head(t.Context(), bucket, "k")
	var be *core.BackendError
	if !errors.As(err, &be) || errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Head = %v, want a *core.BackendError", err)
	}
	if be.Op != "head" {
		t.Errorf("Op = %q, want head", be.Op)
	}
	if got, want := int(requests.Load()), s3backend.DefaultConfig().MaxAttempts; got != want {
		t.Errorf("server saw %d requests, want %d (MaxAttempts)", got, want)
	}
}

// TestUnreachable: a closed port fails fast with a *core.BackendError.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()
	b := newBackend(t, endpoint, nil)

	start := time.Now()
	_, err = b.Get(t.Context(), bucket, "k", backend.GetOptions{})
	elapsed := time.Since(start)
	var be *core.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("Get = %v, want a *core.BackendError", err)
	}
	if errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get = %v, must not wrap core.ErrNotFound", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Get took %v, want a few seconds at most", elapsed)
	}
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{}); !errors.As(err, &be) {
		t.Errorf("Put = %v, want a *core.BackendError", err)
	}
}

func TestMissingBucketIsNotFound(t *testing.T) {
	b := newBackend(t, newFakeServer(t, nil), nil)
	obj, err := b.Get(t.Context(), "no-such-bucket", "k", backend.GetOptions{})
	if err == nil {
		obj.Body.Close()
	}
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get = %v, want core.ErrNotFound", err)
	}
	if _, err := b.Head(t.Context(), "no-such-bucket", "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Head = %v, want core.ErrNotFound", err)
	}
}

func TestEnsureBucketTwice(t *testing.T) {
	b := newBackend(t, newFakeServer(t, nil), nil)
	for range 2 {
		if err := b.EnsureBucket(t.Context(), "twice"); err != nil {
			t.Fatalf("EnsureBucket: %v", err)
		}
	}
	if _, err := b.Put(t.Context(), "twice", "k", strings.NewReader("v"), 1, core.Info{}); err != nil {
		t.Errorf("Put into the ensured bucket: %v", err)
	}
}

// TestReservedMetadata checks that Name and Level travel as user metadata
// and come back out of UserMeta, and that a caller cannot forge them.
func TestReservedMetadata(t *testing.T) {
	b := newFake(t, nil)
	_, err := b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{
		UserMeta: map[string]string{"objstore-level": "0", "Objstore-Name": "forged", "x": "y"},
		Name:     "naïve/name 100%.txt",
		Level:    core.LevelAll,
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.Head(t.Context(), bucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "naïve/name 100%.txt" || info.Level != core.LevelAll {
		t.Errorf("Name, Level = %q, %d; want %q, %d", info.Name, info.Level, "naïve/name 100%.txt", core.LevelAll)
	}
	if len(info.UserMeta) != 1 || info.UserMeta["x"] != "y" {
		t.Errorf("UserMeta = %v, want only x=y", info.UserMeta)
	}
}

// TestExpiresVerbatim: Expires is not a date in every client's hands; S3
// keeps what it is sent. gofakes3 drops Expires, so this checks the
// request the server receives.
func TestExpiresVerbatim(t *testing.T) {
	got := make(chan string, 8)
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/k") {
				got <- r.Header.Get("Expires")
			}
			h.ServeHTTP(w, r)
		})
	}
	b := newFake(t, record)
	_, err := b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{
		Header: map[string]string{"Expires": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "0" {
		t.Errorf("PutObject sent Expires %q, want %q", v, "0")
	}
}

// TestLargeFromPlainReader uploads through the buffering path of the
// multipart uploader (a body that is not an io.ReaderAt).
func TestLargeFromPlainReader(t *testing.T) {
	b := newFake(t, nil)
	data := strings.Repeat("0123456789abcdef", (12<<20)/16)
	body := struct{ io.ReadSeeker }{strings.NewReader(data)}
	etag, err := b.Put(t.Context(), bucket, "big", body, int64(len(data)), core.Info{})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !strings.HasSuffix(etag, "-3") {
		t.Errorf("ETag = %q, want a 3-part multipart ETag", etag)
	}
	obj, err := b.Get(t.Context(), bucket, "big", backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	got, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != data {
		t.Errorf("body differs: %d bytes, want %d", len(got), len(data))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*s3backend.Config)
	}{
		{"part size below minimum", func(c *s3backend.Config) { c.PartSize = 1 << 20 }},
		{"negative threshold", func(c *s3backend.Config) { c.MultipartThreshold = -1 }},
		{"negative attempts", func(c *s3backend.Config) { c.MaxAttempts = -1 }},
		{"endpoint not a URL", func(c *s3backend.Config) { c.Endpoint = "127.0.0.1:9000" }},
		{"half the credentials", func(c *s3backend.Config) { c.SecretAccessKey = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s3backend.DefaultConfig()
			cfg.AccessKeyID, cfg.SecretAccessKey = "k", "s"
			tt.edit(&cfg)
			if _, err := s3backend.New(t.Context(), cfg); !errors.Is(err, core.ErrInvalidArgument) {
				t.Errorf("New = %v, want core.ErrInvalidArgument", err)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, url  string
		bucket     string
		endpoint   string
		region     string
		pathStyle  bool
		wantErrArg bool
	}{
		{name: "full", url: "s3://my-bucket?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true",
			bucket: "my-bucket", endpoint: "http://127.0.0.1:9000", region: "eu-west-1", pathStyle: true},
		{name: "bare", url: "s3://my-bucket", bucket: "my-bucket", region: "us-east-1"},
		{name: "trailing slash", url: "s3://my-bucket/", bucket: "my-bucket", region: "us-east-1"},
		{name: "wrong scheme", url: "gs://my-bucket", wantErrArg: true},
		{name: "path", url: "s3://my-bucket/prefix", wantErrArg: true},
		{name: "unknown parameter", url: "s3://my-bucket?regoin=x", wantErrArg: true},
		{name: "bad bool", url: "s3://my-bucket?path_style=maybe", wantErrArg: true},
		{name: "bad endpoint", url: "s3://my-bucket?endpoint=ftp://x", wantErrArg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, bucket, err := s3backend.ParseURL(tt.url)
			if tt.wantErrArg {
				if !errors.Is(err, core.ErrInvalidArgument) {
					t.Errorf("ParseURL = %v, want core.ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if bucket != tt.bucket || cfg.Endpoint != tt.endpoint || cfg.Region != tt.region || cfg.PathStyle != tt.pathStyle {
				t.Errorf("got bucket %q, %+v", bucket, cfg)
			}
			if cfg.PartSize != s3backend.DefaultConfig().PartSize {
				t.Errorf("PartSize = %d, want the default", cfg.PartSize)
			}
		})
	}
	if _, _, err := s3backend.ParseURL("s3://Bad_Bucket"); !errors.Is(err, core.ErrInvalidBucket) {
		t.Errorf("bad bucket: %v, want core.ErrInvalidBucket", err)
	}
}
