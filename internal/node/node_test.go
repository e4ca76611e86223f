package node

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
	"github.com/objstore/objstore/internal/journal"
)

func TestPutGetHitNeverTouchesBackend(t *testing.T) {
	tn := newTestNode(t)
	body := []byte("hello objstore")
	info := tn.put(t, "dir/hello.txt", body, func(i *core.Info) { i.UserMeta = map[string]string{"a": "b"}; i.Name = "hello.txt" })
	if info.ETag != "64dfc9b4a6a1ab8ba2b3ff6e09bb7fd6" && len(info.ETag) != 32 {
		t.Fatalf("etag %q", info.ETag)
	}
	if tn.be.puts.Load() != 1 {
		t.Fatalf("write-through made %d backend puts", tn.be.puts.Load())
	}
	got, obj, err := tn.read(t, "dir/hello.txt", GetOptions{})
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %q %v", got, err)
	}
	if obj.Source != FromLocal || obj.UserMeta["a"] != "b" || obj.Name != "hello.txt" || obj.ETag != info.ETag {
		t.Fatalf("object %+v", obj.Info)
	}
	if _, _, err := tn.Stat(context.Background(), bkt, "dir/hello.txt", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if g, h := tn.be.gets.Load(), tn.be.heads.Load(); g+h != 0 {
		t.Fatalf("hit asked the backend: %d gets %d heads", g, h)
	}
	// The backend really has it, with its metadata.
	bi, err := tn.be.Backend.Head(context.Background(), bkt, "dir/hello.txt")
	if err != nil || bi.ETag != info.ETag || bi.UserMeta["a"] != "b" {
		t.Fatalf("backend head: %+v %v", bi, err)
	}
}

