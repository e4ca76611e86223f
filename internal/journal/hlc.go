package journal

import (
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: milliseconds since the Unix
// epoch in the high 48 bits and a logical counter in the low 16. Readings
// of one Clock strictly increase, and a Clock that observed a remote
// Timestamp reads later than it afterwards, so causally later events
// always compare greater, whatever the skew between machines.
type Timestamp uint64

const logicalBits = 16

// MakeTimestamp returns the Timestamp of wall time t with logical count 0.
func MakeTimestamp(t time.Time) Timestamp {
	return Timestamp(uint64(t.UnixMilli()) << logicalBits)
}

// Time is the wall-clock part of ts.
func (ts Timestamp) Time() time.Time { return time.UnixMilli(int64(ts >> logicalBits)) }

// Clock is a hybrid logical clock. It is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	last Timestamp
	now  func() time.Time
}

// NewClock returns a clock reading wall time from now (time.Now if nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns a Timestamp greater than every one Now returned or Observe
// saw before.
func (c *Clock) Now() Timestamp {
	wall := MakeTimestamp(c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last {
		c.last = wall
	} else {
		c.last++
	}
	return c.last
}

// Observe moves the clock past a Timestamp received from another node.
func (c *Clock) Observe(ts Timestamp) {
	c.mu.Lock()
	if ts > c.last {
		c.last = ts
	}
	c.mu.Unlock()
}
