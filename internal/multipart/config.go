package multipart

import (
	"errors"
	"log/slog"
	"time"
)

// Limits of S3.
const (
	// MaxParts is the highest part number.
	MaxParts = 10000
	// DefaultMinPartSize is the smallest size of a part that is not the
	// last of its upload.
	DefaultMinPartSize = 5 << 20
	// DefaultMaxPartSize is the largest part.
	DefaultMaxPartSize = 5 << 30
)

// Config configures a Store. A zero field takes its default.
type Config struct {
	// MaxAge is how long after its creation an upload that was neither
	// completed nor aborted is kept. Default 24h.
	MaxAge time.Duration
	// SweepInterval is how often uploads older than MaxAge are looked
	// for. Default a tenth of MaxAge, at least a second and at most 10
	// minutes.
	SweepInterval time.Duration
	// MinPartSize is the smallest a part other than the last may be in
	// Complete. Default DefaultMinPartSize (5 MiB), as S3.
	MinPartSize int64
	// MaxPartSize is the largest a part may be. Default DefaultMaxPartSize
	// (5 GiB), as S3.
	MaxPartSize int64
	// Now is the clock that dates uploads and parts. Default time.Now.
	Now func() time.Time
	// Logger receives what the sweep and Open remove; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		MaxAge:        24 * time.Hour,
		SweepInterval: 10 * time.Minute,
		MinPartSize:   DefaultMinPartSize,
		MaxPartSize:   DefaultMaxPartSize,
		Now:           time.Now,
	}
}

// withDefaults fills the zero fields of c and validates it.
func (c Config) withDefaults() (Config, error) {
	if c.MaxAge < 0 || c.SweepInterval < 0 || c.MinPartSize < 0 || c.MaxPartSize < 0 {
		return c, errors.New("multipart config: durations and sizes must not be negative")
	}
	d := DefaultConfig()
	if c.MaxAge == 0 {
		c.MaxAge = d.MaxAge
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = max(min(c.MaxAge/10, d.SweepInterval), time.Second)
	}
	if c.MinPartSize == 0 {
		c.MinPartSize = d.MinPartSize
	}
	if c.MaxPartSize == 0 {
		c.MaxPartSize = d.MaxPartSize
	}
	if c.MinPartSize > c.MaxPartSize {
		return c, errors.New("multipart config: MinPartSize is larger than MaxPartSize")
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
