package s3api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// testData returns n bytes of a repeating pattern.
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%23)
	}
	return b
}

// TestObjectPutGetHead puts an object with every header S3 stores and
// reads it back with GET and HEAD, whole, by range, conditionally and
// with response overrides.
func TestObjectPutGetHead(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	body := []byte("hello, objstore: the body of a test object")
	key := "dir/hello world+é.txt"
	expires := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	put, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType:        aws.String("text/plain; charset=utf-8"),
		CacheControl:       aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="hello.txt"`),
		ContentEncoding:    aws.String("gzip"),
		ContentLanguage:    aws.String("fr-CA"),
		Expires:            &expires,
		Metadata:           map[string]string{"color": "blue", "note": "two words"},
	})
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + md5hex(body) + `"`
	if got := aws.ToString(put.ETag); got != etag {
		t.Errorf("put ETag %s, want %s", got, etag)
	}
	wantMeta := map[string]string{"color": "blue", "note": "two words"}
	type headers struct {
		ContentType, CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, Expires, ETag string
		Length                                                                                         int64
	}
	want := headers{
		ContentType: "text/plain; charset=utf-8", CacheControl: "max-age=60",
		ContentDisposition: `attachment; filename="hello.txt"`, ContentEncoding: "gzip",
		ContentLanguage: "fr-CA", Expires: expires.Format(http.TimeFormat), ETag: etag,
		Length: int64(len(body)),
	}
	check := func(what string, got headers, meta map[string]string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: headers\n%+v\nwant\n%+v", what, got, want)
		}
		if !maps.Equal(meta, wantMeta) {
			t.Errorf("%s: metadata %v, want %v", what, meta, wantMeta)
		}
	}

	get, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %q, %v", got, err)
	}
	check("get", headers{
		aws.ToString(get.ContentType), aws.ToString(get.CacheControl), aws.ToString(get.ContentDisposition),
		aws.ToString(get.ContentEncoding), aws.ToString(get.ContentLanguage), aws.ToString(get.ExpiresString),
		aws.ToString(get.ETag), aws.ToInt64(get.ContentLength),
	}, get.Metadata)
	if get.LastModified == nil || time.Since(*get.LastModified) > time.Minute {
		t.Errorf("get: Last-Modified %v", get.LastModified)
	}

	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	check("head", headers{
		aws.ToString(head.ContentType), aws.ToString(head.CacheControl), aws.ToString(head.ContentDisposition),
		aws.ToString(head.ContentEncoding), aws.ToString(head.ContentLanguage), aws.ToString(head.ExpiresString),
		aws.ToString(head.ETag), aws.ToInt64(head.ContentLength),
	}, head.Metadata)

	t.Run("range", func(t *testing.T) {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			Range: aws.String("bytes=7-14")})
		if err != nil {
			t.Fatal(err)
		}
		part, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(part, body[7:15]) {
			t.Fatalf("range: %q, %v; want %q", part, err, body[7:15])
		}
		if cr := aws.ToString(out.ContentRange); cr != fmt.Sprintf("bytes 7-14/%d", len(body)) {
			t.Errorf("Content-Range %q", cr)
		}
		out, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			Range: aws.String("bytes=-5")})
		if err != nil {
			t.Fatal(err)
		}
		part, _ = io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(part, body[len(body)-5:]) {
			t.Errorf("suffix range: %q", part)
		}
		_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			Range: aws.String("bytes=1000-")})
		wantCode(t, err, "InvalidRange")
	})

	t.Run("conditional", func(t *testing.T) {
		_, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfNoneMatch: aws.String(etag)})
		if httpStatus(err) != http.StatusNotModified {
			t.Errorf("If-None-Match current ETag: %v, want 304", err)
		}
		_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfNoneMatch: aws.String(etag)})
		if httpStatus(err) != http.StatusNotModified {
			t.Errorf("HEAD If-None-Match current ETag: %v, want 304", err)
		}
		_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
		if httpStatus(err) != http.StatusPreconditionFailed {
			t.Errorf("If-Match other ETag: %v, want 412", err)
		}
		wantCode(t, err, "PreconditionFailed")
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfMatch: aws.String(etag), IfNoneMatch: aws.String(`"other"`)})
		if err != nil {
			t.Fatalf("If-Match current ETag: %v", err)
		}
		out.Body.Close()
		_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
		if httpStatus(err) != http.StatusNotModified {
			t.Errorf("If-Modified-Since the future: %v, want 304", err)
		}
		_, err = s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			IfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
		wantCode(t, err, "PreconditionFailed")
	})

	// An error document is not the object: it must not carry the object's
	// headers, Content-Encoding: gzip least of all, which a plain HTTP
	// client (net/http, asking for gzip itself) would try to decode.
	t.Run("error without object headers", func(t *testing.T) {
		for _, tc := range []struct{ header, value, code string }{
			{"If-Match", `"0123456789abcdef0123456789abcdef"`, "PreconditionFailed"},
			{"Range", "bytes=1000-", "InvalidRange"},
		} {
			r, err := http.NewRequest(http.MethodGet, s.tls.URL+"/"+testBucket+"/"+escapeKey(key), nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set(tc.header, tc.value)
			sign(t, r, "UNSIGNED-PAYLOAD", testSK, time.Now())
			resp, b := s.do(t, s.tls, r)
			if xmlCode(b) != tc.code {
				t.Errorf("%s: %s %q, want %s", tc.header, resp.Status, b, tc.code)
			}
			for _, h := range []string{"Content-Encoding", "Content-Disposition", "Cache-Control", "Expires", "Content-Language", "X-Amz-Meta-Color", "ETag"} {
				if v := resp.Header.Get(h); v != "" {
					t.Errorf("%s: error answered with %s: %s", tc.header, h, v)
				}
			}
		}
	})

	t.Run("response overrides", func(t *testing.T) {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
			ResponseContentType:        aws.String("application/x-override"),
			ResponseContentDisposition: aws.String("inline"),
			ResponseCacheControl:       aws.String("no-store"),
		})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if ct := aws.ToString(out.ContentType); ct != "application/x-override" {
			t.Errorf("Content-Type %q, want the override", ct)
		}
		if cd := aws.ToString(out.ContentDisposition); cd != "inline" {
			t.Errorf("Content-Disposition %q, want the override", cd)
		}
		if cc := aws.ToString(out.CacheControl); cc != "no-store" {
			t.Errorf("Cache-Control %q, want the override", cc)
		}
	})
}

