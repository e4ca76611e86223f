package membership

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Membership. Start from DefaultConfig.
type Config struct {
	// NodeID names this node in the cluster (its memberlist name): a
	// ULID the caller generates once and keeps across restarts, so a
	// restarted node is the same member. Required; at most 128 bytes.
	NodeID string

	// BindAddr is the ip:port memberlist listens on, TCP and UDP alike.
	// Port 0 picks a free port; LocalAddr reports it. The host must be
	// an IP literal. Default "0.0.0.0:7946".
	BindAddr string

	// AdvertiseAddr is the ip:port the other members reach this node at.
	// Default "" lets memberlist choose: the bound IP, or when bound to
	// 0.0.0.0 the first private IPv4 address of the host. Binding to an
	// IPv6 wildcard ("[::]:p") needs an explicit AdvertiseAddr. A port 0
	// means the bound port; with BindAddr port 0 the bound port is
	// advertised whatever this says.
	AdvertiseAddr string

	// Join lists host:port seeds of an existing cluster. A host may be a
	// DNS name: memberlist resolves it and contacts every address it
	// yields (all on the given port), so one name can stand for all the
	// nodes. New returns without waiting; the join is retried in the
	// background with exponential backoff (100 ms doubling to 5 s) until
	// this node has exchanged state with another member, and Joined is
	// closed then. Listing this node's own address is harmless: reaching
	// only itself does not count. Default none: this node starts a
	// cluster alone and Joined is closed at once.
	Join []string

	// Secret is the cluster's shared passphrase. When set, all gossip is
	// encrypted and authenticated (AES-GCM) with a key derived from it
	// (DeriveKey(Secret, "objstore memberlist v1")), and a process
	// without the same Secret can neither join nor read the cluster.
	// Default "": the cluster is open to anyone who reaches BindAddr, and
	// New logs a warning saying so.
	Secret string

	// Meta is this node's initial metadata. Default zero.
	Meta Meta

	// Logger receives this package's logs and, at debug level,
	// memberlist's. Default nil: discard.
	Logger *slog.Logger

	// Fast selects timings for tests and single-host clusters, where a
	// failed node is declared dead in about a second: probes every
	// 200 ms with a 100 ms timeout, suspicion for 2 probe intervals,
	// gossip every 50 ms with each message sent 4*ceil(log10(n+1)) times,
	// push/pull every 1 s, dead nodes forgotten after 5 s, TCP timeout
	// 1 s. Default false: memberlist.DefaultLANConfig:
	// probes every 1 s with a 500 ms timeout, a suspicion lasts from 4 s
	// (confirmed by two other members, or in a cluster of 3 or fewer) to
	// 24 s (unconfirmed), both scaled by log10 of the size past 10
	// members; dead nodes forgotten after 30 s; TCP timeout 10 s.
	Fast bool

	// BroadcastTimeout bounds how long UpdateMeta and Leave (and so
	// Close) wait for their broadcast to go out, when the context has no
	// earlier deadline. Default 5 s.
	BroadcastTimeout time.Duration

	// OnChange, when set, is called for every change of a member,
	// including this node's own Join at start. It is called from one
	// goroutine of this package, one event at a time, in order; never
	// from memberlist's callbacks. While it runs, further changes are
	// coalesced: a member that changed several times is reported once
	// with its latest state (so a quick fail and rejoin may arrive as one
	// Join), and Members is always current. It must not call Close. It
	// should return quickly. Default nil.
	OnChange func(Event)

	// Test hooks. dnsConfigPath overrides memberlist's resolv.conf for
	// the TCP-first lookup of Join names (tests point it at an
	// in-process DNS server); forgetAfter, when positive, overrides how
	// long dead and left members are remembered.
	dnsConfigPath string
	forgetAfter   time.Duration
}

// DefaultConfig returns a new Config with every default set. NodeID must
// still be filled in.
func DefaultConfig() Config {
	return Config{
		BindAddr:         "0.0.0.0:7946",
		BroadcastTimeout: 5 * time.Second,
	}
}

