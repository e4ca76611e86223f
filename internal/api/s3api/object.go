package s3api

import (
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/api/objhttp"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// timeFormat is S3's XML timestamp format.
const timeFormat = "2006-01-02T15:04:05.000Z"

// getObject serves GetObject and HeadObject. Reads go through the node,
// which reads objects it has never seen through from the backend.
func (a *API) getObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	opts := node.GetOptions{
		ReadThrough: true,
		Revalidate:  objhttp.NoCache(r.Header),
	}
	if r.Method == http.MethodHead && !opts.Revalidate {
		info, src, err := a.cfg.Node.Stat(r.Context(), rq.bucket, rq.key, opts)
		if err != nil {
			return a.notFound(r, rq, err)
		}
		return a.answer(w, r, rq, &node.Object{Info: info, Source: src, Content: emptySeeker{}})
	}
	obj, err := a.cfg.Node.Get(r.Context(), rq.bucket, rq.key, opts)
	if err != nil {
		return a.notFound(r, rq, err)
	}
	defer obj.Close()
	return a.answer(w, r, rq, obj)
}

// answer writes an object's headers and, for GET, its body.
func (a *API) answer(w http.ResponseWriter, r *http.Request, rq *request, obj *node.Object) error {
	h := w.Header()
	setObjectHeaders(h, obj.Info)
	h["X-Objstore-Cache"] = []string{obj.CacheStatus()}
	o := objhttp.Object{ETag: obj.ETag, ModTime: obj.ModTime, Size: obj.Size, Content: obj.Content}
	n, err := objhttp.Serve(w, r, o, func(d objhttp.Decision) {
		if d.Status == http.StatusOK && checksumMode(r.Header) {
			for k, v := range obj.Header {
				if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
					h.Set(k, v)
				}
			}
		}
		// Overrides of a signed request (response-content-type=...).
		if rq.sig != nil && !rq.sig.Anonymous && rq.query.hasPrefix("response-") {
			for _, o := range responseOverrides {
				if v := rq.query.Get(o.param); v != "" {
					h.Set(o.header, v)
				}
			}
		}
	})
	a.cfg.Node.AddServed(obj.Source, n)
	switch {
	case errors.Is(err, objhttp.ErrPreconditionFailed):
		return errPrecondition
	case errors.Is(err, objhttp.ErrRangeNotSatisfiable):
		return errInvalidRange
	case err != nil:
		a.log.Warn("body cut short", "bucket", rq.bucket, "key", rq.key, "err", err)
	}
	return nil
}

// checksumMode reports whether the client asks for the object's checksum
// (x-amz-checksum-mode: ENABLED). The map is indexed by the canonical key,
// sparing Header.Get its canonicalization on the path of every GET.
func checksumMode(h http.Header) bool {
	vs := h["X-Amz-Checksum-Mode"]
	return len(vs) > 0 && strings.EqualFold(vs[0], "ENABLED")
}

// responseOverrides are the query parameters that set a header of a
// GetObject answer.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// notFound turns a not-found error into NoSuchBucket when the bucket is
// what is missing.
func (a *API) notFound(r *http.Request, rq *request, err error) error {
	if !errors.Is(err, core.ErrNotFound) || a.cfg.Buckets == nil {
		return err
	}
	if herr := a.cfg.Buckets.HeadBucket(r.Context(), rq.bucket); errors.Is(herr, core.ErrNotFound) {
		return errNoSuchBucket
	}
	return err
}

func setObjectHeaders(h http.Header, info core.Info) {
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h["Content-Type"] = []string{ct}
	for k, v := range info.Header {
		if !strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			h.Set(k, v)
		}
	}
	for k, v := range info.UserMeta {
		h["X-Amz-Meta-"+k] = []string{v}
	}
}

