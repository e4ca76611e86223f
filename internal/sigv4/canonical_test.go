package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalURI(t *testing.T) {
	for _, tc := range []struct {
		name, sent, want string
	}{
		{name: "empty", sent: "", want: "/"},
		{name: "root", sent: "/", want: "/"},
		{name: "plain", sent: "/b/k", want: "/b/k"},
		{name: "space", sent: "/b/a%20b", want: "/b/a%20b"},
		{name: "plus sent raw", sent: "/b/a+b", want: "/b/a%2Bb"},
		{name: "reserved sent raw", sent: "/b/a!*'();:@&=$,", want: "/b/a%21%2A%27%28%29%3B%3A%40%26%3D%24%2C"},
		{name: "lower-case escapes", sent: "/b/%e2%82%ac", want: "/b/%E2%82%AC"},
		{name: "tilde escaped", sent: "/b/%7Ea", want: "/b/~a"},
		{name: "encoded slash kept", sent: "/b/a%2Fb", want: "/b/a%2Fb"},
		{name: "encoded percent", sent: "/b/100%25", want: "/b/100%25"},
		{name: "no normalization", sent: "/b//./../k/", want: "/b//./../k/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.ParseRequestURI(tc.sent)
			if tc.sent == "" {
				u, err = &url.URL{}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendURI(nil, u)
			if err != nil || string(got) != tc.want {
				t.Fatalf("appendURI(%q) = %q, %v; want %q", tc.sent, got, err, tc.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{name: "empty", raw: "", want: ""},
		{name: "flag", raw: "uploads", want: "uploads="},
		{name: "sorted by name then value", raw: "b=2&a=2&a=1", want: "a=1&a=2&b=2"},
		{name: "sorted after encoding", raw: "a%2Fb=1&a-b=2", want: "a%2Fb=1&a-b=2"},
		{name: "upper case before lower", raw: "a=1&B=2", want: "B=2&a=1"},
		{name: "space", raw: "p=a%20b&q=c+d", want: "p=a%20b&q=c%20d"},
		{name: "reserved encoded", raw: "p=a/b:c", want: "p=a%2Fb%3Ac"},
		{name: "unreserved decoded", raw: "p=%7E%2D%5F%2E", want: "p=~-_."},
		{name: "empty pairs skipped", raw: "&a=1&&", want: "a=1"},
		{name: "signature skipped", raw: "X-Amz-Signature=abc&X-Amz-Date=1", want: "X-Amz-Date=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendQuery(nil, tc.raw, "X-Amz-Signature")
			if err != nil || string(got) != tc.want {
				t.Fatalf("appendQuery(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
	if _, err := appendQuery(nil, "a=%zz", ""); err == nil {
		t.Error("bad escape accepted")
	}
	// A presigned URL as the SDKs make it is taken as sent.
	const presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ak%2F20261204%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20261204T010705Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&x-id=GetObject&X-Amz-Signature=9f85"
	if got := appendQueryAsSent(nil, presigned, "X-Amz-Signature"); string(got) != strings.TrimSuffix(presigned, "&X-Amz-Signature=9f85") {
		t.Errorf("appendQueryAsSent(presigned) = %q", got)
	}
	sig := "&X-Amz-Signature=" + strings.Repeat("9f85", 16)
	if got := appendQueryAsSent(nil, presigned+sig, "X-Amz-Signature"); string(got) != presigned {
		t.Errorf("appendQueryAsSent(presigned, a signature of 64 digits) = %q", got)
	}
	// Only the last pair is left out, if named skip; the rest is taken as
	// it is, canonical or not.
	for raw, want := range map[string]string{
		"X-Amz-Signature=s&a=1":                   "X-Amz-Signature=s&a=1",
		"a=1&X-Amz-Signature=s&b=2":               "a=1&X-Amz-Signature=s&b=2",
		"a=1&X-Amz-Signature=s&X-Amz-Signature=t": "a=1&X-Amz-Signature=s",
		"a=1&aX-Amz-Signature=2":                  "a=1&aX-Amz-Signature=2",
		"a=1&X-Amz-Signatures=2":                  "a=1&X-Amz-Signatures=2",
		"a=1&X-Amz-Signature":                     "a=1&X-Amz-Signature",
		"b=1&a=1":                                 "b=1&a=1",
		"a=b+c&&":                                 "a=b+c&&",
		"X-Amz-Signature=s":                       "",
		"X-Amz-Signature=":                        "",
		"a=X-Amz-Signature=s":                     "a=X-Amz-Signature=s",
	} {
		if got := appendQueryAsSent([]byte("x"), raw, "X-Amz-Signature"); string(got) != "x"+want {
			t.Errorf("appendQueryAsSent(%q) = %q, want %q", raw, got[1:], want)
		}
	}
}

// FuzzLastPair checks lastPair against LastIndexByte, with the length
// it looks at first and others.
func FuzzLastPair(f *testing.F) {
	for _, raw := range []string{"", "&", "a=1", "a=1&b=2", "&&b", "a&X-Amz-Signature=" + strings.Repeat("f", 64),
		"X-Amz-Signature=" + strings.Repeat("f", 64), "a=1&" + strings.Repeat("b", 79) + "&"} {
		f.Add(raw, 80)
	}
	f.Fuzz(func(t *testing.T, raw string, n int) {
		if got, want := lastPair(raw, n), strings.LastIndexByte(raw, '&')+1; got != want {
			t.Fatalf("lastPair(%q, %d) = %d, want %d", raw, n, got, want)
		}
	})
}

func TestHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"  trimmed \t":     "trimmed",
		"a   b    c":       "a b c",
		"\"a   b\"":        "\"a b\"",
		"tab\t\tkept":      "tab\t\tkept",
		"":                 "",
		" leading  double": "leading double",
	} {
		if got := appendHeaderValue(nil, in); string(got) != want {
			t.Errorf("appendHeaderValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzQueryComponent checks that a query component already encoded as
// SigV4 encodes it is taken as it is exactly when decoding and encoding it
// again would give it back.
func FuzzQueryComponent(f *testing.F) {
	for _, s := range []string{
		"", "abc", "a%20b", "a%2fb", "a%2Fb", "%7E", "%7e", "~", "a+b", "a b", "%", "%2", "%zz",
		"%E2%82%AC", "%e2%82%ac", "bench%2F20261202%2Fus-east-1%2Fs3%2Faws4_request",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := queryComponent(s)
		d, derr := url.QueryUnescape(s)
		if (err == nil) != (derr == nil) {
			t.Fatalf("queryComponent(%q): error %v, QueryUnescape: %v", s, err, derr)
		}
		if want := string(appendURIEncode(nil, d, false)); derr == nil && got != want {
			t.Fatalf("queryComponent(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestURIEncodedAsDefined checks uriEncoded against its definition: s
// decodes, and encoding the result gives s back.
func TestURIEncodedAsDefined(t *testing.T) {
	const alphabet = "aZ09-_.~%2F41fz +/=&"
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		d, err := url.PathUnescape(s)
		want := err == nil && string(appendURIEncode(nil, d, false)) == s
		if got := uriEncoded(s); got != want {
			t.Fatalf("uriEncoded(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzQueryAsSent checks what makes taking a query as sent safe: when
// what appendQueryAsSent takes is a canonical query (its own canonical
// form, the only kind of query a signer signs), it is the canonical query
// of the parameters the query holds.
func FuzzQueryAsSent(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1&b=2", "b=2&a=1", "a=1&a=1", "a=&b=", "a=b=c", "a=%2F", "a=%2f", "a=%7E", "a=/", "a%2Fb=1&a-b=2",
		"X-Amz-Signature=x&A=1", "A=1&X-Amz-Signature=x&X-Amz-Signature=y", "X-Amz-Signatur%65=x", "X-Amz-Signature",
		"a=1;b=2", "a=%zz", "%41=1", "a=%E2%82%AC",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bench%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T010705Z" +
			"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&x-id=GetObject&X-Amz-Signature=9f8550146a5916737457b415b1b4e27c87edb82c1930533658333614a240dde1",
	} {
		f.Add(s)
	}
	const skip = "X-Amz-Signature"
	f.Fuzz(func(t *testing.T, raw string) {
		sent := string(appendQueryAsSent(nil, raw, skip))
		if c, err := appendQuery(nil, sent, skip); err != nil || string(c) != sent {
			return // not canonical: no signer signs it
		}
		want, err := appendQuery(nil, raw, skip)
		if err != nil || string(want) != sent {
			t.Fatalf("appendQueryAsSent(%q) = %q, canonical; the query's canonical form: %q, %v", raw, sent, want, err)
		}
	})
}

// TestHexSumAndSignatureEqual checks appendHexSum against hex.Encode, and
// signatureEqual against its definition: the same signature, each letter
// in either case.
func TestHexSumAndSignatureEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		var sum [sha256.Size]byte
		for i := range sum {
			sum[i] = byte(r.Uint32())
		}
		want := hex.EncodeToString(sum[:])
		got := appendHexSum([]byte("x"), &sum)
		if string(got[1:]) != want {
			t.Fatalf("appendHexSum(%x) = %q", sum, got[1:])
		}
		if !signatureEqual(got[1:], want) || !signatureEqual(got[1:], strings.ToUpper(want)) {
			t.Fatalf("signatureEqual refused %q in some case", want)
		}
		// One byte changed to anything else, and the signature is refused.
		b := []byte(want)
		i := r.IntN(len(b))
		c := byte(r.Uint32())
		if c == b[i] || 'a' <= b[i] && b[i] <= 'f' && c == b[i]-('a'-'A') {
			continue
		}
		b[i] = c
		if signatureEqual(got[1:], string(b)) {
			t.Fatalf("signatureEqual(%q, %q) = true", want, b)
		}
	}
	if signatureEqual([]byte(emptySHA256), emptySHA256[:63]) {
		t.Error("signatureEqual accepted a short signature")
	}
}

// TestCanonicalKey checks canonicalKey's names against
// http.CanonicalHeaderKey.
func TestCanonicalKey(t *testing.T) {
	for _, name := range []string{"x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "x-amz-decoded-content-length",
		"x-amz-trailer", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "content-type", "content-md5",
		"content-encoding", "range", "x-amz-meta-a", "if-match", "host"} {
		if got, want := canonicalKey(name), http.CanonicalHeaderKey(name); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", name, got, want)
		}
	}
}
