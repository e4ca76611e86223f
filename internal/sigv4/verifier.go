package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Verifier verifies the Signature Version 4 of S3 requests. It is safe for
// concurrent use.
type Verifier struct {
	cfg  Config
	keys keyCache
}

// keyCache caches signing keys by secret, date and region: deriving one
// takes four HMACs, and a client signs with the same key all day.
type keyCache struct {
	m    sync.Map // keyID → *signingKey
	last atomic.Pointer[signingKey]
}

type keyID struct{ secret, date, region string }

// get returns the signing key of secret for date and region. The key
// used last is looked at first: most requests are signed with it, and
// comparing three strings costs less than hashing them.
func (c *keyCache) get(secret, date, region string) *signingKey {
	id := keyID{secret, date, region}
	if k := c.last.Load(); k != nil && k.id == id {
		return k
	}
	if k, ok := c.m.Load(id); ok {
		c.last.Store(k.(*signingKey))
		return k.(*signingKey)
	}
	k := newSigningKey(secret, date, region)
	c.last.Store(k)
	// Keys of past days are of no more use: keep the cache small.
	c.m.Range(func(old, _ any) bool {
		if old.(keyID).date != date {
			c.m.Delete(old)
		}
		return true
	})
	c.m.Store(id, k)
	return k
}

// NewVerifier returns a Verifier, or an error if cfg is invalid
// (Credentials missing, a negative duration or size).
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// Result is what Verify learned of a request it accepted.
type Result struct {
	// AccessKey signed the request; "" when Anonymous.
	AccessKey string
	// Anonymous: the request carries no signature at all, neither an
	// Authorization header nor a presigned query. Verify accepts it, so
	// the server must decide whether the bucket allows it and answer
	// ErrAccessDenied if not.
	Anonymous bool
	// Presigned: signed in the query string rather than a header.
	Presigned bool
	// Region is the region the request was signed for.
	Region string
	// SecurityToken is X-Amz-Security-Token, which Verify does not check:
	// it is for a server that issues temporary credentials.
	SecurityToken string
	// ContentEncoding is the request's Content-Encoding without
	// "aws-chunked", which describes the transfer and not the object; the
	// server stores this one.
	ContentEncoding string
	// DecodedLength is the length of the object in Body:
	// x-amz-decoded-content-length of an aws-chunked body, else the
	// request's ContentLength; -1 when unknown.
	DecodedLength int64
	// Body is the payload, decoded and verified as it is read. Read the
	// object from it rather than from the request.
	Body *Body
}

// Verify checks the signature of r and returns the Body to read its
// payload from. It reads nothing of r.Body: what depends on the payload
// (its hash, checksums, chunk signatures, length) is checked by Body as
// it is read. Every error is an *Error wrapping one of the package's
// sentinels. r is not modified.
//
// When r.Form is set, Verify takes it as the request's parsed query (a
// server that parsed it already saves parsing it again).
//
// A request without any signature is accepted with Result.Anonymous set;
// one signed otherwise than with AWS4-HMAC-SHA256 (Signature Version 2,
// SigV4A) is refused with ErrInvalidRequest.
func (v *Verifier) Verify(r *http.Request) (Result, error) {
	return v.VerifyWith(r, query(r))
}

// Query is a request's parsed query, as Verify looks it up; url.Values
// implements it. Get returns the first value of key, "" if none.
type Query interface {
	Get(key string) string
	Has(key string) bool
}

var _ Query = url.Values(nil)

