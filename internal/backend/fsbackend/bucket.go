package fsbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// markerName is the file that records when a bucket was created. Its
// name is no shard's and starts with a dot, so neither List nor New's
// cleanup of temporary files takes it for something else.
const markerName = ".bucket.json"

// marker is the content of a bucket's marker file.
type marker struct {
	Created time.Time `json:"created"`
}

// CreateBucket creates an empty bucket. A bucket that exists, whether
// made by CreateBucket or by a Put, is backend.ErrBucketExists.
func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return bucketError("create bucket", bucket, err)
	}
	lock := b.bucketLock(bucket)
	lock.Lock()
	defer lock.Unlock()
	created, err := b.createBucketDir(bucket)
	if err == nil && !created {
		err = backend.ErrBucketExists
	}
	if err != nil {
		return bucketError("create bucket", bucket, err)
	}
	return nil
}

// createBucketDir creates the directory of bucket with its marker, and
// reports false if it existed already. The caller holds the bucket's
// lock, for reading at least.
func (b *Backend) createBucketDir(bucket string) (created bool, err error) {
	dir := filepath.Join(b.root, bucket)
	if err := os.Mkdir(dir, dirPerm); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("create bucket directory: %w", err)
	}
	// A crash before the marker is in place leaves a bucket without one,
	// which Buckets dates by its directory instead.
	data, err := json.Marshal(marker{Created: time.Now().UTC()})
	if err != nil {
		return false, fmt.Errorf("encode bucket marker: %w", err)
	}
	tmp, err := writeTemp(dir, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("write bucket marker: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, markerName)); err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("commit bucket marker: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, err
	}
	return true, syncDir(b.root)
}

// DeleteBucket deletes a bucket that holds no objects.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return bucketError("delete bucket", bucket, err)
	}
	// The write lock waits for the Puts into bucket in flight and keeps
	// new ones out, so that no object appears between the check and the
	// removal.
	lock := b.bucketLock(bucket)
	lock.Lock()
	defer lock.Unlock()
	if err := b.deleteBucket(bucket); err != nil {
		return bucketError("delete bucket", bucket, err)
	}
	return nil
}

func (b *Backend) deleteBucket(bucket string) error {
	dir := filepath.Join(b.root, bucket)
	shards, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return core.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read bucket directory: %w", err)
	}
	for _, shard := range shards {
		if !shard.IsDir() || !isShard(shard.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, shard.Name()))
		if err != nil {
			return fmt.Errorf("read shard directory: %w", err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".json") {
				return backend.ErrBucketNotEmpty
			}
		}
	}
	// What is left are the marker, empty shards and bodies a crash
	// orphaned. A failure halfway leaves an empty bucket, still usable.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove bucket directory: %w", err)
	}
	return syncDir(b.root)
}

// HeadBucket reports whether bucket exists (nil) or not (core.ErrNotFound).
func (b *Backend) HeadBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return bucketError("head bucket", bucket, err)
	}
	fi, err := os.Stat(filepath.Join(b.root, bucket))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = core.ErrNotFound
	case err == nil && !fi.IsDir():
		err = fmt.Errorf("%s is not a directory", filepath.Join(b.root, bucket))
	}
	if err != nil {
		return bucketError("head bucket", bucket, err)
	}
	return nil
}

// Buckets lists the buckets, sorted by name: the directories under the
// root whose names are valid bucket names. A bucket is dated by its
// marker, or by its directory's modification time if it has none (a
// crash between the two, or a root written before markers existed).
func (b *Backend) Buckets(ctx context.Context) ([]backend.BucketInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, bucketError("list buckets", "", err)
	}
	entries, err := os.ReadDir(b.root) // sorted by name
	if err != nil {
		return nil, bucketError("list buckets", "", err)
	}
	var buckets []backend.BucketInfo
	for _, e := range entries {
		if !e.IsDir() || core.ValidateBucket(e.Name()) != nil {
			continue
		}
		created, err := b.created(e)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return nil, bucketError("list buckets", "", err)
		}
		buckets = append(buckets, backend.BucketInfo{Name: e.Name(), Created: created})
	}
	return buckets, nil
}

// created returns when the bucket in directory e was created.
func (b *Backend) created(e fs.DirEntry) (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(b.root, e.Name(), markerName))
	if err == nil {
		var m marker
		if err := json.Unmarshal(data, &m); err == nil && !m.Created.IsZero() {
			return m.Created, nil
		}
	}
	fi, err := e.Info()
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime().UTC(), nil
}

// bucketError gives err the context of op on bucket (none when bucket is
// ""): sentinel and canceled errors stay plain wrapped errors, anything
// else, a deadline included, is a *core.BackendError.
func bucketError(op, bucket string, err error) error {
	if bucket != "" {
		err = fmt.Errorf("%s: %w", bucket, err)
	}
	switch {
	case errors.Is(err, core.ErrNotFound),
		errors.Is(err, backend.ErrBucketExists),
		errors.Is(err, backend.ErrBucketNotEmpty),
		errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	}
	return &core.BackendError{Op: op, Err: err}
}
