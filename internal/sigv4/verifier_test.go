package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

func hexHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestVerifyHeaderAccepts signs requests with aws-sdk-go-v2's signer and
// verifies them as the server receives them.
func TestVerifyHeaderAccepts(t *testing.T) {
	body := []byte("the quick brown fox")
	key := func(k string) string { return "/bucket/" + httpbinding.EscapePath(k, false) }
	tests := []struct {
		name    string
		method  string
		target  string // path and query, as sent
		header  http.Header
		body    []byte
		payload string // x-amz-content-sha256; "" for the body's hash
		wire    string // if set, the request target sent instead of target
	}{
		{name: "get object", method: "GET", target: "/bucket/key.txt"},
		{name: "root", method: "GET", target: "/"},
		{name: "bucket", method: "GET", target: "/bucket"},
		{name: "space and plus in key", method: "GET", target: key("a b+c")},
		{name: "unicode key", method: "GET", target: key("€/日本語/😀.txt")},
		{name: "reserved characters in key", method: "GET", target: key("a!b'c(d)e*f,g;h=i@j:k$l&m")},
		{name: "unreserved characters in key", method: "GET", target: key("a~b_c-d.e")},
		{name: "double and trailing slash", method: "GET", target: "/bucket/a//b/"},
		{name: "dot segments kept", method: "GET", target: "/bucket/a/./b/../c"},
		{name: "encoded slash in a segment", method: "GET", target: "/bucket/x%2Fy/z"},
		{name: "percent in key", method: "GET", target: key("100%")},
		{name: "key sent less encoded than signed", method: "GET", target: key("a!b(c)"), wire: "/bucket/a!b(c)"},
		{name: "query without value", method: "POST", target: "/bucket/k?uploads"},
		{name: "query with empty value", method: "GET", target: "/bucket?acl="},
		{name: "list objects query", method: "GET", target: "/bucket?list-type=2&prefix=a%20b%2Fc&delimiter=%2F&max-keys=10"},
		{name: "query plus is a space", method: "GET", target: "/bucket?prefix=a+b"},
		{name: "query sorted after encoding", method: "GET", target: "/bucket?a-b=1&a%2Fb=2&A=3&a=4"},
		{name: "repeated query name", method: "GET", target: "/bucket?tag=b&tag=a"},
		{name: "query value with = and unicode", method: "GET", target: "/bucket/k?x=a%3Db&y=%C3%A9"},
		{name: "upload part", method: "PUT", target: "/bucket/k?partNumber=3&uploadId=abc%2Fdef~", body: body},
		{
			name: "headers: spaces collapsed, multiple values, metadata", method: "PUT", target: "/bucket/k", body: body,
			header: http.Header{
				"X-Amz-Meta-Note": {"  a   b    c  "},
				"X-Amz-Meta-List": {"one", "two"},
				"Content-Type":    {"text/plain;  charset=utf-8"},
				"Cache-Control":   {"no-cache"},
			},
		},
		{name: "range", method: "GET", target: "/bucket/k", header: http.Header{"Range": {"bytes=0-9"}}},
		{name: "unsigned payload", method: "PUT", target: "/bucket/k", body: body, payload: UnsignedPayload},
		{name: "empty put", method: "PUT", target: "/bucket/empty", body: []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, tc.method, "http://s3.test:9000"+tc.target, tc.body)
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			payload := tc.payload
			if payload == "" {
				payload = hexHash(tc.body)
			}
			signHeader(t, r, payload, testCreds, testRegion, testTime)
			if tc.wire != "" {
				r.URL.RawPath, r.URL.Path = "", ""
				r.URL.Opaque = "//s3.test:9000" + tc.wire
			}
			sr := toServer(t, r)
			res, got, err := readAll(newTestVerifier(t, nil), sr)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tc.body) {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			if res.AccessKey != testAccessKey || res.Anonymous || res.Presigned || res.Region != testRegion {
				t.Errorf("result = %+v", res)
			}
			if res.DecodedLength != int64(len(tc.body)) {
				t.Errorf("DecodedLength = %d, want %d", res.DecodedLength, len(tc.body))
			}
		})
	}
}

