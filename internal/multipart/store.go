package multipart

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// Store holds the uploads in progress under one directory. It is safe for
// concurrent use.
type Store struct {
	dir, tmp string
	cfg      Config
	log      *slog.Logger

	mu      sync.Mutex
	uploads map[string]*upload // by ID

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// upload is an upload in progress. Its uploadMeta and dir never change;
// the other fields are guarded by Store.mu.
type upload struct {
	uploadMeta
	dir   string
	parts map[int]partMeta
	// pins counts the readers of a completion (see Object); while there
	// are any, files the upload no longer needs go to trash rather than
	// being removed, so that the readers keep reading what they validated.
	pins  int
	trash []string
	gone  bool // aborted, removed or swept: out of Store.uploads
}

// uploadMeta is an upload's upload.json.
type uploadMeta struct {
	ID        string    `json:"id"`
	Info      core.Info `json:"info"` // bucket, key and metadata of the object
	Initiated time.Time `json:"initiated"`
}

// partMeta is a part's <number>.json.
type partMeta struct {
	Number  int       `json:"number"`
	ETag    string    `json:"etag"` // hex MD5 of the body
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	File    string    `json:"file"` // name of the body in the upload's directory
}

const (
	uploadFile = "upload.json"
	tmpDir     = "tmp"
)

// Open opens (creating if needed) the store under dir, loads the uploads
// a previous process left, removing the debris of interrupted operations,
// and starts the sweep of old uploads, which Close stops.
func Open(dir string, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir: dir, tmp: filepath.Join(dir, tmpDir), cfg: cfg, log: cfg.Logger,
		uploads: make(map[string]*upload),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open multipart store: %w", err)
	}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("open multipart store: clear temp dir: %w", err)
	}
	if err := os.Mkdir(s.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("open multipart store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open multipart store: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			continue // tmp, or not ours
		}
		u, err := s.load(e.Name())
		if err != nil {
			// An upload lost to a crash or a damaged disk is one the
			// client uploads again: not a reason to refuse to start.
			s.log.Warn("removing unreadable multipart upload", "upload_id", e.Name(), "err", err)
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("open multipart store: %w", err)
			}
			continue
		}
		s.uploads[u.ID] = u
	}
	go s.run()
	return s, nil
}

// errNoUploadFile marks the directory of an upload whose creation or
// removal was interrupted.
var errNoUploadFile = errors.New("no " + uploadFile)

// load reads the upload in directory id, removing part files that no
// part's metadata names (left by an interrupted PutPart).
func (s *Store) load(id string) (*upload, error) {
	u := &upload{dir: filepath.Join(s.dir, id), parts: make(map[int]partMeta)}
	data, err := os.ReadFile(filepath.Join(u.dir, uploadFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoUploadFile
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &u.uploadMeta); err != nil {
		return nil, fmt.Errorf("%s: %w", uploadFile, err)
	}
	if u.ID != id {
		return nil, fmt.Errorf("%s names upload %q", uploadFile, u.ID)
	}
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, err
	}
	var bodies []string
	for _, e := range entries {
		name := e.Name()
		if n, ok := partNumberOf(name); ok {
			pm, err := loadPart(u.dir, name, n)
			if err != nil {
				s.log.Warn("dropping unreadable part", "upload_id", id, "part", n, "err", err)
				os.Remove(filepath.Join(u.dir, name))
				continue
			}
			u.parts[n] = pm
		} else if filepath.Ext(name) == ".part" {
			bodies = append(bodies, name)
		}
	}
	used := make(map[string]bool, len(u.parts))
	for _, pm := range u.parts {
		used[pm.File] = true
	}
	for _, name := range bodies {
		if !used[name] {
			os.Remove(filepath.Join(u.dir, name))
		}
	}
	return u, nil
}

// loadPart reads the metadata of part n and checks that its body is there.
func loadPart(dir, name string, n int) (partMeta, error) {
	var pm partMeta
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return pm, err
	}
	if err := json.Unmarshal(data, &pm); err != nil {
		return pm, err
	}
	if pm.Number != n || filepath.Base(pm.File) != pm.File || filepath.Ext(pm.File) != ".part" {
		return pm, fmt.Errorf("%s: bad number or file name", name)
	}
	fi, err := os.Stat(filepath.Join(dir, pm.File))
	if err != nil {
		return pm, err
	}
	if fi.Size() != pm.Size {
		return pm, fmt.Errorf("%s: %d bytes, want %d", pm.File, fi.Size(), pm.Size)
	}
	return pm, nil
}

