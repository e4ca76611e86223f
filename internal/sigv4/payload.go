package sigv4

import "strings"

// Values of x-amz-content-sha256 besides a hex SHA-256.
const (
	UnsignedPayload                 = "UNSIGNED-PAYLOAD"
	StreamingPayload                = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// payloadMode is how the body of a request is signed.
type payloadMode int

const (
	payloadUnsigned        payloadMode = iota // UNSIGNED-PAYLOAD
	payloadHash                               // hex SHA-256 of the body
	payloadSigned                             // aws-chunked, signed chunks
	payloadSignedTrailer                      // aws-chunked, signed chunks and trailer
	payloadUnsignedTrailer                    // aws-chunked, unsigned, with trailer
)

func (m payloadMode) streaming() bool { return m >= payloadSigned }
func (m payloadMode) signed() bool    { return m == payloadSigned || m == payloadSignedTrailer }
func (m payloadMode) trailer() bool {
	return m == payloadSignedTrailer || m == payloadUnsignedTrailer
}

// parsePayload parses an x-amz-content-sha256 value.
func parsePayload(v string) (payloadMode, string, error) {
	switch v {
	case UnsignedPayload:
		return payloadUnsigned, "", nil
	case StreamingPayload:
		return payloadSigned, "", nil
	case StreamingPayloadTrailer:
		return payloadSignedTrailer, "", nil
	case StreamingUnsignedPayloadTrailer:
		return payloadUnsignedTrailer, "", nil
	}
	if len(v) == 64 && isHex(v) {
		return payloadHash, strings.ToLower(v), nil
	}
	if strings.HasPrefix(v, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") {
		return 0, "", ErrInvalidRequest.with("Signature Version 4A (%s) is not supported.", v)
	}
	return 0, "", ErrInvalidArgument.with("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.").
		detail("ArgumentName", "x-amz-content-sha256").detail("ArgumentValue", v)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
