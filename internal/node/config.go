package node

import (
	"errors"
	"fmt"
	"log/slog"

	"time"

	"github.com/objstore/objstore/internal/backend"
)

// WriteMode says when a PUT is acknowledged.
type WriteMode int

const (
	// WriteThrough acknowledges once the body is durable locally and in the
	// backend.
	WriteThrough WriteMode = iota
	// WriteBack acknowledges once the body is durable locally; a durable
	// queue uploads it to the backend afterwards.
	WriteBack
)

// ParseWriteMode parses "through" or "back".
func ParseWriteMode(s string) (WriteMode, error) {
	switch s {
	case "through":
		return WriteThrough, nil
	case "back":
		return WriteBack, nil
	}
	return 0, fmt.Errorf("write mode %q: want through or back", s)
}

func (m WriteMode) String() string {
	if m == WriteBack {
		return "back"
	}
	return "through"
}

// Config configures a Node. Fields without a default are required.
type Config struct {
	// DataDir holds the index and the cached bodies.
	DataDir string
	// Backend is the origin store. Required.
	Backend backend.Backend
	// Capacity is the most bytes of bodies kept on disk. Default 0: a
	// share (CapacityShare) of the free space of DataDir's filesystem at
	// start plus what the cache already holds.
	Capacity int64
	// CapacityShare is the share of free space Capacity 0 takes. Default 0.8.
	CapacityShare float64

	logSegment int64 // the index's log segment size; 0: its default (tests)
	// HighWater and LowWater are fractions of Capacity: when disk use goes
	// above HighWater, the least recently used clean objects are evicted
	// until it is under LowWater. Defaults 0.95 and 0.90.
	HighWater, LowWater float64
	// WriteMode: default WriteThrough.
	WriteMode WriteMode
	// RevalidateAfter: a hit whose copy was last checked against the backend
	// longer ago than this is revalidated with a conditional GET. Default 0:
	// a cached copy stays valid until evicted or deleted through objstore.
	RevalidateAfter time.Duration
	// UploadWorkers upload the write-back queue in parallel, each key always
	// on the same worker so its operations stay in order. Default 8.
	UploadWorkers int
	// AtimeFlush is how often access times are persisted. Default 30s.
	AtimeFlush time.Duration
	// RetryMin and RetryMax bound the back-off between retries of a failed
	// upload. Defaults 100ms and 30s.
	RetryMin, RetryMax time.Duration
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger

	// Cluster, when set, makes the node a member of a cluster (see
	// cluster.go); nil: a node on its own. Peers is then required.
	Cluster Cluster
	Peers   Peers
	// Replicas is how many nodes keep a copy of an object written through
	// the cluster, besides the node that received it: the top Replicas of
	// the key's rendezvous ranking. AllReplicas: every node. Default 2.
	Replicas int
	// NoCacheOnRead: a node that reads an object from a peer serves it
	// without keeping a copy. Default false: it keeps one.
	NoCacheOnRead bool
	// SyncInterval is the period of anti-entropy rounds. Default 1s.
	SyncInterval time.Duration
	// TombstoneHorizon is how long a deleted key's tombstone is kept;
	// a node away for longer is brought back by a snapshot. Default 7 days.
	TombstoneHorizon time.Duration
	// CompactInterval is how often tombstones past the horizon are
	// compacted. Default 1h.
	CompactInterval time.Duration
	// RepairGrace is how long membership must be stable (after a node left,
	// failed or joined) before copies are re-created to restore Replicas.
	// Default 30s.
	RepairGrace time.Duration
	// RepairRate bounds the bytes per second copied to restore Replicas,
	// so that serving comes first. Default 64 MiB/s.
	RepairRate int64
}

// DefaultConfig returns a Config with every default set; DataDir and
// Backend remain to be filled in.
func DefaultConfig() Config {
	return Config{
		CapacityShare: 0.8,
		HighWater:     0.95,
		LowWater:      0.90,
		WriteMode:     WriteThrough,
		UploadWorkers: 8,
		AtimeFlush:    30 * time.Second,
		RetryMin:      100 * time.Millisecond,
		RetryMax:      30 * time.Second,

		Replicas:         2,
		SyncInterval:     time.Second,
		TombstoneHorizon: 7 * 24 * time.Hour,
		CompactInterval:  time.Hour,
		RepairGrace:      30 * time.Second,
		RepairRate:       64 << 20,
	}
}

func (c *Config) validate() error {
	d := DefaultConfig()
	if c.CapacityShare == 0 {
		c.CapacityShare = d.CapacityShare
	}
	if c.HighWater == 0 {
		c.HighWater = d.HighWater
	}
	if c.LowWater == 0 {
		c.LowWater = d.LowWater
	}
	if c.UploadWorkers == 0 {
		c.UploadWorkers = d.UploadWorkers
	}
	if c.AtimeFlush == 0 {
		c.AtimeFlush = d.AtimeFlush
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = d.RetryMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = d.SyncInterval
	}
	if c.TombstoneHorizon == 0 {
		c.TombstoneHorizon = d.TombstoneHorizon
	}
	if c.CompactInterval == 0 {
		c.CompactInterval = d.CompactInterval
	}
	if c.RepairGrace == 0 {
		c.RepairGrace = d.RepairGrace
	}
	if c.RepairRate == 0 {
		c.RepairRate = d.RepairRate
	}
	switch {
	case c.DataDir == "":
		return errors.New("node config: DataDir is required")
	case c.Backend == nil:
		return errors.New("node config: Backend is required")
	case c.Capacity < 0:
		return errors.New("node config: Capacity must not be negative")
	case !(0 < c.CapacityShare && c.CapacityShare <= 1):
		return fmt.Errorf("node config: CapacityShare %v must be in (0, 1]", c.CapacityShare)
	case !(0 < c.LowWater && c.LowWater <= c.HighWater && c.HighWater <= 1):
		return fmt.Errorf("node config: want 0 < LowWater (%v) <= HighWater (%v) <= 1", c.LowWater, c.HighWater)
	case c.UploadWorkers < 0:
		return errors.New("node config: UploadWorkers must be positive")
	case c.Cluster != nil && c.Peers == nil:
		return errors.New("node config: Peers is required with Cluster")
	case c.Replicas < AllReplicas:
		return fmt.Errorf("node config: Replicas %d: want a positive count or AllReplicas", c.Replicas)
	}
	return nil
}
