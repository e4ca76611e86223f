package s3backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// opError maps an SDK error onto the backend contract: the core sentinel
// for not-found and not-modified, the context's error for a canceled
// call, and a *core.BackendError for everything else.
func opError(op, bucket, key string, err error) error {
	switch {
	case errors.Is(err, core.ErrInvalidArgument), errors.Is(err, context.Canceled):
		return fmt.Errorf("%s %s %q: %w", op, bucket, key, err)
	case isNotFound(err):
		return fmt.Errorf("%s %s %q: %w", op, bucket, key, core.ErrNotFound)
	case isNotModified(err):
		return fmt.Errorf("%s %s %q: %w", op, bucket, key, core.ErrNotModified)
	}
	return &core.BackendError{Op: op, Err: fmt.Errorf("%s %q: %w", bucket, key, err)}
}

// bucketError maps an SDK error of a bucket operation (bucket is "" for
// one on the account) onto the backend.Lister contract.
func bucketError(op, bucket string, err error) error {
	what := op
	if bucket != "" {
		what += " " + bucket
		err = fmt.Errorf("%s: %w", bucket, err)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case isNotFound(err):
		return fmt.Errorf("%s: %w", what, core.ErrNotFound)
	case hasCode(err, "BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
		return fmt.Errorf("%s: %w", what, backend.ErrBucketExists)
	case hasCode(err, "BucketNotEmpty"):
		return fmt.Errorf("%s: %w", what, backend.ErrBucketNotEmpty)
	}
	return &core.BackendError{Op: op, Err: err}
}

func hasCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && slices.Contains(codes, apiErr.ErrorCode())
}

// isNotFound reports a missing object or bucket. A HEAD has no error body,
// so the SDK names its 404 "NotFound" after the status.
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return true
		}
	}
	return false
}

func isNotModified(err error) bool {
	return statusCode(err) == http.StatusNotModified
}

func isInvalidRange(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" {
		return true
	}
	return statusCode(err) == http.StatusRequestedRangeNotSatisfiable
}

func statusCode(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
