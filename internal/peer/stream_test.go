package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// streamServer serves f with secret over HTTP and streams.
func streamServer(t *testing.T, f Objects, secret string) (*Server, string) {
	t.Helper()
	auth, _ := NewAuth(secret, "srv")
	ps := NewServer(f, nil, auth, nil)
	srv := httptest.NewServer(ps)
	t.Cleanup(func() { ps.Close() })
	t.Cleanup(srv.Close)
	return ps, strings.TrimPrefix(srv.URL, "http://")
}

func streamClient(t *testing.T, secret string, mut ...func(*ClientConfig)) *Client {
	t.Helper()
	auth, _ := NewAuth(secret, "cli")
	cfg := ClientConfig{Auth: auth}
	for _, m := range mut {
		m(&cfg)
	}
	c := NewClient(cfg)
	t.Cleanup(c.Close)
	return c
}

func (ps *Server) streamCount() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.streams)
}

func readAll(t *testing.T, c *Client, ctx context.Context, addr, key string) ([]byte, *Object) {
	t.Helper()
	o, err := c.Open(ctx, addr, "b", key, OpenOptions{})
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, o
}

func TestStreamReads(t *testing.T) {
	small := []byte("hello")
	large := bytes.Repeat([]byte("0123456789abcdef"), (3*smallBody)/16+1)
	f := &fake{objs: map[string][]byte{"b/small": small, "b/large": large, "b/empty": {}}, info: map[string]core.Info{
		"b/small": {Size: int64(len(small)), ETag: "e1", ContentType: "text/plain", UserMeta: map[string]string{"k": "v"}, ModTime: time.UnixMilli(1000).UTC(), Level: core.LevelBackend},
		"b/large": {Size: int64(len(large)), ETag: "e2"},
		"b/empty": {},
	}}
	ps, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		for _, k := range []string{"small", "large", "empty"} {
			got, o := readAll(t, c, ctx, addr, k)
			if !bytes.Equal(got, f.objs["b/"+k]) || o.Info.Key != k || o.Info.Bucket != "b" || o.Ver != (journal.Version{Time: 42, Origin: "A"}) {
				t.Fatalf("%s: %d bytes, %+v", k, len(got), o)
			}
		}
	}
	_, o := readAll(t, c, ctx, addr, "small")
	if in := o.Info; in.ContentType != "text/plain" || in.UserMeta["k"] != "v" || !in.ModTime.Equal(time.UnixMilli(1000)) || in.Level != core.LevelBackend || in.ETag != "e1" {
		t.Fatalf("info %+v", in)
	}
	if _, err := c.Open(ctx, addr, "b", "missing", OpenOptions{}); !errors.Is(err, core.ErrNotFound) || IsUnreachable(err) {
		t.Fatalf("missing: %v", err)
	}
	// Sequential reads share one stream, answers other than 200 included.
	if n := ps.streamCount(); n != 1 {
		t.Fatalf("%d streams for sequential reads", n)
	}
	// A body not read whole closes its stream, which the next read replaces.
	o, err := c.Open(ctx, addr, "b", "large", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(o.Body, make([]byte, 10))
	o.Close()
	if got, _ := readAll(t, c, ctx, addr, "large"); !bytes.Equal(got, large) {
		t.Fatal("read after a partial read")
	}
}

func TestStreamRefusesOtherSecret(t *testing.T) {
	f := &fake{objs: map[string][]byte{"b/k": []byte("secret data")}, info: map[string]core.Info{"b/k": {Size: 11}}}
	_, addr := streamServer(t, f, "s")
	ctx := context.Background()
	for _, secret := range []string{"wrong", ""} {
		c := streamClient(t, secret)
		var pe *Error
		if _, err := c.Open(ctx, addr, "b", "k", OpenOptions{}); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
			t.Fatalf("secret %q: %v", secret, err)
		}
	}

	// On a stream upgraded with the secret, a request whose MAC is wrong
	// or replayed is refused and the stream closed.
	for _, name := range []string{"bad MAC", "replayed"} {
		t.Run(name, func(t *testing.T) {
			c := streamClient(t, "s")
			sc, err := c.dialStream(ctx, addr, time.Now().Add(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer sc.nc.Close()
			req, _ := appendRequest(nil, sc.mac, "b", "k")
			if name == "bad MAC" {
				req[len(req)-1] ^= 1
			} else {
				sc.nc.Write(req)
				if st, body := rawAnswer(t, sc); st != http.StatusOK || !strings.HasSuffix(body, "secret data") {
					t.Fatalf("first request: %d %q", st, body)
				}
			}
			sc.nc.Write(req)
			if st, body := rawAnswer(t, sc); st != http.StatusUnauthorized || strings.Contains(body, "secret data") {
				t.Fatalf("answered %d %q", st, body)
			}
			if _, err := sc.br.ReadByte(); err != io.EOF {
				t.Fatalf("stream left open: %v", err)
			}
		})
	}

	// A server that cannot prove it knows the secret is not read from.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				http.ReadRequest(bufio.NewReader(conn))
				io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "+streamProto+"\r\nConnection: Upgrade\r\n"+
					hdrNonce+": "+hex.EncodeToString(make([]byte, nonceLen))+"\r\n"+hdrProof+": "+hex.EncodeToString(make([]byte, macLen))+"\r\n\r\n")
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	c := streamClient(t, "s")
	if _, err := c.Open(ctx, ln.Addr().String(), "b", "k", OpenOptions{}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("impostor server: %v", err)
	}
}

