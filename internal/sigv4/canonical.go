package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// unreserved reports whether SigV4 leaves c unencoded: A-Z a-z 0-9 - _ . ~
func unreserved(c byte) bool { return notUnreserved[c] == 0 }

// notUnreserved is 1 for the bytes SigV4 encodes, 0 for the unreserved
// ones: a table, which a query's every byte is looked up in.
var notUnreserved = func() (t [256]byte) {
	for c := range 256 {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~') {
			t[c] = 1
		}
	}
	return t
}()

// appendURIEncode appends s percent-encoded as SigV4 requires: every byte
// but the unreserved ones (and '/' when keepSlash) becomes %XX with
// upper-case hex. url.PathEscape and url.QueryEscape leave other characters
// alone or turn a space into '+', so neither will do.
func appendURIEncode(dst []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' && keepSlash {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

// uriEncoded reports whether s is its own SigV4 encoding: what decoding it
// and encoding it again with appendURIEncode (keepSlash false) gives back
// unchanged. Clients that sign send their query so, which spares decoding
// and encoding it.
func uriEncoded(s string) bool { return endEncoded(s, 0) == len(s) }

// endEncoded returns the end of the run of s from i on that is as
// uriEncoded requires: the index of the first byte that is neither
// unreserved nor part of a %XX escape uriEncoded accepts, or len(s).
func endEncoded(s string, i int) int {
	for {
		for ; i+8 <= len(s); i += 8 {
			// Branch-free on the bytes: most runs are long.
			t := s[i : i+8]
			if notUnreserved[t[0]]|notUnreserved[t[1]]|notUnreserved[t[2]]|notUnreserved[t[3]]|
				notUnreserved[t[4]]|notUnreserved[t[5]]|notUnreserved[t[6]]|notUnreserved[t[7]] != 0 {
				break
			}
		}
		for i < len(s) && notUnreserved[s[i]] == 0 {
			i++
		}
		if i+2 >= len(s) || s[i] != '%' {
			return i
		}
		hi, ok1 := upperHex(s[i+1])
		lo, ok2 := upperHex(s[i+2])
		if !ok1 || !ok2 || unreserved(hi<<4|lo) {
			return i
		}
		i += 3
	}
}

// upperHex returns the value of an upper-case hex digit.
func upperHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendURI appends the path of u as S3 signs it: each segment decoded and
// encoded once with appendURIEncode. S3, unlike other services, does not
// encode the already encoded path a second time, nor normalize "." , ".."
// or repeated slashes. Segments are taken from the path as sent, so an
// encoded slash (%2F) within a segment stays encoded.
func appendURI(dst []byte, u *url.URL) ([]byte, error) {
	if u.RawPath == "" {
		// The path as sent needed no decoding beyond what Path has, and
		// had no %2F (which would have set RawPath).
		if u.Path == "" {
			return append(dst, '/'), nil
		}
		if plainPath(u.Path) {
			return append(dst, u.Path...), nil
		}
		return appendURIEncode(dst, u.Path, true), nil
	}
	for i, s := range strings.Split(u.RawPath, "/") {
		d, err := url.PathUnescape(s)
		if err != nil {
			return dst, err
		}
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = appendURIEncode(dst, d, false)
	}
	return dst, nil
}

// plainPath reports whether a path is made of unreserved bytes and '/'
// only, which appendURIEncode leaves as they are.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if notUnreserved[p[i]] != 0 && p[i] != '/' {
			return false
		}
	}
	return true
}

// queryComponent returns a query name or value as the canonical query has
// it: decoded, then encoded with appendURIEncode.
func queryComponent(s string) (string, error) {
	if uriEncoded(s) {
		return s, nil
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		return "", err
	}
	return string(appendURIEncode(nil, d, false)), nil
}

// appendQueryAsSent appends raw as sent, less its last pair if that is
// "skip=...", where the SDKs put the signature of a presigned URL: the
// canonical query when the client sent the query as it signed it, as the
// SDKs do. Whether it is canonical (pairs in order, every byte encoded as
// appendURIEncode encodes it, no other pair named skip) is not checked,
// which is all the work of appendQuery on a presigned URL: a signature
// over a query that is not canonical does not match, and the verifier
// tries again with appendQuery. This is safe: a signature that matches
// was computed over these exact bytes, and a string that SigV4 signers
// produce as a canonical query decodes to the parameters the server reads
// (FuzzQueryAsSent checks it).
func appendQueryAsSent(dst []byte, raw, skip string) []byte {
	if skip != "" {
		i := lastPair(raw, len(skip)+1+2*sha256.Size)
		if last := raw[i:]; len(last) > len(skip) && last[len(skip)] == '=' && last[:len(skip)] == skip {
			raw = raw[:max(i-1, 0)]
		}
	}
	return append(dst, raw...)
}

