// Package store keeps cached object bodies as files under one directory.
//
// Guarantees:
//   - A body's path is derived from a SHA-256 of (bucket, key) plus a
//     generation, never from the key itself, so no key can name a path
//     outside the store.
//   - A body gets its final name only once it is complete: it is written
//     to a temp file beside it and renamed. Sync then makes every placed body
//     durable at once (syncfs), and only then may an index record it; so
//     a crash leaves stray temp files and bodies no index entry names,
//     which Sweep and the node's reconciliation remove.
//   - Each write of a key gets a new generation, so a new body never replaces
//     an old one in place: the index says which generation is current, and
//     a reader of the old one keeps reading it until it closes the file.
package store

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Store is a directory of object bodies. It is safe for concurrent use.
type Store struct {
	objs string
	dir  *os.File // the store's directory, for Sync
}

// Open opens (creating if needed) the store under dir. Temp files a
// previous process left behind are removed by Sweep.
func Open(dir string) (*Store, error) {
	s := &Store{objs: filepath.Join(dir, "objects")}
	if err := os.MkdirAll(s.objs, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for i := 0; i < 256; i++ {
		if err := os.MkdirAll(filepath.Join(s.objs, fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := syncDir(s.objs); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.dir = d
	return s, nil
}

// Close releases the store's directory handle.
func (s *Store) Close() error { return s.dir.Close() }

// Sync makes every placed body durable, with their directory entries: one
// syncfs(2) of the store's filesystem, which costs one journal commit where
// an fsync per file and per directory would each cost one. It also flushes
// whatever else is dirty on that filesystem, which a cache disk seldom has
// much of.
func (s *Store) Sync() error {
	if err := syncFS(s.dir); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// Name returns the file name of a body: hex SHA-256 of bucket, a NUL and
// key, then "." and the generation. It contains no path separator.
func Name(bucket, key, gen string) string {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])) + "." + gen
}

// path returns where the body named name lives.
func (s *Store) path(name string) string {
	return filepath.Join(s.objs, name[:2], name)
}

// Path returns the path of the body of (bucket, key, gen).
func (s *Store) Path(bucket, key, gen string) string {
	return s.path(Name(bucket, key, gen))
}

// Open opens a committed body for reading. A missing body returns an error
// wrapping fs.ErrNotExist.
func (s *Store) Open(bucket, key, gen string) (*os.File, error) {
	return os.Open(s.Path(bucket, key, gen))
}

// Remove deletes a committed body; a missing one is not an error.
func (s *Store) Remove(bucket, key, gen string) error {
	return s.RemoveName(Name(bucket, key, gen))
}

// RemoveName deletes the body with the given file name (see Name).
func (s *Store) RemoveName(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove body %s: %w", name, err)
	}
	return nil
}

// tempPrefix starts the names of bodies being written. They are created in
// the directory their body goes to, spread like the bodies, so that
// concurrent writers do not queue on one directory's lock, and renamed
// within it.
const tempPrefix = ".tmp-"

// Sweep calls fn for every committed body with its file name and size,
// and removes the temp files a crashed process left behind. fn may call
// RemoveName on the body it is given. Call it only while nothing writes
// to the store (at start-up): it would remove temp files in use.
func (s *Store) Sweep(fn func(name string, size int64) error) error {
	for i := 0; i < 256; i++ {
		dir := filepath.Join(s.objs, fmt.Sprintf("%02x", i))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("sweep store: %w", err)
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("sweep store: %w", err)
			}
			if !info.Mode().IsRegular() {
				continue
			}
			if strings.HasPrefix(e.Name(), tempPrefix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("sweep store: %w", err)
				}
				continue
			}
			if !strings.Contains(e.Name(), ".") {
				continue
			}
			if err := fn(e.Name(), info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// bufPool holds copy buffers for Temp.ReadFrom.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Temp is a body being written. It computes the MD5 and the size of what
// is written. Close it in every case; Place makes it permanent first.
type Temp struct {
	s         *Store
	f         *os.File
	md5       hash.Hash
	n         int64
	committed bool
}

// NewTemp starts a new body of (bucket, key), in the directory it will be
// placed in.
func (s *Store) NewTemp(bucket, key string) (*Temp, error) {
	name := Name(bucket, key, "")
	f, err := os.CreateTemp(filepath.Join(s.objs, name[:2]), tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("create temp body: %w", err)
	}
	return &Temp{s: s, f: f, md5: md5.New()}, nil
}

// Write appends p to the body.
func (t *Temp) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.md5.Write(p[:n])
	t.n += int64(n)
	return n, err
}

// ReadFrom appends everything r yields to the body. Errors from r are
// returned as they are; errors writing the file are wrapped.
func (t *Temp) ReadFrom(r io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := t.Write(buf[:n]); err != nil {
				return total, fmt.Errorf("write temp body: %w", err)
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Size is the number of bytes written so far.
func (t *Temp) Size() int64 { return t.n }

// ETag is the hex MD5 of the bytes written so far.
func (t *Temp) ETag() string { return hex.EncodeToString(t.md5.Sum(nil)) }

// File is the open body file, for reading back (ReadAt is safe while
// writing continues). It stays valid after Place, until Close.
func (t *Temp) File() *os.File { return t.f }

// Place renames the body into place under (bucket, key, gen) without
// making it durable: a reader may open it at once, but until Store.Sync
// returns a crash may lose it, so record it in the index only after that.
func (t *Temp) Place(bucket, key, gen string) error {
	dst := t.s.Path(bucket, key, gen)
	if err := os.Rename(t.f.Name(), dst); err != nil {
		return fmt.Errorf("place body: %w", err)
	}
	t.committed = true
	return nil
}

// Close closes the file and, unless the body was committed, removes it.
func (t *Temp) Close() error {
	err := t.f.Close()
	if !t.committed {
		if rerr := os.Remove(t.f.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
