package node

import (
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/index"
)

// Source says where a read's body came from.
type Source int

const (
	// FromLocal: this node's disk.
	FromLocal Source = iota
	// FromPeer: another node of the cluster.
	FromPeer
	// FromBackend: the backend (a miss).
	FromBackend
)

func (s Source) String() string {
	switch s {
	case FromPeer:
		return "peer"
	case FromBackend:
		return "backend"
	}
	return "local"
}

type opCounters struct{ get, head, put, del atomic.Uint64 }

func (c *opCounters) add(op string) {
	switch op {
	case "get":
		c.get.Add(1)
	case "head":
		c.head.Add(1)
	case "put":
		c.put.Add(1)
	case "delete":
		c.del.Add(1)
	}
}

func (c *opCounters) snapshot() map[string]uint64 {
	return map[string]uint64{"get": c.get.Load(), "head": c.head.Load(), "put": c.put.Load(), "delete": c.del.Load()}
}

type stats struct {
	hits, misses, revalidations, stale, coalesced atomic.Uint64
	coalescedHeads                                atomic.Uint64
	servedLocal, servedBackend, servedPeer        atomic.Uint64
	evictions, evictedBytes                       atomic.Uint64
	uploads, uploadRetries                        atomic.Uint64
	objects                                       atomic.Int64
	backendReqs, backendErrs                      opCounters

	journalReceived, eventsApplied, eventsPushed, pushBytes, pushFailures atomic.Uint64
	syncRounds, syncBytes, deltasServed, tombstonesCompacted              atomic.Uint64
	peerReadOK, peerReadFailed, ownerReadOK, ownerReadFailed              atomic.Uint64
	replicated, replicationFailed, replicationDropped, servedToPeers      atomic.Uint64
}

// Stats is a point-in-time reading of a node's counters.
type Stats struct {
	Hits, Misses               uint64
	Revalidations, StaleServed uint64
	CoalescedMisses            uint64            // backend GETs saved: a fill of the key was in flight
	CoalescedHeads             uint64            // backend HEADs saved: a HEAD of the key was in flight
	BytesServed                map[string]uint64 // by Source.String()
	BackendRequests            map[string]uint64 // by op: get, head, put, delete
	BackendErrors              map[string]uint64
	Evictions, EvictedBytes    uint64
	Objects                    int64 // bodies on disk
	BytesCached, Capacity      int64
	// The index's write-ahead log: its segments and their bytes on disk,
	// small bodies included (BytesCached counts those too, by their size).
	LogSegments                int
	LogBytes                   int64
	UploadQueueLength          int64
	UploadQueueOldest          time.Duration
	UploadsDone, UploadRetries uint64
	Cluster                    ClusterStats
}

// ClusterStats are the counters of the node's part in its cluster.
type ClusterStats struct {
	// Journal: streams received (pushes and sync answers), events applied,
	// own events pushed to peers (counted once per peer), push bytes and
	// failures, anti-entropy rounds made and bytes they received, deltas
	// served to peers, tombstones compacted, events stored.
	StreamsReceived, EventsApplied, EventsPushed, PushBytes, PushFailures uint64
	SyncRounds, SyncBytes, DeltasServed, TombstonesCompacted              uint64
	EventsStored                                                          int64
	// Reads from holders and through the key's owner, by outcome.
	PeerReadsOK, PeerReadsFailed, OwnerReadsOK, OwnerReadsFailed uint64
	// Copies made to restore the replica count, failed, or not queued
	// because the queue was full; ReplicationQueue waits.
	Replicated, ReplicationFailed, ReplicationDropped uint64
	ReplicationQueue                                  int64
	// BytesServedToPeers: bodies this node sent to other nodes.
	BytesServedToPeers uint64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	st := Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(),
		Revalidations: s.revalidations.Load(), StaleServed: s.stale.Load(),
		CoalescedMisses: s.coalesced.Load(), CoalescedHeads: s.coalescedHeads.Load(),
		BytesServed: map[string]uint64{
			"local": s.servedLocal.Load(), "backend": s.servedBackend.Load(), "peer": s.servedPeer.Load(),
		},
		BackendRequests: s.backendReqs.snapshot(),
		BackendErrors:   s.backendErrs.snapshot(),
		Evictions:       s.evictions.Load(), EvictedBytes: s.evictedBytes.Load(),
		Objects:     s.objects.Load(),
		BytesCached: n.used.Load(), Capacity: n.cfg.Capacity,
		UploadQueueLength: n.up.length.Load(),
		UploadsDone:       s.uploads.Load(), UploadRetries: s.uploadRetries.Load(),
	}
	st.Cluster = ClusterStats{
		StreamsReceived: s.journalReceived.Load(), EventsApplied: s.eventsApplied.Load(),
		EventsPushed: s.eventsPushed.Load(), PushBytes: s.pushBytes.Load(), PushFailures: s.pushFailures.Load(),
		SyncRounds: s.syncRounds.Load(), SyncBytes: s.syncBytes.Load(), DeltasServed: s.deltasServed.Load(),
		TombstonesCompacted: s.tombstonesCompacted.Load(), EventsStored: int64(n.db.EventCount()),
		PeerReadsOK: s.peerReadOK.Load(), PeerReadsFailed: s.peerReadFailed.Load(),
		OwnerReadsOK: s.ownerReadOK.Load(), OwnerReadsFailed: s.ownerReadFailed.Load(),
		Replicated: s.replicated.Load(), ReplicationFailed: s.replicationFailed.Load(),
		ReplicationDropped: s.replicationDropped.Load(), ReplicationQueue: n.repl.length(),
		BytesServedToPeers: s.servedToPeers.Load(),
	}
	st.LogSegments, st.LogBytes = n.db.LogSize()
	if st.UploadQueueLength > 0 {
		n.db.Queue(func(it index.Item) bool {
			st.UploadQueueOldest = time.Since(it.Enqueued)
			return false
		})
	}
	return st
}

// AddServed counts bytes sent to clients from src; APIs call it once a
// response is written.
func (n *Node) AddServed(src Source, bytes int64) {
	switch src {
	case FromLocal:
		n.stats.servedLocal.Add(uint64(bytes))
	case FromPeer:
		n.stats.servedPeer.Add(uint64(bytes))
	case FromBackend:
		n.stats.servedBackend.Add(uint64(bytes))
	}
}

// backendCall counts a backend request and its failure.
func (n *Node) backendCall(op string, err error) {
	n.stats.backendReqs.add(op)
	if err != nil && !isExpected(err) {
		n.stats.backendErrs.add(op)
	}
}
