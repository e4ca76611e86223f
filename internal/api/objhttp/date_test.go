package objhttp

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

func TestHTTPDateAsTimeFormat(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0),
		time.Date(2026, 12, 3, 16, 22, 15, 999_999_999, time.UTC),
		time.Date(1999, 2, 28, 23, 59, 59, 0, time.FixedZone("x", -7*3600)),
		time.Date(2000, 2, 29, 0, 0, 0, 0, time.FixedZone("y", 5*3600+1800)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(5, 7, 9, 1, 2, 3, 0, time.UTC),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(400*365*86400)-100*365*86400, r.Int64N(1e9)))
	}
	for _, tm := range times {
		if got, want := HTTPDate(tm), tm.UTC().Format(http.TimeFormat); got != want {
			t.Fatalf("HTTPDate(%v) = %q, want %q", tm, got, want)
		}
	}
}

func BenchmarkHTTPDate(b *testing.B) {
	tm := time.Date(2026, 12, 3, 16, 22, 15, 0, time.UTC)
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			_ = HTTPDate(tm)
		}
	})
	b.Run("time.Format", func(b *testing.B) {
		for b.Loop() {
			_ = tm.UTC().Format(http.TimeFormat)
		}
	})
}
