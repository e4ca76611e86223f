package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/sigv4"
)

// Error is an S3 error: its code, HTTP status and message.
type Error struct {
	Code    string
	Status  int
	Message string
	Err     error // the cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func s3err(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

// The S3 errors the API answers besides those of sigv4 and of the node.
var (
	errNoSuchKey        = s3err("NoSuchKey", http.StatusNotFound, "The specified key does not exist.")
	errNoSuchBucket     = s3err("NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist.")
	errEntityTooLarge   = s3err("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size.")
	errInvalidRange     = s3err("InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable")
	errPrecondition     = s3err("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	errMalformedXML     = s3err("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	errNotImplemented   = s3err("NotImplemented", http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented.")
	errMethodNotAllowed = s3err("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
	errAccessDenied     = s3err("AccessDenied", http.StatusForbidden, "Access Denied")
	errBucketExists     = s3err("BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it.")
	errBucketNotEmpty   = s3err("BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty.")
	errMissingLength    = s3err("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
)

// with returns a copy of e with another message.
func (e *Error) with(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// toS3 maps any error to the S3 error to answer.
func toS3(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		return &Error{Code: ve.Code, Status: ve.Status, Message: ve.Message, Err: err}
	}
	var be *core.BackendError
	wrap := func(e *Error) *Error { c := *e; c.Err = err; return &c }
	switch {
	case errors.Is(err, core.ErrNotFound):
		return wrap(errNoSuchKey)
	case errors.Is(err, core.ErrKeyTooLong):
		return &Error{Code: "KeyTooLongError", Status: http.StatusBadRequest, Message: "Your key is too long.", Err: err}
	case errors.Is(err, core.ErrInvalidKey):
		return &Error{Code: "InvalidArgument", Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, core.ErrInvalidBucket):
		return &Error{Code: "InvalidBucketName", Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, core.ErrMetaTooLarge):
		return &Error{Code: "MetadataTooLarge", Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, core.ErrIncompleteBody):
		return &Error{Code: "IncompleteBody", Status: http.StatusBadRequest, Message: "You did not provide the number of bytes specified by the Content-Length HTTP header.", Err: err}
	case errors.Is(err, core.ErrBadDigest):
		return &Error{Code: "BadDigest", Status: http.StatusBadRequest, Message: "The Content-MD5 you specified did not match what we received.", Err: err}
	case errors.Is(err, core.ErrInvalidArgument):
		return &Error{Code: "InvalidArgument", Status: http.StatusBadRequest, Message: err.Error(), Err: err}
	case errors.Is(err, core.ErrInsufficientStorage):
		return &Error{Code: "InsufficientStorage", Status: http.StatusInsufficientStorage, Message: err.Error(), Err: err}
	case errors.Is(err, backend.ErrBucketExists):
		return wrap(errBucketExists)
	case errors.Is(err, backend.ErrBucketNotEmpty):
		return wrap(errBucketNotEmpty)
	case errors.As(err, &be):
		return &Error{Code: "ServiceUnavailable", Status: http.StatusServiceUnavailable, Message: "The backend store failed: " + be.Error(), Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Code: "RequestTimeout", Status: http.StatusBadRequest, Message: "The request was cancelled.", Err: err}
	}
	return &Error{Code: "InternalError", Status: http.StatusInternalServerError, Message: "We encountered an internal error. Please try again.", Err: err}
}

type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
}

// writeError writes e as S3's XML error document (no body for HEAD).
// The object headers a GET set before failing (412, 416) go: an error
// document is not the object, and its Content-Encoding would make clients
// decode the XML as, say, gzip.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Last-Modified")
	for _, k := range core.StoredHeaders {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-Meta-") || strings.HasPrefix(k, "X-Amz-Checksum-") {
			delete(h, k)
		}
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	doc := errorDoc{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: h.Get("x-amz-request-id")}
	w.Write([]byte(xml.Header))
	xml.NewEncoder(w).Encode(doc)
}
