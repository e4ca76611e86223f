// manager.Uploader is deprecated in favour of the pre-1.0 transfermanager;
// it is what applications use today, so it is what the test drives.
//lint:file-ignore SA1019 manager.Uploader is deprecated but widely used; see above.

package s3api

// The end-to-end tests of multipart uploads live in package s3api, not
// s3api_test, only to keep their helpers apart from the other API tests'.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/multipart"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/sigv4"
)

const (
	mpAccessKey = "AKIAMULTIPART"
	mpSecretKey = "multipart-secret"
	mpBucket    = "uploads"
)

// mpServer is a node with a multipart store, served over HTTPS by the S3
// API with a sigv4 verifier, and an SDK client of it.
type mpServer struct {
	client  *s3.Client
	store   *multipart.Store
	backend *fsbackend.Backend
}

// newMPServer starts an mpServer (without a multipart store if noStore)
// and stops it when the test ends. Over HTTPS the SDK sends parts as
// aws-chunked bodies with trailing checksums.
func newMPServer(t *testing.T, noStore bool) *mpServer {
	t.Helper()
	// The machine's AWS configuration (AWS_CA_BUNDLE, a profile, a checksum
	// setting) must not reach the client.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	be, err := fsbackend.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := be.CreateBucket(context.Background(), mpBucket); err != nil {
		t.Fatal(err)
	}
	ncfg := node.DefaultConfig()
	ncfg.DataDir = t.TempDir()
	ncfg.Backend = be
	ncfg.Capacity = 1 << 30
	n, err := node.Open(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	s := &mpServer{backend: be}
	cfg := Config{Node: n, Buckets: be}
	if !noStore {
		s.store, err = multipart.Open(filepath.Join(ncfg.DataDir, "multipart"), multipart.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.store.Close() })
		cfg.Multipart = s.store
	}
	cfg.Verifier, err = sigv4.NewVerifier(sigv4.Config{Credentials: sigv4.StaticCredentials{mpAccessKey: mpSecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(New(cfg))
	t.Cleanup(srv.Close)
	// By hand, so the checksum settings are spelled out: as
	// config.LoadDefaultConfig sets them by default (zero is "unset", which
	// sends no checksums at all).
	awsCfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(mpAccessKey, mpSecretKey, ""),
		HTTPClient:                 srv.Client(),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
	})
	return s
}

