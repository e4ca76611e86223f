package compat_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/objstore/objstore/internal/node"
)

// metaJSON is the body of GET /api/v1/meta/{id} (and of a put).
type metaJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Size        int64             `json:"size"`
	Timestamp   int64             `json:"timestamp"`
	UserMeta    map[string]string `json:"user_meta"`
	Consistency int               `json:"consistency"`
	IsSymlink   bool              `json:"is_symlink"`
	IsDeleted   bool              `json:"is_deleted"`
	IsFetched   bool              `json:"is_fetched"`
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type"`
}

func decodeMeta(t *testing.T, r reply) metaJSON {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("meta Content-Type %q, want application/json", ct)
	}
	var m metaJSON
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("meta body %q: %v", r.body, err)
	}
	return m
}

func etagOf(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

func TestID(t *testing.T) {
	tn := newTestNode(t, newFakeS3(t))
	seen := map[string]bool{}
	for range 3 {
		r := tn.do(t, http.MethodGet, "id", nil)
		wantStatus(t, "id", r, http.StatusOK)
		if _, err := ulid.ParseStrict(r.body); err != nil {
			t.Fatalf("id %q is not a ULID: %v", r.body, err)
		}
		if seen[r.body] {
			t.Fatalf("id %q returned twice", r.body)
		}
		seen[r.body] = true
	}
}

// TestPutGet puts objects of every consistency level with a name and user
// metadata, and reads each back with GET, HEAD and meta.
func TestPutGet(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	tests := []struct {
		name, level, file, wantType string
		wantLevel                   int
		uploaded                    bool
	}{
		{name: "level 0", level: "0", file: "notes.txt", wantType: "text/plain; charset=utf-8", wantLevel: 0},
		{name: "level 1", level: "1", file: "photo.png", wantType: "image/png", wantLevel: 1, uploaded: true},
		{name: "level 2", level: "2", file: "data.json", wantType: "application/json", wantLevel: 2, uploaded: true},
		{name: "default level", file: "page.html", wantType: "text/html; charset=utf-8", wantLevel: 1, uploaded: true},
		{name: "no name", level: "1", wantType: "application/octet-stream", wantLevel: 1, uploaded: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := ulid.Make().String()
			body := "body of " + tc.name
			um := map[string]string{"owner": "alice", "tag": "x y"}
			umJSON, _ := json.Marshal(um)
			hdr := []string{"X-Meta-UserMeta", string(umJSON)}
			if tc.file != "" {
				hdr = append(hdr, "X-Meta-Name", tc.file)
			}
			if tc.level != "" {
				hdr = append(hdr, "X-Meta-ConsistencyLevel", tc.level)
			}
			before := time.Now()
			pr := tn.put(t, key, body, hdr...)
			after := time.Now()
			pm := decodeMeta(t, pr)
			if pm.ID != key || pm.Size != int64(len(body)) || pm.Consistency != tc.wantLevel || pm.ETag != etagOf(body) {
				t.Errorf("put answered %+v", pm)
			}

			check := func(what string, r reply) {
				t.Helper()
				wantStatus(t, what, r, http.StatusOK)
				wantHeader(t, what, r, "Content-Type", tc.wantType)
				wantHeader(t, what, r, "ETag", `"`+etagOf(body)+`"`)
				wantHeader(t, what, r, "Accept-Ranges", "bytes")
				wantHeader(t, what, r, "Content-Length", strconv.Itoa(len(body)))
				wantHeader(t, what, r, "X-Meta-ID", key)
				wantHeader(t, what, r, "X-Meta-Name", tc.file)
				wantHeader(t, what, r, "X-Meta-ConsistencyLevel", strconv.Itoa(tc.wantLevel))
				wantHeader(t, what, r, "X-Objstore-Cache", "HIT")
				wantHeader(t, what, r, "X-Meta-Fetched", "")
				wantHeader(t, what, r, "X-Meta-Symlink", "")
				var gotUM map[string]string
				if err := json.Unmarshal([]byte(r.header.Get("X-Meta-UserMeta")), &gotUM); err != nil || !maps.Equal(gotUM, um) {
					t.Errorf("%s: X-Meta-UserMeta %q, want %s", what, r.header.Get("X-Meta-UserMeta"), umJSON)
				}
				lm, err := http.ParseTime(r.header.Get("Last-Modified"))
				if err != nil || lm.Before(before.Truncate(time.Second)) || lm.After(after) {
					t.Errorf("%s: Last-Modified %q, want a time in [%v, %v]", what, r.header.Get("Last-Modified"), before, after)
				}
			}
			r := tn.get(t, key)
			check("get", r)
			if r.body != body {
				t.Errorf("get body %q, want %q", r.body, body)
			}
			h := tn.do(t, http.MethodHead, "get/"+key, nil)
			check("head", h)
			if h.body != "" {
				t.Errorf("head body %q, want none", h.body)
			}

			mr := tn.meta(t, key)
			wantStatus(t, "meta", mr, http.StatusOK)
			m := decodeMeta(t, mr)
			want := metaJSON{
				ID: key, Name: tc.file, Size: int64(len(body)), Timestamp: m.Timestamp, UserMeta: um,
				Consistency: tc.wantLevel, ETag: etagOf(body), ContentType: m.ContentType,
			}
			if fmt.Sprint(m) != fmt.Sprint(want) {
				t.Errorf("meta = %+v\nwant   %+v", m, want)
			}
			if ts := time.Unix(0, m.Timestamp); ts.Before(before.Truncate(time.Millisecond)) || ts.After(after) {
				t.Errorf("meta timestamp %v, want a time in [%v, %v]", ts, before, after)
			}

			got, _, ok := fake.object(key)
			if ok != tc.uploaded || (ok && string(got) != body) {
				t.Errorf("in gofakes3: %q, %v; want uploaded %v", got, ok, tc.uploaded)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	tn.put(t, "doomed", "bye", "X-Meta-Name", "doomed.txt")
	if !fake.has("doomed") {
		t.Fatal("object not in gofakes3 after put")
	}
	wantStatus(t, "delete", tn.del(t, "doomed"), http.StatusOK)

	r := tn.get(t, "doomed")
	wantPlainError(t, "get deleted", r, http.StatusNotFound)
	wantHeader(t, "get deleted", r, "X-Meta-Deleted", "true")

	r = tn.meta(t, "doomed")
	wantStatus(t, "meta deleted", r, http.StatusNotFound)
	wantHeader(t, "meta deleted", r, "X-Meta-Deleted", "true")
	if m := decodeMeta(t, r); !m.IsDeleted || m.ID != "doomed" {
		t.Errorf("meta of deleted object: %+v", m)
	}
	if fake.has("doomed") {
		t.Error("object still in gofakes3 after delete")
	}

	wantPlainError(t, "delete unknown", tn.del(t, "never-was"), http.StatusNotFound)
	// A tombstone's key can be written again.
	tn.put(t, "doomed", "back")
	if r := tn.get(t, "doomed"); r.status != http.StatusOK || r.body != "back" {
		t.Errorf("get after re-put: %d %q", r.status, r.body)
	}
}

func TestVersionPingStats(t *testing.T) {
	tn := newTestNode(t, newFakeS3(t))

	r := tn.do(t, http.MethodGet, "version", nil)
	wantStatus(t, "version", r, http.StatusOK)
	if r.body != testVersion {
		t.Errorf("version %q, want %q", r.body, testVersion)
	}

	r = tn.do(t, http.MethodGet, "ping", nil)
	wantStatus(t, "ping", r, http.StatusOK)
	if r.body != tn.ID() {
		t.Errorf("ping %q, want node ID %q", r.body, tn.ID())
	}
	if _, err := ulid.ParseStrict(r.body); err != nil {
		t.Errorf("node ID %q is not a ULID: %v", r.body, err)
	}

	r = tn.do(t, http.MethodGet, "stats", nil)
	wantStatus(t, "stats", r, http.StatusOK)
	var st map[string]any
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatalf("stats %q: %v", r.body, err)
	}
	for _, k := range []string{"total", "used", "free"} {
		if v, ok := st[k].(float64); !ok || v < 0 {
			t.Errorf("stats %s = %v, want a byte count", k, st[k])
		}
	}
	if st["total"].(float64) <= 0 {
		t.Errorf("stats total = %v", st["total"])
	}
}

func TestMethodNotAllowed(t *testing.T) {
	tn := newTestNode(t, newFakeS3(t))
	tn.put(t, "k", "v")
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "get/k"},
		{http.MethodGet, "delete/k"},
		{http.MethodDelete, "meta/k"},
	} {
		r := tn.do(t, tc.method, tc.path, nil)
		wantPlainError(t, tc.method+" "+tc.path, r, http.StatusMethodNotAllowed)
	}
	if r := tn.get(t, "k"); r.body != "v" {
		t.Errorf("object changed: %q", r.body)
	}
}

// TestKeys round-trips keys that a path router could mangle: each is put,
// read (escaped, and raw where HTTP allows), found in gofakes3 under the
// same key, and deleted.
func TestKeys(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	tests := []struct {
		name, key string
		raw       string // the key as sent unescaped in a path, if it can be
	}{
		{name: "slashes", key: "a/b/c.txt", raw: "a/b/c.txt"},
		{name: "double slash", key: "a//b", raw: "a//b"},
		{name: "leading slash", key: "/lead", raw: "/lead"},
		{name: "trailing slash", key: "dir/", raw: "dir/"},
		{name: "dot dot segment", key: "a/../b", raw: "a/../b"},
		{name: "dot segment", key: "a/./b", raw: "a/./b"},
		{name: "only dot dot", key: "..", raw: ".."},
		{name: "percent in key", key: "100%25 done %2F ok"},
		{name: "unicode", key: "données/日本語/🙂.txt", raw: "données/日本語/🙂.txt"},
		{name: "needs escaping", key: "q?x=1&y=2#frag with space+plus;semi"},
		{name: "1024 bytes", key: strings.Repeat("k", 1024), raw: strings.Repeat("k", 1024)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := "body of " + tc.name
			tn.put(t, tc.key, body, "X-Meta-Name", "f.txt")
			r := tn.get(t, tc.key)
			wantStatus(t, "get", r, http.StatusOK)
			wantHeader(t, "get", r, "X-Meta-ID", tc.key)
			if r.body != body {
				t.Errorf("get body %q, want %q", r.body, body)
			}
			if tc.raw != "" {
				r := tn.do(t, http.MethodGet, "get/"+tc.raw, nil)
				if r.status != http.StatusOK || r.body != body {
					t.Errorf("get raw %q: %d %q, want 200 %q", tc.raw, r.status, r.body, body)
				}
			}
			if m := decodeMeta(t, tn.meta(t, tc.key)); m.ID != tc.key {
				t.Errorf("meta id %q, want %q", m.ID, tc.key)
			}
			if got, _, ok := fake.object(tc.key); !ok || string(got) != body {
				t.Errorf("gofakes3 holds %q, %v under the key", got, ok)
			}
			wantStatus(t, "delete", tn.del(t, tc.key), http.StatusOK)
			if fake.has(tc.key) {
				t.Error("still in gofakes3 after delete")
			}
			wantStatus(t, "get deleted", tn.get(t, tc.key), http.StatusNotFound)
		})
	}
}

