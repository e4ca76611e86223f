package h1

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestReadResponseAsNetHTTP: readResponse gives what http.ReadResponse
// gives, for the answers it parses itself and those it leaves to it, and
// leaves the reader at the same place.
func TestReadResponseAsNetHTTP(t *testing.T) {
	const next = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
	cases := []struct {
		method, raw string
	}{
		{"GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nEtag: \"x\"\r\nx-amz-meta-a:  b \r\nX-Amz-Meta-A: c\r\n\r\nhello"},
		{"GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"},
		{"GET", "HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\nContent-Length: 3\r\nConnection: close\r\n\r\n<a>"},
		{"GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"GET", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
		{"GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab"},
		{"GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"},
		{"GET", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nab"},
		{"GET", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, "http://h/k", nil)
		got, gotRest := readBoth(t, readResponse, tc.raw+next, req)
		want, wantRest := readBoth(t, http.ReadResponse, tc.raw+next, req)
		if got != want || gotRest != wantRest {
			t.Errorf("%q:\nreadResponse      %s (then %q)\nhttp.ReadResponse %s (then %q)", tc.raw, got, gotRest, want, wantRest)
		}
	}
}

// readBoth reads one response with read, then what follows it.
func readBoth(t *testing.T, read func(*bufio.Reader, *http.Request) (*http.Response, error), raw string, req *http.Request) (string, string) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	br.Peek(len(raw)) // all buffered, as from one read of the socket
	resp, err := read(br, req)
	if err != nil {
		return "error " + err.Error(), ""
	}
	b, err := io.ReadAll(resp.Body)
	h := resp.Header
	delete(h, "Date")
	desc := fmt.Sprintf("%q %d %s %v len=%d close=%v body=%q err=%v te=%v", resp.Status, resp.StatusCode, resp.Proto,
		h, resp.ContentLength, resp.Close, b, err, resp.TransferEncoding)
	if !reflect.DeepEqual(resp.Request, req) {
		desc += " (other request)"
	}
	rest, _ := io.ReadAll(br)
	return desc, string(rest)
}

// TestFixedBodyShort: a body cut short by the connection's end is an
// unexpected EOF, with the bytes that came.
func TestFixedBodyShort(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
	br := bufio.NewReader(strings.NewReader(raw))
	br.Peek(len(raw))
	req, _ := http.NewRequest("GET", "http://h/k", nil)
	resp, err := readResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := resp.Body.(*fixedBody); !ok {
		t.Fatalf("body %T: not parsed here", resp.Body)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "abc" || err != io.ErrUnexpectedEOF {
		t.Fatalf("read %q, %v", b, err)
	}
}

// FuzzReadResponseAsNetHTTP: an answer readResponse parses itself is one
// http.ReadResponse reads alike, and it leaves the reader at the same
// place.
func FuzzReadResponseAsNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nEtag: \"x\"\r\n\r\nhello",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\n<a>",
		"HTTP/1.1 200\r\ncontent-length: 0\r\nx-amz-meta-a: b\r\n\r\n",
		"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/10\r\nContent-Length: 2\r\n\r\nab",
	} {
		f.Add(seed)
	}
	req, _ := http.NewRequest("GET", "http://h/k", nil)
	f.Fuzz(func(t *testing.T, raw string) {
		br := bufio.NewReader(strings.NewReader(raw))
		br.Peek(len(raw))
		resp, err := readResponse(br, req)
		if err != nil {
			return
		}
		if _, own := resp.Body.(*fixedBody); !own && resp.Body != http.NoBody {
			return // http.ReadResponse's
		}
		got, gotRest := readBoth(t, readResponse, raw, req)
		want, wantRest := readBoth(t, http.ReadResponse, raw, req)
		if got != want || gotRest != wantRest {
			t.Fatalf("%q:\nreadResponse      %s (then %q)\nhttp.ReadResponse %s (then %q)", raw, got, gotRest, want, wantRest)
		}
	})
}
