package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBackendURL(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, raw, dataDir string
		want               backendSpec
		wantErr            string // substring; "" for none
	}{
		{name: "default under absolute data dir", raw: "", dataDir: "/var/lib/objstore",
			want: backendSpec{Kind: backendFile, Dir: "/var/lib/objstore/origin"}},
		{name: "default under relative data dir", raw: "", dataDir: "./objstore-data",
			want: backendSpec{Kind: backendFile, Dir: filepath.Join(cwd, "objstore-data", "origin")}},
		{name: "file", raw: "file:///srv/bucket",
			want: backendSpec{Kind: backendFile, Dir: "/srv/bucket"}},
		{name: "file cleaned", raw: "file:///srv//a/../bucket/",
			want: backendSpec{Kind: backendFile, Dir: "/srv/bucket"}},
		{name: "file localhost", raw: "file://localhost/srv/bucket",
			want: backendSpec{Kind: backendFile, Dir: "/srv/bucket"}},
		{name: "file one slash", raw: "file:/srv/bucket",
			want: backendSpec{Kind: backendFile, Dir: "/srv/bucket"}},
		{name: "file escaped", raw: "file:///srv/my%20bucket",
			want: backendSpec{Kind: backendFile, Dir: "/srv/my bucket"}},
		{name: "file relative with two slashes", raw: "file://data/origin", wantErr: "must be absolute"},
		{name: "file relative opaque", raw: "file:data/origin", wantErr: "must be absolute"},
		{name: "file dot", raw: "file://./data", wantErr: "must be absolute"},
		{name: "file empty", raw: "file://", wantErr: "must be absolute"},
		{name: "file query", raw: "file:///srv/b?x=1", wantErr: "no user, query"},
		{name: "s3 defaults", raw: "s3://my-bucket",
			want: backendSpec{Kind: backendS3, Bucket: "my-bucket", Region: "us-east-1"}},
		{name: "s3 trailing slash", raw: "s3://my-bucket/",
			want: backendSpec{Kind: backendS3, Bucket: "my-bucket", Region: "us-east-1"}},
		{name: "s3 region", raw: "s3://my-bucket?region=eu-west-1",
			want: backendSpec{Kind: backendS3, Bucket: "my-bucket", Region: "eu-west-1"}},
		{name: "s3 compatible", raw: "s3://b1?endpoint=http://127.0.0.1:9000&path_style=true&region=local",
			want: backendSpec{Kind: backendS3, Bucket: "b1", Endpoint: "http://127.0.0.1:9000", Region: "local", PathStyle: true}},
		{name: "s3 path_style 1", raw: "s3://b1?path_style=1",
			want: backendSpec{Kind: backendS3, Bucket: "b1", Region: "us-east-1", PathStyle: true}},
		{name: "s3 path_style false", raw: "s3://b1?path_style=false",
			want: backendSpec{Kind: backendS3, Bucket: "b1", Region: "us-east-1"}},
		{name: "s3 path_style 0", raw: "s3://b1?path_style=0",
			want: backendSpec{Kind: backendS3, Bucket: "b1", Region: "us-east-1"}},
		{name: "S3 scheme in upper case", raw: "S3://b1",
			want: backendSpec{Kind: backendS3, Bucket: "b1", Region: "us-east-1"}},
		{name: "s3 bad path_style", raw: "s3://b1?path_style=yes", wantErr: `path_style "yes"`},
		{name: "s3 unknown parameter", raw: "s3://b1?regoin=x", wantErr: `unknown parameter "regoin"`},
		{name: "s3 repeated parameter", raw: "s3://b1?region=a&region=b", wantErr: "region given 2 times"},
		{name: "s3 empty region", raw: "s3://b1?region=", wantErr: "empty region"},
		{name: "s3 endpoint without scheme", raw: "s3://b1?endpoint=localhost:9000", wantErr: "must be an http:// or https:// URL"},
		{name: "s3 endpoint ftp", raw: "s3://b1?endpoint=ftp://h", wantErr: "must be an http:// or https:// URL"},
		{name: "s3 no bucket", raw: "s3://", wantErr: "no bucket"},
		{name: "s3 no bucket with query", raw: "s3:///?region=x", wantErr: "no bucket"},
		{name: "s3 prefix", raw: "s3://b1/some/prefix", wantErr: "prefixes are not supported"},
		{name: "s3 port", raw: "s3://b1:9000", wantErr: "?endpoint="},
		{name: "s3 credentials", raw: "s3://AKIA:secret@b1", wantErr: "credentials do not belong"},
		{name: "no scheme absolute", raw: "/srv/bucket", wantErr: "use file:///srv/bucket"},
		{name: "no scheme relative", raw: "data/origin", wantErr: "has no scheme"},
		{name: "unknown scheme", raw: "gs://bucket", wantErr: `unknown scheme "gs"`},
		{name: "http scheme", raw: "http://localhost:9000/b", wantErr: `unknown scheme "http"`},
		{name: "unparsable", raw: "s3://b1%zz", wantErr: "backend URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBackendURL(tt.raw, tt.dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseBackendURL(%q) = %+v, %v; want error containing %q", tt.raw, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBackendURL(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Fatalf("parseBackendURL(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
			// String gives a URL that parses back to the same spec.
			back, err := parseBackendURL(got.String(), "")
			if err != nil || back != got {
				t.Errorf("round trip via %q = %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
}
