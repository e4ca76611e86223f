package sigv4

import (
	"fmt"
	"testing"
	"time"
)

// FuzzParseDate checks parseDate against time.Parse, with both layouts.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"20260314T150926Z", "20260314", "20260229T000000Z", "20240229T235959Z", "20260431", "20260001", "20261301",
		"20260314T240000Z", "20260314T156000Z", "20260314T150960Z", "20260314T150926.5Z", "2026031T150926Z",
		"+0260314T150926Z", "20260314t150926z", "00000101", "", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, layout := range []string{amzDateFormat, scopeDateFormat} {
			got, err := parseDate(layout, s)
			want, werr := time.Parse(layout, s)
			if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || !got.Equal(want) || got.Location() != want.Location() {
				t.Fatalf("parseDate(%q, %q) = %v, %v; time.Parse: %v, %v", layout, s, got, err, want, werr)
			}
		}
	})
}

// TestDateEveryDay checks date against time.Date on every day of the
// months of 1960-2500, and on the days past their ends.
func TestDateEveryDay(t *testing.T) {
	for y := 1960; y <= 2500; y++ {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= 31; d++ {
				s := fmt.Sprintf("%04d%02d%02d", y, m, d)
				got, ok := date(s, 23, 59, 58)
				want := time.Date(y, time.Month(m), d, 23, 59, 58, 0, time.UTC)
				if wantOK := want.Day() == d; ok != wantOK || ok && !got.Equal(want) {
					t.Fatalf("date(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
				}
			}
		}
	}
}