// lastPair returns the index of the last pair of a raw query, after its
// last '&'. It looks first where a pair of n bytes would begin (a
// presigned URL's signature pair, whose value is 64 hex digits): one
// IndexByte over n bytes, where LastIndexByte, a byte loop, would go
// over them one by one.
func lastPair(raw string, n int) int {
	if k := len(raw) - n; n >= 0 && k >= 0 && (k == 0 || raw[k-1] == '&') && strings.IndexByte(raw[k:], '&') < 0 {
		return k
	}
	return strings.LastIndexByte(raw, '&') + 1
}

// appendQuery appends the canonical query string of rawQuery: every name
// and value decoded, then encoded with appendURIEncode, sorted by name and
// then value after encoding, joined with '&'; a name without '=' gets an
// empty value ("uploads" → "uploads="). Parameters named skip (the
// signature of a presigned URL), which must be made of unreserved
// characters, are left out.
func appendQuery(dst []byte, rawQuery, skip string) ([]byte, error) {
	type param struct{ k, v string }
	var stack [16]param // a presigned URL has 7 or 8
	params := stack[:0]
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := queryComponent(k)
		if err != nil {
			return dst, err
		}
		if k == skip {
			continue
		}
		if v, err = queryComponent(v); err != nil {
			return dst, err
		}
		params = append(params, param{k, v})
	}
	cmp := func(a, b param) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	}
	// The SDKs send a presigned URL's parameters already in order.
	if !slices.IsSortedFunc(params, cmp) {
		slices.SortFunc(params, cmp)
	}
	for i, p := range params {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.k...)
		dst = append(dst, '=')
		dst = append(dst, p.v...)
	}
	return dst, nil
}

// appendHeaderValues appends the values of the header name (lower case)
// as received, each canonicalized, joined with ','. Go's server moves some
// headers out of r.Header: Host into r.Host and Transfer-Encoding into
// r.TransferEncoding; Content-Length may be known only as r.ContentLength
// (HTTP/2).
func appendHeaderValues(dst []byte, r *http.Request, name string) []byte {
	if name == "host" {
		return appendHeaderValue(dst, r.Host)
	}
	vs := r.Header[canonicalKey(name)]
	switch {
	case name == "transfer-encoding" && len(vs) == 0:
		vs = r.TransferEncoding
	case name == "content-length" && len(vs) == 0:
		if r.ContentLength >= 0 {
			return strconv.AppendInt(dst, r.ContentLength, 10)
		}
	}
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendHeaderValue(dst, v)
	}
	return dst
}

// canonicalKey returns the key of r.Header of a signed header's name (lower
// case); those the SDKs sign on every request without an allocation.
func canonicalKey(name string) string {
	switch name {
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-decoded-content-length":
		return "X-Amz-Decoded-Content-Length"
	case "x-amz-trailer":
		return "X-Amz-Trailer"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	case "content-type":
		return "Content-Type"
	case "content-md5":
		return "Content-Md5"
	case "content-encoding":
		return "Content-Encoding"
	case "range":
		return "Range"
	}
	return http.CanonicalHeaderKey(name)
}

// appendHeaderValue appends v trimmed, each run of spaces collapsed into
// one, as the SigV4 rules and the AWS SDKs do.
func appendHeaderValue(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return append(dst, v...) // no run to collapse, as most values
	}
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
		dst = append(dst, v[i])
	}
	return dst
}

// appendCanonicalRequest appends the canonical request of r: its method,
// path, query without the parameter skip, the headers of the list signed
// ("host;x-amz-date": "name:values\n" each, in its order) and the list
// itself, and payloadHash. Its error is an *Error for a path or query that
// is not validly percent-encoded.
func appendCanonicalRequest(dst []byte, r *http.Request, signed, payloadHash, skip string) ([]byte, error) {
	return appendRequestToSign(dst, r, signed, payloadHash, skip, false)
}

// appendRequestToSign is appendCanonicalRequest with the query taken as
// sent (appendQueryAsSent) when asSent.
func appendRequestToSign(dst []byte, r *http.Request, signed, payloadHash, skip string, asSent bool) (_ []byte, err error) {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	if dst, err = appendURI(dst, r.URL); err != nil {
		return dst, ErrInvalidArgument.with("The request path is not validly percent-encoded.")
	}
	dst = append(dst, '\n')
	if asSent {
		dst = appendQueryAsSent(dst, r.URL.RawQuery, skip)
	} else if dst, err = appendQuery(dst, r.URL.RawQuery, skip); err != nil {
		return dst, ErrInvalidArgument.with("The query string is not validly percent-encoded.")
	}
	dst = append(dst, '\n')
	for name := range strings.SplitSeq(signed, ";") {
		dst = append(dst, name...)
		dst = append(dst, ':')
		dst = appendHeaderValues(dst, r, name)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, signed...)
	dst = append(dst, '\n')
	return append(dst, payloadHash...), nil
}

