package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// pipeFake serves small objects k0…k(n-1), each of its own bytes, one
// large one, and holds reads of keys that start with "slow" until release
// is closed.
type pipeFake struct {
	fake
	release chan struct{}
	slow    chan string // the key of a slow read that arrived
}

func newPipeFake(n int) *pipeFake {
	f := &pipeFake{fake: fake{objs: map[string][]byte{}, info: map[string]core.Info{}}, release: make(chan struct{}), slow: make(chan string, 100)}
	for i := range n {
		b := bytes.Repeat([]byte{byte(i)}, 100+i*37)
		f.objs[fmt.Sprintf("b/k%d", i)] = b
		f.info[fmt.Sprintf("b/k%d", i)] = core.Info{Size: int64(len(b)), ETag: fmt.Sprint(i)}
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), (3*smallBody)/16+1)
	f.objs["b/large"], f.info["b/large"] = large, core.Info{Size: int64(len(large))}
	return f
}

func (f *pipeFake) OpenPeer(ctx context.Context, bucket, key string, opts OpenOptions) (*Object, error) {
	if strings.HasPrefix(key, "slow") {
		f.slow <- key
		select {
		case <-f.release:
		case <-ctx.Done():
		}
		return nil, core.ErrNotFound
	}
	return f.fake.OpenPeer(ctx, bucket, key, opts)
}

// pipeRead reads key over a pipe (the size hint of a small object).
func pipeRead(ctx context.Context, c *Client, addr, key string) ([]byte, *Object, error) {
	o, err := c.Open(ctx, addr, "b", key, OpenOptions{Size: 100})
	if err != nil {
		return nil, nil, err
	}
	defer o.Close()
	b, err := io.ReadAll(o.Body)
	return b, o, err
}

func TestPipeConcurrentReads(t *testing.T) {
	f := newPipeFake(20)
	ps, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := fmt.Sprintf("k%d", (g+i)%20)
				if i%10 == 9 {
					k = "missing"
				}
				got, o, err := pipeRead(ctx, c, addr, k)
				switch {
				case k == "missing":
					if !errors.Is(err, core.ErrNotFound) || IsUnreachable(err) {
						errs <- fmt.Errorf("missing: %v", err)
						return
					}
				case err != nil:
					errs <- fmt.Errorf("%s: %v", k, err)
					return
				case !bytes.Equal(got, f.objs["b/"+k]) || o.Info.Key != k || o.Info.ETag != f.info["b/"+k].ETag ||
					o.Ver != (journal.Version{Time: 42, Origin: "A"}):
					errs <- fmt.Errorf("%s: %d bytes, %+v", k, len(got), o.Info)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := ps.streamCount(); n < 1 || n > maxPipes {
		t.Fatalf("%d streams for reads of small objects, want 1 to %d pipes", n, maxPipes)
	}
}

// A holder stalled on one read holds up at most pipeDepth-1 others: the
// rest go over other pipes.
func TestPipeStalledReadHoldsUpFew(t *testing.T) {
	f := newPipeFake(1)
	_, addr := streamServer(t, f, "s")
	c := streamClient(t, "s", func(cfg *ClientConfig) { cfg.HeaderTimeout = time.Minute })
	var once sync.Once
	release := func() { once.Do(func() { close(f.release) }) }
	t.Cleanup(release) // before the server's cleanup, which waits for the read
	ctx := context.Background()
	slow := make(chan error, 1)
	go func() {
		_, _, err := pipeRead(ctx, c, addr, "slow")
		slow <- err
	}()
	const n = 3 * pipeDepth
	var done atomic.Int32
	errs := make(chan error, n)
	for range n {
		go func() {
			got, _, err := pipeRead(ctx, c, addr, "k0")
			if err == nil && !bytes.Equal(got, f.objs["b/k0"]) {
				err = errors.New("wrong bytes")
			}
			done.Add(1)
			errs <- err
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); done.Load() < n-pipeDepth+1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d reads done while one is stalled", done.Load(), n)
		}
	}
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-slow; !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("stalled read: %v", err)
	}
}

