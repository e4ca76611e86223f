package node

import (
	"bytes"
	"testing"

	"github.com/objstore/objstore/internal/core"
)

// TestClusterPeerReadNotKept: without cache on read, a node serves a
// peer's copy (held in memory, not in a temp file) byte for byte, keeps
// no copy and leaves no temp file, every time.
func TestClusterPeerReadNotKept(t *testing.T) {
	tc := newTestCluster(t, 2, func(c *Config) { c.NoCacheOnRead = true })
	a, b := tc.nodes[0], tc.nodes[1]
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
	for _, key := range []string{"empty", "small", "big"} {
		body := map[string][]byte{"small": []byte("on a only"), "big": big}[key]
		a.put(t, key, body, func(in *core.Info) { in.Level = core.LevelLocal })
		eventually(t, "b learns of "+key, func() bool { return b.lookup(bkt, key) != nil })
		for range 3 {
			got, obj, err := b.read(t, key, GetOptions{})
			if err != nil || !bytes.Equal(got, body) || obj.Source != FromPeer {
				t.Fatalf("%s: %d bytes from %v, %v", key, len(got), obj, err)
			}
		}
		if o := b.lookup(bkt, key); o.hasBody() {
			t.Fatalf("%s: b kept a copy", key)
		}
	}
	if tmp := tempFiles(t, b.Node); len(tmp) > 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if m := b.fillMem.Load(); m != 0 {
		t.Fatalf("%d bytes of fill bodies still counted in memory", m)
	}
}
