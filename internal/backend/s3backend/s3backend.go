package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// maxBackoff caps the wait between two tries of a request, so that
// MaxAttempts tries of a refused connection take about a second or two.
const maxBackoff = time.Second

// Backend is a backend.Backend on S3. It is safe for concurrent use.
type Backend struct {
	client    *s3.Client
	direct    *direct
	uploader  uploader
	threshold int64
	region    string
}

var _ backend.Backend = (*Backend)(nil)

// New returns a Backend for cfg. It loads credentials (unless cfg has
// static ones) and the shared AWS config files, but sends no request.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("s3backend: %w", err)
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = cfg.ConnectTimeout
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = cfg.ConnectTimeout
			t.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
			// Every connection goes to the same host: keep as many
			// idle as the pool holds, not the default 10.
			t.MaxIdleConnsPerHost = t.MaxIdleConns
			// Headers and a small body leave in one write, not two
			// (the default buffer is 4 KiB).
			t.WriteBufferSize = 64 << 10
			if cfg.proxy != nil {
				t.Proxy = cfg.proxy
			}
		})
	// One retryer for the SDK's requests and the direct ones, so that they
	// share its retry token bucket.
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = cfg.MaxAttempts
		o.MaxBackoff = maxBackoff
	})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer { return retryer }),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3backend: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Backend{
		client:    client,
		direct:    newDirect(client, retryer, cfg.Region),
		uploader:  newUploader(client, cfg),
		threshold: cfg.MultipartThreshold,
		region:    cfg.Region,
	}, nil
}

// Get streams an object, or the part of it opts.Range asks for.
func (b *Backend) Get(ctx context.Context, bucket, key string, opts backend.GetOptions) (*backend.Object, error) {
	if err := validate(bucket, key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if opts.IfNoneMatch != "" {
		in.IfNoneMatch = aws.String(`"` + unquote(opts.IfNoneMatch) + `"`)
	}
	if r := opts.Range; r != nil {
		if r.Offset < 0 {
			return nil, fmt.Errorf("get %s %q: %w: negative range offset %d", bucket, key, core.ErrInvalidArgument, r.Offset)
		}
		if r.Length == 0 {
			// HTTP cannot ask for zero bytes.
			return b.emptyRange(ctx, bucket, key, opts)
		}
		in.Range = aws.String(httpRange(*r))
	}
	out, err := b.getObject(ctx, in)
	if err != nil {
		if opts.Range != nil && isInvalidRange(err) {
			// S3 answers 416 to an Offset at the end of the object,
			// which the contract reads as an empty range.
			return b.emptyRange(ctx, bucket, key, opts)
		}
		return nil, opError("get", bucket, key, err)
	}
	info := toInfo(bucket, key, objectHeaders{
		etag:               out.ETag,
		lastModified:       out.LastModified,
		contentType:        out.ContentType,
		cacheControl:       out.CacheControl,
		contentDisposition: out.ContentDisposition,
		contentEncoding:    out.ContentEncoding,
		contentLanguage:    out.ContentLanguage,
		expires:            out.ExpiresString,
		metadata:           out.Metadata,
	})
	if opts.IfNoneMatch != "" && info.ETag == unquote(opts.IfNoneMatch) {
		// The server ignored If-None-Match.
		out.Body.Close()
		return nil, fmt.Errorf("get %s %q: %w", bucket, key, core.ErrNotModified)
	}
	obj, err := sizeBody(out, opts.Range, info)
	if err != nil {
		out.Body.Close()
		return nil, opError("get", bucket, key, err)
	}
	return obj, nil
}

// getObject is GetObject through the direct path when the bucket has
// one (see direct), else through the SDK.
func (b *Backend) getObject(ctx context.Context, in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
	bucket := aws.ToString(in.Bucket)
	ep := b.direct.endpointFor(ctx, bucket)
	if ep == nil {
		return b.client.GetObject(ctx, in)
	}
	resp, err := b.direct.get(ctx, ep, aws.ToString(in.Key), aws.ToString(in.Range), aws.ToString(in.IfNoneMatch))
	if err != nil {
		return nil, err
	}
	out, err := getOutput(resp)
	if err != nil {
		resp.Body.Close()
		return nil, &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: err}
	}
	return out, nil
}

