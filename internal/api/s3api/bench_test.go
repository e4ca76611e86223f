package s3api_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/objstore/objstore/internal/api/compat"
	"github.com/objstore/objstore/internal/api/s3api"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/metrics"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// The hit benchmarks read one cached 4 KiB object, as bench/run.sh does
// with wrk: BenchmarkS3GetHit with a presigned URL whose signature is
// verified on every request, BenchmarkV1GetHit through /api/v1. Both parse
// the request from its bytes, as net/http's server does, and serialize the
// response headers; their difference is what the S3 API costs a hit.

const benchKey = "hit-4k"

func BenchmarkS3GetHit(b *testing.B) {
	h := newBenchHandler(b)
	c := s3.New(s3.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAK, testSK, ""),
		BaseEndpoint: aws.String("http://127.0.0.1:10999"),
		UsePathStyle: true,
	})
	req, err := s3.NewPresignClient(c).PresignGetObject(context.Background(),
		&s3.GetObjectInput{Bucket: aws.String(compatBucket), Key: aws.String(benchKey)},
		s3.WithPresignExpires(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	benchGet(b, h, req.URL)
}

func BenchmarkV1GetHit(b *testing.B) {
	benchGet(b, newBenchHandler(b), "http://127.0.0.1:10999/api/v1/get/"+benchKey)
}

// newBenchHandler returns a node holding benchKey in compatBucket behind
// both APIs, each operation instrumented, routed as cmd/objstore routes
// them.
func newBenchHandler(b *testing.B) http.Handler {
	b.Helper()
	fs, err := fsbackend.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := fs.CreateBucket(context.Background(), compatBucket); err != nil {
		b.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.DataDir, cfg.Backend, cfg.Capacity = b.TempDir(), fs, 1<<30
	n, err := node.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	body := bytes.Repeat([]byte("x"), 4096)
	info := core.Info{Bucket: compatBucket, Key: benchKey, Level: core.LevelBackend, ContentType: "application/octet-stream"}
	if _, err := n.Put(context.Background(), info, bytes.NewReader(body), int64(len(body))); err != nil {
		b.Fatal(err)
	}
	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: sigv4.StaticCredentials{testAK: testSK}})
	if err != nil {
		b.Fatal(err)
	}
	m := metrics.New(nil)
	s3 := s3api.New(s3api.Config{
		Node: n, Buckets: fs, Verifier: v, Region: testRegion,
		Wrap: func(op string, h http.Handler) http.Handler { return m.Instrument("s3", op, h) },
	})
	v1 := compat.New(compat.Config{
		Node: n, Bucket: compatBucket,
		Wrap: func(op string, h http.Handler) http.Handler { return m.Instrument("v1", op, h) },
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v1/") {
			v1.ServeHTTP(w, r)
			return
		}
		s3.ServeHTTP(w, r)
	})
}

// benchGet serves a GET of url b.N times, sent as wrk sends it (a Host
// header and no other), and fails unless each answer is a 200 with the
// whole object.
func benchGet(b *testing.B, h http.Handler, rawURL string) {
	b.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	raw := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(raw)
		br.Reset(src)
		r, err := http.ReadRequest(br)
		if err != nil {
			b.Fatal(err)
		}
		clear(w.header)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK || w.n != 4096 {
			b.Fatalf("status %d, %d bytes; want 200, 4096", w.status, w.n)
		}
	}
}

// discardWriter is a ResponseWriter that serializes the headers, as
// net/http does, and drops them with the body.
type discardWriter struct {
	header http.Header
	status int
	n      int
	buf    bytes.Buffer
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.buf.Reset()
	w.header.Write(&w.buf)
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}
