package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// A pipe is a stream that carries many reads at once: reads of small
// bodies (OpenOptions.Size up to smallBody) from one peer share it,
// their requests sent back to back without waiting for earlier answers,
// and the answers read in order by the pipe's own goroutine. Requests
// queued while one is being written leave together in the next write,
// and the holder writes the answers of requests that arrived together in
// one write too (see serveStream), so under load concurrent reads share
// system calls and wake-ups instead of paying for them one by one: on
// this path each write on loopback also carries the receiver's TCP work
// and the wake-up of its thread, about 20 µs of a 4 KiB peer hit's CPU on
// the reader (pprof, bench/cluster.sh) before pipes.
//
// Reads of large bodies, or of unknown size, keep a stream to themselves
// (see streamclient.go), so that a slow client of a large body holds up
// no one else. A body that turns out large on a pipe anyway (the object
// changed) is read through the pipe while its later answers wait.
//
// The requests' MACs are computed in the order they are written, which is
// the order the holder checks them in.
type pipe struct {
	c    *Client
	set  *pipeSet // its peer's (under Client.pipes.mu)
	sc   *streamConn
	load atomic.Int32 // calls waiting on it, or about to be sent on it

	mu      sync.Mutex
	out     []byte  // requests to write
	spare   []byte  // the buffer of the last write, for the next one
	writing bool    // a sender is writing out
	calls   []*call // requests sent or queued, awaiting their answers in order
	err     error   // the pipe is broken; no more calls
	reused  bool    // it has answered a call: a failure may mean it went stale
	inBody  bool    // a large body is being read off it
}

// call is one read on a pipe.
type call struct {
	bucket   string
	key      string
	ctx      context.Context // bounds a large body
	deadline time.Time       // for the answer's header
	done     chan struct{}   // closed once o or err is set
	o        *Object
	err      error
	answered bool // any byte of the answer arrived
	gone     bool // the caller left (under pipe.mu)
	// body, for a large body, is closed when its reader is done with the
	// stream.
	body chan struct{}
}

// pipes are a Client's pipes, per peer address.
type pipes struct {
	mu sync.Mutex
	m  map[string]*pipeSet
}

// A peer's reads share its first pipe until pipeDepth of them wait on
// it: then they go to the pipe with the fewest waiting, and another pipe
// is opened, up to maxPipes. So a holder stalled on one read (its disk)
// holds up few others, while a busy peer's reads still share writes.
const (
	pipeDepth = 16
	maxPipes  = 4
)

// pipeSet is a peer's pipes, and the dial of one in progress.
type pipeSet struct {
	pipes []*pipe
	dial  chan struct{} // closed when the dial in progress ends; nil if none
	err   error         // of the last dial
}

// errPipeClosed: the client was closed.
var errPipeClosed = errors.New("peer client closed")

