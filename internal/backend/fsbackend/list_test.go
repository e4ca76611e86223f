package fsbackend

import (
	"slices"
	"strings"
	"testing"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
)

// TestPage covers the roll-up and StartAfter rules of page on keys the
// shared suite leaves out: folder markers, leading and doubled
// delimiters, a key equal to the prefix.
func TestPage(t *testing.T) {
	keys := []string{"/lead", "//double", "a", "a/", "a/b", "a/b/", "a/b/c", "a//d", "b"}
	slices.Sort(keys)
	tests := []struct {
		name              string
		opts              backend.ListOptions
		limit             int
		objects, prefixes []string
		truncated         bool
	}{
		{name: "top level", opts: backend.ListOptions{Delimiter: "/"},
			objects: []string{"a", "b"}, prefixes: []string{"/", "a/"}},
		{name: "folder marker rolls up", opts: backend.ListOptions{Prefix: "a/", Delimiter: "/"},
			objects: []string{"a/", "a/b"}, prefixes: []string{"a//", "a/b/"}},
		{name: "key equal to prefix", opts: backend.ListOptions{Prefix: "a/b/", Delimiter: "/"},
			objects: []string{"a/b/", "a/b/c"}},
		{name: "leading delimiter", opts: backend.ListOptions{Prefix: "/", Delimiter: "/"},
			objects: []string{"/lead"}, prefixes: []string{"//"}},
		{name: "StartAfter is the prefix", opts: backend.ListOptions{Delimiter: "/", StartAfter: "a/"},
			objects: []string{"b"}},
		{name: "StartAfter inside the prefix", opts: backend.ListOptions{Delimiter: "/", StartAfter: "a/b"},
			objects: []string{"b"}, prefixes: []string{"a/"}},
		{name: "StartAfter a deeper prefix", opts: backend.ListOptions{Prefix: "a/", Delimiter: "/", StartAfter: "a//"},
			objects: []string{"a/b"}, prefixes: []string{"a/b/"}},
		{name: "limit counts prefixes", opts: backend.ListOptions{Delimiter: "/"}, limit: 2,
			objects: []string{"a"}, prefixes: []string{"/"}, truncated: true},
		{name: "limit reached on the last entry", opts: backend.ListOptions{Prefix: "a/b", Delimiter: "/"}, limit: 2,
			objects: []string{"a/b"}, prefixes: []string{"a/b/"}},
		{name: "more keys of the last prefix only", opts: backend.ListOptions{Prefix: "a/", Delimiter: "/", StartAfter: "a/b"}, limit: 1,
			prefixes: []string{"a/b/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var infos []core.Info
			for _, k := range keys {
				if strings.HasPrefix(k, tt.opts.Prefix) && k > tt.opts.StartAfter {
					infos = append(infos, core.Info{Key: k})
				}
			}
			limit := tt.limit
			if limit == 0 {
				limit = maxListKeys
			}
			p := page(infos, tt.opts, limit)
			var got []string
			for _, o := range p.Objects {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, tt.objects) || !slices.Equal(p.CommonPrefixes, tt.prefixes) || p.Truncated != tt.truncated {
				t.Errorf("got objects %q, prefixes %q, truncated %v; want %q, %q, %v",
					got, p.CommonPrefixes, p.Truncated, tt.objects, tt.prefixes, tt.truncated)
			}
		})
	}
}
