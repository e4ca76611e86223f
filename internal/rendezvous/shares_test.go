package rendezvous

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestTopSharesEqualIsTop(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	for i := 0; i < 2000; i++ {
		key := fmt.Sprint("key-", i)
		for _, s := range []uint64{0, 1, 7} {
			got := TopShares(key, nodes, []uint64{s, s, s, s, s}, 3)
			if want := Top(key, nodes, 3); !slices.Equal(got, want) {
				t.Fatalf("%s, shares all %d: %v, Top gives %v", key, s, got, want)
			}
		}
	}
}

// TestTopSharesProportional: owners follow the shares, and the ranking does
// not depend on the order of the node list.
func TestTopSharesProportional(t *testing.T) {
	nodes := []string{"small", "medium", "large"}
	shares := []uint64{1, 2, 5}
	owned := map[string]int{}
	const keys = 80000
	for i := 0; i < keys; i++ {
		key := fmt.Sprint("object/", i)
		top := TopShares(key, nodes, shares, 2)
		owned[top[0]]++
		rev := TopShares(key, []string{"large", "medium", "small"}, []uint64{5, 2, 1}, 2)
		if !slices.Equal(top, rev) {
			t.Fatalf("%s: %v, reversed list gives %v", key, top, rev)
		}
		if top[0] == top[1] {
			t.Fatalf("%s: %v names a node twice", key, top)
		}
	}
	for i, node := range nodes {
		want := float64(keys) * float64(shares[i]) / 8
		if got := float64(owned[node]); math.Abs(got-want) > 0.05*want {
			t.Errorf("%s owns %.0f keys, want about %.0f", node, got, want)
		}
	}
}

// TestTopSharesMinimalDisruption: removing a node moves only its keys.
func TestTopSharesMinimalDisruption(t *testing.T) {
	nodes := []string{"a", "b", "c", "d"}
	shares := []uint64{10, 20, 30, 40}
	for i := 0; i < 5000; i++ {
		key := fmt.Sprint("k", i)
		before := TopShares(key, nodes, shares, 1)[0]
		after := TopShares(key, nodes[:3], shares[:3], 1)[0]
		if before != "d" && after != before {
			t.Fatalf("%s moved from %s to %s when d left", key, before, after)
		}
	}
	if got := TopShares("k", nodes, shares, 0); got != nil {
		t.Fatalf("n=0: %v", got)
	}
	if got := TopShares("k", nodes, shares, 9); len(got) != 4 {
		t.Fatalf("n>len: %v", got)
	}
}
