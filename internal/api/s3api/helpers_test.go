package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/objstore/objstore/internal/api/compat"
	"github.com/objstore/objstore/internal/api/cork"
	"github.com/objstore/objstore/internal/api/s3api"
	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// The credentials the test server knows, and the region clients sign for.
const (
	testAK     = "AKIAOBJSTORETEST"
	testSK     = "objstore/test/secret/key"
	testRegion = "us-east-1"
)

// testBucket exists in every test server's backend; compatBucket is the
// bucket /api/v1 objects live in, which exists too.
const (
	testBucket   = "test"
	compatBucket = "objstore"
)

// serverConfig is what options change in a test server.
type serverConfig struct {
	writeMode node.WriteMode
	plain     bool // serve plain HTTP too
	anonymous bool // s3api.Config.AllowAnonymous
}

// serverOption changes the configuration of newTestServer.
type serverOption func(*serverConfig)

// withWriteBack makes the node acknowledge PUTs before uploading them.
func withWriteBack() serverOption { return func(c *serverConfig) { c.writeMode = node.WriteBack } }

// withPlainHTTP serves plain HTTP next to HTTPS (testServer.plain).
func withPlainHTTP() serverOption { return func(c *serverConfig) { c.plain = true } }

// withAnonymous lets unsigned requests through.
func withAnonymous() serverOption { return func(c *serverConfig) { c.anonymous = true } }

// testServer is a real node on a temporary directory, with an fsbackend
// backend that a test can take down, behind the S3 API (and /api/v1 on
// bucket compatBucket) served over HTTPS and optionally plain HTTP.
type testServer struct {
	node    *node.Node
	backend *flakyBackend
	tls     *httptest.Server
	plain   *httptest.Server // nil unless withPlainHTTP
	client  *s3.Client       // aws-sdk-go-v2 over HTTPS, with the right credentials
	ids     *requestIDs
}

// clearAWSEnv keeps the machine's AWS configuration (AWS_CA_BUNDLE,
// profiles, checksum settings) out of every client the tests build. It
// unsets the variables once for the whole test binary instead of with
// t.Setenv, which parallel tests may not call.
var clearAWSEnv = sync.OnceFunc(func() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
})

// newTestServer starts a node and serves the S3 API, with a sigv4
// verifier knowing testAK, and /api/v1 the way cmd/objstore routes them.
// Everything is stopped when the test ends.
func newTestServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	clearAWSEnv()
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	fs, err := fsbackend.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range []string{testBucket, compatBucket} {
		if err := fs.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	be := &flakyBackend{Backend: fs}
	ncfg := node.DefaultConfig()
	ncfg.DataDir = t.TempDir()
	ncfg.Backend = be
	ncfg.Capacity = 1 << 30
	ncfg.WriteMode = cfg.writeMode
	ncfg.RetryMin, ncfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	n, err := node.Open(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: sigv4.StaticCredentials{testAK: testSK}})
	if err != nil {
		t.Fatal(err)
	}
	api := s3api.New(s3api.Config{
		Node: n, Buckets: be, Verifier: v, AllowAnonymous: cfg.anonymous, Region: testRegion,
	})
	v1 := compat.New(compat.Config{Node: n, Bucket: compatBucket})
	// As cmd/objstore routes: /api/v1/ to compat, everything else to S3.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/") {
			v1.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	s := &testServer{node: n, backend: be}
	s.tls = httptest.NewUnstartedServer(h)
	s.tls.Config.ConnContext = cork.ConnContext
	s.tls.StartTLS()
	t.Cleanup(s.tls.Close)
	if cfg.plain {
		s.plain = httptest.NewUnstartedServer(h)
		s.plain.Listener = cork.Listener(s.plain.Listener)
		s.plain.Config.ConnContext = cork.ConnContext
		s.plain.Start()
		t.Cleanup(s.plain.Close)
	}
	s.ids = &requestIDs{}
	t.Cleanup(func() { s.ids.check(t) })
	s.client = s.sdk(s.tls, testAK, testSK)
	return s
}

// httpClient returns a client of srv (trusting its certificate) whose
// responses are checked for x-amz-request-id.
func (s *testServer) httpClient(srv *httptest.Server) *http.Client {
	return &http.Client{Transport: s.ids.wrap(srv.Client().Transport)}
}

// sdk returns an aws-sdk-go-v2 client of srv, built by hand as an
// application would, with the SDK's default checksum settings: a CRC32
// on every upload (trailing, over HTTPS) and validation of the checksums
// a GET returns when asked.
func (s *testServer) sdk(srv *httptest.Server, ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       s.httpClient(srv),
		RetryMaxAttempts: 1,
	})
}