func TestUnknownKeyWithoutReadThroughIsNotFound(t *testing.T) {
	tn := newTestNode(t)
	tn.be.Backend.Put(context.Background(), bkt, "k", bytes.NewReader([]byte("x")), 1, core.Info{})
	if _, _, err := tn.read(t, "k", GetOptions{}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
	if tn.be.gets.Load() != 0 {
		t.Fatal("asked the backend")
	}
	got, obj, err := tn.read(t, "k", GetOptions{ReadThrough: true})
	if err != nil || string(got) != "x" || obj.Source != FromBackend || obj.Level != core.LevelBackend {
		t.Fatalf("read-through: %q %+v %v", got, obj, err)
	}
	// Now cached: a hit.
	eventually(t, "cached", func() bool { o := tn.lookup(bkt, "k"); return o != nil && o.hasBody() })
	_, obj, _ = tn.read(t, "k", GetOptions{})
	if obj.Source != FromLocal || tn.be.gets.Load() != 1 {
		t.Fatalf("second read source %v, backend gets %d", obj.Source, tn.be.gets.Load())
	}
}

func TestConcurrentMissesShareOneBackendGet(t *testing.T) {
	tn := newTestNode(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tn.be.Backend.Put(context.Background(), bkt, "big", bytes.NewReader(body), int64(len(body)), core.Info{})
	release := tn.be.setGate()
	const readers = 50
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	started := make(chan struct{}, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj, err := tn.Get(context.Background(), bkt, "big", GetOptions{ReadThrough: true})
			started <- struct{}{}
			if err != nil {
				errs <- err
				return
			}
			defer obj.Close()
			got, err := io.ReadAll(obj.Content)
			if err != nil || !bytes.Equal(got, body) {
				errs <- fmt.Errorf("body of %d bytes, err %v", len(got), err)
			}
		}()
	}
	for i := 0; i < readers; i++ {
		<-started // every reader joined the fill while its body was held
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := tn.be.gets.Load(); g != 1 {
		t.Fatalf("%d backend GETs for %d concurrent misses", g, readers)
	}
	if c := tn.Stats().CoalescedMisses; c != readers-1 {
		t.Fatalf("coalesced %d", c)
	}
}

// TestStaleMissAfterFill: a miss that looked the key up before a fill of
// it committed, and reaches the fills once that fill has ended (a request
// preempted in between: real processes under load do it), must not start
// a second backend GET.
func TestStaleMissAfterFill(t *testing.T) {
	tn := newTestNode(t)
	body := []byte("filled once")
	tn.be.Backend.Put(context.Background(), bkt, "k", bytes.NewReader(body), int64(len(body)), core.Info{})
	if got, _, err := tn.read(t, "k", GetOptions{ReadThrough: true}); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read-through: %q %v", got, err)
	}
	eventually(t, "cached", func() bool { o := tn.lookup(bkt, "k"); return o != nil && o.hasBody() })
	// What get hands fetch when its lookup came before the commit: nil.
	obj, err := tn.fetch(context.Background(), bkt, "k", nil, fetchOpts{})
	if err == nil {
		obj.Close()
	}
	if g := tn.be.gets.Load(); g != 1 {
		t.Fatalf("%d backend GETs, want 1 (fetch with a stale lookup: %v)", g, err)
	}
	if !errors.Is(err, errKeyChanged) {
		t.Fatalf("fetch with a stale lookup: %v, want errKeyChanged (get then looks again)", err)
	}
}

// TestFillKeptAcrossNewsOfItsVersion: a fill keeps its copy when news of
// the same version of the key arrives from another node while the body
// is on its way (here another node's copy of the same backend object),
// rather than dropping it for the next read to fetch again.
func TestFillKeptAcrossNewsOfItsVersion(t *testing.T) {
	tn := newTestNode(t)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 256<<10)
	tn.be.Backend.Put(ctx, bkt, "k", bytes.NewReader(body), int64(len(body)), core.Info{})
	info, err := tn.be.Backend.Head(ctx, bkt, "k")
	if err != nil {
		t.Fatal(err)
	}
	fixFetched(&info, bkt, "k")
	release := tn.be.setGate()
	defer release()
	done := make(chan error, 1)
	go func() {
		got, _, err := tn.read(t, "k", GetOptions{ReadThrough: true})
		if err == nil && !bytes.Equal(got, body) {
			err = fmt.Errorf("read %d bytes", len(got))
		}
		done <- err
	}()
	eventually(t, "the fill under way", func() bool {
		tn.fillMu.Lock()
		defer tn.fillMu.Unlock()
		return len(tn.fills) == 1
	})
	other := &journal.Event{Origin: "01JOTHERNODE00000000000000", Seq: 1, Time: tn.clock.Now(), Kind: journal.Cache, Bucket: bkt, Key: "k", Info: info}
	if err := tn.applyRemote(ctx, []*journal.Event{other}, nil); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the copy kept and recorded", func() bool {
		o := tn.lookup(bkt, "k")
		v := o.e.View()
		return o.hasBody() && v.Holds(tn.ID()) && v.Holds(other.Origin)
	})
}