// pipe returns a working pipe to addr, dialing one if needed; concurrent
// callers share one dial.
func (c *Client) pipe(ctx context.Context, addr string, deadline time.Time) (*pipe, error) {
	ps := &c.pipes
	for {
		ps.mu.Lock()
		if ps.m == nil {
			ps.mu.Unlock()
			return nil, errPipeClosed
		}
		s := ps.m[addr]
		if s == nil {
			s = &pipeSet{}
			ps.m[addr] = s
		}
		var best *pipe
		for _, p := range s.pipes {
			if best == nil || p.load.Load() < best.load.Load() {
				best = p
			}
		}
		if best != nil && (best.load.Load() < pipeDepth || len(s.pipes) >= maxPipes) {
			best.load.Add(1)
			ps.mu.Unlock()
			return best, nil
		}
		if s.dial != nil { // wait for it, rather than queue on a busy pipe
			dial := s.dial
			ps.mu.Unlock()
			select {
			case <-dial:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			ps.mu.Lock()
			err := s.err
			ps.mu.Unlock()
			if err != nil && best == nil {
				return nil, err
			}
			continue
		}
		dial := make(chan struct{})
		s.dial = dial
		ps.mu.Unlock()
		sc, err := c.dialStream(ctx, addr, deadline)
		var p *pipe
		ps.mu.Lock()
		s.dial, s.err = nil, err
		switch {
		case err != nil:
		case ps.m == nil:
			s.err = errPipeClosed
			sc.nc.Close()
		default:
			p = &pipe{c: c, set: s, sc: sc}
			s.pipes = append(s.pipes, p)
			go p.readLoop()
		}
		close(dial)
		err = s.err
		ps.mu.Unlock()
		if err != nil && best != nil {
			p = best // busy, but working
		}
		if p != nil {
			p.load.Add(1)
		}
		return p, err
	}
}

// drop forgets p.
func (ps *pipes) drop(p *pipe) {
	ps.mu.Lock()
	p.set.pipes = slices.DeleteFunc(p.set.pipes, func(q *pipe) bool { return q == p })
	ps.mu.Unlock()
}

// close breaks every pipe; no more can be made.
func (ps *pipes) close() {
	ps.mu.Lock()
	m := ps.m
	ps.m = nil
	ps.mu.Unlock()
	for _, s := range m {
		ps.mu.Lock()
		pipes := slices.Clone(s.pipes)
		ps.mu.Unlock()
		for _, p := range pipes {
			p.fail(errPipeClosed)
		}
	}
}

// openPipe is openStream over addr's pipe. A read that the pipe failed
// before any byte of its answer arrived (the server closed it meanwhile,
// or is a new process, or another read broke it) is sent again, once, on
// a new pipe, unless it timed out.
func (c *Client) openPipe(ctx context.Context, addr, bucket, key string) (*Object, error) {
	for retried := false; ; retried = true {
		deadline := time.Now().Add(c.header)
		p, err := c.pipe(ctx, addr, deadline)
		if err != nil {
			if errors.Is(err, errNoStreams) {
				c.streams.noStreams(addr)
				return nil, err
			}
			return nil, c.streamError(ctx, addr, err)
		}
		cl, reused, err := p.send(ctx, bucket, key, deadline)
		if err != nil {
			if errors.Is(err, core.ErrInvalidKey) {
				return nil, err
			}
			if reused && !retried && retryable(ctx, err) {
				continue
			}
			return nil, c.streamError(ctx, addr, err)
		}
		select {
		case <-cl.done:
		case <-ctx.Done():
			if p.leave(cl) {
				return nil, c.streamError(ctx, addr, ctx.Err())
			}
			// Answered meanwhile.
		}
		if cl.err != nil {
			if !cl.answered && !retried && retryable(ctx, cl.err) {
				continue
			}
			return nil, c.streamError(ctx, addr, cl.err)
		}
		return cl.o, nil
	}
}

// retryable reports whether a read that a pipe failed before any byte
// of its answer arrived may be sent again on a new pipe: unless the
// holder was too slow, or the caller or the client is done.
func retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !isTimeout(err) && !errors.Is(err, errPipeClosed)
}

// send queues a request for (bucket, key) and writes the queue unless
// another sender is writing it, in which case that one writes it next.
// reused says whether the pipe had answered before.
func (p *pipe) send(ctx context.Context, bucket, key string, deadline time.Time) (cl *call, reused bool, err error) {
	p.mu.Lock()
	if p.err != nil {
		defer p.mu.Unlock()
		return nil, p.reused, p.err
	}
	reused = p.reused
	if p.out, err = appendRequest(p.out, p.sc.mac, bucket, key); err != nil {
		p.load.Add(-1)
		p.mu.Unlock()
		return nil, reused, err
	}
	cl = &call{bucket: bucket, key: key, ctx: ctx, deadline: deadline, done: make(chan struct{})}
	if len(p.calls) == 0 && !p.inBody {
		p.sc.nc.SetReadDeadline(deadline) // the read loop's, idle till now
	}
	p.calls = append(p.calls, cl)
	if p.writing {
		p.mu.Unlock()
		return cl, reused, nil
	}
	p.writing = true
	p.mu.Unlock()
	// Let readers that are ready queue their requests too: with this,
	// 4 KiB peer hits ran at a median 0.62x local hits against 0.51x
	// without (alternating runs of both builds, wrk at 32 connections).
	runtime.Gosched()
	p.mu.Lock()
	for len(p.out) > 0 {
		buf := p.out
		p.out = p.spare[:0]
		p.mu.Unlock()
		_, err := p.sc.nc.Write(buf)
		p.mu.Lock()
		p.spare = buf[:0]
		if err != nil {
			p.writing = false
			p.mu.Unlock()
			p.fail(err) // fails cl too
			return cl, reused, nil
		}
	}
	p.writing = false
	p.mu.Unlock()
	return cl, reused, nil
}

