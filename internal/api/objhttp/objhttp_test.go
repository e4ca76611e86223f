package objhttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Object{ETag: "abc", ModTime: mod, Size: 100}
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	at := mod.Format(http.TimeFormat)
	cases := []struct {
		name   string
		header map[string]string
		status int
		start  int64
		length int64
	}{
		{"plain", nil, 200, 0, 100},
		{"if-match ok", map[string]string{"If-Match": `"abc"`}, 200, 0, 100},
		{"if-match star", map[string]string{"If-Match": `*`}, 200, 0, 100},
		{"if-match list", map[string]string{"If-Match": `"x", "abc"`}, 200, 0, 100},
		{"if-match fails", map[string]string{"If-Match": `"x"`}, 412, 0, 0},
		{"if-unmodified-since fails", map[string]string{"If-Unmodified-Since": before}, 412, 0, 0},
		{"if-unmodified-since ok", map[string]string{"If-Unmodified-Since": at}, 200, 0, 100},
		{"if-match wins over if-unmodified-since", map[string]string{"If-Match": `"abc"`, "If-Unmodified-Since": before}, 200, 0, 100},
		{"if-none-match hit", map[string]string{"If-None-Match": `"abc"`}, 304, 0, 0},
		{"if-none-match weak", map[string]string{"If-None-Match": `W/"abc"`}, 304, 0, 0},
		{"if-none-match miss", map[string]string{"If-None-Match": `"x"`}, 200, 0, 100},
		{"if-modified-since not modified", map[string]string{"If-Modified-Since": at}, 304, 0, 0},
		{"if-modified-since modified", map[string]string{"If-Modified-Since": before}, 200, 0, 100},
		{"if-none-match wins over if-modified-since", map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": at}, 200, 0, 100},
		{"range", map[string]string{"Range": "bytes=10-19"}, 206, 10, 10},
		{"range open", map[string]string{"Range": "bytes=90-"}, 206, 90, 10},
		{"range past end clipped", map[string]string{"Range": "bytes=90-500"}, 206, 90, 10},
		{"suffix", map[string]string{"Range": "bytes=-5"}, 206, 95, 5},
		{"suffix longer than object", map[string]string{"Range": "bytes=-500"}, 206, 0, 100},
		{"start past end", map[string]string{"Range": "bytes=100-"}, 416, 0, 0},
		{"zero suffix", map[string]string{"Range": "bytes=-0"}, 416, 0, 0},
		{"malformed ignored", map[string]string{"Range": "bytes=x-y"}, 200, 0, 100},
		{"multi-range ignored", map[string]string{"Range": "bytes=0-1,5-6"}, 200, 0, 100},
		{"if-range etag ok", map[string]string{"Range": "bytes=0-0", "If-Range": `"abc"`}, 206, 0, 1},
		{"if-range etag changed", map[string]string{"Range": "bytes=0-0", "If-Range": `"x"`}, 200, 0, 100},
		{"if-range date changed", map[string]string{"Range": "bytes=0-0", "If-Range": before}, 200, 0, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			d := Decide(r, o)
			if d.Status != c.status || (d.Status < 300 && (d.Start != c.start || d.Length != c.length)) {
				t.Fatalf("got %+v, want %d %d+%d", d, c.status, c.start, c.length)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	body := strings.Repeat("0123456789", 10_000) // over the small-body size
	for _, rng := range []string{"", "bytes=5-14", "bytes=70000-"} {
		r := httptest.NewRequest("GET", "/", nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		o := Object{ETag: "e", ModTime: time.Unix(1e9, 0), Size: int64(len(body)), Content: strings.NewReader(body)}
		d := Decide(r, o)
		w := httptest.NewRecorder()
		if err := Write(w, r, o, d); err != nil {
			t.Fatal(err)
		}
		want := body[d.Start : d.Start+d.Length]
		if w.Code != d.Status || w.Body.String() != want || w.Header().Get("Content-Length") == "" {
			t.Fatalf("range %q: status %d, %d bytes", rng, w.Code, w.Body.Len())
		}
		if rng != "" && w.Header().Get("Content-Range") == "" {
			t.Fatalf("range %q: no Content-Range", rng)
		}
	}
}