// TestEmptyObject stores and reads objects of zero bytes.
func TestEmptyObject(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"empty reader", bytes.NewReader(nil)},
		{"no body", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "empty/" + tc.name
			put, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: tc.body})
			if err != nil {
				t.Fatal(err)
			}
			const emptyMD5 = `"d41d8cd98f00b204e9800998ecf8427e"`
			if aws.ToString(put.ETag) != emptyMD5 {
				t.Errorf("ETag %s, want %s", aws.ToString(put.ETag), emptyMD5)
			}
			if got := s.mustGet(t, testBucket, key); len(got) != 0 {
				t.Errorf("get: %d bytes", len(got))
			}
			head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(head.ContentLength) != 0 || aws.ToString(head.ETag) != emptyMD5 {
				t.Errorf("head: length %d, ETag %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag))
			}
		})
	}
}

// TestDeleteObject deletes an object and finds it gone; deleting a
// missing object succeeds, as on S3.
func TestDeleteObject(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	s.put(t, testBucket, "doomed", []byte("soon gone"))
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("doomed")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.get(t, testBucket, "doomed")
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("get after delete: %v, want NoSuchKey", err)
	}
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("doomed")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("head after delete: %v, want NotFound", err)
	}
	if _, err := s.backend.Backend.Head(ctx, testBucket, "doomed"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("backend still has the object: %v", err)
	}
	if slices.Contains(s.keys(t, testBucket, ""), "doomed") {
		t.Error("listed after delete")
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("never-was")}); err != nil {
		t.Errorf("delete of a missing key: %v", err)
	}
}

// TestDeleteObjects deletes several keys in one request, and refuses a
// request of more than 1000 keys without deleting any.
func TestDeleteObjects(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	for i := range 5 {
		s.put(t, testBucket, fmt.Sprintf("del/%d", i), []byte{byte(i)})
	}
	ids := func(keys ...string) []types.ObjectIdentifier {
		var out []types.ObjectIdentifier
		for _, k := range keys {
			out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return out
	}
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(testBucket),
		Delete: &types.Delete{Objects: ids("del/0", "del/1", "del/missing")}})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	if !slices.Equal(deleted, []string{"del/0", "del/1", "del/missing"}) || len(out.Errors) != 0 {
		t.Errorf("deleted %q, errors %v", deleted, out.Errors)
	}
	if got := s.keys(t, testBucket, "del/"); !slices.Equal(got, []string{"del/2", "del/3", "del/4"}) {
		t.Errorf("left %q", got)
	}

	out, err = s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(testBucket),
		Delete: &types.Delete{Objects: ids("del/2"), Quiet: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Errorf("quiet: deleted %v, errors %v", out.Deleted, out.Errors)
	}
	s.wantAbsent(t, testBucket, "del/2")

	var many []string
	for i := range 1001 {
		many = append(many, fmt.Sprintf("del/%d", i+3))
	}
	_, err = s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(testBucket),
		Delete: &types.Delete{Objects: ids(many...)}})
	wantCode(t, err, "MalformedXML")
	if got := s.keys(t, testBucket, "del/"); !slices.Equal(got, []string{"del/3", "del/4"}) {
		t.Errorf("a refused DeleteObjects deleted something: left %q", got)
	}
}

// TestCopyObject copies within and across buckets, keeping the source's
// metadata (COPY) or taking the request's (REPLACE).
func TestCopyObject(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	body := []byte("the source of every copy")
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("src/a b"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/x-source"), CacheControl: aws.String("max-age=1"),
		Metadata: map[string]string{"origin": "source"},
	})
	if err != nil {
		t.Fatal(err)
	}
	source := testBucket + "/" + url.PathEscape("src/a b") // the SDK wants it encoded
	tests := []struct {
		name         string
		bucket, key  string
		directive    types.MetadataDirective
		contentType  string
		meta         map[string]string
		wantType     string
		wantMeta     map[string]string
		wantCache    string
		wantCode     string
		copySource   string // default source
		ifMatch      string // x-amz-copy-source-if-match
		wantBody     []byte // default body
		wantNoObject bool
	}{
		{name: "same bucket, COPY by default", bucket: testBucket, key: "copy/default",
			wantType: "text/x-source", wantMeta: map[string]string{"origin": "source"}, wantCache: "max-age=1"},
		{name: "other bucket, COPY", bucket: "other", key: "copy/explicit", directive: types.MetadataDirectiveCopy,
			contentType: "ignored/type", meta: map[string]string{"ignored": "yes"},
			wantType: "text/x-source", wantMeta: map[string]string{"origin": "source"}, wantCache: "max-age=1"},
		{name: "other bucket, REPLACE", bucket: "other", key: "copy/replaced", directive: types.MetadataDirectiveReplace,
			contentType: "text/x-new", meta: map[string]string{"fresh": "meta"},
			wantType: "text/x-new", wantMeta: map[string]string{"fresh": "meta"}},
		{name: "copy-source-if-match another ETag", bucket: testBucket, key: "copy/not-matching", ifMatch: `"other"`,
			wantCode: "PreconditionFailed", wantNoObject: true},
		{name: "copy-source-if-match the ETag", bucket: testBucket, key: "copy/matching", ifMatch: `"` + md5hex(body) + `"`,
			wantType: "text/x-source", wantMeta: map[string]string{"origin": "source"}, wantCache: "max-age=1"},
		{name: "onto itself, REPLACE", bucket: testBucket, key: "src/a b", directive: types.MetadataDirectiveReplace,
			contentType: "text/x-self", meta: map[string]string{"origin": "self"},
			wantType: "text/x-self", wantMeta: map[string]string{"origin": "self"}},
		{name: "onto itself without REPLACE", bucket: testBucket, key: "src/a b", wantCode: "InvalidRequest"},
		{name: "missing source", bucket: testBucket, key: "copy/of-nothing", copySource: testBucket + "/nothing",
			wantCode: "NoSuchKey", wantNoObject: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := source
			if tc.copySource != "" {
				src = tc.copySource
			}
			in := &s3.CopyObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String(tc.key), CopySource: aws.String(src),
				MetadataDirective: tc.directive, Metadata: tc.meta}
			if tc.contentType != "" {
				in.ContentType = aws.String(tc.contentType)
			}
			if tc.ifMatch != "" {
				in.CopySourceIfMatch = aws.String(tc.ifMatch)
			}
			out, err := s.client.CopyObject(ctx, in)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				if tc.wantNoObject {
					s.wantAbsent(t, tc.bucket, tc.key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			etag := `"` + md5hex(body) + `"`
			if out.CopyObjectResult == nil || aws.ToString(out.CopyObjectResult.ETag) != etag || out.CopyObjectResult.LastModified == nil {
				t.Errorf("copy result %+v, want ETag %s", out.CopyObjectResult, etag)
			}
			if got := s.mustGet(t, tc.bucket, tc.key); !bytes.Equal(got, body) {
				t.Errorf("copy holds %q", got)
			}
			head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String(tc.key)})
			if err != nil {
				t.Fatal(err)
			}
			if ct := aws.ToString(head.ContentType); ct != tc.wantType {
				t.Errorf("Content-Type %q, want %q", ct, tc.wantType)
			}
			if !maps.Equal(head.Metadata, tc.wantMeta) {
				t.Errorf("metadata %v, want %v", head.Metadata, tc.wantMeta)
			}
			if cc := aws.ToString(head.CacheControl); cc != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", cc, tc.wantCache)
			}
		})
	}
}

