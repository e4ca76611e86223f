package sigv4

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strings"
)

// Body is the payload of a verified request, decoded and checked while it
// is read. It replaces the request's body: read the object's bytes from it,
// never from r.Body.
//
// What it checks, each at the end of the body, before Read returns io.EOF:
//   - the SHA-256 the request signed in x-amz-content-sha256
//     (ErrContentSHA256Mismatch);
//   - Content-MD5 (ErrBadDigest);
//   - the x-amz-checksum-* header or trailer (ErrBadDigest);
//   - aws-chunked, the signature of every chunk as the chunk ends and of
//     the trailer (ErrSignatureDoesNotMatch), and the decoded length against
//     x-amz-decoded-content-length (ErrIncompleteBody);
//   - that the body is not cut short (ErrIncompleteBody).
//
// So the bytes read are only known to be good once Read has returned
// io.EOF: a server must not commit an object before then, and must discard
// it on any other error. Errors are sticky. A Body is not safe for
// concurrent use.
type Body struct {
	src     io.Reader
	closer  io.Closer
	chunked *chunkedReader // nil unless aws-chunked

	sha     hash.Hash // nil unless x-amz-content-sha256 is a hash
	wantSHA string

	md5     hash.Hash // nil without Content-MD5
	wantMD5 []byte

	hashes []hash.Hash // the non-nil ones of sha, md5 and sum

	sum       hash.Hash // nil without a checksum
	sumAlg    string    // CRC32, ...
	sumHeader string    // x-amz-checksum-crc32, ...
	wantSum   []byte    // nil when the checksum comes in a trailer
	inTrailer bool
	verified  []Checksum
	err       error // sticky; io.EOF once verified
}

var _ io.ReadCloser = (*Body)(nil)

// emptyBody is the Body of a request without one and with nothing to
// verify: verified and at its end, so that no call changes it, and
// requests share it.
var emptyBody = &Body{err: io.EOF}

// declaresDigest reports whether h names a digest for the body to match:
// Content-MD5, an x-amz-checksum-* or a trailer.
func declaresDigest(h http.Header) bool {
	for name := range h {
		if name == "Content-Md5" || isDigestHeader(name) {
			return true
		}
	}
	return false
}

// isDigestHeader reports whether a header (by its canonical key) is an
// x-amz-checksum-* or X-Amz-Trailer.
func isDigestHeader(name string) bool {
	return name == "X-Amz-Trailer" || hasPrefixFold(name, checksumPrefix)
}

// Read reads decoded bytes of the body; see Body for what it checks.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		for _, h := range b.hashes {
			h.Write(p[:n])
		}
	}
	switch {
	case err == io.EOF:
		if verr := b.finish(); verr != nil {
			b.err = verr
			return n, verr
		}
		b.err = io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Go's server reports a body shorter than its Content-Length so.
		b.err = ErrIncompleteBody.with("")
		return n, b.err
	case err != nil:
		b.err = err
	}
	return n, err
}

// Close closes the request's body.
func (b *Body) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// Checksums returns the checksums of the body that were sent in an
// x-amz-checksum-* header or trailer and verified, for the server to store
// and return. It is nil before Read has returned io.EOF, and when the
// client sent none. S3 takes at most one checksum per request, so it holds
// at most one element.
func (b *Body) Checksums() []Checksum {
	if b.err != io.EOF {
		return nil
	}
	return append([]Checksum(nil), b.verified...)
}

// finish checks the digests once the body has ended.
func (b *Body) finish() error {
	if b.sha != nil {
		got := hex.EncodeToString(b.sha.Sum(nil))
		if got != b.wantSHA {
			return ErrContentSHA256Mismatch.with("").
				detail("ClientComputedContentSHA256", b.wantSHA).
				detail("S3ComputedContentSHA256", got)
		}
	}
	if b.md5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return ErrBadDigest.with("")
	}
	if b.sum == nil {
		return nil
	}
	want := b.wantSum
	if b.inTrailer {
		v, ok := b.chunked.trailerValue(b.sumHeader)
		if !ok {
			return ErrInvalidRequest.with("The trailer %s declared in x-amz-trailer was not sent.", b.sumHeader)
		}
		var err error
		if want, err = decodeChecksum(b.sum, v); err != nil {
			return ErrInvalidRequest.with("Value for %s trailing header is invalid.", b.sumHeader)
		}
	}
	got := b.sum.Sum(nil)
	if !bytes.Equal(got, want) {
		return ErrBadDigest.with("The %s you specified did not match the calculated checksum.", b.sumAlg)
	}
	b.verified = append(b.verified, Checksum{Algorithm: b.sumAlg, Value: base64.StdEncoding.EncodeToString(got)})
	return nil
}

