package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// newSDKClient returns an aws-sdk-go-v2 S3 client of srvURL, path style,
// configured as an application would be (config.LoadDefaultConfig), so
// with the SDK's default checksum settings: a CRC32 checksum on every
// upload, trailing over HTTPS.
func newSDKClient(t *testing.T, srvURL string, hc *http.Client, secret string) *s3.Client {
	t.Helper()
	// Keep the machine's AWS configuration (AWS_CA_BUNDLE, profiles, a
	// checksum setting) out of the test; an empty variable counts as unset.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(testRegion),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAccessKey, secret, "")),
		config.WithHTTPClient(hc),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srvURL)
		o.UsePathStyle = true
	})
}

// TestSDKEndToEnd puts objects with aws-sdk-go-v2 into a server that
// verifies every request, over HTTP and HTTPS, with each checksum
// algorithm, and compares what the server decoded with what was sent.
// Over HTTPS the SDK sends aws-chunked bodies with a trailing checksum;
// over HTTP a checksum header and the body's SHA-256.
func TestSDKEndToEnd(t *testing.T) {
	for _, tls := range []bool{false, true} {
		scheme := map[bool]string{false: "http", true: "https"}[tls]
		t.Run(scheme, func(t *testing.T) {
			s, srv := newFakeS3(t, tls)
			client := newSDKClient(t, srv.URL, srv.Client(), testSecret)
			ctx := context.Background()
			tests := []struct {
				name       string
				size       int
				alg        types.ChecksumAlgorithm
				unseekable bool
			}{
				{name: "default checksum", size: 100 << 10},
				{name: "empty", size: 0},
				{name: "crc32c", size: 70 << 10, alg: types.ChecksumAlgorithmCrc32c},
				{name: "crc64nvme", size: 70 << 10, alg: types.ChecksumAlgorithmCrc64nvme},
				{name: "sha1", size: 1 << 10, alg: types.ChecksumAlgorithmSha1},
				{name: "sha256", size: 3 << 20, alg: types.ChecksumAlgorithmSha256},
				{name: "unseekable body", size: 200 << 10, unseekable: true},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					if tc.unseekable && !tls {
						t.Skip("the SDK needs HTTPS (a trailing checksum) for an unseekable body")
					}
					data := testData(tc.size)
					key := "obj/" + strings.ReplaceAll(tc.name, " ", "+") + " é"
					var body io.Reader = bytes.NewReader(data)
					if tc.unseekable {
						body = readerOnly{body}
					}
					in := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: body,
						ChecksumAlgorithm: tc.alg, ContentLength: aws.Int64(int64(len(data))),
						Metadata: map[string]string{"note": "two  spaces"}}
					if _, err := client.PutObject(ctx, in); err != nil {
						t.Fatal(err)
					}
					got, sums, ok := s.object("bucket/" + key)
					if !ok || !bytes.Equal(got, data) {
						t.Fatalf("server decoded %d bytes, want %d", len(got), len(data))
					}
					wantAlg := string(tc.alg)
					if wantAlg == "" {
						wantAlg = CRC32 // the SDK's default
					}
					if len(sums) != 1 || sums[0].Algorithm != wantAlg {
						t.Fatalf("verified checksums %v, want one %s", sums, wantAlg)
					}

					// The SDK validates the stored checksum against the body.
					out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key),
						ChecksumMode: types.ChecksumModeEnabled})
					if err != nil {
						t.Fatal(err)
					}
					back, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || !bytes.Equal(back, data) {
						t.Fatalf("get: %d bytes, %v", len(back), err)
					}
				})
			}

			t.Run("multipart upload", func(t *testing.T) {
				data := testData(11 << 20)
				key := "multi/part"
				up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bucket"), Key: aws.String(key),
					ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
				if err != nil {
					t.Fatal(err)
				}
				var parts []types.CompletedPart
				for i, off := int32(1), 0; off < len(data); i, off = i+1, off+5<<20 {
					part := data[off:min(off+5<<20, len(data))]
					out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bucket"), Key: aws.String(key),
						UploadId: up.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(part),
						ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
					if err != nil {
						t.Fatal(err)
					}
					parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
				}
				if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bucket"), Key: aws.String(key),
					UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
					t.Fatal(err)
				}
				if got, _, _ := s.object("bucket/" + key); !bytes.Equal(got, data) {
					t.Fatalf("server assembled %d bytes, want %d", len(got), len(data))
				}
			})

			t.Run("presigned", func(t *testing.T) {
				pc := s3.NewPresignClient(client)
				data := []byte("through a presigned URL")
				put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("pre/signed"),
					ContentType: aws.String("text/plain")}, s3.WithPresignExpires(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader(data))
				for k, v := range put.SignedHeader {
					if k != "Host" {
						req.Header[k] = v
					}
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("presigned PUT: %s", resp.Status)
				}
				get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("pre/signed")})
				if err != nil {
					t.Fatal(err)
				}
				resp, err = srv.Client().Get(get.URL)
				if err != nil {
					t.Fatal(err)
				}
				back, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Equal(back, data) {
					t.Fatalf("presigned GET: %s %q", resp.Status, back)
				}
			})

			t.Run("wrong secret", func(t *testing.T) {
				bad := newSDKClient(t, srv.URL, srv.Client(), "not the secret")
				_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("nope"),
					Body: bytes.NewReader(testData(1000))})
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
					t.Fatalf("err = %v, want SignatureDoesNotMatch", err)
				}
				if _, _, ok := s.object("bucket/nope"); ok {
					t.Fatal("object stored")
				}
			})

			modes := s.seenModes()
			t.Logf("x-amz-content-sha256 modes seen: %v", modes)
			if tls && modes[StreamingUnsignedPayloadTrailer] == 0 {
				t.Errorf("no STREAMING-UNSIGNED-PAYLOAD-TRAILER request over HTTPS")
			}
			if !tls && modes[UnsignedPayload]+modes[StreamingUnsignedPayloadTrailer] == len(modes) {
				t.Errorf("no request with a hashed payload over HTTP")
			}
		})
	}
}
