package s3api

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// Node is what the API needs of a node; *node.Node implements it. Methods
// are safe for concurrent use and return the core sentinel errors.
type Node interface {
	Get(ctx context.Context, bucket, key string, opts node.GetOptions) (*node.Object, error)
	Stat(ctx context.Context, bucket, key string, opts node.GetOptions) (core.Info, node.Source, error)
	PutWith(ctx context.Context, info core.Info, body io.Reader, size int64, opts node.PutOptions) (core.Info, error)
	Delete(ctx context.Context, bucket, key string) error
	AddServed(src node.Source, bytes int64)
	// Deleted and Dirty correct a backend listing (see node.Node).
	Deleted(bucket, key string) bool
	Dirty(ctx context.Context, bucket, prefix string) []core.Info
}

var _ Node = (*node.Node)(nil)

// Config configures the API.
type Config struct {
	Node Node
	// Buckets lists objects and manages buckets in the backend.
	Buckets backend.Lister
	// Verifier checks signatures; nil when no credentials are configured,
	// and then only anonymous requests are served (if AllowAnonymous).
	Verifier *sigv4.Verifier
	// AllowAnonymous serves unsigned requests.
	AllowAnonymous bool
	// Domain, when set, enables virtual-hosted addressing: a request for
	// host <bucket>.<Domain> addresses that bucket.
	Domain string
	// Region is what GetBucketLocation answers. Default "us-east-1".
	Region string
	// Multipart holds multipart uploads; nil disables them.
	Multipart Multipart
	// Wrap, when set, wraps each operation's handler (metrics, logging).
	// The wrapper must hand h the ResponseWriter it got, or one whose
	// Unwrap method returns it (as http.ResponseController expects).
	Wrap func(op string, h http.Handler) http.Handler
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
}

// API is the S3 protocol handler.
type API struct {
	cfg   Config
	log   *slog.Logger
	ops   map[string]http.Handler
	known sync.Map // buckets known to exist, by name
}

// opFunc serves one S3 operation; it writes a success response or returns
// an error for the adapter to write as S3 XML.
type opFunc func(w http.ResponseWriter, r *http.Request, rq *request) error