// TestUnrecordedPeerFillDurableWithNews: a copy of a version the journal
// knows, fetched from a peer and not recorded yet, is named by the entry
// that news of the same version commits (another node's Hold; for a copy
// of a write-back put, its origin's word that it is in the backend); so
// its body becomes durable with that commit: after a restart with nothing
// recorded in between, it reads back from local disk.
func TestUnrecordedPeerFillDurableWithNews(t *testing.T) {
	for _, tc := range []struct {
		news     string
		inMemory bool
	}{{"hold", false}, {"hold", true}, {"uploaded", false}, {"uploaded", true}} {
		inMemory := tc.inMemory
		t.Run(fmt.Sprintf("%s/memory=%v", tc.news, inMemory), func(t *testing.T) {
			tn := newTestNode(t)
			ctx := context.Background()
			body := []byte("another node's put, copied here")
			sum := md5.Sum(body)
			info := core.Info{Bucket: bkt, Key: "k", Size: int64(len(body)), ETag: hex.EncodeToString(sum[:]),
				ModTime: time.Now().UTC().Truncate(time.Second), Level: core.LevelBackend, ContentType: "text/plain"}
			put := &journal.Event{Origin: "01JPUTTINGNODE000000000000", Seq: 1, Time: tn.clock.Now(), Kind: journal.Put, Bucket: bkt, Key: "k", Info: info}
			if err := tn.applyRemote(ctx, []*journal.Event{put}, nil); err != nil {
				t.Fatal(err)
			}
			prev := tn.lookup(bkt, "k")
			if prev == nil || prev.hasBody() || prev.e.Ver != put.Version() {
				t.Fatalf("after the put's event: %+v", prev)
			}
			// What a fill of that version from a peer commits, before the
			// recorder makes its Hold event.
			gen := newGen()
			var unlogged []byte
			if inMemory {
				unlogged = slices.Clone(body)
				tn.unloggedMem.Add(int64(len(body)))
			} else {
				tmp, err := tn.store.NewTemp()
				if err != nil {
					t.Fatal(err)
				}
				defer tmp.Close()
				tmp.Write(body)
				if err := tmp.Place(bkt, "k", gen); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now().UTC()
			e := index.Entry{Info: prev.e.Info, Gen: gen, State: index.Clean, Atime: now, Validated: now}
			if tc.news == "uploaded" {
				e.State = index.Dirty // a copy of a write-back put not yet in the backend
			}
			v := prev.e.View()
			e.SetView(&v)
			tn.applyFill(prev, &e, journal.Hold, unlogged)

			switch tc.news {
			case "hold":
				hold := &journal.Event{Origin: "01JHOLDINGNODE000000000000", Seq: 1, Time: tn.clock.Now(), Kind: journal.Hold, Bucket: bkt, Key: "k", Ver: put.Version()}
				if err := tn.applyRemote(ctx, []*journal.Event{hold}, nil); err != nil {
					t.Fatal(err)
				}
			case "uploaded":
				if err := tn.Uploaded(ctx, bkt, "k", put.Version()); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := indexEntry(t, tn.Node, "k")
			if !ok || got.Gen != gen || got.State != index.Clean {
				t.Fatalf("after the news: entry %v (%+v); want the copy's generation %q", ok, got, gen)
			}
			if inMemory && (got.Pack.IsZero() || tn.db.Hold(got.Pack, got.Size) != nil) {
				t.Fatalf("after the news: the entry names a body only in memory (pack %+v)", got.Pack)
			}
			tn = tn.restart(t)
			b, obj, err := tn.read(t, "k", GetOptions{})
			if err != nil || string(b) != string(body) || obj.Source != FromLocal {
				t.Fatalf("after restart: %q from %v, %v; want %q from local disk", b, obj.Source, err, body)
			}
		})
	}
}

// TestUnrecordedFillKeptAcrossNewsOfItsVersion: a fill committed but not
// recorded yet (the recorder batches them) keeps its body when another
// node's copy of the same backend object is announced meanwhile, whether
// the body is a file or, small, still in memory only; recorded, it
// reads back after a restart.
func TestUnrecordedFillKeptAcrossNewsOfItsVersion(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("memory=%v", inMemory), func(t *testing.T) {
			tn := newTestNode(t)
			ctx := context.Background()
			body := []byte("one backend object")
			tn.be.Backend.Put(ctx, bkt, "k", bytes.NewReader(body), int64(len(body)), core.Info{})
			info, err := tn.be.Backend.Head(ctx, bkt, "k")
			if err != nil {
				t.Fatal(err)
			}
			fixFetched(&info, bkt, "k")
			// What a fill of a key the node did not know commits, before
			// the recorder makes its Cache event.
			gen := newGen()
			var unlogged []byte
			if inMemory {
				unlogged = slices.Clone(body)
				tn.unloggedMem.Add(int64(len(body)))
			} else {
				tmp, err := tn.store.NewTemp()
				if err != nil {
					t.Fatal(err)
				}
				defer tmp.Close()
				tmp.Write(body)
				if err := tmp.Place(bkt, "k", gen); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now().UTC()
			filled := tn.applyFill(nil, &index.Entry{Info: info, Gen: gen, State: index.Clean, Atime: now, Validated: now}, journal.Cache, unlogged)
			// Read meanwhile: its access time is saved, but no entry
			// naming a body only memory holds.
			filled.atime.Add(1)
			tn.flushAtimes(ctx)
			if e, ok := indexEntry(t, tn.Node, "k"); ok && inMemory {
				t.Fatalf("access times saved: an entry (pack %+v) for a body only in memory", e.Pack)
			}

			other := &journal.Event{Origin: "01JOTHERNODE00000000000000", Seq: 1, Time: tn.clock.Now(), Kind: journal.Cache, Bucket: bkt, Key: "k", Info: info}
			if err := tn.applyRemote(ctx, []*journal.Event{other}, nil); err != nil {
				t.Fatal(err)
			}
			// The index names the body now: a crash here must not lose
			// it, so a body in memory went into the log with the entry.
			e, ok := indexEntry(t, tn.Node, "k")
			if !ok || e.Gen != gen || e.State != index.Clean {
				t.Fatalf("after the news: entry %v (%+v)", ok, e)
			}
			if inMemory && (e.Pack.IsZero() || tn.db.Hold(e.Pack, e.Size) != nil) {
				t.Fatalf("after the news: the entry names a body only in memory (pack %+v)", e.Pack)
			}
			if o := tn.lookup(bkt, "k"); !o.hasBody() || o.e.Gen != gen {
				t.Fatalf("after another node's copy was announced: state %v, generation %q; want the filled body %q", o.e.State, o.e.Gen, gen)
			}
			tn.record(ctx, []*object{filled})
			o := tn.lookup(bkt, "k")
			if v := o.e.View(); !o.hasBody() || !v.Holds(tn.ID()) || !v.Holds(other.Origin) {
				t.Fatalf("recorded: state %v, holdings %+v; want both copies", o.e.State, v.Holdings)
			}
			if inMemory && (o.unlogged != nil || o.e.Pack.IsZero() || tn.unloggedMem.Load() != 0) {
				t.Fatalf("recorded: unlogged %v, pack %+v, unlogged bytes %d; want the body in the log", o.unlogged != nil, o.e.Pack, tn.unloggedMem.Load())
			}
			tn = tn.restart(t)
			got, obj, err := tn.read(t, "k", GetOptions{})
			if err != nil || string(got) != string(body) || obj.Source != FromLocal {
				t.Fatalf("after restart: %q from %v, %v; want %q from local disk", got, obj.Source, err, body)
			}
		})
	}
}

func TestClientHangupMidMissLeavesNothing(t *testing.T) {
	tn := newTestNode(t)
	body := bytes.Repeat([]byte("x"), 1<<20)
	tn.be.Backend.Put(context.Background(), bkt, "k", bytes.NewReader(body), int64(len(body)), core.Info{})
	release := tn.be.setGate()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	obj, err := tn.Get(ctx, bkt, "k", GetOptions{ReadThrough: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := obj.Content.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	obj.Close()
	eventually(t, "fill gone", func() bool {
		tn.fillMu.Lock()
		defer tn.fillMu.Unlock()
		return len(tn.fills) == 0
	})
	eventually(t, "temp removed", func() bool {
		return len(tempFiles(t, tn.Node)) == 0
	})
	if o := tn.lookup(bkt, "k"); o != nil {
		t.Fatalf("partial object recorded: %+v", o.e)
	}
}

func TestDeleteLeavesTombstone(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "k", []byte("v"))
	if err := tn.Delete(context.Background(), bkt, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.be.Backend.Head(context.Background(), bkt, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("backend still has it: %v", err)
	}
	gets := tn.be.gets.Load()
	for _, rt := range []bool{false, true} {
		if _, _, err := tn.read(t, "k", GetOptions{ReadThrough: rt}); !errors.Is(err, core.ErrDeleted) {
			t.Fatalf("read after delete: %v", err)
		}
	}
	if tn.be.gets.Load() != gets {
		t.Fatal("read of a deleted key asked the backend")
	}
	if err := tn.Delete(context.Background(), bkt, "never-was"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	// A put after the delete brings it back.
	tn.put(t, "k", []byte("again"))
	if got, _, err := tn.read(t, "k", GetOptions{}); err != nil || string(got) != "again" {
		t.Fatalf("%q %v", got, err)
	}
	// Tombstones survive restarts.
	tn.Delete(context.Background(), bkt, "k")
	tn = tn.restart(t)
	if _, _, err := tn.read(t, "k", GetOptions{ReadThrough: true}); !errors.Is(err, core.ErrDeleted) {
		t.Fatalf("after restart: %v", err)
	}
}

func TestBadInputStoresNothing(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "k", []byte("original"))
	cases := []struct {
		name string
		info core.Info
		body string
		size int64
		want error
	}{
		{"short body", core.Info{Key: "k"}, "abc", 10, core.ErrIncompleteBody},
		{"long body", core.Info{Key: "k"}, "abcdef", 3, core.ErrIncompleteBody},
		{"empty key", core.Info{Key: ""}, "a", 1, core.ErrInvalidKey},
		{"long key", core.Info{Key: strings.Repeat("k", 1025)}, "a", 1, core.ErrInvalidKey},
		{"bad utf8", core.Info{Key: "\xff"}, "a", 1, core.ErrInvalidKey},
		{"big meta", core.Info{Key: "k", UserMeta: map[string]string{"m": strings.Repeat("v", 2048)}}, "a", 1, core.ErrMetaTooLarge},
		{"bad level", core.Info{Key: "k", Level: 7}, "a", 1, core.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.info.Bucket = bkt
			_, err := tn.Put(context.Background(), c.info, strings.NewReader(c.body), c.size)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			got, _, err := tn.read(t, "k", GetOptions{})
			if err != nil || string(got) != "original" {
				t.Fatalf("stored object harmed: %q %v", got, err)
			}
		})
	}
	if left := tempFiles(t, tn.Node); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestWriteThroughBackendDown(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "cached", []byte("still here"))
	tn.be.down.Store(true)
	_, err := tn.Put(context.Background(), core.Info{Bucket: bkt, Key: "new", Level: core.LevelBackend}, strings.NewReader("x"), 1)
	var be *core.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("put with backend down: %v", err)
	}
	if tn.lookup(bkt, "new") != nil {
		t.Fatal("failed put recorded")
	}
	// Level 0 never needs the backend.
	tn.put(t, "local", []byte("l"), func(i *core.Info) { i.Level = core.LevelLocal })
	if got, _, err := tn.read(t, "cached", GetOptions{}); err != nil || string(got) != "still here" {
		t.Fatalf("cached read during outage: %q %v", got, err)
	}
	if _, _, err := tn.read(t, "missing", GetOptions{ReadThrough: true}); !errors.As(err, &be) {
		t.Fatalf("miss during outage: %v", err)
	}
}

func TestWriteBackQueueDrainsAfterOutage(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.WriteMode = WriteBack })
	tn.be.down.Store(true)
	for i := 0; i < 20; i++ {
		tn.put(t, fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)))
	}
	tn.put(t, "k0", []byte("v0-second")) // overwrite: only the last must land
	if err := tn.Delete(context.Background(), bkt, "k1"); err != nil {
		t.Fatal(err)
	}
	if got, obj, err := tn.read(t, "k3", GetOptions{}); err != nil || string(got) != "v3" || obj.Source != FromLocal {
		t.Fatalf("dirty read: %q %v", got, err)
	}
	// 22 items; the superseded first put of k0 and the put of deleted k1
	// may already be dropped, as they need no upload.
	if l := tn.Stats().UploadQueueLength; l < 20 || l > 22 {
		t.Fatalf("queue length %d, want 20 to 22", l)
	}
	eventually(t, "a failed upload retried", func() bool { return tn.Stats().UploadRetries > 0 })
	// The queue survives a restart.
	tn = tn.restart(t)
	tn.be.down.Store(false)
	eventually(t, "queue drained", func() bool { return tn.Stats().UploadQueueLength == 0 })
	ctx := context.Background()
	for i := 2; i < 20; i++ {
		obj, err := tn.be.Backend.Get(ctx, bkt, fmt.Sprint("k", i), backend.GetOptions{})
		if err != nil {
			t.Fatalf("k%d not uploaded: %v", i, err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != fmt.Sprint("v", i) {
			t.Fatalf("k%d = %q", i, b)
		}
	}
	obj, err := tn.be.Backend.Get(ctx, bkt, "k0", backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "v0-second" {
		t.Fatalf("k0 = %q", b)
	}
	if _, err := tn.be.Backend.Head(ctx, bkt, "k1"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted k1 in backend: %v", err)
	}
	if o := tn.lookup(bkt, "k2"); o.e.State != index.Clean {
		t.Fatalf("k2 state %v after upload", o.e.State)
	}
}

func TestRestartKeepsCacheWarm(t *testing.T) {
	tn := newTestNode(t)
	for i := 0; i < 10; i++ {
		tn.put(t, fmt.Sprint("k", i), []byte(fmt.Sprint("value ", i)))
	}
	tn = tn.restart(t)
	tn.be.down.Store(true)
	for i := 0; i < 10; i++ {
		got, obj, err := tn.read(t, fmt.Sprint("k", i), GetOptions{})
		if err != nil || string(got) != fmt.Sprint("value ", i) || obj.Source != FromLocal {
			t.Fatalf("k%d after restart: %q %v", i, got, err)
		}
	}
	if st := tn.Stats(); st.Objects != 10 || st.BytesCached != 70 {
		t.Fatalf("stats after restart: %+v", st)
	}
}

func TestReconcileFixesIndexAndFiles(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "kept", []byte("kept"))
	// Bodies larger than the log takes are files.
	big := bytes.Repeat([]byte("lost body "), logBody/10+1)
	tn.put(t, "lost", big)
	tn.put(t, "local", big, func(i *core.Info) { i.Level = core.LevelLocal })
	lost, local := tn.lookup(bkt, "lost").e, tn.lookup(bkt, "local").e
	if !lost.Pack.IsZero() || tn.lookup(bkt, "kept").e.Pack.IsZero() {
		t.Fatalf("a large body in the log, or a small one not: %+v %+v", lost.Pack, tn.lookup(bkt, "kept").e.Pack)
	}
	if err := tn.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(tn.store.Path(bkt, "lost", lost.Gen))
	os.Remove(tn.store.Path(bkt, "local", local.Gen))
	orphan := tn.store.Path(bkt, "orphan", "01ORPHAN")
	os.WriteFile(orphan, []byte("crashed before index commit"), 0o644)
	tn = startNode(t, tn.cfg)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan body not removed")
	}
	if o := tn.lookup(bkt, "lost"); o == nil || o.e.State != index.Evicted {
		t.Fatalf("clean entry without body: %+v", o)
	}
	// A level-0 body existed nowhere else: the node says it holds none,
	// and a read finds nothing.
	o := tn.lookup(bkt, "local")
	if o == nil || o.e.State != index.Evicted {
		t.Fatalf("level-0 entry without body: %+v", o)
	}
	if v := o.e.View(); v.Holds(tn.ID()) {
		t.Fatalf("the journal says the node holds a lost body: %+v", v)
	}
	if _, err := tn.Get(context.Background(), bkt, "local", GetOptions{}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("read of a lost level-0 object: %v", err)
	}
	// The lost clean body is fetched again from the backend.
	if got, obj, err := tn.read(t, "lost", GetOptions{}); err != nil || !bytes.Equal(got, big) || obj.Source != FromBackend {
		t.Fatalf("refetch: %d bytes, %v", len(got), err)
	}
	if st := tn.Stats(); st.Objects < 1 || st.BytesCached < 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEvictionKeepsUnderCapacity(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.Capacity = 10 << 10 })
	body := bytes.Repeat([]byte("e"), 1<<10)
	tn.put(t, "pinned", body, func(i *core.Info) { i.Level = core.LevelLocal })
	for i := 0; i < 30; i++ {
		tn.put(t, fmt.Sprint("k", i), body)
		if i == 0 {
			continue
		}
		// Keep k0 recently used.
		o := tn.lookup(bkt, "k0")
		o.atime.Store(o.atime.Load() + int64(1e12))
		if u := tn.Stats().BytesCached; u > 10<<10 {
			t.Fatalf("over capacity: %d", u)
		}
	}
	if o := tn.lookup(bkt, "k0"); !o.hasBody() {
		t.Fatal("most recently used object evicted")
	}
	if o := tn.lookup(bkt, "pinned"); !o.hasBody() {
		t.Fatal("level-0 object evicted")
	}
	if o := tn.lookup(bkt, "k1"); o.e.State != index.Evicted {
		t.Fatalf("least recently used k1 state %v", o.e.State)
	}
	if tn.Stats().Evictions == 0 {
		t.Fatal("no evictions counted")
	}
	// An evicted object is still known and read from the backend.
	if got, obj, err := tn.read(t, "k1", GetOptions{}); err != nil || !bytes.Equal(got, body) || obj.Source != FromBackend {
		t.Fatalf("evicted read: %v %v", obj, err)
	}
}

