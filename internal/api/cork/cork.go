// Package cork batches a response's writes into as few TCP segments as
// possible, as nginx's tcp_nopush does: net/http writes a response's headers
// and a sendfile body with separate system calls, and on fast links (and
// loopback) each one costs a full transmit. Corking the socket while the
// response is written and uncorking it at the end sends headers and body
// together.
//
// Use: give http.Server ConnContext, then call Begin in a handler and the
// returned func once the response is written. Outside Linux, or on a
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

// Begin corks the request's connection and returns the function that
// flushes w and uncorks it. Call that before the handler returns.
func Begin(w http.ResponseWriter, r *http.Request) (end func()) {
	rc, ok := r.Context().Value(connKey{}).(syscall.RawConn)
	if !ok || !setCork(rc, 1) {
		return func() {}
	}
	return func() {
		http.NewResponseController(w).Flush()
		setCork(rc, 0)
	}
}
