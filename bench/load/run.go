package main

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is what load prints, as JSON. Latencies are in milliseconds.
type result struct {
	Mode        string  `json:"mode"`
	Size        int     `json:"size"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"` // measured requests that succeeded
	Errors      int     `json:"errors"`   // measured requests that failed
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"` // Requests / Seconds
	MeanMS      float64 `json:"mean_ms"`
	P50MS       float64 `json:"p50_ms"`
	P90MS       float64 `json:"p90_ms"`
	P99MS       float64 `json:"p99_ms"`
	MaxMS       float64 `json:"max_ms"`
}

// tally collects the outcome of requests from many workers.
type tally struct {
	mu       sync.Mutex
	lat      []time.Duration
	errors   int
	firstErr error
}

func (t *tally) add(d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.errors++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	t.lat = append(t.lat, d)
}

// result summarises the tally over a measured time of elapsed.
func (t *tally) result(elapsed time.Duration) result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := result{Requests: len(t.lat), Errors: t.errors, Seconds: elapsed.Seconds()}
	if t.firstErr != nil {
		r.FirstError = t.firstErr.Error()
	}
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	if len(t.lat) == 0 {
		return r
	}
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// Nearest rank: the smallest sample with at least p of them at or below it.
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.999999) - 1
		return ms(lat[max(0, min(i, len(lat)-1))])
	}
	r.MeanMS = ms(sum / time.Duration(len(lat)))
	r.P50MS, r.P90MS, r.P99MS = pct(0.50), pct(0.90), pct(0.99)
	r.MaxMS = ms(lat[len(lat)-1])
	return r
}

// runCount calls op for i in [0, count), conc calls at a time, timing each
// but those with i < skip, which only warm up.
func runCount(ctx context.Context, conc, count, skip int, op func(ctx context.Context, i int) error) result {
	r, _ := runPairs(ctx, conc, count, skip, op, nil)
	return r
}

// runPairs is runCount of a and, when b is not nil, of b in turns: a(i)
// then b(i) for even i, b(i) then a(i) for odd i, each timed apart.
func runPairs(ctx context.Context, conc, count, skip int, a, b func(ctx context.Context, i int) error) (ra, rb result) {
	var (
		ta, tb tally
		next   atomic.Int64
		start  atomic.Int64 // when request skip began, in Unix ns
		wg     sync.WaitGroup
	)
	timed := func(t *tally, op func(ctx context.Context, i int) error, i int) {
		t0 := time.Now()
		err := op(ctx, i)
		if i >= skip {
			t.add(time.Since(t0), err)
		}
	}
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				if i == skip {
					start.Store(time.Now().UnixNano())
				}
				switch {
				case b == nil:
					timed(&ta, a, i)
				case i%2 == 0:
					timed(&ta, a, i)
					timed(&tb, b, i)
				default:
					timed(&tb, b, i)
					timed(&ta, a, i)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(time.Unix(0, start.Load()))
	return ta.result(elapsed), tb.result(elapsed)
}

// runTimed runs conc workers that call op(ctx, worker, i) with i = 0, 1, …
// for warmup plus duration, and counts the calls that end within duration
// after warmup. Calls still running at the end are cancelled, uncounted.
func runTimed(ctx context.Context, conc int, warmup, duration time.Duration, op func(ctx context.Context, w, i int) error) result {
	var (
		t  tally
		wg sync.WaitGroup
	)
	begin := time.Now()
	from, to := begin.Add(warmup), begin.Add(warmup+duration)
	ctx, cancel := context.WithDeadline(ctx, to)
	defer cancel()
	for w := range conc {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := op(ctx, w, i)
				t1 := time.Now()
				if t0.Before(from) && t1.Before(from) {
					continue // warm-up
				}
				if t1.After(to) || ctx.Err() != nil {
					return
				}
				t.add(t1.Sub(t0), err)
			}
		})
	}
	wg.Wait()
	return t.result(duration)
}

// randomBody returns size bytes that do not compress.
func randomBody(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}