func TestBadKeys(t *testing.T) {
	tn := newTestNode(t, newFakeS3(t))
	long := strings.Repeat("k", 1025)
	r := tn.do(t, http.MethodPost, "put", strings.NewReader("x"), "X-Meta-ID", long)
	wantPlainError(t, "put 1025-byte key", r, http.StatusBadRequest)
	for _, tc := range []struct{ name, path string }{
		{"get 1025-byte key", "get/" + long},
		{"meta 1025-byte key", "meta/" + long},
		{"get empty key", "get/"},
		{"get invalid UTF-8", "get/%FF%FE"},
		{"meta invalid UTF-8", "meta/%C3"},
	} {
		wantPlainError(t, tc.name, tn.do(t, http.MethodGet, tc.path, nil), http.StatusBadRequest)
	}
	wantPlainError(t, "delete 1025-byte key", tn.do(t, http.MethodPost, "delete/"+long, nil), http.StatusBadRequest)
}

// TestRange covers byte ranges on a hit and on a miss (a body being
// fetched from the backend). Each case reads its own key, so one reader
// node sees every miss case as a miss.
func TestRange(t *testing.T) {
	fake := newFakeS3(t)
	const body = "0123456789abcdef"
	writer, reader := newTestNode(t, fake), newTestNode(t, fake)
	tests := []struct {
		rng, wantRange, want string
		status               int
	}{
		{rng: "bytes=2-5", status: http.StatusPartialContent, wantRange: "bytes 2-5/16", want: "2345"},
		{rng: "bytes=10-", status: http.StatusPartialContent, wantRange: "bytes 10-15/16", want: "abcdef"},
		{rng: "bytes=-3", status: http.StatusPartialContent, wantRange: "bytes 13-15/16", want: "def"},
		{rng: "bytes=14-100", status: http.StatusPartialContent, wantRange: "bytes 14-15/16", want: "ef"},
		{rng: "bytes=16-", status: http.StatusRequestedRangeNotSatisfiable, wantRange: "bytes */16"},
		{rng: "bytes=100-200", status: http.StatusRequestedRangeNotSatisfiable, wantRange: "bytes */16"},
	}
	for i := range tests {
		writer.put(t, "r/"+strconv.Itoa(i), body, "X-Meta-Name", "r.txt")
	}
	for _, miss := range []bool{false, true} {
		for i, tc := range tests {
			t.Run(fmt.Sprintf("miss=%v/%s", miss, tc.rng), func(t *testing.T) {
				tn, cache, key := writer, "HIT", "r/"+strconv.Itoa(i)
				if miss {
					tn, cache = reader, "MISS"
				}
				r := tn.get(t, key, "Range", tc.rng, "X-Meta-Fetch", "1")
				wantStatus(t, tc.rng, r, tc.status)
				wantHeader(t, tc.rng, r, "Content-Range", tc.wantRange)
				if tc.status == http.StatusPartialContent {
					wantHeader(t, tc.rng, r, "X-Objstore-Cache", cache)
					wantHeader(t, tc.rng, r, "Content-Type", "text/plain; charset=utf-8")
					if r.body != tc.want {
						t.Errorf("body %q, want %q", r.body, tc.want)
					}
				}
				// Whatever became of the fill, the whole object reads right.
				if r := tn.get(t, key, "X-Meta-Fetch", "1"); r.status != http.StatusOK || r.body != body {
					t.Errorf("full read after range: %d %q", r.status, r.body)
				}
			})
		}
	}
}