// create starts an upload of key and returns its ID.
func (s *mpServer) create(t *testing.T, key string) *string {
	t.Helper()
	out, err := s.client.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(mpBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return out.UploadId
}

// part uploads data as part n of upload id and returns the completed part.
func (s *mpServer) part(t *testing.T, key string, id *string, n int32, data []byte) types.CompletedPart {
	t.Helper()
	out, err := s.client.UploadPart(context.Background(), &s3.UploadPartInput{
		Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: id,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + mpMD5(data) + `"`; aws.ToString(out.ETag) != want {
		t.Fatalf("part %d: ETag %s, want %s", n, aws.ToString(out.ETag), want)
	}
	// The SDK sent a CRC32 (in a trailer, over HTTPS), which the server
	// verified and returns.
	if out.ChecksumCRC32 == nil {
		t.Fatalf("part %d: no x-amz-checksum-crc32 in the answer", n)
	}
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}
}

// complete completes upload id with parts.
func (s *mpServer) complete(key string, id *string, parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return s.client.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
}

// get returns the body and ETag of key.
func (s *mpServer) get(t *testing.T, key string) ([]byte, string) {
	t.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, aws.ToString(out.ETag)
}

func mpMD5(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// mpETag is S3's ETag of an object uploaded in parts of partSize.
func mpETag(data []byte, partSize int) string {
	var sums []byte
	n := 0
	for off := 0; off < len(data); off += partSize {
		sum := md5.Sum(data[off:min(off+partSize, len(data))])
		sums = append(sums, sum[:]...)
		n++
	}
	return `"` + mpMD5(sums) + "-" + strconv.Itoa(n) + `"`
}

// mpRandom returns n random bytes, the same for the same seed.
func mpRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return b
}

// wantS3Code fails unless err is an S3 error with code.
func wantS3Code(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// TestMultipartSDKUploader uploads 50 MiB with the SDK's upload manager,
// three parts at a time, and reads it back.
func TestMultipartSDKUploader(t *testing.T) {
	s := newMPServer(t, false)
	ctx := context.Background()
	data := mpRandom(50<<20, 1)
	const partSize = 6 << 20
	up := manager.NewUploader(s.client, func(u *manager.Uploader) {
		u.PartSize = partSize
		u.Concurrency = 3
	})
	out, err := up.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(mpBucket), Key: aws.String("big/object"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), Metadata: map[string]string{"owner": "ann"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := mpETag(data, partSize)
	if aws.ToString(out.ETag) != want || len(out.CompletedParts) != 9 {
		t.Fatalf("upload: ETag %s, %d parts; want %s, 9 parts", aws.ToString(out.ETag), len(out.CompletedParts), want)
	}
	got, etag := s.get(t, "big/object")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read back %d bytes that differ from the %d uploaded", len(got), len(data))
	}
	if !regexp.MustCompile(`^"[0-9a-f]{32}-9"$`).MatchString(etag) || etag != want {
		t.Fatalf("GetObject ETag %s, want %s", etag, want)
	}
	// The node wrote the object through to the backend (whose ETag is its
	// own: a directory's MD5, or S3's of its own parts).
	if info, err := s.backend.Head(ctx, mpBucket, "big/object"); err != nil || info.Size != int64(len(data)) || info.UserMeta["owner"] != "ann" {
		t.Fatalf("backend: %+v, %v", info, err)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("big/object")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "application/x-test" || head.Metadata["owner"] != "ann" {
		t.Fatalf("metadata lost: %s %v", aws.ToString(head.ContentType), head.Metadata)
	}
	l, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket)})
	if err != nil || len(l.Uploads) != 0 {
		t.Fatalf("uploads left after completion: %+v, %v", l.Uploads, err)
	}

	// UploadPartCopy: a part from a range of the object, then one from
	// all of a small object.
	small := []byte("the end")
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("small"),
		Body: bytes.NewReader(small)}); err != nil {
		t.Fatal(err)
	}
	id := s.create(t, "copied")
	var parts []types.CompletedPart
	for i, src := range []struct{ key, rng string }{{"big/object", "bytes=1048576-6291455"}, {"small", ""}} {
		in := &s3.UploadPartCopyInput{Bucket: aws.String(mpBucket), Key: aws.String("copied"), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(mpBucket + "/" + src.key)}
		if src.rng != "" {
			in.CopySourceRange = aws.String(src.rng)
		}
		out, err := s.client.UploadPartCopy(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: in.PartNumber, ETag: out.CopyPartResult.ETag})
	}
	if _, err := s.complete("copied", id, parts...); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.get(t, "copied"); !bytes.Equal(got, append(data[1<<20:6<<20:6<<20], small...)) {
		t.Fatalf("copied object: %d bytes", len(got))
	}
	_, err = s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(mpBucket), Key: aws.String("copied"),
		UploadId: s.create(t, "copied"), PartNumber: aws.Int32(1), CopySource: aws.String(mpBucket + "/small"),
		CopySourceRange: aws.String("bytes=0-7")})
	wantS3Code(t, err, "InvalidArgument")
}

