package s3api

import (
	"net/url"
	"strings"
)

// maxFastQuery is the most pairs parseQuery parses itself; longer queries
// go to url.URL.Query, which bounds how many a query may have.
const maxFastQuery = 64

// parseQuery returns u's query as u.Query does, leaving out pairs that do
// not decode, in fewer allocations: one map and one array of values, and
// no copy of a name or value that has nothing to decode. A presigned URL's
// query is long, and parsed on every request.
func parseQuery(u *url.URL) url.Values {
	raw := u.RawQuery
	if raw == "" {
		return url.Values{}
	}
	n := strings.Count(raw, "&") + 1
	if n > maxFastQuery {
		return u.Query()
	}
	q := make(url.Values, n)
	// Each name's first value is a one-element window on vals, capped so
	// that appending a second value copies it out.
	vals := make([]string, n)
	used := 0
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" || strings.Contains(kv, ";") {
			continue // as url.ParseQuery, which refuses ';' as a separator
		}
		k, v, _ := strings.Cut(kv, "=")
		k, ok := unescapeQuery(k)
		if !ok {
			continue
		}
		if v, ok = unescapeQuery(v); !ok {
			continue
		}
		if vs, ok := q[k]; ok {
			q[k] = append(vs, v)
			continue
		}
		vals[used] = v
		q[k] = vals[used : used+1 : used+1]
		used++
	}
	return q
}

// unescapeQuery decodes a query name or value as url.QueryUnescape does;
// ok is false when it does not decode.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
