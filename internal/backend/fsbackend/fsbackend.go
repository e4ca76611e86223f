package fsbackend

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

const (
	tmpPrefix = ".tmp-"
	dirPerm   = 0o700
)

// Backend stores buckets as directories under a root. It is safe for
// concurrent use; see the package doc for its guarantees.
type Backend struct {
	root string
	// locks serialise the commit of a key against reads and deletes of
	// it, striped by the first byte of the key's hash.
	locks [256]sync.RWMutex
	// bucketLocks keep DeleteBucket and CreateBucket (writers) apart from
	// Puts and Deletes (readers, for their whole length) in the same
	// bucket, striped by a hash of the bucket name.
	bucketLocks [64]sync.RWMutex
	seed        maphash.Seed
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend rooted at root, creating the directory if needed
// and removing temporary files left by a crash.
func New(root string) (*Backend, error) {
	if root == "" {
		return nil, fmt.Errorf("fsbackend: %w: empty root", core.ErrInvalidArgument)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsbackend: root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("fsbackend: create root: %w", err)
	}
	if err := removeTemps(abs); err != nil {
		return nil, fmt.Errorf("fsbackend: %w", err)
	}
	return &Backend{root: abs, seed: maphash.MakeSeed()}, nil
}

// removeTemps deletes the temporary files in every bucket directory. Only
// a crash leaves any, since Put removes its own on failure.
func removeTemps(root string) error {
	buckets, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	for _, b := range buckets {
		if !b.IsDir() {
			continue
		}
		dir := filepath.Join(root, b.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("list bucket %s: %w", b.Name(), err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), tmpPrefix) {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale temporary file: %w", err)
			}
		}
	}
	return nil
}

// Get streams an object, or the part of it opts.Range asks for.
func (b *Backend) Get(ctx context.Context, bucket, key string, opts backend.GetOptions) (*backend.Object, error) {
	l, err := b.locate(ctx, "get", bucket, key)
	if err != nil {
		return nil, err
	}
	if r := opts.Range; r != nil && r.Offset < 0 {
		return nil, fmt.Errorf("get %s %q: %w: negative range offset %d", bucket, key, core.ErrInvalidArgument, r.Offset)
	}
	m, f, err := b.open(l, key, opts.IfNoneMatch)
	if err != nil {
		return nil, opError("get", bucket, key, err)
	}
	off, n := int64(0), m.Size
	if r := opts.Range; r != nil {
		if r.Offset > m.Size {
			f.Close()
			return nil, fmt.Errorf("get %s %q: %w: range offset %d is past the end of a %d-byte object",
				bucket, key, core.ErrInvalidArgument, r.Offset, m.Size)
		}
		off, n = r.Offset, m.Size-r.Offset
		if r.Length >= 0 && r.Length < n {
			n = r.Length
		}
	}
	return &backend.Object{
		Info:   m.info(bucket),
		Body:   fileBody{io.NewSectionReader(f, off, n), f},
		Length: n,
	}, nil
}

// fileBody reads a section of an open file and closes the file.
type fileBody struct {
	io.Reader
	io.Closer
}

// Head returns an object's metadata.
func (b *Backend) Head(ctx context.Context, bucket, key string) (core.Info, error) {
	l, err := b.locate(ctx, "head", bucket, key)
	if err != nil {
		return core.Info{}, err
	}
	l.lock.RLock()
	defer l.lock.RUnlock()
	m, err := readMeta(l, key)
	if err == nil {
		err = checkBody(l, m)
	}
	if err != nil {
		return core.Info{}, opError("head", bucket, key, err)
	}
	return m.info(bucket), nil
}

// Put stores size bytes read from body's current position under key,
// creating the bucket directory if it does not exist yet.
func (b *Backend) Put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) (string, error) {
	l, err := b.locate(ctx, "put", bucket, key)
	if err != nil {
		return "", err
	}
	if size < 0 {
		return "", fmt.Errorf("put %s %q: %w: negative size %d", bucket, key, core.ErrInvalidArgument, size)
	}
	if err := core.ValidateUserMeta(info.UserMeta); err != nil {
		return "", fmt.Errorf("put %s %q: %w", bucket, key, err)
	}
	lock := b.bucketLock(bucket)
	lock.RLock()
	etag, err := b.put(ctx, l, key, body, size, info)
	lock.RUnlock()
	if err != nil {
		return "", opError("put", bucket, key, err)
	}
	return etag, nil
}

