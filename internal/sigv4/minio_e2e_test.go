package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// newMinioClient returns a minio-go client of srvURL, path style.
func newMinioClient(t *testing.T, srvURL string, hc *http.Client, secret string, trailing bool) *minio.Client {
	t.Helper()
	u, err := url.Parse(srvURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:           credentials.NewStaticV4(testAccessKey, secret, ""),
		Secure:          u.Scheme == "https",
		Transport:       hc.Transport,
		Region:          testRegion, // no GetBucketLocation first
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: trailing,
		MaxRetries:      1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMinioGoEndToEnd puts objects with minio-go v7, whose PutObject signs
// every chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) over HTTP, adds a
// signed trailer with a checksum when asked, and sends unsigned trailers
// over HTTPS.
func TestMinioGoEndToEnd(t *testing.T) {
	tests := []struct {
		name     string
		tls      bool
		trailing bool
		opts     minio.PutObjectOptions
		size     int
		mode     string // x-amz-content-sha256 the client must have used
		checksum string // algorithm the server must have verified
	}{
		{name: "http signed chunks", size: 200 << 10, mode: StreamingPayload},
		{name: "http signed chunks, empty", size: 0, mode: StreamingPayload},
		{name: "http signed chunks, one partial chunk", size: 1000, mode: StreamingPayload},
		{name: "http signed chunks and trailer", trailing: true, size: 150 << 10,
			opts: minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}, mode: StreamingPayloadTrailer, checksum: CRC32C},
		{name: "http signed trailer, crc64nvme", trailing: true, size: 64 << 10,
			opts: minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME}, mode: StreamingPayloadTrailer, checksum: CRC64NVME},
		{name: "http signed trailer, sha256", trailing: true, size: 100 << 10,
			opts: minio.PutObjectOptions{Checksum: minio.ChecksumSHA256}, mode: StreamingPayloadTrailer, checksum: SHA256},
		{name: "https", tls: true, size: 200 << 10},
		{name: "https trailing checksum", tls: true, trailing: true, size: 200 << 10,
			opts: minio.PutObjectOptions{Checksum: minio.ChecksumCRC32}, mode: StreamingUnsignedPayloadTrailer, checksum: CRC32},
		{name: "http multipart", size: 11 << 20, opts: minio.PutObjectOptions{PartSize: 5 << 20}, mode: StreamingPayload},
		{name: "https multipart with trailing checksums", tls: true, trailing: true, size: 11 << 20,
			opts: minio.PutObjectOptions{PartSize: 5 << 20}, mode: StreamingUnsignedPayloadTrailer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newFakeS3(t, tc.tls)
			c := newMinioClient(t, srv.URL, srv.Client(), testSecret, tc.trailing)
			data := testData(tc.size)
			key := "dir/" + tc.name
			if _, err := c.PutObject(context.Background(), "bucket", key, bytes.NewReader(data), int64(len(data)), tc.opts); err != nil {
				t.Fatalf("PutObject: %v (server errors: %v)", err, s.errs)
			}
			got, sums, ok := s.object("bucket/" + key)
			if !ok || !bytes.Equal(got, data) {
				t.Fatalf("server decoded %d bytes, want %d", len(got), len(data))
			}
			modes := s.seenModes()
			t.Logf("x-amz-content-sha256 modes seen: %v; checksums %v", modes, sums)
			if tc.mode != "" && modes[tc.mode] == 0 {
				t.Errorf("client did not use %s", tc.mode)
			}
			if tc.checksum != "" && (len(sums) != 1 || sums[0].Algorithm != tc.checksum) {
				t.Errorf("verified checksums %v, want one %s", sums, tc.checksum)
			}
		})
	}
}

// TestMinioGoWrongSecret: minio-go gets SignatureDoesNotMatch, as an S3
// error it parses, and nothing is stored.
func TestMinioGoWrongSecret(t *testing.T) {
	for _, tls := range []bool{false, true} {
		s, srv := newFakeS3(t, tls)
		c := newMinioClient(t, srv.URL, srv.Client(), "wrong secret", true)
		data := testData(100 << 10)
		_, err := c.PutObject(context.Background(), "bucket", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if code := minio.ToErrorResponse(err).Code; code != "SignatureDoesNotMatch" {
			t.Fatalf("tls %v: err %v, code %q; want SignatureDoesNotMatch", tls, err, code)
		}
		if _, _, ok := s.object("bucket/k"); ok {
			t.Fatal("object stored")
		}
	}
}
