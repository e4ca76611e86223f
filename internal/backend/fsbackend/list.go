package fsbackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// maxListKeys is S3's cap on the entries of one listing page.
const maxListKeys = 1000

var _ backend.Lister = (*Backend)(nil)

// List returns one page of the bucket's objects and common prefixes, in
// key order, with the semantics of backend.ListOptions.
//
// Keys are stored by hash, so there is no ordered index to seek in: each
// call reads every sidecar of the bucket, keeps the matching keys and
// sorts them. A call costs O(n log n) for a bucket of n objects, however
// small the page, which suits the development and single-host setups this
// backend is for, not buckets of millions of objects.
func (b *Backend) List(ctx context.Context, bucket string, opts backend.ListOptions) (*backend.ListPage, error) {
	if err := core.ValidateBucket(bucket); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	limit, err := listLimit(opts.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, err)
	}
	infos, err := b.scan(ctx, bucket, opts)
	if err != nil {
		return nil, bucketError("list", bucket, err)
	}
	return page(infos, opts, limit), nil
}

func listLimit(maxKeys int) (int, error) {
	switch {
	case maxKeys < 0:
		return 0, fmt.Errorf("%w: negative MaxKeys %d", core.ErrInvalidArgument, maxKeys)
	case maxKeys == 0 || maxKeys > maxListKeys:
		return maxListKeys, nil
	}
	return maxKeys, nil
}

// scan reads the sidecars of bucket and returns, sorted by key, the
// objects under opts.Prefix whose keys are greater than opts.StartAfter.
func (b *Backend) scan(ctx context.Context, bucket string, opts backend.ListOptions) ([]core.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.root, bucket)
	shards, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, core.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read bucket directory: %w", err)
	}
	var infos []core.Info
	for _, shard := range shards {
		if !shard.IsDir() || !isShard(shard.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		shardDir := filepath.Join(dir, shard.Name())
		entries, err := os.ReadDir(shardDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the bucket was deleted meanwhile; it held nothing here
		}
		if err != nil {
			return nil, fmt.Errorf("read shard directory: %w", err)
		}
		for _, e := range entries {
			hash, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok {
				continue
			}
			m, err := readSidecar(filepath.Join(shardDir, e.Name()), hash)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(m.Key, opts.Prefix) && m.Key > opts.StartAfter {
				infos = append(infos, m.info(bucket))
			}
		}
	}
	slices.SortFunc(infos, func(a, b core.Info) int { return strings.Compare(a.Key, b.Key) })
	return infos, nil
}

// isShard reports whether name is a shard directory: two hex digits.
func isShard(name string) bool {
	return len(name) == 2 && strings.Trim(name, "0123456789abcdef") == ""
}

// readSidecar reads the sidecar at path and checks that it belongs there,
// under the hash of its key. Sidecars are replaced by rename, so one read
// without the key's lock still sees a whole version.
func readSidecar(path, hash string) (meta, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return meta{}, err
	}
	m, err := parseMeta(data)
	if err != nil {
		return meta{}, fmt.Errorf("%s: %w", path, err)
	}
	if sum := sha256.Sum256([]byte(m.Key)); hex.EncodeToString(sum[:]) != hash {
		return meta{}, fmt.Errorf("%s: metadata is for key %q, which is stored elsewhere", path, m.Key)
	}
	return m, nil
}

// page cuts one page of at most limit entries out of infos, which are
// sorted by key, start with opts.Prefix and are greater than
// opts.StartAfter, rolling keys up into common prefixes when
// opts.Delimiter is set.
func page(infos []core.Info, opts backend.ListOptions, limit int) *backend.ListPage {
	p := new(backend.ListPage)
	n := 0
	last := "" // the last common prefix returned
	for _, info := range infos {
		prefix, rolled := commonPrefix(info.Key, opts.Prefix, opts.Delimiter)
		if rolled && (prefix == last || prefix == opts.StartAfter) {
			continue
		}
		if n == limit {
			p.Truncated = true
			break
		}
		n++
		if rolled {
			p.CommonPrefixes = append(p.CommonPrefixes, prefix)
			last = prefix
		} else {
			p.Objects = append(p.Objects, info)
		}
	}
	return p
}

// commonPrefix returns the common prefix key rolls up into under prefix
// and delim, if it does.
func commonPrefix(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delim)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delim)], true
}
