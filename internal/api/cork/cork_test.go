package cork

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestCorkedResponses: responses written under a cork arrive whole, on
// kept-alive connections, small ones, ones larger than a cork holds, and
// files sent with sendfile after corked headers.
func TestCorkedResponses(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{0, 100, 4096, 4097, maxHeld + 1000, 3 << 20}
	bodies := map[int][]byte{}
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		bodies[n] = b
		os.WriteFile(filepath.Join(dir, strconv.Itoa(n)), b, 0o644)
	}
	corked := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		c := Begin(w, r)
		if c.c != nil {
			corked++
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		if r.URL.Query().Get("file") != "" {
			f, _ := os.Open(filepath.Join(dir, strconv.Itoa(n)))
			io.Copy(w, f) // ReadFrom: sendfile
			f.Close()
		} else {
			w.Write(bodies[n])
		}
		c.End()
	}))
	srv.Listener = Listener(srv.Listener)
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	requests := 0
	for round := 0; round < 3; round++ {
		for _, n := range sizes {
			for _, file := range []string{"", "1"} {
				resp, err := client.Get(srv.URL + "?n=" + strconv.Itoa(n) + "&file=" + file)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(got, bodies[n]) {
					t.Fatalf("%d bytes (file %q): got %d bytes, %v", n, file, len(got), err)
				}
				requests++
			}
		}
	}
	if corked != requests {
		t.Fatalf("%d of %d responses corked", corked, requests)
	}
}

// TestWriteMore: what WriteMore sends arrives, in order, before what the
// next write and sendfile send, on a TCP connection and on one without a
// socket (net.Pipe); on a closed connection it fails.
func TestWriteMore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "body")
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("head\r\n"), append([]byte("next"), body...)...)
	send := func(c net.Conn) error {
		if _, err := WriteMore(c, []byte("head\r\n")); err != nil {
			return err
		}
		if _, err := WriteMore(c, []byte("next")); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(c, f) // sendfile on TCP
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		err = send(c)
		c.Close()
		errc <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || <-errc != nil || !bytes.Equal(got, want) {
		t.Fatalf("over TCP: got %d bytes (%v), want %d", len(got), err, len(want))
	}

	a, b := net.Pipe()
	go func() { errc <- send(a); a.Close() }()
	got, err = io.ReadAll(b)
	if err != nil || <-errc != nil || !bytes.Equal(got, want) {
		t.Fatalf("over a pipe: got %d bytes (%v), want %d", len(got), err, len(want))
	}

	if _, err := WriteMore(c, []byte("late")); err == nil {
		t.Fatal("WriteMore on a closed connection succeeded")
	}
}
