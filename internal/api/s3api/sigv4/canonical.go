package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	chunkAlgorithm   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
	service          = "s3"
	terminator       = "aws4_request"
	amzDateFormat    = "20060102T150405Z"
	scopeDateFormat  = "20060102"

	// emptySHA256 is the hex SHA-256 of nothing.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// uriEncode percent-encodes s as SigV4 requires: every byte but the
// unreserved A-Z a-z 0-9 - _ . ~ (and '/' when keepSlash) becomes %XX with
// upper-case hex. url.PathEscape and url.QueryEscape leave other characters
// alone or turn a space into '+', so neither will do.
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// canonicalURI returns the path of u as S3 signs it: each segment decoded
// and encoded once with uriEncode. S3, unlike other services, does not
// encode the already encoded path a second time, nor normalize "." , ".."
// or repeated slashes. Segments are taken from the path as sent, so an
// encoded slash (%2F) within a segment stays encoded.
func canonicalURI(u *url.URL) (string, error) {
	if u.RawPath == "" {
		// The path as sent needed no decoding beyond what Path has, and
		// had no %2F (which would have set RawPath).
		if u.Path == "" {
			return "/", nil
		}
		return uriEncode(u.Path, true), nil
	}
	segs := strings.Split(u.RawPath, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", err
		}
		segs[i] = uriEncode(d, false)
	}
	p := strings.Join(segs, "/")
	if p == "" {
		p = "/"
	}
	return p, nil
}

// canonicalQuery returns the canonical query string of rawQuery: every
// name and value decoded, then encoded with uriEncode, sorted by name and
// then value after encoding, joined with '&'; a name without '=' gets an
// empty value ("uploads" → "uploads="). Parameters named skip (the
// signature of a presigned URL) are left out.
func canonicalQuery(rawQuery, skip string) (string, error) {
	type param struct{ k, v string }
	var params []param
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return "", err
		}
		if k == skip {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return "", err
		}
		params = append(params, param{uriEncode(k, false), uriEncode(v, false)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// headerValues returns the values of the header name (lower case) as
// received. Go's server moves some headers out of r.Header: Host into
// r.Host and Transfer-Encoding into r.TransferEncoding; Content-Length may
// be known only as r.ContentLength (HTTP/2).
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		return []string{r.Host}
	case "transfer-encoding":
		if vs := r.Header.Values(name); len(vs) > 0 {
			return vs
		}
		return r.TransferEncoding
	case "content-length":
		if vs := r.Header.Values(name); len(vs) > 0 {
			return vs
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	}
	return r.Header.Values(name)
}

// canonicalHeaderValue trims v and collapses each run of spaces into one,
// as the SigV4 rules and the AWS SDKs do.
func canonicalHeaderValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalHeaders returns the canonical headers block: "name:values\n"
// for each signed header in the order of signed, multiple values joined
// with ','.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalHeaderValue(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalRequest joins the parts of a canonical request.
func canonicalRequest(method, uri, query, headers string, signed []string, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" +
		strings.Join(signed, ";") + "\n" + payloadHash
}

// scope is the credential scope of a request: its date, region and the
// time of signing, with the signing key derived from the secret.
type scope struct {
	date    string // YYYYMMDD
	region  string
	amzDate string // YYYYMMDDTHHMMSSZ, the time of signing
	key     []byte // signing key
}

func (s *scope) String() string { return s.date + "/" + s.region + "/" + service + "/" + terminator }

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// signingKey derives the key of secret for one day, region and service.
func signingKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

// stringToSign returns the string to sign of a canonical request.
func (s *scope) stringToSign(canonical string) string {
	return algorithm + "\n" + s.amzDate + "\n" + s.String() + "\n" + hexSHA256([]byte(canonical))
}

// sign returns the hex signature of a string to sign.
func (s *scope) sign(stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(s.key, stringToSign))
}

// chunkStringToSign returns the string to sign of one aws-chunked chunk
// whose data hashes to dataHash (hex), chained to the previous signature.
func (s *scope) chunkStringToSign(prev, dataHash string) string {
	return chunkAlgorithm + "\n" + s.amzDate + "\n" + s.String() + "\n" + prev + "\n" + emptySHA256 + "\n" + dataHash
}

// trailerStringToSign returns the string to sign of the trailer of an
// aws-chunked body whose canonical form ("name:value\n" per trailer
// header) hashes to trailerHash, chained to the final chunk's signature.
func (s *scope) trailerStringToSign(prev, trailerHash string) string {
	return trailerAlgorithm + "\n" + s.amzDate + "\n" + s.String() + "\n" + prev + "\n" + trailerHash
}

// signatureEqual compares two hex signatures in constant time. got comes
// from the client and may be of any case or length.
func signatureEqual(want, got string) bool {
	return hmac.Equal([]byte(want), []byte(strings.ToLower(got)))
}
