package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveLane runs h behind a lane on loopback and returns its address.
func serveLane(t *testing.T, h http.Handler) (string, *Server) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: nil}
	lane := New(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- lane.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lane.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String(), lane
}

// laneMark marks the responses the lane wrote (not net/http).
func laneMark(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*response); ok {
			w.Header().Set("X-Lane", "1")
		}
		h(w, r)
	}
}

// answer is what a client saw of a response.
type answer struct {
	Status    int
	Length    int64
	Chunked   bool
	Type      string
	Dated     bool
	Body      string
	BodyError bool
	Extra     string // a field some cases check
}

func fetch(t *testing.T, c *http.Client, method, url string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{
		Status: resp.StatusCode, Length: resp.ContentLength,
		Chunked: len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked",
		Type:    resp.Header.Get("Content-Type"), Dated: resp.Header.Get("Date") != "",
		Body: string(b), BodyError: err != nil, Extra: resp.Header.Get("X-Extra"),
	}
}

// TestFramingAsNetHTTP: for each handler, the lane's answer to GET and
// HEAD is the one net/http gives: status, length or chunking, sniffed
// type, Date, body.
func TestFramingAsNetHTTP(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]http.HandlerFunc{
		"declared": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Content-Type", "application/x-test")
			io.WriteString(w, "hello")
		},
		"undeclared small": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hi</html>") },
		"undeclared large": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) },
		"flushed": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		},
		"empty":       func(w http.ResponseWriter, r *http.Request) {},
		"status only": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) },
		"no content": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "x"); errors.Is(err, http.ErrBodyNotAllowed) {
				w.Header().Set("X-Extra", "refused") // too late to be sent: must not show
			}
		},
		"not modified": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"abc"`)
			w.WriteHeader(http.StatusNotModified)
		},
		"too long": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3")
			w.Header().Set("Content-Type", "text/plain")
			if _, err := io.WriteString(w, "toolong"); errors.Is(err, http.ErrContentLength) {
				io.WriteString(w, "abc")
			}
		},
		"error":        func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such thing", http.StatusNotFound) },
		"unknown code": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) },
		"file": func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Header().Set("Content-Type", "application/octet-stream")
			io.Copy(w, f) // ReadFrom: sendfile
		},
		"file untyped": func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.Copy(w, io.LimitReader(f, int64(len(big))))
		},
		"served file": func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) },
		"newline in value": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Extra", "a\r\nInjected: yes")
			io.WriteString(w, "ok")
		},
	}
	mux := http.NewServeMux()
	for name, h := range cases {
		mux.Handle("/"+strings.ReplaceAll(name, " ", "-"), laneMark(h))
	}
	addr, _ := serveLane(t, mux)
	ref := httptest.NewServer(mux)
	defer ref.Close()
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	for name := range cases {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			path := "/" + strings.ReplaceAll(name, " ", "-")
			got := fetch(t, c, method, "http://"+addr+path)
			want := fetch(t, c, method, ref.URL+path)
			if got != want {
				t.Errorf("%s %s:\nlane     %+v\nnet/http %+v", method, name, got, want)
			}
		}
	}
	// Each was the lane's (net/http would not mark it).
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/declared", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Lane") != "1" {
		t.Fatal("a plain GET was not served by the lane")
	}
}

// TestShortBodyCloses: a body shorter than its declared length ends
// the connection, so the client sees the answer cut short.
func TestShortBodyCloses(t *testing.T) {
	addr, _ := serveLane(t, laneMark(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err == nil || string(b) != "short" {
		t.Fatalf("read %q, %v; want the 5 bytes then an error", b, err)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers with what the handler saw of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(*response); ok {
		w.Header().Set("X-Lane", "1")
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %q %q host=%s close=%v proto=%s remote=%v body=%q\n", r.Method, r.RequestURI,
		r.URL.Path, r.URL.RawQuery, r.Host, r.Close, r.Proto, r.RemoteAddr != "", body)
	if r.Context().Value(http.ServerContextKey) == nil || r.Context().Value(http.LocalAddrContextKey) == nil {
		io.WriteString(w, "context values missing\n")
	}
	r.Header.Write(w)
}

// TestRequestAsNetHTTP: handlers see the same request from the lane as
// from net/http: target, path, query, Host, canonical header names,
// repeated fields, Close.
func TestRequestAsNetHTTP(t *testing.T) {
	addr, _ := serveLane(t, http.HandlerFunc(echo))
	ref := httptest.NewServer(http.HandlerFunc(echo))
	defer ref.Close()
	refAddr := strings.TrimPrefix(ref.URL, "http://")
	heads := []string{
		"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: example.com:8080\r\nuser-agent: t\r\nX-AMZ-date: 1\r\nAccept:  a \r\nAccept: b\r\n\r\n",
		"HEAD /k HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	}
	for _, head := range heads {
		got, lane := rawAnswer(t, addr, head)
		want, _ := rawAnswer(t, refAddr, head)
		if !lane {
			t.Errorf("%q: not served by the lane", head)
		}
		if got != want {
			t.Errorf("%q:\nlane     %s\nnet/http %s", head, got, want)
		}
	}
}

// rawAnswer sends head on a new connection and returns the status line
// and body of the answer, and whether the lane answered.
func rawAnswer(t *testing.T, addr, head string) (string, bool) {
	t.Helper()
	c := dial(t, addr)
	io.WriteString(c, head)
	req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("%q: %v", head, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + "\n" + string(b), resp.Header.Get("X-Lane") == "1"
}

// TestHandoff: requests the lane does not serve go to net/http with
// their bytes intact, and net/http serves the connection from then on;
// malformed ones get net/http's error answers.
func TestHandoff(t *testing.T) {
	addr, lane := serveLane(t, http.HandlerFunc(echo))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	read := func(what string) (*http.Response, string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// GET, PUT with a body (both the lane's), then an OPTIONS with a GET
	// pipelined behind it (net/http's, as the rest of the connection).
	io.WriteString(c, "GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := read("GET /one"); resp.Header.Get("X-Lane") != "1" {
		t.Fatal("GET /one: not the lane's")
	}
	io.WriteString(c, "PUT /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
	if resp, body := read("PUT /two"); resp.Header.Get("X-Lane") != "1" || !strings.Contains(body, `body="hello"`) {
		t.Fatalf("PUT /two: lane %q, body %s", resp.Header.Get("X-Lane"), body)
	}
	io.WriteString(c, "OPTIONS /three HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /four HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := read("OPTIONS /three")
	if resp.Header.Get("X-Lane") != "" || !strings.Contains(body, `body="abc"`) {
		t.Fatalf("OPTIONS /three: lane %q, body %s", resp.Header.Get("X-Lane"), body)
	}
	resp, body = read("GET /four")
	if resp.Header.Get("X-Lane") != "" || !strings.HasPrefix(body, "GET /four") {
		t.Fatalf("GET /four: lane %q, body %s", resp.Header.Get("X-Lane"), body)
	}

	for _, tc := range []struct{ head, want string }{
		{"GET /lf HTTP/1.1\nHost: h\n\n", "200 OK"},
		{"GET /old HTTP/1.0\r\nHost: h\r\n\r\n", "200 OK"},
		{"GET /nohost HTTP/1.1\r\n\r\n", "400 Bad Request"},
		{"GET /twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request"},
		{"GET /big HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 2*bufSize) + "\r\n\r\n", "200 OK"},
		{"GET /folded HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", "200 OK"},
		{"GET /bad\x01 HTTP/1.1\r\nHost: h\r\n\r\n", "400 Bad Request"},
		{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "200 OK"},
		{"PUT /te HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "501 Not Implemented"},
		{"PUT /te HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", ""},
		{"PUT /expect HTTP/1.1\r\nHost: h\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", "417 Expectation Failed"},
		{"PUT /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", "400 Bad Request"},
		{"PUT /cl HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nx", "400 Bad Request"},
		{"PATCH /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", "200 OK"},
		{"GET /v HTTP/9.9\r\nHost: h\r\n\r\n", "505 HTTP Version Not Supported"},
	} {
		got, byLane := rawAnswer(t, addr, tc.head)
		if byLane || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%.40q: lane %v, answer %.60q; want net/http's %s", tc.head, byLane, got, tc.want)
		}
	}
	// Every connection above went to net/http: the first at its OPTIONS,
	// each of the others at once.
	if st := lane.Stats(); st.Accepted != st.HandedOff || st.Accepted == 0 {
		t.Fatalf("stats %+v: want every connection handed off", st)
	}
}

// TestPipelined: requests sent together are answered in order.
func TestPipelined(t *testing.T) {
	addr, _ := serveLane(t, http.HandlerFunc(echo))
	c := dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	for i, m := range []string{"GET", "HEAD", "GET"} {
		req := &http.Request{Method: m}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m == "GET" && !strings.HasPrefix(string(b), fmt.Sprintf("GET /%d ", i+1)) {
			t.Fatalf("answer %d: %q", i+1, b)
		}
		if resp.Header.Get("X-Lane") != "1" {
			t.Fatalf("answer %d: not the lane's", i+1)
		}
	}
}

// TestConnectionClose: a client's "Connection: close" is answered with
// it, and the connection ends.
func TestConnectionClose(t *testing.T) {
	addr, _ := serveLane(t, http.HandlerFunc(echo))
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if !resp.Close { // (ReadResponse takes "Connection: close" out of Header)
		t.Fatal("no Connection: close")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want EOF", err)
	}
}

// TestPanic: a handler's panic closes its connection; others go on.
func TestPanic(t *testing.T) {
	addr, _ := serveLane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after a panic: read %q, %v; want a closed connection", b, err)
	}
	if got, _ := rawAnswer(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); !strings.HasSuffix(got, "fine") {
		t.Fatalf("next connection: %q", got)
	}
}

// TestShutdown: idle connections close at once, a request in flight
// finishes (and closes its connection), then Shutdown returns.
func TestShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})}
	lane := New(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- lane.Serve(ln) }()
	addr := ln.Addr().String()

	idle := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idleR := bufio.NewReader(idle)
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)

	busy := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	down := make(chan error, 1)
	go func() { down <- lane.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-down:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	busyR := bufio.NewReader(busy)
	resp, err = http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "done" || !resp.Close {
		t.Fatalf("in-flight answer %q, close %v", b, resp.Close)
	}
	if err := <-down; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// TestClientGoneCancels: a write that fails (the client left) cancels
// the request's context.
func TestClientGoneCancels(t *testing.T) {
	cancelled := make(chan error, 1)
	addr, _ := serveLane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 256<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		cancelled <- r.Context().Err()
	}))
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("context after the client left: %v", err)
	}
}

// TestBodies: request bodies of declared length, read whole or in part,
// with and without "Expect: 100-continue".
func TestBodies(t *testing.T) {
	afterReturn := make(chan io.Reader, 1)
	addr, _ := serveLane(t, laneMark(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %v %q", r.ContentLength, err, b)
		case "/some":
			b := make([]byte, 3)
			io.ReadFull(r.Body, b)
			fmt.Fprintf(w, "%q", b)
		case "/keep":
			afterReturn <- r.Body
			io.WriteString(w, "kept")
		default:
			io.WriteString(w, "unread")
		}
	}))
	c := dial(t, addr)
	br := bufio.NewReader(c)
	exchange := func(what, send string) *http.Response {
		t.Helper()
		io.WriteString(c, send)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Header.Set("Body", string(b))
		if resp.Header.Get("X-Lane") != "1" {
			t.Fatalf("%s: not the lane's", what)
		}
		return resp
	}
	if r := exchange("echo", "PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"); r.Header.Get("Body") != `5 <nil> "hello"` {
		t.Fatalf("echo: %q", r.Header.Get("Body"))
	}
	// Partly read: the rest is dropped, the connection goes on.
	if r := exchange("some", "POST /some HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"); r.Header.Get("Body") != `"012"` || r.Close {
		t.Fatalf("some: %q, close %v", r.Header.Get("Body"), r.Close)
	}
	if r := exchange("unread", "PUT /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"); r.Header.Get("Body") != "unread" || r.Close {
		t.Fatalf("unread: %q, close %v", r.Header.Get("Body"), r.Close)
	}
	// Read after the handler returned: refused.
	exchange("keep", "PUT /keep HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab")
	if _, err := (<-afterReturn).Read(make([]byte, 2)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Fatalf("read after return: %v", err)
	}
	// 100-continue: sent at the first read, then the answer.
	io.WriteString(c, "PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("after Expect: %q, %v", line, err)
	}
	br.ReadString('\n')
	if r := exchange("continued", "xyz"); r.Header.Get("Body") != `3 <nil> "xyz"` {
		t.Fatalf("continued: %q", r.Header.Get("Body"))
	}
	// 100-continue never asked for (the handler reads nothing): the answer
	// closes the connection, as the client may not send the body.
	if r := exchange("not continued", "PUT /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"); !r.Close {
		t.Fatal("not continued: connection kept")
	}

	// Chunked: read whole, its trailer skipped; partly read, the rest
	// dropped; the connection goes on.
	c = dial(t, addr)
	br = bufio.NewReader(c)
	if r := exchange("chunked", "PUT /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n"); r.Header.Get("Body") != `-1 <nil> "abcde"` {
		t.Fatalf("chunked: %q", r.Header.Get("Body"))
	}
	if r := exchange("chunked, some", "PUT /some HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"); r.Header.Get("Body") != `"abc"` || r.Close {
		t.Fatalf("chunked, some: %q, close %v", r.Header.Get("Body"), r.Close)
	}
	if r := exchange("after chunked", "GET /unread HTTP/1.1\r\nHost: h\r\n\r\n"); r.Header.Get("Body") != "unread" {
		t.Fatalf("after chunked: %q", r.Header.Get("Body"))
	}

	// Much left unread: the connection closes.
	c = dial(t, addr)
	br = bufio.NewReader(c)
	go io.WriteString(c, "PUT /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("z", 1000000))
	if r := exchange("large unread", ""); !r.Close {
		t.Fatal("large unread: connection kept")
	}

	// Much of a chunked body left unread: the connection closes after
	// the answer.
	c = dial(t, addr)
	br = bufio.NewReader(c)
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("y", 64<<10))
	go io.WriteString(c, "PUT /unread HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+strings.Repeat(chunk, 16)+"0\r\n\r\n")
	exchange("large chunked unread", "")
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("large chunked unread: connection kept")
	}

	// The client leaves mid-body: the handler sees the body cut short.
	c = dial(t, addr)
	br = bufio.NewReader(c)
	io.WriteString(c, "PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
	c.(*net.TCPConn).CloseWrite()
	if r := exchange("cut", ""); r.Header.Get("Body") != `10 unexpected EOF "abc"` {
		t.Fatalf("cut: %q", r.Header.Get("Body"))
	}
}

// TestClientPut: net/http's client PUTs through the lane, with and
// without Expect, and GETs on the same connections.
func TestClientPut(t *testing.T) {
	addr, _ := serveLane(t, laneMark(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	}))
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i, expect := range []bool{false, true, false} {
		body := strings.Repeat("b", 100_000*(i+1))
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/x", strings.NewReader(body))
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("PUT %d", len(body)); string(b) != want || resp.Header.Get("X-Lane") != "1" {
			t.Fatalf("PUT %d (expect %v): %q, lane %q", i, expect, b, resp.Header.Get("X-Lane"))
		}
		if got := fetch(t, c, http.MethodGet, "http://"+addr+"/x"); got.Body != "GET 0" {
			t.Fatalf("GET after PUT %d: %q", i, got.Body)
		}
	}
}

func TestHasCTL(t *testing.T) {
	for c := range 256 {
		want := c < 0x20 || c == 0x7f
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 23, 24, 31, 32, 33, 40, 47} {
			for at := 0; at <= n; at++ {
				b := []byte(strings.Repeat("a\x80~ \xff", 10)[:n])
				b = append(b[:at], append([]byte{byte(c)}, b[at:]...)...)
				if got := hasCTL(string(b)); got != want {
					t.Fatalf("hasCTL(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	for c := range 256 {
		b := []byte(strings.Repeat(string([]byte{byte(c)}), 41))
		if got, want := hasCTL(string(b)), c < 0x20 || c == 0x7f; got != want {
			t.Fatalf("hasCTL(%q) = %v, want %v", b, got, want)
		}
	}
}