func TestFullOfUnevictableAnswersInsufficientStorage(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.Capacity = 4 << 10; c.WriteMode = WriteBack })
	tn.be.down.Store(true) // dirty objects stay dirty
	body := bytes.Repeat([]byte("d"), 1<<10)
	for i := 0; i < 4; i++ {
		tn.put(t, fmt.Sprint("k", i), body)
	}
	_, err := tn.Put(context.Background(), core.Info{Bucket: bkt, Key: "one-more", Level: core.LevelBackend}, bytes.NewReader(body), int64(len(body)))
	if !errors.Is(err, core.ErrInsufficientStorage) {
		t.Fatalf("got %v", err)
	}
	for i := 0; i < 4; i++ {
		if got, _, err := tn.read(t, fmt.Sprint("k", i), GetOptions{}); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("k%d harmed: %v", i, err)
		}
	}
	// Once uploaded they become evictable and writes succeed again.
	tn.be.down.Store(false)
	eventually(t, "uploads", func() bool { return tn.Stats().UploadQueueLength == 0 })
	tn.put(t, "one-more", body)
}

func TestRevalidation(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.RevalidateAfter = 1 })
	ctx := context.Background()
	tn.put(t, "k", []byte("v1"))
	// Unchanged: a conditional GET, served locally.
	got, obj, err := tn.read(t, "k", GetOptions{})
	if err != nil || string(got) != "v1" || obj.Source != FromLocal || tn.be.gets.Load() != 1 {
		t.Fatalf("unchanged: %q %v gets=%d", got, err, tn.be.gets.Load())
	}
	// Changed behind objstore's back: the new version is served and cached.
	tn.be.Backend.Put(ctx, bkt, "k", strings.NewReader("v2!"), 3, core.Info{})
	got, obj, err = tn.read(t, "k", GetOptions{})
	if err != nil || string(got) != "v2!" || obj.Source != FromBackend {
		t.Fatalf("changed: %q %v", got, err)
	}
	eventually(t, "new version cached", func() bool { return tn.lookup(bkt, "k").e.Size == 3 })
	// Backend down: the cached copy is served, marked stale.
	tn.be.down.Store(true)
	got, obj, err = tn.read(t, "k", GetOptions{})
	if err != nil || string(got) != "v2!" || !obj.Stale {
		t.Fatalf("stale-if-error: %q %+v %v", got, obj, err)
	}
	tn.be.down.Store(false)
	// Deleted behind objstore's back: forgotten.
	tn.be.Backend.Delete(ctx, bkt, "k")
	if _, _, err := tn.read(t, "k", GetOptions{}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted in backend: %v", err)
	}
}

