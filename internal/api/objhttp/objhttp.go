// Package objhttp serves an object's body over HTTP for both APIs: it
// evaluates conditional requests (If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since, as RFC 9110 orders them) and a
// single byte Range, then writes the body the cheapest way: a small body
// in one write, a file through sendfile.
//
// Unlike http.ServeContent it does not write error responses itself: it
// returns a Decision so that each API answers 304, 412 and 416 in its own
// format (plain text on /api/v1, XML on the S3 API). Multiple ranges are
// not supported (as on S3): such a request gets the whole object.
package objhttp

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/api/cork"
)

// Object is what the package needs to know of an object.
type Object struct {
	ETag    string // without quotes
	ModTime time.Time
	Size    int64
	// Content reads the body; it is read only by Write.
	Content io.ReadSeeker
}

// Decision is how to answer a GET or HEAD.
type Decision struct {
	// Status: 200, 206, 304 (not modified), 412 (precondition failed) or
	// 416 (range not satisfiable).
	Status int
	// Start and Length of the bytes to send (the whole object for 200).
	Start, Length int64
}

// Decide evaluates r's preconditions and Range against o.
func Decide(r *http.Request, o Object) Decision {
	whole := Decision{Status: http.StatusOK, Length: o.Size}
	h := r.Header
	// 1. If-Match, else If-Unmodified-Since.
	if im := Field(h, "If-Match"); im != "" {
		if !etagMatch(im, o.ETag) {
			return Decision{Status: http.StatusPreconditionFailed}
		}
	} else if ius := Field(h, "If-Unmodified-Since"); ius != "" && !o.ModTime.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && o.ModTime.Truncate(time.Second).After(t) {
			return Decision{Status: http.StatusPreconditionFailed}
		}
	}
	// 2. If-None-Match, else If-Modified-Since (GET and HEAD only).
	if inm := Field(h, "If-None-Match"); inm != "" {
		if etagMatch(inm, o.ETag) {
			return Decision{Status: http.StatusNotModified}
		}
	} else if ims := Field(h, "If-Modified-Since"); ims != "" && !o.ModTime.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !o.ModTime.Truncate(time.Second).After(t) {
			return Decision{Status: http.StatusNotModified}
		}
	}
	// 3. Range, unless If-Range says the representation changed.
	rng := Field(h, "Range")
	if rng == "" {
		return whole
	}
	if ir := Field(h, "If-Range"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, `W/"`) {
			if strings.Trim(ir, `"`) != o.ETag {
				return whole
			}
		} else if t, err := http.ParseTime(ir); err != nil || !o.ModTime.Truncate(time.Second).Equal(t) {
			return whole
		}
	}
	start, length, ok, valid := parseRange(rng, o.Size)
	switch {
	case !valid:
		return whole // a malformed or multi-range header is ignored
	case !ok:
		return Decision{Status: http.StatusRequestedRangeNotSatisfiable}
	}
	return Decision{Status: http.StatusPartialContent, Start: start, Length: length}
}

// etagMatch reports whether a list of entity tags (or "*") matches etag.
// Weak tags compare by their opaque value.
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// parseRange parses one "bytes=" range against size. valid is false for a
// header it does not understand (ignored, as RFC 9110 allows); ok is false
// for a valid range that no byte of the object satisfies.
func parseRange(v string, size int64) (start, length int64, ok, valid bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, false, true
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if last != "" {
		if e, err = strconv.ParseInt(last, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, false, true
	}
	return s, e - s + 1, true, true
}

// smallBody bodies are read into a pooled buffer and written at once.
const smallBody = 64 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }}

