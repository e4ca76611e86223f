package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/objstore/objstore/internal/core"
)

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   owner
	Buckets []bucketEntry `xml:"Buckets>Bucket"`
}

type owner struct {
	ID          string
	DisplayName string
}

var theOwner = owner{ID: "objstore", DisplayName: "objstore"}

type bucketEntry struct {
	Name         string
	CreationDate string
}

func (a *API) listBuckets(w http.ResponseWriter, r *http.Request, rq *request) error {
	bs, err := a.cfg.Buckets.Buckets(r.Context())
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Owner: theOwner, Buckets: []bucketEntry{}}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: b.Created.UTC().Format(timeFormat)})
	}
	return writeXML(w, res)
}

func (a *API) createBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := a.cfg.Buckets.CreateBucket(r.Context(), rq.bucket); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+rq.bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (a *API) deleteBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	// Objects not yet uploaded make the bucket non-empty too.
	if len(a.cfg.Node.Dirty(r.Context(), rq.bucket, "")) > 0 {
		return errBucketNotEmpty
	}
	if err := a.cfg.Buckets.DeleteBucket(r.Context(), rq.bucket); err != nil {
		return bucketErr(err)
	}
	a.known.Delete(rq.bucket)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) headBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := a.cfg.Buckets.HeadBucket(r.Context(), rq.bucket); err != nil {
		return bucketErr(err)
	}
	w.Header().Set("x-amz-bucket-region", a.cfg.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

func (a *API) bucketLocation(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := a.cfg.Buckets.HeadBucket(r.Context(), rq.bucket); err != nil {
		return bucketErr(err)
	}
	region := a.cfg.Region
	if region == "us-east-1" {
		region = "" // as S3 answers for us-east-1
	}
	return writeXML(w, locationConstraint{Region: region})
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
}

// bucketVersioning answers that versioning was never enabled: objstore
// keeps one version of each object.
func (a *API) bucketVersioning(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := a.cfg.Buckets.HeadBucket(r.Context(), rq.bucket); err != nil {
		return bucketErr(err)
	}
	return writeXML(w, versioningConfiguration{})
}

// bucketErr maps not-found on a bucket operation to NoSuchBucket.
func bucketErr(err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return errNoSuchBucket
	}
	return err
}
