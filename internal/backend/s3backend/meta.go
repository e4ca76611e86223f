package s3backend

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/objstore/objstore/internal/core"
)

// Reserved user metadata keys that carry core.Info.Name and Level.
const (
	metaName  = "objstore-name"
	metaLevel = "objstore-level"
)

// putInput maps info onto a PutObject request, and returns the Expires
// header to send verbatim, which the request type cannot carry (see
// withExpires).
func putInput(bucket, key string, body io.Reader, info core.Info) (in *s3.PutObjectInput, expires string) {
	in = &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        body,
		ContentType: aws.String(info.ContentType),
		Metadata:    make(map[string]string, len(info.UserMeta)+2),
	}
	if info.ContentType == "" {
		in.ContentType = aws.String("application/octet-stream")
	}
	for k, v := range info.UserMeta {
		k = strings.ToLower(k)
		if k != metaName && k != metaLevel {
			in.Metadata[k] = v
		}
	}
	if info.Name != "" {
		in.Metadata[metaName] = url.PathEscape(info.Name)
	}
	in.Metadata[metaLevel] = strconv.Itoa(int(info.Level))
	for k, v := range info.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Cache-Control":
			in.CacheControl = aws.String(v)
		case "Content-Disposition":
			in.ContentDisposition = aws.String(v)
		case "Content-Encoding":
			in.ContentEncoding = aws.String(v)
		case "Content-Language":
			in.ContentLanguage = aws.String(v)
		case "Expires":
			expires = v
		}
	}
	return in, expires
}

// withExpires sends an Expires header verbatim on the requests that create
// an object. S3 stores the string it is sent, but the SDK only takes a
// time.Time, which would reject or reformat values such as "0".
func withExpires(v string) func(*s3.Options) {
	set := middleware.BuildMiddlewareFunc("objstoreExpires", func(
		ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler,
	) (middleware.BuildOutput, middleware.Metadata, error) {
		switch middleware.GetOperationName(ctx) {
		case "PutObject", "CreateMultipartUpload":
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				req.Header.Set("Expires", v)
			}
		}
		return next.HandleBuild(ctx, in)
	})
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(set, middleware.After)
		})
	}
}

// objectHeaders are the fields GetObject and HeadObject share.
type objectHeaders struct {
	etag, contentType  *string
	lastModified       *time.Time
	cacheControl       *string
	contentDisposition *string
	contentEncoding    *string
	contentLanguage    *string
	expires            *string
	metadata           map[string]string
}

// toInfo maps response headers back onto a core.Info (without Size),
// moving the reserved metadata keys into Name and Level.
func toInfo(bucket, key string, h objectHeaders) core.Info {
	info := core.Info{
		Bucket:      bucket,
		Key:         key,
		ETag:        unquote(aws.ToString(h.etag)),
		ContentType: aws.ToString(h.contentType),
		ModTime:     aws.ToTime(h.lastModified),
		Level:       core.LevelBackend,
	}
	for name, v := range map[string]*string{
		"Cache-Control":       h.cacheControl,
		"Content-Disposition": h.contentDisposition,
		"Content-Encoding":    h.contentEncoding,
		"Content-Language":    h.contentLanguage,
		"Expires":             h.expires,
	} {
		if v != nil && *v != "" {
			if info.Header == nil {
				info.Header = make(map[string]string)
			}
			info.Header[name] = *v
		}
	}
	for k, v := range h.metadata {
		switch k {
		case metaName:
			if name, err := url.PathUnescape(v); err == nil {
				info.Name = name
			} else {
				info.Name = v // not written by objstore: keep it as it is
			}
		case metaLevel:
			if level, err := core.ParseLevel(v); err == nil {
				info.Level = level
			}
		default:
			if info.UserMeta == nil {
				info.UserMeta = make(map[string]string)
			}
			info.UserMeta[k] = v
		}
	}
	return info
}
