package sigv4

import "time"

// parseDate parses a time of signing in amzDateFormat ("20060102T150405Z")
// or a credential's day in scopeDateFormat ("20060102") as time.Parse
// does, faster for what every request sends: a string of the layout's
// length with digits in its places and values in range. Anything else goes
// to time.Parse, for its answer and its error.
func parseDate(layout, s string) (time.Time, error) {
	switch {
	case len(s) != len(layout):
	case layout == scopeDateFormat:
		if t, ok := date(s, 0, 0, 0); ok {
			return t, nil
		}
	case layout == amzDateFormat && s[8] == 'T' && s[15] == 'Z':
		h, ok1 := num(s[9:11])
		m, ok2 := num(s[11:13])
		sec, ok3 := num(s[13:15])
		if ok1 && ok2 && ok3 && h < 24 && m < 60 && sec < 60 {
			if t, ok := date(s[:8], h, m, sec); ok {
				return t, nil
			}
		}
	}
	return time.Parse(layout, s)
}

// date returns the UTC time of day "YYYYMMDD" at h:m:sec, false unless it
// is a valid date.
func date(s string, h, m, sec int) (time.Time, bool) {
	y, ok1 := num(s[:4])
	mon, ok2 := num(s[4:6])
	d, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 || mon < 1 || mon > 12 || d < 1 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mon), d, h, m, sec, 0, time.UTC)
	return t, t.Day() == d // else past the end of its month
}

// num returns the value of a string of decimal digits.
func num(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
