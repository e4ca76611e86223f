package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

func TestAuth(t *testing.T) {
	a, _ := NewAuth("s3cret", "A")
	b, _ := NewAuth("s3cret", "B")
	other, _ := NewAuth("guess", "C")
	open, _ := NewAuth("", "D")
	req := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://x/peer/v1/object?bucket=b&key=k", nil)
		return r
	}
	r := req()
	a.Sign(r)
	if node, err := b.Verify(r); err != nil || node != "A" {
		t.Fatalf("same secret: %q %v", node, err)
	}
	cases := []struct {
		name string
		r    func() *http.Request
	}{
		{"other secret", func() *http.Request { r := req(); other.Sign(r); return r }},
		{"unsigned", func() *http.Request { r := req(); open.Sign(r); return r }},
		{"tampered query", func() *http.Request { r := req(); a.Sign(r); r.URL.RawQuery = "bucket=b&key=other"; return r }},
		{"tampered sender", func() *http.Request { r := req(); a.Sign(r); r.Header.Set(hdrNode, "Z"); return r }},
		{"old date", func() *http.Request {
			old := &Auth{node: "A", key: a.key, now: func() time.Time { return time.Now().Add(-MaxSkew - time.Minute) }}
			r := req()
			old.Sign(r)
			return r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.Verify(c.r()); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
	if _, err := open.Verify(req()); err != nil || !open.Open() || a.Open() {
		t.Fatalf("open cluster: %v", err)
	}
}

// fake is a hand-written Objects and Journal.
type fake struct {
	mu       sync.Mutex
	objs     map[string][]byte
	info     map[string]core.Info
	received []journal.Event
	from     string
	opts     OpenOptions
	uploaded []string
}

func (f *fake) OpenPeer(_ context.Context, bucket, key string, opts OpenOptions) (*Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = opts
	b, ok := f.objs[bucket+"/"+key]
	if !ok {
		return nil, core.ErrNotFound
	}
	return &Object{Info: f.info[bucket+"/"+key], Ver: journal.Version{Time: 42, Origin: "A"}, Body: bytes.NewReader(b), Close: func() {}}, nil
}

func (f *fake) StatPeer(_ context.Context, bucket, key string, hops int) (core.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = OpenOptions{Hops: hops}
	info, ok := f.info[bucket+"/"+key]
	if !ok {
		return core.Info{}, core.ErrNotFound
	}
	return info, nil
}

func (f *fake) StoreReplica(_ context.Context, o *Object) error {
	b, err := io.ReadAll(o.Body)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := o.Info.Bucket + "/" + o.Info.Key
	f.objs[k], f.info[k] = b, o.Info
	if o.Seq != 7 || !o.Dirty {
		return fmt.Errorf("replica seq %d dirty %v", o.Seq, o.Dirty)
	}
	return nil
}

func (f *fake) Receive(_ context.Context, from string, r *journal.StreamReader) error {
	for {
		var fr journal.Frame
		err := r.Next(&fr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if fr.Kind == journal.FrameEvent {
			f.mu.Lock()
			f.received, f.from = append(f.received, fr.Event), from
			f.mu.Unlock()
		}
	}
}

func (f *fake) Uploaded(_ context.Context, bucket, key string, ver journal.Version) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploaded = append(f.uploaded, bucket+"/"+key+"@"+ver.Origin)
	return nil
}

func (f *fake) LocalDirty(bucket, prefix string) []core.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Info
	for _, info := range f.info {
		if info.Bucket == bucket && strings.HasPrefix(info.Key, prefix) {
			out = append(out, info)
		}
	}
	return out
}

func (f *fake) Delta(_ context.Context, v journal.Vector, w io.Writer) error {
	sw := journal.NewStreamWriter(w, false)
	sw.Origin("A", v["A"])
	sw.Event(&journal.Event{Origin: "A", Seq: v["A"] + 1, Time: 9, Kind: journal.Delete, Bucket: "b", Key: "gone"})
	return sw.Close()
}

func TestClientServer(t *testing.T) {
	f := &fake{objs: map[string][]byte{}, info: map[string]core.Info{}}
	srvAuth, _ := NewAuth("s", "srv")
	ps := NewServer(f, f, srvAuth, nil)
	srv := httptest.NewServer(ps)
	defer srv.Close()
	defer ps.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cliAuth, _ := NewAuth("s", "cli")
	c := NewClient(ClientConfig{Auth: cliAuth})
	defer c.Close()
	ctx := context.Background()

	info := core.Info{Bucket: "b", Key: "a//b/../c", Size: 5, ETag: "e", ContentType: "text/plain", UserMeta: map[string]string{"k": "v"},
		ModTime: time.UnixMilli(1000).UTC(), Level: core.LevelBackend}
	if err := c.Replicate(ctx, addr, &Object{Info: info, Ver: journal.Version{Time: 42, Origin: "A"}, Seq: 7, Dirty: true, Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, addr, "b", "a//b/../c", OpenOptions{Fetch: true, Hops: 1})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(o.Body)
	o.Close()
	if err != nil || string(body) != "hello" || o.Info.ContentType != "text/plain" || o.Info.UserMeta["k"] != "v" || o.Ver.Origin != "A" || o.Ver.Time != 42 {
		t.Fatalf("open: %q %+v %v", body, o, err)
	}
	if !f.opts.Fetch || f.opts.Hops != 1 {
		t.Fatalf("options not passed: %+v", f.opts)
	}
	if _, err := c.Open(ctx, addr, "b", "missing", OpenOptions{}); !errors.Is(err, core.ErrNotFound) || IsUnreachable(err) {
		t.Fatalf("missing: %v", err)
	}

	var buf bytes.Buffer
	sw := journal.NewStreamWriter(&buf, false)
	sw.Origin("cli", 0)
	sw.Event(&journal.Event{Origin: "cli", Seq: 1, Time: 5, Kind: journal.Delete, Bucket: "b", Key: "x"})
	sw.Close()
	if err := c.Push(ctx, addr, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if len(f.received) != 1 || f.received[0].Key != "x" || f.from != "cli" {
		t.Fatalf("pushed: %+v from %q", f.received, f.from)
	}
	rc, err := c.Sync(ctx, addr, journal.Vector{"A": 3})
	if err != nil {
		t.Fatal(err)
	}
	sr, err := journal.NewStreamReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	var fr journal.Frame
	sr.Next(&fr)
	if sr.Next(&fr); fr.Kind != journal.FrameEvent || fr.Event.Seq != 4 || fr.Event.Key != "gone" {
		t.Fatalf("sync frame %+v", fr)
	}
	rc.Close()
	dirty, err := c.Dirty(ctx, addr, "b", "a/")
	if err != nil || len(dirty) != 1 || dirty[0].Key != "a//b/../c" || dirty[0].Bucket != "b" || dirty[0].Size != 5 || dirty[0].UserMeta["k"] != "v" ||
		!dirty[0].ModTime.Equal(info.ModTime) {
		t.Fatalf("dirty: %+v %v", dirty, err)
	}
	if dirty, err := c.Dirty(ctx, addr, "b", "z"); err != nil || len(dirty) != 0 {
		t.Fatalf("dirty under another prefix: %+v %v", dirty, err)
	}
	if err := c.Uploaded(ctx, addr, "b", "a//b/../c", journal.Version{Time: 42, Origin: "A"}); err != nil || len(f.uploaded) != 1 || f.uploaded[0] != "b/a//b/../c@A" {
		t.Fatalf("uploaded: %v %v", f.uploaded, err)
	}
	if got, err := c.Stat(ctx, addr, "b", "a//b/../c", 1); err != nil || got.Size != 5 || got.UserMeta["k"] != "v" || f.opts.Hops != 1 {
		t.Fatalf("stat: %+v %v (hops %d)", got, err, f.opts.Hops)
	}
	if _, err := c.Stat(ctx, addr, "b", "missing", 1); !errors.Is(err, core.ErrNotFound) || IsUnreachable(err) {
		t.Fatalf("stat of a missing key: %v", err)
	}

	// Without the secret nothing is served.
	badAuth, _ := NewAuth("wrong", "eve")
	bad := NewClient(ClientConfig{Auth: badAuth})
	defer bad.Close()
	var pe *Error
	if _, err := bad.Open(ctx, addr, "b", "a//b/../c", OpenOptions{}); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret read: %v", err)
	}
	if err := bad.Push(ctx, addr, buf.Bytes()); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret push: %v", err)
	}
	if _, err := bad.Sync(ctx, addr, journal.Vector{}); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret sync: %v", err)
	}
	if _, err := bad.Dirty(ctx, addr, "b", ""); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret dirty: %v", err)
	}
	if err := bad.Uploaded(ctx, addr, "b", "k", journal.Version{Time: 1, Origin: "A"}); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("wrong secret uploaded: %v", err)
	}
	if _, err := c.Open(ctx, "127.0.0.1:1", "b", "k", OpenOptions{}); !IsUnreachable(err) {
		t.Fatalf("refused connection: %v", err)
	}
}

// TestSlowPeerSkippedQuickly: a holder that does not answer within
// HeaderTimeout fails fast, while a fetch may wait longer.
func TestSlowPeerSkippedQuickly(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	auth, _ := NewAuth("", "cli")
	c := NewClient(ClientConfig{Auth: auth, HeaderTimeout: 50 * time.Millisecond, FetchTimeout: time.Hour})
	defer c.Close()
	start := time.Now()
	_, err := c.Open(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "b", "k", OpenOptions{})
	if !errors.Is(err, ErrTimeout) || !IsUnreachable(err) {
		t.Fatalf("slow holder: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}
