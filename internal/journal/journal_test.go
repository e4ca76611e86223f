package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/core"
)

func TestClockMonotonic(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := NewClock(func() time.Time { return wall })
	a := c.Now()
	b := c.Now()
	if !(b > a) || a.Time() != wall {
		t.Fatalf("readings %v %v", a, b)
	}
	// A remote clock ahead of ours: we read later than it afterwards.
	remote := MakeTimestamp(wall.Add(time.Hour)) + 7
	c.Observe(remote)
	if got := c.Now(); !(got > remote) {
		t.Fatalf("after observe %v: %v", remote, got)
	}
	// Wall time going backwards never makes readings go backwards.
	wall = wall.Add(-time.Minute)
	last := c.Now()
	for i := 0; i < 1000; i++ {
		n := c.Now()
		if n <= last {
			t.Fatalf("reading %d went back: %v after %v", i, n, last)
		}
		last = n
	}
}

func TestClockConcurrent(t *testing.T) {
	c := NewClock(nil)
	var mu sync.Mutex
	seen := map[Timestamp]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				ts := c.Now()
				mu.Lock()
				if seen[ts] {
					t.Errorf("duplicate reading %v", ts)
				}
				seen[ts] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func put(origin string, seq uint64, ts Timestamp, key string) *Event {
	return &Event{Origin: origin, Seq: seq, Time: ts, Kind: Put, Bucket: "b", Key: key,
		Info: core.Info{Bucket: "b", Key: key, Size: int64(seq), ETag: fmt.Sprintf("etag-%s-%d", origin, seq)}}
}

func TestViewLastWriterWins(t *testing.T) {
	cases := []struct {
		name   string
		events []*Event
		want   Version
		del    bool
		hold   []string
	}{
		{"later put wins", []*Event{put("A", 1, 10, "k"), put("B", 1, 20, "k")}, Version{20, "B"}, false, []string{"B"}},
		{"earlier put loses", []*Event{put("B", 1, 20, "k"), put("A", 1, 10, "k")}, Version{20, "B"}, false, []string{"B"}},
		{"tie broken by origin", []*Event{put("B", 1, 10, "k"), put("A", 1, 10, "k")}, Version{10, "B"}, false, []string{"B"}},
		{"delete after put", []*Event{put("A", 1, 10, "k"), {Origin: "B", Seq: 1, Time: 20, Kind: Delete, Bucket: "b", Key: "k"}}, Version{20, "B"}, true, nil},
		{"put after delete", []*Event{{Origin: "B", Seq: 1, Time: 20, Kind: Delete, Bucket: "b", Key: "k"}, put("A", 1, 30, "k")}, Version{30, "A"}, false, []string{"A"}},
		{"hold of current", []*Event{put("A", 1, 10, "k"), {Origin: "C", Seq: 1, Time: 11, Kind: Hold, Bucket: "b", Key: "k", Ver: Version{10, "A"}}}, Version{10, "A"}, false, []string{"A", "C"}},
		{"hold before its put", []*Event{{Origin: "C", Seq: 1, Time: 11, Kind: Hold, Bucket: "b", Key: "k", Ver: Version{10, "A"}}, put("A", 1, 10, "k")}, Version{10, "A"}, false, []string{"A", "C"}},
		{"hold of an old version", []*Event{put("A", 2, 30, "k"), {Origin: "C", Seq: 1, Time: 11, Kind: Hold, Bucket: "b", Key: "k", Ver: Version{10, "A"}}}, Version{30, "A"}, false, []string{"A"}},
		{"cache loses to a later put", []*Event{{Origin: "C", Seq: 1, Time: 50, Kind: Cache, Bucket: "b", Key: "k", Info: core.Info{ETag: "x", ModTime: time.UnixMilli(0)}}, put("A", 1, 10, "k")}, Version{10, "A"}, false, []string{"A"}},
		{"one backend version cached twice", []*Event{{Origin: "C", Seq: 1, Time: 50, Kind: Cache, Bucket: "b", Key: "k", Info: core.Info{ETag: "x", ModTime: time.UnixMilli(1)}}, {Origin: "D", Seq: 1, Time: 60, Kind: Cache, Bucket: "b", Key: "k", Info: core.Info{ETag: "x", ModTime: time.UnixMilli(1)}}}, Version{MakeTimestamp(time.UnixMilli(1)), BackendOrigin + "x"}, false, []string{"C", "D"}},
		{"drop", []*Event{put("A", 1, 10, "k"), {Origin: "A", Seq: 2, Time: 12, Kind: Drop, Bucket: "b", Key: "k", Ver: Version{10, "A"}}}, Version{10, "A"}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v View
			for _, e := range c.events {
				v.Apply(e)
			}
			if v.Ver != c.want || v.Deleted != c.del || !reflect.DeepEqual(v.Holders(), c.hold) {
				t.Fatalf("view %+v holders %v; want %v deleted=%v holders %v", v, v.Holders(), c.want, c.del, c.hold)
			}
			if !c.del && v.Info.Size != 0 && v.Info.ETag != fmt.Sprintf("etag-%s-%d", v.Ver.Origin, v.Info.Size) {
				t.Fatalf("info of the wrong put: %+v", v.Info)
			}
			for _, e := range c.events {
				if v.Apply(e) {
					t.Fatalf("applying %+v again changed the view", e)
				}
			}
		})
	}
}

