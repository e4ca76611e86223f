package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Auth signs every request. Required.
	Auth *Auth
	// DialTimeout bounds a new connection. Default 1s.
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for a response's headers (a peer's
	// first byte) from a node reading its own disk: a read from a holder,
	// a replica, a push. Default 2s: a slow holder is skipped for the next.
	HeaderTimeout time.Duration
	// FetchTimeout is HeaderTimeout for requests that wait on the backend
	// or on a whole journal delta: a miss forwarded to the key's owner, a
	// sync. Default 30s.
	FetchTimeout time.Duration
	// IdleConns is the number of idle connections, and of idle streams,
	// kept per peer. Default 64.
	IdleConns int
}

// Client makes peer requests over persistent connections. Safe for
// concurrent use.
type Client struct {
	auth          *Auth
	http          *http.Client
	dialer        *net.Dialer
	streams       streams
	pipes         pipes
	idle          int
	header, fetch time.Duration
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.HeaderTimeout == 0 {
		cfg.HeaderTimeout = 2 * time.Second
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	if cfg.IdleConns == 0 {
		cfg.IdleConns = 64
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: cfg.IdleConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{auth: cfg.Auth, http: &http.Client{Transport: tr}, dialer: dialer, idle: cfg.IdleConns,
		header: cfg.HeaderTimeout, fetch: cfg.FetchTimeout, pipes: pipes{m: map[string]*pipeSet{}}}
}

// Close closes idle connections and streams.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	c.streams.close()
	c.pipes.close()
}

// Error is a peer's answer other than success, with its status.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("peer: %d %s", e.Status, e.Msg) }

// Unwrap maps statuses to core sentinels: 404 → ErrNotFound, 410 → ErrDeleted.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return core.ErrNotFound
	case http.StatusGone:
		return core.ErrDeleted
	case http.StatusInsufficientStorage:
		return core.ErrInsufficientStorage
	case http.StatusServiceUnavailable:
		return core.ErrUnavailable
	}
	return nil
}

// ErrTimeout: a peer did not answer in time.
var ErrTimeout = errors.New("peer did not answer in time")

// do makes a request whose response headers must arrive within wait (one
// connection pool serves requests of every timeout); the body is then
// read without a deadline beyond ctx's.
func (c *Client) do(ctx context.Context, wait time.Duration, method, addr, path, query string, body io.Reader, size int64, hdr http.Header) (*http.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(wait, cancel)
	resp, err := c.send(ctx, method, addr, path, query, body, size, hdr)
	if !timer.Stop() {
		cancel()
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("peer %s %s: %w after %v", method, addr, ErrTimeout, wait)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) send(ctx context.Context, method, addr, path, query string, body io.Reader, size int64, hdr http.Header) (*http.Response, error) {
	u := "http://" + addr + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.auth.Sign(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s %s: %w", method, addr, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("peer %s %s: %w", method, addr, &Error{Status: resp.StatusCode, Msg: strings.TrimSpace(string(msg))})
	}
	return resp, nil
}

// objectQuery is the query of /peer/v1/object naming (bucket, key), built
// directly: url.Values.Encode (a map, sorted keys) cost 4% of a peer read.
func objectQuery(bucket, key string) string {
	return "bucket=" + url.QueryEscape(bucket) + "&key=" + url.QueryEscape(key)
}

// Open reads (bucket, key) from the peer at addr: over a stream (see
// stream.go), or over HTTP when opts.Fetch or the peer has no streams.
// The caller must call the Object's Close. Its Body ends with an error if
// the peer stops early.
func (c *Client) Open(ctx context.Context, addr, bucket, key string, opts OpenOptions) (*Object, error) {
	if !opts.Fetch {
		open := c.openStream
		if opts.Size > 0 && opts.Size <= smallBody {
			open = c.openPipe
		}
		o, err := open(ctx, addr, bucket, key)
		if !errors.Is(err, errNoStreams) {
			return o, err
		}
	}
	return c.openHTTP(ctx, addr, bucket, key, opts)
}

// openHTTP is Open over HTTP.
func (c *Client) openHTTP(ctx context.Context, addr, bucket, key string, opts OpenOptions) (*Object, error) {
	q := objectQuery(bucket, key)
	if opts.Fetch {
		q += "&fetch=1"
	}
	hdr := http.Header{hdrHops: {strconv.Itoa(opts.Hops)}}
	wait := c.header
	if opts.Fetch {
		wait = c.fetch
	}
	resp, err := c.do(ctx, wait, http.MethodGet, addr, "/peer/v1/object", q, nil, 0, hdr)
	if err != nil {
		return nil, err
	}
	info, ver, err := objectHeaders(resp.Header)
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("peer GET %s: %w", addr, err)
	}
	info.Bucket, info.Key = bucket, key
	if resp.ContentLength != info.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("peer GET %s: %w: Content-Length %d for an object of %d bytes", addr, journal.ErrCorrupt, resp.ContentLength, info.Size)
	}
	return &Object{Info: info, Ver: ver, Body: resp.Body, Close: func() { resp.Body.Close() }, Fetched: resp.Header.Get(hdrFetched) == "1", Dirty: resp.Header.Get(hdrDirty) == "1"}, nil
}

// Replicate stores o on the peer at addr, durably once it returns nil.
func (c *Client) Replicate(ctx context.Context, addr string, o *Object) error {
	q := objectQuery(o.Info.Bucket, o.Info.Key)
	hdr := http.Header{hdrSeq: {strconv.FormatUint(o.Seq, 10)}}
	if o.Dirty {
		hdr.Set(hdrDirty, "1")
	}
	setObjectHeaders(hdr, o.Info, o.Ver)
	// The peer answers once the body is durable: allow for its sync.
	resp, err := c.do(ctx, c.fetch, http.MethodPut, addr, "/peer/v1/object", q, o.Body, o.Info.Size, hdr)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// Push sends an encoded journal stream (see journal.StreamWriter) to the
// peer at addr.
func (c *Client) Push(ctx context.Context, addr string, stream []byte) error {
	resp, err := c.do(ctx, c.header, http.MethodPost, addr, "/peer/v1/events", "", bytes.NewReader(stream), int64(len(stream)), nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// Sync asks the peer at addr for the events a node with vector v lacks
// and returns the stream; the caller closes it.
func (c *Client) Sync(ctx context.Context, addr string, v journal.Vector) (io.ReadCloser, error) {
	b := journal.AppendVector(nil, v)
	resp, err := c.do(ctx, c.fetch, http.MethodPost, addr, "/peer/v1/sync", "", bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// IsUnreachable reports whether err means the peer could not be asked at
// all (refused, timed out), as opposed to an answer.
func IsUnreachable(err error) bool {
	var pe *Error
	return err != nil && !errors.As(err, &pe)
}
