package node

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/objstore/objstore/internal/index"
)

// Small bodies live in the index's log (see logBody); a segment of it goes
// once no entry names a body in it. compactLoop moves the bodies still
// named out of the segments where they fill less than compactRatio of the
// bytes, so that overwritten, deleted and evicted small objects give
// their disk space back: the log takes at most about 1/compactRatio of
// the bytes of the small bodies it holds, plus the segment being written.
const (
	compactEvery = 30 * time.Second
	compactRatio = 0.5
)

func (n *Node) compactLoop() {
	defer n.wg.Done()
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if moved, err := n.compact(n.ctx); err != nil && n.ctx.Err() == nil {
			n.log.Warn("move small bodies out of sparse log segments", "moved", moved, "err", err)
		}
	}
}

// compact moves the bodies out of the sparse segments of the log and
// returns how many it moved.
func (n *Node) compact(ctx context.Context) (int, error) {
	moved := 0
	for _, seg := range n.db.Sparse(compactRatio) {
		var objs []*object
		n.mu.RLock()
		for _, o := range n.objects {
			if o.hasBody() && !o.e.Pack.IsZero() && o.e.Pack.Seg == seg {
				objs = append(objs, o)
			}
		}
		n.mu.RUnlock()
		for _, o := range objs {
			if err := n.move(ctx, o); err != nil {
				return moved, err
			}
			moved++
		}
	}
	return moved, nil
}

// move writes o's body anew at the end of the log, unless o changed.
func (n *Node) move(ctx context.Context, o *object) error {
	mu := n.keyLock(o.e.Bucket, o.e.Key)
	mu.Lock()
	defer mu.Unlock()
	if n.lookup(o.e.Bucket, o.e.Key) != o {
		return nil
	}
	r, done, err := n.db.OpenBody(o.e.Pack, o.e.Size)
	if err != nil {
		return fmt.Errorf("move %q: %w", o.e.Key, err)
	}
	data := make([]byte, o.e.Size)
	_, err = io.ReadFull(r, data)
	done()
	if err != nil {
		return fmt.Errorf("move %q: %w", o.e.Key, err)
	}
	e := o.e
	e.Atime = timeFromNanos(o.atime.Load())
	e.Pack = index.PendingLoc
	var b index.Batch
	b.Body(e.Bucket, e.Key, e.Gen, data)
	b.Put(e)
	if err := n.publish(ctx, &b, change{o, &e}); err != nil {
		return fmt.Errorf("move %q: %w", o.e.Key, err)
	}
	return nil
}
