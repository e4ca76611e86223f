package s3api

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseQuery checks parseQuery, Get, Has and empty against
// url.URL.Query.
func FuzzParseQuery(f *testing.F) {
	for _, raw := range []string{
		"", "a", "a=", "=a", "a=1&b=2", "a=1&a=2&b=3&a=4", "&&a=1&&", "a=1;b=2&c=3", "a%zz=1&b=2", "a=%zz&b=2",
		"a+b=c+d&e%20f=g%2Fh", "uploads", "list-type=2&prefix=p%2F&delimiter=%2F",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bench%2F20261202%2Fus-east-1%2Fs3%2Faws4_request" +
			"&X-Amz-Date=20261202T005933Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&x-id=GetObject" +
			"&X-Amz-Signature=0cbcc2abb0cf59abafb9b3f7508a6a7aa19715dcb4f264427a0bbc1aea4f9da3",
		strings.Repeat("a=1&", maxFastQuery) + "b=2",
	} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := &url.URL{RawQuery: raw}
		q, want := parseQuery(u, make([]pair, 0, 2)), u.Query()
		got := q.large
		if got == nil {
			got = url.Values{}
			for _, p := range q.pairs {
				got[p.key] = append(got[p.key], p.value)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseQuery(%q) = %q, want %q", raw, got, want)
		}
		for k, vs := range want {
			if !q.Has(k) || q.Get(k) != vs[0] || !q.hasPrefix(k) || !q.hasPrefix(k[:len(k)/2]) {
				t.Fatalf("parseQuery(%q): Has(%q) = %v, Get = %q; want %q", raw, k, q.Has(k), q.Get(k), vs[0])
			}
		}
		prefixed := false
		for k := range want {
			prefixed = prefixed || strings.HasPrefix(k, "absent")
		}
		if q.hasPrefix("absent") != prefixed {
			t.Fatalf("parseQuery(%q): hasPrefix(absent) = %v", raw, !prefixed)
		}
		if q.Has("absent") || q.Get("absent") != "" || q.empty() != (len(want) == 0) {
			t.Fatalf("parseQuery(%q): absent found, or empty() = %v", raw, q.empty())
		}
	})
}
