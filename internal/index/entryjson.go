package index

import (
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/objstore/objstore/internal/journal"
)

// entryJSONSize is room for a plain entry's JSON (about 450 bytes).
const entryJSONSize = 512

// appendJSON appends e encoded as json.Marshal encodes it, byte for byte
// (FuzzEntryJSON checks): every commit encodes its entries, and
// encoding/json's reflection took 1.7 µs and eight allocations for a
// plain one, a tenth of the CPU of a write-through PUT's commit. Decoding
// stays with encoding/json.
func (e *Entry) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if !e.Pack.IsZero() {
		b = append(b, `"Pack":`...)
		b = e.Pack.appendJSON(b)
		b = append(b, ',')
	}
	b = append(b, `"Bucket":`...)
	b = appendJSONString(b, e.Bucket)
	b = append(b, `,"Key":`...)
	b = appendJSONString(b, e.Key)
	b = append(b, `,"Size":`...)
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, `,"ETag":`...)
	b = appendJSONString(b, e.ETag)
	b = append(b, `,"ContentType":`...)
	b = appendJSONString(b, e.ContentType)
	b = append(b, `,"ModTime":`...)
	b, err := appendJSONTime(b, e.ModTime)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"UserMeta":`...)
	b = appendJSONMap(b, e.UserMeta)
	b = append(b, `,"Header":`...)
	b = appendJSONMap(b, e.Header)
	b = append(b, `,"Name":`...)
	b = appendJSONString(b, e.Name)
	b = append(b, `,"Level":`...)
	b = strconv.AppendInt(b, int64(e.Level), 10)
	b = append(b, `,"Gen":`...)
	b = appendJSONString(b, e.Gen)
	b = append(b, `,"State":`...)
	b = strconv.AppendUint(b, uint64(e.State), 10)
	b = append(b, `,"Atime":`...)
	if b, err = appendJSONTime(b, e.Atime); err != nil {
		return nil, err
	}
	b = append(b, `,"Validated":`...)
	if b, err = appendJSONTime(b, e.Validated); err != nil {
		return nil, err
	}
	if e.Ver != (journal.Version{}) {
		b = append(b, `,"Ver":`...)
		b = appendJSONVersion(b, e.Ver)
	}
	if e.Made != (journal.Ref{}) {
		b = append(b, `,"Made":{"Origin":`...)
		b = appendJSONString(b, e.Made.Origin)
		b = append(b, `,"Seq":`...)
		b = strconv.AppendUint(b, e.Made.Seq, 10)
		b = append(b, '}')
	}
	if len(e.Holdings) > 0 {
		b = append(b, `,"Holdings":[`...)
		for i, h := range e.Holdings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Node":`...)
			b = appendJSONString(b, h.Node)
			b = append(b, `,"Ver":`...)
			b = appendJSONVersion(b, h.Ver)
			b = append(b, `,"Seq":`...)
			b = strconv.AppendUint(b, h.Seq, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendJSONVersion(b []byte, v journal.Version) []byte {
	b = append(b, `{"Time":`...)
	b = strconv.AppendUint(b, uint64(v.Time), 10)
	b = append(b, `,"Origin":`...)
	b = appendJSONString(b, v.Origin)
	return append(b, '}')
}

// appendJSONTime appends t as time.Time.MarshalJSON does, refusing the
// same times: years outside 0 to 9999, zone offsets of a day or more.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, errors.New("index: entry time year outside of range [0,9999]")
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return nil, errors.New("index: entry time zone hour outside of range [0,23]")
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendJSONMap appends m as encoding/json does: null when nil, else its
// keys sorted.
func appendJSONMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var stack [8]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json quotes strings:
// '"', '\\' and control bytes escaped, '<', '>' and '&' too (HTML-safe),
// U+2028 and U+2029 as \u2028 and \u2029, and each byte that is not
// UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonSafe marks the ASCII bytes appendJSONString copies as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
