package peer

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// clientStreamIdle is how long a client keeps an idle stream: less than
// the server's streamIdle.
const clientStreamIdle = 90 * time.Second

// noStreamRetry is how long a client reads over HTTP from a peer that
// answered that it has no streams (an older version), before it asks
// again.
const noStreamRetry = time.Minute

// errNoStreams: the peer does not serve streams; read over HTTP.
var errNoStreams = errors.New("peer serves no streams")

// streams are a Client's idle streams, per peer address.
type streams struct {
	mu    sync.Mutex
	peers map[string]*streamPeer
}

type streamPeer struct {
	idle     []*streamConn // most recently used last
	noStream time.Time     // until then, read over HTTP
}

// streamConn is one stream, used by one read at a time.
type streamConn struct {
	nc   net.Conn
	br   *bufio.Reader
	mac  *streamMAC
	out  []byte // the request being sent
	in   []byte // the answer's header being read
	used time.Time
}

func (s *streams) peer(addr string) *streamPeer {
	p := s.peers[addr]
	if p == nil {
		if s.peers == nil {
			s.peers = map[string]*streamPeer{}
		}
		p = &streamPeer{}
		s.peers[addr] = p
	}
	return p
}

// get returns an idle stream to addr, or nil; errNoStreams if addr
// serves none.
func (s *streams) get(addr string, now time.Time) (*streamConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peer(addr)
	if now.Before(p.noStream) {
		return nil, errNoStreams
	}
	for len(p.idle) > 0 {
		sc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(sc.used) < clientStreamIdle {
			return sc, nil
		}
		sc.nc.Close()
	}
	return nil, nil
}

// put keeps sc for the next read, unless max streams to addr are idle.
func (s *streams) put(addr string, sc *streamConn, max int) {
	sc.used = time.Now()
	s.mu.Lock()
	p := s.peer(addr)
	if len(p.idle) < max {
		p.idle = append(p.idle, sc)
		sc = nil
	}
	s.mu.Unlock()
	if sc != nil {
		sc.nc.Close()
	}
}

// drop closes the idle streams to addr.
func (s *streams) drop(addr string) {
	s.mu.Lock()
	p := s.peer(addr)
	idle := p.idle
	p.idle = nil
	s.mu.Unlock()
	for _, sc := range idle {
		sc.nc.Close()
	}
}

func (s *streams) noStreams(addr string) {
	s.mu.Lock()
	s.peer(addr).noStream = time.Now().Add(noStreamRetry)
	s.mu.Unlock()
}

func (s *streams) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		for _, sc := range p.idle {
			sc.nc.Close()
		}
		p.idle = nil
	}
}

// dialStream opens a stream to addr: a connection, upgraded by a signed
// request, whose server proved it knows the cluster secret. The whole
// exchange must end by deadline.
func (c *Client) dialStream(ctx context.Context, addr string, deadline time.Time) (*streamConn, error) {
	nc, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc, err := c.upgrade(nc, addr, deadline)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return sc, nil
}

func (c *Client) upgrade(nc net.Conn, addr string, deadline time.Time) (*streamConn, error) {
	nc.SetDeadline(deadline)
	cn := make([]byte, nonceLen)
	rand.Read(cn)
	req := &http.Request{
		Method: http.MethodGet, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: addr,
		URL:    &url.URL{Scheme: "http", Host: addr, Path: streamPath, RawQuery: "nonce=" + hex.EncodeToString(cn)},
		Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {streamProto}},
	}
	c.auth.Sign(req)
	if err := req.Write(nc); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 16<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return nil, errNoStreams
		}
		return nil, &Error{Status: resp.StatusCode, Msg: string(msg)}
	}
	sn, err := hex.DecodeString(resp.Header.Get(hdrNonce))
	if err != nil || len(sn) != nonceLen {
		return nil, fmt.Errorf("%w: no server nonce", errBadFrame)
	}
	key := c.auth.streamKey(cn, sn, c.auth.node)
	if key != nil {
		proof, err := hex.DecodeString(resp.Header.Get(hdrProof))
		if err != nil || !hmac.Equal(proof, serverProof(key)) {
			return nil, fmt.Errorf("%w: the peer did not prove it knows the cluster secret", ErrUnauthenticated)
		}
	}
	// Reads set their own read deadlines; writes need none (see read).
	nc.SetWriteDeadline(time.Time{})
	return &streamConn{nc: nc, br: br, mac: newStreamMAC(key), out: make([]byte, 0, 256), in: make([]byte, 0, 256)}, nil
}

