package s3api

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/multipart"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

// Multipart holds multipart uploads until they are completed or aborted;
// *multipart.Store implements it. Methods are safe for concurrent use and
// return the multipart package's sentinel errors. An upload ID belongs to
// one bucket and key: under another, it is multipart.ErrNoSuchUpload.
//
// It has more methods than the API's other interfaces because it is one
// component with one job, which the API takes as one Config field.
type Multipart interface {
	// Create starts an upload of the object info describes.
	Create(ctx context.Context, info core.Info) (uploadID string, err error)
	// PutPart stores a part, replacing any of that number, streaming size
	// bytes (or, if size < 0, all) of body; contentMD5 is hex or empty.
	PutPart(ctx context.Context, bucket, key, uploadID string, number int, body io.Reader, size int64, contentMD5 string) (multipart.Part, error)
	// Parts lists the parts numbered above marker, at most max.
	Parts(ctx context.Context, bucket, key, uploadID string, marker, max int) (multipart.PartList, error)
	// Complete validates parts and returns the object to store, which the
	// caller closes, and then, once it is stored, calls Remove.
	Complete(ctx context.Context, bucket, key, uploadID string, parts []multipart.CompletePart) (*multipart.Object, error)
	// Remove drops a completed upload; one already gone is no error.
	Remove(ctx context.Context, uploadID string) error
	// Abort drops an upload and its parts.
	Abort(ctx context.Context, bucket, key, uploadID string) error
	// Uploads lists a bucket's uploads in progress.
	Uploads(ctx context.Context, bucket string, opts multipart.UploadsOptions) (multipart.UploadList, error)
}

var _ Multipart = (*multipart.Store)(nil)

// multipartErrors are the S3 errors of the multipart package's sentinels.
var multipartErrors = []struct {
	sentinel error
	s3       *Error
}{
	{multipart.ErrNoSuchUpload, s3err("NoSuchUpload", http.StatusNotFound, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")},
	{multipart.ErrInvalidPart, s3err("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")},
	{multipart.ErrInvalidPartOrder, s3err("InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number.")},
	{multipart.ErrEntityTooSmall, s3err("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size.")},
	{multipart.ErrEntityTooLarge, errEntityTooLarge},
	{multipart.ErrInvalidPartNumber, errInvalidPartNumber},
}

var errInvalidPartNumber = s3err("InvalidArgument", http.StatusBadRequest, "Part number must be an integer between 1 and 10000, inclusive")

// multipartError turns a sentinel of the multipart package into its S3
// error, keeping err as the cause for logs; other errors pass unchanged.
func multipartError(err error) error {
	for _, m := range multipartErrors {
		if errors.Is(err, m.sentinel) {
			c := *m.s3
			c.Err = err
			return &c
		}
	}
	return err
}

// multipart returns the store of uploads, or NotImplemented without one.
func (a *API) multipart() (Multipart, error) {
	if a.cfg.Multipart == nil {
		return nil, errNotImplemented
	}
	return a.cfg.Multipart, nil
}

type initiateResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// createMultipart serves CreateMultipartUpload. The object's metadata
// comes from the request's headers, as for PutObject, and is checked now
// rather than when the upload completes.
func (a *API) createMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	if err := core.ValidateKey(rq.key); err != nil {
		return err
	}
	info := infoFromRequest(r, rq)
	if info.UserMeta, err = core.NormalizeUserMeta(info.UserMeta); err != nil {
		return err
	}
	if err := core.ValidateUserMeta(info.UserMeta); err != nil {
		return err
	}
	if err := a.bucketExists(r, rq.bucket); err != nil {
		return err
	}
	id, err := mp.Create(r.Context(), info)
	if err != nil {
		return multipartError(err)
	}
	return writeXML(w, initiateResult{Bucket: rq.bucket, Key: rq.key, UploadID: id})
}

// uploadPartNumber reads the partNumber query parameter.
func uploadPartNumber(q query) (int, error) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > multipart.MaxParts {
		return 0, errInvalidPartNumber
	}
	return n, nil
}

