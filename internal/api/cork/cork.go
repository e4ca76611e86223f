// Package cork batches a response's writes into one system call, as
// nginx's tcp_nopush does: net/http writes a 4 KiB response's headers and
// body with two writes (its buffer holds 4 KiB), and on fast links (and
// loopback) each one costs a full transmit. While a response is corked
// its writes are held in user space and sent together when it ends: one
// write in place of two, and no setsockopt(TCP_CORK) pair either (four
// system calls down to one). A body sent with sendfile goes after what
// was held, in the same segment (WriteMore).
//
// Use: serve a Listener's connections with ConnContext as the
// http.Server's ConnContext, then call Begin in a handler and End on what
// it returns once the response is written. On other connections (TLS
// ones, for instance) both do nothing.
package cork

import (
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
)

// maxHeld is the most bytes a cork holds before it writes them.
const maxHeld = 64 << 10

// Listener wraps ln so that its connections can be corked.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Conn is a TCP connection whose writes a cork can hold. Only the
// goroutine serving its request may cork it.
type Conn struct {
	net.Conn
	corked bool
	held   []byte
}

// Write sends p, or holds it while corked.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.corked {
		return c.Conn.Write(p)
	}
	if len(c.held)+len(p) > maxHeld {
		if err := c.flush(); err != nil {
			return 0, err
		}
		if len(p) > maxHeld {
			return c.Conn.Write(p)
		}
	}
	c.held = append(c.held, p...)
	return len(p), nil
}

// ReadFrom sends what is held, then r (with sendfile when r is a file).
// What is held goes with MSG_MORE when r has a known, non-zero length
// (http.ServeContent's io.LimitedReader), so that it travels with r's
// first bytes.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok && lr.N > 0 && len(c.held) > 0 {
		_, err := WriteMore(c.Conn, c.held)
		c.held = c.held[:0]
		if err != nil {
			return 0, err
		}
	} else if err := c.flush(); err != nil {
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes the connection when it can, as net/http does
// with its own TCP connections before it closes them.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *Conn) flush() error {
	if len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	return err
}

type connKey struct{}

// ConnContext is an http.Server.ConnContext that makes a Listener's
// connection available to Begin.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// Cork is a corked connection; End uncorks it.
type Cork struct {
	c *Conn
	w http.ResponseWriter
}

// Begin corks the request's connection. Call End before the handler
// returns.
func Begin(w http.ResponseWriter, r *http.Request) Cork {
	c, ok := r.Context().Value(connKey{}).(*Conn)
	if !ok {
		return Cork{}
	}
	c.corked = true
	return Cork{c: c, w: w}
}

// End flushes the response into the cork and sends what it holds.
func (k Cork) End() {
	if k.c == nil {
		return
	}
	http.NewResponseController(k.w).Flush()
	k.c.corked = false
	k.c.flush()
	if cap(k.c.held) > 2*maxHeld {
		k.c.held = nil
	}
}

// WriteMore writes p to c as the start of what the next write or
// sendfile sends: on a TCP connection with MSG_MORE, which has the kernel
// send p in one segment with what follows rather than alone. A response's
// head sent alone before a sendfile body is a segment of a few hundred
// bytes per response; on loopback and fast links the receiver pays for
// it, with a receive window that grows more slowly and dropped segments
// (measured with wrk on 1 MiB responses: its kernel time per response
// went from about 550 to 330 µs). The caller must send at least one more
// byte soon, or p waits for the kernel's cork timer (200 ms). Elsewhere
// (TLS, tests' pipes) it is c.Write.
func WriteMore(c net.Conn, p []byte) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c.Write(p)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c.Write(p)
	}
	n := 0
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.SendmsgN(int(fd), p[n:], nil, nil, syscall.MSG_MORE)
			switch e {
			case nil:
				n += m
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket is writable
			default:
				serr = e
				return true
			}
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, nil
}
