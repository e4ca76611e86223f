// Package store keeps cached object bodies as files under one directory.
//
// Guarantees:
//   - A body's path is derived from a SHA-256 of (bucket, key) plus a
//     generation, never from the key itself, so no key can name a path
//     outside the store.
//   - A body becomes visible under its final name only once it is complete
//     and durable: it is written to tmp/, fsynced, renamed into objects/ and
//     the directory fsynced. A crash leaves at most stray temp files, which
//     Open removes.
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
	tmp  string
	objs string
}

// Open opens (creating if needed) the store under dir and removes any temp
// files a previous process left behind.
func Open(dir string) (*Store, error) {
	s := &Store{tmp: filepath.Join(dir, "tmp"), objs: filepath.Join(dir, "objects")}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("open store: clear temp dir: %w", err)
	}
	for _, d := range []string{s.tmp, s.objs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
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
	return s, nil
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

// Walk calls fn for every committed body with its file name and size.
// fn may call RemoveName on the body it is given.
func (s *Store) Walk(fn func(name string, size int64) error) error {
	for i := 0; i < 256; i++ {
		dir := filepath.Join(s.objs, fmt.Sprintf("%02x", i))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("walk store: %w", err)
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("walk store: %w", err)
			}
			if !info.Mode().IsRegular() || !strings.Contains(e.Name(), ".") {
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
// is written. Close it in every case; Commit makes it permanent first.
type Temp struct {
	s         *Store
	f         *os.File
	md5       hash.Hash
	n         int64
	committed bool
	placed    string // final path after Place
}

// NewTemp starts a new body in the temp directory.
func (s *Store) NewTemp() (*Temp, error) {
	f, err := os.CreateTemp(s.tmp, "body-")
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
// writing continues). It stays valid after Commit, until Close.
func (t *Temp) File() *os.File { return t.f }

// Commit makes the body durable under (bucket, key, gen): fsync, rename
// into place, fsync the directory. The file stays open for reading.
func (t *Temp) Commit(bucket, key, gen string) error {
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("commit body: sync: %w", err)
	}
	dst := t.s.Path(bucket, key, gen)
	if err := os.Rename(t.f.Name(), dst); err != nil {
		return fmt.Errorf("commit body: %w", err)
	}
	t.committed = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("commit body: %w", err)
	}
	return nil
}

// Place renames the body into place under (bucket, key, gen) without
// making it durable: a reader may open it at once, but until Persist returns
// a crash may lose it. Use it only for a body that exists elsewhere too (a
// fill from the backend), and record it in the index only after Persist.
func (t *Temp) Place(bucket, key, gen string) error {
	dst := t.s.Path(bucket, key, gen)
	if err := os.Rename(t.f.Name(), dst); err != nil {
		return fmt.Errorf("place body: %w", err)
	}
	t.committed, t.placed = true, dst
	return nil
}

// Persist makes a placed body durable: fsync of the file and its directory.
func (t *Temp) Persist() error {
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("persist body: %w", err)
	}
	if err := syncDir(filepath.Dir(t.placed)); err != nil {
		return fmt.Errorf("persist body: %w", err)
	}
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
