package sigv4

import (
	"testing"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// TestSignerMatchesSDK: for requests whose headers both sign, Signer's
// Authorization is the AWS SDK's, byte for byte, and the Verifier accepts
// it once the request went over the wire.
func TestSignerMatchesSDK(t *testing.T) {
	cases := []struct {
		name, method, url string
		header            map[string]string
		payload           string
		token             string
	}{
		{name: "get", method: "GET", url: "http://127.0.0.1:9000/bucket/key", payload: emptySHA256},
		{name: "range and condition", method: "GET", url: "http://127.0.0.1:9000/bucket/a/b.txt",
			header: map[string]string{"Range": "bytes=0-99", "If-None-Match": `"abc"`}, payload: emptySHA256},
		{name: "escaped key", method: "GET", url: "http://s3.example.com/bucket/" + escape("dir/a b+c%d é~!*'()"), payload: emptySHA256},
		{name: "put with metadata", method: "PUT", url: "https://bucket.s3.example.com/k",
			header:  map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Colour": "  deep   blue ", "Cache-Control": "no-cache"},
			payload: "UNSIGNED-PAYLOAD"},
		{name: "session token", method: "PUT", url: "http://127.0.0.1:9000/bucket/k", payload: hexHash([]byte("body")), token: "session/token=="},
	}
	var s Signer
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mine := newRequest(t, tc.method, tc.url, nil)
			sdk := newRequest(t, tc.method, tc.url, nil)
			for k, v := range tc.header {
				mine.Header.Set(k, v)
				sdk.Header.Set(k, v)
			}
			creds := testCreds
			creds.SessionToken = tc.token
			signHeader(t, sdk, tc.payload, creds, testRegion, testTime)
			if err := s.Sign(mine, Key{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, Token: tc.token}, testRegion, tc.payload, testTime); err != nil {
				t.Fatal(err)
			}
			if got, want := mine.Header.Get("Authorization"), sdk.Header.Get("Authorization"); got != want {
				t.Fatalf("Authorization\n got %s\nwant %s", got, want)
			}
			if tc.payload == emptySHA256 {
				if _, err := newTestVerifier(t, nil).Verify(toServer(t, mine)); err != nil {
					t.Fatalf("verify: %v", err)
				}
			}
		})
	}
}

// TestSignerSignatureCoversHeaders: a signed header changed, or one added
// on the way that must be signed, fails verification.
func TestSignerSignatureCoversHeaders(t *testing.T) {
	var s Signer
	sign := func() *Verifier { return newTestVerifier(t, nil) }
	r := newRequest(t, "GET", "http://127.0.0.1:9000/bucket/key", nil)
	r.Header.Set("Range", "bytes=0-1")
	r.Header.Set("User-Agent", "objstore") // not signed: may change
	r.Header["X-Amz-Meta-lower"] = []string{"a key not in canonical form"}
	if err := s.Sign(r, Key{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}, testRegion, emptySHA256, testTime); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", "changed")
	if _, err := sign().Verify(toServer(t, r)); err != nil {
		t.Fatalf("a changed User-Agent: %v", err)
	}
	r.Header.Set("Range", "bytes=0-2")
	_, err := sign().Verify(toServer(t, r))
	wantErr(t, err, ErrSignatureDoesNotMatch, "")
	r.Header.Set("Range", "bytes=0-1")
	r.Header.Set("X-Amz-Meta-Added", "1")
	_, err = sign().Verify(toServer(t, r))
	wantErr(t, err, ErrHeadersNotSigned, "")
	if err := s.Sign(r, Key{}, testRegion, emptySHA256, testTime); err == nil {
		t.Fatal("signed without credentials")
	}
}

// escape escapes key as the AWS SDK sends it: SigV4's encoding, '/'
// kept.
func escape(key string) string { return httpbinding.EscapePath(key, false) }

// TestKeyCache checks that the cache gives each secret, day and region
// its own key, whichever was asked for last.
func TestKeyCache(t *testing.T) {
	var c keyCache
	ids := []keyID{{"s1", "20261204", "r"}, {"s2", "20261204", "r"}, {"s1", "20261204", "q"}, {"s1", "20261205", "r"}}
	for range 2 {
		for _, id := range ids {
			k := c.get(id.secret, id.date, id.region)
			if k.id != id || string(k.key) != string(newSigningKey(id.secret, id.date, id.region).key) {
				t.Fatalf("get(%v) gave the key of %v", id, k.id)
			}
			if again := c.get(id.secret, id.date, id.region); again != k {
				t.Fatalf("get(%v) twice gave two keys", id)
			}
		}
	}
}