// listingKeys are the 30 objects of the listing tests.
func listingKeys() []string {
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("logs/2024-01-%02d.log", i+1))
		keys = append(keys, fmt.Sprintf("photos/%d/img.jpg", i))
	}
	for i := range 8 {
		keys = append(keys, fmt.Sprintf("top-%d", i))
	}
	keys = append(keys, "readme.txt", "zeta")
	slices.Sort(keys)
	return keys
}

// TestListObjects lists with both versions of ListObjects: prefix,
// delimiter, max-keys, pagination and start-after.
func TestListObjects(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	all := listingKeys()
	for _, k := range all {
		s.put(t, testBucket, k, []byte(k))
	}
	filter := func(f func(string) bool) []string {
		var out []string
		for _, k := range all {
			if f(k) {
				out = append(out, k)
			}
		}
		return out
	}
	topLevel := filter(func(k string) bool { return !strings.Contains(k, "/") })
	photoDirs := make([]string, 10)
	for i := range photoDirs {
		photoDirs[i] = fmt.Sprintf("photos/%d/", i)
	}

	tests := []struct {
		name       string
		prefix     string
		delimiter  string
		startAfter string
		wantKeys   []string
		wantCPs    []string
	}{
		{name: "all", wantKeys: all},
		{name: "prefix", prefix: "logs/", wantKeys: filter(func(k string) bool { return strings.HasPrefix(k, "logs/") })},
		{name: "prefix matching nothing", prefix: "nothing/"},
		{name: "delimiter", delimiter: "/", wantKeys: topLevel, wantCPs: []string{"logs/", "photos/"}},
		{name: "prefix and delimiter", prefix: "photos/", delimiter: "/", wantCPs: photoDirs},
		{name: "start-after", startAfter: "photos/5/img.jpg", wantKeys: filter(func(k string) bool { return k > "photos/5/img.jpg" })},
		{name: "start-after and delimiter", startAfter: "logs/", delimiter: "/",
			wantKeys: filter(func(k string) bool { return !strings.Contains(k, "/") && k > "logs/" }), wantCPs: []string{"photos/"}},
	}
	for _, tc := range tests {
		for _, maxKeys := range []int32{1000, 7, 1} {
			t.Run(fmt.Sprintf("v2 %s max-keys %d", tc.name, maxKeys), func(t *testing.T) {
				in := &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), MaxKeys: aws.Int32(maxKeys)}
				if tc.prefix != "" {
					in.Prefix = aws.String(tc.prefix)
				}
				if tc.delimiter != "" {
					in.Delimiter = aws.String(tc.delimiter)
				}
				if tc.startAfter != "" {
					in.StartAfter = aws.String(tc.startAfter)
				}
				var keys, cps []string
				pages := 0
				p := s3.NewListObjectsV2Paginator(s.client, in)
				for p.HasMorePages() {
					page, err := p.NextPage(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if pages++; pages > 100 {
						t.Fatal("the listing does not end")
					}
					n := len(page.Contents) + len(page.CommonPrefixes)
					if n > int(maxKeys) || int(aws.ToInt32(page.KeyCount)) != n {
						t.Fatalf("page of %d entries, KeyCount %d, max-keys %d", n, aws.ToInt32(page.KeyCount), maxKeys)
					}
					if aws.ToBool(page.IsTruncated) != (page.NextContinuationToken != nil) {
						t.Fatalf("IsTruncated %v with NextContinuationToken %v", aws.ToBool(page.IsTruncated), page.NextContinuationToken)
					}
					for _, o := range page.Contents {
						keys = append(keys, aws.ToString(o.Key))
						if aws.ToString(o.ETag) != `"`+md5hex([]byte(aws.ToString(o.Key)))+`"` || aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) {
							t.Errorf("%s: ETag %s, size %d", aws.ToString(o.Key), aws.ToString(o.ETag), aws.ToInt64(o.Size))
						}
					}
					for _, cp := range page.CommonPrefixes {
						cps = append(cps, aws.ToString(cp.Prefix))
					}
				}
				if !slices.Equal(keys, tc.wantKeys) {
					t.Errorf("keys\n%q\nwant\n%q", keys, tc.wantKeys)
				}
				if !slices.Equal(cps, tc.wantCPs) {
					t.Errorf("common prefixes %q, want %q", cps, tc.wantCPs)
				}
			})
			t.Run(fmt.Sprintf("v1 %s max-keys %d", tc.name, maxKeys), func(t *testing.T) {
				var keys, cps []string
				marker := tc.startAfter
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatal("the listing does not end")
					}
					in := &s3.ListObjectsInput{Bucket: aws.String(testBucket), MaxKeys: aws.Int32(maxKeys)}
					if tc.prefix != "" {
						in.Prefix = aws.String(tc.prefix)
					}
					if tc.delimiter != "" {
						in.Delimiter = aws.String(tc.delimiter)
					}
					if marker != "" {
						in.Marker = aws.String(marker)
					}
					page, err := s.client.ListObjects(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					if aws.ToString(page.Marker) != marker {
						t.Errorf("Marker %q, want %q", aws.ToString(page.Marker), marker)
					}
					for _, o := range page.Contents {
						keys = append(keys, aws.ToString(o.Key))
						if o.Owner == nil {
							t.Errorf("%s: no owner", aws.ToString(o.Key))
						}
					}
					for _, cp := range page.CommonPrefixes {
						cps = append(cps, aws.ToString(cp.Prefix))
					}
					if !aws.ToBool(page.IsTruncated) {
						break
					}
					// NextMarker, or the last key when S3 leaves it out
					// (no delimiter).
					marker = aws.ToString(page.NextMarker)
					if marker == "" && len(page.Contents) > 0 {
						marker = aws.ToString(page.Contents[len(page.Contents)-1].Key)
					}
					if marker == "" {
						t.Fatal("truncated page without NextMarker or keys")
					}
				}
				if !slices.Equal(keys, tc.wantKeys) {
					t.Errorf("keys\n%q\nwant\n%q", keys, tc.wantKeys)
				}
				if !slices.Equal(cps, tc.wantCPs) {
					t.Errorf("common prefixes %q, want %q", cps, tc.wantCPs)
				}
			})
		}
	}

	t.Run("max-keys 0", func(t *testing.T) {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), MaxKeys: aws.Int32(0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 0 || len(out.CommonPrefixes) != 0 || aws.ToInt32(out.KeyCount) != 0 || aws.ToInt32(out.MaxKeys) != 0 {
			t.Errorf("max-keys 0: %d objects, %d prefixes, KeyCount %d, MaxKeys %d",
				len(out.Contents), len(out.CommonPrefixes), aws.ToInt32(out.KeyCount), aws.ToInt32(out.MaxKeys))
		}
		if aws.ToBool(out.IsTruncated) && out.NextContinuationToken == nil {
			t.Error("max-keys 0: truncated without a continuation token: a client would loop forever")
		}
		v1, err := s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(testBucket), MaxKeys: aws.Int32(0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(v1.Contents) != 0 {
			t.Errorf("v1 max-keys 0: %d objects", len(v1.Contents))
		}
		_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("no-such-bucket"), MaxKeys: aws.Int32(0)})
		wantCode(t, err, "NoSuchBucket")
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, q := range []string{"list-type=2&max-keys=-1", "list-type=2&max-keys=x", "list-type=2&encoding-type=base64",
			"list-type=2&continuation-token=%25%25"} {
			resp, body := s.do(t, s.tls, signed(t, s.tls, http.MethodGet, "/"+testBucket+"?"+q, nil, testSK))
			if resp.StatusCode != http.StatusBadRequest || xmlCode(body) != "InvalidArgument" {
				t.Errorf("%s: %s %s, want 400 InvalidArgument", q, resp.Status, xmlCode(body))
			}
		}
	})
}

