package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// FuzzEntryJSON checks that Entry.appendJSON encodes entries as
// json.Marshal does, byte for byte, and refuses what it refuses.
func FuzzEntryJSON(f *testing.F) {
	f.Add("bench", "through/1/12345", "5089b4ecfb7d87fd5a3c13972b41954b", "application/octet-stream", "", "01JABCDEFGHJKMNPQRSTVWXYZ0",
		"node-a", "", int64(4096), int64(1764806400123456789), uint64(5), uint8(0), uint8(1))
	f.Add("b", "a<b>&c\"d\\e\x00\x1f\x7f\u2028\u2029\xff\xfe€", "", "text/html; charset=utf-8", "name\n\t\r\b\f", "",
		"", "x-amz-meta-a=1&b=<2>&c=\xc3", int64(-1), int64(-1<<63), uint64(0), uint8(7), uint8(3))
	f.Add("", "", "", "", "", "", "", "k=v", int64(0), int64(0), uint64(1<<63), uint8(255), uint8(4))
	f.Add("b", "k", "", "", "", "", "", "", int64(1), int64(24*3600), uint64(0), uint8(1), uint8(0)) // a zone of 24 hours
	f.Fuzz(func(t *testing.T, bucket, key, etag, ctype, name, gen, origin, meta string, size, nanos int64, seq uint64, flags, state uint8) {
		at := time.Unix(0, nanos).UTC()
		if flags&1 != 0 {
			at = at.In(time.FixedZone("x", int(nanos%(100*3600))))
		}
		e := Entry{
			Info: core.Info{Bucket: bucket, Key: key, Size: size, ETag: etag, ContentType: ctype, ModTime: at,
				Name: name, Level: core.Level(int(state) - 2)},
			Gen: gen, State: State(state), Atime: at.Add(time.Duration(seq % 1e12)), Validated: time.Time{},
		}
		if flags&2 != 0 {
			e.Pack = Loc{Seg: seq, Off: size & (1<<63 - 1)}
		}
		if flags&4 != 0 {
			e.Pack = PendingLoc
		}
		if flags&8 != 0 {
			e.UserMeta = map[string]string{}
			for kv := range strings.SplitSeq(meta, "&") {
				k, v, _ := strings.Cut(kv, "=")
				e.UserMeta[k] = v
			}
		}
		if flags&16 != 0 {
			e.Header = map[string]string{"Cache-Control": name, "Expires": meta}
		}
		if flags&32 != 0 {
			e.Ver = journal.Version{Time: journal.Timestamp(seq), Origin: origin}
		}
		if flags&64 != 0 {
			e.Made = journal.Ref{Origin: origin, Seq: seq}
		}
		for i := range int(flags >> 6) {
			e.Holdings = append(e.Holdings, journal.Holding{Node: origin + key[:min(i, len(key))], Ver: e.Ver, Seq: seq + uint64(i)})
		}
		if got, want := string(e.Pack.appendJSON(nil)), fmt.Sprintf("\"%016x%016x\"", e.Pack.Seg, uint64(e.Pack.Off)); got != want {
			t.Fatalf("Loc %+v: appendJSON %s, want %s", e.Pack, got, want)
		}
		want, wantErr := json.Marshal(&e)
		got, err := e.appendJSON([]byte("prefix"))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendJSON error %v, json.Marshal %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("appendJSON:\n%s\njson.Marshal:\n%s", got[len("prefix"):], want)
		}
	})
}

// BenchmarkEntryJSON encodes a write-through PUT's entry.
func BenchmarkEntryJSON(b *testing.B) {
	e := benchEntry()
	for _, bc := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"json.Marshal", func() ([]byte, error) { return json.Marshal(&e) }},
		{"appendJSON", func() ([]byte, error) { return e.appendJSON(make([]byte, 0, entryJSONSize)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.enc(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchEntry() Entry {
	now := time.Date(2026, 12, 4, 19, 0, 13, 123456789, time.UTC)
	return Entry{
		Pack: Loc{Seg: 12, Off: 4096},
		Info: core.Info{Bucket: "bench", Key: "through/1/12345", Size: 4096, ETag: "5089b4ecfb7d87fd5a3c13972b41954b",
			ContentType: "application/octet-stream", ModTime: now, Level: core.LevelBackend},
		Gen: "01JABCDEFGHJKMNPQRSTVWXYZ0", State: Clean, Atime: now, Validated: now,
		Ver:  journal.Version{Time: 1 << 50, Origin: "node-a"},
		Made: journal.Ref{Origin: "node-a", Seq: 5},
	}
}
