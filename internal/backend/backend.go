// Package backend defines the origin store objstore caches: a bucket of
// objects addressed by (bucket, key), such as Amazon S3 or a local directory.
//
// Implementations live in sub-packages named by role (s3backend, fsbackend)
// and must all pass the shared suite in backendtest.
package backend

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// Backend is the origin bucket store.
//
// Implementations must be safe for concurrent use. Get, Head and Delete of
// a missing object return an error wrapping core.ErrNotFound (Delete of a
// missing object may also succeed, as S3's does). A conditional Get whose
// IfNoneMatch equals the current ETag returns an error wrapping
// core.ErrNotModified. Any other failure (unreachable, refused, server
// error) is returned wrapped in a *core.BackendError.
type Backend interface {
	// Get streams an object. The caller must close Object.Body.
	Get(ctx context.Context, bucket, key string, opts GetOptions) (*Object, error)
	// Head returns an object's metadata without its body.
	Head(ctx context.Context, bucket, key string) (core.Info, error)
	// Put stores size bytes of body under key with info's ContentType,
	// UserMeta and Header, and returns the ETag the backend assigned.
	// body is seekable so that a retry or a multipart upload can re-read it
	// without buffering it in memory.
	Put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) (etag string, err error)
	// Delete removes an object.
	Delete(ctx context.Context, bucket, key string) error
}

// GetOptions qualifies a Get.
type GetOptions struct {
	// Range, when non-nil, asks for part of the object only.
	Range *Range
	// IfNoneMatch, when set, is an ETag (without quotes): if the object
	// still has it, Get returns core.ErrNotModified and no body.
	IfNoneMatch string
}

// Range is a byte range of an object: Length bytes from Offset, or to the
// end when Length < 0.
type Range struct {
	Offset, Length int64
}

// Object is the result of Get.
type Object struct {
	// Info describes the whole object: Info.Size is the full size even
	// when a Range was requested.
	core.Info
	// Body streams the requested bytes; Length of them.
	Body   io.ReadCloser
	Length int64
}

// Lister lists a backend's objects and manages its buckets; the S3 API
// needs it, the cache does not.
//
// Implementations must be safe for concurrent use. Operations on a missing
// bucket return an error wrapping core.ErrNotFound; CreateBucket of a bucket
// that exists returns one wrapping ErrBucketExists, DeleteBucket of one that
// holds objects one wrapping ErrBucketNotEmpty. Other failures are
// *core.BackendError.
type Lister interface {
	// List returns, in key order, up to opts.MaxKeys objects and common
	// prefixes of bucket, as S3's ListObjectsV2 does.
	List(ctx context.Context, bucket string, opts ListOptions) (*ListPage, error)
	// Buckets lists the buckets, by name.
	Buckets(ctx context.Context) ([]BucketInfo, error)
	// CreateBucket creates a bucket.
	CreateBucket(ctx context.Context, bucket string) error
	// DeleteBucket deletes an empty bucket.
	DeleteBucket(ctx context.Context, bucket string) error
	// HeadBucket reports whether a bucket exists (nil) or not (ErrNotFound).
	HeadBucket(ctx context.Context, bucket string) error
}

// ListOptions selects what List returns. Keys are compared as bytes (their
// UTF-8 encoding), as S3 does.
type ListOptions struct {
	// Prefix limits the listing to keys that begin with it.
	Prefix string
	// Delimiter, when set, rolls up every key that contains it after
	// Prefix into one common prefix: the key up to and including the
	// first Delimiter after Prefix. A common prefix is one entry however
	// many keys it stands for, and sorts among the keys by its own bytes.
	Delimiter string
	// StartAfter lists only keys greater than it. A common prefix is
	// returned when one of those keys rolls up into it, even if the
	// prefix itself sorts before StartAfter (as on S3: StartAfter "a/b"
	// with Delimiter "/" still yields "a/" for key "a/c"), except the
	// common prefix equal to StartAfter, which is never returned. Paging
	// with StartAfter set to the last key or common prefix of the
	// previous page therefore returns every entry exactly once.
	StartAfter string
	// MaxKeys bounds objects plus common prefixes returned: 0 means 1000,
	// larger values are cut to 1000 as on S3, and a negative one is
	// core.ErrInvalidArgument.
	MaxKeys int
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects        []core.Info // Bucket, Key, Size, ETag, ModTime at least
	CommonPrefixes []string
	// Truncated is set when more entries follow; the next page starts
	// after the last object or prefix of this one.
	Truncated bool
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// Errors of Lister.
var (
	ErrBucketExists   = errors.New("bucket already exists")
	ErrBucketNotEmpty = errors.New("bucket not empty")
)