// rawAnswer reads one response off sc: its status and everything after
// the status (header and body).
func rawAnswer(t *testing.T, sc *streamConn) (int, string) {
	t.Helper()
	var hb [6]byte
	if _, err := io.ReadFull(sc.br, hb[:]); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	rest := make([]byte, binary.BigEndian.Uint32(hb[2:]))
	io.ReadFull(sc.br, rest)
	if st := binary.BigEndian.Uint16(hb[:]); st != http.StatusOK {
		return int(st), string(rest)
	}
	_, _, _, err := parseObjectHeader(rest)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 11)
	io.ReadFull(sc.br, body)
	return http.StatusOK, string(body)
}

// blocking is an Objects whose reads wait for release: before answering
// (slow) or after the header of a large body (stall).
type blocking struct {
	slow    bool
	release chan struct{}
	calls   atomic.Int32
}

func (b *blocking) OpenPeer(ctx context.Context, bucket, key string, opts OpenOptions) (*Object, error) {
	b.calls.Add(1)
	if b.slow {
		<-b.release
		return nil, core.ErrNotFound
	}
	return &Object{Info: core.Info{Size: 2 * smallBody}, Body: &stalled{b.release}, Close: func() {}}, nil
}

func (b *blocking) StoreReplica(context.Context, *Object) error                     { return nil }
func (b *blocking) Uploaded(context.Context, string, string, journal.Version) error { return nil }
func (b *blocking) LocalDirty(string, string) []core.Info                           { return nil }
func (b *blocking) StatPeer(context.Context, string, string, int) (core.Info, error) {
	return core.Info{}, core.ErrNotFound
}

type stalled struct{ release chan struct{} }

func (s *stalled) Read(p []byte) (int, error) {
	<-s.release
	return 0, io.ErrUnexpectedEOF
}

func TestStreamSlowHolderSkippedQuickly(t *testing.T) {
	b := &blocking{slow: true, release: make(chan struct{})}
	_, addr := streamServer(t, b, "s")
	defer close(b.release)
	c := streamClient(t, "s", func(cfg *ClientConfig) { cfg.HeaderTimeout = 100 * time.Millisecond })
	for i := 0; i < 2; i++ {
		start := time.Now()
		_, err := c.Open(context.Background(), addr, "b", "k", OpenOptions{})
		if !errors.Is(err, ErrTimeout) || !IsUnreachable(err) {
			t.Fatalf("slow holder: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("gave up after %v", d)
		}
	}
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("%d reads reached the holder, want 2 (a timed-out stream is not reused)", n)
	}

	// A dead holder: nothing listens.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if _, err := c.Open(context.Background(), dead, "b", "k", OpenOptions{}); !IsUnreachable(err) {
		t.Fatalf("dead holder: %v", err)
	}
}

func TestStreamCancelDuringBody(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	_, addr := streamServer(t, b, "s")
	defer close(b.release)
	c := streamClient(t, "s")
	ctx, cancel := context.WithCancel(context.Background())
	o, err := c.Open(ctx, addr, "b", "k", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(o.Body)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the read block
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("body complete")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("body read not aborted by its context")
	}
}

func TestStreamReplacedAfterServerClosedIt(t *testing.T) {
	f := &fake{objs: map[string][]byte{"b/k": []byte("v")}, info: map[string]core.Info{"b/k": {Size: 1}}}
	ps, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	ctx := context.Background()
	var open []*Object
	for i := 0; i < 3; i++ { // three idle streams
		o, err := c.Open(ctx, addr, "b", "k", OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(o.Body)
		open = append(open, o)
	}
	for _, o := range open {
		o.Close()
	}
	ps.mu.Lock()
	for conn := range ps.streams {
		conn.Close() // as after streamIdle
	}
	ps.mu.Unlock()
	if got, _ := readAll(t, c, context.Background(), addr, "k"); string(got) != "v" {
		t.Fatalf("got %q", got)
	}
	c.streams.mu.Lock()
	idle := len(c.streams.peers[addr].idle)
	c.streams.mu.Unlock()
	if idle != 1 {
		t.Fatalf("%d idle streams, want the new one alone (the others were closed by the server too)", idle)
	}
}

func TestStreamFallsBackToHTTP(t *testing.T) {
	f := &fake{objs: map[string][]byte{"b/k": []byte("over http")}, info: map[string]core.Info{"b/k": {Size: 9}}}
	auth, _ := NewAuth("s", "srv")
	ps := NewServer(f, nil, auth, nil)
	defer ps.Close()
	var streamAsks atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == streamPath { // a peer of a version without streams
			streamAsks.Add(1)
			http.NotFound(w, r)
			return
		}
		ps.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := streamClient(t, "s")
	addr := strings.TrimPrefix(srv.URL, "http://")
	for i := 0; i < 3; i++ {
		if got, _ := readAll(t, c, context.Background(), addr, "k"); string(got) != "over http" {
			t.Fatalf("got %q", got)
		}
	}
	if n := streamAsks.Load(); n != 1 {
		t.Fatalf("asked for a stream %d times", n)
	}
}
