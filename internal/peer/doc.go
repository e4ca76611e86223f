// Package peer is node-to-node HTTP: reading an object a peer holds (or,
// from the key's owner, one it fetches from the backend for the whole
// cluster), storing a replica on a peer, and exchanging journal events
// (pushes of new events and anti-entropy pulls by version vector).
//
// Every request is authenticated with an HMAC key derived from the
// cluster secret (see Auth): a process without the secret can neither
// read, write nor sync. The client keeps persistent connections to every
// peer and gives up on a slow one quickly, so that the caller can try the
// next holder. Reads of a copy a holder has, the bulk of the traffic, go
// over streams: connections an authenticated request upgrades to a lean
// framed protocol, every read on them authenticated too (see stream.go).
// Three small routes (see dirty.go) serve write-back and the owner: a
// node's objects not in the backend yet, for listings; an origin's news
// to its replicas that it uploaded; and the metadata of a key, asked of
// its owner, which coalesces the cluster's backend HEADs of a key no node
// knows.
//
// Peer routes live on their own listener, apart from the public APIs.
package peer