// TestViewOrderIndependent applies random histories in random orders that
// keep each origin's events in Seq order: every order gives the same view,
// and the events the view needs rebuild it alone (compaction).
func TestViewOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	origins := []string{"A", "B", "C", "D"}
	for round := 0; round < 300; round++ {
		var ts Timestamp
		seqs := map[string]uint64{}
		last := map[string]Timestamp{}
		var history []*Event
		var vers []Version
		for i := 0; i < 2+rng.IntN(12); i++ {
			o := origins[rng.IntN(len(origins))]
			seqs[o]++
			// Equal times happen across origins; one origin's clock
			// strictly increases.
			ts += Timestamp(rng.IntN(3))
			ts = max(ts, last[o]+1)
			last[o] = ts
			e := &Event{Origin: o, Seq: seqs[o], Time: ts, Bucket: "b", Key: "k"}
			switch r := rng.IntN(11); {
			case r == 10:
				e.Kind = Cache
				e.Info = core.Info{ETag: fmt.Sprint(rng.IntN(2)), ModTime: time.UnixMilli(int64(rng.IntN(6)))}
				vers = append(vers, e.Version())
			case r < 4 || len(vers) == 0:
				e.Kind = Put
				e.Info = core.Info{Size: int64(i), ETag: fmt.Sprint(i)}
				vers = append(vers, e.Version())
			case r < 6:
				e.Kind = Delete
				vers = append(vers, e.Version())
			case r < 9:
				e.Kind, e.Ver = Hold, vers[rng.IntN(len(vers))]
			default:
				e.Kind, e.Ver = Drop, vers[rng.IntN(len(vers))]
			}
			history = append(history, e)
		}
		var ref View
		for _, e := range history {
			ref.Apply(e)
		}
		for perm := 0; perm < 10; perm++ {
			var v View
			for _, e := range interleave(rng, history) {
				v.Apply(e)
			}
			if !reflect.DeepEqual(v, ref) {
				t.Fatalf("round %d: order changed the view:\n%+v\n%+v\nhistory %v", round, v, ref, dump(history))
			}
		}
		var compact View
		needed := map[Ref]bool{}
		for _, r := range ref.Refs() {
			needed[r] = true
		}
		for _, e := range history {
			if ref.Needs(e) != needed[Ref{e.Origin, e.Seq}] {
				t.Fatalf("round %d: Needs and Refs disagree on %s/%d", round, e.Origin, e.Seq)
			}
			if ref.Needs(e) {
				compact.Apply(e)
			}
		}
		if !reflect.DeepEqual(compact, ref) {
			t.Fatalf("round %d: compacted view %+v, full %+v\nhistory %v", round, compact, ref, dump(history))
		}
		// Pruning keeps the holders, and what the pruned view needs
		// rebuilds it.
		pruned := ref.Clone()
		pruned.Prune()
		if !reflect.DeepEqual(pruned.Holders(), ref.Holders()) || pruned.Ver != ref.Ver || pruned.Deleted != ref.Deleted {
			t.Fatalf("round %d: pruning changed the view: %+v, was %+v", round, pruned, ref)
		}
		var rebuilt View
		for _, e := range history {
			if pruned.Needs(e) {
				rebuilt.Apply(e)
			}
		}
		rebuilt.Prune()
		if !reflect.DeepEqual(rebuilt, pruned) {
			t.Fatalf("round %d: rebuilt from a pruned view %+v, pruned %+v\nhistory %v", round, rebuilt, pruned, dump(history))
		}
	}
}

// interleave shuffles events while keeping each origin's in order.
func interleave(rng *rand.Rand, events []*Event) []*Event {
	queues := map[string][]*Event{}
	var origins []string
	for _, e := range events {
		if queues[e.Origin] == nil {
			origins = append(origins, e.Origin)
		}
		queues[e.Origin] = append(queues[e.Origin], e)
	}
	var out []*Event
	for len(out) < len(events) {
		o := origins[rng.IntN(len(origins))]
		if q := queues[o]; len(q) > 0 {
			out = append(out, q[0])
			queues[o] = q[1:]
		}
	}
	return out
}

func dump(events []*Event) string {
	var b bytes.Buffer
	for _, e := range events {
		fmt.Fprintf(&b, "\n  %s/%d t=%d %s ver=%v", e.Origin, e.Seq, e.Time, e.Kind, e.Version())
	}
	return b.String()
}