// TestListEncodingURL lists keys with spaces, unicode and XML-special
// characters with encoding-type=url, which encodes keys and prefixes.
func TestListEncodingURL(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	keys := []string{"plain", "space dir/a b.txt", "uni/é ü ñ.txt", "uni/日本語/ファイル", "x+y&z<w>", "100% real"}
	for _, k := range keys {
		s.put(t, testBucket, k, []byte(k))
	}
	slices.Sort(keys)
	decode := func(t *testing.T, v *string) string {
		t.Helper()
		d, err := url.QueryUnescape(aws.ToString(v))
		if err != nil {
			t.Fatalf("%q is not URL-encoded: %v", aws.ToString(v), err)
		}
		return d
	}

	t.Run("v2", func(t *testing.T) {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		if out.EncodingType != types.EncodingTypeUrl {
			t.Errorf("EncodingType %q", out.EncodingType)
		}
		var got []string
		for _, o := range out.Contents {
			if k := aws.ToString(o.Key); strings.ContainsAny(k, " é日") {
				t.Errorf("key %q is not encoded", k)
			}
			got = append(got, decode(t, o.Key))
		}
		if !slices.Equal(got, keys) {
			t.Errorf("keys %q, want %q", got, keys)
		}
	})
	t.Run("v2 delimiter and prefix", func(t *testing.T) {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket),
			Prefix: aws.String("uni/"), Delimiter: aws.String("/"), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 1 || decode(t, out.Contents[0].Key) != "uni/é ü ñ.txt" {
			t.Errorf("contents %v", out.Contents)
		}
		if len(out.CommonPrefixes) != 1 || decode(t, out.CommonPrefixes[0].Prefix) != "uni/日本語/" {
			t.Errorf("common prefixes %v", out.CommonPrefixes)
		}
		if aws.ToString(out.CommonPrefixes[0].Prefix) == "uni/日本語/" {
			t.Error("common prefix not encoded")
		}
	})
	t.Run("v1 paginated", func(t *testing.T) {
		var got []string
		marker := ""
		for range len(keys) + 1 {
			out, err := s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(testBucket),
				EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(2), Marker: aws.String(marker)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, decode(t, o.Key))
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			// The next marker is the decoded last key, as a client would
			// send it.
			marker = got[len(got)-1]
		}
		if !slices.Equal(got, keys) {
			t.Errorf("keys %q, want %q", got, keys)
		}
	})
	t.Run("no encoding", func(t *testing.T) {
		if got := s.keys(t, testBucket, ""); !slices.Equal(got, keys) {
			t.Errorf("keys %q, want %q", got, keys)
		}
	})
}

// TestListingMerge lists a bucket in write-back mode while the backend
// refuses writes: objects PUT through the API are listed before they are
// uploaded, objects deleted through the API are not listed though the
// backend still holds them, and once the backend is back the listing is
// the same.
func TestListingMerge(t *testing.T) {
	s := newTestServer(t, withWriteBack())
	ctx := context.Background()
	s.put(t, testBucket, "m/deleted", []byte("deleted through objstore"))
	s.put(t, testBucket, "m/kept", []byte("uploaded"))
	s.put(t, testBucket, "m/overwritten", []byte("short"))
	eventually(t, "the first objects are uploaded", func() bool { return len(s.node.Dirty(ctx, testBucket, "")) == 0 })

	s.backend.down.Store(true)
	s.put(t, testBucket, "m/new", []byte("not yet uploaded"))
	s.put(t, testBucket, "m/sub/deep", []byte("not yet uploaded either"))
	s.put(t, testBucket, "m/overwritten", []byte("a longer new version"))
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String("m/deleted")}); err != nil {
		t.Fatal(err)
	}
	// The backend has not seen any of it.
	page, err := s.backend.List(ctx, testBucket, backend.ListOptions{Prefix: "m/"})
	if err != nil {
		t.Fatal(err)
	}
	var inBackend []string
	for _, o := range page.Objects {
		inBackend = append(inBackend, o.Key)
	}
	if !slices.Equal(inBackend, []string{"m/deleted", "m/kept", "m/overwritten"}) {
		t.Fatalf("the backend holds %q; is it really down?", inBackend)
	}

	want := []string{"m/kept", "m/new", "m/overwritten", "m/sub/deep"}
	sizes := map[string]int64{"m/kept": 8, "m/new": 16, "m/overwritten": 20, "m/sub/deep": 23}
	check := func(t *testing.T) {
		t.Helper()
		if got := s.keys(t, testBucket, "m/"); !slices.Equal(got, want) {
			t.Errorf("v2 listing %q, want %q", got, want)
		}
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String("m/")})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			if aws.ToInt64(o.Size) != sizes[aws.ToString(o.Key)] {
				t.Errorf("%s listed with size %d, want %d", aws.ToString(o.Key), aws.ToInt64(o.Size), sizes[aws.ToString(o.Key)])
			}
		}
		// Delimited: the dirty m/sub/deep rolls up into m/sub/.
		out, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket),
			Prefix: aws.String("m/"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var keys, cps []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, cp := range out.CommonPrefixes {
			cps = append(cps, aws.ToString(cp.Prefix))
		}
		if !slices.Equal(keys, want[:3]) || !slices.Equal(cps, []string{"m/sub/"}) {
			t.Errorf("delimited listing %q + %q", keys, cps)
		}
		// Pages of one entry each: every entry once.
		var paged []string
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket),
			Prefix: aws.String("m/"), MaxKeys: aws.Int32(1)})
		for p.HasMorePages() && len(paged) < 20 {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				paged = append(paged, aws.ToString(o.Key))
			}
		}
		if !slices.Equal(paged, want) {
			t.Errorf("paged listing %q, want %q", paged, want)
		}
		// ListObjects (v1) merges as well, page by page too.
		var v1paged []string
		marker := ""
		for range 20 {
			page, err := s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(testBucket),
				Prefix: aws.String("m/"), MaxKeys: aws.Int32(1), Marker: aws.String(marker)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				v1paged = append(v1paged, aws.ToString(o.Key))
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			if marker = aws.ToString(page.NextMarker); marker == "" {
				t.Fatal("truncated v1 page without NextMarker")
			}
		}
		if !slices.Equal(v1paged, want) {
			t.Errorf("paged v1 listing %q, want %q", v1paged, want)
		}
		if _, err := s.get(t, testBucket, "m/deleted"); apiCode(err) != "NoSuchKey" {
			t.Errorf("get of the deleted object: %v, want NoSuchKey", err)
		}
		v1, err := s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(testBucket), Prefix: aws.String("m/")})
		if err != nil {
			t.Fatal(err)
		}
		var v1keys []string
		for _, o := range v1.Contents {
			v1keys = append(v1keys, aws.ToString(o.Key))
		}
		if !slices.Equal(v1keys, want) {
			t.Errorf("v1 listing %q, want %q", v1keys, want)
		}
	}
	t.Run("backend down", check)

	// A bucket holding objects not yet uploaded is not empty.
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("pending")}); err != nil {
		t.Fatal(err)
	}
	s.put(t, "pending", "only", []byte("not yet uploaded"))
	_, err = s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("pending")})
	wantCode(t, err, "BucketNotEmpty")

	s.backend.down.Store(false)
	eventually(t, "the backend catches up", func() bool {
		if len(s.node.Dirty(ctx, testBucket, "")) > 0 {
			return false
		}
		_, err := s.backend.Backend.Head(ctx, testBucket, "m/deleted")
		return errors.Is(err, core.ErrNotFound)
	})
	t.Run("backend up", check)
}