func TestNoCacheForcesRevalidation(t *testing.T) {
	tn := newTestNode(t)
	tn.put(t, "k", []byte("v1"))
	tn.be.Backend.Put(context.Background(), bkt, "k", strings.NewReader("v2"), 2, core.Info{})
	if got, _, _ := tn.read(t, "k", GetOptions{}); string(got) != "v1" {
		t.Fatalf("without no-cache: %q", got)
	}
	if got, _, _ := tn.read(t, "k", GetOptions{Revalidate: true}); string(got) != "v2" {
		t.Fatalf("with no-cache: %q", got)
	}
}

func TestKeptOpenFilesFollowReplacements(t *testing.T) {
	tn := newTestNode(t)
	// A small body fetched from the backend while the memory for small
	// fills is spent is a file (one put, or another fill, is bytes of the
	// index's log, see TestSmallBodiesInLog).
	tn.be.Backend.Put(context.Background(), bkt, "small", strings.NewReader("v1"), 2, core.Info{})
	tn.unloggedMem.Add(unloggedBudget)
	if got, _, err := tn.read(t, "small", GetOptions{ReadThrough: true}); err != nil || string(got) != "v1" {
		t.Fatalf("read-through: %q %v", got, err)
	}
	tn.unloggedMem.Add(-unloggedBudget)
	for i := 0; i < 3; i++ {
		if got, _, err := tn.read(t, "small", GetOptions{}); err != nil || string(got) != "v1" {
			t.Fatalf("read %d: %q %v", i, got, err)
		}
	}
	if c := tn.files.count.Load(); c != 1 {
		t.Fatalf("%d kept-open files, want 1", c)
	}
	// A reader holding the old version keeps reading it after a replace.
	old, err := tn.Get(context.Background(), bkt, "small", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tn.put(t, "small", []byte("version two"))
	if c := tn.files.count.Load(); c != 0 {
		t.Fatalf("replaced object kept its fd: %d", c)
	}
	if b, err := io.ReadAll(old.Content); err != nil || string(b) != "v1" {
		t.Fatalf("old reader: %q %v", b, err)
	}
	old.Close()
	if got, _, _ := tn.read(t, "small", GetOptions{}); string(got) != "version two" {
		t.Fatalf("after replace: %q", got)
	}
	tn.files.sweep(true)
	if c := tn.files.count.Load(); c != 0 {
		t.Fatalf("sweep left %d", c)
	}
	if got, _, _ := tn.read(t, "small", GetOptions{}); string(got) != "version two" {
		t.Fatalf("after sweep: %q", got)
	}
}

func TestListingOverlay(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.WriteMode = WriteBack })
	tn.be.down.Store(true)
	tn.put(t, "p/b", []byte("b"))
	tn.put(t, "p/a", []byte("a"))
	tn.put(t, "q/c", []byte("c"))
	tn.Delete(context.Background(), bkt, "p/a")
	d := tn.Dirty(context.Background(), bkt, "p/")
	if len(d) != 1 || d[0].Key != "p/b" {
		t.Fatalf("dirty %+v", d)
	}
	if !tn.Deleted(bkt, "p/a") || tn.Deleted(bkt, "p/b") {
		t.Fatal("deleted flags wrong")
	}
	tn = tn.restart(t) // the dirty set is rebuilt at start
	if d := tn.Dirty(context.Background(), bkt, ""); len(d) != 2 {
		t.Fatalf("dirty after restart %+v", d)
	}
	tn.be.down.Store(false)
	eventually(t, "uploads", func() bool { return len(tn.Dirty(context.Background(), bkt, "")) == 0 })
}