func sampleEvents() []*Event {
	mod := time.Date(2026, 12, 1, 10, 0, 0, 123_000_000, time.UTC)
	return []*Event{
		{Origin: "01ORIGINA", Seq: 1, Time: 1 << 20, Kind: Put, Bucket: "bkt", Key: "ключ/日本",
			Info: core.Info{Bucket: "bkt", Key: "ключ/日本", Size: 4096, ETag: "0123456789abcdef0123456789abcdef", ContentType: "text/plain",
				ModTime: mod, UserMeta: map[string]string{"owner": "ann"}, Header: map[string]string{"Cache-Control": "no-store"}, Name: "a.txt", Level: core.LevelAll}},
		{Origin: "01ORIGINA", Seq: 2, Time: 1<<20 + 1, Kind: Delete, Bucket: "bkt", Key: "k"},
		{Origin: "01ORIGINB", Seq: 9, Time: 1<<21 + 3, Kind: Hold, Bucket: "bkt", Key: "k", Ver: Version{1 << 20, "01ORIGINA"}},
		{Origin: "01ORIGINB", Seq: 10, Time: 1<<21 + 4, Kind: Drop, Bucket: "bkt", Key: "k", Ver: Version{1 << 20, "01ORIGINA"}},
		{Origin: "01ORIGINC", Seq: 1, Time: 5, Kind: Put, Bucket: "bkt", Key: "empty", Info: core.Info{Bucket: "bkt", Key: "empty"}},
		{Origin: "01ORIGINC", Seq: 2, Time: 6, Kind: Cache, Bucket: "bkt", Key: "c", Info: core.Info{Bucket: "bkt", Key: "c", Size: 1, ETag: "e", ModTime: mod}},
	}
}

func TestBodyRoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		b := AppendBody(nil, e)
		got := Event{Origin: e.Origin, Seq: e.Seq}
		if err := DecodeBody(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, *e)
		}
		for i := 0; i < len(b); i++ {
			var x Event
			if err := DecodeBody(b[:i], &x); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: truncated to %d bytes decoded: %v", e.Kind, i, err)
			}
		}
	}
}

func TestVectorRoundTrip(t *testing.T) {
	v := Vector{"A": 1, "B": 1 << 40, "C": 0}
	got, err := DecodeVector(AppendVector(nil, v))
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := DecodeVector([]byte{200}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt vector decoded: %v", err)
	}
	w := Vector{"A": 2, "D": 1}
	m := v.Clone()
	m.Merge(w)
	if !reflect.DeepEqual(m, Vector{"A": 2, "B": 1 << 40, "C": 0, "D": 1}) || !m.Covers(v) || !m.Covers(w) || v.Covers(w) {
		t.Fatalf("merge/covers: %v", m)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	sw := NewStreamWriter(&buf, true)
	events := sampleEvents()
	declared := map[string]bool{}
	for _, e := range events {
		if !declared[e.Origin] {
			declared[e.Origin] = true
			if err := sw.Origin(e.Origin, e.Seq-1); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Event(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Upto("01ORIGINB", 12); err != nil {
		t.Fatal(err)
	}
	if err := sw.Event(&Event{Origin: "undeclared"}); err == nil {
		t.Fatal("event of an undeclared origin written")
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	sr, err := NewStreamReader(bytes.NewReader(data))
	if err != nil || !sr.Snapshot() {
		t.Fatalf("header: %v", err)
	}
	var got []*Event
	var upto uint64
	for {
		var f Frame
		err := sr.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch f.Kind {
		case FrameEvent:
			e := f.Event
			got = append(got, &e)
		case FrameUpto:
			upto = f.Seq
		}
	}
	if !reflect.DeepEqual(got, events) || upto != 12 {
		t.Fatalf("stream round trip: upto %d\n%v", upto, dump(got))
	}
	// Every truncation is an error, never a silent end.
	for i := 0; i < len(data)-1; i++ {
		sr, err := NewStreamReader(bytes.NewReader(data[:i]))
		if err != nil {
			continue
		}
		for {
			var f Frame
			err = sr.Next(&f)
			if err != nil {
				break
			}
		}
		if err == io.EOF {
			t.Fatalf("stream truncated to %d of %d bytes read as complete", i, len(data))
		}
	}
}

// FuzzStream: no input makes the reader panic or loop.
func FuzzStream(f *testing.F) {
	var buf bytes.Buffer
	sw := NewStreamWriter(&buf, false)
	for _, e := range sampleEvents()[:2] {
		if e.Seq == 1 {
			sw.Origin(e.Origin, 0)
		}
		sw.Event(e)
	}
	sw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("OJ1\x00\x01\x02AB\x00\x02\x00\x01\x00\x00\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := NewStreamReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < len(data)+1; i++ {
			var fr Frame
			if err := sr.Next(&fr); err != nil {
				return
			}
		}
		t.Fatal("more frames than bytes")
	})
}