// TestConditional covers If-None-Match, If-Match and If-Modified-Since on
// a hit and on a miss, each case on its own key (see TestRange).
func TestConditional(t *testing.T) {
	fake := newFakeS3(t)
	const body = "conditional body"
	etag := `"` + etagOf(body) + `"`
	writer, reader := newTestNode(t, fake), newTestNode(t, fake)
	// lastModified is what a read of key serves as Last-Modified: the
	// node's time of the put on a hit, gofakes3's on a miss.
	lastModified := func(key string, miss bool) string {
		if miss {
			_, meta, _ := fake.object(key)
			return meta["Last-Modified"]
		}
		return writer.get(t, key).header.Get("Last-Modified")
	}
	tests := []struct {
		name   string
		hdr    func(key string, miss bool) []string
		status int
	}{
		{"if-none-match same", func(string, bool) []string { return []string{"If-None-Match", etag} }, http.StatusNotModified},
		{"if-none-match star", func(string, bool) []string { return []string{"If-None-Match", "*"} }, http.StatusNotModified},
		{"if-none-match other", func(string, bool) []string { return []string{"If-None-Match", `"other"`} }, http.StatusOK},
		{"if-match other", func(string, bool) []string { return []string{"If-Match", `"other"`} }, http.StatusPreconditionFailed},
		{"if-match same", func(string, bool) []string { return []string{"If-Match", etag} }, http.StatusOK},
		{"if-modified-since last-modified", func(key string, miss bool) []string {
			lm := lastModified(key, miss)
			if lm == "" {
				t.Fatalf("no Last-Modified for %q", key)
			}
			return []string{"If-Modified-Since", lm}
		}, http.StatusNotModified},
		{"if-modified-since long ago", func(string, bool) []string {
			return []string{"If-Modified-Since", time.Unix(0, 0).UTC().Format(http.TimeFormat)}
		}, http.StatusOK},
	}
	for i := range tests {
		writer.put(t, "c/"+strconv.Itoa(i), body)
	}
	for _, miss := range []bool{false, true} {
		for i, tc := range tests {
			t.Run(fmt.Sprintf("miss=%v/%s", miss, tc.name), func(t *testing.T) {
				tn, cache, key := writer, "HIT", "c/"+strconv.Itoa(i)
				if miss {
					tn, cache = reader, "MISS"
				}
				r := tn.get(t, key, append(tc.hdr(key, miss), "X-Meta-Fetch", "1")...)
				wantStatus(t, tc.name, r, tc.status)
				wantHeader(t, tc.name, r, "X-Objstore-Cache", cache)
				if tc.status == http.StatusOK && r.body != body {
					t.Errorf("body %q, want %q", r.body, body)
				}
				if tc.status == http.StatusNotModified {
					wantHeader(t, tc.name, r, "ETag", etag)
				}
				if r := tn.get(t, key, "X-Meta-Fetch", "1"); r.status != http.StatusOK || r.body != body {
					t.Errorf("full read after: %d %q", r.status, r.body)
				}
			})
		}
	}
}

