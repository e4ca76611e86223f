// Package compat serves the original objstore's HTTP API, /api/v1, on a
// default bucket: id, put, get, meta, delete, version, ping and stats, with
// its X-Meta-* headers.
//
// Differences from the original, each deliberate:
//   - IDs may be any valid key (1–1024 bytes of UTF-8), not only ULIDs.
//   - The default consistency level of a put is 1 (this node + backend),
//     not 0, so that an object survives the loss of the node unless the
//     client asks otherwise.
//   - Delete also deletes the object from the backend.
//   - GET /api/v1/meta of a deleted object answers 404 with
//     X-Meta-Deleted: true and the metadata JSON (is_deleted: true).
//   - Every read says how it was served in X-Objstore-Cache: HIT (local
//     disk), MISS (fetched from the backend), PEER, or STALE (the cached
//     copy, served because the backend failed when it was revalidated).
//
// Errors are plain-text messages with the status: 400 bad input, 404
// unknown or deleted, 502 backend failure, 507 cache full of objects that
// cannot be evicted.
package compat
