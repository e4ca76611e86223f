// Package cork batches a response's writes into as few TCP segments as
// possible, as nginx's tcp_nopush does: net/http writes a response's headers
// and a sendfile body with separate system calls, and on fast links (and
// loopback) each one costs a full transmit. Corking the socket while the
// response is written and uncorking it at the end sends headers and body
// together.
//
// Use: give http.Server ConnContext, then call Begin in a handler and End
// on what it returns once the response is written. Outside Linux, or on a
// connection that is not TCP, both do nothing.
package cork

import (
	"context"
	"net"
	"net/http"
	"syscall"
)

type connKey struct{}

// ConnContext is an http.Server.ConnContext that makes the connection
// available to Begin.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			return context.WithValue(ctx, connKey{}, rc)
		}
	}
	return ctx
}

// Cork is a corked connection; End uncorks it.
type Cork struct {
	rc syscall.RawConn
	w  http.ResponseWriter
}

// Begin corks the request's connection. Call End before the handler
// returns.
func Begin(w http.ResponseWriter, r *http.Request) Cork {
	rc, ok := r.Context().Value(connKey{}).(syscall.RawConn)
	if !ok || !setCork(rc, 1) {
		return Cork{}
	}
	return Cork{rc: rc, w: w}
}

// End flushes the response and uncorks the connection, which sends what
// the cork held back.
func (c Cork) End() {
	if c.rc == nil {
		return
	}
	http.NewResponseController(c.w).Flush()
	setCork(c.rc, 0)
}
