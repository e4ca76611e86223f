package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// idleResult is what idle mode prints: the reference cluster (Small
// objects) and the large one, measured over the same Seconds.
type idleResult struct {
	Mode    string     `json:"mode"`
	Seconds float64    `json:"seconds"`
	Small   idleFigure `json:"small"`
	Large   idleFigure `json:"large"`
	// Ratio is Large.BytesPerRound / Small.BytesPerRound.
	Ratio float64 `json:"ratio"`
}

// idleFigure is one idle cluster's traffic.
type idleFigure struct {
	Objects       int     `json:"objects"`
	InjectSeconds float64 `json:"inject_seconds"` // to apply the events on both nodes
	StoredEvents  int64   `json:"stored_events"`  // in each node's journal
	Rounds        uint64  `json:"rounds"`         // anti-entropy rounds of both nodes
	// Bytes on the wire (both peer servers, both directions, HTTP headers
	// included) per round: requests, responses and both.
	RequestBytes  float64 `json:"request_bytes_per_round"`
	ResponseBytes float64 `json:"response_bytes_per_round"`
	BytesPerRound float64 `json:"bytes_per_round"`
}

// syntheticOrigin is the node ID of the events injected in idle mode: a
// node that wrote them and is gone (a ULID's length, as real IDs).
const syntheticOrigin = "01JBENCHSYNTHETIC000000000"

// idle measures anti-entropy traffic of idle clusters of o.small and
// o.large objects.
func idle(ctx context.Context, o options) (*idleResult, error) {
	res := &idleResult{Mode: "idle"}
	var clusters []*cluster
	defer func() {
		for _, c := range clusters {
			c.close()
		}
	}()
	figs := []*idleFigure{&res.Small, &res.Large}
	for i, count := range []int{o.small, o.large} {
		c, err := newCluster(filepath.Join(o.dir, fmt.Sprint("idle-", count)), 2)
		if err != nil {
			return nil, err
		}
		clusters = append(clusters, c)
		logf("idle: injecting %d events into both nodes of a cluster", count)
		t0 := time.Now()
		if err := inject(ctx, c, count); err != nil {
			return nil, err
		}
		// A few objects of each node's own, so that the vectors name
		// three origins, as in a cluster that has seen some writes.
		for _, bn := range c.nodes {
			for j := range 10 {
				if _, err := putLocal(ctx, bn, fmt.Sprintf("idle/own/%s/%d", bn.name, j)); err != nil {
					return nil, err
				}
			}
		}
		if err := waitFor(ctx, 2*time.Minute, 10*time.Millisecond, func() bool { return converged(c.nodes...) }); err != nil {
			return nil, fmt.Errorf("cluster of %d: %w", count, err)
		}
		figs[i].Objects = count
		figs[i].InjectSeconds = time.Since(t0).Seconds()
		figs[i].StoredEvents = c.nodes[0].n.Stats().Cluster.EventsStored
		logf("idle: %d objects in %.1fs", count, figs[i].InjectSeconds)
	}

	// Let the pushes of the last objects end and a round or two pass.
	time.Sleep(2 * time.Second)
	type mark struct {
		t      [2]traffic
		rounds uint64
	}
	snap := func(c *cluster) mark {
		var m mark
		for i, bn := range c.nodes {
			m.t[i] = bn.ln.traffic()
			m.rounds += bn.n.Stats().Cluster.SyncRounds
		}
		return m
	}
	before := []mark{snap(clusters[0]), snap(clusters[1])}
	logf("idle: measuring both clusters for %v", o.duration)
	t0 := time.Now()
	select {
	case <-time.After(o.duration):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.Seconds = time.Since(t0).Seconds()
	for i, c := range clusters {
		after := snap(c)
		var f flow
		for j := range c.nodes {
			t := after.t[j].sub(before[i].t[j]).total()
			f.In += t.In
			f.Out += t.Out
		}
		fig := figs[i]
		fig.Rounds = after.rounds - before[i].rounds
		if fig.Rounds == 0 {
			return nil, fmt.Errorf("cluster of %d objects: no anti-entropy round in %v", fig.Objects, o.duration)
		}
		fig.RequestBytes = float64(f.In) / float64(fig.Rounds)
		fig.ResponseBytes = float64(f.Out) / float64(fig.Rounds)
		fig.BytesPerRound = float64(f.In+f.Out) / float64(fig.Rounds)
	}
	res.Ratio = res.Large.BytesPerRound / res.Small.BytesPerRound
	logf("idle: %.0f bytes per round with %d objects, %.0f with %d (%.2fx)",
		res.Large.BytesPerRound, res.Large.Objects, res.Small.BytesPerRound, res.Small.Objects, res.Ratio)
	return res, nil
}

// inject applies count put events of syntheticOrigin to every node of c,
// all nodes at once, each through Node.Receive as a push from that origin.
func inject(ctx context.Context, c *cluster, count int) error {
	errs := make(chan error, len(c.nodes))
	for _, bn := range c.nodes {
		go func() {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeEvents(pw, count)) }()
			sr, err := journal.NewStreamReader(pr)
			if err == nil {
				err = bn.n.Receive(ctx, syntheticOrigin, sr)
			}
			pr.CloseWithError(io.ErrClosedPipe) // stops the writer if Receive stopped early
			errs <- err
		}()
	}
	var first error
	for range c.nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeEvents writes a stream of count level-0 puts of syntheticOrigin,
// one a millisecond of its clock, ending an hour ago.
func writeEvents(w io.Writer, count int) error {
	sw := journal.NewStreamWriter(w, false)
	if err := sw.Origin(syntheticOrigin, 0); err != nil {
		return err
	}
	t0 := time.Now().Add(-time.Hour - time.Duration(count)*time.Millisecond).UTC()
	for i := range count {
		mod := t0.Add(time.Duration(i) * time.Millisecond).Truncate(time.Millisecond)
		key := fmt.Sprintf("idle/%08d", i)
		sum := md5.Sum([]byte(strconv.Itoa(i)))
		e := journal.Event{
			Origin: syntheticOrigin, Seq: uint64(i + 1), Time: journal.MakeTimestamp(mod), Kind: journal.Put,
			Bucket: bucket, Key: key,
			Info: core.Info{Bucket: bucket, Key: key, Size: int64(len(body)), ETag: hex.EncodeToString(sum[:]),
				ContentType: "application/octet-stream", ModTime: mod, Level: core.LevelLocal},
		}
		if err := sw.Event(&e); err != nil {
			return err
		}
	}
	if err := sw.Upto(syntheticOrigin, uint64(count)); err != nil {
		return err
	}
	return sw.Close()
}