// maxNodeIDLen bounds NodeID: memberlist puts the name in every message.
const maxNodeIDLen = 128

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// splitIPPort parses an ip:port with a port in [0, 65535].
func splitIPPort(field, s string) (netip.Addr, int, error) {
	host, sport, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, invalid("%s %q: %v", field, s, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, 0, invalid("%s %q: host must be an IP address", field, s)
	}
	port, err := strconv.ParseUint(sport, 10, 16)
	if err != nil {
		return netip.Addr{}, 0, invalid("%s %q: bad port", field, s)
	}
	return ip.Unmap(), int(port), nil
}

// memberlistConfig validates c and translates it. The delegate and event
// hooks are set by New.
func (c *Config) memberlistConfig() (*memberlist.Config, error) {
	if c.NodeID == "" {
		return nil, invalid("NodeID is required")
	}
	if len(c.NodeID) > maxNodeIDLen {
		return nil, invalid("NodeID is longer than %d bytes", maxNodeIDLen)
	}
	bindIP, bindPort, err := splitIPPort("BindAddr", c.BindAddr)
	if err != nil {
		return nil, err
	}
	if c.BroadcastTimeout <= 0 {
		return nil, invalid("BroadcastTimeout must be positive")
	}
	for _, seed := range c.Join {
		host, port, err := net.SplitHostPort(seed)
		if err != nil || host == "" {
			return nil, invalid("Join %q: want host:port", seed)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, invalid("Join %q: bad port", seed)
		}
	}
	if _, err := c.Meta.encode(); err != nil {
		return nil, fmt.Errorf("%w: Meta: %w", ErrInvalidConfig, err)
	}

	var mc *memberlist.Config
	if c.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		// With SuspicionMult 2, memberlist expects no confirmations
		// (it asks for SuspicionMult-2) and times a suspicion out after
		// the minimum: 2 probe intervals for fewer than 10 nodes.
		mc.SuspicionMult = 2
		mc.SuspicionMaxTimeoutMult = 3
		mc.GossipInterval = 50 * time.Millisecond
		// memberlist's local config retransmits a message only
		// 2*ceil(log10(n+1)) times: when nodes join at once, a seed's
		// news of one joiner can go only to that joiner and die out,
		// leaving others to learn of it at the next push/pull. More
		// retransmits and frequent push/pulls bound that to about 1 s.
		mc.RetransmitMult = 4
		mc.PushPullInterval = time.Second
		mc.GossipToTheDeadTime = 5 * time.Second
		mc.TCPTimeout = time.Second
	} else {
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = c.NodeID
	// A dead member's name may be taken over by a new address at once
	// (memberlist's 0 means never, until it forgets the dead member):
	// names are NodeIDs kept in a data dir, so a new address under a
	// dead member's name is that node restarted elsewhere or on another
	// port, and should be alive as soon as it joins.
	mc.DeadNodeReclaimTime = time.Nanosecond
	mc.BindAddr = bindIP.String()
	mc.BindPort = bindPort
	mc.AdvertiseAddr = ""
	mc.AdvertisePort = bindPort
	if c.AdvertiseAddr != "" {
		ip, port, err := splitIPPort("AdvertiseAddr", c.AdvertiseAddr)
		if err != nil {
			return nil, err
		}
		if ip.IsUnspecified() {
			return nil, invalid("AdvertiseAddr %q: must be an address peers can reach", c.AdvertiseAddr)
		}
		mc.AdvertiseAddr = ip.String()
		if port != 0 {
			mc.AdvertisePort = port
		}
	} else if bindIP.Is6() && bindIP.IsUnspecified() {
		// memberlist picks a private address only for 0.0.0.0; for "::"
		// it would advertise "::".
		return nil, invalid("BindAddr %q: an IPv6 wildcard needs AdvertiseAddr", c.BindAddr)
	}
	if c.Secret != "" {
		mc.SecretKey = DeriveKey(c.Secret, memberlistPurpose)
		mc.GossipVerifyIncoming = true
		mc.GossipVerifyOutgoing = true
	}
	if c.dnsConfigPath != "" {
		mc.DNSConfigPath = c.dnsConfigPath
	}
	if c.forgetAfter > 0 {
		mc.GossipToTheDeadTime = c.forgetAfter
	}
	return mc, nil
}
