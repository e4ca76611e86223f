package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
)

func benchNode(b *testing.B, mode WriteMode) *Node {
	b.Helper()
	root := b.TempDir()
	fb, err := fsbackend.New(filepath.Join(root, "origin"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Backend, cfg.Capacity, cfg.WriteMode = filepath.Join(root, "data"), fb, 1<<40, mode
	n, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	return n
}

// BenchmarkPut measures 4 KiB PUTs from 32 concurrent writers: the node's
// own cost (temp file, MD5, fsyncs, group commit), without HTTP.
func BenchmarkPut(b *testing.B) {
	for _, mode := range []WriteMode{WriteBack, WriteThrough} {
		b.Run(mode.String(), func(b *testing.B) {
			n := benchNode(b, mode)
			body := bytes.Repeat([]byte("x"), 4096)
			var seq atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					info := core.Info{Bucket: "bench", Key: fmt.Sprint("k", seq.Add(1)), Level: core.LevelBackend}
					if _, err := n.Put(context.Background(), info, bytes.NewReader(body), int64(len(body))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetHit measures local hits of one 4 KiB object, read whole.
func BenchmarkGetHit(b *testing.B) {
	n := benchNode(b, WriteThrough)
	body := bytes.Repeat([]byte("x"), 4096)
	info := core.Info{Bucket: "bench", Key: "hot", Level: core.LevelBackend}
	if _, err := n.Put(context.Background(), info, bytes.NewReader(body), int64(len(body))); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 8192)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obj, err := n.Get(context.Background(), "bench", "hot", GetOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			io.ReadFull(obj.Content, buf[:4096])
			obj.Close()
		}
	})
}

// BenchmarkMiss measures sequential reads of keys the node has never seen,
// each read whole: the fill path, from backend GET to the last byte.
func BenchmarkMiss(b *testing.B) {
	n := benchNode(b, WriteThrough)
	body := bytes.Repeat([]byte("m"), 4096)
	for i := 0; i < b.N; i++ {
		if _, err := n.backend.Put(context.Background(), "bench", fmt.Sprint("m", i), bytes.NewReader(body), int64(len(body)), core.Info{}); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		obj, err := n.Get(context.Background(), "bench", fmt.Sprint("m", i), GetOptions{ReadThrough: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(obj.Content, buf); err != nil {
			b.Fatal(err)
		}
		obj.Close()
	}
}

// BenchmarkPeerHit measures reads, from 32 concurrent readers, of 4 KiB
// objects held by another node of an in-process cluster (over the peer
// client and server on loopback, as cmd/objstore sets them up) on a node
// that keeps no copy: both nodes' cost, the peer protocol's included.
func BenchmarkPeerHit(b *testing.B) {
	tc := newTestCluster(b, 2, func(c *Config) { c.NoCacheOnRead = true })
	body := bytes.Repeat([]byte("p"), 4096)
	const keys = 128
	for i := 0; i < keys; i++ {
		tc.nodes[1].put(b, fmt.Sprint("peer/", i), body, func(in *core.Info) { in.Level = core.LevelLocal })
	}
	reader := tc.nodes[0]
	eventually(b, "the reader knows every object", func() bool { return reader.lookup(bkt, fmt.Sprint("peer/", keys-1)) != nil })
	var seq atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			obj, err := reader.Get(context.Background(), bkt, fmt.Sprint("peer/", seq.Add(1)%keys), GetOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(obj.Content, buf); err != nil || obj.Source != FromPeer {
				b.Errorf("read: %v, source %v", err, obj.Source)
			}
			obj.Close()
		}
	})
}
