package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewAuth(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(keys, []byte("# pairs\nAK1 SK1\n\nAK2 SK2\n"), 0o600)
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("only-one-field\n"), 0o600)
	cases := []struct {
		name     string
		cfg      serveConfig
		wantErr  string
		verifier bool
		anon     bool
	}{
		{"loopback without credentials serves anonymous", serveConfig{Listen: "127.0.0.1:1"}, "", false, true},
		{"localhost counts as loopback", serveConfig{Listen: "localhost:1"}, "", false, true},
		{"all interfaces without credentials refuses", serveConfig{Listen: ":1", APIToken: "t"}, "S3 credentials", false, false},
		{"all interfaces without token refuses", serveConfig{Listen: "0.0.0.0:1", AccessKey: "a", SecretKey: "s"}, "--api-token", false, false},
		{"allow-anonymous opens it", serveConfig{Listen: ":1", AllowAnonymous: true}, "", false, true},
		{"credentials close anonymous S3", serveConfig{Listen: "10.0.0.1:1", AccessKey: "a", SecretKey: "s", APIToken: "t"}, "", true, false},
		{"credentials file", serveConfig{Listen: "127.0.0.1:1", CredentialsFile: keys}, "", true, false},
		{"bad credentials file", serveConfig{Listen: "127.0.0.1:1", CredentialsFile: bad}, "ACCESS_KEY SECRET_KEY", false, false},
		{"missing credentials file", serveConfig{Listen: "127.0.0.1:1", CredentialsFile: "/nonexistent"}, "credentials file", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := newAuth(c.cfg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (a.verifier != nil) != c.verifier || a.anonymousS3 != c.anon {
				t.Fatalf("verifier %v anonymous %v", a.verifier != nil, a.anonymousS3)
			}
		})
	}
}
