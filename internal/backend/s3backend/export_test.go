package s3backend

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/objstore/objstore/internal/core"
)

// PutSDK is Put through the SDK whatever the size, for BenchmarkPutSDK.
func (b *Backend) PutSDK(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, info core.Info) error {
	in, _ := putInput(bucket, key, body, info)
	in.ContentLength = &size
	_, err := b.client.PutObject(ctx, in)
	return err
}

// WithProxy sends cfg's requests through the proxy at u.
func WithProxy(cfg *Config, u *url.URL) { cfg.proxy = http.ProxyURL(u) }