// TestConcurrentHeadsOfUnknownKeyShareOne: HEADs of a key the node does not
// know, arriving while one is out to the backend, wait for its answer.
func TestConcurrentHeadsOfUnknownKeyShareOne(t *testing.T) {
	tn := newTestNode(t)
	body := []byte("in the bucket, not in the cache")
	if _, err := tn.be.Backend.Put(context.Background(), bkt, "elsewhere", bytes.NewReader(body), int64(len(body)), core.Info{Bucket: bkt, Key: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	tn.be.mu.Lock()
	tn.be.headGate = gate
	tn.be.mu.Unlock()
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, src, err := tn.Stat(context.Background(), bkt, "elsewhere", GetOptions{ReadThrough: true})
			if err != nil || info.Size != int64(len(body)) || src != FromBackend {
				errs <- fmt.Errorf("stat: %+v %v %v", info, src, err)
			}
		}()
	}
	eventually(t, "every caller waits for the one HEAD", func() bool {
		return goroutinesIn("(*Node).headUnknown(") == callers
	})
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if h := tn.be.heads.Load(); h != 1 {
		t.Fatalf("%d backend HEADs for %d concurrent HEADs of one key", h, callers)
	}
	if c := tn.Stats().CoalescedHeads; c != callers-1 {
		t.Fatalf("coalesced %d HEADs, want %d", c, callers-1)
	}
	// A caller that gives up stops waiting; the HEAD it shared goes on.
	held := make(chan struct{})
	defer close(held)
	tn.be.mu.Lock()
	tn.be.headGate = held
	tn.be.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := tn.Stat(ctx, bkt, "other", GetOptions{ReadThrough: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled HEAD: %v", err)
	}
}

// goroutinesIn counts the goroutines whose stack has a frame of fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// indexEntry returns the index's entry of key in bkt, if it has one.
func indexEntry(t *testing.T, n *Node, key string) (index.Entry, bool) {
	t.Helper()
	var got index.Entry
	found := false
	if err := n.db.Entries(func(e index.Entry) error {
		if e.Bucket == bkt && e.Key == key {
			got, found = e, true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got, found
}
