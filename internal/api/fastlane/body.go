package fastlane

import (
	"io"
	"net/http"
	"sync"
)

// maxDiscard is the most of a body the handler left unread that the lane
// reads and drops to keep the connection (as net/http, 256 KiB); with
// more left it closes the connection instead.
const maxDiscard = 256 << 10

// body is a request body of declared length, read from the connection's
// buffer. A client that sent "Expect: 100-continue" is told to go on at
// the first read.
type body struct {
	c *conn
	w *response

	mu     sync.Mutex // the handler may read from another goroutine
	left   int64      // bytes not read yet
	expect bool       // 100 Continue not sent yet
	done   bool       // the handler returned
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		return 0, io.EOF
	}
	if b.expect {
		b.expect = false
		if !b.w.sent.Load() {
			if _, err := b.c.nc.Write(continue100); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	p = p[:min(int64(len(p)), b.left)]
	k, err := b.c.br.Read(p)
	b.left -= int64(k)
	switch {
	case err == io.EOF:
		err = io.ErrUnexpectedEOF // the client closed before the end
		fallthrough
	case err != nil:
		b.err = err
	case b.left == 0:
		err = io.EOF
	}
	return k, err
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// Close does nothing: what the handler left unread is dealt with after it
// returns (see finish).
func (b *body) Close() error { return nil }

// unreadLarge reports whether the handler left too much unread to keep
// the connection: more than maxDiscard, or a body the client was never
// told to send.
func (b *body) unreadLarge() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left > 0 && (b.expect || b.left > maxDiscard || b.err != nil)
}

// end makes later reads fail: the handler returned.
func (b *body) end() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
}

// finish reads and drops what the handler left unread, once it returned.
// It reports whether the connection can serve another request.
func (b *body) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left == 0 {
		return b.err == nil
	}
	if b.expect || b.left > maxDiscard || b.err != nil {
		return false
	}
	n, err := b.c.br.Discard(int(b.left))
	b.left -= int64(n)
	return err == nil
}