// decodeChecksum decodes the base64 value of a checksum of h's size.
func decodeChecksum(h hash.Hash, v string) ([]byte, error) {
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, err
	}
	if len(sum) != h.Size() {
		return nil, errors.New("wrong length")
	}
	return sum, nil
}

// bodySpec is what newBody needs to know of a request's payload.
type bodySpec struct {
	mode     payloadMode
	hash     string // lower-case hex, for payloadHash
	sc       *scope // for the signed streaming modes
	seed     string // the request's signature, for the signed streaming modes
	declared int64  // x-amz-decoded-content-length, for the streaming modes
	maxChunk int64
	// digest: the headers declare a digest of the body (declaresDigest).
	digest bool
	// checksumHeaders is false for requests whose x-amz-checksum-* headers
	// describe an object rather than the body (CompleteMultipartUpload).
	checksumHeaders bool
}

// newBody builds the Body of r: the aws-chunked decoder if any and the
// digests the headers ask for. It reads nothing.
func newBody(h http.Header, body io.ReadCloser, spec bodySpec) (*Body, error) {
	if (body == nil || body == http.NoBody) && !spec.mode.streaming() &&
		(spec.mode != payloadHash || spec.hash == emptySHA256) && !spec.digest {
		// Nothing to read and nothing to check: a GET, most often.
		return emptyBody, nil
	}
	if body == nil {
		body = io.NopCloser(strings.NewReader(""))
	}
	b := &Body{src: body, closer: body}

	if spec.mode == payloadHash {
		b.sha, b.wantSHA = sha256.New(), spec.hash
	}
	if vs := h["Content-Md5"]; len(vs) > 0 {
		sum, err := ParseContentMD5(vs[0])
		if err != nil {
			return nil, err
		}
		b.md5, b.wantMD5 = md5.New(), sum
	}

	// The checksum: at most one, in a header or declared as a trailer.
	if spec.checksumHeaders {
		for name, vs := range h {
			lower, ok := checksumFromHeader(name)
			if !ok {
				continue
			}
			if b.sum != nil {
				return nil, errMultipleChecksums()
			}
			b.sumAlg, b.sum, _ = newChecksumHash(lower)
			b.sumHeader = checksumPrefix + lower
			sum, err := decodeChecksum(b.sum, vs[0])
			if err != nil {
				return nil, ErrInvalidRequest.with("Value for %s header is invalid.", b.sumHeader)
			}
			b.wantSum = sum
		}
	}
	trailerDecl := strings.Join(h["X-Amz-Trailer"], ",")
	if trailerDecl != "" && !spec.mode.trailer() {
		return nil, ErrInvalidRequest.with("x-amz-trailer is only allowed with x-amz-content-sha256 STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.")
	}
	for name := range strings.SplitSeq(trailerDecl, ",") {
		lower, ok := checksumFromHeader(strings.TrimSpace(name))
		if !ok {
			continue // not a checksum; decoded and ignored
		}
		if b.sum != nil {
			return nil, errMultipleChecksums()
		}
		b.sumAlg, b.sum, _ = newChecksumHash(lower)
		b.sumHeader = checksumPrefix + lower
		b.inTrailer = true
	}

	for _, d := range []hash.Hash{b.sha, b.md5, b.sum} {
		if d != nil {
			b.hashes = append(b.hashes, d)
		}
	}
	if spec.mode.streaming() {
		var sc *scope
		if spec.mode.signed() {
			sc = spec.sc
		}
		b.chunked = newChunkedReader(body, sc, spec.seed, spec.mode.trailer(), spec.declared, spec.maxChunk)
		b.src = b.chunked
	}
	return b, nil
}

func errMultipleChecksums() error {
	return ErrInvalidRequest.with("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
}
