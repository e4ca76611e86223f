package s3backend_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/s3backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/sigv4"
)

// TestDirectPath checks which requests take the direct path (see
// direct.go), by the User-Agent the server sees: small PUTs and GETs do,
// large PUTs, HEADs and the rest go through the SDK.
func TestDirectPath(t *testing.T) {
	var mu sync.Mutex
	agents := map[string]string{} // "METHOD key" → User-Agent
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			agents[r.Method+" "+r.URL.Path] = r.Header.Get("User-Agent")
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}
	b := newFake(t, record)
	ctx := t.Context()
	if _, err := b.Put(ctx, bucket, "small", strings.NewReader("v"), 1, core.Info{}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	if _, err := b.Put(ctx, bucket, "big", bytes.NewReader(big), int64(len(big)), core.Info{}); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Get(ctx, bucket, "small", backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, obj.Body)
	obj.Body.Close()
	if _, err := b.Head(ctx, bucket, "small"); err != nil {
		t.Fatal(err)
	}
	for req, direct := range map[string]bool{
		"PUT /" + bucket + "/small":  true,
		"GET /" + bucket + "/small":  true,
		"PUT /" + bucket + "/big":    false,
		"HEAD /" + bucket + "/small": false,
	} {
		mu.Lock()
		ua, ok := agents[req]
		mu.Unlock()
		if !ok {
			t.Errorf("%s: not sent", req)
			continue
		}
		if got := ua == "objstore"; got != direct {
			t.Errorf("%s: User-Agent %q, want direct=%v", req, ua, direct)
		}
	}
}

// TestDirectServerError: a 5xx on the direct path is retried as the SDK
// retries it, MaxAttempts tries in all, then is a *core.BackendError.
func TestDirectServerError(t *testing.T) {
	var requests atomic.Int32
	fail := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>slow down</Message></Error>`)
		})
	}
	b := newBackend(t, newFakeServer(t, fail), nil)
	attempts := s3backend.DefaultConfig().MaxAttempts
	var be *core.BackendError

	_, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{})
	if !errors.As(err, &be) || be.Op != "get" || errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get = %v, want a *core.BackendError of get", err)
	}
	if got := int(requests.Swap(0)); got != attempts {
		t.Errorf("Get: server saw %d requests, want %d (MaxAttempts)", got, attempts)
	}
	_, err = b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{})
	if !errors.As(err, &be) || be.Op != "put" {
		t.Errorf("Put = %v, want a *core.BackendError of put", err)
	}
	if got := int(requests.Swap(0)); got != attempts {
		t.Errorf("Put: server saw %d requests, want %d (MaxAttempts)", got, attempts)
	}
	if !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("Put = %v, want the server's error code in it", err)
	}
}

// TestDirectRetrySendsWholeBody: a PUT retried after a 500 sends its whole
// body again, and the object reads back intact.
func TestDirectRetrySendsWholeBody(t *testing.T) {
	var failed atomic.Bool
	failOnce := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/k") && !failed.Swap(true) {
				io.Copy(io.Discard, r.Body)
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	b := newFake(t, failOnce)
	data := strings.Repeat("0123456789", 1000)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader(data), int64(len(data)), core.Info{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !failed.Load() {
		t.Fatal("the first PUT did not fail")
	}
	obj, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	got, _ := io.ReadAll(obj.Body)
	if string(got) != data {
		t.Errorf("read back %d bytes, want the %d sent", len(got), len(data))
	}
}

// TestDirectSignatures checks the direct path's signatures as S3 does
// (gofakes3 checks none), with sigv4's verifier in front of the server:
// keys with characters that URI encoding treats specially, metadata, and
// the signed payload hash of a body sent over plain HTTP.
func TestDirectSignatures(t *testing.T) {
	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: sigv4.StaticCredentials{"test-key": "test-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, err := v.Verify(r)
			if err == nil && res.Anonymous {
				err = errors.New("unsigned request")
			}
			if err == nil {
				var body []byte
				body, err = io.ReadAll(res.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			if err != nil {
				t.Errorf("%s %s: %v", r.Method, r.URL.EscapedPath(), err)
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	b := newFake(t, verify)
	for _, key := range []string{"plain", "a b/c+d!e'(f)*~.txt", "naïve/ü=1&x;y", "dir//double", "100%/%41", "-_.~$@:,"} {
		data := "body of " + key
		info := core.Info{UserMeta: map[string]string{"k": "v w"}, ContentType: "text/plain"}
		if _, err := b.Put(t.Context(), bucket, key, strings.NewReader(data), int64(len(data)), info); err != nil {
			t.Errorf("Put %q: %v", key, err)
			continue
		}
		obj, err := b.Get(t.Context(), bucket, key, backend.GetOptions{Range: &backend.Range{Offset: 1, Length: -1}})
		if err != nil {
			t.Errorf("Get %q: %v", key, err)
			continue
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(got) != data[1:] {
			t.Errorf("Get %q = %q, want %q", key, got, data[1:])
		}
	}
}

// TestDirectThroughProxy: with a proxy configured for the endpoint, the
// direct path's small GETs and PUTs are sent by the SDK's client, which
// speaks to the proxy, not by h1, which does not.
func TestDirectThroughProxy(t *testing.T) {
	var bypassed, direct atomic.Int32
	endpoint := newFakeServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Via") != "1.1 test-proxy" {
				bypassed.Add(1)
			}
			if r.Header.Get("User-Agent") == "objstore" {
				direct.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.Path)
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Set("Via", "1.1 test-proxy")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	b := newBackend(t, endpoint, func(c *s3backend.Config) { s3backend.WithProxy(c, pu) })
	ctx := t.Context()
	if err := b.EnsureBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, bucket, "k", strings.NewReader("through the proxy"), 17, core.Info{}); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Get(ctx, bucket, "k", backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(got) != "through the proxy" {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"PUT /" + bucket + "/k", "GET /" + bucket + "/k"}
	for _, w := range want {
		if !slices.Contains(proxied, w) {
			t.Errorf("%s did not go through the proxy (it saw %q)", w, proxied)
		}
	}
	if n := bypassed.Load(); n != 0 {
		t.Errorf("%d requests bypassed the proxy", n)
	}
	if n := direct.Load(); n != 2 {
		t.Errorf("%d requests of the direct path (signed by its signer), want the PUT and the GET", n)
	}
}
