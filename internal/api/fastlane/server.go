package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/objstore/objstore/internal/h1"
)

// bufSize is the read buffer of a connection: the largest request head
// the lane serves.
const bufSize = 4 << 10

// Server runs the lane in front of an http.Server.
type Server struct {
	// Wrap, if set, wraps the listener whose connections the http.Server
	// serves (with cork.Listener, say), before Serve.
	Wrap func(net.Listener) net.Listener

	http    *http.Server
	handoff *listener // connections for http

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	closing  atomic.Bool
	shutdown chan struct{} // closed by Shutdown and Close
	stopOnce sync.Once
	served   chan error // http.Serve's result

	accepted, handedOff atomic.Uint64
}

// Stats are counts of the lane's connections since it started.
type Stats struct {
	Accepted  uint64 // connections accepted
	HandedOff uint64 // of them, handed to the http.Server
}

// Stats returns the lane's counts; safe for concurrent use.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), HandedOff: s.handedOff.Load()}
}

// New returns a lane that calls srv.Handler itself and hands srv the
// connections it does not serve. The lane applies srv's IdleTimeout (or
// ReadTimeout), ReadHeaderTimeout, WriteTimeout, BaseContext and ErrorLog
// to its own connections; ConnContext and ConnState apply only to those
// srv serves.
func New(srv *http.Server) *Server {
	return &Server{http: srv, conns: map[*conn]struct{}{}, shutdown: make(chan struct{}), served: make(chan error, 1)}
}

// Serve accepts connections on ln until Shutdown or Close, when it
// returns http.ErrServerClosed; it closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.ln != nil {
		s.mu.Unlock()
		return errors.New("fastlane: Serve called twice")
	}
	s.ln = ln
	s.handoff = newListener(ln.Addr())
	s.mu.Unlock()
	defer ln.Close()
	var hl net.Listener = s.handoff
	if s.Wrap != nil {
		hl = s.Wrap(hl)
	}
	go func() { s.served <- s.http.Serve(hl) }()
	select {
	case <-s.shutdown:
		return http.ErrServerClosed
	default:
	}

	base := context.Background()
	if s.http.BaseContext != nil {
		base = s.http.BaseContext(ln)
	}
	base = context.WithValue(base, http.ServerContextKey, s.http)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var t interface{ Temporary() bool }
			if errors.As(err, &t) && t.Temporary() {
				// Out of file descriptors and the like: wait and retry,
				// as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("fastlane: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		s.accepted.Add(1)
		c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(nc, bufSize), remote: nc.RemoteAddr().String()}
		c.ctx = context.WithValue(base, http.LocalAddrContextKey, nc.LocalAddr())
		if !s.track(c) {
			nc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, waits for the
// requests in flight to finish (their connections close after them), then
// shuts the http.Server down. It returns ctx's error if ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for wait := time.Millisecond; ; {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if wait < 100*time.Millisecond {
			wait *= 2
			tick.Reset(wait)
		}
	}
	return s.shutdownHTTP(ctx)
}

// Close closes the listener and every connection at once, then closes
// the http.Server.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	err := s.http.Close()
	s.waitServed(context.Background())
	return err
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closing.Store(true)
		close(s.shutdown)
		ln := s.ln
		s.mu.Unlock()
		if ln != nil {
			ln.Close()
		}
	})
}

func (s *Server) shutdownHTTP(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err2 := s.waitServed(ctx); err == nil {
		err = err2
	}
	return err
}

// waitServed waits for http.Serve to return, if Serve started it.
func (s *Server) waitServed(ctx context.Context) error {
	s.mu.Lock()
	started := s.handoff != nil
	s.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case err := <-s.served:
		s.served <- err
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) logf(format string, args ...any) {
	if s.http.ErrorLog != nil {
		s.http.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...) // as net/http, when none is set
}

// Connection states.
const (
	stateActive int32 = iota // reading a request head or serving one
	stateIdle                // waiting for the first byte of a request
	stateClosed              // closed by Shutdown
)

