// Package s3backend is a backend.Backend and backend.Lister on Amazon S3
// or an S3-compatible server, built on aws-sdk-go-v2.
//
// # Objects
//
// Put sends objects up to Config.MultipartThreshold with one PutObject and
// larger ones as a multipart upload of Config.PartSize parts. GetObject and
// PutObjects up to 1 MiB, the node's hot path, are sent as plain HTTP
// requests signed with the SDK's SigV4 signer rather than through the
// SDK's per-call middleware stack, which costs more than the request
// itself against a nearby server; endpoints, credentials, connections,
// retries and error types are the SDK's all the same (see direct.go). A body that
// is an io.ReaderAt (an *os.File, as the node passes) is read in place by
// concurrent parts; any other body is buffered part by part.
//
// Get streams the body; with a Range, Object.Length is the number of bytes
// sent and Info.Size the full size, taken from Content-Range. A range that
// selects no bytes (Length 0, or Offset equal to the size, which S3
// answers with 416) costs a HEAD instead. IfNoneMatch is sent as
// If-None-Match; a server that ignores it (gofakes3 does) is caught by
// comparing the ETag of the response, so core.ErrNotModified holds either
// way.
//
// ETags are returned without quotes: the hex MD5 for single-part objects,
// S3's "hex-N" for multipart ones.
//
// # Metadata
//
// core.Info.UserMeta is sent as x-amz-meta-* headers (S3 lowercases their
// names), ContentType as Content-Type (an empty one as
// application/octet-stream) and Info.Header's Cache-Control,
// Content-Disposition, Content-Encoding, Content-Language and Expires as
// those headers; Expires is sent verbatim, not reformatted as a date.
//
// Info.Name and Info.Level travel as the reserved user metadata keys
// objstore-name (only when Name is set; percent-encoded, since S3 metadata
// must be ASCII) and objstore-level (always, "0" to "2"). Reads move them
// back into Name and Level and drop them from UserMeta; user metadata of
// those names is dropped on Put. An object written by another tool, without
// objstore-level, reads as core.LevelBackend.
//
// # Listing and buckets
//
// List is one ListObjectsV2 with Prefix, Delimiter, StartAfter and MaxKeys
// passed through, except for a StartAfter that is a common prefix (see
// Backend.List); listed objects carry Size, ETag and ModTime only, and
// Level reads as core.LevelBackend. Buckets follows ListBuckets'
// continuation tokens and sorts by name. CreateBucket names the region as
// the location constraint unless it is us-east-1.
//
// # Errors and retries
//
// NoSuchKey, NoSuchBucket and a 404 HEAD wrap core.ErrNotFound; a 304
// wraps core.ErrNotModified; BucketAlreadyExists and
// BucketAlreadyOwnedByYou wrap backend.ErrBucketExists, BucketNotEmpty
// backend.ErrBucketNotEmpty; a canceled context wraps context.Canceled.
// Every other failure, an expired context deadline included, is a
// *core.BackendError. Delete of a missing object
// succeeds, as on S3.
//
// Each request is tried at most Config.MaxAttempts times (3 by default)
// with short jittered backoff, and the SDK's retry token bucket stops
// retrying altogether while a backend keeps failing, so an unreachable
// backend fails within seconds instead of piling up retries. Connections
// come from one keep-alive pool per Backend, with Config.ConnectTimeout
// bounding each connect and TLS handshake.
//
// Checksums: the SDK's optional CRC checksums (and the aws-chunked
// encoding they bring over HTTPS) are only used where S3 requires them,
// because several S3-compatible servers mishandle aws-chunked multipart
// parts; integrity then rests on TLS and the ETag, as with older SDKs.
package s3backend
