// Package index is the durable record of what a node caches: one entry per
// object (its metadata, body generation and state) and the write-back upload
// queue, in an embedded bbolt database.
//
// Why bbolt, and a log in front of it: objstore's index is read at
// start-up and written in small transactions; reads on the hot path are
// served from the node's memory, so what matters is the cost of a durable
// commit under concurrency. bbolt's own commit costs two fdatasyncs and a
// rewrite of every page it touches (about 50 for a group of 18 small
// PUTs: 5–9 ms on this VM's disk). So a commit here is one record
// appended to a write-ahead log (wal.go) with one fdatasync (0.25 ms for
// that group), and bbolt receives the records in the background, many
// groups per transaction; reads see bbolt's state with the records it
// lacks laid over it. The log also carries small bodies, so a group of
// small PUTs is durable with that one flush instead of a syncfs of their
// files. Measured with 32 writers of 4 KiB (bench/run.sh, same machine,
// same hour): write-back 3,208 PUTs/s with bbolt alone, 5,119/s with the
// log. pebble would give the log and background application too, at the
// price of background compaction on two cores and a far larger
// dependency; bbolt with this log keeps one data file, predictable
// commit latency and restarts that replay at most a few hundred
// milliseconds of records.
//
// Guarantees: Commit returns only once its operations are durable (in the
// log, fdatasynced); operations of one Commit are applied atomically;
// concurrent Commits are applied in some serial order; after a crash,
// Open applies the log's records bbolt lacks, in order, and a record
// the crash cut short (never acknowledged) is ignored.
package index