// scope is the credential scope of a request: its date, region and the
// time of signing, with the signing key derived from the secret.
type scope struct {
	date    string // YYYYMMDD
	region  string
	amzDate string // YYYYMMDDTHHMMSSZ, the time of signing
	key     *signingKey
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

// signingKey is the key of a secret for one day, region and service, with
// HMACs of it to reuse: a reset HMAC keeps the state of its padded key, so
// signing with one from the pool allocates nothing and hashes two blocks
// fewer than a new one.
type signingKey struct {
	id   keyID // what it was derived from
	key  []byte
	macs sync.Pool // *mac, HMAC-SHA256 with key
}

// newSigningKey derives the signing key of secret for date and region.
func newSigningKey(secret, date, region string) *signingKey {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, terminator)
	return &signingKey{id: keyID{secret, date, region}, key: k, macs: sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, k)} }}}
}

// mac is an HMAC with room for its sum.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// appendSign appends the hex signature of a string to sign.
func (k *signingKey) appendSign(dst, stringToSign []byte) []byte {
	m := k.macs.Get().(*mac)
	m.h.Reset()
	m.h.Write(stringToSign)
	m.h.Sum(m.sum[:0])
	dst = appendHexSum(dst, &m.sum)
	k.macs.Put(m)
	return dst
}

// appendSigned appends the string to sign and the signature of the
// canonical request in buf[start:], and returns the three.
func (s *scope) appendSigned(buf []byte, start int) (_, creq, sts, sig []byte) {
	n := len(buf)
	buf = s.appendStringToSign(buf, sha256.Sum256(buf[start:]))
	m := len(buf)
	buf = s.key.appendSign(buf, buf[n:m])
	return buf, buf[start:n], buf[n:m], buf[m:]
}

// appendStringToSign appends the string to sign of a canonical request
// that hashes to canonicalHash.
func (s *scope) appendStringToSign(dst []byte, canonicalHash [sha256.Size]byte) []byte {
	dst = append(dst, algorithm+"\n"...)
	dst = append(dst, s.amzDate...)
	dst = append(dst, '\n')
	dst = append(dst, s.date...)
	dst = append(dst, '/')
	dst = append(dst, s.region...)
	dst = append(dst, "/"+service+"/"+terminator+"\n"...)
	return appendHexSum(dst, &canonicalHash)
}

// appendHexSum appends a SHA-256 sum in lower-case hex, each byte's two
// digits looked up at once: a third of the instructions of
// hex.AppendEncode, on the path of every signed request.
func appendHexSum(dst []byte, sum *[sha256.Size]byte) []byte {
	var out [2 * sha256.Size]byte
	for i, c := range sum {
		p := &hexPairs[c]
		out[2*i], out[2*i+1] = p[0], p[1]
	}
	return append(dst, out[:]...)
}

// hexPairs holds the two lower-case hex digits of every byte.
var hexPairs = func() (t [256][2]byte) {
	const digits = "0123456789abcdef"
	for c := range t {
		t[c] = [2]byte{digits[c>>4], digits[c&15]}
	}
	return t
}()

// sign returns the hex signature of a string to sign.
func (s *scope) sign(stringToSign string) string {
	return string(s.key.appendSign(nil, []byte(stringToSign)))
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

// signatureEqual compares a hex signature with one from the client, of
// any case or length, in constant time.
func signatureEqual(want []byte, got string) bool {
	if len(want) != 2*sha256.Size || len(got) != len(want) {
		return false // the length of a signature is no secret
	}
	// In constant time, as hmac.Equal, eight bytes at a time: a byte of
	// got may differ from want's only by the case bit (0x20) where want
	// holds a letter (a-f, the only bytes with 0x40 set).
	const ones = 0x0101010101010101
	var diff uint64
	for i := 0; i < len(want); i += 8 {
		w := binary.LittleEndian.Uint64(want[i:])
		g := uint64(got[i]) | uint64(got[i+1])<<8 | uint64(got[i+2])<<16 | uint64(got[i+3])<<24 |
			uint64(got[i+4])<<32 | uint64(got[i+5])<<40 | uint64(got[i+6])<<48 | uint64(got[i+7])<<56
		diff |= (w ^ g) &^ (w & (0x40 * ones) >> 1)
	}
	return diff == 0
}
