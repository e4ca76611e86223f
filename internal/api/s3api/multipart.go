package s3api

import (
	"net/http"
)

// Multipart holds multipart uploads until they are completed or aborted.
// (Implemented by the multipart package.)
type Multipart interface{}

func (a *API) createMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) uploadPart(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) uploadPartCopy(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) completeMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) abortMultipart(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) listParts(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}

func (a *API) listMultipartUploads(w http.ResponseWriter, r *http.Request, rq *request) error {
	return errNotImplemented
}