// Write sends the headers of d (Content-Length, Content-Range,
// Accept-Ranges, Last-Modified, ETag) with d.Status and, unless r is a
// HEAD, the bytes d selects. d.Status must be 200 or 206. The caller has
// set its own headers. An error after the status is sent can only cut the
// body short; it is returned for logging.
func Write(w http.ResponseWriter, r *http.Request, o Object, d Decision) error {
	// Canonical keys assigned directly, and the values' slices cut from
	// one array (capped, so that an append copies): this is the hot path
	// of hits.
	h := w.Header()
	vs := make([]string, 4)
	vs[0] = "bytes"
	h["Accept-Ranges"] = vs[0:1:1]
	if o.ETag != "" {
		vs[1] = `"` + o.ETag + `"`
		h["Etag"] = vs[1:2:2]
	}
	if !o.ModTime.IsZero() {
		vs[2] = HTTPDate(o.ModTime)
		h["Last-Modified"] = vs[2:3:3]
	}
	if d.Status == http.StatusPartialContent {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(d.Start, 10)+"-"+
			strconv.FormatInt(d.Start+d.Length-1, 10)+"/"+strconv.FormatInt(o.Size, 10))
	}
	vs[3] = strconv.FormatInt(d.Length, 10)
	h["Content-Length"] = vs[3:4:4]
	w.WriteHeader(d.Status)
	if r.Method == http.MethodHead || d.Length == 0 {
		return nil
	}
	if d.Start != 0 {
		if _, err := o.Content.Seek(d.Start, io.SeekStart); err != nil {
			return err
		}
	}
	if br, ok := o.Content.(*bytes.Reader); ok && d.Start+d.Length == o.Size {
		// A body in memory (a small hit, a peer's answer): written from
		// its own bytes, without a copy through a buffer.
		_, err := br.WriteTo(writerOnly{w})
		return err
	}
	if d.Length <= smallBody {
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		buf := (*bp)[:d.Length]
		if _, err := io.ReadFull(o.Content, buf); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	}
	body := io.LimitReader(o.Content, d.Length)
	if _, ok := o.Content.(*os.File); ok {
		// A LimitedReader of an *os.File still reaches sendfile.
		_, err := io.Copy(w, body)
		return err
	}
	if wt, ok := o.Content.(io.WriterTo); ok && d.Start+d.Length == o.Size {
		// The rest of a body that writes itself (a fill held in memory
		// writes from its buffer, without a copy).
		_, err := wt.WriteTo(writerOnly{w})
		return err
	}
	// Another body (a fill streaming from a peer or the backend) in large
	// writes: through the connection's ReadFrom it would go 32 KiB, one
	// syscall, at a time.
	bp := largeBufs.Get().(*[]byte)
	defer largeBufs.Put(bp)
	_, err := io.CopyBuffer(writerOnly{w}, body, *bp)
	return err
}

// largeBufs are Write's buffers for bodies that are no file.
var largeBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides a writer's ReadFrom, so that io.CopyBuffer uses the
// buffer it is given.
type writerOnly struct{ io.Writer }

// Outcomes of Serve that an API answers in its own format.
var (
	ErrPreconditionFailed  = errors.New("precondition failed")
	ErrRangeNotSatisfiable = errors.New("requested range not satisfiable")
)

// Serve answers a GET or HEAD of o. It writes a 304 itself, and a 200 or
// 206 with the body (the socket corked, so that headers and body leave
// together). For a failed precondition or an unsatisfiable range it writes
// nothing and returns ErrPreconditionFailed or ErrRangeNotSatisfiable (with
// Content-Range set) for the API to answer. before, if not nil, is called
// with the decision before a 200 or 206 is written, to add headers. Serve
// returns the body bytes written; another error came after the status was
// sent and only cut the body short.
func Serve(w http.ResponseWriter, r *http.Request, o Object, before func(Decision)) (int64, error) {
	d := Decide(r, o)
	switch d.Status {
	case http.StatusNotModified:
		NotModified(w.Header(), o)
		w.WriteHeader(d.Status)
		return 0, nil
	case http.StatusPreconditionFailed:
		return 0, ErrPreconditionFailed
	case http.StatusRequestedRangeNotSatisfiable:
		NotSatisfiable(w.Header(), o.Size)
		return 0, ErrRangeNotSatisfiable
	}
	if before != nil {
		before(d)
	}
	cw := &Counter{ResponseWriter: w}
	c := cork.Begin(w, r)
	err := Write(cw, r, o, d)
	c.End()
	return cw.N, err
}

// NotSatisfiable sets the Content-Range of a 416 answer.
func NotSatisfiable(h http.Header, size int64) {
	h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
}

// NotModified sets the headers a 304 answer keeps.
func NotModified(h http.Header, o Object) {
	if o.ETag != "" {
		h.Set("ETag", `"`+o.ETag+`"`)
	}
	if !o.ModTime.IsZero() {
		h.Set("Last-Modified", HTTPDate(o.ModTime))
	}
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
		h.Del(k)
	}
}

// Counter counts the body bytes written through it, keeping io.ReaderFrom
// so that sendfile still serves files.
type Counter struct {
	http.ResponseWriter
	N int64
}

func (w *Counter) Write(p []byte) (int, error) {
	k, err := w.ResponseWriter.Write(p)
	w.N += int64(k)
	return k, err
}

// ReadFrom implements io.ReaderFrom.
func (w *Counter) ReadFrom(r io.Reader) (int64, error) {
	var k int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		k, err = rf.ReadFrom(r)
	} else {
		k, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.N += k
	return k, err
}

// Unwrap gives http.ResponseController the wrapped writer.
func (w *Counter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// NoCache reports whether a request's Cache-Control asks for no-cache:
// a cached copy must be revalidated before it is served.
func NoCache(h http.Header) bool {
	cc := Field(h, "Cache-Control")
	return cc != "" && strings.Contains(strings.ToLower(cc), "no-cache")
}

// Field returns the first value of the field named key, which must be in
// canonical form (as net/http stores a request's fields): Header.Get
// canonicalizes its key on every call, a cost on every hit.
func Field(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
