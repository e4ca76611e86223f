package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEnvName(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"data-dir", "OBJSTORE_DATA_DIR"},
		{"listen", "OBJSTORE_LISTEN"},
		{"revalidate-after", "OBJSTORE_REVALIDATE_AFTER"},
		{"upload-workers", "OBJSTORE_UPLOAD_WORKERS"},
	}
	for _, tt := range tests {
		if got := envName(tt.flag); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

// testFlags is a small set of every kind of flag.
type testFlags struct {
	fs    *envFlagSet
	name  string
	n     int
	d     time.Duration
	debug bool
}

func newTestFlags() *testFlags {
	f := &testFlags{fs: newEnvFlagSet("test", "objstore test [flags]")}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.name, "the-name", "dflt", "a `name`")
	f.fs.IntVar(&f.n, "count", 3, "how many")
	f.fs.DurationVar(&f.d, "wait", time.Second, "how long")
	f.fs.BoolVar(&f.debug, "debug", false, "more output")
	return f
}

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantN   int
		wantS   string
		wantD   time.Duration
		wantDbg bool
		wantErr []string // substrings of the error; nil for none
	}{
		{name: "defaults", wantN: 3, wantS: "dflt", wantD: time.Second},
		{name: "flags", args: []string{"--count", "5", "--the-name=x", "-wait", "2m", "--debug"},
			wantN: 5, wantS: "x", wantD: 2 * time.Minute, wantDbg: true},
		{name: "env replaces defaults",
			env:   map[string]string{"OBJSTORE_COUNT": "7", "OBJSTORE_THE_NAME": "e", "OBJSTORE_WAIT": "5s", "OBJSTORE_DEBUG": "true"},
			wantN: 7, wantS: "e", wantD: 5 * time.Second, wantDbg: true},
		{name: "flag wins over env", args: []string{"--count=9"},
			env:   map[string]string{"OBJSTORE_COUNT": "7"},
			wantN: 9, wantS: "dflt", wantD: time.Second},
		{name: "invalid env of an overridden flag is ignored", args: []string{"--count=9"},
			env:   map[string]string{"OBJSTORE_COUNT": "many"},
			wantN: 9, wantS: "dflt", wantD: time.Second},
		{name: "empty env is unset",
			env:   map[string]string{"OBJSTORE_COUNT": "", "OBJSTORE_THE_NAME": ""},
			wantN: 3, wantS: "dflt", wantD: time.Second},
		{name: "other variables are ignored",
			env:   map[string]string{"COUNT": "1", "OBJSTORE_COUNTS": "2"},
			wantN: 3, wantS: "dflt", wantD: time.Second},
		{name: "invalid env int",
			env:     map[string]string{"OBJSTORE_COUNT": "many"},
			wantErr: []string{`"many"`, "OBJSTORE_COUNT", "--count"}},
		{name: "every invalid env is reported",
			env:     map[string]string{"OBJSTORE_COUNT": "many", "OBJSTORE_WAIT": "soon"},
			wantErr: []string{"OBJSTORE_COUNT", "OBJSTORE_WAIT", `"soon"`}},
		{name: "invalid flag",
			args:    []string{"--count", "many"},
			wantErr: []string{`"many"`, "count"}},
		{name: "unknown flag",
			args:    []string{"--nope"},
			wantErr: []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFlags()
			err := f.fs.ParseEnv(tt.args, env(tt.env))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnv: %v", err)
			}
			if f.n != tt.wantN || f.name != tt.wantS || f.d != tt.wantD || f.debug != tt.wantDbg {
				t.Errorf("got count=%d name=%q wait=%v debug=%v, want %d %q %v %v",
					f.n, f.name, f.d, f.debug, tt.wantN, tt.wantS, tt.wantD, tt.wantDbg)
			}
		})
	}
}

func TestParseEnvNilGetenv(t *testing.T) {
	f := newTestFlags()
	if err := f.fs.ParseEnv([]string{"--count=4"}, nil); err != nil {
		t.Fatal(err)
	}
	if f.n != 4 {
		t.Errorf("count = %d, want 4", f.n)
	}
}

func TestInvalidNamesSource(t *testing.T) {
	f := newTestFlags()
	if err := f.fs.ParseEnv([]string{"--the-name=a"}, env(map[string]string{"OBJSTORE_COUNT": "0"})); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("too small")
	tests := []struct{ flag, want string }{
		{"count", "OBJSTORE_COUNT (--count): too small"},
		{"the-name", "--the-name: too small"},
	}
	for _, tt := range tests {
		err := f.fs.invalid(tt.flag, cause)
		if err.Error() != tt.want {
			t.Errorf("invalid(%q) = %q, want %q", tt.flag, err, tt.want)
		}
		if !errors.Is(err, cause) {
			t.Errorf("invalid(%q) does not wrap its cause", tt.flag)
		}
	}
}

func TestUsage(t *testing.T) {
	f := newTestFlags()
	var out strings.Builder
	f.fs.SetOutput(&out)
	err := f.fs.ParseEnv([]string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: err = %v, want flag.ErrHelp", err)
	}
	text := out.String()
	for _, want := range []string{
		"Usage: objstore test [flags]",
		`--the-name name`, `env OBJSTORE_THE_NAME, default "dflt"`, "a name",
		`--count int`, `env OBJSTORE_COUNT, default 3`, "how many",
		`--wait duration`, `env OBJSTORE_WAIT, default 1s`, "how long",
		`--debug`, `env OBJSTORE_DEBUG, default false`, "more output",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("usage lacks %q:\n%s", want, text)
		}
	}
}
