// Package journal is the vocabulary of a cluster's shared history: events
// (an object put or deleted, a node now holding or no longer holding a
// copy), their hybrid logical clock, version vectors, the merge rule that
// turns a set of events into one state per key, and the compact binary
// encoding events are stored and sent in.
//
// Guarantees: Merge is deterministic and order-independent. Every node that
// has applied the same set of events, in any order, holds the same View of
// a key: the put or delete with the highest (Time, Origin) wins (last
// writer wins), and a node's holdings are decided by the latest event that
// node itself originated about the key (highest Seq).
//
// The package does no I/O; storage is the index's job and transport the
// peer package's.
package journal