// TestBuckets creates, inspects, lists and deletes buckets.
func TestBuckets(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	const b = "fresh-bucket"
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
	wantCode(t, err, "BucketAlreadyOwnedByYou")
	head, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.BucketRegion) != testRegion {
		t.Errorf("HeadBucket region %q", aws.ToString(head.BucketRegion))
	}
	list, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, bk := range list.Buckets {
		names = append(names, aws.ToString(bk.Name))
		if bk.CreationDate == nil || time.Since(*bk.CreationDate) > time.Hour {
			t.Errorf("bucket %s created %v", aws.ToString(bk.Name), bk.CreationDate)
		}
	}
	if !slices.Equal(names, []string{b, compatBucket, testBucket}) {
		t.Errorf("buckets %q", names)
	}
	loc, err := s.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if loc.LocationConstraint != "" {
		t.Errorf("location %q, want \"\" (us-east-1)", loc.LocationConstraint)
	}
	ver, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if ver.Status != "" {
		t.Errorf("versioning %q", ver.Status)
	}

	s.put(t, b, "k", []byte("v"))
	_, err = s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b)})
	wantCode(t, err, "BucketNotEmpty")
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("HeadBucket of a deleted bucket: %v, want NotFound", err)
	}

	t.Run("missing bucket", func(t *testing.T) {
		const missing = "no-such-bucket"
		_, err := s.get(t, missing, "k")
		wantCode(t, err, "NoSuchBucket")
		_, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(missing)})
		wantCode(t, err, "NoSuchBucket")
		_, err = s.client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(missing)})
		wantCode(t, err, "NoSuchBucket")
		_, err = s.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(missing)})
		wantCode(t, err, "NoSuchBucket")
		_, err = s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(missing)})
		wantCode(t, err, "NoSuchBucket")
		_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(missing)})
		if httpStatus(err) != http.StatusNotFound {
			t.Errorf("HeadBucket: %v, want 404", err)
		}
	})
	t.Run("invalid name", func(t *testing.T) {
		_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
		wantCode(t, err, "InvalidBucketName")
	})
}

// pastPresigner presigns as the SDK does, but as if at a time in the past.
type pastPresigner struct{ ago time.Duration }

func (p pastPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	signingTime time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return v4.NewSigner().PresignHTTP(ctx, creds, r, payloadHash, service, region, signingTime.Add(-p.ago), optFns...)
}

// TestPresigned uses presigned GET and PUT URLs made by the SDK, and
// refuses them once expired.
func TestPresigned(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	pc := s3.NewPresignClient(s.client)
	hc := s.httpClient(s.tls)
	send := func(method, u string, h http.Header, body []byte) (*http.Response, []byte) {
		t.Helper()
		r, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			if !strings.EqualFold(k, "Host") {
				r.Header[k] = vs
			}
		}
		r.ContentLength = int64(len(body))
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	body := []byte("uploaded with a presigned URL")
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("presigned/a b"),
		ContentType: aws.String("text/x-presigned")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, rb := send(put.Method, put.URL, put.SignedHeader, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %s %s", resp.Status, rb)
	}
	if got := s.mustGet(t, testBucket, "presigned/a b"); !bytes.Equal(got, body) {
		t.Fatalf("stored %q", got)
	}

	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("presigned/a b"),
		ResponseContentType: aws.String("application/x-override")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, rb = send(get.Method, get.URL, get.SignedHeader, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(rb, body) {
		t.Fatalf("presigned GET: %s %q", resp.Status, rb)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-override" {
		t.Errorf("presigned GET Content-Type %q, want the override", ct)
	}

	t.Run("expired", func(t *testing.T) {
		past := func(o *s3.PresignOptions) { o.Presigner = pastPresigner{ago: 10 * time.Second} }
		get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("presigned/a b")},
			s3.WithPresignExpires(time.Second), past)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(get.URL, "X-Amz-Expires=1&") {
			t.Fatalf("URL %s does not expire in 1s", get.URL)
		}
		resp, rb := send(get.Method, get.URL, get.SignedHeader, nil)
		if resp.StatusCode != http.StatusForbidden || xmlCode(rb) != "AccessDenied" || !bytes.Contains(rb, []byte("Request has expired")) {
			t.Errorf("expired GET: %s %s", resp.Status, rb)
		}
		put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("presigned/expired")},
			s3.WithPresignExpires(time.Second), past)
		if err != nil {
			t.Fatal(err)
		}
		resp, rb = send(put.Method, put.URL, put.SignedHeader, body)
		if resp.StatusCode != http.StatusForbidden || xmlCode(rb) != "AccessDenied" {
			t.Errorf("expired PUT: %s %s", resp.Status, rb)
		}
		s.wantAbsent(t, testBucket, "presigned/expired")
	})
	t.Run("tampered", func(t *testing.T) {
		get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("presigned/a b")})
		if err != nil {
			t.Fatal(err)
		}
		// Another key with the same signature.
		u := strings.Replace(get.URL, "presigned/a%20b", "presigned/other", 1)
		resp, rb := send(get.Method, u, get.SignedHeader, nil)
		if resp.StatusCode != http.StatusForbidden || xmlCode(rb) != "SignatureDoesNotMatch" {
			t.Errorf("tampered GET: %s %s", resp.Status, rb)
		}
	})
}

