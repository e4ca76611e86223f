package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
)

// TestWriteBackUploadsEveryConcurrentPut races write-back PUTs against the
// uploader: the queue item of a PUT is visible to the uploader from the
// index commit on, before the PUT has updated the in-memory table. An
// uploader that judged the item by the table without taking the key's lock
// saw no object (or the previous version), took the item for superseded,
// dropped it, and left the acknowledged object dirty and never uploaded.
//
// The race needs the uploader to read the queue inside that window, so
// this test catches the bug in most runs, not all; it never fails without
// it.
func TestWriteBackUploadsEveryConcurrentPut(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.WriteMode = WriteBack })
	const writers, keys = 32, 16
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range keys {
				key := fmt.Sprintf("w%02d/k%02d", w, i)
				for v := range 2 { // a new key, then an overwrite
					body := []byte(fmt.Sprintf("%s v%d", key, v))
					info := core.Info{Bucket: bkt, Key: key, Level: core.LevelBackend}
					if _, err := tn.Put(context.Background(), info, bytes.NewReader(body), int64(len(body))); err != nil {
						t.Errorf("put %s: %v", key, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "queue drained", func() bool { return tn.Stats().UploadQueueLength == 0 })
	for w := range writers {
		for i := range keys {
			key := fmt.Sprintf("w%02d/k%02d", w, i)
			if o := tn.lookup(bkt, key); o == nil || o.e.State != index.Clean {
				t.Errorf("%s: not clean after the queue drained: %+v", key, o)
				continue
			}
			obj, err := tn.be.Backend.Get(context.Background(), bkt, key, backend.GetOptions{})
			if err != nil {
				t.Errorf("%s not uploaded: %v", key, err)
				continue
			}
			b, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if want := fmt.Sprintf("%s v1", key); string(b) != want {
				t.Errorf("backend %s = %q, want %q", key, b, want)
			}
		}
	}
}