// leave is a caller giving up on cl; false if cl was answered already.
func (p *pipe) leave(cl *call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-cl.done:
		return false
	default:
	}
	cl.gone = true
	return true
}

// fail breaks the pipe: every call waiting fails with err.
func (p *pipe) fail(err error) {
	p.c.pipes.drop(p) // first: no new call finds it
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = err
	calls := p.calls
	p.calls = nil
	p.load.Store(0)
	p.mu.Unlock()
	p.sc.nc.Close()
	for _, cl := range calls {
		cl.err = err
		close(cl.done)
	}
}

// readLoop reads the answers in order and hands each to its call, until
// the pipe breaks or idles for clientStreamIdle.
func (p *pipe) readLoop() {
	br := p.sc.br
	for {
		var hb [6]byte
		if n, err := io.ReadFull(br, hb[:]); err != nil {
			if n == 0 && isTimeout(err) && p.idle() {
				continue // a call came as the idle deadline passed
			}
			p.fail(err)
			return
		}
		p.mu.Lock()
		if len(p.calls) == 0 {
			p.mu.Unlock()
			p.fail(fmt.Errorf("%w: an answer to no request", errBadFrame))
			return
		}
		cl := p.calls[0]
		cl.answered = true
		p.mu.Unlock()
		if err := p.answer(cl, hb); err != nil {
			p.fail(err)
			return
		}
		if cl.body != nil {
			<-cl.body // the body's reader is done with the stream
			p.mu.Lock()
			p.inBody = false
			broken := p.err != nil
			if !broken {
				p.arm()
			}
			p.mu.Unlock()
			if broken {
				return
			}
		}
	}
}

// idle handles a read timeout: true if the read loop should go on
// because the first call's deadline has not passed (it came as the idle
// deadline passed); false if the pipe idled for clientStreamIdle, or its
// first call waited too long.
func (p *pipe) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) > 0 {
		return time.Now().Before(p.calls[0].deadline)
	}
	return false
}

// answer reads the answer of cl, the first call, and completes it. For a
// body larger than smallBody the call's reader reads it off the stream
// and closes cl.body when done.
func (p *pipe) answer(cl *call, hb [6]byte) error {
	br := p.sc.br
	st, n := int(binary.BigEndian.Uint16(hb[:])), binary.BigEndian.Uint32(hb[2:])
	if n > 1<<20 {
		return fmt.Errorf("%w: header of %d bytes", errBadFrame, n)
	}
	if cap(p.sc.in) < int(n) {
		p.sc.in = make([]byte, n)
	}
	rest := p.sc.in[:n]
	if _, err := io.ReadFull(br, rest); err != nil {
		return err
	}
	if st != http.StatusOK {
		err := &Error{Status: st, Msg: string(rest)}
		p.complete(cl, nil, err)
		if st == http.StatusUnauthorized {
			return err // the server closes the stream
		}
		return nil
	}
	info, ver, dirty, err := parseObjectHeader(rest)
	if err != nil {
		return err
	}
	info.Bucket, info.Key = cl.bucket, cl.key
	if info.Size > smallBody {
		cl.body = make(chan struct{})
		// The body is bounded by its reader's context.
		nc := p.sc.nc
		nc.SetReadDeadline(time.Time{})
		b := &pipeBody{p: p, cl: cl, br: br, left: info.Size}
		b.stop = context.AfterFunc(cl.ctx, func() { nc.SetReadDeadline(aLongTimeAgo) })
		if !p.complete(cl, &Object{Info: info, Ver: ver, Body: b, Close: b.close, Dirty: dirty}, nil) {
			// Its caller left: the stream cannot be used again.
			b.close()
		}
		return nil
	}
	m := &memBody{pool: bodyPool(info.Size)}
	m.bp = m.pool.Get().(*[]byte)
	m.b = (*m.bp)[:info.Size]
	if _, err := io.ReadFull(br, m.b); err != nil {
		m.close()
		return err
	}
	if !p.complete(cl, &Object{Info: info, Ver: ver, Body: m, Close: m.close, Dirty: dirty}, nil) {
		m.close()
	}
	return nil
}