// TestMiss reads through a second node an object that a first node put:
// without X-Meta-Fetch the second node answers 404 without asking the
// backend; with it the object is fetched, restored with its name, user
// metadata and level, and cached.
func TestMiss(t *testing.T) {
	fake := newFakeS3(t)
	writer := newTestNode(t, fake)
	um := map[string]string{"owner": "bob", "project": "apollo"}
	umJSON, _ := json.Marshal(um)
	const body = "%PDF-1.4 not really"
	writer.put(t, "doc", body, "X-Meta-Name", "report.pdf", "X-Meta-UserMeta", string(umJSON), "X-Meta-ConsistencyLevel", "2")
	writerMeta := decodeMeta(t, writer.meta(t, "doc"))

	tn := newTestNode(t, fake)
	before := fake.requests.Load()
	wantPlainError(t, "get without fetch", tn.get(t, "doc"), http.StatusNotFound)
	wantPlainError(t, "meta without fetch", tn.meta(t, "doc"), http.StatusNotFound)
	if r := tn.get(t, "doc", "X-Meta-Fetch", "0"); r.status != http.StatusNotFound {
		t.Errorf("X-Meta-Fetch: 0 answered %d", r.status)
	}
	if n := fake.requests.Load() - before; n != 0 {
		t.Fatalf("%d backend requests for an unknown ID without X-Meta-Fetch, want 0", n)
	}

	// meta with X-Meta-Fetch looks the object up without caching it.
	mr := tn.meta(t, "doc", "X-Meta-Fetch", "true")
	wantStatus(t, "meta with fetch", mr, http.StatusOK)
	wantHeader(t, "meta with fetch", mr, "X-Meta-Fetched", "true")
	if m := decodeMeta(t, mr); m.Name != "report.pdf" || m.Consistency != 2 || !maps.Equal(m.UserMeta, um) || !m.IsFetched || m.Size != int64(len(body)) {
		t.Errorf("meta with fetch: %+v", m)
	}

	gets := fake.gets.Load()
	check := func(what string, r reply, cache string) {
		t.Helper()
		wantStatus(t, what, r, http.StatusOK)
		if r.body != body {
			t.Errorf("%s: body %q, want %q", what, r.body, body)
		}
		wantHeader(t, what, r, "X-Objstore-Cache", cache)
		wantHeader(t, what, r, "X-Meta-Name", "report.pdf")
		wantHeader(t, what, r, "X-Meta-ConsistencyLevel", "2")
		wantHeader(t, what, r, "Content-Type", "application/pdf")
		wantHeader(t, what, r, "ETag", `"`+etagOf(body)+`"`)
		var got map[string]string
		if err := json.Unmarshal([]byte(r.header.Get("X-Meta-UserMeta")), &got); err != nil || !maps.Equal(got, um) {
			t.Errorf("%s: X-Meta-UserMeta %q, want %s", what, r.header.Get("X-Meta-UserMeta"), umJSON)
		}
	}
	r := tn.get(t, "doc", "X-Meta-Fetch", "1")
	check("fetch", r, "MISS")
	wantHeader(t, "fetch", r, "X-Meta-Fetched", "true")
	if n := fake.gets.Load() - gets; n != 1 {
		t.Errorf("%d backend GETs for a miss, want 1", n)
	}

	r = tn.get(t, "doc")
	check("after fetch", r, "HIT")
	wantHeader(t, "after fetch", r, "X-Meta-Fetched", "")
	if n := fake.gets.Load() - gets; n != 1 {
		t.Errorf("%d backend GETs after a hit, want still 1", n)
	}
	m := decodeMeta(t, tn.meta(t, "doc"))
	if m.Name != writerMeta.Name || m.Consistency != writerMeta.Consistency || !maps.Equal(m.UserMeta, writerMeta.UserMeta) || m.ETag != writerMeta.ETag || m.Size != writerMeta.Size {
		t.Errorf("fetched meta %+v\nwriter's     %+v", m, writerMeta)
	}

	// An ID the backend does not have either is 404 after asking it.
	wantPlainError(t, "fetch of unknown ID", tn.get(t, "nowhere", "X-Meta-Fetch", "1"), http.StatusNotFound)
}

