package multipart

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/objstore/objstore/internal/core"
)

// CompletePart names a part in Complete.
type CompletePart struct {
	Number int
	ETag   string // quotes and case do not matter
}

// Complete checks that parts may make the object of the upload id of
// (bucket, key), as S3 does, and returns the object to store: its
// metadata, size, ETag and a reader of the parts' bodies in order. The
// caller must close it, and once the object is stored, call Remove.
//
// parts must be non-empty and in strictly ascending order of number
// (ErrInvalidPartOrder); each must have been uploaded, with the ETag
// given (ErrInvalidPart); and each but the last must be at least
// Config.MinPartSize (ErrEntityTooSmall). The upload is left as it was on
// any error, and after Complete until Remove, so that a failed store can
// be retried.
func (s *Store) Complete(ctx context.Context, bucket, key, id string, parts []CompletePart) (*Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("complete upload %q: %w: no parts", id, ErrInvalidPart)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return nil, fmt.Errorf("complete upload %q: %w: part %d follows part %d", id, ErrInvalidPartOrder, parts[i].Number, parts[i-1].Number)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.lookup(bucket, key, id)
	if err != nil {
		return nil, err
	}
	o := &Object{Info: u.Info, r: partsReader{h: md5.New()}}
	sums := md5.New()
	for i, p := range parts {
		pm, ok := u.parts[p.Number]
		if !ok {
			return nil, fmt.Errorf("complete upload %q: %w: part %d was not uploaded", id, ErrInvalidPart, p.Number)
		}
		if normETag(p.ETag) != pm.ETag {
			return nil, fmt.Errorf("complete upload %q: %w: part %d has ETag %q, not %q", id, ErrInvalidPart, p.Number, pm.ETag, p.ETag)
		}
		if i < len(parts)-1 && pm.Size < s.cfg.MinPartSize {
			return nil, fmt.Errorf("complete upload %q: %w: part %d has %d bytes, the minimum is %d", id, ErrEntityTooSmall, p.Number, pm.Size, s.cfg.MinPartSize)
		}
		sum, err := hex.DecodeString(pm.ETag)
		if err != nil {
			return nil, fmt.Errorf("complete upload %q: part %d: bad stored ETag %q", id, p.Number, pm.ETag)
		}
		sums.Write(sum)
		o.Size += pm.Size
		o.r.parts = append(o.r.parts, pm)
	}
	o.ETag = hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	o.r.dir = u.dir
	u.pins++
	o.release = func() { s.unpin(u) }
	return o, nil
}

// normETag returns an ETag of a request as the store keeps it.
func normETag(etag string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(etag), `"`))
}

// Object is a completed upload: the object to store. Read it once, then
// Close it. It is not safe for concurrent use.
type Object struct {
	// Info is the metadata the upload was created with: bucket, key,
	// content type, user metadata, headers.
	Info core.Info
	// Size is the total size of the parts.
	Size int64
	// ETag is S3's multipart ETag: the hex MD5 of the concatenated binary
	// MD5s of the parts, "-" and the number of parts.
	ETag string

	r       partsReader
	release func()
}

// Read reads the parts' bodies in order. It fails rather than return
// bytes that differ from what the parts' ETags promise.
func (o *Object) Read(p []byte) (int, error) { return o.r.Read(p) }

// Close releases the parts' files. Safe to call twice.
func (o *Object) Close() error {
	o.r.close()
	if o.release != nil {
		o.release()
		o.release = nil
	}
	return nil
}

// partsReader concatenates the bodies of parts. It opens one file at a
// time rather than all at once (io.MultiReader of open files), since an
// upload may have 10,000 parts; pinning the upload keeps the files there.
type partsReader struct {
	dir   string
	parts []partMeta // those not read yet
	cur   *os.File
	n     int64     // bytes of cur read
	h     hash.Hash // MD5 of cur's bytes read
	err   error     // sticky
}

func (r *partsReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for r.err == nil {
		if r.cur == nil {
			if len(r.parts) == 0 {
				r.err = io.EOF
				break
			}
			f, err := os.Open(filepath.Join(r.dir, r.parts[0].File))
			if err != nil {
				r.err = fmt.Errorf("part %d: %w", r.parts[0].Number, err)
				break
			}
			r.cur, r.n = f, 0
			r.h.Reset()
		}
		n, err := r.cur.Read(p)
		r.n += int64(n)
		r.h.Write(p[:n])
		if err == io.EOF {
			pm := r.parts[0]
			if sum := hex.EncodeToString(r.h.Sum(nil)); r.n != pm.Size || sum != pm.ETag {
				err = fmt.Errorf("part %d changed on disk: %d bytes with MD5 %s, want %d bytes with MD5 %s", pm.Number, r.n, sum, pm.Size, pm.ETag)
			} else {
				err = nil
				r.parts = r.parts[1:]
			}
			r.cur.Close()
			r.cur = nil
		}
		if err != nil {
			r.err = err
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

func (r *partsReader) close() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	if r.err == nil {
		r.err = os.ErrClosed
	}
}
