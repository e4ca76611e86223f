package sigv4

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBodyDigests checks the digests of single-chunk bodies: the signed
// SHA-256, Content-MD5 and x-amz-checksum-* headers.
func TestBodyDigests(t *testing.T) {
	const text = "hello world"
	md5sum := md5.Sum([]byte(text))
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum[:])
	tests := []struct {
		name     string
		body     string
		payload  string // "" for the hash of body
		header   http.Header
		method   string
		query    string
		want     error
		msg      string
		checksum *Checksum
	}{
		{name: "signed hash", body: text},
		{name: "signed hash, upper case hex", body: text, payload: strings.ToUpper(hexHash([]byte(text)))},
		{name: "signed hash of another body", body: text, payload: hexHash([]byte("other")), want: ErrContentSHA256Mismatch},
		{name: "signed empty body", body: ""},
		{name: "signed empty hash, body sent", body: text, payload: emptySHA256, want: ErrContentSHA256Mismatch},
		{name: "no body, a get", method: "GET", body: "", payload: emptySHA256},
		{name: "no body, signed hash of another", body: "", payload: hexHash([]byte("other")), want: ErrContentSHA256Mismatch},
		{name: "no body, content-md5 of another", body: "", header: http.Header{"Content-Md5": {goodMD5}},
			payload: UnsignedPayload, want: ErrBadDigest, msg: "Content-MD5"},
		{name: "no body, checksum of another", body: "", payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}},
			want: ErrBadDigest},
		{name: "content-md5", body: text, header: http.Header{"Content-Md5": {goodMD5}}},
		{name: "content-md5 of another body", body: "hello worle", header: http.Header{"Content-Md5": {goodMD5}},
			payload: UnsignedPayload, want: ErrBadDigest, msg: "Content-MD5"},
		{name: "content-md5 not base64", body: text, header: http.Header{"Content-Md5": {"%%%"}}, want: ErrInvalidDigest},
		{name: "content-md5 too short", body: text, header: http.Header{"Content-Md5": {"AAAA"}}, want: ErrInvalidDigest},
		{name: "crc32 header", body: text, payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}},
			checksum: &Checksum{CRC32, "DUoRhQ=="}},
		{name: "crc32c header", body: text, payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Crc32c": {"yZRlqg=="}},
			checksum: &Checksum{CRC32C, "yZRlqg=="}},
		// The vector of aws-sdk-go-v2's service/internal/checksum tests.
		{name: "crc64nvme header", body: text, payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Crc64nvme": {"jSnVw/bqjr4="}},
			checksum: &Checksum{CRC64NVME, "jSnVw/bqjr4="}},
		{name: "sha1 header", body: text, payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Sha1": {"Kq5sNclPz7QV2+lfQIuc6R7oRu0="}},
			checksum: &Checksum{SHA1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="}},
		{name: "sha256 header", body: text, header: http.Header{"X-Amz-Checksum-Sha256": {"uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="}},
			checksum: &Checksum{SHA256, "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="}},
		{name: "checksum of another body", body: "hello", payload: UnsignedPayload, header: http.Header{"X-Amz-Checksum-Crc64nvme": {"jSnVw/bqjr4="}},
			want: ErrBadDigest, msg: "The CRC64NVME you specified did not match"},
		{name: "checksum with algorithm and type headers", body: text, payload: UnsignedPayload, header: http.Header{
			"X-Amz-Checksum-Crc32": {"DUoRhQ=="}, "X-Amz-Checksum-Type": {"FULL_OBJECT"}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}},
			checksum: &Checksum{CRC32, "DUoRhQ=="}},
		{name: "complete multipart upload checksums describe the object", method: "POST", query: "uploadId=u1", body: "<xml/>",
			header: http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}}},
		{name: "other posts check them", method: "POST", query: "delete", body: "<xml/>",
			header: http.Header{"X-Amz-Checksum-Crc32": {"DUoRhQ=="}}, want: ErrBadDigest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "PUT"
			}
			r := newRequest(t, method, "http://s3.test/bucket/key?"+tc.query, []byte(tc.body))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			payload := tc.payload
			if payload == "" {
				payload = hexHash([]byte(tc.body))
			}
			signHeader(t, r, payload, testCreds, testRegion, testTime)
			res, got, err := readAll(newTestVerifier(t, nil), toServer(t, r))
			wantErr(t, err, tc.want, tc.msg)
			if tc.want != nil {
				return
			}
			if string(got) != tc.body {
				t.Fatalf("body %q", got)
			}
			sums := res.Body.Checksums()
			switch {
			case tc.checksum == nil && len(sums) != 0:
				t.Fatalf("Checksums() = %v, want none", sums)
			case tc.checksum != nil && (len(sums) != 1 || sums[0] != *tc.checksum):
				t.Fatalf("Checksums() = %v, want %v", sums, *tc.checksum)
			}
		})
	}
}

// TestBodyTruncated: a body shorter than its Content-Length, as Go's
// server reports it, is IncompleteBody, and the error sticks.
func TestBodyTruncated(t *testing.T) {
	body := []byte("0123456789")
	r := newRequest(t, "PUT", "http://s3.test/bucket/key", body)
	signHeader(t, r, hexHash(body), testCreds, testRegion, testTime)
	var raw bytes.Buffer
	if err := r.Write(&raw); err != nil {
		t.Fatal(err)
	}
	sr := parseServer(t, raw.Bytes()[:raw.Len()-4])
	res, err := newTestVerifier(t, nil).Verify(sr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	wantErr(t, err, ErrIncompleteBody, "")
	if _, again := res.Body.Read(make([]byte, 1)); again != err {
		t.Fatalf("second read: %v, want the same error", again)
	}
	if res.Body.Checksums() != nil {
		t.Fatal("Checksums() after an error")
	}
	if err := res.Body.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBodyChecksumsOnlyAfterEOF: nothing is reported verified before the
// whole body has been read.
func TestBodyChecksumsOnlyAfterEOF(t *testing.T) {
	r := newRequest(t, "PUT", "http://s3.test/bucket/key", []byte("hello world"))
	r.Header.Set("X-Amz-Checksum-Crc32", "DUoRhQ==")
	signHeader(t, r, UnsignedPayload, testCreds, testRegion, testTime)
	res, err := newTestVerifier(t, nil).Verify(toServer(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Body.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if res.Body.Checksums() != nil {
		t.Fatal("Checksums() before EOF")
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	if len(res.Body.Checksums()) != 1 {
		t.Fatal("no Checksums() after EOF")
	}
}

func TestParseContentMD5(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{in: "XrY7u+Ae7tCTyyK7j1rNww=="},
		{in: " XrY7u+Ae7tCTyyK7j1rNww== "},
		{in: "XrY7u+Ae7tCTyyK7j1rNww", want: ErrInvalidDigest},
		{in: "", want: ErrInvalidDigest},
		{in: "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", want: ErrInvalidDigest},
	} {
		_, err := ParseContentMD5(tc.in)
		wantErr(t, err, tc.want, "")
	}
}

func TestStripAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"aws-chunked":       "",
		"aws-chunked,gzip":  "gzip",
		"gzip, AWS-Chunked": "gzip",
		"gzip,br":           "gzip,br",
	} {
		if got := stripAWSChunked([]string{in}); got != want {
			t.Errorf("stripAWSChunked(%q) = %q, want %q", in, got, want)
		}
	}
}