// uploadPart serves UploadPart: the verified payload is streamed to the
// part's file.
func (a *API) uploadPart(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	number, err := uploadPartNumber(rq.query)
	if err != nil {
		return err
	}
	if rq.length < 0 && r.Header.Get("Transfer-Encoding") == "" {
		return errMissingLength
	}
	if rq.length > multipart.DefaultMaxPartSize {
		return errEntityTooLarge
	}
	var md5 string
	if v := r.Header.Get("Content-MD5"); v != "" {
		sum, err := sigv4.ParseContentMD5(v)
		if err != nil {
			return err
		}
		md5 = hex.EncodeToString(sum)
	}
	p, err := mp.PutPart(r.Context(), rq.bucket, rq.key, rq.query.Get("uploadId"), number, rq.body, rq.length, md5)
	if err != nil {
		return multipartError(err)
	}
	h := w.Header()
	h.Set("ETag", `"`+p.ETag+`"`)
	if body, ok := rq.body.(*sigv4.Body); ok {
		for _, c := range body.Checksums() {
			h.Set(c.Header(), c.Value)
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string
	LastModified string
}

// uploadPartCopy serves UploadPartCopy: a part copied from a byte range
// (x-amz-copy-source-range), or all, of an object read through the node.
func (a *API) uploadPartCopy(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	number, err := uploadPartNumber(rq.query)
	if err != nil {
		return err
	}
	src, err := a.openSource(r)
	if err != nil {
		return err
	}
	defer src.Close()
	first, length := int64(0), src.Size
	if v := r.Header.Get("x-amz-copy-source-range"); v != "" {
		var last int64
		first, last, err = copySourceRange(v, src.Size)
		if err != nil {
			return err
		}
		length = last - first + 1
	}
	if length > multipart.DefaultMaxPartSize {
		return errEntityTooLarge
	}
	if _, err := src.Content.Seek(first, io.SeekStart); err != nil {
		return err
	}
	p, err := mp.PutPart(r.Context(), rq.bucket, rq.key, rq.query.Get("uploadId"), number, io.LimitReader(src.Content, length), length, "")
	if err != nil {
		return multipartError(err)
	}
	return writeXML(w, copyPartResult{ETag: `"` + p.ETag + `"`, LastModified: p.ModTime.UTC().Format(timeFormat)})
}

// copySourceRange parses x-amz-copy-source-range, "bytes=first-last", of
// a source of size bytes.
func copySourceRange(v string, size int64) (first, last int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, s3err("InvalidArgument", http.StatusBadRequest, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if last >= size {
		return 0, 0, s3err("InvalidArgument", http.StatusBadRequest, fmt.Sprintf("Range specified is not valid for source object of size: %d", size))
	}
	return first, last, nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber int
		ETag       string
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// maxCompleteXML bounds a CompleteMultipartUpload document: 10,000 parts
// with their checksums take about 2 MiB.
const maxCompleteXML = 4 << 20

// completeMultipart serves CompleteMultipartUpload: the parts, validated,
// are stored through the node as one object with S3's multipart ETag. The
// node caches it and writes it to the backend (which uploads a large
// object in parts itself); only then is the upload removed, so that a
// failed store can be retried.
func (a *API) completeMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	var req completeRequest
	if err := readXML(rq.body, &req, maxCompleteXML); err != nil {
		return err
	}
	if len(req.Parts) == 0 {
		return errMalformedXML
	}
	parts := make([]multipart.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = multipart.CompletePart{Number: p.PartNumber, ETag: p.ETag}
	}
	// S3's conditional writes apply to the object the upload makes.
	if err := a.putPreconditions(r, rq); err != nil {
		return err
	}
	id := rq.query.Get("uploadId")
	obj, err := mp.Complete(r.Context(), rq.bucket, rq.key, id, parts)
	if err != nil {
		return multipartError(err)
	}
	defer obj.Close()
	stored, err := a.cfg.Node.PutWith(r.Context(), obj.Info, obj, obj.Size, node.PutOptions{ETag: obj.ETag})
	if err != nil {
		return a.notFound(r, rq, err)
	}
	obj.Close()
	// The object is stored: a client gone now must not leave the upload
	// behind until the sweep.
	if err := mp.Remove(context.WithoutCancel(r.Context()), id); err != nil {
		a.log.Warn("removing completed multipart upload", "bucket", rq.bucket, "key", rq.key, "upload_id", id, "err", err)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return writeXML(w, completeResult{
		Location: scheme + "://" + r.Host + r.URL.EscapedPath(),
		Bucket:   rq.bucket, Key: rq.key, ETag: `"` + stored.ETag + `"`,
	})
}

// abortMultipart serves AbortMultipartUpload.
func (a *API) abortMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	if err := mp.Abort(r.Context(), rq.bucket, rq.key, rq.query.Get("uploadId")); err != nil {
		return multipartError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []partEntry `xml:"Part"`
	Initiator            owner
	Owner                owner
	StorageClass         string
	EncodingType         string `xml:",omitempty"`
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
}

// listMax reads a max-parts or max-uploads parameter: at most 1000, the
// default.
func listMax(q query, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, s3err("InvalidArgument", http.StatusBadRequest, fmt.Sprintf("Provided %s not an integer or within integer range", name))
	}
	return min(n, 1000), nil
}

// listParts serves ListParts.
func (a *API) listParts(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	q := rq.query
	limit, err := listMax(q, "max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return s3err("InvalidArgument", http.StatusBadRequest, "Provided part-number-marker not an integer or within integer range")
		}
	}
	id := q.Get("uploadId")
	// The store takes 0 for its default; max-parts=0 asks only whether
	// any part follows the marker.
	l, err := mp.Parts(r.Context(), rq.bucket, rq.key, id, marker, max(limit, 1))
	if err != nil {
		return multipartError(err)
	}
	if limit == 0 {
		l = multipart.PartList{Truncated: len(l.Parts) > 0, NextMarker: marker}
	}
	encode := q.Get("encoding-type") == "url"
	res := listPartsResult{
		Bucket: rq.bucket, Key: enc(rq.key, encode), UploadID: id,
		PartNumberMarker: marker, NextPartNumberMarker: l.NextMarker, MaxParts: limit, IsTruncated: l.Truncated,
		Initiator: theOwner, Owner: theOwner, StorageClass: "STANDARD",
	}
	if encode {
		res.EncodingType = "url"
	}
	for _, p := range l.Parts {
		res.Parts = append(res.Parts, partEntry{
			PartNumber: p.Number, LastModified: p.ModTime.UTC().Format(timeFormat),
			ETag: `"` + p.ETag + `"`, Size: p.Size,
		})
	}
	return writeXML(w, res)
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Delimiter          string `xml:",omitempty"`
	Prefix             string
	MaxUploads         int
	IsTruncated        bool
	Uploads            []uploadEntry `xml:"Upload"`
	CommonPrefixes     []commonPrefix
	EncodingType       string `xml:",omitempty"`
}

type uploadEntry struct {
	Key          string
	UploadID     string `xml:"UploadId"`
	Initiator    owner
	Owner        owner
	StorageClass string
	Initiated    string
}

// listMultipartUploads serves ListMultipartUploads.
func (a *API) listMultipartUploads(w http.ResponseWriter, r *http.Request, rq *request) error {
	mp, err := a.multipart()
	if err != nil {
		return err
	}
	q := rq.query
	limit, err := listMax(q, "max-uploads")
	if err != nil {
		return err
	}
	if et := q.Get("encoding-type"); et != "" && et != "url" {
		return s3err("InvalidArgument", http.StatusBadRequest, "Invalid Encoding Method specified in Request")
	}
	if err := a.bucketExists(r, rq.bucket); err != nil {
		return err
	}
	opts := multipart.UploadsOptions{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"),
		KeyMarker: q.Get("key-marker"), UploadIDMarker: q.Get("upload-id-marker"), Max: limit,
	}
	var l multipart.UploadList
	if limit > 0 { // the store takes 0 for its default
		if l, err = mp.Uploads(r.Context(), rq.bucket, opts); err != nil {
			return multipartError(err)
		}
	}
	encode := q.Get("encoding-type") == "url"
	res := listUploadsResult{
		Bucket: rq.bucket, KeyMarker: enc(opts.KeyMarker, encode), UploadIDMarker: opts.UploadIDMarker,
		NextKeyMarker: enc(l.NextKeyMarker, encode), NextUploadIDMarker: l.NextUploadIDMarker,
		Delimiter: enc(opts.Delimiter, encode), Prefix: enc(opts.Prefix, encode),
		MaxUploads: limit, IsTruncated: l.Truncated,
	}
	if encode {
		res.EncodingType = "url"
	}
	for _, u := range l.Uploads {
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: enc(u.Key, encode), UploadID: u.ID, Initiator: theOwner, Owner: theOwner,
			StorageClass: "STANDARD", Initiated: u.Initiated.UTC().Format(timeFormat),
		})
	}
	for _, cp := range l.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp, encode)})
	}
	return writeXML(w, res)
}