func (b *Backend) put(ctx context.Context, l location, key string, body io.Reader, size int64, info core.Info) (etag string, err error) {
	if err := b.mkdirs(l); err != nil {
		return "", err
	}
	bodyTmp, etag, err := writeBody(ctx, l.bucketDir, body, size)
	if err != nil {
		return "", err
	}
	defer removeOnError(bodyTmp, &err)

	data, err := json.Marshal(newMeta(key, size, etag, info))
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	metaTmp, err := writeTemp(l.bucketDir, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("write metadata: %w", err)
	}
	defer removeOnError(metaTmp, &err)

	l.lock.Lock()
	defer l.lock.Unlock()
	// The previous version's body, if it has another name, goes once the
	// new sidecar is in place. An unreadable sidecar is overwritten; its
	// body, which cannot be named, stays behind unread.
	old, oldErr := readMeta(l, key)
	if err := os.Rename(bodyTmp, l.bodyPath(etag)); err != nil {
		return "", fmt.Errorf("commit body: %w", err)
	}
	if err := os.Rename(metaTmp, l.metaPath()); err != nil {
		return "", fmt.Errorf("commit metadata: %w", err)
	}
	if err := syncDir(l.shardDir); err != nil {
		return "", err
	}
	if oldErr == nil && old.ETag != etag {
		// The new version is committed: failing to remove the old body
		// only leaves an orphan that nothing reads, so the error is not
		// worth failing the Put for.
		_ = os.Remove(l.bodyPath(old.ETag))
	}
	return etag, nil
}

// Delete removes an object. Deleting a missing object succeeds.
func (b *Backend) Delete(ctx context.Context, bucket, key string) error {
	l, err := b.locate(ctx, "delete", bucket, key)
	if err != nil {
		return err
	}
	// Once the sidecar is gone the bucket may be empty: keep DeleteBucket
	// out until the removal is synced.
	bl := b.bucketLock(bucket)
	bl.RLock()
	defer bl.RUnlock()
	l.lock.Lock()
	defer l.lock.Unlock()
	m, err := readMeta(l, key)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = remove(l, m)
	}
	if err != nil {
		return opError("delete", bucket, key, err)
	}
	return nil
}

// remove deletes the sidecar first, so that the object is gone even if
// the body cannot be removed.
func remove(l location, m meta) error {
	if err := os.Remove(l.metaPath()); err != nil {
		return fmt.Errorf("remove metadata: %w", err)
	}
	if err := syncDir(l.shardDir); err != nil {
		return err
	}
	if err := os.Remove(l.bodyPath(m.ETag)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove body: %w", err)
	}
	return nil
}

// mkdirs creates the bucket (as CreateBucket does) and shard directories
// of l if needed, and syncs their parents so that the new entries survive
// a crash along with the files in them. The caller holds the bucket's
// read lock.
func (b *Backend) mkdirs(l location) error {
	if _, err := os.Stat(l.shardDir); err == nil {
		return nil
	}
	if _, err := b.createBucketDir(l.bucket); err != nil {
		return err
	}
	if err := os.Mkdir(l.shardDir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create shard directory: %w", err)
	}
	return syncDir(l.bucketDir)
}

// bucketLock returns the lock of bucket's stripe.
func (b *Backend) bucketLock(bucket string) *sync.RWMutex {
	return &b.bucketLocks[maphash.String(b.seed, bucket)%uint64(len(b.bucketLocks))]
}

// location is where a key's files live.
type location struct {
	bucket    string
	bucketDir string
	shardDir  string
	base      string // shardDir/<hex sha256 of key>
	lock      *sync.RWMutex
}

func (l location) metaPath() string            { return l.base + ".json" }
func (l location) bodyPath(etag string) string { return l.base + "." + etag }