// TestVerifyHeaderRejects changes signed requests or the verifier and
// checks the error of each case.
func TestVerifyHeaderRejects(t *testing.T) {
	body := []byte("payload")
	tests := []struct {
		name    string
		creds   aws.Credentials
		region  string
		when    time.Time
		payload string
		before  func(r *http.Request) // before signing
		after   func(r *http.Request) // after signing, client side
		config  func(*Config)
		want    error
		msg     string
	}{
		{name: "wrong secret", creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "nope"},
			want: ErrSignatureDoesNotMatch},
		{name: "unknown access key", creds: aws.Credentials{AccessKeyID: "AKUNKNOWN", SecretAccessKey: testSecret},
			want: ErrInvalidAccessKeyID},
		{name: "signed header changed", before: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "1") },
			after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }, want: ErrSignatureDoesNotMatch},
		{name: "unsigned x-amz header added", after: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "1") },
			want: ErrHeadersNotSigned},
		{name: "unsigned x-amz-acl added", after: func(r *http.Request) { r.Header.Set("x-amz-acl", "public-read") },
			want: ErrHeadersNotSigned},
		{name: "path changed", after: func(r *http.Request) { r.URL.Path = "/bucket/other" }, want: ErrSignatureDoesNotMatch},
		{name: "query added", after: func(r *http.Request) { r.URL.RawQuery = "versionId=1" }, want: ErrSignatureDoesNotMatch},
		{name: "method changed", after: func(r *http.Request) { r.Method = "POST" }, want: ErrSignatureDoesNotMatch},
		{name: "host changed", after: func(r *http.Request) { r.Host = "evil.test" }, want: ErrSignatureDoesNotMatch},
		{name: "signature tampered", after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-4]+"0000")
		}, want: ErrSignatureDoesNotMatch},
		{name: "host not signed", after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", strings.Replace(a, "host;", "", 1))
		}, want: ErrHeadersNotSigned, msg: "not signed"},
		{name: "too old", when: testTime.Add(-15 * time.Minute), want: ErrRequestTimeTooSkewed},
		{name: "too new", when: testTime.Add(17 * time.Minute), want: ErrRequestTimeTooSkewed},
		{name: "skew configurable", when: testTime.Add(-2 * time.Minute), config: func(c *Config) { c.MaxSkew = time.Minute },
			want: ErrRequestTimeTooSkewed},
		{name: "region not allowed", region: "eu-west-1", config: func(c *Config) { c.Regions = []string{"us-east-1", "auto"} },
			want: ErrAuthorizationHeaderMalformed, msg: "the region 'eu-west-1' is wrong"},
		{name: "service not s3", after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/s3/", "/ec2/", 1))
		}, want: ErrAuthorizationHeaderMalformed, msg: "incorrect service"},
		{name: "credential date not x-amz-date", after: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testTime.Add(24*time.Hour).Format(amzDateFormat))
		}, config: func(c *Config) { c.Now = at(testTime.Add(24 * time.Hour)) },
			want: ErrAuthorizationHeaderMalformed, msg: "Invalid credential date"},
		{name: "no date", after: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: ErrAccessDenied, msg: "Date"},
		{name: "no x-amz-content-sha256", after: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") },
			want: ErrInvalidRequest, msg: "x-amz-content-sha256"},
		{name: "bad x-amz-content-sha256", payload: "STREAMING-SOMETHING", want: ErrInvalidArgument},
		{name: "sigv4a payload", payload: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", want: ErrInvalidRequest, msg: "4A"},
		{name: "signature v2", after: func(r *http.Request) { r.Header.Set("Authorization", "AWS AKID:c2lnbmF0dXJl") },
			want: ErrInvalidRequest, msg: "not supported"},
		{name: "sigv4a", after: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x") },
			want: ErrInvalidRequest, msg: "not supported"},
		{name: "unknown scheme", after: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") },
			want: ErrInvalidArgument},
		{name: "component missing", after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, want: ErrAuthorizationHeaderMalformed, msg: "three components"},
		{name: "credential malformed", after: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20260314/us-east-1, SignedHeaders=host, Signature=00")
		}, want: ErrAuthorizationHeaderMalformed, msg: "Credential is mal-formed"},
		{name: "both header and query", after: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" },
			want: ErrInvalidArgument, msg: "Only one auth mechanism"},
		{name: "content-md5 malformed", before: func(r *http.Request) { r.Header.Set("Content-Md5", "nope") },
			want: ErrInvalidDigest},
		{name: "checksum value malformed", before: func(r *http.Request) { r.Header.Set("X-Amz-Checksum-Crc32", "AAAA") },
			want: ErrInvalidRequest, msg: "x-amz-checksum-crc32"},
		{name: "two checksums", before: func(r *http.Request) {
			r.Header.Set("X-Amz-Checksum-Crc32", "AAAAAA==")
			r.Header.Set("X-Amz-Checksum-Crc32c", "AAAAAA==")
		}, want: ErrInvalidRequest, msg: "Multiple checksum"},
		{name: "trailer without trailer mode", before: func(r *http.Request) { r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32") },
			want: ErrInvalidRequest, msg: "x-amz-trailer"},
		{name: "streaming without decoded length", payload: StreamingPayload, want: ErrMissingSecurityHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds, region, when, payload := testCreds, testRegion, testTime, hexHash(body)
			if tc.creds.AccessKeyID != "" {
				creds = tc.creds
			}
			if tc.region != "" {
				region = tc.region
			}
			if !tc.when.IsZero() {
				when = tc.when
			}
			if tc.payload != "" {
				payload = tc.payload
			}
			r := newRequest(t, "PUT", "http://s3.test/bucket/key", body)
			if tc.before != nil {
				tc.before(r)
			}
			signHeader(t, r, payload, creds, region, when)
			if tc.after != nil {
				tc.after(r)
			}
			_, _, err := readAll(newTestVerifier(t, tc.config), toServer(t, r))
			wantErr(t, err, tc.want, tc.msg)
		})
	}
}

// TestVerifyDateHeader accepts a request dated by Date alone, as the SigV4
// rules allow.
func TestVerifyDateHeader(t *testing.T) {
	r := newRequest(t, "GET", "http://s3.test/bucket/key", nil)
	r.Header.Set("Date", testTime.Format(http.TimeFormat))
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	// Sign by hand: the SDK always adds X-Amz-Date.
	sc := scope{date: testTime.Format(scopeDateFormat), region: testRegion, amzDate: testTime.Format(amzDateFormat),
		key: newSigningKey(testSecret, testTime.Format(scopeDateFormat), testRegion)}
	sr := toServer(t, r)
	creq, err := appendCanonicalRequest(nil, sr, "date;host;x-amz-content-sha256", UnsignedPayload, "")
	if err != nil {
		t.Fatal(err)
	}
	sts := sc.appendStringToSign(nil, sha256.Sum256(creq))
	sr.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/"+sc.String()+
		",SignedHeaders=date;host;x-amz-content-sha256,Signature="+sc.sign(string(sts)))
	if _, _, err := readAll(newTestVerifier(t, nil), sr); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAnonymous(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		query  string
		want   error
	}{
		{name: "plain"},
		{name: "unsigned payload", header: http.Header{"X-Amz-Content-Sha256": {UnsignedPayload}}},
		{name: "signed streaming refused", header: http.Header{"X-Amz-Content-Sha256": {StreamingPayload}}, want: ErrInvalidRequest},
		{name: "signature v2 query refused", query: "AWSAccessKeyId=AK&Signature=x&Expires=1", want: ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, "PUT", "http://s3.test/bucket/key?"+tc.query, []byte("hello"))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			res, got, err := readAll(newTestVerifier(t, nil), toServer(t, r))
			wantErr(t, err, tc.want, "")
			if tc.want != nil {
				return
			}
			if !res.Anonymous || res.AccessKey != "" || string(got) != "hello" {
				t.Fatalf("result %+v, body %q", res, got)
			}
		})
	}
}

func TestNewVerifierValidates(t *testing.T) {
	if _, err := NewVerifier(Config{}); err == nil {
		t.Error("no credentials: no error")
	}
	if _, err := NewVerifier(Config{Credentials: StaticCredentials{}, MaxSkew: -1}); err == nil {
		t.Error("negative skew: no error")
	}
	v, err := NewVerifier(Config{Credentials: CredentialsFunc(func(string) (string, bool) { return "", false })})
	if err != nil {
		t.Fatal(err)
	}
	if v.cfg.MaxSkew != DefaultMaxSkew || v.cfg.MaxChunkSize != DefaultMaxChunkSize || v.cfg.Now == nil {
		t.Errorf("defaults not applied: %+v", v.cfg)
	}
}

// TestVerifyRegions: any region by default, else one of Config.Regions.
func TestVerifyRegions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		region  string
		allowed []string
		want    error
	}{
		{name: "any region by default", region: "eu-central-1"},
		{name: "auto, as some clients of S3-compatible servers sign", region: "auto", allowed: []string{"us-east-1", "auto"}},
		{name: "listed", region: "us-east-1", allowed: []string{"us-east-1"}},
		{name: "not listed", region: "us-west-2", allowed: []string{"us-east-1"}, want: ErrAuthorizationHeaderMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, "GET", "http://s3.test/bucket/key", nil)
			signHeader(t, r, emptySHA256, testCreds, tc.region, testTime)
			res, _, err := readAll(newTestVerifier(t, func(c *Config) { c.Regions = tc.allowed }), toServer(t, r))
			wantErr(t, err, tc.want, "")
			if tc.want == nil && res.Region != tc.region {
				t.Fatalf("Region = %q, want %q", res.Region, tc.region)
			}
		})
	}
}
