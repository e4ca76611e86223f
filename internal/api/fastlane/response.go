package fastlane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/objstore/objstore/internal/api/cork"
)

const (
	// holdMax is the most body a response holds while its length is not
	// declared: a body that ends within it gets a Content-Length, a
	// longer one is chunked.
	holdMax = 4 << 10
	// outMax is the most response bytes a connection gathers before it
	// writes them; a write of half as much or more goes out directly.
	outMax = 64 << 10
	// sniffLen is how much of a body http.DetectContentType looks at.
	sniffLen = 512
)

// response is the lane's http.ResponseWriter. Only the handler's
// goroutine may use it, and not after the handler returns.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	cancel context.CancelFunc
	head   bool        // a HEAD request: the body is counted, not sent
	body   *body       // the request's, if it has one
	sent   atomic.Bool // bytes of the response went out (read by body)

	status     int         // 0 until WriteHeader or the first write
	fields     http.Header // the fields at WriteHeader, when copied
	declared   int64       // the Content-Length the handler set, or -1
	written    int64       // body bytes the handler wrote
	started    bool        // the head is in c.out, or sent
	chunked    bool
	closeAfter bool  // close the connection after this response
	err        error // the first error writing to the client
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ io.ReaderFrom       = (*response)(nil)
)

func (w *response) Header() http.Header { return w.header }

// WriteHeader sends (lazily, with the first body bytes) the status code.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.status != 0 {
		w.c.s.logf("http: superfluous response.WriteHeader call (status %d after %d)", code, w.status)
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.status = code
	if cl := first(w.header["Content-Length"]); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.declared = v
		} else {
			w.c.s.logf("http: invalid Content-Length of %q", cl)
			w.header.Del("Content-Length")
		}
	}
	if httpguts.HeaderValuesContainsToken(w.header["Connection"], "close") {
		w.closeAfter = true
	}
	// The head has the fields as they are now, as in net/http. It goes
	// into c.out at once when nothing written later can change it (the
	// hot path: a declared length and type), else the fields are copied.
	_, typed := w.header["Content-Type"]
	if !w.bodyAllowed() || w.declared >= 0 && typed {
		w.begin(false, nil)
	} else {
		w.fields = w.header.Clone()
	}
}

// bodyAllowed reports whether the status may carry a body.
func (w *response) bodyAllowed() bool {
	return w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.written += int64(len(p)) // even if refused, as net/http counts it
	if w.declared >= 0 && w.written > w.declared {
		return 0, http.ErrContentLength
	}
	c := w.c
	if w.head {
		if !w.started && len(c.pend) < sniffLen { // kept to sniff a type, not sent
			c.pend = append(c.pend, p[:min(len(p), sniffLen-len(c.pend))]...)
		}
		return len(p), nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.started {
		if w.declared < 0 && len(c.pend)+len(p) <= holdMax {
			c.pend = append(c.pend, p...)
			return len(p), nil
		}
		w.begin(false, p)
	}
	w.emit(p)
	if w.written == w.declared {
		// The whole body is here: send it now, not once the handler has
		// cleaned up and returned (the client's latency).
		w.flush()
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// ReadFrom sends a large body with the connection's ReadFrom (sendfile
// for a file) once the head is out.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	rf, ok := w.c.nc.(io.ReaderFrom)
	_, typed := w.header["Content-Type"]
	if !ok || w.head || !w.bodyAllowed() || w.declared < 0 || w.err != nil || !w.started && !typed {
		return io.Copy(writerOnly{w}, src) // through Write, with its checks and framing
	}
	if !w.started {
		w.begin(false, nil)
	}
	if c := w.c; len(c.out) > 0 && w.declared > w.written {
		// The head goes with the body's first bytes (cork.WriteMore).
		w.sent.Store(true)
		if _, err := cork.WriteMore(c.nc, c.out); err != nil {
			w.fail(err)
		}
		c.out = c.out[:0]
	}
	w.flush()
	if w.err != nil {
		return 0, w.err
	}
	n, err := rf.ReadFrom(src)
	w.written += n
	if err != nil {
		w.fail(err)
	}
	return n, err
}

// Flush sends what the response holds; a body of undeclared length is
// chunked from then on.
func (w *response) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.started {
		w.begin(false, nil)
	}
	w.flush()
}

// SetReadDeadline sets the connection's read deadline (for
// http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline (for
// http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// finish ends the response once the handler returned, and sends it.
func (w *response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	c := w.c
	if !w.started {
		w.begin(true, nil)
	} else if w.chunked {
		c.out = append(c.out, "0\r\n\r\n"...)
	}
	if w.declared >= 0 && !w.head && w.bodyAllowed() && w.written != w.declared {
		w.closeAfter = true // the body does not match its framing
	}
	w.flush()
	if cap(c.out) <= 2*outMax {
		*c.outp = c.out[:0]
		outBufs.Put(c.outp)
	}
	c.out, c.outp = nil, nil
}

// outBufs hold the responses being written: a connection keeps none
// while it waits for its next request.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// begin puts the head in c.out, then the body held so far. final: the
// handler is done, so an undeclared length is the length written. sniff
// is the start of the body, for a missing Content-Type.
func (w *response) begin(final bool, sniff []byte) {
	c := w.c
	h := w.headFields()
	if w.declared < 0 && w.bodyAllowed() {
		switch {
		case final && (!w.head && w.written > 0 || w.head && w.written > 0 && w.written <= holdMax):
			h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		case final && !w.head:
			h["Content-Length"] = zeroLength
		case !final && !w.head:
			w.chunked = true
		}
	}
	if len(c.pend) > 0 {
		sniff = c.pend
	}
	w.writeHead(h, sniff)
	w.started = true
	if len(c.pend) > 0 {
		if !w.head {
			w.emit(c.pend)
		}
		c.pend = c.pend[:0]
	}
}

var zeroLength = []string{"0"}

// headFields returns the fields of the head: those at WriteHeader.
func (w *response) headFields() http.Header {
	if w.fields != nil {
		return w.fields
	}
	return w.header
}

// writeHead appends the status line and the header fields to c.out.
func (w *response) writeHead(h http.Header, sniff []byte) {
	c := w.c
	if w.c.s.closing.Load() || w.body != nil && w.body.unreadLarge() {
		w.closeAfter = true
	}
	b := appendStatus(c.out, w.status)
	allowed := w.bodyAllowed()
	_, typed := h["Content-Type"]
	sniffed := !typed && allowed && len(sniff) > 0 && h["Transfer-Encoding"] == nil
	if w.chunked {
		delete(h, "Content-Length")
		h["Transfer-Encoding"] = chunkedTE
	}
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, date()...)
		b = append(b, "\r\n"...)
	}
	if sniffed {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(sniff)...)
		b = append(b, "\r\n"...)
	}
	if w.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		b = append(b, "Connection: close\r\n"...)
	}
	c.out = appendFields(b, h, !allowed)
}

