package s3backend_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// newStubServer answers every PUT with 200 and the body's MD5 as its ETag,
// and every GET with body, as an S3 server would, doing as little else as
// it can: the benchmarks below measure the client side.
func newStubServer(b *testing.B, body []byte) string {
	b.Helper()
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	size := strconv.Itoa(len(body))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			io.Copy(io.Discard, r.Body)
			w.Header()["Etag"] = []string{etag}
		case http.MethodGet:
			h := w.Header()
			h["Etag"] = []string{etag}
			h["Content-Length"] = []string{size}
			h["Content-Type"] = []string{"application/octet-stream"}
			h["Last-Modified"] = []string{"Mon, 02 Jan 2006 15:04:05 GMT"}
			w.Write(body)
		}
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkPut is one 4 KiB Put, the write-through path, without a real
// server's work.
func BenchmarkPut(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4096)
	be := newBackend(b, newStubServer(b, body), nil)
	info := core.Info{Bucket: bucket, Key: "k", ContentType: "application/octet-stream", Level: core.LevelBackend}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Put(b.Context(), bucket, "k", bytes.NewReader(body), int64(len(body)), info); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet is one 4 KiB Get read to the end, the miss path.
func BenchmarkGet(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4096)
	be := newBackend(b, newStubServer(b, body), nil)
	b.ReportAllocs()
	for b.Loop() {
		obj, err := be.Get(b.Context(), bucket, "k", backend.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, obj.Body)
		obj.Body.Close()
	}
}

// BenchmarkPutSDK is BenchmarkPut through the SDK's PutObject, which Put
// uses for large bodies only.
func BenchmarkPutSDK(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4096)
	be := newBackend(b, newStubServer(b, body), nil)
	info := core.Info{Bucket: bucket, Key: "k", ContentType: "application/octet-stream", Level: core.LevelBackend}
	b.ReportAllocs()
	for b.Loop() {
		if err := be.PutSDK(b.Context(), bucket, "k", bytes.NewReader(body), int64(len(body)), info); err != nil {
			b.Fatal(err)
		}
	}
}
