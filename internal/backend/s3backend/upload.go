// The multipart uploader of feature/s3/manager is deprecated in favour of
// feature/s3/transfermanager, which is still pre-1.0; manager is stable
// and does what is needed here.
//lint:file-ignore SA1019 manager.Uploader is deprecated but stable; see above.

package s3backend

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// uploader sends objects above the multipart threshold in parts.
type uploader struct {
	u *manager.Uploader
}

func newUploader(client *s3.Client, cfg Config) uploader {
	return uploader{manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = cfg.PartSize
		u.Concurrency = cfg.Concurrency
		// The client's own setting (see New) does not reach the
		// uploader, which would add CRC checksums to every part.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})}
}

// upload sends in (whose Body is an io.ReaderAt when it can be) and
// returns the ETag S3 assigned, quoted. opts apply to every request of
// the upload. On failure the upload is aborted, leaving no parts behind.
func (u uploader) upload(ctx context.Context, in *s3.PutObjectInput, opts []func(*s3.Options)) (string, error) {
	out, err := u.u.Upload(ctx, in, func(u *manager.Uploader) {
		// Clip so that concurrent uploads never append into one
		// shared backing array.
		u.ClientOptions = append(slices.Clip(u.ClientOptions), opts...)
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}
