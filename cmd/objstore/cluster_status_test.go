package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// testMembers is a members list as GET /api/v1/nodes answers it.
var testMembers = []nodeInfo{
	{ID: "01JAAAAAAAAAAAAAAAAAAAAAAA", State: "alive", Self: true, PublicAddr: "10.0.0.1:10999", PeerAddr: "10.0.0.1:12000",
		GossipAddr: "10.0.0.1:11999", Version: "v1.2.3", Capacity: 50 << 30, Used: 3 << 29, Objects: 1234, Ready: true},
	{ID: "01JBBBBBBBBBBBBBBBBBBBBBBB", State: "dead", PublicAddr: "10.0.0.2:10999", PeerAddr: "10.0.0.2:12000",
		GossipAddr: "10.0.0.2:11999", Version: "v1.2.2", Capacity: 1 << 40, Used: 512, Objects: 1},
	{ID: "01JCCCCCCCCCCCCCCCCCCCCCCC", State: "alive", GossipAddr: "10.0.0.3:11999"},
}

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatus(&b, testMembers); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"   ID                          STATE  READY  PUBLIC          PEER            VERSION  USED/CAPACITY       OBJECTS\n" +
		"*  01JAAAAAAAAAAAAAAAAAAAAAAA  alive  yes    10.0.0.1:10999  10.0.0.1:12000  v1.2.3   1.5 GiB / 50.0 GiB  1234\n" +
		"   01JBBBBBBBBBBBBBBBBBBBBBBB  dead   -      10.0.0.2:10999  10.0.0.2:12000  v1.2.2   512 B / 1.0 TiB     1\n" +
		"   01JCCCCCCCCCCCCCCCCCCCCCCC  alive  no     -               -               -        0 B / 0 B           0\n"
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1.0 MiB"},
		{61 << 30, "61.0 GiB"},
		{1 << 40, "1.0 TiB"},
		{1<<63 - 1, "8.0 EiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// nodesServer serves testMembers on /api/v1/nodes to requests with the
// bearer token (any request when token is empty), as a node does.
func nodesServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/api/v1/nodes":
			http.NotFound(w, r)
		case token != "" && r.Header.Get("Authorization") != "Bearer "+token:
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(testMembers)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClusterStatus(t *testing.T) {
	srv := nodesServer(t, "t0ken")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }))
	defer notJSON.Close()

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" for success
	}{
		{name: "flags", args: []string{"--node", srv.URL, "--api-token", "t0ken"}},
		{name: "environment", env: map[string]string{"OBJSTORE_NODE": srv.URL + "/", "OBJSTORE_API_TOKEN": "t0ken"}},
		{name: "host:port", args: []string{"--node", strings.TrimPrefix(srv.URL, "http://"), "--api-token", "t0ken"}},
		{name: "flag wins", args: []string{"--node", srv.URL, "--api-token", "t0ken"}, env: map[string]string{"OBJSTORE_NODE": closed.URL}},
		{name: "no token", args: []string{"--node", srv.URL}, wantErr: "401 Unauthorized: missing or wrong bearer token (the node wants --api-token)"},
		{name: "wrong token", args: []string{"--node", srv.URL, "--api-token", "guess"}, wantErr: "401 Unauthorized"},
		{name: "unreachable", args: []string{"--node", closed.URL}, wantErr: "node " + closed.URL + " unreachable: "},
		{name: "not a node", args: []string{"--node", notJSON.URL}, wantErr: "decode the members list"},
		{name: "bad URL", args: []string{"--node", "ftp://x"}, wantErr: "--node: URL \"ftp://x\": want http://host:port"},
		{name: "argument", args: []string{"--node", srv.URL, "extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"cluster", "status"}, tt.args...)
			err := run(context.Background(), args, &stdout, &stderr, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if stdout.Len() > 0 {
					t.Errorf("printed on failure:\n%s", stdout.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v (stderr: %s)", err, stderr.String())
			}
			var want bytes.Buffer
			writeStatus(&want, testMembers)
			if stdout.String() != want.String() {
				t.Errorf("printed:\n%s\nwant:\n%s", stdout.String(), want.String())
			}
		})
	}
}

func TestClusterUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"cluster"}, &stdout, &stderr, nil); err == nil || !strings.Contains(stderr.String(), "objstore cluster status") {
		t.Errorf("no subcommand: err %v, stderr %q", err, stderr.String())
	}
	stderr.Reset()
	if err := run(context.Background(), []string{"cluster", "stats"}, &stdout, &stderr, nil); err == nil || !strings.Contains(err.Error(), `unknown subcommand "stats"`) {
		t.Errorf("unknown subcommand: err %v", err)
	}
	if err := run(context.Background(), []string{"help"}, &stdout, &stderr, nil); err != nil || !strings.Contains(stdout.String(), "objstore cluster status") {
		t.Errorf("help: err %v, usage %q", err, stdout.String())
	}
}
