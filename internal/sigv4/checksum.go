package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
	"sync"
)

// Checksum algorithms S3 accepts in x-amz-checksum-* headers and trailers,
// in the spelling of x-amz-sdk-checksum-algorithm and of the
// ChecksumAlgorithm XML element.
const (
	CRC32     = "CRC32"
	CRC32C    = "CRC32C"
	CRC64NVME = "CRC64NVME"
	SHA1      = "SHA1"
	SHA256    = "SHA256"
)

// Checksum is a checksum of a body, verified against the one the client
// sent.
type Checksum struct {
	// Algorithm is one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256.
	Algorithm string
	// Value is the base64 of the big-endian checksum, as S3 sends it in
	// x-amz-checksum-<algorithm>.
	Value string
}

// Header returns the name of the header that carries the checksum, such
// as "x-amz-checksum-crc32".
func (c Checksum) Header() string { return checksumPrefix + strings.ToLower(c.Algorithm) }

const checksumPrefix = "x-amz-checksum-"

// crc64NVMEPoly is the CRC-64/NVME polynomial, bit-reversed as
// hash/crc64 takes it; S3 and the AWS SDKs use it for CRC64NVME.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// crc64NVMETable is built once, on first use, and never changed.
var crc64NVMETable = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(crc64NVMEPoly) })

// newChecksumHash returns the name and a new hash of the lower-case
// algorithm of a header name ("crc32"). A switch rather than a map
// variable, so that nothing at package level can be changed.
func newChecksumHash(lower string) (name string, h hash.Hash, ok bool) {
	switch lower {
	case "crc32":
		return CRC32, crc32.NewIEEE(), true
	case "crc32c":
		return CRC32C, crc32.New(crc32.MakeTable(crc32.Castagnoli)), true
	case "crc64nvme":
		return CRC64NVME, crc64.New(crc64NVMETable()), true
	case "sha1":
		return SHA1, sha1.New(), true
	case "sha256":
		return SHA256, sha256.New(), true
	}
	return "", nil, false
}

// checksumFromHeader returns the lower-case algorithm of a header name
// like "x-amz-checksum-crc32", and false for any other name (including
// x-amz-checksum-algorithm, -type and -mode, which carry no value).
func checksumFromHeader(name string) (lower string, ok bool) {
	if !hasPrefixFold(name, checksumPrefix) {
		return "", false
	}
	lower = strings.ToLower(name[len(checksumPrefix):])
	_, _, ok = newChecksumHash(lower)
	return lower, ok
}

// ParseContentMD5 decodes a Content-MD5 header value: the base64 of the
// 16-byte MD5 of the body. Anything else is ErrInvalidDigest. Body checks
// Content-MD5 by itself; this is for handlers that receive a digest some
// other way.
func ParseContentMD5(v string) ([]byte, error) {
	sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(sum) != md5.Size {
		return nil, ErrInvalidDigest.with("")
	}
	return sum, nil
}
