// Package store keeps cached object bodies as files under one directory.
//
// Guarantees:
//   - A body's path is derived from a SHA-256 of (bucket, key) plus a
//     generation, never from the key itself, so no key can name a path
//     outside the store.
//   - A body gets its final name only once it is complete: it is written
//     to a temp file in spare/ and renamed. Sync then makes every placed
//     body durable at once (syncfs), and only then may an index record it;
//     so a crash leaves stray temp files, which Open removes, and bodies no
//     index entry names, which the node's reconciliation removes.
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
	"syscall"
	"time"
)

// Store is a directory of object bodies. It is safe for concurrent use.
type Store struct {
	objs  string
	spare string   // empty files made ahead, see spares
	dir   *os.File // the store's directory, for Sync

	spares chan *os.File
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// spareFiles is how many empty files the store keeps ready for new bodies.
// Creating a file is the costliest step of writing a small body (a
// directory and inode update, well over the write itself on some
// filesystems); a goroutine does it ahead, off the requests' path.
const spareFiles = 64

// Open opens (creating if needed) the store under dir, removing the temp
// files a previous process left behind. Close it to stop its goroutine.
func Open(dir string) (*Store, error) {
	s := &Store{
		objs: filepath.Join(dir, "objects"), spare: filepath.Join(dir, "spare"),
		spares: make(chan *os.File, spareFiles), stop: make(chan struct{}),
	}
	// Older versions kept temp files in tmp/.
	for _, d := range []string{s.spare, filepath.Join(dir, "tmp")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("open store: clear temp files: %w", err)
		}
	}
	for _, d := range []string{s.objs, s.spare} {
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
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.dir = d
	s.wg.Add(1)
	go s.makeSpares()
	return s, nil
}

// Close stops making spare files, removes them and releases the store's
// directory. Safe to call twice.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for {
			select {
			case f := <-s.spares:
				f.Close()
				os.Remove(f.Name())
				continue
			default:
			}
			break
		}
		err = s.dir.Close()
	})
	return err
}

// makeSpares keeps the spare channel full.
func (s *Store) makeSpares() {
	defer s.wg.Done()
	for {
		f, err := os.CreateTemp(s.spare, "s-")
		if err != nil {
			// A full or failing disk: NewTemp reports it to a writer; try
			// again later.
			select {
			case <-s.stop:
				return
			case <-time.After(time.Second):
				continue
			}
		}
		select {
		case s.spares <- f:
		case <-s.stop:
			f.Close()
			os.Remove(f.Name())
			return
		}
	}
}

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

// Sweep calls fn for every placed body with its file name and size. fn may
// call RemoveName on the body it is given.
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
// is written. Close it in every case; Place makes it permanent first.
type Temp struct {
	s         *Store
	f         *os.File
	md5       hash.Hash
	n         int64
	committed bool
}

// NewTemp starts a new body, in a spare file when one is ready.
func (s *Store) NewTemp() (*Temp, error) {
	select {
	case f := <-s.spares:
		return &Temp{s: s, f: f, md5: md5.New()}, nil
	default:
	}
	f, err := os.CreateTemp(s.spare, "s-")
	if err != nil {
		return nil, fmt.Errorf("create temp body: %w", err)
	}
	return &Temp{s: s, f: f, md5: md5.New()}, nil
}

// Temps lists the files of bodies being written (or left by a crash until
// the next Open), with their sizes; spare files are empty.
func (s *Store) Temps() (map[string]int64, error) {
	ents, err := os.ReadDir(s.spare)
	if err != nil {
		return nil, fmt.Errorf("list temp bodies: %w", err)
	}
	out := make(map[string]int64, len(ents))
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			out[e.Name()] = info.Size()
		}
	}
	return out, nil
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
	if err := rename(t.f.Name(), dst); err != nil {
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

// rename is rename(2). os.Rename first stats the new name, to refuse
// replacing a directory: a body's name never is one, and the stat cost 5%
// of a 4 KiB PUT's CPU.
func rename(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
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