// conn is one client connection of the lane.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	ctx    context.Context
	remote string
	state  atomic.Int32
	// unreadBody: the connection ends with a request body unread.
	unreadBody bool

	tmpl   http.Request // the request parse builds, before its context
	header http.Header  // the response's fields, reused
	out    []byte       // the response being written
	outp   *[]byte      // out's buffer, from outBufs
	pend   []byte       // body held until its length is known (see response)
}

func (c *conn) serve() {
	defer c.s.untrack(c)
	handedOff := false
	defer func() {
		if !handedOff {
			c.close()
		}
	}()
	for {
		req, keep := c.readRequest()
		if req == nil {
			if keep { // not the lane's: net/http serves the connection
				handedOff = true
				c.s.handedOff.Add(1)
				c.s.handoff.push(&replayConn{Conn: c.nc, buf: c.unread()})
			}
			return
		}
		if !c.serveRequest(req) || c.s.closing.Load() {
			return
		}
	}
}

// close closes the connection. If the client may still be sending a body
// the lane did not read, it first half-closes and drains what comes for a
// moment: closing with unread bytes would reset the connection, and the
// reset can destroy the response before the client reads it (as net/http
// does, for the same reason).
func (c *conn) close() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && c.unreadBody {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(rstAvoidance))
		io.Copy(io.Discard, c.nc)
	}
	c.nc.Close()
}

// rstAvoidance bounds the drain of close.
const rstAvoidance = 500 * time.Millisecond

// unread returns the bytes read from the connection and not served.
func (c *conn) unread() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Clone(b)
}

// readRequest reads the next request head. It returns nil and false when
// the connection is to be closed, nil and true when the request is to go
// to net/http.
func (c *conn) readRequest() (*http.Request, bool) {
	srv := c.s.http
	idle := srv.IdleTimeout
	if idle == 0 {
		idle = srv.ReadTimeout
	}
	if c.br.Buffered() == 0 {
		c.state.Store(stateIdle)
		if c.s.closing.Load() {
			return nil, false
		}
		c.nc.SetReadDeadline(deadline(idle))
		if _, err := c.br.Peek(1); err != nil {
			return nil, false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return nil, false // Shutdown closed it meanwhile
		}
	}
	headTimeout := srv.ReadHeaderTimeout
	if headTimeout == 0 {
		headTimeout = srv.ReadTimeout
	}
	timed := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(buf, crlf2); i >= 0 {
			if bytes.Contains(buf[:i], lf2) {
				return nil, true
			}
			if timed || idle != 0 {
				c.nc.SetReadDeadline(time.Time{})
			}
			head := string(buf[:i+2])
			req := c.parse(head)
			if req == nil {
				return nil, true
			}
			c.br.Discard(i + 4)
			return req, true
		}
		if bytes.Contains(buf, lf2) || len(buf) == bufSize {
			return nil, true // a bare-LF head, or one too long for the lane
		}
		if !timed {
			c.nc.SetReadDeadline(deadline(headTimeout))
			timed = true
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return nil, false
		}
	}
}

var (
	crlf2 = []byte("\r\n\r\n")
	lf2   = []byte("\n\n")
)

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// parse builds the request of head (its lines, each ending in CRLF, less
// the blank line), or returns nil if the lane does not serve it.
func (c *conn) parse(head string) *http.Request {
	eol := strings.Index(head, "\r\n")
	line := head[:eol]
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !laneMethod(method) || target == "" || target[0] != '/' {
		return nil
	}
	h, ok := h1.ParseFields(head[eol+2:])
	if !ok {
		return nil
	}
	hosts := h["Host"]
	if len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) {
		return nil
	}
	host := hosts[0]
	delete(h, "Host")
	length, expect := int64(0), false
	if te := h["Transfer-Encoding"]; te != nil {
		// Only chunked, and without a Content-Length (which net/http
		// would drop): anything else is net/http's to refuse.
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") || h["Content-Length"] != nil {
			return nil
		}
		length = -1
	} else if cl := h["Content-Length"]; cl != nil {
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil || len(cl) > 1 || cl[0][0] == '+' {
			return nil
		}
		length = int64(n)
	}
	if ex := h["Expect"]; ex != nil {
		if len(ex) > 1 || !strings.EqualFold(ex[0], "100-continue") {
			return nil // net/http answers 417
		}
		expect = true
	}
	u, ok := parseTarget(target)
	if !ok {
		return nil
	}
	// The request is built in the connection's template, which
	// serveRequest copies with its context (http.Request.WithContext):
	// one allocation of a request, not two.
	req := &c.tmpl
	*req = http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: length,
		Host:          host,
		RemoteAddr:    c.remote,
		RequestURI:    target,
		Close:         httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
	}
	if length < 0 {
		req.TransferEncoding = []string{"chunked"}
		delete(h, "Transfer-Encoding") // as net/http
	}
	if length != 0 {
		req.Body = newBody(c, length, expect)
	} else if expect {
		return nil // nothing to continue: net/http's to answer
	}
	return req
}