// TestMultipartErrors checks S3's answers to invalid completions, aborted
// uploads and bad part numbers, and the listing of unfinished uploads.
func TestMultipartErrors(t *testing.T) {
	s := newMPServer(t, false)
	ctx := context.Background()
	big := mpRandom(multipart.DefaultMinPartSize, 2)
	small := []byte("small part")

	t.Run("wrong etag", func(t *testing.T) {
		id := s.create(t, "k")
		p1 := s.part(t, "k", id, 1, big)
		p2 := s.part(t, "k", id, 2, small)
		p2.ETag = aws.String(`"` + mpMD5([]byte("other")) + `"`)
		_, err := s.complete("k", id, p1, p2)
		wantS3Code(t, err, "InvalidPart")
	})
	t.Run("part never uploaded", func(t *testing.T) {
		id := s.create(t, "k")
		p1 := s.part(t, "k", id, 1, small)
		p1.PartNumber = aws.Int32(2)
		_, err := s.complete("k", id, p1)
		wantS3Code(t, err, "InvalidPart")
	})
	t.Run("parts out of order", func(t *testing.T) {
		id := s.create(t, "k")
		p1 := s.part(t, "k", id, 1, big)
		p2 := s.part(t, "k", id, 2, small)
		_, err := s.complete("k", id, p2, p1)
		wantS3Code(t, err, "InvalidPartOrder")
	})
	t.Run("small middle part", func(t *testing.T) {
		id := s.create(t, "k")
		p1 := s.part(t, "k", id, 1, big)
		p2 := s.part(t, "k", id, 2, small)
		p3 := s.part(t, "k", id, 3, big)
		_, err := s.complete("k", id, p1, p2, p3)
		wantS3Code(t, err, "EntityTooSmall")
		// Replacing the small part fixes the upload.
		p2 = s.part(t, "k", id, 2, big)
		if _, err := s.complete("k", id, p1, p2, p3); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("if-none-match on an existing key", func(t *testing.T) {
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("exists"),
			Body: bytes.NewReader(small)}); err != nil {
			t.Fatal(err)
		}
		id := s.create(t, "exists")
		p1 := s.part(t, "exists", id, 1, small)
		_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(mpBucket), Key: aws.String("exists"), UploadId: id, IfNoneMatch: aws.String("*"),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{p1}}})
		wantS3Code(t, err, "PreconditionFailed")
	})
	t.Run("abort", func(t *testing.T) {
		id := s.create(t, "k")
		s.part(t, "k", id, 1, small)
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(mpBucket),
			Key: aws.String("k"), UploadId: id}); err != nil {
			t.Fatal(err)
		}
		_, err := s.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: id})
		wantS3Code(t, err, "NoSuchUpload")
		_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(mpBucket),
			Key: aws.String("k"), UploadId: id})
		wantS3Code(t, err, "NoSuchUpload")
	})
	t.Run("upload id of another key", func(t *testing.T) {
		id := s.create(t, "k")
		_, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(mpBucket), Key: aws.String("other"),
			UploadId: id, PartNumber: aws.Int32(1), Body: bytes.NewReader(small)})
		wantS3Code(t, err, "NoSuchUpload")
	})
	t.Run("part number", func(t *testing.T) {
		id := s.create(t, "k")
		for _, n := range []int32{0, 10001} {
			_, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(mpBucket), Key: aws.String("k"),
				UploadId: id, PartNumber: aws.Int32(n), Body: bytes.NewReader(small)})
			wantS3Code(t, err, "InvalidArgument")
		}
	})
	t.Run("no such bucket", func(t *testing.T) {
		_, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("missing"), Key: aws.String("k")})
		wantS3Code(t, err, "NoSuchBucket")
	})

	t.Run("list", func(t *testing.T) {
		id := s.create(t, "dir/unfinished")
		p1 := s.part(t, "dir/unfinished", id, 1, small)
		p2 := s.part(t, "dir/unfinished", id, 2, small)
		l, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket),
			Prefix: aws.String("dir/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Uploads) != 1 || aws.ToString(l.Uploads[0].Key) != "dir/unfinished" || aws.ToString(l.Uploads[0].UploadId) != *id ||
			l.Uploads[0].Initiated == nil {
			t.Fatalf("uploads %+v", l.Uploads)
		}
		l, err = s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket),
			Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.CommonPrefixes) != 1 || aws.ToString(l.CommonPrefixes[0].Prefix) != "dir/" {
			t.Fatalf("common prefixes %+v", l.CommonPrefixes)
		}
		for _, u := range l.Uploads {
			if strings.HasPrefix(aws.ToString(u.Key), "dir/") {
				t.Fatalf("upload %s listed beside the common prefix", aws.ToString(u.Key))
			}
		}

		// ListParts, a page at a time.
		var got []types.Part
		in := &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String("dir/unfinished"), UploadId: id, MaxParts: aws.Int32(1)}
		for {
			out, err := s.client.ListParts(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.Parts...)
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.PartNumberMarker = out.NextPartNumberMarker
		}
		if len(got) != 2 || aws.ToString(got[0].ETag) != aws.ToString(p1.ETag) || aws.ToString(got[1].ETag) != aws.ToString(p2.ETag) ||
			aws.ToInt64(got[1].Size) != int64(len(small)) || got[1].LastModified == nil {
			t.Fatalf("parts %+v", got)
		}
	})
}

// TestMultipartDisabled checks that without a store every multipart
// operation answers NotImplemented.
func TestMultipartDisabled(t *testing.T) {
	s := newMPServer(t, true)
	_, err := s.client.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(mpBucket), Key: aws.String("k")})
	wantS3Code(t, err, "NotImplemented")
	_, err = s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket)})
	wantS3Code(t, err, "NotImplemented")
}
