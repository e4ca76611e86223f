// Package membership is this node's view of the objstore cluster: who the
// members are, how to reach them, what each says about itself (Meta), and
// which live member owns a key. It wraps hashicorp/memberlist (SWIM
// gossip with failure detection) and adds what objstore needs on top:
// typed metadata, a member table that keeps dead and left members for a
// while, rendezvous ownership, encryption from a passphrase, a
// background join with backoff, and change events from a goroutine of
// its own.
//
// # Guarantees
//
//   - Eventually consistent: every node converges on the same members and
//     states once gossip has spread (well under a second on a LAN for a
//     join or a Meta update; a failure takes the suspicion timeout, see
//     Config.Fast). Until then two nodes may disagree, about owners too,
//     so callers treat an owner as a hint: a wrong one costs a detour to
//     the backend, never a wrong answer.
//   - Owner and Top agree on every node that sees the same live set:
//     they rank the live member IDs with package rendezvous, which is
//     deterministic everywhere, and a change of one member moves only the
//     keys that member owned or now wins.
//   - Live counts suspect members as live (see Membership.Live).
//     memberlist v0.7.0 does not report suspicion, so members are in
//     practice Alive until declared Dead.
//   - A member that leaves gracefully is Left on the members it could
//     tell directly (see Membership.Leave), Dead on any other; a member
//     that crashed is Dead. memberlist forgets both after its
//     GossipToTheDeadTime and so does Members.
//   - memberlist's callbacks never block: they update the member table
//     under a mutex held only for map work and signal a goroutine,
//     without waiting. That goroutine calls Config.OnChange, in order,
//     coalescing whatever changed while OnChange ran (Stats.Coalesced
//     counts the folded notifications); no state is lost, and Members is
//     always current.
//   - A node that crashed and comes back under its NodeID at another
//     address (a new IP, or port 0) is alive again once it has joined,
//     if the others have declared it dead by then; if not, once they
//     have and it has exchanged state with one of them again (memberlist
//     rejects a second address for a member it still believes alive).
//   - With Config.Secret, all gossip (UDP packets and TCP state
//     exchanges) is encrypted and authenticated; a process without the
//     same Secret cannot join, and its packets are dropped.
//   - Close leaves gracefully, shuts memberlist down and waits for every
//     goroutine of this package; it is safe to call twice.
//
// # Caveats
//
// A node that left (Leave or Close) cannot rejoin: memberlist has no way
// back, so a restart (a new Membership with the same NodeID, typically a
// new process) is how a node returns. The other members then see it join
// again.
//
// Meta travels in every alive message and is limited to MetaMaxSize
// (512 bytes) encoded.
package membership
