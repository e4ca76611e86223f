package node

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/index"
)

// TestWriteBackUploadsItemSeenBeforeTableUpdate covers the window inside a
// write-back Put between its index commit and its table update: the queue
// item is in the index, so the uploader may read it, while the table still
// shows no object (or the previous version). An uploader that judged the
// item by the table without the key's lock took it for superseded, dropped
// it, and left the acknowledged object dirty and never uploaded, for good.
//
// The test does what Put does under the key's lock, with the window held
// open a few milliseconds for the uploader to read the queue in it. It
// cannot observe the uploader reaching the lock, so a slow uploader would
// let the bug through, but the fixed code passes however slow it is.
func TestWriteBackUploadsItemSeenBeforeTableUpdate(t *testing.T) {
	tn := newTestNode(t, func(c *Config) { c.WriteMode = WriteBack })
	ctx := context.Background()
	const keys = 10
	for i := range keys {
		key := fmt.Sprintf("k%02d", i)
		tmp, err := tn.store.NewTemp()
		if err != nil {
			t.Fatal(err)
		}
		body := []byte("body of " + key)
		if _, err := tmp.Write(body); err != nil {
			t.Fatal(err)
		}
		gen := newGen()
		if err := tmp.Place(bkt, key, gen); err != nil {
			t.Fatal(err)
		}
		tmp.Close()
		now := time.Now().UTC()
		info := core.Info{Bucket: bkt, Key: key, Size: int64(len(body)), ETag: tmp.ETag(), ModTime: now, Level: core.LevelBackend}
		e := index.Entry{Info: info, Gen: gen, State: index.Dirty, Atime: now, Validated: now}
		var b index.Batch
		b.SyncBodies()
		b.Enqueue(&index.Item{Op: index.OpPut, Bucket: bkt, Key: key, Gen: gen, Enqueued: now})
		b.Put(e)

		mu := tn.keyLock(bkt, key)
		mu.Lock()
		if err := tn.db.Commit(ctx, &b); err != nil {
			t.Fatal(err)
		}
		tn.up.added(1)                   // as another Put's would
		time.Sleep(5 * time.Millisecond) // the window, held open
		tn.apply(nil, &e)
		mu.Unlock()
	}

	eventually(t, "queue drained", func() bool { return tn.Stats().UploadQueueLength == 0 })
	for i := range keys {
		key := fmt.Sprintf("k%02d", i)
		if o := tn.lookup(bkt, key); o == nil || o.e.State != index.Clean {
			t.Errorf("%s: not clean after the queue drained", key)
		}
		obj, err := tn.be.Backend.Get(ctx, bkt, key, backend.GetOptions{})
		if err != nil {
			t.Errorf("%s not uploaded: %v", key, err)
			continue
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if want := "body of " + key; string(got) != want {
			t.Errorf("backend %s = %q, want %q", key, got, want)
		}
	}
}