// request is a parsed S3 request.
type request struct {
	bucket, key string
	query       query
	body        io.Reader     // the verified payload
	length      int64         // decoded payload length, -1 if unknown
	sig         *sigv4.Result // nil without a Verifier; else &res
	res         sigv4.Result
	pairs       [10]pair // room for query's pairs: a presigned URL has 7 or 8
	w           reqWriter
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Buckets == nil {
		cfg.Buckets = noBuckets{}
	}
	a := &API{cfg: cfg, log: cfg.Logger, ops: make(map[string]http.Handler)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	wrap := cfg.Wrap
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	for op, fn := range map[string]opFunc{
		"ListBuckets":             a.listBuckets,
		"CreateBucket":            a.createBucket,
		"DeleteBucket":            a.deleteBucket,
		"HeadBucket":              a.headBucket,
		"GetBucketLocation":       a.bucketLocation,
		"GetBucketVersioning":     a.bucketVersioning,
		"ListObjectsV2":           a.listObjectsV2,
		"ListObjects":             a.listObjectsV1,
		"DeleteObjects":           a.deleteObjects,
		"GetObject":               a.getObject,
		"HeadObject":              a.getObject,
		"PutObject":               a.putObject,
		"CopyObject":              a.copyObject,
		"DeleteObject":            a.deleteObject,
		"CreateMultipartUpload":   a.createMultipart,
		"UploadPart":              a.uploadPart,
		"UploadPartCopy":          a.uploadPartCopy,
		"CompleteMultipartUpload": a.completeMultipart,
		"AbortMultipartUpload":    a.abortMultipart,
		"ListParts":               a.listParts,
		"ListMultipartUploads":    a.listMultipartUploads,
		"NotImplemented":          func(http.ResponseWriter, *http.Request, *request) error { return errNotImplemented },
		"MethodNotAllowed":        func(http.ResponseWriter, *http.Request, *request) error { return errMethodNotAllowed },
	} {
		a.ops[op] = wrap(op, a.adapt(fn))
	}
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A canonical key assigned directly: this is the hot path of hits.
	w.Header()["X-Amz-Request-Id"] = []string{requestID()}
	// The address and query, which routing needs, are parsed once, here,
	// and handed to the operation's handler in the context.
	// The request's state comes from a pool and goes back when its
	// handler has returned (nothing keeps it after that): 600 bytes less
	// to allocate and collect per request.
	rq := requests.Get().(*request)
	*rq = request{body: r.Body, length: r.ContentLength}
	rq.query = parseQuery(r.URL, rq.pairs[:0])
	rq.bucket, rq.key = a.address(r)
	op := operation(r.Method, rq.bucket != "", rq.key != "", rq.query, r.Header)
	rq.w = reqWriter{ResponseWriter: w, rq: rq}
	a.ops[op].ServeHTTP(&rq.w, r)
	*rq = request{}
	requests.Put(rq)
}

var requests = sync.Pool{New: func() any { return new(request) }}

// reqWriter carries a request's *request through Config.Wrap's wrappers
// to its operation's handler, which finds it by unwrapping its writer.
// (r.WithContext would carry it too, at the cost of a copy of the
// http.Request on every request.)
type reqWriter struct {
	http.ResponseWriter
	rq *request
}

var (
	_ io.ReaderFrom = (*reqWriter)(nil)
	_ http.Flusher  = (*reqWriter)(nil)
)

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *reqWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom hands r to the wrapped writer's ReadFrom, so that net/http
// sends a file body with sendfile.
func (w *reqWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

// Flush flushes the wrapped writer, if it can.
func (w *reqWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// requestOf returns the *request that ServeHTTP put under w.
func requestOf(w http.ResponseWriter) *request {
	for {
		switch x := w.(type) {
		case *reqWriter:
			return x.rq
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil // a Config.Wrap wrapper broke its contract
		}
	}
}

// operation names the S3 operation a request asks for.
func operation(method string, bucket, key bool, q query, h http.Header) string {
	has := q.Has
	switch {
	case !bucket:
		if method == http.MethodGet {
			return "ListBuckets"
		}
	case !key:
		switch method {
		case http.MethodPut:
			if !q.empty() {
				return "NotImplemented" // bucket sub-resources: acl, policy, ...
			}
			return "CreateBucket"
		case http.MethodDelete:
			if !q.empty() {
				return "NotImplemented"
			}
			return "DeleteBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation"
			case has("versioning"):
				return "GetBucketVersioning"
			case has("uploads"):
				return "ListMultipartUploads"
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			case has("acl"), has("policy"), has("cors"), has("lifecycle"), has("tagging"),
				has("website"), has("logging"), has("encryption"), has("replication"),
				has("notification"), has("object-lock"), has("versions"), has("ownershipControls"),
				has("publicAccessBlock"), has("accelerate"), has("requestPayment"), has("analytics"),
				has("inventory"), has("metrics"), has("intelligent-tiering"), has("policyStatus"):
				return "NotImplemented"
			}
			return "ListObjects"
		}
	default:
		switch method {
		case http.MethodGet:
			if has("uploadId") {
				return "ListParts"
			}
			if has("acl") || has("tagging") || has("retention") || has("legal-hold") || has("attributes") || has("torrent") {
				return "NotImplemented"
			}
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodPut:
			switch {
			case has("partNumber") && has("uploadId") && h.Get("x-amz-copy-source") != "":
				return "UploadPartCopy"
			case has("partNumber") && has("uploadId"):
				return "UploadPart"
			case has("acl") || has("tagging") || has("retention") || has("legal-hold"):
				return "NotImplemented"
			case h.Get("x-amz-copy-source") != "":
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodDelete:
			if has("uploadId") {
				return "AbortMultipartUpload"
			}
			if has("tagging") {
				return "NotImplemented"
			}
			return "DeleteObject"
		case http.MethodPost:
			if has("uploads") {
				return "CreateMultipartUpload"
			}
			if has("uploadId") {
				return "CompleteMultipartUpload"
			}
			if has("select") || has("restore") {
				return "NotImplemented"
			}
		}
	}
	return "MethodNotAllowed"
}

// address returns the bucket and key a request addresses.
func (a *API) address(r *http.Request) (bucket, key string) {
	// The raw path, unescaped once: S3 keys may hold "//" and "..".
	p := r.URL.EscapedPath()
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	p = strings.TrimPrefix(p, "/")
	if a.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if b, ok := strings.CutSuffix(host, "."+a.cfg.Domain); ok && b != "" {
			return b, p
		}
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// adapt authenticates the request, parses it and turns fn's error into an
// S3 XML error.
func (a *API) adapt(fn opFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := requestOf(w)
		if rq == nil {
			writeError(w, r, toS3(errors.New("s3api: a wrapper hid the request's writer")))
			return
		}
		err := a.parse(r, rq)
		if err == nil {
			err = fn(w, r, rq)
		}
		if err == nil {
			return
		}
		e := toS3(err)
		if e.Status >= 500 {
			a.log.Warn("s3 request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", err)
		} else {
			a.log.Debug("s3 request refused", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", err)
		}
		writeError(w, r, e)
	})
}

// parse authenticates r and completes rq, whose address and query
// ServeHTTP parsed, with the verified payload.
func (a *API) parse(r *http.Request, rq *request) error {
	if a.cfg.Verifier != nil {
		res, err := a.cfg.Verifier.VerifyWith(r, &rq.query)
		if err != nil {
			return err
		}
		if res.Anonymous && !a.cfg.AllowAnonymous {
			return errAccessDenied.with("Anonymous requests are not allowed: sign your request.")
		}
		rq.res = res
		rq.sig = &rq.res
		if !res.Anonymous {
			rq.body, rq.length = res.Body, res.DecodedLength
		}
	} else if !a.cfg.AllowAnonymous {
		return errAccessDenied.with("No credentials are configured and anonymous access is off.")
	}
	if rq.bucket != "" {
		return core.ValidateBucket(rq.bucket)
	}
	return nil
}

// requestID returns a request ID: 16 hex digits, unique enough to find a
// request in the logs (it is no secret, so math/rand's fast generator does).
func requestID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// writeXML writes v as an XML document with status 200.
func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return nil
	}
	if err := xml.NewEncoder(w).Encode(v); err != nil {
		return nil // the status is sent; the client sees a short document
	}
	return nil
}

// readXML decodes a request body of at most max bytes into v.
func readXML(body io.Reader, v any, max int64) error {
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > max {
		return errMalformedXML.with("The XML document is too large.")
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return errMalformedXML
	}
	return nil
}

// noBuckets is the Lister of a backend that cannot list.
type noBuckets struct{}

func (noBuckets) List(context.Context, string, backend.ListOptions) (*backend.ListPage, error) {
	return nil, errNotImplemented
}
func (noBuckets) Buckets(context.Context) ([]backend.BucketInfo, error) {
	return nil, errNotImplemented
}
func (noBuckets) CreateBucket(context.Context, string) error { return errNotImplemented }
func (noBuckets) DeleteBucket(context.Context, string) error { return errNotImplemented }
func (noBuckets) HeadBucket(context.Context, string) error   { return nil }