// sizeBody works out Length and the full Size of a GetObject response.
func sizeBody(out *s3.GetObjectOutput, r *backend.Range, info core.Info) (*backend.Object, error) {
	obj := &backend.Object{Info: info, Body: out.Body}
	if out.ContentRange != nil {
		first, last, size, err := parseContentRange(*out.ContentRange)
		if err != nil {
			return nil, err
		}
		obj.Size, obj.Length = size, last-first+1
		return obj, nil
	}
	if out.ContentLength == nil {
		return nil, errors.New("response has neither Content-Length nor Content-Range")
	}
	obj.Size, obj.Length = *out.ContentLength, *out.ContentLength
	if r == nil || (r.Offset == 0 && (r.Length < 0 || r.Length >= obj.Size)) {
		return obj, nil
	}
	// The server ignored Range and is sending the whole object: skip to
	// the range here. Costly, but right.
	if r.Offset > obj.Size {
		return nil, fmt.Errorf("%w: range offset %d is past the end of a %d-byte object", core.ErrInvalidArgument, r.Offset, obj.Size)
	}
	if _, err := io.CopyN(io.Discard, out.Body, r.Offset); err != nil {
		return nil, fmt.Errorf("skip to range offset: %w", err)
	}
	obj.Length = obj.Size - r.Offset
	if r.Length >= 0 && r.Length < obj.Length {
		obj.Length = r.Length
	}
	obj.Body = limitedBody{io.LimitReader(out.Body, obj.Length), out.Body}
	return obj, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// emptyRange answers a range that selects no bytes, after a HEAD.
func (b *Backend) emptyRange(ctx context.Context, bucket, key string, opts backend.GetOptions) (*backend.Object, error) {
	info, err := b.head(ctx, "get", bucket, key)
	if err != nil {
		return nil, err
	}
	if opts.IfNoneMatch != "" && info.ETag == unquote(opts.IfNoneMatch) {
		return nil, fmt.Errorf("get %s %q: %w", bucket, key, core.ErrNotModified)
	}
	if opts.Range.Offset > info.Size {
		return nil, fmt.Errorf("get %s %q: %w: range offset %d is past the end of a %d-byte object",
			bucket, key, core.ErrInvalidArgument, opts.Range.Offset, info.Size)
	}
	return &backend.Object{Info: info, Body: http.NoBody, Length: 0}, nil
}

// Head returns an object's metadata.
func (b *Backend) Head(ctx context.Context, bucket, key string) (core.Info, error) {
	if err := validate(bucket, key); err != nil {
		return core.Info{}, fmt.Errorf("head: %w", err)
	}
	return b.head(ctx, "head", bucket, key)
}

func (b *Backend) head(ctx context.Context, op, bucket, key string) (core.Info, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return core.Info{}, opError(op, bucket, key, err)
	}
	info := toInfo(bucket, key, objectHeaders{
		etag:               out.ETag,
		lastModified:       out.LastModified,
		contentType:        out.ContentType,
		cacheControl:       out.CacheControl,
		contentDisposition: out.ContentDisposition,
		contentEncoding:    out.ContentEncoding,
		contentLanguage:    out.ContentLanguage,
		expires:            out.ExpiresString,
		metadata:           out.Metadata,
	})
	info.Size = aws.ToInt64(out.ContentLength)
	return info, nil
}

// Put stores size bytes read from body's current position under key.
func (b *Backend) Put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) (string, error) {
	if err := validate(bucket, key); err != nil {
		return "", fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return "", fmt.Errorf("put %s %q: %w: negative size %d", bucket, key, core.ErrInvalidArgument, size)
	}
	if err := core.ValidateUserMeta(info.UserMeta); err != nil {
		return "", fmt.Errorf("put %s %q: %w", bucket, key, err)
	}
	r, err := section(body, size)
	if err != nil {
		return "", fmt.Errorf("put %s %q: %w", bucket, key, err)
	}
	in, expires := putInput(bucket, key, r, info)
	var opts []func(*s3.Options)
	if expires != "" {
		opts = append(opts, withExpires(expires))
	}
	var etag string
	if ep := b.direct.endpointFor(ctx, bucket); ep != nil && size <= directMaxPut {
		etag, err = b.direct.put(ctx, ep, in, expires, r, size)
		if err != nil {
			return "", opError("put", bucket, key, err)
		}
	} else if size <= b.threshold {
		in.ContentLength = aws.Int64(size)
		out, err := b.client.PutObject(ctx, in, opts...)
		if err != nil {
			return "", opError("put", bucket, key, err)
		}
		etag = aws.ToString(out.ETag)
	} else {
		etag, err = b.uploader.upload(ctx, in, opts)
		if err != nil {
			return "", opError("put", bucket, key, err)
		}
	}
	return unquote(etag), nil
}

// section checks that body holds exactly size bytes from its current
// position and returns a reader of them. An io.ReaderAt becomes an
// io.SectionReader, which is still one, so that the multipart uploader
// reads its parts in place, concurrently, without buffering them.
func section(body io.ReadSeeker, size int64) (io.ReadSeeker, error) {
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("seek body: %w", err)
	}
	end, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("seek body: %w", err)
	}
	if _, err := body.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek body: %w", err)
	}
	if n := end - start; n != size {
		return nil, fmt.Errorf("%w: body has %d bytes, size says %d", core.ErrIncompleteBody, n, size)
	}
	if ra, ok := body.(io.ReaderAt); ok {
		return io.NewSectionReader(ra, start, size), nil
	}
	return body, nil
}

// Delete removes an object. Deleting a missing object succeeds, as on S3.
func (b *Backend) Delete(ctx context.Context, bucket, key string) error {
	if err := validate(bucket, key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return opError("delete", bucket, key, err)
	}
	return nil
}

func validate(bucket, key string) error {
	if err := core.ValidateBucket(bucket); err != nil {
		return err
	}
	return core.ValidateKey(key)
}

// httpRange renders a Range (Length != 0) as an HTTP Range header.
func httpRange(r backend.Range) string {
	if r.Length < 0 {
		return fmt.Sprintf("bytes=%d-", r.Offset)
	}
	return fmt.Sprintf("bytes=%d-%d", r.Offset, r.Offset+r.Length-1)
}

// parseContentRange parses "bytes FIRST-LAST/SIZE".
func parseContentRange(s string) (first, last, size int64, err error) {
	spec, ok := strings.CutPrefix(s, "bytes ")
	rng, total, ok2 := strings.Cut(spec, "/")
	from, to, ok3 := strings.Cut(rng, "-")
	if ok && ok2 && ok3 {
		first, err1 := strconv.ParseInt(from, 10, 64)
		last, err2 := strconv.ParseInt(to, 10, 64)
		size, err3 := strconv.ParseInt(total, 10, 64)
		if err1 == nil && err2 == nil && err3 == nil && 0 <= first && first <= last && last < size {
			return first, last, size, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", s)
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }
