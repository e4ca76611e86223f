package main

import (
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // substring; "" for none
	}{
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "512B", want: 512},
		{in: "50GiB", want: 50 << 30},
		{in: "500MB", want: 500e6},
		{in: "1TiB", want: 1 << 40},
		{in: "1TB", want: 1e12},
		{in: "2kB", want: 2000},
		{in: "2KB", want: 2000},
		{in: "2KiB", want: 2048},
		{in: "3MiB", want: 3 << 20},
		{in: "1GB", want: 1e9},
		{in: "1PiB", want: 1 << 50},
		{in: "1PB", want: 1e15},
		{in: "1EiB", want: 1 << 60},
		{in: "50gib", want: 50 << 30},
		{in: "50 GiB", want: 50 << 30},
		{in: " 7 ", want: 7},
		{in: "1.5GiB", want: 3 << 29},
		{in: "0.5KB", want: 500},
		{in: "1.0000001KiB", want: 1024},
		{in: ".5KiB", want: 512},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "", wantErr: "want a number"},
		{in: "GiB", wantErr: "want a number"},
		{in: "-1GiB", wantErr: "want a number"},
		{in: "1.2.3MB", wantErr: "want a number"},
		{in: ".", wantErr: "want a number"},
		{in: "50G", wantErr: "write GB (powers of 1000) or GiB (powers of 1024)"},
		{in: "50g", wantErr: "write GB"},
		{in: "10XB", wantErr: `unknown unit "XB"`},
		{in: "1e9", wantErr: `unknown unit "e9"`},
		{in: "8EiB", wantErr: "more than"},
		{in: "9223372036854775808", wantErr: "more than"},
		{in: "100000000000000000000000000PB", wantErr: "more than"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseServe(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	defaults := defaultServeConfig()
	defaults.Backend = backendSpec{Kind: backendFile, Dir: filepath.Join(cwd, "objstore-data", "origin")}
	defaults.PeerListen = "127.0.0.1:12000" // the cluster port + 1

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		edit    func(*serveConfig) // applied to defaults to get the wanted config
		wantErr []string           // substrings of the error; nil for none
	}{
		{name: "defaults", edit: func(*serveConfig) {}},
		{name: "every flag",
			args: []string{
				"--data-dir", "/var/lib/objstore", "--listen", ":8080",
				"--backend", "s3://media?region=eu-west-1", "--bucket", "photos",
				"--cache-size", "50GiB", "--write-mode", "back", "--revalidate-after", "30s",
				"--log-level", "debug", "--log-format", "json", "--upload-workers", "2",
				"--access-key", "AK", "--secret-key", "SK", "--credentials-file", "/etc/objstore/keys",
				"--allow-anonymous", "--api-token", "tok", "--domain", "s3.example.com",
				"--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--multipart-max-age", "2h",
				"--cluster-listen", "0.0.0.0:7946", "--peer-listen", ":7000", "--advertise", "10.0.0.5",
				"--join", "10.0.0.6:7946, objstore.internal:7946", "--cluster-secret", "s3cret",
				"--replicas", "all", "--cache-on-read=false", "--tombstone-horizon", "48h",
			},
			edit: func(c *serveConfig) {
				*c = serveConfig{
					DataDir: "/var/lib/objstore", Listen: ":8080",
					BackendURL: "s3://media?region=eu-west-1",
					Backend:    backendSpec{Kind: backendS3, Bucket: "media", Region: "eu-west-1"},
					Bucket:     "photos", CacheSize: 50 << 30, WriteMode: writeBack,
					RevalidateAfter: 30 * time.Second, LogLevel: "debug", LogFormat: "json", UploadWorkers: 2,
					AccessKey: "AK", SecretKey: "SK", CredentialsFile: "/etc/objstore/keys",
					AllowAnonymous: true, APIToken: "tok", Domain: "s3.example.com",
					TLSCert: "/c.pem", TLSKey: "/k.pem", MultipartMaxAge: 2 * time.Hour,
					ClusterListen: "0.0.0.0:7946", PeerListen: ":7000", Advertise: "10.0.0.5",
					Join: []string{"10.0.0.6:7946", "objstore.internal:7946"}, ClusterSecret: "s3cret",
					Replicas: -1, CacheOnRead: false, TombstoneHorizon: 48 * time.Hour,
				}
			}},
		{name: "peer port follows the cluster port", args: []string{"--cluster-listen=127.0.0.2:0", "--replicas=3"},
			edit: func(c *serveConfig) { c.ClusterListen, c.PeerListen, c.Replicas = "127.0.0.2:0", "127.0.0.2:0", 3 }},
		{name: "default backend follows data dir", args: []string{"--data-dir=/srv/os"},
			edit: func(c *serveConfig) {
				c.DataDir = "/srv/os"
				c.Backend = backendSpec{Kind: backendFile, Dir: "/srv/os/origin"}
			}},
		{name: "environment",
			env: map[string]string{
				"OBJSTORE_DATA_DIR": "/data", "OBJSTORE_CACHE_SIZE": "500MB",
				"OBJSTORE_WRITE_MODE": "back", "OBJSTORE_UPLOAD_WORKERS": "16",
				"OBJSTORE_REVALIDATE_AFTER": "1m", "OBJSTORE_BACKEND": "file:///mnt/origin",
			},
			edit: func(c *serveConfig) {
				c.DataDir = "/data"
				c.CacheSize = 500e6
				c.WriteMode = writeBack
				c.UploadWorkers = 16
				c.RevalidateAfter = time.Minute
				c.BackendURL = "file:///mnt/origin"
				c.Backend = backendSpec{Kind: backendFile, Dir: "/mnt/origin"}
			}},
		{name: "flag wins over environment",
			args: []string{"--upload-workers=3", "--log-level=warn"},
			env:  map[string]string{"OBJSTORE_UPLOAD_WORKERS": "16", "OBJSTORE_LOG_LEVEL": "bogus"},
			edit: func(c *serveConfig) { c.UploadWorkers = 3; c.LogLevel = "warn" }},
		{name: "names are lower-cased",
			args: []string{"--write-mode=BACK", "--log-level=Error", "--log-format=JSON"},
			edit: func(c *serveConfig) { c.WriteMode = writeBack; c.LogLevel = "error"; c.LogFormat = "json" }},

		{name: "bad write mode flag", args: []string{"--write-mode=around"},
			wantErr: []string{"--write-mode", `"around"`, "through or back"}},
		{name: "bad write mode env", env: map[string]string{"OBJSTORE_WRITE_MODE": "around"},
			wantErr: []string{"OBJSTORE_WRITE_MODE", `"around"`}},
		{name: "bad workers env", env: map[string]string{"OBJSTORE_UPLOAD_WORKERS": "eight"},
			wantErr: []string{"OBJSTORE_UPLOAD_WORKERS", `"eight"`}},
		{name: "zero workers", args: []string{"--upload-workers=0"},
			wantErr: []string{"--upload-workers", "at least 1"}},
		{name: "bad duration env", env: map[string]string{"OBJSTORE_REVALIDATE_AFTER": "5"},
			wantErr: []string{"OBJSTORE_REVALIDATE_AFTER", `"5"`}},
		{name: "negative duration", args: []string{"--revalidate-after=-1s"},
			wantErr: []string{"--revalidate-after", "negative"}},
		{name: "bad cache size env", env: map[string]string{"OBJSTORE_CACHE_SIZE": "lots"},
			wantErr: []string{"OBJSTORE_CACHE_SIZE", `"lots"`}},
		{name: "zero cache size", args: []string{"--cache-size=0"},
			wantErr: []string{"--cache-size", "more than 0"}},
		{name: "bad backend", args: []string{"--backend=file://relative"},
			wantErr: []string{"--backend", "must be absolute"}},
		{name: "bad backend env", env: map[string]string{"OBJSTORE_BACKEND": "gs://b"},
			wantErr: []string{"OBJSTORE_BACKEND", "unknown scheme"}},
		{name: "bad bucket", args: []string{"--bucket=No_Such"},
			wantErr: []string{"--bucket", `"No_Such"`}},
		{name: "bad listen", args: []string{"--listen=localhost"},
			wantErr: []string{"--listen", "host:port"}},
		{name: "bad listen port", args: []string{"--listen=localhost:http"},
			wantErr: []string{"--listen", `port "http"`}},
		{name: "bad log level", args: []string{"--log-level=trace"},
			wantErr: []string{"--log-level", `"trace"`}},
		{name: "bad log format", args: []string{"--log-format=xml"},
			wantErr: []string{"--log-format", `"xml"`}},
		{name: "empty data dir", args: []string{"--data-dir="},
			wantErr: []string{"--data-dir", "empty"}},
		{name: "every error at once", args: []string{"--log-format=xml", "--upload-workers=0"},
			wantErr: []string{"--log-format", "--upload-workers"}},
		{name: "access key without secret", args: []string{"--access-key=AK"},
			wantErr: []string{"--secret-key", "go together"}},
		{name: "tls cert without key", args: []string{"--tls-cert=/c.pem"},
			wantErr: []string{"--tls-key", "go together"}},
		{name: "bad join", args: []string{"--join=a:1,nohost"},
			wantErr: []string{"--join", `"nohost"`}},
		{name: "bad replicas", args: []string{"--replicas=0"},
			wantErr: []string{"--replicas", "at least 1"}},
		{name: "positional argument", args: []string{"extra"},
			wantErr: []string{`unexpected argument "extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServe(tt.args, env(tt.env))
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
				t.Fatalf("parseServe: %v", err)
			}
			want := defaults
			tt.edit(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseServeHelp(t *testing.T) {
	// parseServe prints usage to stderr; check the same flags' usage here.
	cfg := defaultServeConfig()
	var raw rawFlags
	fs := serveFlags(&cfg, &raw)
	var out strings.Builder
	fs.SetOutput(&out)
	if err := fs.ParseEnv([]string{"--help"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: err = %v, want flag.ErrHelp", err)
	}
	text := out.String()
	for _, want := range []string{
		"Usage: objstore serve [flags]",
		`--data-dir dir`, `env OBJSTORE_DATA_DIR, default "./objstore-data"`, "directory for cached bodies",
		`--listen host:port`, `env OBJSTORE_LISTEN, default "127.0.0.1:10999"`,
		`--backend URL`, `env OBJSTORE_BACKEND`, "file://<data-dir>/origin",
		`--bucket name`, `env OBJSTORE_BUCKET, default "objstore"`,
		`--cache-size size`, `env OBJSTORE_CACHE_SIZE`, "50GiB",
		`--write-mode mode`, `env OBJSTORE_WRITE_MODE, default "through"`,
		`--revalidate-after duration`, `env OBJSTORE_REVALIDATE_AFTER, default 0s`,
		`--log-level level`, `env OBJSTORE_LOG_LEVEL, default "info"`,
		`--log-format format`, `env OBJSTORE_LOG_FORMAT, default "text"`,
		`--upload-workers n`, `env OBJSTORE_UPLOAD_WORKERS, default 8`,
		`--cluster-listen host:port`, `env OBJSTORE_CLUSTER_LISTEN, default "127.0.0.1:11999"`,
		`--peer-listen host:port`, `env OBJSTORE_PEER_LISTEN`,
		`--advertise host`, `env OBJSTORE_ADVERTISE`,
		`--join host:port`, `env OBJSTORE_JOIN`,
		`--cluster-secret passphrase`, `env OBJSTORE_CLUSTER_SECRET`,
		`--replicas count`, `env OBJSTORE_REPLICAS, default "2"`,
		`--cache-on-read`, `env OBJSTORE_CACHE_ON_READ, default true`,
		`--tombstone-horizon duration`, `env OBJSTORE_TOMBSTONE_HORIZON, default 168h0m0s`,
		`--debug-listen host:port`, `env OBJSTORE_DEBUG_LISTEN`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("usage:\n%s", text)
	}

	// And parseServe itself reports help as flag.ErrHelp.
	if _, err := parseServe([]string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseServe(-h): err = %v, want flag.ErrHelp", err)
	}
}
