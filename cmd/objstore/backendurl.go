package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Kinds of backend a backendSpec names.
const (
	backendFile = "file" // a local directory (fsbackend)
	backendS3   = "s3"   // an S3 bucket (s3backend)
)

// defaultS3Region is the region of an s3:// backend whose URL names none.
const defaultS3Region = "us-east-1"

// backendSpec is a parsed --backend URL: which backend to build and with
// what. Only the fields of its Kind are set.
type backendSpec struct {
	Kind string // backendFile or backendS3

	// Dir is the absolute directory of a file backend.
	Dir string

	// Bucket is the S3 bucket of an s3 backend.
	Bucket string
	// Endpoint is the URL of an S3-compatible service (MinIO, Ceph, ...);
	// empty means AWS's own endpoint for Region.
	Endpoint string
	// Region is the bucket's region, defaultS3Region unless the URL says.
	Region string
	// PathStyle asks for bucket-in-path requests (endpoint/bucket/key)
	// instead of virtual-hosted ones (bucket.endpoint/key), as most
	// S3-compatible services need.
	PathStyle bool
}

// String returns spec as a URL that parseBackendURL reads back to it.
func (b backendSpec) String() string {
	switch b.Kind {
	case backendFile:
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(b.Dir)}).String()
	case backendS3:
		q := url.Values{}
		if b.Endpoint != "" {
			q.Set("endpoint", b.Endpoint)
		}
		q.Set("region", b.Region)
		if b.PathStyle {
			q.Set("path_style", "true")
		}
		return (&url.URL{Scheme: "s3", Host: b.Bucket, RawQuery: q.Encode()}).String()
	default:
		return ""
	}
}

// parseBackendURL parses the --backend flag:
//
//	file:///abs/dir                   objects as files under an absolute directory
//	s3://bucket?region=eu-west-1      an AWS S3 bucket (region defaults to us-east-1)
//	s3://bucket?endpoint=http://localhost:9000&path_style=true
//	                                  an S3-compatible service
//
// An empty raw means file://<data-dir>/origin with dataDir made absolute.
// S3 credentials come from the usual AWS sources (environment, shared
// files, instance role), never from the URL.
func parseBackendURL(raw, dataDir string) (backendSpec, error) {
	if raw == "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return backendSpec{}, fmt.Errorf("default backend under data dir %q: %w", dataDir, err)
		}
		return backendSpec{Kind: backendFile, Dir: filepath.Join(abs, "origin")}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return backendSpec{}, fmt.Errorf("backend URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(raw, u)
	case "s3":
		return parseS3URL(raw, u)
	case "":
		hint := "file:///abs/dir or s3://bucket"
		if strings.HasPrefix(raw, "/") {
			hint = "file://" + raw
		}
		return backendSpec{}, fmt.Errorf("backend URL %q has no scheme: use %s", raw, hint)
	default:
		return backendSpec{}, fmt.Errorf("backend URL %q: unknown scheme %q: use file:///abs/dir or s3://bucket", raw, u.Scheme)
	}
}

func parseFileURL(raw string, u *url.URL) (backendSpec, error) {
	switch {
	case u.Opaque != "":
		return backendSpec{}, fmt.Errorf("backend URL %q: the directory must be absolute, as in file:///abs/dir", raw)
	case u.Host != "" && u.Host != "localhost":
		// file://data/origin parses as host "data", path "/origin".
		return backendSpec{}, fmt.Errorf("backend URL %q: the directory must be absolute, as in file:///abs/dir (three slashes)", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return backendSpec{}, fmt.Errorf("backend URL %q: a file URL takes no user, query or fragment", raw)
	case u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)):
		return backendSpec{}, fmt.Errorf("backend URL %q: the directory must be absolute, as in file:///abs/dir", raw)
	}
	return backendSpec{Kind: backendFile, Dir: filepath.Clean(filepath.FromSlash(u.Path))}, nil
}

func parseS3URL(raw string, u *url.URL) (backendSpec, error) {
	switch {
	case u.Opaque != "" || u.Host == "":
		return backendSpec{}, fmt.Errorf("backend URL %q: no bucket: use s3://bucket", raw)
	case u.User != nil:
		return backendSpec{}, fmt.Errorf("backend URL %q: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use a shared credentials file", raw)
	case u.Port() != "":
		return backendSpec{}, fmt.Errorf("backend URL %q: the host is the bucket name; give a service address as ?endpoint=http://host:port", raw)
	case u.Path != "" && u.Path != "/":
		return backendSpec{}, fmt.Errorf("backend URL %q: key prefixes are not supported; use s3://bucket", raw)
	case u.Fragment != "":
		return backendSpec{}, fmt.Errorf("backend URL %q: a fragment (#...) is not allowed", raw)
	}
	spec := backendSpec{Kind: backendS3, Bucket: u.Host, Region: defaultS3Region}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return backendSpec{}, fmt.Errorf("backend URL %q: query: %w", raw, err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return backendSpec{}, fmt.Errorf("backend URL %q: %s given %d times", raw, name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return backendSpec{}, fmt.Errorf("backend URL %q: endpoint %q must be an http:// or https:// URL with a host", raw, v)
			}
			spec.Endpoint = v
		case "region":
			if v == "" {
				return backendSpec{}, fmt.Errorf("backend URL %q: empty region", raw)
			}
			spec.Region = v
		case "path_style":
			switch v {
			case "true", "1":
				spec.PathStyle = true
			case "false", "0":
				spec.PathStyle = false
			default:
				return backendSpec{}, fmt.Errorf("backend URL %q: path_style %q must be true, false, 1 or 0", raw, v)
			}
		default:
			return backendSpec{}, fmt.Errorf("backend URL %q: unknown parameter %q (known: endpoint, region, path_style)", raw, name)
		}
	}
	return spec, nil
}