// VerifyWith is Verify with the request's query parsed by the caller: q
// must hold what r.URL.Query() would.
func (v *Verifier) VerifyWith(r *http.Request, q Query) (Result, error) {
	authz := get(r.Header, "Authorization")
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	switch {
	case authz != "" && (presigned || q.Has("Signature")):
		return Result{}, ErrInvalidArgument.with("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case authz != "":
		return v.verifyHeader(r, q, authz)
	case presigned:
		return v.verifyQuery(r, q)
	case q.Has("AWSAccessKeyId") || q.Has("Signature"):
		return Result{}, errUnsupportedAuth()
	}
	return v.anonymous(r, q)
}

func errUnsupportedAuth() error {
	return ErrInvalidRequest.with("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
}

// signedRequest is what verifyHeader and verifyQuery parse before the
// signature is computed.
type signedRequest struct {
	accessKey string
	sc        scope
	signed    string // signed headers, as listed: "host;x-amz-date"
	signature string
	payload   string // the payload hash line of the canonical request
	presigned bool
}

// authorization holds the parsed components of an Authorization header.
type authorization struct {
	credential, signedHeaders, signature string
}

func parseAuthorization(authz string) (authorization, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	switch alg {
	case algorithm:
	case "AWS", "AWS4-ECDSA-P256-SHA256":
		return authorization{}, errUnsupportedAuth()
	default:
		return authorization{}, ErrInvalidArgument.with("Unsupported Authorization Type").
			detail("ArgumentName", "Authorization").detail("ArgumentValue", authz)
	}
	var a authorization
	for part := range strings.SplitSeq(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.TrimSpace(k) {
		case "Credential":
			a.credential = strings.TrimSpace(val)
		case "SignedHeaders":
			a.signedHeaders = strings.TrimSpace(val)
		case "Signature":
			a.signature = strings.TrimSpace(val)
		}
	}
	if a.credential == "" || a.signedHeaders == "" || a.signature == "" {
		return a, ErrAuthorizationHeaderMalformed.with("The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	return a, nil
}

// parseCredential splits "AKID/YYYYMMDD/region/s3/aws4_request" and checks
// the scope; malformed is the sentinel to report errors with, and prefix
// the start of their messages.
func (v *Verifier) parseCredential(cred string, malformed *Error, prefix string) (accessKey string, sc scope, err error) {
	// The scope is the last four parts; the access key, all before them,
	// may hold '/' itself.
	var parts [4]string
	rest := cred
	for i := len(parts) - 1; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return "", sc, malformed.with("%sthe Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", prefix)
		}
		rest, parts[i] = rest[:j], rest[j+1:]
	}
	if rest == "" || rest[0] == '/' {
		return "", sc, malformed.with("%sthe Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", prefix)
	}
	accessKey = rest
	sc.date, sc.region = parts[0], parts[1]
	svc, term := parts[2], parts[3]
	if _, perr := parseDate(scopeDateFormat, sc.date); perr != nil || len(sc.date) != 8 {
		return "", sc, malformed.with("%sincorrect date format %q. This date in the credential must be in the format \"yyyyMMdd\".", prefix, sc.date)
	}
	if len(v.cfg.Regions) > 0 && !slices.Contains(v.cfg.Regions, sc.region) {
		return "", sc, malformed.with("%sthe region '%s' is wrong; expecting '%s'", prefix, sc.region, v.cfg.Regions[0]).
			detail("Region", v.cfg.Regions[0])
	}
	if svc != service {
		return "", sc, malformed.with("%sincorrect service '%s'. This endpoint belongs to '%s'.", prefix, svc, service)
	}
	if term != terminator {
		return "", sc, malformed.with("%sincorrect terminal '%s'. This endpoint uses '%s'.", prefix, term, terminator)
	}
	return accessKey, sc, nil
}

// parseSignedHeaders checks a list of signed headers ("host;x-amz-date"):
// lower-case names, covering the host and every x-amz-* header of r. In
// the same pass over the headers it tells whether they declare a digest
// of the body (see declaresDigest), which Body then checks.
func parseSignedHeaders(r *http.Request, list string, malformed *Error, prefix string) (digest bool, err error) {
	if list == "" || list[0] == ';' || list[len(list)-1] == ';' || strings.Contains(list, ";;") || list != strings.ToLower(list) {
		return false, malformed.with("%sthe SignedHeaders %q are malformed.", prefix, list)
	}
	var missing []string
	if !listed(list, "host") {
		missing = append(missing, "host")
	}
	for name := range r.Header {
		if !hasPrefixFold(name, "x-amz-") {
			digest = digest || name == "Content-Md5"
			continue
		}
		digest = digest || isDigestHeader(name)
		if !listed(list, name) {
			missing = append(missing, strings.ToLower(name))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return false, ErrHeadersNotSigned.with("").detail("HeadersNotSigned", strings.Join(missing, ", "))
	}
	return digest, nil
}

// listed reports whether name, in any case, is in a list of signed
// headers (lower case).
func listed(list, name string) bool {
	for list != "" {
		h := list
		if i := strings.IndexByte(list, ';'); i >= 0 {
			h, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		if len(h) == len(name) && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// verifyHeader verifies a request signed in its Authorization header.
func (v *Verifier) verifyHeader(r *http.Request, q Query, authz string) (Result, error) {
	a, err := parseAuthorization(authz)
	if err != nil {
		return Result{}, err
	}
	const prefix = "The authorization header is malformed; "
	accessKey, sc, err := v.parseCredential(a.credential, ErrAuthorizationHeaderMalformed, prefix)
	if err != nil {
		return Result{}, err
	}
	digest, err := parseSignedHeaders(r, a.signedHeaders, ErrAuthorizationHeaderMalformed, prefix)
	if err != nil {
		return Result{}, err
	}

	// The time of signing: X-Amz-Date, or Date in its absence.
	var t time.Time
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		if t, err = parseDate(amzDateFormat, d); err != nil {
			return Result{}, errNoDate()
		}
		sc.amzDate = d
	} else if d := r.Header.Get("Date"); d != "" {
		if t, err = http.ParseTime(d); err != nil {
			return Result{}, errNoDate()
		}
		sc.amzDate = t.UTC().Format(amzDateFormat)
	} else {
		return Result{}, errNoDate()
	}
	if sc.amzDate[:8] != sc.date {
		return Result{}, ErrAuthorizationHeaderMalformed.with("%sInvalid credential date. Date is not the same as X-Amz-Date.", prefix)
	}
	now := v.cfg.Now()
	if skew := now.Sub(t); skew > v.cfg.MaxSkew || -skew > v.cfg.MaxSkew {
		return Result{}, ErrRequestTimeTooSkewed.with("").
			detail("RequestTime", sc.amzDate).
			detail("ServerTime", now.UTC().Format(time.RFC3339)).
			detail("MaxAllowedSkewMilliseconds", strconv.FormatInt(v.cfg.MaxSkew.Milliseconds(), 10))
	}

	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return Result{}, ErrInvalidRequest.with("Missing required header for this request: x-amz-content-sha256")
	}
	mode, hash, err := parsePayload(payload)
	if err != nil {
		return Result{}, err
	}

	sr := signedRequest{accessKey: accessKey, sc: sc, signed: a.signedHeaders, signature: a.signature, payload: payload}
	if err := v.checkSignature(r, &sr, ""); err != nil {
		return Result{}, err
	}
	res := Result{
		AccessKey:     accessKey,
		Region:        sc.region,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
	}
	spec := bodySpec{mode: mode, hash: hash, digest: digest}
	if mode.signed() {
		// Only chunk signatures need the scope after this: a copy, so
		// that sr stays on the stack of every other request.
		sc := sr.sc
		spec.sc, spec.seed = &sc, strings.ToLower(a.signature)
	}
	return v.finish(r, q, res, spec)
}

// get returns the first value of a header by its canonical key. Indexing
// the map spares Header.Get canonicalizing the key again, on the path of
// every request.
func get(h http.Header, canonicalKey string) string {
	if vs := h[canonicalKey]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// hasPrefixFold reports whether s begins with prefix, ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func errNoDate() error {
	return ErrAccessDenied.with("AWS authentication requires a valid Date or x-amz-date header")
}

// verifyQuery verifies a presigned URL.
func (v *Verifier) verifyQuery(r *http.Request, q Query) (Result, error) {
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return Result{}, ErrAuthorizationQueryParametersError.with("X-Amz-Algorithm only supports \"%s\"", algorithm)
	}
	cred, date, expiresStr := q.Get("X-Amz-Credential"), q.Get("X-Amz-Date"), q.Get("X-Amz-Expires")
	signedList, signature := q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature")
	if cred == "" || date == "" || expiresStr == "" || signedList == "" || signature == "" {
		return Result{}, ErrAuthorizationQueryParametersError.with("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	const prefix = "Error parsing the X-Amz-Credential parameter; "
	accessKey, sc, err := v.parseCredential(cred, ErrAuthorizationQueryParametersError, prefix)
	if err != nil {
		return Result{}, err
	}
	digest, err := parseSignedHeaders(r, signedList, ErrAuthorizationQueryParametersError, "")
	if err != nil {
		return Result{}, err
	}
	t, err := parseDate(amzDateFormat, date)
	if err != nil {
		return Result{}, ErrAuthorizationQueryParametersError.with("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	sc.amzDate = date
	if date[:8] != sc.date {
		return Result{}, ErrAuthorizationQueryParametersError.with("%sInvalid credential date. Date is not the same as X-Amz-Date.", prefix)
	}
	expires, err := strconv.ParseInt(expiresStr, 10, 64)
	switch {
	case err != nil:
		return Result{}, ErrAuthorizationQueryParametersError.with("X-Amz-Expires should be a number")
	case expires < MinPresignExpires:
		return Result{}, ErrAuthorizationQueryParametersError.with("X-Amz-Expires must be at least %d", MinPresignExpires)
	case expires > MaxPresignExpires:
		return Result{}, ErrAuthorizationQueryParametersError.with("X-Amz-Expires must be less than a week (in seconds) that is %d", MaxPresignExpires)
	}
	now := v.cfg.Now()
	if t.Sub(now) > v.cfg.MaxSkew {
		return Result{}, ErrRequestNotYetValid.with("").
			detail("X-Amz-Date", date).
			detail("ServerTime", now.UTC().Format(time.RFC3339))
	}
	if end := t.Add(time.Duration(expires) * time.Second); now.After(end) {
		return Result{}, ErrRequestExpired.with("").
			detail("X-Amz-Expires", expiresStr).
			detail("Expires", end.UTC().Format(time.RFC3339)).
			detail("ServerTime", now.UTC().Format(time.RFC3339))
	}

	// A presigned URL signs no payload, unless it names a hash itself.
	payload := UnsignedPayload
	if p := q.Get("X-Amz-Content-Sha256"); p != "" {
		payload = p
	}
	mode, hash, err := parsePayload(payload)
	if err != nil {
		return Result{}, err
	}
	if mode.streaming() {
		return Result{}, ErrInvalidRequest.with("A presigned URL cannot send an aws-chunked body.")
	}

	sr := signedRequest{accessKey: accessKey, sc: sc, signed: signedList, signature: signature, payload: payload, presigned: true}
	if err := v.checkSignature(r, &sr, "X-Amz-Signature"); err != nil {
		return Result{}, err
	}
	res := Result{
		AccessKey:     accessKey,
		Presigned:     true,
		Region:        sc.region,
		SecurityToken: q.Get("X-Amz-Security-Token"),
	}
	return v.finish(r, q, res, bodySpec{mode: mode, hash: hash, digest: digest})
}

// checkSignature looks the secret up, derives the signing key into sr.sc
// and compares the request's signature with the one computed. skip is the
// query parameter left out of the canonical query (the signature itself).
func (v *Verifier) checkSignature(r *http.Request, sr *signedRequest, skip string) error {
	secret, ok := v.cfg.Credentials.Secret(sr.accessKey)
	if !ok {
		return ErrInvalidAccessKeyID.with("").detail("AWSAccessKeyId", sr.accessKey)
	}
	bp := bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxBuf {
			bufs.Put(bp)
		}
	}()
	// The canonical request, the string to sign and the signature, one
	// after the other in one buffer; the query first as sent.
	buf, err := appendRequestToSign((*bp)[:0], r, sr.signed, sr.payload, skip, true)
	*bp = buf
	if err != nil {
		return err
	}
	sr.sc.key = v.keys.get(secret, sr.sc.date, sr.sc.region)
	buf, creq, sts, sig := sr.sc.appendSigned(buf, 0)
	ok = signatureEqual(sig, sr.signature)
	if !ok {
		// The client signed the query's canonical form, which is not
		// the query as sent.
		start := len(buf)
		if buf, err = appendCanonicalRequest(buf, r, sr.signed, sr.payload, skip); err != nil {
			*bp = buf
			return err
		}
		buf, creq, sts, sig = sr.sc.appendSigned(buf, start)
		ok = signatureEqual(sig, sr.signature)
	}
	*bp = buf
	if !ok {
		return ErrSignatureDoesNotMatch.with("").
			detail("AWSAccessKeyId", sr.accessKey).
			detail("StringToSign", string(sts)).
			detail("SignatureProvided", sr.signature).
			detail("CanonicalRequest", string(creq))
	}
	return nil
}

// bufs holds the buffers checkSignature builds a request's canonical
// request, string to sign and signature in; one that grew beyond maxBuf
// (a long query) is dropped rather than kept.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxBuf = 64 << 10

// anonymous builds the Result of a request without any signature. Its
// payload is decoded and checked like any other, but it cannot use the
// signed streaming modes.
func (v *Verifier) anonymous(r *http.Request, q Query) (Result, error) {
	mode, hash := payloadUnsigned, ""
	if p := r.Header.Get("X-Amz-Content-Sha256"); p != "" {
		var err error
		if mode, hash, err = parsePayload(p); err != nil {
			return Result{}, err
		}
		if mode.signed() {
			return Result{}, ErrInvalidRequest.with("x-amz-content-sha256 %s requires a signed request.", p)
		}
	}
	return v.finish(r, q, Result{Anonymous: true}, bodySpec{mode: mode, hash: hash, digest: declaresDigest(r.Header)})
}

// finish builds the Body and the lengths of an accepted request.
func (v *Verifier) finish(r *http.Request, q Query, res Result, spec bodySpec) (Result, error) {
	spec.maxChunk = v.cfg.MaxChunkSize
	// CompleteMultipartUpload's x-amz-checksum-* headers are the checksum
	// of the whole object, not of its XML body.
	spec.checksumHeaders = !(r.Method == http.MethodPost && q.Has("uploadId"))
	res.DecodedLength = r.ContentLength
	if spec.mode.streaming() {
		d := r.Header.Get("X-Amz-Decoded-Content-Length")
		if d == "" {
			return Result{}, ErrMissingSecurityHeader.with("Your request was missing a required header: x-amz-decoded-content-length.").
				detail("MissingHeaderName", "x-amz-decoded-content-length")
		}
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return Result{}, ErrInvalidArgument.with("x-amz-decoded-content-length must be a non-negative number.").
				detail("ArgumentName", "x-amz-decoded-content-length").detail("ArgumentValue", d)
		}
		spec.declared, res.DecodedLength = n, n
	}
	if res.DecodedLength < 0 {
		res.DecodedLength = -1
	}
	res.ContentEncoding = stripAWSChunked(r.Header["Content-Encoding"])
	body, err := newBody(r.Header, r.Body, spec)
	if err != nil {
		return Result{}, err
	}
	res.Body = body
	return res, nil
}

// stripAWSChunked joins Content-Encoding values without "aws-chunked".
func stripAWSChunked(values []string) string {
	var keep []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.TrimSpace(e)
			if e != "" && !strings.EqualFold(e, "aws-chunked") {
				keep = append(keep, e)
			}
		}
	}
	return strings.Join(keep, ",")
}

// query is the request's parsed query: r.Form when the server already
// parsed it there, else parsed now.
func query(r *http.Request) url.Values {
	if r.Form != nil {
		return r.Form
	}
	return r.URL.Query()
}
