package s3backend

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// maxListKeys is S3's cap on the entries of one listing page.
const maxListKeys = 1000

// afterAll is the greatest code point. S3 keys are UTF-8, so a key that
// starts with P sorts before P+afterAll unless afterAll itself follows P
// in it.
const afterAll = "\U0010FFFF"

var _ backend.Lister = (*Backend)(nil)

// List returns one page of a bucket's objects and common prefixes with one
// ListObjectsV2, with the semantics of backend.ListOptions.
//
// S3 compares StartAfter with keys only, so a StartAfter that is a common
// prefix P of this listing (the last entry of the previous page) would
// bring P back for its keys. List sends P+U+10FFFF instead, which sorts
// after every key under P but those that go on with U+10FFFF, and drops P
// should one of those bring it back (that page then holds one entry less).
//
// Keys are asked for URL-encoded, so that keys with characters XML cannot
// carry still list; a server that does not encode them (gofakes3) says so
// by leaving EncodingType out of its answer, and its keys are taken as
// they are.
func (b *Backend) List(ctx context.Context, bucket string, opts backend.ListOptions) (*backend.ListPage, error) {
	if err := core.ValidateBucket(bucket); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	limit := opts.MaxKeys
	switch {
	case limit < 0:
		return nil, fmt.Errorf("list %s: %w: negative MaxKeys %d", bucket, core.ErrInvalidArgument, limit)
	case limit == 0 || limit > maxListKeys:
		limit = maxListKeys
	}
	in := &s3.ListObjectsV2Input{
		Bucket:       aws.String(bucket),
		MaxKeys:      aws.Int32(int32(limit)),
		EncodingType: types.EncodingTypeUrl,
	}
	if opts.Prefix != "" {
		in.Prefix = aws.String(opts.Prefix)
	}
	if opts.Delimiter != "" {
		in.Delimiter = aws.String(opts.Delimiter)
	}
	skip := ""
	if isCommonPrefix(opts.StartAfter, opts.Prefix, opts.Delimiter) {
		skip = opts.StartAfter
		in.StartAfter = aws.String(opts.StartAfter + afterAll)
	} else if opts.StartAfter != "" {
		in.StartAfter = aws.String(opts.StartAfter)
	}
	out, err := b.client.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, bucketError("list", bucket, err)
	}
	p, err := toPage(bucket, out, skip)
	if err != nil {
		return nil, bucketError("list", bucket, err)
	}
	return p, nil
}

// isCommonPrefix reports whether s is one of the common prefixes a listing
// of prefix and delim can return.
func isCommonPrefix(s, prefix, delim string) bool {
	if delim == "" || !strings.HasPrefix(s, prefix) {
		return false
	}
	i := strings.Index(s[len(prefix):], delim)
	return i >= 0 && len(prefix)+i+len(delim) == len(s)
}

// toPage maps a ListObjectsV2 answer onto a ListPage, without the common
// prefix skip.
func toPage(bucket string, out *s3.ListObjectsV2Output, skip string) (*backend.ListPage, error) {
	decode := func(s *string) (string, error) { return aws.ToString(s), nil }
	if out.EncodingType == types.EncodingTypeUrl {
		decode = func(s *string) (string, error) {
			v, err := url.QueryUnescape(aws.ToString(s))
			if err != nil {
				return "", fmt.Errorf("URL-encoded key %q: %w", aws.ToString(s), err)
			}
			return v, nil
		}
	}
	p := &backend.ListPage{Truncated: aws.ToBool(out.IsTruncated)}
	for _, o := range out.Contents {
		key, err := decode(o.Key)
		if err != nil {
			return nil, err
		}
		p.Objects = append(p.Objects, core.Info{
			Bucket:  bucket,
			Key:     key,
			Size:    aws.ToInt64(o.Size),
			ETag:    unquote(aws.ToString(o.ETag)),
			ModTime: aws.ToTime(o.LastModified),
			Level:   core.LevelBackend,
		})
	}
	for _, cp := range out.CommonPrefixes {
		prefix, err := decode(cp.Prefix)
		if err != nil {
			return nil, err
		}
		if skip == "" || prefix != skip {
			p.CommonPrefixes = append(p.CommonPrefixes, prefix)
		}
	}
	return p, nil
}
