package metrics

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is a point-in-time reading of a node's counters and gauges.
type Snapshot struct {
	Hits, Misses               uint64            // reads served from local disk / needing the backend
	Revalidations, StaleServed uint64            // conditional backend checks; stale copies served because the backend failed
	CoalescedMisses            uint64            // backend GETs saved because a miss of the same key was in flight
	CoalescedHeads             uint64            // backend HEADs saved because a HEAD of the same key was in flight
	BytesServed                map[string]uint64 // by source: "local", "backend", "peer"
	BackendRequests            map[string]uint64 // by operation: get, head, put, delete
	BackendErrors              map[string]uint64 // by operation
	Evictions, EvictedBytes    uint64
	Objects                    int64 // objects with a body on this node
	BytesCached, Capacity      int64
	LogSegments                int   // the index's write-ahead log
	LogBytes                   int64 // its bytes on disk, small bodies included
	UploadQueueLength          int64
	UploadQueueOldest          time.Duration // age of the oldest queued upload, 0 when empty
	UploadsDone, UploadRetries uint64
	// Connections accepted on the public port (plain HTTP) and, of them,
	// those handed to net/http (see package fastlane).
	Connections, ConnectionsHandedOff uint64
	Cluster                           ClusterSnapshot
}

// ClusterSnapshot is the node's part in its cluster.
type ClusterSnapshot struct {
	Members map[string]int // by state: alive, suspect, dead, left
	// Journal: streams of events received (pushes and sync answers),
	// events applied, own events pushed (once per peer), push bytes and
	// failed pushes, anti-entropy rounds and the bytes they received,
	// deltas served, tombstones compacted, events stored.
	StreamsReceived, EventsApplied, EventsPushed, PushBytes, PushFailures uint64
	SyncRounds, SyncBytes, DeltasServed, TombstonesCompacted              uint64
	EventsStored                                                          int64
	PeerReads                                                             map[string]uint64 // by outcome: holder_ok, holder_failed, owner_ok, owner_failed
	Replicated, ReplicationFailed, ReplicationDropped                     uint64
	ReplicationQueue                                                      int64
	BytesServedToPeers                                                    uint64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// nodeCollector reports a Snapshot as const metrics on each scrape.
type nodeCollector struct {
	snapshot atomic.Pointer[func() Snapshot]

	// Label values reported even when a Snapshot's map lacks them, so that
	// the series exist (at 0) from the first scrape and rate() works from
	// the start.
	sources, ops []string

	hits, misses, revalidations, staleServed, coalesced, coalescedHeads *prometheus.Desc
	servedBytes, backendRequests, backendErrors                         *prometheus.Desc
	evictions, evictedBytes                                             *prometheus.Desc
	objects, bytesCached, capacity, logSegments, logBytes               *prometheus.Desc
	queueLength, queueOldest, uploads, uploadRetries                    *prometheus.Desc
	connections, handedOff                                              *prometheus.Desc

	members, streams, applied, pushed, pushBytes, pushFailures *prometheus.Desc
	syncRounds, syncBytes, deltas, compacted, stored           *prometheus.Desc
	peerReads, replicated, replFailed, replDropped, replQueue  *prometheus.Desc
	servedToPeers                                              *prometheus.Desc
	states, outcomes                                           []string
}

var _ prometheus.Collector = (*nodeCollector)(nil)

func newNodeCollector() *nodeCollector {
	return &nodeCollector{
		sources:         []string{"local", "backend", "peer"},
		ops:             []string{"get", "head", "put", "delete"},
		hits:            desc("objstore_cache_hits_total", "Reads served from this node's disk."),
		misses:          desc("objstore_cache_misses_total", "Reads that needed the backend (or a peer) because the object was not cached here."),
		revalidations:   desc("objstore_cache_revalidations_total", "Conditional backend requests made to check that a cached copy is current."),
		staleServed:     desc("objstore_cache_stale_served_total", "Cached copies served without revalidation because the backend failed."),
		coalesced:       desc("objstore_backend_gets_saved_total", "Backend GETs saved because a miss of the same key was already in flight."),
		coalescedHeads:  desc("objstore_backend_heads_saved_total", "Backend HEADs saved because a HEAD of the same unknown key was already in flight."),
		servedBytes:     desc("objstore_served_bytes_total", "Body bytes sent to clients, by where they came from (local, backend, peer).", "source"),
		backendRequests: desc("objstore_backend_requests_total", "Requests made to the backend, by operation.", "op"),
		backendErrors:   desc("objstore_backend_errors_total", "Backend requests that failed other than with not-found, by operation.", "op"),
		evictions:       desc("objstore_evictions_total", "Cached bodies evicted to make room."),
		evictedBytes:    desc("objstore_evicted_bytes_total", "Bytes of cached bodies evicted to make room."),
		objects:         desc("objstore_cache_objects", "Objects with a body cached on this node."),
		bytesCached:     desc("objstore_cache_bytes", "Bytes of bodies cached on this node."),
		logSegments:     desc("objstore_index_log_segments", "Segment files of the index's write-ahead log."),
		logBytes:        desc("objstore_index_log_bytes", "Bytes on disk of the index's write-ahead log: records and the small bodies they hold, live or waiting for compaction."),
		capacity:        desc("objstore_cache_capacity_bytes", "Bytes this node may use for cached bodies."),
		queueLength:     desc("objstore_upload_queue_length", "Writes accepted locally and waiting to be uploaded to the backend."),
		queueOldest:     desc("objstore_upload_queue_oldest_seconds", "Age of the oldest write waiting to be uploaded, 0 when the queue is empty."),
		uploads:         desc("objstore_uploads_total", "Queued writes uploaded to the backend."),
		uploadRetries:   desc("objstore_upload_retries_total", "Upload attempts that failed and were scheduled again."),
		connections:     desc("objstore_http_connections_total", "Plain-HTTP connections accepted on the public port."),
		handedOff:       desc("objstore_http_connections_handed_off_total", "Of those connections, the ones handed to net/http at a request the server loop does not take (a transfer coding other than chunked, HTTP/1.0, a malformed head); net/http serves them to the end."),

		states:        []string{"alive", "suspect", "dead", "left"},
		outcomes:      []string{"holder_ok", "holder_failed", "owner_ok", "owner_failed"},
		members:       desc("objstore_cluster_members", "Members of the cluster this node knows, by state.", "state"),
		streams:       desc("objstore_journal_streams_received_total", "Streams of journal events received from peers (pushes and anti-entropy answers)."),
		applied:       desc("objstore_journal_events_applied_total", "Journal events of other nodes applied here."),
		pushed:        desc("objstore_journal_events_pushed_total", "This node's journal events pushed to peers, counted once per peer."),
		pushBytes:     desc("objstore_journal_push_bytes_total", "Bytes of journal pushes sent, counted once per peer."),
		pushFailures:  desc("objstore_journal_push_failures_total", "Pushes of journal events that failed (anti-entropy makes up for them)."),
		syncRounds:    desc("objstore_antientropy_rounds_total", "Anti-entropy rounds: version vectors sent to a peer and the missing events pulled."),
		syncBytes:     desc("objstore_antientropy_received_bytes_total", "Bytes of journal streams received in anti-entropy rounds."),
		deltas:        desc("objstore_antientropy_deltas_served_total", "Anti-entropy requests of peers answered."),
		compacted:     desc("objstore_journal_tombstones_compacted_total", "Tombstones forgotten after the horizon."),
		stored:        desc("objstore_journal_events", "Journal events stored on this node."),
		peerReads:     desc("objstore_peer_reads_total", "Reads of bodies from other nodes, by outcome: from a holder or through the key's owner.", "outcome"),
		replicated:    desc("objstore_replication_copies_total", "Copies made on this node to restore the replica count."),
		replFailed:    desc("objstore_replication_failures_total", "Copies to restore the replica count that failed (retried by the next repair scan)."),
		replDropped:   desc("objstore_replication_dropped_total", "Objects not queued for a copy because the queue was full (found again by the next repair scan)."),
		replQueue:     desc("objstore_replication_queue_length", "Objects waiting for a copy on this node."),
		servedToPeers: desc("objstore_peer_served_bytes_total", "Body bytes this node sent to other nodes."),
	}
}

// set replaces the snapshot function; nil stops reporting.
func (c *nodeCollector) set(snapshot func() Snapshot) {
	if snapshot == nil {
		c.snapshot.Store(nil)
		return
	}
	c.snapshot.Store(&snapshot)
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.hits, c.misses, c.revalidations, c.staleServed, c.coalesced, c.coalescedHeads,
		c.servedBytes, c.backendRequests, c.backendErrors,
		c.evictions, c.evictedBytes,
		c.objects, c.bytesCached, c.capacity, c.logSegments, c.logBytes,
		c.queueLength, c.queueOldest, c.uploads, c.uploadRetries, c.connections, c.handedOff,
		c.members, c.streams, c.applied, c.pushed, c.pushBytes, c.pushFailures,
		c.syncRounds, c.syncBytes, c.deltas, c.compacted, c.stored,
		c.peerReads, c.replicated, c.replFailed, c.replDropped, c.replQueue, c.servedToPeers,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	fn := c.snapshot.Load()
	if fn == nil {
		return
	}
	s := (*fn)()

	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	byLabel := func(d *prometheus.Desc, m map[string]uint64, known []string) {
		for _, k := range known {
			counter(d, m[k], k)
		}
		for k, v := range m {
			if !slices.Contains(known, k) {
				counter(d, v, k)
			}
		}
	}

	counter(c.hits, s.Hits)
	counter(c.misses, s.Misses)
	counter(c.revalidations, s.Revalidations)
	counter(c.staleServed, s.StaleServed)
	counter(c.coalesced, s.CoalescedMisses)
	counter(c.coalescedHeads, s.CoalescedHeads)
	byLabel(c.servedBytes, s.BytesServed, c.sources)
	byLabel(c.backendRequests, s.BackendRequests, c.ops)
	byLabel(c.backendErrors, s.BackendErrors, c.ops)
	counter(c.evictions, s.Evictions)
	counter(c.evictedBytes, s.EvictedBytes)
	gauge(c.objects, float64(s.Objects))
	gauge(c.bytesCached, float64(s.BytesCached))
	gauge(c.capacity, float64(s.Capacity))
	gauge(c.logSegments, float64(s.LogSegments))
	gauge(c.logBytes, float64(s.LogBytes))
	gauge(c.queueLength, float64(s.UploadQueueLength))
	gauge(c.queueOldest, s.UploadQueueOldest.Seconds())
	counter(c.uploads, s.UploadsDone)
	counter(c.uploadRetries, s.UploadRetries)

	cl := &s.Cluster
	for _, st := range c.states {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(cl.Members[st]), st)
	}
	counter(c.streams, cl.StreamsReceived)
	counter(c.applied, cl.EventsApplied)
	counter(c.pushed, cl.EventsPushed)
	counter(c.pushBytes, cl.PushBytes)
	counter(c.pushFailures, cl.PushFailures)
	counter(c.syncRounds, cl.SyncRounds)
	counter(c.syncBytes, cl.SyncBytes)
	counter(c.deltas, cl.DeltasServed)
	counter(c.compacted, cl.TombstonesCompacted)
	gauge(c.stored, float64(cl.EventsStored))
	byLabel(c.peerReads, cl.PeerReads, c.outcomes)
	counter(c.replicated, cl.Replicated)
	counter(c.replFailed, cl.ReplicationFailed)
	counter(c.replDropped, cl.ReplicationDropped)
	gauge(c.replQueue, float64(cl.ReplicationQueue))
	counter(c.servedToPeers, cl.BytesServedToPeers)
	counter(c.connections, s.Connections)
	counter(c.handedOff, s.ConnectionsHandedOff)
}
