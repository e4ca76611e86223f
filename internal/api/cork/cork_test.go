package cork

import (
	"bytes"
	"io"
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
