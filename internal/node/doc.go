// Package node is one objstore node: the read and write paths that tie the
// local body store, the index and the backend together.
//
// Read path: a body on local disk is served from its file (the kernel's
// sendfile does the copy); a miss is fetched from the backend once per key
// however many clients ask at the same moment, and streamed to all of them
// while it is written to the cache. Write path: a body is streamed to a temp
// file while its MD5 is computed, made durable, uploaded (write-through) or
// queued for upload (write-back), and recorded in the index with a group
// commit. Disk use is kept under the configured capacity by evicting the
// least recently used clean objects.
//
// Guarantees: a write is acknowledged only once durable locally (and, in
// write-through mode, in the backend); a body is never served partial or
// from a previous generation after a crash; a client that hangs up during a
// miss leaves nothing behind.
package node