// infoFromRequest reads the metadata of a PUT (or REPLACE copy) from its
// headers.
func infoFromRequest(r *http.Request, rq *request) core.Info {
	info := core.Info{Bucket: rq.bucket, Key: rq.key, Level: core.LevelBackend, ContentType: r.Header.Get("Content-Type")}
	for k, vs := range r.Header {
		if m, ok := strings.CutPrefix(k, "X-Amz-Meta-"); ok && len(vs) > 0 {
			if info.UserMeta == nil {
				info.UserMeta = make(map[string]string)
			}
			info.UserMeta[strings.ToLower(m)] = strings.Join(vs, ",")
		}
	}
	for _, k := range core.StoredHeaders {
		v := r.Header.Get(k)
		if k == "Content-Encoding" && rq.sig != nil {
			v = rq.sig.ContentEncoding // without aws-chunked
		}
		if v != "" {
			if info.Header == nil {
				info.Header = make(map[string]string)
			}
			info.Header[k] = v
		}
	}
	return info
}

// maxObjectSize is S3's limit on one PUT.
const maxObjectSize = 5 << 30

func (a *API) putObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if rq.length < 0 && r.Header.Get("Transfer-Encoding") == "" {
		return errMissingLength
	}
	if rq.length > maxObjectSize {
		return errEntityTooLarge
	}
	if err := a.bucketExists(r, rq.bucket); err != nil {
		return err
	}
	if err := a.putPreconditions(r, rq); err != nil {
		return err
	}
	var opts node.PutOptions
	if v := r.Header.Get("Content-MD5"); v != "" {
		sum, err := sigv4.ParseContentMD5(v)
		if err != nil {
			return err
		}
		opts.ContentMD5 = hex.EncodeToString(sum)
	}
	opts.Trailer = checksums(rq)
	info, err := a.cfg.Node.PutWith(r.Context(), infoFromRequest(r, rq), rq.body, rq.length, opts)
	if err != nil {
		return a.notFound(r, rq, err)
	}
	h := w.Header()
	h.Set("ETag", `"`+info.ETag+`"`)
	for k, v := range info.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			h.Set(k, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// bucketExists answers NoSuchBucket for a write to a bucket the backend
// does not have (a directory backend would create it). A bucket seen once
// is remembered; when the backend cannot be asked, the write goes ahead (a
// write-back node keeps accepting writes during an outage).
func (a *API) bucketExists(r *http.Request, bucket string) error {
	if _, ok := a.known.Load(bucket); ok {
		return nil
	}
	err := a.cfg.Buckets.HeadBucket(r.Context(), bucket)
	if errors.Is(err, core.ErrNotFound) {
		return errNoSuchBucket
	}
	if err == nil {
		a.known.Store(bucket, struct{}{})
	}
	return nil
}

// putPreconditions applies S3's conditional writes: If-None-Match: * fails
// when the object exists, If-Match when its ETag differs.
func (a *API) putPreconditions(r *http.Request, rq *request) error {
	inm, im := r.Header.Get("If-None-Match"), r.Header.Get("If-Match")
	if inm == "" && im == "" {
		return nil
	}
	info, _, err := a.cfg.Node.Stat(r.Context(), rq.bucket, rq.key, node.GetOptions{ReadThrough: true})
	exists := err == nil
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	switch {
	case inm == "*" && exists:
		return errPrecondition
	case im != "" && !exists:
		return errNoSuchKey
	case im != "" && strings.Trim(im, `"`) != info.ETag && im != "*":
		return errPrecondition
	}
	return nil
}

// checksums returns the Trailer of a put: the x-amz-checksum-* values the
// verified body computed, to store with the object.
func checksums(rq *request) func() (map[string]string, error) {
	body, ok := rq.body.(*sigv4.Body)
	if !ok {
		return nil
	}
	return func() (map[string]string, error) {
		cs := body.Checksums()
		if len(cs) == 0 {
			return nil, nil
		}
		m := make(map[string]string, len(cs))
		for _, c := range cs {
			m[http.CanonicalHeaderKey(c.Header())] = c.Value
		}
		return m, nil
	}
}

func (a *API) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	err := a.cfg.Node.Delete(r.Context(), rq.bucket, rq.key)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	Quiet   bool
	Objects []struct {
		Key string
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedKey
	Errors  []deleteError `xml:"Error"`
}

type deletedKey struct{ Key string }

type deleteError struct{ Key, Code, Message string }

// deleteObjects serves DeleteObjects: up to 1000 keys in one request.
func (a *API) deleteObjects(w http.ResponseWriter, r *http.Request, rq *request) error {
	var req deleteRequest
	if err := readXML(rq.body, &req, 2<<20); err != nil {
		return err
	}
	if len(req.Objects) == 0 {
		return errMalformedXML
	}
	if len(req.Objects) > 1000 {
		return errMalformedXML.with("The request must contain no more than 1000 keys.")
	}
	var res deleteResult
	for _, o := range req.Objects {
		err := a.cfg.Node.Delete(r.Context(), rq.bucket, o.Key)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			e := toS3(err)
			res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: e.Code, Message: e.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedKey{Key: o.Key})
		}
	}
	return writeXML(w, res)
}

type copyResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string
	LastModified string
}

// copySource parses x-amz-copy-source: "[/]bucket/key[?versionId=...]",
// URL-encoded.
func copySource(r *http.Request) (bucket, key string, err error) {
	v := r.Header.Get("x-amz-copy-source")
	if i := strings.Index(v, "?"); i >= 0 {
		v = v[:i]
	}
	if u, uerr := url.PathUnescape(v); uerr == nil {
		v = u
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(v, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return "", "", s3err("InvalidArgument", http.StatusBadRequest, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	return bucket, key, nil
}

// openSource opens the source of a copy and checks its
// x-amz-copy-source-if-* preconditions.
func (a *API) openSource(r *http.Request) (*node.Object, error) {
	sb, sk, err := copySource(r)
	if err != nil {
		return nil, err
	}
	src, err := a.cfg.Node.Get(r.Context(), sb, sk, node.GetOptions{ReadThrough: true})
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, errNoSuchKey.with("The specified copy source does not exist.")
		}
		return nil, err
	}
	h := r.Header
	fail := false
	if v := h.Get("x-amz-copy-source-if-match"); v != "" && strings.Trim(v, `"`) != src.ETag {
		fail = true
	}
	if v := h.Get("x-amz-copy-source-if-none-match"); v != "" && strings.Trim(v, `"`) == src.ETag {
		fail = true
	}
	if v := h.Get("x-amz-copy-source-if-unmodified-since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && src.ModTime.Truncate(time.Second).After(t) {
			fail = true
		}
	}
	if v := h.Get("x-amz-copy-source-if-modified-since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !src.ModTime.Truncate(time.Second).After(t) {
			fail = true
		}
	}
	if fail {
		src.Close()
		return nil, errPrecondition
	}
	return src, nil
}

// copyObject serves CopyObject, inside a bucket or across buckets, with
// the metadata of the source (COPY, the default) or of the request
// (REPLACE).
func (a *API) copyObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	src, err := a.openSource(r)
	if err != nil {
		return err
	}
	defer src.Close()
	directive := strings.ToUpper(r.Header.Get("x-amz-metadata-directive"))
	var info core.Info
	switch directive {
	case "", "COPY":
		sb, sk, _ := copySource(r)
		if sb == rq.bucket && sk == rq.key {
			return s3err("InvalidRequest", http.StatusBadRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
		info = src.Info
		info.Bucket, info.Key = rq.bucket, rq.key
		info.Level = max(info.Level, core.LevelBackend)
	case "REPLACE":
		info = infoFromRequest(r, rq)
	default:
		return s3err("InvalidArgument", http.StatusBadRequest, fmt.Sprintf("Unknown metadata directive %q.", directive))
	}
	var opts node.PutOptions
	if strings.Contains(src.ETag, "-") {
		opts.ETag = src.ETag // a multipart ETag is not the MD5 of the body
	}
	stored, err := a.cfg.Node.PutWith(r.Context(), info, src.Content, src.Size, opts)
	if err != nil {
		return a.notFound(r, rq, err)
	}
	return writeXML(w, copyResult{ETag: `"` + stored.ETag + `"`, LastModified: stored.ModTime.UTC().Format(timeFormat)})
}

// emptySeeker is the content of a HEAD answer.
type emptySeeker struct{}

func (emptySeeker) Read([]byte) (int, error)       { return 0, io.EOF }
func (emptySeeker) Seek(int64, int) (int64, error) { return 0, nil }
