package sigv4

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestVerifyPresigned verifies URLs presigned by aws-sdk-go-v2's signer.
func TestVerifyPresigned(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		header  http.Header // set before presigning, and sent
		expires string
		body    []byte
		creds   aws.Credentials
		now     time.Time
		edit    func(u *url.URL, h http.Header) // after presigning
		want    error
		msg     string
	}{
		{name: "get", method: "GET", target: "/bucket/key.txt", expires: "900"},
		{name: "get with odd key and query", method: "GET", target: "/bucket/a%20b%2Bc/%E2%82%AC?response-content-type=text%2Fplain&versionId=x%2By", expires: "60"},
		{name: "put with body", method: "PUT", target: "/bucket/up", expires: "3600", body: []byte("uploaded through a presigned URL")},
		{name: "put with signed content-type and metadata", method: "PUT", target: "/bucket/up", expires: "3600",
			header: http.Header{"Content-Type": {"image/png"}, "X-Amz-Meta-Who": {"me"}}, body: []byte("png")},
		{name: "a week", method: "GET", target: "/bucket/k", expires: "604800", now: testTime.Add(7*24*time.Hour - time.Second)},
		{name: "expired", method: "GET", target: "/bucket/k", expires: "900", now: testTime.Add(15*time.Minute + time.Second),
			want: ErrRequestExpired, msg: "Request has expired"},
		{name: "expired is access denied", method: "GET", target: "/bucket/k", expires: "1", now: testTime.Add(2 * time.Second),
			want: ErrAccessDenied, msg: "expired"},
		{name: "not yet valid", method: "GET", target: "/bucket/k", expires: "900", now: testTime.Add(-16 * time.Minute),
			want: ErrRequestNotYetValid},
		{name: "slightly early is fine", method: "GET", target: "/bucket/k", expires: "900", now: testTime.Add(-14 * time.Minute)},
		{name: "expires too long", method: "GET", target: "/bucket/k", expires: "604801",
			want: ErrAuthorizationQueryParametersError, msg: "less than a week"},
		{name: "expires zero", method: "GET", target: "/bucket/k", expires: "0", want: ErrAuthorizationQueryParametersError},
		{name: "expires negative", method: "GET", target: "/bucket/k", expires: "-5", want: ErrAuthorizationQueryParametersError},
		{name: "expires not a number", method: "GET", target: "/bucket/k", expires: "soon", want: ErrAuthorizationQueryParametersError},
		{name: "wrong secret", method: "GET", target: "/bucket/k", expires: "900",
			creds: aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "x"}, want: ErrSignatureDoesNotMatch},
		{name: "unknown key", method: "GET", target: "/bucket/k", expires: "900",
			creds: aws.Credentials{AccessKeyID: "AKNOPE", SecretAccessKey: "x"}, want: ErrInvalidAccessKeyID},
		{name: "expiry extended", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Expires", "1800") }, want: ErrSignatureDoesNotMatch},
		{name: "parameter added", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "versionId", "1") }, want: ErrSignatureDoesNotMatch},
		{name: "key changed", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { u.Path = "/bucket/other" }, want: ErrSignatureDoesNotMatch},
		{name: "signed header changed", method: "PUT", target: "/bucket/k", expires: "900", header: http.Header{"Content-Type": {"a/b"}},
			edit: func(_ *url.URL, h http.Header) { h.Set("Content-Type", "c/d") }, want: ErrSignatureDoesNotMatch},
		{name: "unsigned x-amz header added", method: "PUT", target: "/bucket/k", expires: "900",
			edit: func(_ *url.URL, h http.Header) { h.Set("X-Amz-Acl", "public-read") }, want: ErrHeadersNotSigned},
		{name: "algorithm wrong", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Algorithm", "AWS4-HMAC-SHA1") }, want: ErrAuthorizationQueryParametersError},
		{name: "date missing", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Date", "") }, want: ErrAuthorizationQueryParametersError},
		{name: "date malformed", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Date", "2026-03-14") }, want: ErrAuthorizationQueryParametersError},
		{name: "credential malformed", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Credential", "AK/x") }, want: ErrAuthorizationQueryParametersError},
		// The query sent otherwise than in its canonical form, as a
		// client may: the signature, over the canonical form, holds.
		{name: "query in another order", method: "GET", target: "/bucket/k?x-id=GetObject", expires: "900",
			edit: func(u *url.URL, _ http.Header) { u.RawQuery = reversePairs(u.RawQuery) }},
		{name: "escapes in lower case", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { u.RawQuery = strings.ReplaceAll(u.RawQuery, "%2F", "%2f") }},
		{name: "unreserved byte escaped", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { u.RawQuery = strings.Replace(u.RawQuery, "=AWS4", "=%41WS4", 1) }},
		{name: "in another order and changed", method: "GET", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) {
				setQuery(u, "X-Amz-Expires", "1800")
				u.RawQuery = reversePairs(u.RawQuery)
			}, want: ErrSignatureDoesNotMatch},
		{name: "streaming payload", method: "PUT", target: "/bucket/k", expires: "900",
			edit: func(u *url.URL, _ http.Header) { setQuery(u, "X-Amz-Content-Sha256", StreamingPayload) }, want: ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creds, now := testCreds, tc.now
			if tc.creds.AccessKeyID != "" {
				creds = tc.creds
			}
			if now.IsZero() {
				now = testTime.Add(time.Minute)
			}
			r := newRequest(t, tc.method, "https://s3.test"+tc.target, nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			signedURL, signedHeader := presign(t, r, tc.expires, UnsignedPayload, creds, testTime)

			// Send it as a client with nothing but the URL and the signed
			// headers would.
			u, err := url.Parse(signedURL)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range signedHeader {
				if k != "Host" {
					h[k] = v
				}
			}
			if tc.edit != nil {
				tc.edit(u, h)
			}
			sent := newRequest(t, tc.method, u.String(), tc.body)
			sent.Header = h
			res, got, err := readAll(newTestVerifier(t, func(c *Config) { c.Now = at(now) }), toServer(t, sent))
			wantErr(t, err, tc.want, tc.msg)
			if tc.want != nil {
				return
			}
			if !res.Presigned || res.AccessKey != testAccessKey || string(got) != string(tc.body) {
				t.Fatalf("result %+v, body %q", res, got)
			}
		})
	}
}

// reversePairs returns a raw query with its pairs in the reverse order.
func reversePairs(raw string) string {
	pairs := strings.Split(raw, "&")
	slices.Reverse(pairs)
	return strings.Join(pairs, "&")
}

func setQuery(u *url.URL, k, v string) {
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
}

// TestVerifyPresignedHashedPayload: a presigned URL may name the body's
// SHA-256 in X-Amz-Content-Sha256, which is then checked.
func TestVerifyPresignedHashedPayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want error
	}{
		{name: "matching body", body: "exact"},
		{name: "other body", body: "other", want: ErrContentSHA256Mismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := hexHash([]byte("exact"))
			r := newRequest(t, "PUT", "https://s3.test/bucket/k?X-Amz-Content-Sha256="+sum, nil)
			signedURL, _ := presign(t, r, "60", sum, testCreds, testTime)
			_, _, err := readAll(newTestVerifier(t, nil), toServer(t, newRequest(t, "PUT", signedURL, []byte(tc.body))))
			wantErr(t, err, tc.want, "")
		})
	}
}

