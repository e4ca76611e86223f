// Package fsbackend is a backend.Backend and backend.Lister that keeps
// buckets as directories on a local file system: for development, tests
// and single-host setups.
//
// # Layout
//
// A bucket is a directory under the root, made by CreateBucket or on
// demand by the first Put into it. A key never becomes a path: each object
// lives at a name derived from the SHA-256 of its key, so no key (with
// "..", slashes or anything else) can reach outside the root:
//
//	<root>/<bucket>/.bucket.json         marker: when the bucket was created
//	<root>/<bucket>/<h[:2]>/<h>.json     metadata sidecar (JSON)
//	<root>/<bucket>/<h[:2]>/<h>.<etag>   body, named by its MD5
//	<root>/<bucket>/.tmp-*               files being written
//
// where h is the hex SHA-256 of the key and etag the hex MD5 of the body.
// A bucket without a marker (a crash right after its directory was made)
// is dated by the directory's modification time.
//
// # Listing
//
// Because keys are stored by hash, List reads every sidecar of the bucket
// and sorts the keys on each call: O(n log n) for n objects in the
// bucket, whatever the page size. That is fine for the sizes this backend
// is meant for; there is no separate index to keep consistent.
//
// # Guarantees
//
// Writes are atomic and durable: the body and then the sidecar are each
// written to a temporary file in the bucket directory, fsynced and renamed
// into place, and the directory is fsynced. The sidecar is the commit
// point: an object exists exactly when its sidecar does, and the sidecar
// names the body it belongs to. Because a body's name holds its ETag, a
// crash between the two renames of an overwrite leaves the old sidecar
// pointing at the old, intact body; the new body is then an orphan that is
// never read and only costs space. Readers therefore never see the metadata of one version with
// the body of another.
//
// Get, Head, Put and Delete of the same key are serialised in-process by a
// striped lock, held while a sidecar is read or the renames are done, but
// not while a body is copied; a Get streams from a file it already opened,
// which a later overwrite or Delete does not disturb.
// Puts and Deletes in a bucket also hold a lock of that bucket for
// reading, which DeleteBucket takes for writing: DeleteBucket waits for
// those in flight (a Put for as long as its body takes to copy), so that
// no object appears between its emptiness check and the removal, and a
// Put after it makes the bucket again.
// One process (and one Backend) per root: the locks are not shared
// between processes. New removes temporary files a crash left behind.
//
// Delete of a missing object succeeds, as on S3. An empty ContentType is
// stored as application/octet-stream. User metadata keys are stored
// lowercase, as S3 does, and only the headers in core.StoredHeaders are
// kept.
//
// Errors: a missing object or bucket wraps core.ErrNotFound; creating a
// bucket that exists wraps backend.ErrBucketExists, deleting one that
// holds objects backend.ErrBucketNotEmpty; invalid bucket names,
// keys, metadata or ranges wrap the matching core sentinel; a body whose
// length differs from the declared size wraps core.ErrIncompleteBody; any
// file system failure, or an expired context deadline, is a
// *core.BackendError; a canceled context wraps context.Canceled.
package fsbackend
