package sigv4

import (
	"errors"
	"net/http"
	"testing"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      *Error
		code     string
		status   int
		isAccess bool
	}{
		{name: "access denied", err: ErrAccessDenied, code: "AccessDenied", status: http.StatusForbidden, isAccess: true},
		{name: "expired", err: ErrRequestExpired, code: "AccessDenied", status: http.StatusForbidden, isAccess: true},
		{name: "not yet valid", err: ErrRequestNotYetValid, code: "AccessDenied", status: http.StatusForbidden, isAccess: true},
		{name: "headers not signed", err: ErrHeadersNotSigned, code: "AccessDenied", status: http.StatusForbidden, isAccess: true},
		{name: "access key", err: ErrInvalidAccessKeyID, code: "InvalidAccessKeyId", status: http.StatusForbidden},
		{name: "signature", err: ErrSignatureDoesNotMatch, code: "SignatureDoesNotMatch", status: http.StatusForbidden},
		{name: "skew", err: ErrRequestTimeTooSkewed, code: "RequestTimeTooSkewed", status: http.StatusForbidden},
		{name: "header malformed", err: ErrAuthorizationHeaderMalformed, code: "AuthorizationHeaderMalformed", status: http.StatusBadRequest},
		{name: "query malformed", err: ErrAuthorizationQueryParametersError, code: "AuthorizationQueryParametersError", status: http.StatusBadRequest},
		{name: "missing header", err: ErrMissingSecurityHeader, code: "MissingSecurityHeader", status: http.StatusBadRequest},
		{name: "sha256 mismatch", err: ErrContentSHA256Mismatch, code: "XAmzContentSHA256Mismatch", status: http.StatusBadRequest},
		{name: "bad digest", err: ErrBadDigest, code: "BadDigest", status: http.StatusBadRequest},
		{name: "invalid digest", err: ErrInvalidDigest, code: "InvalidDigest", status: http.StatusBadRequest},
		{name: "incomplete body", err: ErrIncompleteBody, code: "IncompleteBody", status: http.StatusBadRequest},
		{name: "invalid request", err: ErrInvalidRequest, code: "InvalidRequest", status: http.StatusBadRequest},
		{name: "invalid argument", err: ErrInvalidArgument, code: "InvalidArgument", status: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error = tc.err.with("specific %d", 1).detail("K", "v")
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Status != tc.status || e.Message != "specific 1" || e.Details["K"] != "v" {
				t.Fatalf("got %#v", e)
			}
			if !errors.Is(err, tc.err) || errors.Is(err, ErrAccessDenied) != tc.isAccess {
				t.Fatalf("errors.Is wrong for %v", err)
			}
			if tc.err.Details != nil {
				t.Fatal("detail changed the sentinel")
			}
			if got := tc.err.with("").Message; got != tc.err.Message {
				t.Fatalf("default message %q, want %q", got, tc.err.Message)
			}
			if err.Error() != "sigv4: "+tc.code+": specific 1" {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}