// TestCoalescedMiss: 30 concurrent reads through of one key cost one
// backend GET. The backend holds its answer until all 30 wait on the fill,
// so the test does not depend on timing.
func TestCoalescedMiss(t *testing.T) {
	fake := newFakeS3(t)
	body := strings.Repeat("coalesce ", 20000)
	newTestNode(t, fake).put(t, "hot", body)
	tn := newTestNode(t, fake)
	const clients = 30
	gets := fake.gets.Load()
	release := fake.hold()

	var wg sync.WaitGroup
	replies := make([]reply, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Go(func() {
			replies[i], errs[i] = tn.try(t.Context(), http.MethodGet, "get/hot", nil, "X-Meta-Fetch", "1")
		})
	}
	waitFor(t, "all clients waiting on one fill", func() bool {
		return tn.Stats().CoalescedMisses >= clients-1
	})
	release()
	wg.Wait()
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if r := replies[i]; r.status != http.StatusOK || r.body != body {
			t.Fatalf("client %d: %d, %d bytes", i, r.status, len(r.body))
		}
	}
	if n := fake.gets.Load() - gets; n != 1 {
		t.Errorf("%d backend GETs for %d concurrent misses, want 1", n, clients)
	}
	if r := tn.get(t, "hot"); r.header.Get("X-Objstore-Cache") != "HIT" {
		t.Errorf("after the fill: X-Objstore-Cache %q, want HIT", r.header.Get("X-Objstore-Cache"))
	}
}

func TestBadPut(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	tests := []struct {
		name string
		hdr  []string
	}{
		{"missing id", nil},
		{"empty id", []string{"X-Meta-ID", ""}},
		{"level 3", []string{"X-Meta-ID", "k", "X-Meta-ConsistencyLevel", "3"}},
		{"level -1", []string{"X-Meta-ID", "k", "X-Meta-ConsistencyLevel", "-1"}},
		{"level word", []string{"X-Meta-ID", "k", "X-Meta-ConsistencyLevel", "strong"}},
		{"user meta not JSON", []string{"X-Meta-ID", "k", "X-Meta-UserMeta", "{owner: bob"}},
		{"user meta array", []string{"X-Meta-ID", "k", "X-Meta-UserMeta", `["a"]`}},
		{"user meta number value", []string{"X-Meta-ID", "k", "X-Meta-UserMeta", `{"a": 1}`}},
		{"user meta empty key", []string{"X-Meta-ID", "k", "X-Meta-UserMeta", `{"": "v"}`}},
		{"user meta over 2 KiB", []string{"X-Meta-ID", "k", "X-Meta-UserMeta", `{"big": "` + strings.Repeat("x", 2100) + `"}`}},
	}
	puts := fake.puts.Load()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tn.do(t, http.MethodPost, "put", strings.NewReader("data"), tc.hdr...)
			wantPlainError(t, tc.name, r, http.StatusBadRequest)
		})
	}
	if n := fake.puts.Load() - puts; n != 0 {
		t.Errorf("%d backend PUTs for bad requests", n)
	}
	wantStatus(t, "get k", tn.get(t, "k"), http.StatusNotFound)
}

