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
// is a valid date. The days since 1970 are counted here rather than by
// time.Date, which costs five times as much on the path of every signed
// request; years before 1970 go to time.Date.
func date(s string, h, m, sec int) (time.Time, bool) {
	y, ok1 := num(s[:4])
	mon, ok2 := num(s[4:6])
	d, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 || mon < 1 || mon > 12 || d < 1 {
		return time.Time{}, false
	}
	if y < 1970 {
		t := time.Date(y, time.Month(mon), d, h, m, sec, 0, time.UTC)
		return t, t.Day() == d // else past the end of its month
	}
	if last := monthDays[mon]; d > last && !(mon == 2 && d == 29 && y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
		return time.Time{}, false
	}
	// Days since 0000-03-01 of the day (a year that starts in March
	// puts the leap day last), less those of 1970-01-01.
	if mon <= 2 {
		y--
	}
	yday := (153*((mon+9)%12)+2)/5 + d - 1
	days := y*365 + y/4 - y/100 + y/400 + yday - 719468
	return time.Unix(int64(days)*86400+int64(h*3600+m*60+sec), 0).UTC(), true
}

// monthDays holds the days of each month (1-12) of a common year.
var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

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
