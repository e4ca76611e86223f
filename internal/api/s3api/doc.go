// Package s3api serves the S3 protocol on objstore's public port, so that
// S3 SDKs and CLIs use the cache by changing only their endpoint.
//
// Objects go through the node (the cache's read and write paths): a GET of
// an object the node has never seen reads it through from the backend, a
// PUT is cached and written to the backend (through or back). Bucket
// operations and listings go to the backend; a listing is corrected with
// what the node knows better (objects not yet uploaded, objects deleted
// through objstore). Requests are authenticated with AWS Signature V4
// (see sigv4).
//
// Addressing is path-style (/bucket/key) or, with Config.Domain,
// virtual-hosted (bucket.domain/key). Errors are S3 XML error documents;
// every response carries x-amz-request-id.
package s3api