// TestShortBody sends a put that declares more bytes than it sends and then
// closes its side of the connection: nothing may be stored, and the
// previous version of the key must read back intact.
func TestShortBody(t *testing.T) {
	for _, mode := range []node.WriteMode{node.WriteThrough, node.WriteBack} {
		t.Run(mode.String(), func(t *testing.T) {
			fake := newFakeS3(t)
			tn := newTestNode(t, fake, func(c *node.Config) { c.WriteMode = mode })
			tn.put(t, "old", "previous version", "X-Meta-Name", "old.txt")
			waitFor(t, "upload of the previous version", func() bool {
				return fake.has("old") && tn.Stats().UploadQueueLength == 0
			})
			for _, key := range []string{"old", "new"} {
				status, err := shortPut(t, tn, key, 100, "only ten!!")
				if err == nil && status != http.StatusBadRequest {
					t.Errorf("short put of %q answered %d, want 400 or a connection error", key, status)
				}
			}
			r := tn.get(t, "old")
			if r.status != http.StatusOK || r.body != "previous version" || r.header.Get("X-Meta-Name") != "old.txt" {
				t.Errorf("previous version: %d %q (name %q)", r.status, r.body, r.header.Get("X-Meta-Name"))
			}
			wantStatus(t, "get new", tn.get(t, "new"), http.StatusNotFound)
			if got, _, _ := fake.object("old"); string(got) != "previous version" {
				t.Errorf("gofakes3 holds %q", got)
			}
			if fake.has("new") {
				t.Error("short body reached gofakes3")
			}
			if q := tn.Stats().UploadQueueLength; q != 0 {
				t.Errorf("upload queue holds %d items", q)
			}
		})
	}
}

// shortPut writes a put of key declaring size bytes and sending body, closes
// the write side and returns the status the node answered, if any.
func shortPut(t *testing.T, tn *testNode, key string, size int, body string) (int, error) {
	t.Helper()
	conn, err := net.Dial("tcp", tn.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/put HTTP/1.1\r\nHost: objstore\r\nX-Meta-ID: %s\r\nContent-Length: %d\r\n\r\n%s", key, size, body)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("short put error Content-Type %q, want text/plain", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, nil
}

// TestWriteThroughOutage: with the backend down, cached copies are still
// served, misses and backend puts fail with 502, and level-0 puts work.
func TestWriteThroughOutage(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	tn.put(t, "cached", "cached body", "X-Meta-Name", "c.txt")
	newTestNode(t, fake).put(t, "remote", "only in the backend")
	fake.stop()

	r := tn.get(t, "cached")
	wantStatus(t, "cached read", r, http.StatusOK)
	wantHeader(t, "cached read", r, "X-Objstore-Cache", "HIT")
	if r.body != "cached body" {
		t.Errorf("cached body %q", r.body)
	}
	wantStatus(t, "cached meta", tn.meta(t, "cached"), http.StatusOK)

	wantPlainError(t, "miss", tn.get(t, "remote", "X-Meta-Fetch", "1"), http.StatusBadGateway)
	wantPlainError(t, "meta miss", tn.meta(t, "remote", "X-Meta-Fetch", "1"), http.StatusBadGateway)
	wantPlainError(t, "unknown without fetch", tn.get(t, "remote"), http.StatusNotFound)

	r = tn.do(t, http.MethodPost, "put", strings.NewReader("new body"), "X-Meta-ID", "new")
	wantPlainError(t, "put new", r, http.StatusBadGateway)
	wantStatus(t, "get new", tn.get(t, "new"), http.StatusNotFound)
	wantStatus(t, "meta new", tn.meta(t, "new"), http.StatusNotFound)

	r = tn.do(t, http.MethodPost, "put", strings.NewReader("overwrite"), "X-Meta-ID", "cached", "X-Meta-ConsistencyLevel", "2")
	wantPlainError(t, "overwrite", r, http.StatusBadGateway)
	if r := tn.get(t, "cached"); r.body != "cached body" || r.header.Get("X-Meta-Name") != "c.txt" {
		t.Errorf("after a failed overwrite: %q (name %q)", r.body, r.header.Get("X-Meta-Name"))
	}

	wantPlainError(t, "delete", tn.del(t, "cached"), http.StatusBadGateway)
	if r := tn.get(t, "cached"); r.status != http.StatusOK || r.body != "cached body" {
		t.Errorf("after a failed delete: %d %q", r.status, r.body)
	}

	tn.put(t, "local", "local body", "X-Meta-ConsistencyLevel", "0")
	r = tn.get(t, "local")
	if r.status != http.StatusOK || r.body != "local body" || r.header.Get("X-Objstore-Cache") != "HIT" {
		t.Errorf("level-0 read: %d %q %q", r.status, r.body, r.header.Get("X-Objstore-Cache"))
	}

	fake.start()
	if fake.has("new") {
		t.Error("failed put reached gofakes3")
	}
	if got, _, _ := fake.object("cached"); string(got) != "cached body" {
		t.Errorf("gofakes3 holds %q after a failed overwrite", got)
	}
}

// TestWriteBackOutage: puts and deletes made while the backend is down are
// acknowledged at once and reach it once it is back.
func TestWriteBackOutage(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake, func(c *node.Config) { c.WriteMode = node.WriteBack })
	tn.put(t, "before", "put before the outage")
	waitFor(t, "upload of the first object", func() bool {
		return fake.has("before") && tn.Stats().UploadQueueLength == 0
	})
	fake.stop()

	tn.put(t, "during", "put during the outage", "X-Meta-Name", "d.txt", "X-Meta-UserMeta", `{"k":"v"}`)
	r := tn.get(t, "during")
	if r.status != http.StatusOK || r.body != "put during the outage" || r.header.Get("X-Objstore-Cache") != "HIT" {
		t.Errorf("read during the outage: %d %q %q", r.status, r.body, r.header.Get("X-Objstore-Cache"))
	}
	wantStatus(t, "delete during the outage", tn.del(t, "before"), http.StatusOK)
	wantStatus(t, "get deleted", tn.get(t, "before"), http.StatusNotFound)
	if q := tn.Stats().UploadQueueLength; q != 2 {
		t.Errorf("upload queue holds %d items, want 2", q)
	}

	fake.start()
	waitFor(t, "the outage's put and delete to reach gofakes3", func() bool {
		return fake.has("during") && !fake.has("before")
	})
	got, meta, _ := fake.object("during")
	if string(got) != "put during the outage" {
		t.Errorf("gofakes3 holds %q", got)
	}
	if meta["X-Amz-Meta-K"] != "v" || meta["X-Amz-Meta-Objstore-Name"] != "d.txt" {
		t.Errorf("gofakes3 metadata %v", meta)
	}
	waitFor(t, "an empty upload queue", func() bool { return tn.Stats().UploadQueueLength == 0 })
}

