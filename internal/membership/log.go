package membership

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newStdLogger returns a log.Logger for memberlist that writes each of its
// lines to l at debug level. memberlist's own level ("[WARN]", "[ERR]")
// is kept as the attribute memberlist_level: its warnings and errors
// include routine events of a failing peer (a missed ping, a refused
// connection), so they are not raised to this logger's warnings; this
// package logs what matters to an operator itself.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l *slog.Logger }

// Write receives exactly one line per call: log.Logger serializes and
// writes whole entries.
func (w logWriter) Write(p []byte) (int, error) {
	ctx := context.Background()
	if !w.l.Enabled(ctx, slog.LevelDebug) {
		return len(p), nil
	}
	msg := strings.TrimRight(string(p), "\n")
	level := ""
	if strings.HasPrefix(msg, "[") {
		if i := strings.IndexByte(msg, ']'); i > 0 {
			level = msg[1:i]
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	w.l.LogAttrs(ctx, slog.LevelDebug, msg, slog.String("memberlist_level", level))
	return len(p), nil
}
