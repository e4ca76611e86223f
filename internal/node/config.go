package node

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/objstore/objstore/internal/backend"
	"time"
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
	}
	return nil
}
