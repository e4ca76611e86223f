// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256) as an
// S3-compatible server must: the Authorization header, presigned URLs and
// every payload mode that real clients send (aws-sdk-go-v2, the AWS CLI
// and boto3, rclone, s3cmd, minio-go). It depends on nothing else in
// objstore.
//
//	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: sigv4.StaticCredentials{"AK": "secret"}})
//	...
//	res, err := v.Verify(r)          // the signature; reads nothing
//	if err != nil { /* write the *sigv4.Error as an S3 XML error */ }
//	if res.Anonymous { /* allowed for this bucket? else AccessDenied */ }
//	n, err := io.Copy(tmp, res.Body) // the payload, checked as it is read
//	if err != nil { /* discard tmp; *sigv4.Error as above */ }
//	sums := res.Body.Checksums()     // verified x-amz-checksum-*, to store
//
// # Signatures
//
// The canonical request is built from the request as received: the path
// as S3 signs it (each segment decoded and encoded once, never twice, no
// normalization), the query sorted after encoding, the signed headers
// trimmed with runs of spaces collapsed, and the host from r.Host, which
// must be the Host the client addressed: a proxy in front must pass it on
// unchanged. Verify the request as received, before anything rewrites its
// URL (http.StripPrefix). The credential scope must name service "s3" and, when
// Config.Regions is set, one of those regions; otherwise any region is
// accepted, since clients sign with whatever region they are set up with.
// The host header and every x-amz-* header present must be signed
// (ErrHeadersNotSigned), so that nothing the server acts on can be added
// to a signed request.
//
// A request signed in its headers must carry X-Amz-Date (or Date) within
// Config.MaxSkew of Config.Now (ErrRequestTimeTooSkewed). A presigned URL
// is valid from X-Amz-Date, give or take MaxSkew, for X-Amz-Expires
// seconds (1 to 604800); after that it is ErrRequestExpired, which, as on
// S3, is an AccessDenied "Request has expired".
//
// # Payloads
//
// x-amz-content-sha256 says how the body is signed, and Result.Body
// decodes and checks it accordingly while the server reads it, without
// ever holding more than a small buffer:
//   - UNSIGNED-PAYLOAD (and every presigned URL): passed through.
//   - a hex SHA-256: hashed, and compared at the end.
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked; each chunk's
//     signature is checked, chained from the request's signature, as the
//     chunk ends.
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, followed by
//     trailer headers whose x-amz-trailer-signature is checked.
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked without signatures,
//     followed by trailers (aws-sdk-go-v2 and boto3 over HTTPS).
//
// aws-chunked bodies must decode to x-amz-decoded-content-length bytes,
// and no chunk may exceed Config.MaxChunkSize. An x-amz-checksum-crc32,
// -crc32c, -crc64nvme, -sha1 or -sha256 given as a header or declared in
// x-amz-trailer is computed over the decoded bytes and compared at the
// end (ErrBadDigest), as is Content-MD5; Body.Checksums then returns it.
// The x-amz-checksum-* headers of CompleteMultipartUpload describe the
// object, not the request's body, and are left to the server.
//
// # Guarantees and caveats
//
// Body returns bytes before it has verified them: the data of an
// aws-chunked chunk is passed on as it arrives and its signature checked
// when the chunk ends, digests are compared at the end of the body. Any
// error from Body means the whole body must be discarded; only io.EOF
// means every byte read was verified.
//
// Not supported: Signature Version 2 and SigV4A (ErrInvalidRequest),
// browser POST uploads with a signed policy, and checking
// X-Amz-Security-Token, which Result passes on.
//
// Errors are *Error values carrying the S3 code, message and status; each
// wraps one of the sentinels of errors.go for errors.Is.
package sigv4