func TestPipeLargeAnswer(t *testing.T) {
	f := newPipeFake(2)
	ps, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	ctx := context.Background()
	// Expected small, large after all: read through the pipe, which goes on.
	for range 2 {
		got, _, err := pipeRead(ctx, c, addr, "large")
		if err != nil || !bytes.Equal(got, f.objs["b/large"]) {
			t.Fatalf("large: %d bytes, %v", len(got), err)
		}
		if got, _, err := pipeRead(ctx, c, addr, "k1"); err != nil || !bytes.Equal(got, f.objs["b/k1"]) {
			t.Fatalf("k1 after large: %v", err)
		}
	}
	if n := ps.streamCount(); n != 1 {
		t.Fatalf("%d streams", n)
	}
	// A large body closed half read breaks the pipe; the next read gets
	// a new one.
	o, err := c.Open(ctx, addr, "b", "large", OpenOptions{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(o.Body, make([]byte, 10))
	o.Close()
	if got, _, err := pipeRead(ctx, c, addr, "k0"); err != nil || !bytes.Equal(got, f.objs["b/k0"]) {
		t.Fatalf("k0 after a partial read: %v", err)
	}
}

func TestPipeSlowHolderAndCancel(t *testing.T) {
	f := newPipeFake(2)
	_, addr := streamServer(t, f, "s")
	defer close(f.release)
	c := streamClient(t, "s", func(cfg *ClientConfig) { cfg.HeaderTimeout = 200 * time.Millisecond })

	// A caller that leaves does not wait for its answer.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := pipeRead(ctx, c, addr, "slow")
		done <- err
	}()
	<-f.slow // the holder is stuck on it
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled read: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled read still waiting")
	}
	// Its pipe breaks once the answer is overdue.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.pipes.mu.Lock()
		n := len(c.pipes.m[addr].pipes)
		c.pipes.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a pipe with an overdue answer is still in use")
		}
	}

	// A holder that does not answer in time is given up quickly, with
	// the reads queued behind it.
	start := time.Now()
	var wg sync.WaitGroup
	for _, k := range []string{"slow2", "k0", "k1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := pipeRead(context.Background(), c, addr, k); !errors.Is(err, ErrTimeout) || !IsUnreachable(err) {
				t.Errorf("%s behind a slow read: %v", k, err)
			}
		}()
		if k == "slow2" {
			<-f.slow // the holder is stuck on it: k0 and k1 queue behind
		}
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestPipeReplacedAfterServerClosedIt(t *testing.T) {
	f := newPipeFake(1)
	ps, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	ctx := context.Background()
	if _, _, err := pipeRead(ctx, c, addr, "k0"); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	for conn := range ps.streams {
		conn.Close() // as after streamIdle, or a restart
	}
	ps.mu.Unlock()
	for range 3 {
		if got, _, err := pipeRead(ctx, c, addr, "k0"); err != nil || !bytes.Equal(got, f.objs["b/k0"]) {
			t.Fatalf("read after the server closed the pipe: %v", err)
		}
	}
	c.Close()
	if _, _, err := pipeRead(ctx, c, addr, "k0"); err == nil {
		t.Fatal("read on a closed client")
	}
}

func TestPipeOtherSecret(t *testing.T) {
	f := newPipeFake(1)
	_, addr := streamServer(t, f, "s")
	c := streamClient(t, "wrong")
	var pe *Error
	if _, _, err := pipeRead(context.Background(), c, addr, "k0"); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("other secret: %v", err)
	}
}

// The server answers requests sent back to back in order, whatever
// their answers: bodies it batches, errors, a large body between them.
func TestStreamPipelinedRequests(t *testing.T) {
	f := newPipeFake(3)
	_, addr := streamServer(t, f, "s")
	c := streamClient(t, "s")
	sc, err := c.dialStream(context.Background(), addr, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.nc.Close()
	keys := []string{"k0", "missing", "k1", "large", "k2", "k0"}
	var reqs []byte
	for _, k := range keys {
		reqs, _ = appendRequest(reqs, sc.mac, "b", k)
	}
	if _, err := sc.nc.Write(reqs); err != nil {
		t.Fatal(err)
	}
	sc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, k := range keys {
		var hb [6]byte
		if _, err := io.ReadFull(sc.br, hb[:]); err != nil {
			t.Fatalf("answer to %s: %v", k, err)
		}
		cl := &call{ctx: context.Background(), done: make(chan struct{})}
		p := &pipe{c: c, sc: sc, calls: []*call{cl}}
		if err := p.answer(cl, hb); err != nil {
			t.Fatalf("answer to %s: %v", k, err)
		}
		if k == "missing" {
			if !errors.Is(cl.err, core.ErrNotFound) {
				t.Fatalf("missing: %v", cl.err)
			}
			continue
		}
		got, err := io.ReadAll(cl.o.Body)
		cl.o.Close()
		if err != nil || !bytes.Equal(got, f.objs["b/"+k]) {
			t.Fatalf("%s: %d bytes, %v", k, len(got), err)
		}
	}
}

func TestBodyPool(t *testing.T) {
	if 4<<10<<(2*(len(bodyPools)-1)) != smallBody {
		t.Fatalf("the largest body pool does not hold smallBody")
	}
	for _, size := range []int64{0, 1, 4 << 10, 4<<10 + 1, 16 << 10, 16<<10 + 1, smallBody} {
		b := bodyPool(size).Get().(*[]byte)
		if int64(len(*b)) < size || len(*b) > 4*max(int(size), 4<<10) {
			t.Errorf("a body of %d bytes got a buffer of %d", size, len(*b))
		}
		bodyPool(size).Put(b)
	}
}
