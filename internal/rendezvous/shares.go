package rendezvous

import (
	"math"
	"slices"
)

// TopShares is Top for nodes that should hold unequal shares of the keys:
// shares[i] is the relative share of nodes[i] (its cache capacity, say),
// and a node owns about shares[i]/Σshares of the keys. It is weighted
// rendezvous hashing: node i scores shares[i] / -ln(u) for key, u being
// its Weight mapped into (0, 1), and the highest scores rank first. With
// all shares equal the ranking is exactly Top's. A share of 0 counts as 1.
//
// The scores use math.Log, so two nodes could rank a key differently only
// if their platforms' logarithms differed in the last bit exactly where two
// scores meet: a tie of two random 53-bit numbers.
func TopShares(key string, nodes []string, shares []uint64, n int) []string {
	if len(shares) != len(nodes) {
		panic("rendezvous: one share per node")
	}
	if !slices.ContainsFunc(shares, func(s uint64) bool { return max(s, 1) != max(shares[0], 1) }) {
		return Top(key, nodes, n)
	}
	if n < 0 || n > len(nodes) {
		n = len(nodes)
	}
	if n == 0 {
		return nil
	}
	type scored struct {
		score float64
		w     uint64
		node  string
	}
	ss := make([]scored, len(nodes))
	for i, node := range nodes {
		w := Weight(node, key)
		u := (float64(w>>11) + 0.5) / (1 << 53) // in (0, 1)
		ss[i] = scored{float64(max(shares[i], 1)) / -math.Log(u), w, node}
	}
	slices.SortFunc(ss, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case before(a.w, a.node, b.w, b.node):
			return -1
		case before(b.w, b.node, a.w, a.node):
			return 1
		}
		return 0
	})
	out := make([]string, n)
	for i := range out {
		out[i] = ss[i].node
	}
	return out
}
