package sigv4

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeS3 is just enough of an S3 server for SDK clients to put, upload in
// parts and get objects, with every request verified by a Verifier. It
// records what it stored and the payload modes it saw.
type fakeS3 struct {
	v *Verifier

	mu        sync.Mutex
	objects   map[string][]byte     // "bucket/key" → body
	checksums map[string][]Checksum // verified with the body
	parts     map[string]map[int][]byte
	modes     map[string]int // x-amz-content-sha256 of verified requests with a body
	errs      []error        // errors answered
	nextID    int
}

// newFakeS3 starts a fakeS3 on 127.0.0.1, over TLS when tls is set.
func newFakeS3(t *testing.T, tls bool) (*fakeS3, *httptest.Server) {
	t.Helper()
	s := &fakeS3{
		v:         newTestVerifier(t, func(c *Config) { c.Now = nil }), // the clients sign with the real clock
		objects:   map[string][]byte{},
		checksums: map[string][]Checksum{},
		parts:     map[string]map[int][]byte{},
		modes:     map[string]int{},
	}
	srv := httptest.NewUnstartedServer(s)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.serve(w, r); err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
		var e *Error
		if !errors.As(err, &e) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>",
			xmlText(e.Code), xmlText(e.Message))
	}
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *fakeS3) serve(w http.ResponseWriter, r *http.Request) error {
	res, err := s.v.Verify(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.Anonymous {
		return ErrAccessDenied.with("")
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(body) > 0 || r.Method == http.MethodPut {
		s.modes[r.Header.Get("X-Amz-Content-Sha256")]++
	}
	if int64(len(body)) != res.DecodedLength && res.DecodedLength >= 0 {
		return fmt.Errorf("DecodedLength %d, body %d bytes", res.DecodedLength, len(body))
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(name, "/")
	q := r.URL.Query()
	etag := func(b []byte) string { sum := md5.Sum(b); return `"` + hex.EncodeToString(sum[:]) + `"` }
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		n, _ := strconv.Atoi(q.Get("partNumber"))
		parts := s.parts[q.Get("uploadId")]
		if parts == nil {
			return ErrInvalidRequest.with("NoSuchUpload")
		}
		parts[n] = body
		w.Header().Set("ETag", etag(body))
	case r.Method == http.MethodPut:
		s.objects[name] = body
		s.checksums[name] = res.Body.Checksums()
		w.Header().Set("ETag", etag(body))
		for _, c := range res.Body.Checksums() {
			w.Header().Set(c.Header(), c.Value)
		}
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.nextID++
		id := "upload-" + strconv.Itoa(s.nextID)
		s.parts[id] = map[int][]byte{}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, "<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>",
			xmlText(bucket), xmlText(key), id)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		parts := s.parts[q.Get("uploadId")]
		var nums []int
		for n := range parts {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var all []byte
		for _, n := range nums {
			all = append(all, parts[n]...)
		}
		s.objects[name] = all
		delete(s.checksums, name)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, "<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>",
			xmlText(bucket), xmlText(key), xmlText(etag(all)+"-"+strconv.Itoa(len(nums))))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		obj, ok := s.objects[name]
		if !ok {
			http.Error(w, "no such key", http.StatusNotFound)
			return nil
		}
		w.Header().Set("ETag", etag(obj))
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		// Sending the stored checksum lets the SDK validate it against
		// the body it gets: a check of Checksums() by the SDK itself.
		for _, c := range s.checksums[name] {
			w.Header().Set(c.Header(), c.Value)
		}
		if r.Method == http.MethodGet {
			_, _ = w.Write(obj)
		}
	default:
		return ErrInvalidRequest.with("unsupported request")
	}
	return nil
}

func (s *fakeS3) object(name string) ([]byte, []Checksum, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[name]
	return b, s.checksums[name], ok
}

func (s *fakeS3) seenModes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for k, v := range s.modes {
		m[k] = v
	}
	return m
}

// testData returns n bytes of a pattern that shows misplaced bytes.
func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// readerOnly hides every method of a reader but Read, so that the SDK
// cannot seek it.
type readerOnly struct{ io.Reader }