// TestRestartWarm reopens a node on its data dir with the backend down:
// every object is served from disk with its metadata.
func TestRestartWarm(t *testing.T) {
	fake := newFakeS3(t)
	tn := newTestNode(t, fake)
	objects := []struct{ key, body, name, level, meta string }{
		{"a", "alpha", "a.txt", "1", `{"x":"1"}`},
		{"b/c", "bravo charlie", "b.json", "2", `{"y":"2"}`},
		{"local", "level zero", "l.html", "0", `{"z":"3"}`},
		{"big", strings.Repeat("0123456789", 50000), "big.bin", "1", `{"size":"big"}`},
	}
	want := map[string]reply{}
	for _, o := range objects {
		tn.put(t, o.key, o.body, "X-Meta-Name", o.name, "X-Meta-ConsistencyLevel", o.level, "X-Meta-UserMeta", o.meta)
		want[o.key] = tn.meta(t, o.key)
	}
	tn.put(t, "gone", "deleted before restart")
	wantStatus(t, "delete", tn.del(t, "gone"), http.StatusOK)

	tn.close(t)
	fake.stop()
	tn = tn.reopen(t)

	for _, o := range objects {
		r := tn.get(t, o.key)
		wantStatus(t, o.key, r, http.StatusOK)
		if r.body != o.body {
			t.Errorf("%s: body of %d bytes differs", o.key, len(r.body))
		}
		wantHeader(t, o.key, r, "X-Objstore-Cache", "HIT")
		wantHeader(t, o.key, r, "X-Meta-Name", o.name)
		wantHeader(t, o.key, r, "X-Meta-ConsistencyLevel", o.level)
		wantHeader(t, o.key, r, "X-Meta-UserMeta", o.meta)
		wantHeader(t, o.key, r, "ETag", `"`+etagOf(o.body)+`"`)
		if m := tn.meta(t, o.key); m.body != want[o.key].body {
			t.Errorf("%s: meta after restart %s, before %s", o.key, m.body, want[o.key].body)
		}
	}
	r := tn.get(t, "gone")
	wantStatus(t, "deleted", r, http.StatusNotFound)
	wantHeader(t, "deleted", r, "X-Meta-Deleted", "true")
}