var chunkedTE = []string{"chunked"}

// appendFields appends h's fields, skipping invalid names, trimming
// values and turning line breaks in them into spaces, as net/http does
// (which also sorts them by name: their order has no meaning, and sorting
// was 2% of a hit's CPU). noBody drops the framing fields, which a
// bodiless status must not send.
func appendFields(b []byte, h http.Header, noBody bool) []byte {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) || noBody && (k == "Content-Length" || k == "Transfer-Encoding") {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// appendValue appends v with its CRs and LFs turned into spaces, then
// trimmed of spaces and tabs.
func appendValue(b []byte, v string) []byte {
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		v = newlineToSpace.Replace(v)
	}
	if v != "" && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = strings.Trim(v, " \t")
	}
	return append(b, v...)
}

var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// informational sends a 1xx head at once, with the fields set so far.
func (w *response) informational(code int) {
	c := w.c
	w.flush()
	b := appendStatus(c.out, code)
	c.out = appendFields(b, w.header, true)
	w.flush()
}

// emit appends body bytes to c.out (chunked if so), writing c.out when
// it would grow past outMax, and a large p directly.
func (w *response) emit(p []byte) {
	c := w.c
	if w.chunked {
		c.out = strconv.AppendInt(c.out, int64(len(p)), 16)
		c.out = append(c.out, "\r\n"...)
	}
	switch {
	case len(c.out)+len(p) <= outMax:
		c.out = append(c.out, p...)
	case len(p) >= outMax/2:
		w.flush()
		w.send(p)
	default:
		w.flush()
		c.out = append(c.out, p...)
	}
	if w.chunked {
		c.out = append(c.out, "\r\n"...)
	}
}

// flush writes c.out to the client.
func (w *response) flush() {
	c := w.c
	if len(c.out) > 0 {
		w.send(c.out)
		c.out = c.out[:0]
	}
}

func (w *response) send(p []byte) {
	if w.err != nil {
		return
	}
	w.sent.Store(true)
	if _, err := w.c.nc.Write(p); err != nil {
		w.fail(err)
	}
}

// fail records a write error: the client is gone, or too slow.
func (w *response) fail(err error) {
	if w.err == nil {
		w.err = err
	}
	w.closeAfter = true
	w.cancel()
}

func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// date returns the Date field of now, formatted once a second.
func date() string {
	now := time.Now()
	if d := lastDate.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dated{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.s
}

type dated struct {
	sec int64
	s   string
}

var lastDate atomic.Pointer[dated]

// writerOnly hides every method of a writer but Write, so that io.Copy
// does not come back to ReadFrom.
type writerOnly struct{ io.Writer }