// locate validates the arguments of op, checks that ctx is live and maps
// the key to its files.
func (b *Backend) locate(ctx context.Context, op, bucket, key string) (location, error) {
	if err := core.ValidateBucket(bucket); err != nil {
		return location{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := core.ValidateKey(key); err != nil {
		return location{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return location{}, opError(op, bucket, key, err)
	}
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	bucketDir := filepath.Join(b.root, bucket)
	shardDir := filepath.Join(bucketDir, h[:2])
	return location{
		bucket:    bucket,
		bucketDir: bucketDir,
		shardDir:  shardDir,
		base:      filepath.Join(shardDir, h),
		lock:      &b.locks[sum[0]],
	}, nil
}

// open reads the sidecar and opens the body it names, under the key's
// read lock so that both belong to the same version. When ifNoneMatch is
// the current ETag it returns core.ErrNotModified without opening the
// body.
func (b *Backend) open(l location, key, ifNoneMatch string) (meta, *os.File, error) {
	l.lock.RLock()
	defer l.lock.RUnlock()
	m, err := readMeta(l, key)
	if err != nil {
		return meta{}, nil, err
	}
	if ifNoneMatch != "" && strings.Trim(ifNoneMatch, `"`) == m.ETag {
		return meta{}, nil, core.ErrNotModified
	}
	f, err := os.Open(l.bodyPath(m.ETag))
	if err != nil {
		return meta{}, nil, fmt.Errorf("open body: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != m.Size {
		err = fmt.Errorf("body has %d bytes, metadata says %d", fi.Size(), m.Size)
	}
	if err != nil {
		f.Close()
		return meta{}, nil, err
	}
	return m, f, nil
}

// readMeta reads a key's sidecar; a missing one is core.ErrNotFound.
func readMeta(l location, key string) (meta, error) {
	data, err := os.ReadFile(l.metaPath())
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, core.ErrNotFound
	}
	if err != nil {
		return meta{}, fmt.Errorf("read metadata: %w", err)
	}
	return decodeMeta(data, key)
}

// checkBody reports whether the body a sidecar names is present with the
// size it records: a missing or short body means the directory was
// tampered with, not that the object is missing.
func checkBody(l location, m meta) error {
	fi, err := os.Stat(l.bodyPath(m.ETag))
	if err != nil {
		return fmt.Errorf("stat body: %w", err)
	}
	if fi.Size() != m.Size {
		return fmt.Errorf("body has %d bytes, metadata says %d", fi.Size(), m.Size)
	}
	return nil
}

// writeBody copies exactly size bytes of body into a synced temporary file
// in dir and returns its name and the hex MD5 of the bytes.
func writeBody(ctx context.Context, dir string, body io.Reader, size int64) (name, etag string, err error) {
	h := md5.New()
	name, err = writeTemp(dir, func(f *os.File) error {
		n, err := io.CopyN(io.MultiWriter(f, h), ctxReader{ctx, body}, size)
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: got %d bytes, want %d", core.ErrIncompleteBody, n, size)
		}
		if err != nil {
			return fmt.Errorf("write body: %w", err)
		}
		var one [1]byte
		switch _, err := io.ReadFull(body, one[:]); {
		case err == nil:
			return fmt.Errorf("%w: more than %d bytes", core.ErrIncompleteBody, size)
		case !errors.Is(err, io.EOF):
			return fmt.Errorf("read body: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return name, hex.EncodeToString(h.Sum(nil)), nil
}

// writeTemp creates a temporary file in dir, fills it with write, syncs
// and closes it. On failure the file is removed.
func writeTemp(dir string, write func(*os.File) error) (name string, err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	defer removeOnError(f.Name(), &err)
	if err := write(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

func removeOnError(name string, err *error) {
	if *err != nil {
		_ = os.Remove(name)
	}
}

// syncDir makes the renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a long copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// opError gives err the operation's context. Not-found, not-modified,
// short-body and canceled errors stay plain wrapped errors; everything
// else, a deadline included, is a failure of the store, reported as a
// *core.BackendError (as s3backend does).
func opError(op, bucket, key string, err error) error {
	switch {
	case errors.Is(err, core.ErrNotFound),
		errors.Is(err, core.ErrNotModified),
		errors.Is(err, core.ErrIncompleteBody),
		errors.Is(err, context.Canceled):
		return fmt.Errorf("%s %s %q: %w", op, bucket, key, err)
	}
	return &core.BackendError{Op: op, Err: fmt.Errorf("%s %q: %w", bucket, key, err)}
}
