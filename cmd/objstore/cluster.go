package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/objstore/objstore/internal/membership"
	"github.com/objstore/objstore/internal/node"
	"github.com/objstore/objstore/internal/peer"
)

// metaEvery is how often a node republishes its cache figures in its
// membership metadata.
const metaEvery = 10 * time.Second

// readyPoll is how often a node checks whether it has caught up, to say
// so in its metadata.
const readyPoll = 100 * time.Millisecond

// clusterView is the node's view of membership. It is created before the
// node (which needs it) and bound to the membership once the node and its
// peer listener are up: until then the node has no peers.
type clusterView struct {
	ms   atomic.Pointer[membership.Membership]
	live atomic.Pointer[liveMembers] // Live's last answer
}

// liveMembers is Live's answer for one view of the membership: the node
// asks on every peer read and placement, and the live members seldom
// change.
type liveMembers struct {
	from []membership.Member // the membership's LiveView
	out  []node.Member
}

var _ node.Cluster = (*clusterView)(nil)

// Live lists nobody until the membership has joined the cluster (or,
// without --join, started it): until then the node works on its own and
// has not caught up.
func (c *clusterView) Live() []node.Member {
	ms := c.ms.Load()
	if ms == nil {
		return nil
	}
	select {
	case <-ms.Joined():
	default:
		return nil
	}
	live := ms.LiveView()
	if l := c.live.Load(); l != nil && len(l.from) == len(live) && (len(live) == 0 || &l.from[0] == &live[0]) {
		return l.out // the same view (a new one is a new slice)
	}
	out := make([]node.Member, 0, len(live))
	for _, m := range live {
		if m.Meta.PeerAddr != "" {
			out = append(out, node.Member{ID: m.ID, PeerAddr: m.Meta.PeerAddr, Ready: m.Meta.Ready, Capacity: m.Meta.Capacity})
		}
	}
	c.live.Store(&liveMembers{from: live, out: out})
	return out
}

// cluster is a node's part of its cluster: membership, the peer listener
// and the peer client.
type cluster struct {
	log     *slog.Logger // component=cluster
	root    *slog.Logger
	view    *clusterView
	auth    *peer.Auth
	client  *peer.Client
	peerLn  net.Listener
	peerSrv *http.Server
	peerH   *peer.Server // peerSrv's handler, which owns the streams
	ms      *membership.Membership
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// newCluster prepares the cluster side of node id: the peer client and
// the peer listener (bound now, so that its port can be advertised). log
// is the root logger.
func newCluster(cfg serveConfig, id string, log *slog.Logger) (*cluster, error) {
	auth, err := peer.NewAuth(cfg.ClusterSecret, id)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.PeerListen)
	if err != nil {
		return nil, fmt.Errorf("peer listen: %w", err)
	}
	return &cluster{
		log: log.With("component", "cluster"), root: log, view: &clusterView{}, auth: auth,
		client: peer.NewClient(peer.ClientConfig{Auth: auth}),
		peerLn: ln, stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// start serves the peer routes of n and joins the cluster.
func (c *cluster) start(ctx context.Context, cfg serveConfig, n *node.Node, publicAddr string) error {
	c.peerH = peer.NewServer(n, n, c.auth, c.log)
	c.peerSrv = &http.Server{
		Handler:           c.peerH,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	go c.peerSrv.Serve(c.peerLn)

	mcfg := membership.DefaultConfig()
	mcfg.NodeID = n.ID()
	mcfg.BindAddr = cfg.ClusterListen
	mcfg.Join = cfg.Join
	mcfg.Secret = cfg.ClusterSecret
	mcfg.Logger = c.root // it names its own component
	advHost, advAddr, err := advertised(ctx, cfg, net.DefaultResolver.LookupNetIP)
	if err != nil {
		c.peerSrv.Close()
		c.peerH.Close()
		return err
	}
	mcfg.AdvertiseAddr = advAddr
	mcfg.Meta = c.meta(n, publicAddr, advHost)
	ms, err := membership.New(ctx, mcfg)
	if err != nil {
		c.peerSrv.Close()
		c.peerH.Close()
		return err
	}
	if advHost == "" {
		// The membership chose the address: peers reach the peer and
		// public listeners on the same host.
		advHost, _, _ = net.SplitHostPort(ms.LocalAddr())
		if err := ms.UpdateMeta(ctx, c.meta(n, publicAddr, advHost)); err != nil {
			c.log.Warn("update node metadata", "err", err)
		}
	}
	c.ms = ms
	c.view.ms.Store(ms)
	go c.publish(n, publicAddr, advHost)
	c.log.Info("cluster", "node_id", n.ID(), "cluster_listen", ms.LocalAddr(), "peer_listen", c.peerLn.Addr().String(),
		"join", cfg.Join, "replicas", replicasString(cfg.Replicas))
	return nil
}

// publish republishes the node's cache figures every metaEvery, and its
// readiness as soon as it has caught up with the journal.
func (c *cluster) publish(n *node.Node, publicAddr, advHost string) {
	defer close(c.done)
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	ready := false
	last := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if ready == n.CaughtUp() && time.Since(last) < metaEvery {
			continue
		}
		ready, last = n.CaughtUp(), time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.ms.UpdateMeta(ctx, c.meta(n, publicAddr, advHost)); err != nil {
			c.log.Debug("update node metadata", "err", err)
		}
		cancel()
	}
}

func (c *cluster) meta(n *node.Node, publicAddr, advHost string) membership.Meta {
	st := n.Stats()
	return membership.Meta{
		PublicAddr: withHost(publicAddr, advHost),
		PeerAddr:   withHost(c.peerLn.Addr().String(), advHost),
		Version:    version,
		Capacity:   st.Capacity, Used: st.BytesCached, Objects: st.Objects,
		Ready: n.CaughtUp(),
	}
}

// close tells the cluster this node goes and stops the peer listener.
// Safe to call twice.
func (c *cluster) close(ctx context.Context) {
	c.once.Do(func() { c.shutdown(ctx) })
}

func (c *cluster) shutdown(ctx context.Context) {
	if c.ms != nil {
		close(c.stop)
		<-c.done
		c.view.ms.Store(nil)
		if err := c.ms.Close(); err != nil {
			c.log.Warn("leave cluster", "err", err)
		}
	}
	if c.peerSrv != nil {
		c.peerSrv.Shutdown(ctx)
		c.peerH.Close()
	} else {
		c.peerLn.Close()
	}
	c.client.Close()
}

// advertised returns the host to advertise (empty: let membership pick)
// and the membership advertise address. A --advertise host that is a name
// (a container's or a Compose service's) is resolved with lookup, once, at
// start: membership needs an IP, and the peer and public addresses are
// advertised with the same one. When a name has several addresses, the
// first IPv4 one is taken (the first of any family if there is none).
func advertised(ctx context.Context, cfg serveConfig, lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)) (host, addr string, err error) {
	if cfg.Advertise == "" {
		h, _, _ := net.SplitHostPort(cfg.ClusterListen)
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			return h, "", nil
		}
		return "", "", nil
	}
	h, p, err := net.SplitHostPort(cfg.Advertise)
	if err != nil {
		h = cfg.Advertise
		_, p, _ = net.SplitHostPort(cfg.ClusterListen)
	}
	if net.ParseIP(h) == nil {
		ips, err := lookup(ctx, "ip", h)
		if err != nil {
			return "", "", fmt.Errorf("advertise %q: %w", h, err)
		}
		if len(ips) == 0 {
			return "", "", fmt.Errorf("advertise %q: the name has no address", h)
		}
		ip := ips[0]
		for _, a := range ips {
			if a.Unmap().Is4() {
				ip = a
				break
			}
		}
		h = ip.Unmap().String()
	}
	return h, net.JoinHostPort(h, p), nil
}

