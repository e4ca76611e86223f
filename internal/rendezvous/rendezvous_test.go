package rendezvous

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestWeightGolden pins the weight function: these values were checked
// against an independent implementation, and a change to any of them
// would move keys between nodes across a rolling upgrade.
func TestWeightGolden(t *testing.T) {
	cases := []struct {
		node, key string
		want      uint64
	}{
		{"", "", 0x25fc6dd36ce04b20},
		{"node-a", "bucket/key", 0x6b7157b3485460fd},
		{"01J9Z8Q4T3V5X6Y7Z8A9B0C1D2", "photos/2026/01/cat.jpg", 0x1804f7f192579e8c},
		{"ab", "c", 0x9291f5e7171dc35a},
		{"a", "bc", 0x82a144826e72d59e},
	}
	for _, c := range cases {
		if got := Weight(c.node, c.key); got != c.want {
			t.Errorf("Weight(%q, %q) = %#x, want %#x", c.node, c.key, got, c.want)
		}
	}
}

func nodeNames(n int) []string {
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%02d", i)
	}
	return nodes
}

// sortedByWeight is the reference ordering Rank must produce.
func sortedByWeight(key string, nodes []string) []string {
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b string) int {
		wa, wb := Weight(a, key), Weight(b, key)
		switch {
		case wa > wb:
			return -1
		case wa < wb:
			return 1
		}
		return 0
	})
	return out
}

func TestRankTop(t *testing.T) {
	abc := []string{"a", "b", "c"}
	cases := []struct {
		name  string
		nodes []string
		n     int
		want  int // result length
	}{
		{"nil nodes", nil, 3, 0},
		{"empty nodes", []string{}, -1, 0},
		{"zero", abc, 0, 0},
		{"one", abc, 1, 1},
		{"two", abc, 2, 2},
		{"all", abc, 3, 3},
		{"more than all", abc, 10, 3},
		{"negative means all", abc, -1, 3},
		{"single node", []string{"only"}, 1, 1},
		{"at the stack limit", nodeNames(small), 5, 5},
		{"past the stack limit, some", nodeNames(small + 1), 5, 5},
		{"past the stack limit, all", nodeNames(200), -1, 200},
		{"many nodes, result past the stack limit", nodeNames(200), small + 1, small + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.nodes)
			for _, key := range []string{"", "k", "bucket/photos/1.jpg"} {
				got := Top(key, in, c.n)
				if len(got) != c.want {
					t.Fatalf("Top(%q, n=%d) has %d nodes, want %d", key, c.n, len(got), c.want)
				}
				if want := sortedByWeight(key, c.nodes)[:c.want]; !slices.Equal(got, want) {
					t.Fatalf("Top(%q, n=%d) = %v, want %v", key, c.n, got, want)
				}
				if !slices.Equal(in, c.nodes) {
					t.Fatalf("input modified: %v", in)
				}
				if c.n < 0 || c.n >= len(c.nodes) {
					if r := Rank(key, in); !slices.Equal(r, got) {
						t.Fatalf("Rank = %v, Top(all) = %v", r, got)
					}
				}
			}
		})
	}
}

func TestRankNewSlice(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	r := Rank("k", nodes)
	r[0] = "changed"
	if !slices.Equal(nodes, []string{"a", "b", "c"}) {
		t.Fatalf("Rank shares memory with its input: %v", nodes)
	}
}

func TestTies(t *testing.T) {
	// Duplicate names weigh the same; the order must still be total.
	got := Rank("k", []string{"b", "a", "b", "a"})
	if got[0] != got[1] || got[2] != got[3] || got[0] == got[2] {
		t.Fatalf("duplicates not adjacent: %v", got)
	}
	if !before(5, "a", 5, "b") || before(5, "b", 5, "a") || !before(6, "z", 5, "a") {
		t.Fatal("before does not break ties by name")
	}
}

func TestDeterministicAcrossInputOrder(t *testing.T) {
	nodes := nodeNames(10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		key := "key-" + strconv.Itoa(i)
		want := Rank(key, nodes)
		shuffled := slices.Clone(nodes)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Rank(key, shuffled); !slices.Equal(got, want) {
			t.Fatalf("%s: order depends on input order: %v vs %v", key, got, want)
		}
		if got := Top(key, shuffled, 3); !slices.Equal(got, want[:3]) {
			t.Fatalf("%s: Top(3) = %v, want %v", key, got, want[:3])
		}
	}
}

func TestMinimalDisruption(t *testing.T) {
	nodes := nodeNames(10)
	removed := nodes[3]
	rest := slices.Delete(slices.Clone(nodes), 3, 4)
	moved := 0
	for i := range 10000 {
		key := "bucket/object-" + strconv.Itoa(i)
		before := Rank(key, nodes)
		after := Rank(key, rest)
		if before[0] != removed {
			if after[0] != before[0] {
				t.Fatalf("%s moved from %s to %s though %s was removed", key, before[0], after[0], removed)
			}
			continue
		}
		moved++
		// The orphaned key goes to its second choice, so replicas
		// placed with Top(key, 2) already have it.
		if after[0] != before[1] {
			t.Fatalf("%s: new owner %s, want second choice %s", key, after[0], before[1])
		}
	}
	if moved < 800 || moved > 1200 {
		t.Fatalf("the removed node owned %d of 10000 keys, want about 1000", moved)
	}
}

func TestBalance(t *testing.T) {
	nodes := nodeNames(5)
	const keys = 100000
	owned := map[string]int{}
	for i := range keys {
		owned[Top("obj/"+strconv.Itoa(i), nodes, 1)[0]]++
	}
	for _, n := range nodes {
		share := float64(owned[n]) / keys
		if share < 0.17 || share > 0.23 {
			t.Errorf("%s owns %.1f%% of keys, want 20%%±3%%", n, 100*share)
		}
	}
}

func TestTopAllocations(t *testing.T) {
	for _, size := range []int{10, 200} {
		nodes := nodeNames(size)
		allocs := testing.AllocsPerRun(100, func() { _ = Top("bucket/key", nodes, 3) })
		if allocs > 1 {
			t.Errorf("Top over %d nodes allocates %.0f times, want only its result", size, allocs)
		}
	}
}

func BenchmarkTop(b *testing.B) {
	for _, size := range []int{5, 20, 100} {
		nodes := nodeNames(size)
		for _, n := range []int{1, 3} {
			b.Run(fmt.Sprintf("nodes=%d/n=%d", size, n), func(b *testing.B) {
				b.ReportAllocs()
				keys := make([]string, 1024)
				for i := range keys {
					keys[i] = "bucket/photos/2026/01/" + strconv.Itoa(i) + ".jpg"
				}
				for i := 0; b.Loop(); i++ {
					_ = Top(keys[i&1023], nodes, n)
				}
			})
		}
	}
}