// TestRevalidate covers Cache-Control: no-cache, revalidation after
// Config.RevalidateAfter, and the stale copy served when the backend fails.
func TestRevalidate(t *testing.T) {
	t.Run("no-cache", func(t *testing.T) {
		fake := newFakeS3(t)
		tn := newTestNode(t, fake)
		tn.put(t, "k", "version 1", "X-Meta-Name", "k.txt")

		r := tn.get(t, "k", "Cache-Control", "no-cache")
		if r.body != "version 1" || r.header.Get("X-Objstore-Cache") != "HIT" {
			t.Errorf("unchanged revalidation: %q %q, want the cached copy", r.body, r.header.Get("X-Objstore-Cache"))
		}

		fake.replace("k", []byte("version 2, changed behind objstore"))
		if r := tn.get(t, "k"); r.body != "version 1" || r.header.Get("X-Objstore-Cache") != "HIT" {
			t.Errorf("without no-cache: %q %q, want the cached copy", r.body, r.header.Get("X-Objstore-Cache"))
		}
		r = tn.get(t, "k", "Cache-Control", "no-cache")
		wantStatus(t, "no-cache", r, http.StatusOK)
		if r.body != "version 2, changed behind objstore" {
			t.Errorf("no-cache served %q", r.body)
		}
		wantHeader(t, "no-cache", r, "X-Objstore-Cache", "MISS")
		wantHeader(t, "no-cache", r, "X-Meta-Name", "k.txt")
		wantHeader(t, "no-cache", r, "ETag", `"`+etagOf("version 2, changed behind objstore")+`"`)
		r = tn.get(t, "k")
		if r.body != "version 2, changed behind objstore" || r.header.Get("X-Objstore-Cache") != "HIT" {
			t.Errorf("after revalidation: %q %q, want the new copy cached", r.body, r.header.Get("X-Objstore-Cache"))
		}

		if _, err := fake.mem.DeleteObject(bucket, "k"); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "no-cache of an object gone from the backend", tn.get(t, "k", "Cache-Control", "no-cache"), http.StatusNotFound)
	})

	t.Run("revalidate after", func(t *testing.T) {
		fake := newFakeS3(t)
		tn := newTestNode(t, fake, func(c *node.Config) { c.RevalidateAfter = 20 * time.Millisecond })
		tn.put(t, "k", "version 1")
		fake.replace("k", []byte("version 2"))
		waitFor(t, "the node to revalidate by itself", func() bool {
			r := tn.get(t, "k")
			return r.status == http.StatusOK && r.body == "version 2"
		})
	})

	for _, tc := range []struct {
		name string
		cfg  func(*node.Config)
		hdr  []string
	}{
		{"stale on no-cache", func(*node.Config) {}, []string{"Cache-Control", "no-cache"}},
		{"stale after", func(c *node.Config) { c.RevalidateAfter = time.Nanosecond }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeS3(t)
			tn := newTestNode(t, fake, tc.cfg)
			tn.put(t, "k", "cached copy", "X-Meta-Name", "k.txt")
			fake.stop()
			r := tn.get(t, "k", tc.hdr...)
			wantStatus(t, "stale", r, http.StatusOK)
			if r.body != "cached copy" {
				t.Errorf("stale body %q", r.body)
			}
			wantHeader(t, "stale", r, "X-Objstore-Cache", "STALE")
			wantHeader(t, "stale", r, "X-Meta-Name", "k.txt")
			if s := tn.Stats().StaleServed; s != 1 {
				t.Errorf("StaleServed = %d, want 1", s)
			}
		})
	}
}

// TestLevelZeroNeverUploaded: a level-0 object never reaches the backend,
// in either write mode, and is not even queued.
func TestLevelZeroNeverUploaded(t *testing.T) {
	for _, mode := range []node.WriteMode{node.WriteThrough, node.WriteBack} {
		t.Run(mode.String(), func(t *testing.T) {
			fake := newFakeS3(t)
			tn := newTestNode(t, fake, func(c *node.Config) { c.WriteMode = mode })
			before := fake.requests.Load()
			tn.put(t, "zero", "stays here", "X-Meta-ConsistencyLevel", "0")
			tn.put(t, "zero", "still here", "X-Meta-ConsistencyLevel", "0")
			if n := fake.requests.Load() - before; n != 0 {
				t.Errorf("%d backend requests for level-0 puts", n)
			}
			if q := tn.Stats().UploadQueueLength; q != 0 {
				t.Errorf("upload queue holds %d items", q)
			}
			// A level-1 put afterwards is uploaded; the level-0 key still is not.
			tn.put(t, "one", "goes up")
			waitFor(t, "upload of the level-1 object", func() bool { return fake.has("one") })
			waitFor(t, "an empty upload queue", func() bool { return tn.Stats().UploadQueueLength == 0 })
			if fake.has("zero") {
				t.Error("level-0 object reached gofakes3")
			}
			r := tn.get(t, "zero")
			if r.body != "still here" || r.header.Get("X-Meta-ConsistencyLevel") != "0" {
				t.Errorf("level-0 read: %q level %q", r.body, r.header.Get("X-Meta-ConsistencyLevel"))
			}
		})
	}
}

// TestCorruptBackendBody: a fetched body that does not match its ETag must
// not reach the client complete (the response is cut short or an error),
// and is not cached. Sizes cover the buffered and the streamed write.
func TestCorruptBackendBody(t *testing.T) {
	for _, size := range []int{9000, 200 << 10} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			fake := newFakeS3(t)
			body := strings.Repeat("precious", size/8)
			newTestNode(t, fake).put(t, "bits", body)
			tn := newTestNode(t, fake)
			fake.corrupt.Store(true)
			r, err := tn.try(t.Context(), http.MethodGet, "get/bits", nil, "X-Meta-Fetch", "1")
			if err == nil && r.status == http.StatusOK {
				t.Errorf("corrupt body served whole with 200 (%d bytes, intact %v)", len(r.body), r.body == body)
			}
			if n := tn.Stats().Objects; n != 0 {
				t.Errorf("%d objects cached, want 0", n)
			}
			fake.corrupt.Store(false)
			r = tn.get(t, "bits", "X-Meta-Fetch", "1")
			if r.status != http.StatusOK || r.body != body {
				t.Errorf("read after the backend healed: %d, %d bytes", r.status, len(r.body))
			}
		})
	}
}