// minio returns a minio-go client of srv. Over plain HTTP minio-go signs
// every chunk of an upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD); wrap,
// when set, wraps its transport.
func (s *testServer) minio(t *testing.T, srv *httptest.Server, wrap func(http.RoundTripper) http.RoundTripper) *minio.Client {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var rt http.RoundTripper = s.ids.wrap(srv.Client().Transport)
	if wrap != nil {
		rt = wrap(rt)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        miniocreds.NewStaticV4(testAK, testSK, ""),
		Secure:       u.Scheme == "https",
		Transport:    rt,
		Region:       testRegion, // no GetBucketLocation first
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// put stores body under bucket/key through the API.
func (s *testServer) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// get reads bucket/key through the API.
func (s *testServer) get(t *testing.T, bucket, key string) ([]byte, error) {
	t.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// mustGet reads bucket/key through the API and fails the test if it
// cannot.
func (s *testServer) mustGet(t *testing.T, bucket, key string) []byte {
	t.Helper()
	b, err := s.get(t, bucket, key)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return b
}

// wantAbsent fails the test unless bucket/key is unknown to both the API
// (GetObject and HeadObject answer not found) and the backend.
func (s *testServer) wantAbsent(t *testing.T, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.get(t, bucket, key); apiCode(err) != "NoSuchKey" {
		t.Errorf("get %s/%q after a refused request: %v, want NoSuchKey", bucket, trunc(key), err)
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if httpStatus(err) != http.StatusNotFound {
		t.Errorf("head %s/%q after a refused request: %v, want 404", bucket, trunc(key), err)
	}
	if _, err := s.backend.Backend.Head(ctx, bucket, key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("backend head %s/%q after a refused request: %v, want not found", bucket, trunc(key), err)
	}
}

// keys lists every key of bucket under prefix through ListObjectsV2.
func (s *testServer) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// signed returns a request to srv signed in its Authorization header with
// testAK and secret, its body's SHA-256 as x-amz-content-sha256.
func signed(t *testing.T, srv *httptest.Server, method, path string, body []byte, secret string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	sign(t, r, hex.EncodeToString(sum[:]), secret, time.Now())
	return r
}

// sign signs r with testAK and secret at when, payload being its
// x-amz-content-sha256. The path is not encoded again, as S3 signs it.
func sign(t *testing.T, r *http.Request, payload, secret string, when time.Time) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payload)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: secret}
	if err := signer.SignHTTP(context.Background(), creds, r, payload, "s3", testRegion, when); err != nil {
		t.Fatal(err)
	}
}

// do sends r with the server's checking client and returns the status and
// body.
func (s *testServer) do(t *testing.T, srv *httptest.Server, r *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.httpClient(srv).Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.Method, r.URL, err)
	}
	return resp, b
}

// xmlCode returns the <Code> of an S3 XML error document.
func xmlCode(body []byte) string {
	_, rest, ok := bytes.Cut(body, []byte("<Code>"))
	if !ok {
		return ""
	}
	code, _, _ := bytes.Cut(rest, []byte("</Code>"))
	return string(code)
}

// apiCode returns the S3 error code of an SDK (or minio-go) error, or ""
// if it has none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var me minio.ErrorResponse
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

// httpStatus returns the HTTP status of an SDK error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantCode fails the test unless err carries the S3 error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := apiCode(err); got != want {
		t.Fatalf("error %v: code %q, want %q", err, got, want)
	}
}

// trunc shortens long keys in messages.
func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// eventually waits until cond holds, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}

// requestIDs checks that every response carries x-amz-request-id.
type requestIDs struct {
	mu      sync.Mutex
	missing []string
	seen    atomic.Int64
}

func (c *requestIDs) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil && !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			c.seen.Add(1)
			if resp.Header.Get("X-Amz-Request-Id") == "" {
				c.mu.Lock()
				c.missing = append(c.missing, fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, resp.Status))
				c.mu.Unlock()
			}
		}
		return resp, err
	})
}

func (c *requestIDs) check(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.missing {
		t.Errorf("response without x-amz-request-id: %s", m)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// flakyBackend is an fsbackend that a test can take down: then Put and
// Delete fail as an unreachable backend's do, while listings and reads
// still work (a backend that is up for reads, or a listing served from
// elsewhere), so that a listing shows what the backend holds.
type flakyBackend struct {
	*fsbackend.Backend
	down atomic.Bool
	puts atomic.Int64 // successful Puts
}

var (
	_ backend.Backend = (*flakyBackend)(nil)
	_ backend.Lister  = (*flakyBackend)(nil)
)

var errDown = errors.New("backend down (test)")

func (b *flakyBackend) Put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) (string, error) {
	if b.down.Load() {
		return "", &core.BackendError{Op: "put", Err: errDown}
	}
	etag, err := b.Backend.Put(ctx, bucket, key, body, size, info)
	if err == nil {
		b.puts.Add(1)
	}
	return etag, err
}

func (b *flakyBackend) Delete(ctx context.Context, bucket, key string) error {
	if b.down.Load() {
		return &core.BackendError{Op: "delete", Err: errDown}
	}
	return b.Backend.Delete(ctx, bucket, key)
}

// escapeKey encodes key for a request path as S3 clients do: every byte
// but the unreserved ones and "/" percent-encoded.
func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
