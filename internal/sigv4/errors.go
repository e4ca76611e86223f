package sigv4

import (
	"fmt"
	"net/http"
)

// Error is every error the package returns for a request it refuses: an S3
// error code, a message and the HTTP status S3 answers with, ready to be
// written as an S3 XML error. Err is the sentinel below that the error is
// an instance of, so callers can test the kind with errors.Is and read the
// data with errors.As:
//
//	var e *sigv4.Error
//	if errors.As(err, &e) { writeS3Error(w, e.Status, e.Code, e.Message, e.Details) }
//
// Errors of the request's transport (a read of the body that failed on the
// network, a canceled request) are passed through unwrapped; they are not
// an *Error.
type Error struct {
	// Code is the S3 error code, such as "SignatureDoesNotMatch".
	Code string
	// Message is the human-readable message, specific to the request.
	Message string
	// Status is the HTTP status S3 answers the code with.
	Status int
	// Details are extra elements S3 puts in its XML error, by element
	// name, such as AWSAccessKeyId, StringToSign, CanonicalRequest,
	// SignatureProvided, RequestTime, ServerTime,
	// MaxAllowedSkewMilliseconds, HeadersNotSigned, X-Amz-Expires,
	// Expires, Region, ArgumentName, ArgumentValue,
	// ClientComputedContentSHA256, S3ComputedContentSHA256. Nil when
	// there are none. StringToSign and
	// CanonicalRequest help a client's author find a signing bug; S3 sends
	// them, but a server may prefer to log them instead.
	Details map[string]string
	// Err is the sentinel this error is an instance of; nil for the
	// sentinels of the S3 codes themselves.
	Err error
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// Unwrap returns the sentinel, so errors.Is(err, ErrSignatureDoesNotMatch)
// holds for every signature mismatch whatever its message.
func (e *Error) Unwrap() error { return e.Err }

// with returns a new instance of the sentinel e with a specific message.
func (e *Error) with(format string, args ...any) *Error {
	msg := e.Message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: e.Code, Message: msg, Status: e.Status, Err: e}
}

// detail adds one detail element and returns e.
func (e *Error) detail(name, value string) *Error {
	if e.Details == nil {
		e.Details = make(map[string]string)
	}
	e.Details[name] = value
	return e
}

func newCode(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

// The sentinel errors, one per S3 error code, plus the few conditions a
// caller may want to tell apart within one code. Every *Error the package
// returns wraps exactly one of them (the specific ones wrap the error of
// their code in turn), so errors.Is(err, ErrAccessDenied) holds for an
// expired presigned URL as well.
var (
	// ErrAccessDenied (403 AccessDenied): a signed request without a valid
	// X-Amz-Date or Date header; also the code of the three specific
	// refusals below, and what a server answers an anonymous request it
	// does not allow.
	ErrAccessDenied = newCode("AccessDenied", http.StatusForbidden, "Access Denied")
	// ErrRequestExpired: a presigned URL used after X-Amz-Date plus
	// X-Amz-Expires. 403 AccessDenied "Request has expired", as S3.
	ErrRequestExpired = &Error{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: "Request has expired", Err: ErrAccessDenied}
	// ErrRequestNotYetValid: a presigned URL whose X-Amz-Date is later
	// than now by more than Config.MaxSkew. 403 AccessDenied.
	ErrRequestNotYetValid = &Error{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: "Request is not valid yet", Err: ErrAccessDenied}
	// ErrHeadersNotSigned: the request carries the host header or an
	// x-amz-* header that the signature does not cover, so it could have
	// been added by anyone. 403 AccessDenied with a HeadersNotSigned
	// detail, as S3.
	ErrHeadersNotSigned = &Error{Code: "AccessDenied", Status: http.StatusForbidden,
		Message: "There were headers present in the request which were not signed", Err: ErrAccessDenied}

	// ErrInvalidAccessKeyID: Credentials do not know the access key.
	ErrInvalidAccessKeyID = newCode("InvalidAccessKeyId", http.StatusForbidden,
		"The AWS Access Key Id you provided does not exist in our records.")
	// ErrSignatureDoesNotMatch: the request's signature, a chunk's or the
	// trailer's is not the one computed with the access key's secret.
	ErrSignatureDoesNotMatch = newCode("SignatureDoesNotMatch", http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	// ErrRequestTimeTooSkewed: X-Amz-Date (or Date) of a request signed in
	// its headers is further from now than Config.MaxSkew.
	ErrRequestTimeTooSkewed = newCode("RequestTimeTooSkewed", http.StatusForbidden,
		"The difference between the request time and the current time is too large.")
	// ErrAuthorizationHeaderMalformed: the Authorization header cannot be
	// parsed, or its credential scope is wrong (date, region, service).
	ErrAuthorizationHeaderMalformed = newCode("AuthorizationHeaderMalformed", http.StatusBadRequest,
		"The authorization header is malformed.")
	// ErrAuthorizationQueryParametersError: the X-Amz-* query parameters
	// of a presigned URL are missing or malformed.
	ErrAuthorizationQueryParametersError = newCode("AuthorizationQueryParametersError", http.StatusBadRequest,
		"Error parsing the X-Amz-Credential parameter.")
	// ErrMissingSecurityHeader: x-amz-decoded-content-length, which an
	// aws-chunked body requires, is missing.
	ErrMissingSecurityHeader = newCode("MissingSecurityHeader", http.StatusBadRequest,
		"Your request was missing a required header.")
	// ErrContentSHA256Mismatch: the body does not hash to the hex SHA-256
	// the request signed in x-amz-content-sha256. Reported by Body at the
	// end of the body.
	ErrContentSHA256Mismatch = newCode("XAmzContentSHA256Mismatch", http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
	// ErrBadDigest: the body does not match its Content-MD5 or its
	// x-amz-checksum-* header or trailer. Reported by Body at the end of
	// the body.
	ErrBadDigest = newCode("BadDigest", http.StatusBadRequest,
		"The Content-MD5 you specified did not match what we received.")
	// ErrInvalidDigest: Content-MD5 is not the base64 of 16 bytes.
	ErrInvalidDigest = newCode("InvalidDigest", http.StatusBadRequest,
		"The Content-MD5 you specified is not valid.")
	// ErrIncompleteBody: the body ended before its declared length
	// (Content-Length, or x-amz-decoded-content-length of an aws-chunked
	// body) or, aws-chunked, went on past it or ended without its final
	// chunk.
	ErrIncompleteBody = newCode("IncompleteBody", http.StatusBadRequest,
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	// ErrInvalidRequest: the request is well formed HTTP but not a valid
	// S3 request: an unsupported signing algorithm (Signature Version 2,
	// SigV4A), a missing x-amz-content-sha256, a malformed aws-chunked
	// body or a chunk larger than Config.MaxChunkSize, a malformed or
	// missing checksum.
	ErrInvalidRequest = newCode("InvalidRequest", http.StatusBadRequest, "Invalid Request")
	// ErrInvalidArgument: a parameter has a value S3 does not accept, such
	// as an x-amz-content-sha256 that is neither a hash nor a known mode,
	// or both an Authorization header and a presigned query.
	ErrInvalidArgument = newCode("InvalidArgument", http.StatusBadRequest, "Invalid Argument")
)
