package sigv4

import (
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
