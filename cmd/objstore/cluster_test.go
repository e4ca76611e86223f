package main

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestAdvertised(t *testing.T) {
	// A fake resolver: names map to their addresses, anything else fails.
	names := map[string][]netip.Addr{
		"node-a":  {netip.MustParseAddr("10.1.2.3")},
		"dual":    {netip.MustParseAddr("fd00::7"), netip.MustParseAddr("10.9.9.9")},
		"v6only":  {netip.MustParseAddr("fd00::8")},
		"mapped":  {netip.MustParseAddr("::ffff:10.4.4.4")},
		"no-addr": {},
	}
	lookup := func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if ips, ok := names[host]; ok {
			return ips, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct {
		name              string
		listen, advertise string
		wantHost          string
		wantAddr          string
		wantErr           bool
	}{
		{name: "wildcard, nothing advertised", listen: "0.0.0.0:11999"},
		{name: "listen IP", listen: "127.0.0.2:11999", wantHost: "127.0.0.2"},
		{name: "IP", listen: "0.0.0.0:11999", advertise: "10.0.0.5", wantHost: "10.0.0.5", wantAddr: "10.0.0.5:11999"},
		{name: "IP and port", listen: "0.0.0.0:11999", advertise: "10.0.0.5:7000", wantHost: "10.0.0.5", wantAddr: "10.0.0.5:7000"},
		{name: "IPv6", listen: "[::]:11999", advertise: "fd00::1", wantHost: "fd00::1", wantAddr: "[fd00::1]:11999"},
		{name: "name", listen: "0.0.0.0:11999", advertise: "node-a", wantHost: "10.1.2.3", wantAddr: "10.1.2.3:11999"},
		{name: "name and port", listen: "0.0.0.0:11999", advertise: "node-a:7000", wantHost: "10.1.2.3", wantAddr: "10.1.2.3:7000"},
		{name: "name with IPv6 first", listen: "0.0.0.0:11999", advertise: "dual", wantHost: "10.9.9.9", wantAddr: "10.9.9.9:11999"},
		{name: "IPv6-only name", listen: "[::]:11999", advertise: "v6only", wantHost: "fd00::8", wantAddr: "[fd00::8]:11999"},
		{name: "IPv4-mapped answer", listen: "0.0.0.0:11999", advertise: "mapped", wantHost: "10.4.4.4", wantAddr: "10.4.4.4:11999"},
		{name: "unknown name", listen: "0.0.0.0:11999", advertise: "nowhere", wantErr: true},
		{name: "name without addresses", listen: "0.0.0.0:11999", advertise: "no-addr", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultServeConfig()
			cfg.ClusterListen, cfg.Advertise = tt.listen, tt.advertise
			host, addr, err := advertised(context.Background(), cfg, lookup)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("advertised = %q, %q; want an error", host, addr)
				}
				return
			}
			if err != nil || host != tt.wantHost || addr != tt.wantAddr {
				t.Fatalf("advertised = %q, %q, %v; want %q, %q", host, addr, err, tt.wantHost, tt.wantAddr)
			}
		})
	}
}
