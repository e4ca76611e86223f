// Package rendezvous ranks nodes for a key by highest random weight (HRW,
// "rendezvous") hashing: every node gets a pseudo-random weight for the
// key and the heaviest node owns it.
//
// Guarantees:
//   - Deterministic everywhere: the weight of (node, key) depends only on
//     the two strings (see Weight), never on the process, the platform, the
//     byte order or the order of the node list. Every member of a cluster
//     that sees the same node set computes the same owner.
//   - Minimal disruption: removing a node moves only the keys that node
//     owned, each to the node ranked next for it; adding a node moves to it
//     only the keys it now wins (about 1/n of them).
//   - Balance: for many keys each of n nodes owns about 1/n of them, or
//     with TopShares its share of the total (nodes of unequal capacity).
//
// The weight function is part of the cluster's wire contract: two objstore
// versions that weighed differently would disagree on owners during a
// rolling upgrade. Changing it needs a new function, not an edit.
//
// Ranking costs O(n) weights of O(len(node)+len(key)) each, which is cheap
// for the node counts of a cache cluster (tens, maybe hundreds); there is
// no ring to build or keep.
package rendezvous
