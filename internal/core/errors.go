package core

import (
	"errors"
	"fmt"
)

// Sentinel errors shared across packages. Callers test them with errors.Is;
// producers wrap them with context ("get %q: %w").
var (
	// ErrNotFound: the object (or bucket) does not exist. Every backend
	// returns an error wrapping it for a missing object.
	ErrNotFound = errors.New("not found")
	// ErrDeleted: the object was deleted through objstore (a tombstone).
	// It wraps ErrNotFound, so errors.Is(err, ErrNotFound) holds too.
	ErrDeleted = fmt.Errorf("deleted: %w", ErrNotFound)
	// ErrNotModified: a conditional backend read found the cached ETag current.
	ErrNotModified = errors.New("not modified")
	// ErrInvalidKey: the key is empty, longer than MaxKeyLen or not UTF-8.
	ErrInvalidKey = errors.New("invalid key")
	// ErrKeyTooLong: the key is longer than MaxKeyLen. It wraps
	// ErrInvalidKey.
	ErrKeyTooLong = fmt.Errorf("key too long: %w", ErrInvalidKey)
	// ErrInvalidBucket: the bucket name is not a valid S3 bucket name.
	ErrInvalidBucket = errors.New("invalid bucket name")
	// ErrMetaTooLarge: user metadata exceeds MaxUserMetaLen.
	ErrMetaTooLarge = errors.New("user metadata too large")
	// ErrInvalidArgument: a request parameter is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrIncompleteBody: the body was shorter or longer than its declared length.
	ErrIncompleteBody = errors.New("body length does not match Content-Length")
	// ErrInsufficientStorage: the cache is full of objects that may not be
	// evicted (dirty or level 0), so nothing more can be stored.
	ErrInsufficientStorage = errors.New("insufficient storage: cache is full of objects that cannot be evicted (not yet uploaded, or consistency level 0)")
	// ErrBadDigest: the body does not match the checksum the client sent.
	ErrBadDigest = errors.New("body does not match its digest")
	// ErrUnavailable: the cluster could not give the guarantee asked for
	// (a write-back put no other node took a copy of); try again. APIs
	// answer it with 503.
	ErrUnavailable = errors.New("service unavailable")
)

// BackendError reports a failed backend operation other than not-found:
// the backend is unreachable or answered with an error. APIs answer it
// with 502/503.
type BackendError struct {
	Op  string // get, head, put, delete
	Err error
}

func (e *BackendError) Error() string { return "backend " + e.Op + ": " + e.Err.Error() }
func (e *BackendError) Unwrap() error { return e.Err }