// aLongTimeAgo is a deadline in the past: it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// openStream reads (bucket, key) from addr over a stream: its header must
// arrive within c.header (the dial and upgrade of a new stream included),
// its body is then bounded by ctx only. A stream that was idle and fails
// before any answer (the server closed it meanwhile, or is a new process)
// is replaced by a new one, once, and the other idle streams to that peer
// are dropped.
func (c *Client) openStream(ctx context.Context, addr, bucket, key string) (*Object, error) {
	for retried := false; ; retried = true {
		start := time.Now()
		deadline := start.Add(c.header)
		var sc *streamConn
		var err error
		if !retried {
			if sc, err = c.streams.get(addr, start); err != nil {
				return nil, err
			}
		}
		reused := sc != nil
		if sc == nil {
			if sc, err = c.dialStream(ctx, addr, deadline); err != nil {
				if errors.Is(err, errNoStreams) {
					c.streams.noStreams(addr)
					return nil, err
				}
				return nil, c.streamError(ctx, addr, err)
			}
		}
		o, answered, err := c.read(ctx, sc, addr, bucket, key, deadline)
		if err != nil && reused && !answered && ctx.Err() == nil && isReset(err) {
			c.streams.drop(addr)
			continue
		}
		if err != nil {
			return nil, c.streamError(ctx, addr, err)
		}
		return o, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// streamError wraps err as Open's error: ErrTimeout for a deadline.
func (c *Client) streamError(ctx context.Context, addr string, err error) error {
	var pe *Error
	switch {
	case errors.As(err, &pe):
	case ctx.Err() != nil:
		err = ctx.Err()
	case isTimeout(err):
		return fmt.Errorf("peer read %s: %w after %v", addr, ErrTimeout, c.header)
	}
	return fmt.Errorf("peer read %s: %w", addr, err)
}

// read sends one request on sc and reads its header. answered says
// whether any byte of the answer arrived. On success the Object's Body
// owns sc; on error sc is closed or back in the pool.
func (c *Client) read(ctx context.Context, sc *streamConn, addr, bucket, key string, deadline time.Time) (o *Object, answered bool, err error) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { sc.nc.SetDeadline(aLongTimeAgo) })
	}
	keep := false
	defer func() {
		if err == nil {
			return
		}
		if stop != nil && !stop() {
			keep = false // the deadline is spoilt
		}
		if keep {
			c.streams.put(addr, sc, c.idle)
		} else {
			sc.nc.Close()
		}
	}()
	// A read deadline only: the request is small and the stream carries
	// one at a time, so its write finds room in the socket's buffer.
	// (Each deadline set costs a timer update: this path sets one.)
	sc.nc.SetReadDeadline(deadline)
	if sc.out, err = appendRequest(sc.out[:0], sc.mac, bucket, key); err != nil {
		keep = true
		return nil, false, err
	}
	if _, err := sc.nc.Write(sc.out); err != nil {
		return nil, false, err
	}
	var hb [6]byte
	if _, err := io.ReadFull(sc.br, hb[:]); err != nil {
		return nil, false, err
	}
	st, n := int(binary.BigEndian.Uint16(hb[:])), binary.BigEndian.Uint32(hb[2:])
	if n > 1<<20 {
		return nil, true, fmt.Errorf("%w: header of %d bytes", errBadFrame, n)
	}
	if cap(sc.in) < int(n) {
		sc.in = make([]byte, n)
	}
	rest := sc.in[:n]
	if _, err := io.ReadFull(sc.br, rest); err != nil {
		return nil, true, err
	}
	if st != http.StatusOK {
		keep = st != http.StatusUnauthorized
		return nil, true, &Error{Status: st, Msg: string(rest)}
	}
	info, ver, dirty, err := parseObjectHeader(rest)
	if err != nil {
		return nil, true, err
	}
	info.Bucket, info.Key = bucket, key
	if int64(sc.br.Buffered()) < info.Size {
		// The body is bounded by ctx only. (A body already buffered
		// needs no more reads, and the next request sets its own
		// deadline.)
		sc.nc.SetReadDeadline(time.Time{})
		if ctx.Err() != nil {
			// Cancelled while the deadline was cleared: AfterFunc
			// may have run before it.
			return nil, true, ctx.Err()
		}
	}
	b := &streamBody{c: c, sc: sc, addr: addr, left: info.Size, stop: stop}
	return &Object{Info: info, Ver: ver, Body: b, Close: b.close, Dirty: dirty}, true, nil
}

// streamBody reads a body off its stream, and gives the stream back to
// the pool once it was read whole.
type streamBody struct {
	c    *Client
	sc   *streamConn
	addr string
	left int64
	err  error
	stop func() bool
	done bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.sc.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = fmt.Errorf("peer read %s: %w", b.addr, err)
		return n, b.err
	}
	return n, nil
}

func (b *streamBody) close() {
	if b.done {
		return
	}
	b.done = true
	ok := b.left == 0 && b.err == nil
	if b.stop != nil && !b.stop() {
		ok = false
	}
	if ok {
		b.c.streams.put(b.addr, b.sc, b.c.idle)
	} else {
		b.sc.nc.Close()
	}
}

// isReset reports a connection the peer closed.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