// parseTarget parses an origin-form request target as url.ParseRequestURI
// does. A path of characters a path keeps unescaped (no '%') is taken as
// it is, which spares escaping it again to find whether it needs a
// RawPath: a presigned URL's 300 bytes cost url.ParseRequestURI 4,000
// instructions. Any other path goes to url.ParseRequestURI.
func parseTarget(target string) (*url.URL, bool) {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			u, err := url.ParseRequestURI(target)
			return u, err == nil
		}
	}
	if hasCTL(query) {
		return nil, false // as url.ParseRequestURI, which refuses control bytes
	}
	u := &url.URL{Path: path, RawQuery: query}
	if hasQuery && query == "" && strings.Count(target, "?") == 1 {
		u.ForceQuery = true
	}
	return u, true
}

// hasCTL reports whether s holds a control byte (below 0x20, or 0x7f),
// sixteen bytes at a time, their tests or-ed without a branch: a
// presigned URL's query is 300 bytes long.
func hasCTL(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// ctl has a high bit set in each byte of x below 0x20, or a zero byte
	// of x^0x7f…: exact tests (borrows start only at a byte that matches).
	ctl := func(x uint64) uint64 {
		y := x ^ 0x7f*ones
		return (x-0x20*ones)&^x | (y-ones)&^y
	}
	word := func(s string) uint64 {
		_ = s[7]
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	}
	var found uint64
	for ; len(s) >= 16; s = s[16:] {
		found |= ctl(word(s)) | ctl(word(s[8:]))
	}
	if len(s) >= 8 {
		found |= ctl(word(s))
		s = s[8:]
	}
	if found&highs != 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// pathByte holds the bytes url.URL.EscapedPath leaves as they are: a path
// of only these is its own escaped form.
var pathByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0
	}
	return t
}()

// laneMethod reports whether the lane serves requests of method.
func laneMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
		return true
	}
	return false
}

// serveRequest runs the handler on req and sends its response. It
// reports whether the connection may serve another request.
func (c *conn) serveRequest(req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req = req.WithContext(ctx)
	// One header map per connection, cleared for each response: a map
	// made per response, and grown past 8 fields, was 3% of a peer hit.
	if c.header == nil {
		c.header = make(http.Header, 16)
	} else {
		clear(c.header)
	}
	w := &response{c: c, req: req, header: c.header, declared: -1, cancel: cancel,
		head: req.Method == http.MethodHead, closeAfter: req.Close}
	b, _ := req.Body.(*body)
	if b != nil {
		b.w, w.body = w, b
	}
	if wt := c.s.http.WriteTimeout; wt > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(wt))
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.logf("http: panic serving %v: %v\n%s", c.remote, v, buf)
			}
			keep = false
		}
	}()
	c.outp = outBufs.Get().(*[]byte)
	c.out = (*c.outp)[:0]
	c.s.http.Handler.ServeHTTP(w, req)
	if b != nil {
		b.end() // before the answer goes: no read after it
	}
	w.finish()
	if b != nil && !b.finish() {
		c.unreadBody = true
		return false
	}
	return !w.closeAfter
}

// replayConn is a connection handed to net/http: its first reads return
// what the lane had read and not served.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		k := copy(p, c.buf)
		c.buf = c.buf[k:]
		return k, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close a TCP connection as it does its own.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the connection itself.
func (c *replayConn) Unwrap() net.Conn { return c.Conn }

// listener is where the lane hands connections to net/http.
type listener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newListener(addr net.Addr) *listener {
	return &listener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *listener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }
