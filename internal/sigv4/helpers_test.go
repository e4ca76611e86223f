package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example credentials of the AWS documentation.
const (
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion    = "us-east-1"
)

// testTime is when test requests are signed; the verifier's clock reads a
// minute later unless a test says otherwise.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

var testCreds = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}

// newTestVerifier returns a Verifier that knows testAccessKey and whose
// clock reads testTime plus a minute, after mod has changed its Config.
func newTestVerifier(t testing.TB, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Credentials: StaticCredentials{testAccessKey: testSecret},
		Now:         func() time.Time { return testTime.Add(time.Minute) },
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// at returns a clock stuck at t.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// newRequest returns a client-side request to rawURL, whose path must be
// encoded as the client sends it.
func newRequest(t testing.TB, method, rawURL string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// signHeader signs r in its Authorization header with the SDK's signer,
// as aws-sdk-go-v2 signs S3 requests (no second encoding of the path),
// after setting x-amz-content-sha256 to payload.
func signHeader(t testing.TB, r *http.Request, payload string, creds aws.Credentials, region string, when time.Time) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payload)
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := s.SignHTTP(context.Background(), creds, r, payload, "s3", region, when); err != nil {
		t.Fatal(err)
	}
}

// presign returns the SDK's presigned URL of r, valid for expires seconds,
// and the headers it signed. payload is UnsignedPayload but for a URL that
// names the body's hash.
func presign(t testing.TB, r *http.Request, expires, payload string, creds aws.Credentials, when time.Time) (string, http.Header) {
	t.Helper()
	q := r.URL.Query()
	q.Set("X-Amz-Expires", expires)
	r.URL.RawQuery = q.Encode()
	s := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	u, h, err := s.PresignHTTP(context.Background(), creds, r, payload, "s3", testRegion, when)
	if err != nil {
		t.Fatal(err)
	}
	return u, h
}

// toServer sends r through HTTP/1.1 serialization and parsing, so that it
// looks as Go's server hands it to a handler (Host in r.Host, the path as
// sent in RawPath, ...).
func toServer(t testing.TB, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return parseServer(t, buf.Bytes())
}

// parseServer parses a raw HTTP/1.1 request as Go's server does.
func parseServer(t testing.TB, raw []byte) *http.Request {
	t.Helper()
	sr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// readAll verifies r and reads its whole Body.
func readAll(v *Verifier, r *http.Request) (Result, []byte, error) {
	res, err := v.Verify(r)
	if err != nil {
		return res, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// wantErr fails t unless err is an *Error that is want (errors.Is), with
// a message containing msg.
func wantErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error; want %v", err, err, want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v is not %v", err, want)
	}
	if !strings.Contains(e.Message, msg) {
		t.Fatalf("error message %q does not contain %q", e.Message, msg)
	}
	if e.Status == 0 || e.Code == "" {
		t.Fatalf("error %#v lacks code or status", e)
	}
}
