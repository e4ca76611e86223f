package multipart

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// Part describes an uploaded part.
type Part struct {
	Number  int
	ETag    string // hex MD5 of the body, no quotes
	Size    int64
	ModTime time.Time
}

// PutPart stores part number (1 to MaxParts) of the upload id of (bucket,
// key), replacing any part of that number: body holds size bytes, or an
// unknown number when size < 0. contentMD5, when set, is the hex MD5 the
// body must have. It returns the part with its ETag, the hex MD5 of its
// body, once the part is durable.
//
// A body shorter or longer than size returns core.ErrIncompleteBody; one
// whose MD5 is not contentMD5 core.ErrBadDigest; one larger than
// Config.MaxPartSize ErrEntityTooLarge. Either way nothing is stored.
func (s *Store) PutPart(ctx context.Context, bucket, key, id string, number int, body io.Reader, size int64, contentMD5 string) (Part, error) {
	if number < 1 || number > MaxParts {
		return Part{}, fmt.Errorf("part %d: %w: want 1 to %d", number, ErrInvalidPartNumber, MaxParts)
	}
	if size > s.cfg.MaxPartSize {
		return Part{}, fmt.Errorf("part %d: %w: %d bytes, the limit is %d", number, ErrEntityTooLarge, size, s.cfg.MaxPartSize)
	}
	s.mu.Lock()
	u, err := s.lookup(bucket, key, id)
	s.mu.Unlock()
	if err != nil {
		return Part{}, err
	}
	pm := partMeta{Number: number, File: fmt.Sprintf("%05d.%s.part", number, rand.Text())}
	tmp, err := s.writeBody(body, size, &pm)
	if err != nil {
		return Part{}, fmt.Errorf("part %d of upload %q: %w", number, id, err)
	}
	if contentMD5 != "" && !strings.EqualFold(contentMD5, pm.ETag) {
		os.Remove(tmp)
		return Part{}, fmt.Errorf("part %d of upload %q: %w: Content-MD5 %s, body MD5 %s", number, id, core.ErrBadDigest, contentMD5, pm.ETag)
	}
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return Part{}, err
	}
	pm.ModTime = s.cfg.Now().UTC().Truncate(time.Millisecond)
	if err := s.commitPart(u, tmp, pm); err != nil {
		return Part{}, fmt.Errorf("part %d of upload %q: %w", number, id, err)
	}
	return pm.part(), nil
}

// writeBody streams body to an fsynced temp file, filling in pm's Size and
// ETag, and returns the file's path.
func (s *Store) writeBody(body io.Reader, size int64, pm *partMeta) (path string, err error) {
	f, err := os.CreateTemp(s.tmp, "part-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	limit := size
	if size < 0 {
		limit = s.cfg.MaxPartSize
	}
	h := md5.New()
	// Read one byte past the limit to tell a longer body from an exact one.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, limit+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "", fmt.Errorf("%w (received %d of %d bytes)", core.ErrIncompleteBody, n, size)
	case err != nil:
		return "", fmt.Errorf("read body: %w", err)
	case size < 0 && n > limit:
		return "", fmt.Errorf("%w: more than %d bytes", ErrEntityTooLarge, limit)
	case size >= 0 && n != size:
		return "", fmt.Errorf("%w (received %d bytes, declared %d)", core.ErrIncompleteBody, n, size)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	pm.Size, pm.ETag = n, hex.EncodeToString(h.Sum(nil))
	return f.Name(), nil
}

// commitPart moves the body at tmp into u's directory and makes pm the
// part of its number, durably, removing the body it replaces.
//
// The body is renamed and its directory synced before the metadata that
// names it is written, so metadata never names a body a crash could lose;
// a crash in between leaves a body nothing names, which Open removes.
func (s *Store) commitPart(u *upload, tmp string, pm partMeta) error {
	body := filepath.Join(u.dir, pm.File)
	if err := os.Rename(tmp, body); err != nil {
		os.Remove(tmp)
		if s.isGone(u) {
			return fmt.Errorf("%w (aborted meanwhile)", ErrNoSuchUpload)
		}
		return err
	}
	data, err := json.Marshal(pm)
	if err != nil {
		os.Remove(body)
		return err
	}
	metaTmp, err := writeTemp(s.tmp, data)
	if err == nil {
		err = syncDir(u.dir)
	}
	if err != nil {
		os.Remove(body)
		os.Remove(metaTmp)
		return err
	}

	// The switch to the new part happens under the lock, so that of two
	// uploads of one part number, the one whose metadata is on disk last
	// is also the one in memory.
	s.mu.Lock()
	if u.gone {
		s.mu.Unlock()
		os.Remove(body)
		os.Remove(metaTmp)
		return fmt.Errorf("%w (aborted meanwhile)", ErrNoSuchUpload)
	}
	if err := os.Rename(metaTmp, filepath.Join(u.dir, partJSON(pm.Number))); err != nil {
		s.mu.Unlock()
		os.Remove(body)
		os.Remove(metaTmp)
		return err
	}
	var old string
	if prev, ok := u.parts[pm.Number]; ok {
		old = filepath.Join(u.dir, prev.File)
		if u.pins > 0 {
			u.trash = append(u.trash, old)
			old = ""
		}
	}
	u.parts[pm.Number] = pm
	s.mu.Unlock()

	if err := syncDir(u.dir); err != nil {
		return err
	}
	if old != "" {
		os.Remove(old)
	}
	return nil
}

func (s *Store) isGone(u *upload) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.gone
}

func (pm partMeta) part() Part {
	return Part{Number: pm.Number, ETag: pm.ETag, Size: pm.Size, ModTime: pm.ModTime}
}

// partJSON is the name of part n's metadata file.
func partJSON(n int) string { return fmt.Sprintf("%05d.json", n) }

// partNumberOf returns the part number of a metadata file's name.
func partNumberOf(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, ".json")
	if !ok || len(digits) != 5 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > MaxParts {
		return 0, false
	}
	return n, true
}

// PartList is a page of an upload's parts.
type PartList struct {
	Parts     []Part // ascending by number
	Truncated bool   // more parts follow NextMarker
	// NextMarker is the number of the last part listed, to pass as the
	// marker of the next page.
	NextMarker int
}

// Parts lists the parts of the upload id of (bucket, key) whose numbers
// are above marker, at most max of them (1000 when max <= 0).
func (s *Store) Parts(ctx context.Context, bucket, key, id string, marker, max int) (PartList, error) {
	if err := ctx.Err(); err != nil {
		return PartList{}, err
	}
	if max <= 0 {
		max = 1000
	}
	s.mu.Lock()
	u, err := s.lookup(bucket, key, id)
	if err != nil {
		s.mu.Unlock()
		return PartList{}, err
	}
	var l PartList
	for n, pm := range u.parts {
		if n > marker {
			l.Parts = append(l.Parts, pm.part())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(l.Parts, func(a, b Part) int { return a.Number - b.Number })
	if len(l.Parts) > max {
		l.Parts, l.Truncated = l.Parts[:max], true
	}
	if len(l.Parts) > 0 {
		l.NextMarker = l.Parts[len(l.Parts)-1].Number
	}
	return l, nil
}
