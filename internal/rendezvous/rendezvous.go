package rendezvous

import "slices"

// FNV-1a 64-bit parameters.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Weight is the weight of node for key: FNV-1a 64 over the bytes of node,
// one zero byte and the bytes of key, passed through the splitmix64
// finalizer. FNV-1a alone mixes its last bytes poorly into the high bits,
// so keys that differ only at the end would rank nodes alike; the
// finalizer spreads every input bit over the whole word. The zero byte
// keeps ("ab", "c") and ("a", "bc") apart.
func Weight(node, key string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= fnvPrime
	}
	h *= fnvPrime // h ^= 0 is a no-op
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime
	}
	// splitmix64 finalizer.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// before reports whether node a (weight wa) ranks before node b (weight
// wb): heavier first, and on equal weights the smaller name, so the order
// is total and the same everywhere.
func before(wa uint64, a string, wb uint64, b string) bool {
	if wa != wb {
		return wa > wb
	}
	return a < b
}

// small is the result length up to which weights live on the stack and a
// bounded insertion sort beats a general sort.
const small = 64

// Rank returns nodes ordered by descending weight for key, the owner
// first. The result is a new slice; nodes is not modified.
func Rank(key string, nodes []string) []string {
	return Top(key, nodes, -1)
}

// Top returns the first n nodes of Rank(key, nodes): the n that should
// hold key, in order of preference. It returns all of them when n < 0 or
// n >= len(nodes), and nil when n == 0 or nodes is empty. The result is a
// new slice; nodes is not modified. Apart from the result it allocates
// nothing when n <= 64.
func Top(key string, nodes []string, n int) []string {
	if n < 0 || n > len(nodes) {
		n = len(nodes)
	}
	if n == 0 {
		return nil
	}
	if n > small {
		return rankLarge(key, nodes)[:n:n]
	}
	// A bounded insertion sort: out and ws hold the best n so far, in
	// order. O(len(nodes) * n) at worst, O(len(nodes)) mostly, as few
	// nodes beat the n-th best once it is good.
	var buf [small]uint64
	ws := buf[:0]
	out := make([]string, 0, n)
	for _, node := range nodes {
		w := Weight(node, key)
		if len(out) == n && !before(w, node, ws[n-1], out[n-1]) {
			continue
		}
		i := len(out)
		if i < n {
			out = append(out, "")
			ws = append(ws, 0)
		} else {
			i-- // drop the last
		}
		for ; i > 0 && before(w, node, ws[i-1], out[i-1]); i-- {
			out[i], ws[i] = out[i-1], ws[i-1]
		}
		out[i], ws[i] = node, w
	}
	return out
}

type weighted struct {
	w    uint64
	node string
}

func rankLarge(key string, nodes []string) []string {
	ws := make([]weighted, len(nodes))
	for i, node := range nodes {
		ws[i] = weighted{Weight(node, key), node}
	}
	slices.SortFunc(ws, func(a, b weighted) int {
		switch {
		case before(a.w, a.node, b.w, b.node):
			return -1
		case before(b.w, b.node, a.w, a.node):
			return 1
		}
		return 0
	})
	out := make([]string, len(ws))
	for i := range ws {
		out[i] = ws[i].node
	}
	return out
}