// TestRequestID checks x-amz-request-id on successes and errors, and
// that an error document carries the same ID. (Every response of every
// test is checked for the header too, by the clients' transport.)
func TestRequestID(t *testing.T) {
	s := newTestServer(t)
	s.put(t, testBucket, "k", []byte("v"))
	mk := func(method, path string, signed bool) *http.Request {
		r, err := http.NewRequest(method, s.tls.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if signed {
			sign(t, r, "UNSIGNED-PAYLOAD", testSK, time.Now())
		}
		return r
	}
	tests := []struct {
		name     string
		r        *http.Request
		status   int
		wantCode string
	}{
		{"list buckets", mk(http.MethodGet, "/", true), http.StatusOK, ""},
		{"get", mk(http.MethodGet, "/"+testBucket+"/k", true), http.StatusOK, ""},
		{"head", mk(http.MethodHead, "/"+testBucket+"/k", true), http.StatusOK, ""},
		{"missing key", mk(http.MethodGet, "/"+testBucket+"/missing", true), http.StatusNotFound, "NoSuchKey"},
		{"head of a missing key", mk(http.MethodHead, "/"+testBucket+"/missing", true), http.StatusNotFound, ""},
		{"anonymous", mk(http.MethodGet, "/"+testBucket+"/k", false), http.StatusForbidden, "AccessDenied"},
		{"method not allowed", mk(http.MethodPost, "/"+testBucket+"/k", true), http.StatusMethodNotAllowed, "MethodNotAllowed"},
		{"not implemented", mk(http.MethodGet, "/"+testBucket+"?policy", true), http.StatusNotImplemented, "NotImplemented"},
	}
	seen := make(map[string]bool)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, s.tls, tc.r)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s", resp.Status, body)
			}
			id := resp.Header.Get("X-Amz-Request-Id")
			if id == "" || seen[id] {
				t.Fatalf("request ID %q (seen before: %v)", id, seen[id])
			}
			seen[id] = true
			if tc.wantCode != "" {
				if xmlCode(body) != tc.wantCode {
					t.Errorf("code %q, want %q: %s", xmlCode(body), tc.wantCode, body)
				}
				if !bytes.Contains(body, []byte("<RequestId>"+id+"</RequestId>")) {
					t.Errorf("error document without the request ID %s: %s", id, body)
				}
			}
		})
	}
}

// crc32Of and sha256Of are the values of x-amz-checksum-crc32 and -sha256.
func crc32Of(b []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestChecksums puts objects with CRC32 and SHA-256 checksums over HTTPS
// (trailing checksums of aws-chunked bodies) and plain HTTP (checksum
// headers) and gets them back with ChecksumMode ENABLED: the SDK checks
// the body against the checksum returned.
func TestChecksums(t *testing.T) {
	s := newTestServer(t, withPlainHTTP())
	ctx := context.Background()
	data := testData(200 << 10)
	for _, srv := range []*httptest.Server{s.tls, s.plain} {
		client := s.sdk(srv, testAK, testSK)
		scheme := strings.SplitN(srv.URL, ":", 2)[0]
		for _, tc := range []struct {
			alg  types.ChecksumAlgorithm
			want func([]byte) string
			got  func(*s3.GetObjectOutput) *string
		}{
			{types.ChecksumAlgorithmCrc32, crc32Of, func(o *s3.GetObjectOutput) *string { return o.ChecksumCRC32 }},
			{types.ChecksumAlgorithmSha256, sha256Of, func(o *s3.GetObjectOutput) *string { return o.ChecksumSHA256 }},
		} {
			t.Run(scheme+" "+string(tc.alg), func(t *testing.T) {
				key := "sum/" + scheme + "/" + string(tc.alg)
				put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
					Body: bytes.NewReader(data), ChecksumAlgorithm: tc.alg})
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want(data)
				if c := put.ChecksumCRC32; tc.alg == types.ChecksumAlgorithmCrc32 && aws.ToString(c) != want {
					t.Errorf("put answered CRC32 %q, want %q", aws.ToString(c), want)
				}
				if c := put.ChecksumSHA256; tc.alg == types.ChecksumAlgorithmSha256 && aws.ToString(c) != want {
					t.Errorf("put answered SHA256 %q, want %q", aws.ToString(c), want)
				}
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
					ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(out.Body) // the SDK validates as it reads
				out.Body.Close()
				if err != nil || !bytes.Equal(back, data) {
					t.Fatalf("get: %d bytes, %v", len(back), err)
				}
				if got := aws.ToString(tc.got(out)); got != want {
					t.Errorf("get returned checksum %q, want %q", got, want)
				}
				if ce := aws.ToString(out.ContentEncoding); ce != "" {
					t.Errorf("Content-Encoding %q: the transfer's aws-chunked was stored", ce)
				}
				head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
					ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				if tc.alg == types.ChecksumAlgorithmCrc32 && aws.ToString(head.ChecksumCRC32) != want ||
					tc.alg == types.ChecksumAlgorithmSha256 && aws.ToString(head.ChecksumSHA256) != want {
					t.Errorf("head returned CRC32 %q SHA256 %q, want %q", aws.ToString(head.ChecksumCRC32), aws.ToString(head.ChecksumSHA256), want)
				}
				// Without ChecksumMode, no checksum.
				plain, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				plain.Body.Close()
				if plain.ChecksumCRC32 != nil || plain.ChecksumSHA256 != nil {
					t.Error("checksum returned without ChecksumMode ENABLED")
				}
			})
		}
	}
	t.Run("wrong checksum", func(t *testing.T) {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String("sum/wrong"),
			Body: bytes.NewReader(data), ChecksumCRC32: aws.String(crc32Of([]byte("something else")))})
		wantCode(t, err, "BadDigest")
		s.wantAbsent(t, testBucket, "sum/wrong")
	})
}

