package fastlane

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
)

// maxDiscard is the most of a body the handler left unread that the lane
// reads and drops to keep the connection (as net/http, 256 KiB); with
// more left it closes the connection instead.
const maxDiscard = 256 << 10

// body is a request body, of declared length or chunked, read from the
// connection's buffer. A client that sent "Expect: 100-continue" is told
// to go on at the first read.
type body struct {
	c *conn
	w *response

	mu      sync.Mutex // the handler may read from another goroutine
	left    int64      // bytes not read yet, of a declared length
	chunked io.Reader  // the chunked body's reader, nil for a declared length
	eof     bool       // read to its end (a chunked body's trailer too)
	expect  bool       // 100 Continue not sent yet
	done    bool       // the handler returned
	err     error
}

// newBody returns the body of a request: length bytes, or chunked if
// length is -1.
func newBody(c *conn, length int64, expect bool) *body {
	b := &body{c: c, left: length, expect: expect}
	if length < 0 {
		b.chunked = httputil.NewChunkedReader(c.br) // c.br itself: no buffer of its own
	}
	return b
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
	if b.eof {
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
	if b.chunked != nil {
		return b.readChunked(p)
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
		b.eof, err = true, io.EOF
	}
	return k, err
}

// readChunked reads a chunked body; at its end it reads the trailer
// section, whose fields it drops (no handler reads Request.Trailer).
func (b *body) readChunked(p []byte) (int, error) {
	k, err := b.chunked.Read(p)
	if err == io.EOF {
		if err = skipTrailer(b.c.br); err == nil {
			b.eof, err = true, io.EOF
		}
	}
	if err != nil && err != io.EOF {
		if errors.Is(err, io.EOF) || err == io.ErrUnexpectedEOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
	}
	return k, err
}

// skipTrailer reads the lines after a chunked body's last chunk, up to
// the empty one.
func skipTrailer(br *bufio.Reader) error {
	for n := 0; ; n++ {
		line, err := br.ReadSlice('\n')
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
		if n == 100 {
			return errors.New("chunked body: trailer too long")
		}
	}
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// Close does nothing: what the handler left unread is dealt with after it
// returns (see finish).
func (b *body) Close() error { return nil }

// unreadLarge reports whether the handler left too much unread to keep
// the connection: more than maxDiscard of a declared length, or a body
// the client was never told to send. (Of a chunked body the rest is
// unknown until finish tries.)
func (b *body) unreadLarge() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return false
	}
	return b.expect || b.err != nil || b.chunked == nil && b.left > maxDiscard
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
	switch {
	case b.eof:
		return true
	case b.expect || b.err != nil:
		return false
	case b.chunked == nil:
		if b.left > maxDiscard {
			return false
		}
		n, err := b.c.br.Discard(int(b.left))
		b.left -= int64(n)
		return err == nil
	}
	n, err := io.Copy(io.Discard, io.LimitReader(b.chunked, maxDiscard+1))
	if err != nil || n > maxDiscard {
		return false
	}
	return skipTrailer(b.c.br) == nil
}
