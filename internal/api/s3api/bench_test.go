package s3api_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/objstore/objstore/internal/api/compat"
	"github.com/objstore/objstore/internal/api/fastlane"
	"github.com/objstore/objstore/internal/api/s3api"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/metrics"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// The hit benchmarks read one cached 4 KiB object, as bench/run.sh does
// with wrk: BenchmarkS3GetHit with a presigned URL whose signature is
// verified on every request, BenchmarkV1GetHit through /api/v1. Both go
// through the public port's server from the request's bytes to the
// answer's; their difference is what the S3 API costs a hit.

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

// BenchmarkS3AnonymousGetHit reads the object through the S3 API without
// a signature, from a node that allows it: the S3 API's cost but SigV4's.
func BenchmarkS3AnonymousGetHit(b *testing.B) {
	benchGet(b, newBenchHandler(b, func(c *s3api.Config) { c.Verifier, c.AllowAnonymous = nil, true }),
		"http://127.0.0.1:10999/"+compatBucket+"/"+benchKey)
}

// newBenchHandler returns a node holding benchKey in compatBucket behind
// both APIs, each operation instrumented, routed as cmd/objstore routes
// them.
func newBenchHandler(b *testing.B, mod ...func(*s3api.Config)) http.Handler {
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
	cfg3 := s3api.Config{
		Node: n, Buckets: fs, Verifier: v, Region: testRegion,
		Wrap: func(op string, h http.Handler) http.Handler { return m.Instrument("s3", op, h) },
	}
	for _, f := range mod {
		f(&cfg3)
	}
	s3 := s3api.New(cfg3)
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

// benchGet serves a GET of url b.N times through the public port's
// server (fastlane) on one kept-alive connection, sent as wrk sends it (a
// Host header and no other): what a node does per hit but the system
// calls. It fails unless every answer is a 200 of the whole object.
func benchGet(b *testing.B, h http.Handler, rawURL string) {
	b.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	c := &benchConn{
		req:  []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n"),
		left: b.N,
		done: make(chan struct{}),
	}
	ln := &benchListener{c: c, closed: make(chan struct{})}
	lane := fastlane.New(&http.Server{Handler: h})
	b.ReportAllocs()
	b.ResetTimer()
	go lane.Serve(ln)
	<-c.done
	b.StopTimer()
	lane.Close()
	const size = 4096
	if c.ok != b.N || c.bytes < int64(b.N)*size {
		b.Fatalf("%d of %d answers were 200s, %d bytes in all; want every one, each with %d bytes", c.ok, b.N, c.bytes, size)
	}
}

// benchConn is a client connection that sends req left times, one request
// per Read, then EOF, and counts the answers that begin with a 200.
type benchConn struct {
	req   []byte
	left  int
	ok    int
	bytes int64
	done  chan struct{}
	once  sync.Once
}

func (c *benchConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		c.once.Do(func() { close(c.done) })
		return 0, io.EOF
	}
	c.left--
	return copy(p, c.req), nil
}

func (c *benchConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 200 OK\r\n")) {
		c.ok++
	}
	c.bytes += int64(len(p))
	return len(p), nil
}

func (c *benchConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *benchConn) LocalAddr() net.Addr              { return benchAddr{} }
func (c *benchConn) RemoteAddr() net.Addr             { return benchAddr{} }
func (c *benchConn) SetDeadline(time.Time) error      { return nil }
func (c *benchConn) SetReadDeadline(time.Time) error  { return nil }
func (c *benchConn) SetWriteDeadline(time.Time) error { return nil }

// benchListener accepts its one connection, then waits to be closed.
type benchListener struct {
	c        *benchConn
	accepted bool
	closed   chan struct{}
	once     sync.Once
}

func (l *benchListener) Accept() (net.Conn, error) {
	if !l.accepted {
		l.accepted = true
		return l.c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *benchListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *benchListener) Addr() net.Addr { return benchAddr{} }

type benchAddr struct{}

func (benchAddr) Network() string { return "tcp" }
func (benchAddr) String() string  { return "127.0.0.1:10999" }
