package sigv4

import "testing"

// BenchmarkVerifyPresigned verifies a presigned GET as the SDK makes it,
// its query parsed beforehand as a server does.
func BenchmarkVerifyPresigned(b *testing.B) {
	signedURL, _ := presign(b, newRequest(b, "GET", "http://127.0.0.1:10999/bench/hit-4k?x-id=GetObject", nil),
		"3600", UnsignedPayload, testCreds, testTime)
	r := toServer(b, newRequest(b, "GET", signedURL, nil))
	r.Form = r.URL.Query()
	v := newTestVerifier(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHeader verifies a GET signed in its Authorization header.
func BenchmarkVerifyHeader(b *testing.B) {
	r := newRequest(b, "GET", "http://127.0.0.1:10999/bench/hit-4k", nil)
	signHeader(b, r, UnsignedPayload, testCreds, testRegion, testTime)
	r = toServer(b, r)
	v := newTestVerifier(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
