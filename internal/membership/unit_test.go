package membership

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no node ID", func(c *Config) { c.NodeID = "" }},
		{"node ID too long", func(c *Config) { c.NodeID = strings.Repeat("x", maxNodeIDLen+1) }},
		{"bind without port", func(c *Config) { c.BindAddr = "127.0.0.1" }},
		{"bind host name", func(c *Config) { c.BindAddr = "localhost:0" }},
		{"bind port out of range", func(c *Config) { c.BindAddr = "127.0.0.1:65536" }},
		{"bind IPv6 wildcard without advertise", func(c *Config) { c.BindAddr = "[::]:0" }},
		{"advertise host name", func(c *Config) { c.AdvertiseAddr = "node1:7946" }},
		{"advertise wildcard", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }},
		{"join without port", func(c *Config) { c.Join = []string{"127.0.0.1"} }},
		{"join port zero", func(c *Config) { c.Join = []string{"127.0.0.1:0"} }},
		{"join empty host", func(c *Config) { c.Join = []string{":7946"} }},
		{"zero broadcast timeout", func(c *Config) { c.BroadcastTimeout = 0 }},
		{"meta too large", func(c *Config) { c.Meta.Version = strings.Repeat("v", MetaMaxSize) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			c.edit(&cfg)
			m, err := New(t.Context(), cfg)
			if err == nil {
				m.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigTranslation(t *testing.T) {
	cfg := testConfig(t)
	cfg.BindAddr = "0.0.0.0:7000"
	cfg.AdvertiseAddr = "10.1.2.3:0"
	cfg.Secret = "s"
	mc, err := cfg.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.Name != cfg.NodeID || mc.BindAddr != "0.0.0.0" || mc.BindPort != 7000 ||
		mc.AdvertiseAddr != "10.1.2.3" || mc.AdvertisePort != 7000 {
		t.Fatalf("addresses: name %s bind %s:%d advertise %s:%d", mc.Name, mc.BindAddr, mc.BindPort, mc.AdvertiseAddr, mc.AdvertisePort)
	}
	if !bytes.Equal(mc.SecretKey, DeriveKey("s", "objstore memberlist v1")) || !mc.GossipVerifyIncoming || !mc.GossipVerifyOutgoing {
		t.Fatal("secret not translated into an enforced key")
	}
	if mc.ProbeInterval != 200*time.Millisecond || mc.SuspicionMult != 2 {
		t.Fatalf("Fast timings not applied: probe %v, suspicion mult %d", mc.ProbeInterval, mc.SuspicionMult)
	}
	cfg.Fast = false
	if mc, _ = cfg.memberlistConfig(); mc.ProbeInterval != time.Second {
		t.Fatalf("LAN probe interval %v", mc.ProbeInterval)
	}
}

func TestDefaultConfigIsFresh(t *testing.T) {
	a := DefaultConfig()
	a.Join = append(a.Join, "x:1")
	a.BindAddr = "changed"
	if b := DefaultConfig(); b.BindAddr != "0.0.0.0:7946" || len(b.Join) != 0 || b.BroadcastTimeout != 5*time.Second {
		t.Fatalf("DefaultConfig shares state: %+v", b)
	}
}

func TestMetaEncoding(t *testing.T) {
	// The largest Meta objstore means to send: IPv6 addresses with
	// ports, a long pre-release version, counters at their maximum.
	big := Meta{
		PublicAddr: "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:65535",
		PeerAddr:   "[2001:0db8:85a3:0000:0000:8a2e:0370:7335]:65535",
		Version:    "v10.20.30-rc.1+20260101.0123456789abcdef0123456789abcdef01234567",
		Capacity:   math.MaxInt64,
		Used:       math.MaxInt64,
		Objects:    math.MaxInt64,
	}
	cases := []struct {
		name string
		meta Meta
	}{
		{"zero", Meta{}},
		{"typical", Meta{PublicAddr: "10.0.0.1:9000", PeerAddr: "10.0.0.1:9001", Version: "v0.3.0", Capacity: 1 << 40, Used: 1 << 39, Objects: 1e6}},
		{"realistic max", big},
		{"negative", Meta{Used: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.meta.encode()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MetaMaxSize {
				t.Errorf("%d bytes, more than the %d-byte limit", len(b), MetaMaxSize)
			}
			t.Logf("%d bytes", len(b))
			got, err := decodeMeta(b)
			if err != nil || got != c.meta {
				t.Fatalf("round trip: %+v, %v", got, err)
			}
		})
	}
	huge := Meta{PublicAddr: strings.Repeat("h", 300), PeerAddr: strings.Repeat("p", 300)}
	if _, err := huge.encode(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("oversized meta: %v", err)
	}
	if m, err := decodeMeta(nil); err != nil || m != (Meta{}) {
		t.Fatalf("empty meta: %+v %v", m, err)
	}
	if _, err := decodeMeta([]byte("\x00garbage")); err == nil {
		t.Fatal("garbage decoded")
	}
	// A newer version's extra field is ignored, not an error.
	if m, err := decodeMeta([]byte(`{"ver":"v9","zone":"eu-1"}`)); err != nil || m.Version != "v9" {
		t.Fatalf("unknown field: %+v %v", m, err)
	}
}

func TestDeriveKey(t *testing.T) {
	// Checked against an independent HKDF-SHA256 (RFC 5869, empty salt).
	cases := []struct{ secret, purpose, want string }{
		{"correct horse battery staple", "objstore memberlist v1", "2dc63e2b3b08a2f5b00d7cbf80e08a21f477d55d1e5ef6600e4fcfd169be0e2e"},
		{"correct horse battery staple", "objstore peer http v1", "ab960fb041c709817d734fcc6dcf541f96a984f69b2803453c91e1d1b627d838"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(DeriveKey(c.secret, c.purpose)); got != c.want {
			t.Errorf("DeriveKey(%q, %q) = %s, want %s", c.secret, c.purpose, got, c.want)
		}
	}
	if bytes.Equal(DeriveKey("a", "p"), DeriveKey("b", "p")) {
		t.Error("different secrets, same key")
	}
}

func TestLogWriter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	std := newStdLogger(l)
	std.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "n2")
	got := buf.String()
	if !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, `msg="Refuting a suspect message (from: n2)"`) || !strings.Contains(got, "memberlist_level=WARN") {
		t.Fatalf("log line: %s", got)
	}
	buf.Reset()
	quiet := newStdLogger(slog.New(slog.NewTextHandler(&buf, nil))) // info level
	quiet.Printf("[DEBUG] memberlist: noise")
	if buf.Len() != 0 {
		t.Fatalf("debug line logged at info: %s", buf.String())
	}
}

func TestStrings(t *testing.T) {
	for v, want := range map[State]string{StateAlive: "alive", StateSuspect: "suspect", StateDead: "dead", StateLeft: "left", 9: "State(9)"} {
		if v.String() != want {
			t.Errorf("%d: %s, want %s", int(v), v, want)
		}
	}
	for v, want := range map[EventKind]string{EventJoin: "join", EventUpdate: "update", EventLeave: "leave", EventFail: "fail", 9: "EventKind(9)"} {
		if v.String() != want {
			t.Errorf("%d: %s, want %s", int(v), v, want)
		}
	}
	if !StateAlive.Live() || !StateSuspect.Live() || StateDead.Live() || StateLeft.Live() {
		t.Error("Live")
	}
}

func TestChange(t *testing.T) {
	alive := Member{ID: "a", Addr: "127.0.0.1:1", State: StateAlive}
	moved := alive
	moved.Addr = "127.0.0.1:2"
	suspect := alive
	suspect.State = StateSuspect
	dead := alive
	dead.State = StateDead
	left := alive
	left.State = StateLeft
	updated := alive
	updated.Meta.Used = 5
	cases := []struct {
		name    string
		prev    told
		seen    bool
		cur     Member
		gen     uint64
		want    EventKind
		wantAny bool
	}{
		{"new", told{}, false, alive, 1, EventJoin, true},
		{"unchanged", told{alive, 1}, true, alive, 1, 0, false},
		{"meta", told{alive, 1}, true, updated, 1, EventUpdate, true},
		{"address", told{alive, 1}, true, moved, 1, EventUpdate, true},
		{"suspected", told{alive, 1}, true, suspect, 1, EventUpdate, true},
		{"failed", told{alive, 1}, true, dead, 1, EventFail, true},
		{"left", told{alive, 1}, true, left, 1, EventLeave, true},
		{"came back", told{dead, 1}, true, alive, 2, EventJoin, true},
		{"restart unseen", told{alive, 1}, true, alive, 2, EventJoin, true},
		{"late leaving notice", told{dead, 1}, true, left, 1, 0, false},
		{"joined and went unseen", told{}, false, dead, 1, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := change(c.prev, c.seen, c.cur, c.gen)
			if ok != c.wantAny || (ok && got != c.want) {
				t.Fatalf("change = %v, %v; want %v, %v", got, ok, c.want, c.wantAny)
			}
		})
	}
}
