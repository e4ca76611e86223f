package fastlane

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseAsNetHTTP: a request head the lane serves is one net/http
// reads alike: same method, target, URL, Host, fields, length and Close.
// (A head the lane does not serve goes to net/http itself.)
func FuzzParseAsNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: example.com:8080\r\nuser-agent: t\r\nAccept:  a \r\nAccept: b\r\n\r\n",
		"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
		"HEAD /k HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n",
		"DELETE /b/k?versionId=1 HTTP/1.1\r\nHost: b.s3.example\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: h\r\nX-A: \t\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET //a/../b HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n",
		"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n",
		"GET /objstore/hit-4k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bench%2F20261203%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261203T162215Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&x-id=GetObject&X-Amz-Signature=bd894cc8a8bbe2aa68f5e62d7c259c04861b2e490e7c5e216bae90fb67cbaf35 HTTP/1.1\r\nHost: 127.0.0.1:10999\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?? HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a!b(c)*'d%41?q=%zz HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /$&+,:;=@~/x?\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		i := strings.Index(raw, "\r\n\r\n")
		if i < 0 || strings.Contains(raw[:i], "\n\n") {
			return // the lane would wait for more, or hand it over
		}
		c := &conn{remote: "192.0.2.1:1234"}
		req := c.parse(raw[:i+2])
		if req == nil {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("the lane serves %q, which net/http refuses: %v", raw, err)
		}
		delete(want.Header, "Host") // net/http's server moves it to Host, as the lane does
		if req.Method != want.Method || req.RequestURI != want.RequestURI || !reflect.DeepEqual(req.URL, want.URL) ||
			req.Host != want.Host || req.ContentLength != want.ContentLength || req.Close != want.Close ||
			!reflect.DeepEqual(req.Header, want.Header) || !reflect.DeepEqual(req.TransferEncoding, want.TransferEncoding) {
			t.Fatalf("%q:\nlane     %s %s %q host=%q len=%d close=%v %v\nnet/http %s %s %q host=%q len=%d close=%v %v", raw,
				req.Method, req.RequestURI, req.URL, req.Host, req.ContentLength, req.Close, req.Header,
				want.Method, want.RequestURI, want.URL, want.Host, want.ContentLength, want.Close, want.Header)
		}
		if bytes.ContainsAny([]byte(req.RequestURI), " \r\n") {
			t.Fatalf("target %q", req.RequestURI)
		}
	})
}