// TestMinioGo uses minio-go, whose uploads over plain HTTP sign every
// chunk (aws-chunked with chunk signatures).
func TestMinioGo(t *testing.T) {
	s := newTestServer(t, withPlainHTTP())
	ctx := context.Background()
	for _, srv := range []*httptest.Server{s.plain, s.tls} {
		scheme := strings.SplitN(srv.URL, ":", 2)[0]
		t.Run(scheme, func(t *testing.T) {
			c := s.minio(t, srv, nil)
			prefix := "minio-" + scheme + "/"
			data := testData(150 << 10) // three chunks of 64 KiB
			info, err := c.PutObject(ctx, testBucket, prefix+"big é", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
				ContentType: "application/x-minio", UserMetadata: map[string]string{"Client": "minio-go"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != md5hex(data) {
				t.Errorf("put ETag %q", info.ETag)
			}
			if _, err := c.PutObject(ctx, testBucket, prefix+"small", bytes.NewReader([]byte("tiny")), 4, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := s.mustGet(t, testBucket, prefix+"big é"); !bytes.Equal(got, data) {
				t.Fatalf("the SDK reads %d bytes", len(got))
			}

			obj, err := c.GetObject(ctx, testBucket, prefix+"big é", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("GetObject: %d bytes, %v", len(back), err)
			}
			st, err := c.StatObject(ctx, testBucket, prefix+"big é", minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Size != int64(len(data)) || st.ContentType != "application/x-minio" || st.UserMetadata["Client"] != "minio-go" {
				t.Errorf("StatObject: size %d, type %q, metadata %v", st.Size, st.ContentType, st.UserMetadata)
			}

			var listed []string
			for o := range c.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				listed = append(listed, o.Key)
			}
			if !slices.Equal(listed, []string{prefix + "big é", prefix + "small"}) {
				t.Errorf("ListObjects %q", listed)
			}
			var v1 []string
			for o := range c.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, UseV1: true}) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				v1 = append(v1, o.Key)
			}
			if !slices.Equal(v1, listed) {
				t.Errorf("ListObjects v1 %q", v1)
			}

			if err := c.RemoveObject(ctx, testBucket, prefix+"big é", minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err = c.StatObject(ctx, testBucket, prefix+"big é", minio.StatObjectOptions{})
			if code := minio.ToErrorResponse(err).Code; code != "NoSuchKey" {
				t.Errorf("StatObject after RemoveObject: %v (%s), want NoSuchKey", err, code)
			}
			s.wantAbsent(t, testBucket, prefix+"big é")
		})
	}
}

// corruptChunks returns a transport wrapper that changes one byte of the
// aws-chunked body of every PUT in flight: at offset bytes after the
// second "chunk-signature=" (inside the signature for a small offset, in
// the chunk's data past the 64 hex digits and CRLF).
func corruptChunks(offset int) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodPut || r.Body == nil || !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
				return rt.RoundTrip(r)
			}
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				return nil, err
			}
			const sig = "chunk-signature="
			first := bytes.Index(b, []byte(sig))
			second := bytes.Index(b[first+1:], []byte(sig))
			if first < 0 || second < 0 {
				return nil, fmt.Errorf("no second chunk signature in the body")
			}
			i := first + 1 + second + len(sig) + offset
			b[i] ^= 0x01
			c := r.Clone(r.Context())
			c.Body = io.NopCloser(bytes.NewReader(b))
			c.GetBody = nil
			return rt.RoundTrip(c)
		})
	}
}

// TestRefused sends requests the API must refuse, each with its S3 error
// code, and checks that each stored nothing.
func TestRefused(t *testing.T) {
	s := newTestServer(t, withPlainHTTP())
	ctx := context.Background()
	data := testData(150 << 10)
	put := func(c *s3.Client, key string, mod func(*s3.PutObjectInput)) error {
		in := &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(data)}
		if mod != nil {
			mod(in)
		}
		_, err := c.PutObject(ctx, in)
		return err
	}
	minioPut := func(t *testing.T, offset int, key string) error {
		c := s.minio(t, s.plain, corruptChunks(offset))
		_, err := c.PutObject(ctx, testBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		return err
	}
	long := strings.Repeat("k", core.MaxKeyLen+1)
	tests := []struct {
		name string
		key  string
		send func(t *testing.T, key string) error
		code string
	}{
		{"wrong secret", "refused/wrong-secret", func(t *testing.T, k string) error { return put(s.sdk(s.tls, testAK, "wrong"), k, nil) }, "SignatureDoesNotMatch"},
		{"wrong secret, plain HTTP", "refused/wrong-secret-http", func(t *testing.T, k string) error { return put(s.sdk(s.plain, testAK, "wrong"), k, nil) }, "SignatureDoesNotMatch"},
		{"unknown access key", "refused/unknown-key", func(t *testing.T, k string) error { return put(s.sdk(s.tls, "AKIAUNKNOWN", testSK), k, nil) }, "InvalidAccessKeyId"},
		{"tampered chunk signature", "refused/chunk-signature", func(t *testing.T, k string) error { return minioPut(t, 3, k) }, "SignatureDoesNotMatch"},
		{"tampered chunk data", "refused/chunk-data", func(t *testing.T, k string) error { return minioPut(t, 64+2+100, k) }, "SignatureDoesNotMatch"},
		{"key too long", long, func(t *testing.T, k string) error { return put(s.client, k, nil) }, "KeyTooLongError"},
		{"Content-MD5 mismatch", "refused/md5", func(t *testing.T, k string) error {
			return put(s.client, k, func(in *s3.PutObjectInput) {
				sum := md5.Sum([]byte("another body"))
				in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
			})
		}, "BadDigest"},
		{"Content-MD5 mismatch, plain HTTP", "refused/md5-http", func(t *testing.T, k string) error {
			return put(s.sdk(s.plain, testAK, testSK), k, func(in *s3.PutObjectInput) {
				sum := md5.Sum([]byte("another body"))
				in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
			})
		}, "BadDigest"},
		{"anonymous", "refused/anonymous", func(t *testing.T, k string) error {
			r, err := http.NewRequest(http.MethodPut, s.tls.URL+"/"+testBucket+"/"+k, bytes.NewReader(data))
			if err != nil {
				return err
			}
			resp, body := s.do(t, s.tls, r)
			return fmt.Errorf("%s: %w", resp.Status, codeError(xmlCode(body)))
		}, "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.send(t, tc.key)
			if got := apiCode(err); got != tc.code {
				var ce codeError
				if !errors.As(err, &ce) || string(ce) != tc.code {
					t.Errorf("error %v, want code %s", err, tc.code)
				}
			}
			if len(tc.key) > core.MaxKeyLen {
				// Such a key cannot be read either: check that the
				// listing does not show it.
				if slices.Contains(s.keys(t, testBucket, "k"), tc.key) {
					t.Error("the key too long was stored")
				}
				return
			}
			s.wantAbsent(t, testBucket, tc.key)
		})
	}

	t.Run("malformed DeleteObjects", func(t *testing.T) {
		s.put(t, testBucket, "refused/survivor", []byte("still here"))
		for _, body := range []string{
			"<Delete><Object><Key>refused/survivor</Key></Object>",
			"not xml at all",
			"<Delete></Delete>",
		} {
			r := signed(t, s.tls, http.MethodPost, "/"+testBucket+"?delete", []byte(body), testSK)
			resp, rb := s.do(t, s.tls, r)
			if resp.StatusCode != http.StatusBadRequest || xmlCode(rb) != "MalformedXML" {
				t.Errorf("%q: %s %s, want 400 MalformedXML", body, resp.Status, rb)
			}
		}
		if got := s.mustGet(t, testBucket, "refused/survivor"); string(got) != "still here" {
			t.Errorf("survivor holds %q", got)
		}
	})

	for _, srv := range []*httptest.Server{s.plain, s.tls} {
		scheme := strings.SplitN(srv.URL, ":", 2)[0]
		t.Run("body shorter than declared over "+scheme, func(t *testing.T) {
			key := "refused/short-" + scheme
			status, body, err := shortBody(t, srv, key, 1000, []byte("only half of it"))
			if err == nil && (status != http.StatusBadRequest || xmlCode(body) != "IncompleteBody") {
				t.Errorf("%d %s, want 400 IncompleteBody (or a closed connection)", status, body)
			}
			if err != nil {
				t.Logf("the connection ended without an answer: %v", err)
			}
			s.wantAbsent(t, testBucket, key)
		})
	}
}

