package objhttp

import "time"

// HTTPDate formats t as http.TimeFormat does ("Mon, 02 Jan 2006 15:04:05
// GMT", in UTC), for the Last-Modified of every hit: by hand it costs a
// tenth of time.Format's layout interpretation. Years outside 0–9999,
// which no object has, go to time.Format.
func HTTPDate(t time.Time) string {
	// Days and seconds since 1970-01-01 (floored), then the civil date
	// of the day count (H. Hinnant's days_from_civil, inverted).
	u := t.Unix()
	days, secs := u/86400, u%86400
	if secs < 0 {
		days, secs = days-1, secs+86400
	}
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := int(doy - (153*mp+2)/5 + 1)
	month := int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year := int(yoe + era*400)
	if month <= 2 {
		year++
	}
	if year < 0 || year > 9999 {
		return t.UTC().Format(timeFormat)
	}
	wd := int((days%7+11)%7) * 3 // 1970-01-01 was a Thursday
	mo := (month - 1) * 3
	const weekdays, months = "SunMonTueWedThuFriSat", "JanFebMarAprMayJunJulAugSepOctNovDec"
	var b [29]byte
	copy(b[0:3], weekdays[wd:wd+3])
	b[3], b[4] = ',', ' '
	two(b[5:7], day)
	b[7] = ' '
	copy(b[8:11], months[mo:mo+3])
	b[11] = ' '
	two(b[12:14], year/100)
	two(b[14:16], year%100)
	b[16] = ' '
	two(b[17:19], int(secs/3600))
	b[19] = ':'
	two(b[20:22], int(secs/60%60))
	b[22] = ':'
	two(b[23:25], int(secs%60))
	copy(b[25:], " GMT")
	return string(b[:])
}

// timeFormat is http.TimeFormat.
const timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func two(b []byte, n int) { b[0], b[1] = byte('0'+n/10), byte('0'+n%10) }
