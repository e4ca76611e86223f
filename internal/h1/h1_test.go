package h1_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/h1"
)

// server is an httptest server that counts the connections it accepted.
type server struct {
	*httptest.Server
	conns atomic.Int64
}

func newServer(t *testing.T, tlsOn bool, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if tlsOn {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, cfg h1.Config) *h1.Client {
	c := h1.New(cfg)
	t.Cleanup(c.CloseIdle)
	return c
}

func do(t *testing.T, c *h1.Client, method, url string, body []byte) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// echo answers with the request's method, path, header X-In and body,
// and, for a HEAD, headers only.
func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Out", r.Header.Get("X-In"))
	w.Header().Set("X-Length", r.Header.Get("Content-Length"))
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(b))
}

func TestRequestsShareOneConnection(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			s := newServer(t, tlsOn, echo)
			cfg := h1.Config{}
			if tlsOn {
				cfg.TLS = s.Client().Transport.(*http.Transport).TLSClientConfig
			}
			c := newClient(t, cfg)
			for i := range 5 {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, s.URL+"/a%20b/c?x=1", strings.NewReader("body"))
				req.Header.Set("X-In", "v")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if got, want := string(b), "PUT /a%20b/c?x=1 body"; got != want || resp.StatusCode != 200 || resp.Header.Get("X-Out") != "v" {
					t.Fatalf("request %d: %d %q %q, want 200 %q v", i, resp.StatusCode, b, resp.Header.Get("X-Out"), want)
				}
			}
			resp, _ := do(t, c, http.MethodHead, s.URL+"/h", nil)
			if resp.Header.Get("X-Length") != "" {
				t.Errorf("a HEAD sent Content-Length %q", resp.Header.Get("X-Length"))
			}
			if resp, _ := do(t, c, http.MethodPut, s.URL+"/empty", nil); resp.Header.Get("X-Length") != "0" {
				t.Errorf("an empty PUT sent Content-Length %q, want 0", resp.Header.Get("X-Length"))
			}
			if n := s.conns.Load(); n != 1 {
				t.Errorf("%d connections for sequential requests, want 1", n)
			}
		})
	}
}

// TestConnectionNotReused: a body closed before its end, an answer with
// Connection: close, or a chunked answer read to its end: each leaves
// the pool as it should, and the next request works.
func TestConnectionNotReused(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	s := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/chunked":
			w.Write([]byte("chunk1"))
			w.(http.Flusher).Flush()
			w.Write([]byte("chunk2"))
		}
	})
	c := newClient(t, h1.Config{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/big", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close() // early: the connection goes
	if _, b := do(t, c, http.MethodGet, s.URL+"/close", nil); b != "bye" {
		t.Fatalf("got %q", b)
	}
	if _, b := do(t, c, http.MethodGet, s.URL+"/chunked", nil); b != "chunk1chunk2" {
		t.Fatalf("got %q", b)
	}
	if _, b := do(t, c, http.MethodGet, s.URL+"/chunked", nil); b != "chunk1chunk2" {
		t.Fatalf("got %q", b)
	}
	// big (closed early), close (closed by the server), then one for both
	// chunked answers.
	if n := s.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestStalePooledConnection: the server closed an idle connection; a
// request that can be sent again is, on a new connection, and one whose
// body cannot fails.
func TestStalePooledConnection(t *testing.T) {
	s := newServer(t, false, echo)
	c := newClient(t, h1.Config{})
	do(t, c, http.MethodGet, s.URL+"/1", nil)
	s.CloseClientConnections()
	if _, b := do(t, c, http.MethodGet, s.URL+"/2", nil); b != "GET /2 " {
		t.Fatalf("got %q", b)
	}
	s.CloseClientConnections()
	if _, b := do(t, c, http.MethodPut, s.URL+"/3", []byte("again")); b != "PUT /3 again" { // NewRequest sets GetBody
		t.Fatalf("got %q", b)
	}
	s.CloseClientConnections()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, s.URL+"/4", nil)
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader("once")), 4
	if _, err := c.Do(req); err == nil {
		t.Fatal("a body that cannot be sent again was, or was not sent and no error")
	}
}

func TestCancelAndTimeouts(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	s := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("12345"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newClient(t, h1.Config{ResponseHeaderTimeout: 200 * time.Millisecond})

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/hang", nil)
	_, err := c.Do(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a server that never answers: %v, want a timeout", err)
	}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ = http.NewRequestWithContext(canceled, http.MethodGet, s.URL+"/hang", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled request: %v, want context.Canceled", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/body", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a canceled body read to its end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a canceled body read still blocks")
	}
	resp.Body.Close()
}

func TestBadRequestsAreNotSent(t *testing.T) {
	s := newServer(t, false, echo)
	c := newClient(t, h1.Config{})
	for name, req := range map[string]func() *http.Request{
		"newline in a value": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, s.URL+"/x", nil)
			r.Header["X-Meta"] = []string{"a\r\nX-Injected: 1"}
			return r
		},
		"bad header name": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, s.URL+"/x", nil)
			r.Header["Bad Name"] = []string{"v"}
			return r
		},
		"body of unknown length": func() *http.Request {
			r, _ := http.NewRequest(http.MethodPut, s.URL+"/x", io.NopCloser(strings.NewReader("b")))
			r.ContentLength = -1
			return r
		},
		"not http": func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "ftp://127.0.0.1/x", nil)
			return r
		},
	} {
		if _, err := c.Do(req()); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("%d connections opened for requests refused", n)
	}
}

func TestTLSServerMustBeTrusted(t *testing.T) {
	s := newServer(t, true, echo)
	c := newClient(t, h1.Config{TLS: &tls.Config{}})
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/x", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("a server with an unknown certificate was trusted")
	}
}
