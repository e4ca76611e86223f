package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/core"
)

const bucket = "objstore"

// catchUpResult is what catchup mode prints.
type catchUpResult struct {
	Mode    string `json:"mode"`
	Objects int    `json:"objects"`
	// WriteSeconds is how long the PUTs took on a, and WritePerSecond
	// their rate (c away, b receiving them as pushes).
	WriteSeconds   float64 `json:"write_seconds"`
	WritePerSecond float64 `json:"write_per_second"`
	// ConvergeSeconds runs from c's start (node.Open included) until its
	// vector covers a's and b's: it has applied every event.
	ConvergeSeconds float64 `json:"converge_seconds"`
	// ReceivedBytes is every byte c received over the peer network from
	// its start to convergence: responses to its requests (sync answers)
	// and requests to it (pushes), HTTP headers included. SentBytes is
	// the reverse.
	ReceivedBytes int64 `json:"received_bytes"`
	SentBytes     int64 `json:"sent_bytes"`
	// MetadataBytes is the sum over the events c lacked of their key and
	// metadata sizes (see metaSize): the information that had to reach c.
	MetadataBytes int64   `json:"metadata_bytes"`
	Ratio         float64 `json:"ratio"` // ReceivedBytes / MetadataBytes
	SyncRounds    uint64  `json:"sync_rounds"`
	EventsApplied uint64  `json:"events_applied"`
	// StoredEvents: events in a's journal.
	StoredEvents int64 `json:"stored_events"`
}

// metaSize is the size of the key and metadata of an object: its key,
// ETag, content type, name, user metadata and stored headers (keys and
// values), and 8 bytes each for its size and modification time. It is
// what a listing of the object tells, without the bucket (one per
// cluster) or the journal's own fields (origin, sequence, clock).
func metaSize(in core.Info) int64 {
	n := len(in.Key) + len(in.ETag) + len(in.ContentType) + len(in.Name) + 8 + 8
	for k, v := range in.UserMeta {
		n += len(k) + len(v)
	}
	for k, v := range in.Header {
		n += len(k) + len(v)
	}
	return int64(n)
}

// catchUp measures a node's catch-up after o.objects were written while it
// was away.
func catchUp(ctx context.Context, o options) (*catchUpResult, error) {
	c, err := newCluster(filepath.Join(o.dir, "catchup"), 3)
	if err != nil {
		return nil, err
	}
	defer c.close()
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]

	// A few objects before c goes, so that it rejoins with a journal.
	for i := range 10 {
		if _, err := putLocal(ctx, a, fmt.Sprintf("catchup/before/%d", i)); err != nil {
			return nil, err
		}
	}
	if err := waitFor(ctx, 30*time.Second, 5*time.Millisecond, func() bool { return converged(a, b, cn) }); err != nil {
		return nil, fmt.Errorf("first objects: %w", err)
	}
	cn.stop()

	logf("catchup: %d level-0 PUTs on a, %d at a time, c away", o.objects, o.conc)
	var (
		next  atomic.Int64
		meta  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for range o.conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.objects {
					return
				}
				info, err := putLocal(ctx, a, fmt.Sprintf("catchup/%08d", i))
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
				meta.Add(metaSize(info))
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &catchUpResult{Mode: "catchup", Objects: o.objects, MetadataBytes: meta.Load()}
	res.WriteSeconds = time.Since(start).Seconds()
	res.WritePerSecond = float64(o.objects) / res.WriteSeconds
	logf("catchup: written in %.1fs (%.0f/s); waiting for b", res.WriteSeconds, res.WritePerSecond)
	if err := waitFor(ctx, 5*time.Minute, 10*time.Millisecond, func() bool { return converged(a, b) }); err != nil {
		return nil, fmt.Errorf("b receiving the pushes: %w", err)
	}

	// c rejoins: everything from here to convergence is its catch-up.
	before := [2]traffic{a.ln.traffic(), b.ln.traffic()}
	logf("catchup: c starts again")
	t0 := time.Now()
	if err := cn.start(); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, 5*time.Minute, 2*time.Millisecond, func() bool { return converged(a, b, cn) }); err != nil {
		return nil, fmt.Errorf("c catching up: %w", err)
	}
	res.ConvergeSeconds = time.Since(t0).Seconds()
	// Bytes c received: what a's and b's servers wrote on c's connections,
	// and what c's server read (pushes from a and b).
	for i, srv := range []*benchNode{a, b} {
		f := srv.ln.traffic().sub(before[i])[cn.id]
		res.ReceivedBytes += f.Out
		res.SentBytes += f.In
	}
	for id, f := range cn.ln.traffic() {
		if id != cn.id {
			res.ReceivedBytes += f.In
			res.SentBytes += f.Out
		}
	}
	res.Ratio = float64(res.ReceivedBytes) / float64(res.MetadataBytes)
	// The counters follow the commit that raised the vector.
	waitFor(ctx, time.Second, time.Millisecond, func() bool { return cn.n.Stats().Cluster.EventsApplied >= uint64(o.objects) })
	st := cn.n.Stats().Cluster
	res.SyncRounds, res.EventsApplied = st.SyncRounds, st.EventsApplied
	res.StoredEvents = a.n.Stats().Cluster.EventsStored
	logf("catchup: converged in %.2fs, %d bytes received for %d bytes of metadata (%.2fx)",
		res.ConvergeSeconds, res.ReceivedBytes, res.MetadataBytes, res.Ratio)
	return res, nil
}

// body is what every catch-up object holds: its content is not what is
// measured, only its journal event.
const body = "catch-up object\n"

// putLocal puts a level-0 object (kept on bn alone, never uploaded) under
// key, with a content type like a real client's.
func putLocal(ctx context.Context, bn *benchNode, key string) (core.Info, error) {
	info := core.Info{Bucket: bucket, Key: key, Level: core.LevelLocal, ContentType: "application/octet-stream"}
	return bn.n.Put(ctx, info, strings.NewReader(body), int64(len(body)))
}