// TestSignatureMismatchDetails: a wrong signature is answered with the
// canonical request and string to sign the server computed, for the
// client's author to compare with their own.
func TestSignatureMismatchDetails(t *testing.T) {
	r := newRequest(t, "GET", "https://s3.test/bucket/a%20b?versionId=x%2By", nil)
	wrong := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong"}
	signedURL, _ := presign(t, r, "900", UnsignedPayload, wrong, testTime)
	_, _, err := readAll(newTestVerifier(t, nil), toServer(t, newRequest(t, "GET", signedURL, nil)))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("err = %v, want SignatureDoesNotMatch", err)
	}
	u, err := url.Parse(signedURL)
	if err != nil {
		t.Fatal(err)
	}
	const amzDate = "20260314T150926Z"
	query := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + testAccessKey + "%2F20260314%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=" + amzDate + "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&versionId=x%2By"
	creq := "GET\n/bucket/a%20b\n" + query + "\nhost:s3.test\n\nhost\nUNSIGNED-PAYLOAD"
	want := map[string]string{
		"AWSAccessKeyId":    testAccessKey,
		"CanonicalRequest":  creq,
		"StringToSign":      "AWS4-HMAC-SHA256\n" + amzDate + "\n20260314/us-east-1/s3/aws4_request\n" + hexHash([]byte(creq)),
		"SignatureProvided": u.Query().Get("X-Amz-Signature"),
	}
	if !maps.Equal(e.Details, want) {
		t.Errorf("details\n%q\nwant\n%q", e.Details, want)
	}
}