// withHost returns addr (host:port) with an unspecified host replaced by
// host, when known.
func withHost(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, p)
	}
	return addr
}

func replicasString(r int) string {
	if r == node.AllReplicas {
		return "all"
	}
	return strconv.Itoa(r)
}

// nodeInfo is one member in GET /api/v1/nodes.
type nodeInfo struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	Self       bool   `json:"self,omitempty"`
	PublicAddr string `json:"public_addr"`
	PeerAddr   string `json:"peer_addr"`
	GossipAddr string `json:"gossip_addr"`
	Version    string `json:"version"`
	Capacity   int64  `json:"capacity"`
	Used       int64  `json:"used"`
	Objects    int64  `json:"objects"`
	Ready      bool   `json:"ready"`
}

// nodes lists the cluster's members, this node's own figures fresh.
func (c *cluster) nodes(n *node.Node) []nodeInfo {
	ms := c.view.ms.Load()
	if ms == nil {
		return nil
	}
	var out []nodeInfo
	for _, m := range ms.Members() {
		ni := nodeInfo{ID: m.ID, State: m.State.String(), Self: m.Self, PublicAddr: m.Meta.PublicAddr, PeerAddr: m.Meta.PeerAddr,
			GossipAddr: m.Addr, Version: m.Meta.Version, Capacity: m.Meta.Capacity, Used: m.Meta.Used, Objects: m.Meta.Objects,
			Ready: m.Meta.Ready}
		if m.Self {
			st := n.Stats()
			ni.Capacity, ni.Used, ni.Objects, ni.Ready = st.Capacity, st.BytesCached, st.Objects, n.CaughtUp()
		}
		out = append(out, ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// membersByState counts the members this node knows by state.
func (c *cluster) membersByState() map[string]int {
	ms := c.view.ms.Load()
	if ms == nil {
		return nil
	}
	out := make(map[string]int)
	for _, m := range ms.Members() {
		out[m.State.String()]++
	}
	return out
}
