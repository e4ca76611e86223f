package s3backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// CreateBucket creates a bucket in the Backend's region. A bucket that
// exists, ours or another account's, is backend.ErrBucketExists.
func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	// us-east-1 is the one region that must not be named.
	if b.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(b.region),
		}
	}
	if _, err := b.client.CreateBucket(ctx, in); err != nil {
		return bucketError("create bucket", bucket, err)
	}
	return nil
}

// DeleteBucket deletes an empty bucket.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	if _, err := b.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return bucketError("delete bucket", bucket, err)
	}
	return nil
}

// HeadBucket reports whether bucket exists (nil) or not (core.ErrNotFound).
// A bucket that exists but is not accessible (403) is a
// *core.BackendError.
func (b *Backend) HeadBucket(ctx context.Context, bucket string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return bucketError("head bucket", bucket, err)
	}
	return nil
}

// Buckets lists the buckets of the account, sorted by name, following
// continuation tokens if S3 pages them.
func (b *Backend) Buckets(ctx context.Context) ([]backend.BucketInfo, error) {
	var buckets []backend.BucketInfo
	in := &s3.ListBucketsInput{}
	for {
		out, err := b.client.ListBuckets(ctx, in)
		if err != nil {
			return nil, bucketError("list buckets", "", err)
		}
		for _, bk := range out.Buckets {
			buckets = append(buckets, backend.BucketInfo{
				Name:    aws.ToString(bk.Name),
				Created: aws.ToTime(bk.CreationDate),
			})
		}
		if aws.ToString(out.ContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.ContinuationToken
	}
	// S3 sorts them; not every S3-compatible server does (gofakes3).
	slices.SortFunc(buckets, func(x, y backend.BucketInfo) int { return cmp.Compare(x.Name, y.Name) })
	return buckets, nil
}

// EnsureBucket creates bucket unless it exists and is accessible: for
// tests and a first run against an empty server.
func (b *Backend) EnsureBucket(ctx context.Context, bucket string) error {
	err := b.HeadBucket(ctx, bucket)
	if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	err = b.CreateBucket(ctx, bucket)
	if errors.Is(err, backend.ErrBucketExists) {
		// Made since the HEAD, or ours all along on a server that
		// answers its owner BucketAlreadyExists (gofakes3): fine if it
		// is accessible.
		return b.HeadBucket(ctx, bucket)
	}
	return err
}