// codeError is an S3 error code read from a raw response.
type codeError string

func (e codeError) Error() string { return string(e) }

// shortBody sends a signed PUT of key declaring declared bytes of body
// but sending only body, then half-closes the connection. It returns the
// answer, or the error that ended the connection without one.
func shortBody(t *testing.T, srv *httptest.Server, key string, declared int, body []byte) (int, []byte, error) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPut, srv.URL+"/"+testBucket+"/"+key, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign(t, r, "UNSIGNED-PAYLOAD", testSK, time.Now())
	var conn net.Conn
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if u.Scheme == "https" {
		conn, err = tls.DialWithDialer(dialer, "tcp", u.Host, srv.Client().Transport.(*http.Transport).TLSClientConfig)
	} else {
		conn, err = dialer.Dial("tcp", u.Host)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", r.URL.RequestURI(), u.Host, declared)
	r.Header.Write(&req)
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	type closeWriter interface{ CloseWrite() error }
	if err := conn.(closeWriter).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Error("answer without x-amz-request-id")
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestCompatEquivalence checks that /api/v1 and the S3 API are two views
// of the same objects: bucket compatBucket over S3 is what /api/v1 reads
// and writes.
func TestCompatEquivalence(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	hc := s.httpClient(s.tls)

	body := []byte("written over S3")
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(compatBucket), Key: aws.String("from s3/é"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/x-s3"), Metadata: map[string]string{"via": "s3"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(s.tls.URL + "/api/v1/get/" + url.PathEscape("from s3/é"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("/api/v1/get: %s %q", resp.Status, got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/x-s3" {
		t.Errorf("/api/v1/get Content-Type %q", ct)
	}
	resp, err = hc.Get(s.tls.URL + "/api/v1/meta/" + url.PathEscape("from s3/é"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID       string            `json:"id"`
		Size     int64             `json:"size"`
		ETag     string            `json:"etag"`
		UserMeta map[string]string `json:"user_meta"`
	}
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || m.ID != "from s3/é" || m.Size != int64(len(body)) || m.ETag != md5hex(body) || m.UserMeta["via"] != "s3" {
		t.Errorf("/api/v1/meta: %+v, %v", m, err)
	}

	body = []byte("written over /api/v1")
	req, err := http.NewRequest(http.MethodPost, s.tls.URL+"/api/v1/put", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Meta-ID", "from v1/ü")
	req.Header.Set("X-Meta-UserMeta", `{"via":"v1"}`)
	req.Header.Set("Content-Type", "text/x-v1")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/put: %s", resp.Status)
	}
	if got := s.mustGet(t, compatBucket, "from v1/ü"); !bytes.Equal(got, body) {
		t.Errorf("S3 GetObject: %q", got)
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(compatBucket), Key: aws.String("from v1/ü")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != `"`+md5hex(body)+`"` || head.Metadata["via"] != "v1" || aws.ToString(head.ContentType) != "text/x-v1" {
		t.Errorf("S3 HeadObject: ETag %s, metadata %v, type %s", aws.ToString(head.ETag), head.Metadata, aws.ToString(head.ContentType))
	}
	if got := s.keys(t, compatBucket, ""); !slices.Equal(got, []string{"from s3/é", "from v1/ü"}) {
		t.Errorf("S3 listing of %s: %q", compatBucket, got)
	}

	// A delete through either API is seen by the other.
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(compatBucket), Key: aws.String("from v1/ü")}); err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(s.tls.URL + "/api/v1/get/" + url.PathEscape("from v1/ü"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/api/v1/get after an S3 delete: %s", resp.Status)
	}
	req, err = http.NewRequest(http.MethodDelete, s.tls.URL+"/api/v1/delete/"+url.PathEscape("from s3/é"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/delete: %s", resp.Status)
	}
	s.wantAbsent(t, compatBucket, "from s3/é")
}

// TestOddKeys stores keys that path cleaning would change or that need
// escaping, and reads and lists them intact.
func TestOddKeys(t *testing.T) {
	s := newTestServer(t)
	keys := []string{"../up", "./here", "/leading", "a//b", "a/../b", "a/./b", "dir/", "q?x#y%z&w=1", "tab\tand space", "ü/ß"}
	for _, k := range keys {
		s.put(t, testBucket, k, []byte(k))
	}
	for _, k := range keys {
		if got := s.mustGet(t, testBucket, k); string(got) != k {
			t.Errorf("%q holds %q", k, got)
		}
	}
	slices.Sort(keys)
	if got := s.keys(t, testBucket, ""); !slices.Equal(got, keys) {
		t.Errorf("listed %q, want %q", got, keys)
	}
}

// TestAnonymous serves unsigned requests when allowed, without honouring
// their response-* overrides (S3 honours them only on signed requests).
func TestAnonymous(t *testing.T) {
	s := newTestServer(t, withAnonymous())
	s.put(t, testBucket, "public", []byte("for everyone"))
	r, err := http.NewRequest(http.MethodGet, s.tls.URL+"/"+testBucket+"/public?response-content-type=text%2Fhtml", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := s.do(t, s.tls, r)
	if resp.StatusCode != http.StatusOK || string(body) != "for everyone" {
		t.Fatalf("anonymous GET: %s %q", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct == "text/html" {
		t.Error("anonymous request overrode Content-Type")
	}
	// A signature is still checked when there is one.
	_, err = s.sdk(s.tls, testAK, "wrong").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("public")})
	wantCode(t, err, "SignatureDoesNotMatch")
}
