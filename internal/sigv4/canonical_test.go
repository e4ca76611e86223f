package sigv4

import (
	"math/rand/v2"
	"net/url"
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
