package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name, level, format string
		wantErr             string // substring; "" for none
		wantDebug, wantInfo bool   // whether Debug and Info lines come out
		wantJSON            bool
	}{
		{name: "debug text", level: "debug", format: "text", wantDebug: true, wantInfo: true},
		{name: "info text", level: "info", format: "text", wantInfo: true},
		{name: "warn json", level: "warn", format: "json", wantJSON: true},
		{name: "error json", level: "error", format: "json", wantJSON: true},
		{name: "upper case", level: "INFO", format: "JSON", wantInfo: true, wantJSON: true},
		{name: "bad level", level: "verbose", format: "text", wantErr: `log level "verbose"`},
		{name: "empty level", level: "", format: "text", wantErr: "log level"},
		{name: "bad format", level: "info", format: "xml", wantErr: `log format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(&buf, tt.level, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("dbg-line")
			log.Info("info-line", "k", "v")
			log.Error("error-line")
			out := buf.String()
			if got := strings.Contains(out, "dbg-line"); got != tt.wantDebug {
				t.Errorf("debug line written: %v, want %v", got, tt.wantDebug)
			}
			if got := strings.Contains(out, "info-line"); got != tt.wantInfo {
				t.Errorf("info line written: %v, want %v", got, tt.wantInfo)
			}
			if !strings.Contains(out, "error-line") {
				t.Error("error line missing")
			}
			first, _, _ := strings.Cut(out, "\n")
			if got := json.Valid([]byte(first)); got != tt.wantJSON {
				t.Errorf("line %q is JSON: %v, want %v", first, got, tt.wantJSON)
			}
		})
	}
}

func TestNewLoggerNilWriter(t *testing.T) {
	log, err := newLogger(nil, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("goes nowhere")
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError},
	}
	for _, tt := range tests {
		if got, err := parseLevel(tt.in); err != nil || got != tt.want {
			t.Errorf("parseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
