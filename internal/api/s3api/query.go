package s3api

import (
	"net/url"
	"strings"
)

// maxFastQuery is the most pairs parseQuery keeps as a list; a longer
// query goes to url.URL.Query, which bounds how many a query may have, and
// is looked up in a map.
const maxFastQuery = 64

// query is a request's query, which every request looks up a dozen times
// (to route it, verify its signature, answer it). A list of pairs costs
// one allocation and a lookup a scan of a few pairs, where url.Values
// costs a map of slices.
type query struct {
	pairs []pair     // in order, when not large
	large url.Values // a query of more than maxFastQuery pairs
}

type pair struct{ key, value string }

// parseQuery parses u's query as u.Query does: pairs that hold a ';' or do
// not decode are left out. A name or value with nothing to decode is not
// copied. The pairs go in buf when it has room for them.
func parseQuery(u *url.URL, buf []pair) query {
	raw := u.RawQuery
	if raw == "" {
		return query{}
	}
	n := strings.Count(raw, "&") + 1
	if n > maxFastQuery {
		return query{large: u.Query()}
	}
	// What no pair holds need not be looked for in each.
	semi, plus := strings.IndexByte(raw, ';') >= 0, strings.IndexByte(raw, '+') >= 0
	q := query{pairs: buf[:0]}
	if cap(buf) < n {
		q.pairs = make([]pair, 0, n)
	}
	// esc is the index in raw of the next byte to decode ('%', or '+'
	// when plus), -1 if none is left: a pair before it is taken as it is.
	esc := nextEscape(raw, plus)
	for i := 0; i < len(raw); {
		start, end := i, len(raw)
		if j := strings.IndexByte(raw[i:], '&'); j >= 0 {
			end = i + j
		}
		i = end + 1
		kv := raw[start:end]
		if kv == "" || semi && strings.IndexByte(kv, ';') >= 0 {
			continue // as url.ParseQuery, which refuses ';' as a separator
		}
		k, v := kv, ""
		if j := strings.IndexByte(kv, '='); j >= 0 {
			k, v = kv[:j], kv[j+1:]
		}
		if esc >= 0 && esc < start { // in a pair left out
			if esc = nextEscape(raw[start:], plus); esc >= 0 {
				esc += start
			}
		}
		if esc >= 0 && esc < end {
			var ok bool
			if k, ok = unescapeQuery(k, plus); !ok {
				continue
			}
			if v, ok = unescapeQuery(v, plus); !ok {
				continue
			}
			if esc = nextEscape(raw[end:], plus); esc >= 0 {
				esc += end
			}
		}
		q.pairs = append(q.pairs, pair{k, v})
	}
	return q
}

// Get returns the first value of key, or "".
func (q query) Get(key string) string {
	if q.large != nil {
		return q.large.Get(key)
	}
	for _, p := range q.pairs {
		if p.key == key {
			return p.value
		}
	}
	return ""
}

// Has reports whether key is in the query.
func (q query) Has(key string) bool {
	if q.large != nil {
		return q.large.Has(key)
	}
	for _, p := range q.pairs {
		if p.key == key {
			return true
		}
	}
	return false
}

// hasPrefix reports whether a name in the query begins with prefix.
func (q query) hasPrefix(prefix string) bool {
	for _, p := range q.pairs {
		if strings.HasPrefix(p.key, prefix) {
			return true
		}
	}
	for k := range q.large {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// empty reports whether the query has no pairs.
func (q query) empty() bool { return len(q.pairs) == 0 && len(q.large) == 0 }

// unescapeQuery decodes a query name or value as url.QueryUnescape does
// ('+' is a space, %XX a byte); ok is false when it does not decode. plus
// is false when s is known to hold no '+'.
func unescapeQuery(s string, plus bool) (string, bool) {
	i := nextEscape(s, plus)
	if i < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		if s[i] == '+' {
			b.WriteByte(' ')
			s = s[i+1:]
		} else {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			s = s[i+3:]
		}
		i = nextEscape(s, plus)
	}
	b.WriteString(s)
	return b.String(), true
}

// nextEscape returns the index of the first '%' in s, or of '+' when plus
// and it comes first; -1 if none.
func nextEscape(s string, plus bool) int {
	i := strings.IndexByte(s, '%')
	if plus {
		if j := strings.IndexByte(s, '+'); j >= 0 && (i < 0 || j < i) {
			return j
		}
	}
	return i
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