// Close stops the sweep of old uploads. The store stays usable, without
// it. Safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

// Create starts an upload of the object info describes (bucket, key,
// metadata) and returns its ID.
func (s *Store) Create(ctx context.Context, info core.Info) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := newID()
	u := &upload{
		uploadMeta: uploadMeta{ID: id, Info: info, Initiated: s.cfg.Now().UTC()},
		dir:        filepath.Join(s.dir, id),
		parts:      make(map[int]partMeta),
	}
	if err := s.create(u); err != nil {
		os.RemoveAll(u.dir)
		return "", fmt.Errorf("create upload of %q: %w", info.Key, err)
	}
	s.mu.Lock()
	s.uploads[id] = u
	s.mu.Unlock()
	return id, nil
}

// create makes u's directory and writes its upload.json, durably.
func (s *Store) create(u *upload) error {
	data, err := json.Marshal(u.uploadMeta)
	if err != nil {
		return err
	}
	if err := os.Mkdir(u.dir, 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(s.tmp, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(u.dir, uploadFile)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(u.dir); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// lookup returns the upload id of (bucket, key). The caller holds s.mu.
func (s *Store) lookup(bucket, key, id string) (*upload, error) {
	u := s.uploads[id]
	if u == nil || u.Info.Bucket != bucket || u.Info.Key != key {
		return nil, fmt.Errorf("upload %q of %q: %w", id, key, ErrNoSuchUpload)
	}
	return u, nil
}

// Abort removes the upload id of (bucket, key) and its parts.
func (s *Store) Abort(ctx context.Context, bucket, key, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	u, err := s.lookup(bucket, key, id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.detach(u)
	s.mu.Unlock()
	return s.removeFiles(u)
}

// Remove removes the upload id after the caller stored the object Complete
// returned. An upload that is gone already is not an error.
func (s *Store) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	u := s.uploads[id]
	if u == nil {
		s.mu.Unlock()
		return nil
	}
	s.detach(u)
	s.mu.Unlock()
	return s.removeFiles(u)
}

// detach takes u out of the store. The caller holds s.mu and then calls
// removeFiles.
func (s *Store) detach(u *upload) {
	u.gone = true
	delete(s.uploads, u.ID)
	if u.pins > 0 {
		u.trash = append(u.trash, u.dir)
	}
}

// removeFiles removes a detached upload's files: its upload.json first,
// which ends the upload for good, then its directory unless a reader still
// uses its parts. A failure to remove the directory is only logged: Open
// removes directories without an upload.json.
func (s *Store) removeFiles(u *upload) error {
	if err := os.Remove(filepath.Join(u.dir, uploadFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove upload %q: %w", u.ID, err)
	}
	s.mu.Lock()
	pinned := u.pins > 0
	s.mu.Unlock()
	if !pinned {
		if err := os.RemoveAll(u.dir); err != nil {
			s.log.Warn("removing multipart upload directory", "upload_id", u.ID, "err", err)
		}
	}
	return nil
}

// unpin releases a reader of u's parts, removing the files that waited
// for the last one.
func (s *Store) unpin(u *upload) {
	s.mu.Lock()
	u.pins--
	var trash []string
	if u.pins == 0 {
		trash, u.trash = u.trash, nil
	}
	s.mu.Unlock()
	for _, p := range trash {
		if err := os.RemoveAll(p); err != nil {
			s.log.Warn("removing multipart upload file", "upload_id", u.ID, "path", p, "err", err)
		}
	}
}

// newID returns a new upload ID: 26 characters of base32 (A-Z, 2-7) that
// encode 130 random bits.
func newID() string { return rand.Text() }

// validID reports whether name could be an ID newID returned.
func validID(name string) bool {
	if len(name) != 26 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// writeTemp writes data to a new fsynced file in dir and returns its path.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "meta-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