// complete pops cl, the first call, hands it o or err and points the
// read deadline at the next call's, or at clientStreamIdle when none
// waits. It reports whether cl's caller is still there.
func (p *pipe) complete(cl *call, o *Object, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false // failed with the pipe meanwhile
	}
	k := copy(p.calls, p.calls[1:]) // a few calls: cheaper than a ring
	p.calls[k] = nil
	p.calls = p.calls[:k]
	p.load.Add(-1)
	p.reused = true
	if cl.body == nil {
		p.arm()
	} else {
		p.inBody = true
	}
	if cl.gone {
		return false
	}
	cl.o, cl.err = o, err
	close(cl.done)
	return true
}

// arm points the read deadline at the first call's, or at
// clientStreamIdle from now when none waits. p.mu is held.
func (p *pipe) arm() {
	if len(p.calls) > 0 {
		p.sc.nc.SetReadDeadline(p.calls[0].deadline)
		return
	}
	p.sc.nc.SetReadDeadline(time.Now().Add(clientStreamIdle))
}

// pipeBody is a large body read off a pipe by its caller.
type pipeBody struct {
	p    *pipe
	cl   *call
	stop func() bool
	br   interface{ Read([]byte) (int, error) }
	left int64
	err  error
	done bool
}

func (b *pipeBody) Read(q []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(q)) > b.left {
		q = q[:b.left]
	}
	n, err := b.br.Read(q)
	b.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
		return n, err
	}
	return n, nil
}

// close hands the stream back to the read loop, or breaks the pipe
// unless the body was read whole.
func (b *pipeBody) close() {
	if b.done {
		return
	}
	b.done = true
	if !b.stop() || b.left != 0 || b.err != nil {
		// Left unread, or its deadline spoilt by its context.
		b.p.fail(errBodyUnread)
	}
	close(b.cl.body)
}

// errBodyUnread breaks a pipe whose large body was not read whole.
var errBodyUnread = errors.New("peer pipe: a large body was left unread")

// memBody is a small body read off a pipe, in a pooled buffer until
// Close.
type memBody struct {
	b    []byte
	i    int
	bp   *[]byte
	pool *sync.Pool
}

// bodyPools hold the buffers of memBodies by size, 4 KiB to smallBody in
// steps of 4x: a body keeps its buffer as long as its reader (a slow
// client) takes, so a 4 KiB one should not hold 64 KiB.
var bodyPools [3]sync.Pool

func init() {
	for i := range bodyPools {
		n := 4 << 10 << (2 * i)
		bodyPools[i].New = func() any { b := make([]byte, n); return &b }
	}
}

// bodyPool returns the pool of buffers for a body of size bytes, at most
// smallBody.
func bodyPool(size int64) *sync.Pool {
	for i := range bodyPools[:len(bodyPools)-1] {
		if size <= 4<<10<<(2*i) {
			return &bodyPools[i]
		}
	}
	return &bodyPools[len(bodyPools)-1]
}

func (m *memBody) Read(q []byte) (int, error) {
	if m.i >= len(m.b) {
		return 0, io.EOF
	}
	n := copy(q, m.b[m.i:])
	m.i += n
	return n, nil
}

// WriteTo lets io.Copy skip its buffer.
func (m *memBody) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(m.b[m.i:])
	m.i += n
	return int64(n), err
}

// Bytes returns the whole body, valid until Close: a caller that wants
// it in memory needs no copy (see Object).
func (m *memBody) Bytes() []byte { return m.b }

func (m *memBody) close() {
	if m.bp != nil {
		m.pool.Put(m.bp)
		m.bp, m.b = nil, nil
	}
}
