package main

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// Write modes of --write-mode.
const (
	writeThrough = "through" // a PUT returns once the backend has the object
	writeBack    = "back"    // a PUT returns once the object is durable locally; uploads follow
)

// serveConfig is the configuration of objstore serve, read from its flags
// and their OBJSTORE_* environment twins by parseServe.
type serveConfig struct {
	// DataDir holds cached bodies and the index, as given (not made
	// absolute). Default "./objstore-data".
	DataDir string
	// Listen is the host:port of the HTTP server. Default "127.0.0.1:10999".
	Listen string
	// BackendURL is --backend as given; "" means the default below.
	BackendURL string
	// Backend is BackendURL parsed. Default file://<absolute DataDir>/origin.
	Backend backendSpec
	// Bucket is the bucket /api/v1 uses when a request names none.
	// Default "objstore".
	Bucket string
	// CacheSize is how many bytes of bodies the cache may hold. Default 0,
	// meaning: 80% of the free space of DataDir's filesystem at start plus
	// what the cache already holds (serve works that out, not parseServe).
	CacheSize int64
	// WriteMode is writeThrough (default) or writeBack.
	WriteMode string
	// RevalidateAfter is how old a cached copy may get before a read checks
	// it against the backend; 0 (default) never checks: a cached copy stays
	// valid until evicted or deleted through objstore.
	RevalidateAfter time.Duration
	// LogLevel is debug, info (default), warn or error, in lower case.
	LogLevel string
	// LogFormat is text (default) or json, in lower case.
	LogFormat string
	// UploadWorkers is how many uploads to the backend run at once.
	// Default 8.
	UploadWorkers int
	// AccessKey and SecretKey are one S3 credential the S3 API accepts;
	// CredentialsFile names a file of more ("ACCESS_KEY SECRET_KEY" per
	// line, # comments). Default none.
	AccessKey, SecretKey, CredentialsFile string
	// AllowAnonymous serves unsigned S3 requests and /api/v1 without a
	// token on a non-loopback address. Default false; without credentials
	// or a token a node on loopback serves anonymous requests anyway.
	AllowAnonymous bool
	// APIToken is the bearer token /api/v1 requires. Default none.
	APIToken string
	// Domain enables virtual-hosted S3 addressing (bucket.<domain>).
	Domain string
	// TLSCert and TLSKey serve the public listener over HTTPS.
	TLSCert, TLSKey string
	// MultipartMaxAge is how long a multipart upload neither completed nor
	// aborted is kept. Default 24h.
	MultipartMaxAge time.Duration

	// ClusterListen is the host:port of membership (gossip, TCP and UDP).
	// Default "127.0.0.1:11999"; port 0 picks one.
	ClusterListen string
	// PeerListen is the host:port of node-to-node HTTP. Default "": the
	// ClusterListen host with its port + 1 (0 when that port is 0).
	PeerListen string
	// Advertise is the host (or host:port of membership) other nodes reach
	// this one at. Default "": derived from the listen addresses.
	Advertise string
	// Join lists host:port of nodes of the cluster to join; any one live
	// node is enough. Default none: start a cluster alone.
	Join []string
	// ClusterSecret keys membership encryption and peer authentication.
	// Default none: an open cluster, with a warning.
	ClusterSecret string
	// Replicas is how many nodes keep a copy of each written object (the
	// receiving node besides), or -1 for every node ("all"). Default 2.
	Replicas int
	// CacheOnRead keeps a copy of what this node reads from a peer.
	// Default true.
	CacheOnRead bool
	// TombstoneHorizon is how long deletes are remembered in the journal;
	// a node away for longer catches up by snapshot. Default 168h.
	TombstoneHorizon time.Duration
	// DebugListen is the host:port of Go's profiler (/debug/pprof/).
	// Default "": off.
	DebugListen string
}

// defaultServeConfig returns a fresh serveConfig holding every default
// (with Backend still unresolved: it depends on DataDir).
func defaultServeConfig() serveConfig {
	return serveConfig{
		DataDir:          "./objstore-data",
		Listen:           "127.0.0.1:10999",
		Bucket:           "objstore",
		WriteMode:        writeThrough,
		LogLevel:         "info",
		LogFormat:        "text",
		UploadWorkers:    8,
		MultipartMaxAge:  24 * time.Hour,
		ClusterListen:    "127.0.0.1:11999",
		Replicas:         2,
		CacheOnRead:      true,
		TombstoneHorizon: 7 * 24 * time.Hour,
	}
}

// parseServe reads the configuration of objstore serve from args (without
// the subcommand name) and the environment getenv reports (nil: none),
// checks every value and resolves the backend.
//
// For -h or --help it prints the usage to stderr and returns an error
// wrapping flag.ErrHelp, which the caller should treat as success. Other
// errors name the flag or environment variable at fault.
func parseServe(args []string, getenv func(string) string) (serveConfig, error) {
	cfg := defaultServeConfig()
	var raw rawFlags
	fs := serveFlags(&cfg, &raw)
	cacheSize, join, replicas := raw.cacheSize, raw.join, raw.replicas
	if err := fs.ParseEnv(args, getenv); err != nil {
		return serveConfig{}, fmt.Errorf("serve: %w", err)
	}
	if fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fs.invalid(name, err))
		}
	}
	if cfg.DataDir == "" {
		check("data-dir", errors.New("must not be empty"))
	}
	check("listen", checkListen(cfg.Listen))
	var err error
	cfg.Backend, err = parseBackendURL(cfg.BackendURL, cfg.DataDir)
	check("backend", err)
	check("bucket", core.ValidateBucket(cfg.Bucket))
	if *cacheSize != "" {
		cfg.CacheSize, err = parseSize(*cacheSize)
		if err == nil && cfg.CacheSize == 0 {
			err = fmt.Errorf("size %q: must be more than 0 (leave it empty for the automatic size)", *cacheSize)
		}
		check("cache-size", err)
	}
	cfg.WriteMode = strings.ToLower(cfg.WriteMode)
	if cfg.WriteMode != writeThrough && cfg.WriteMode != writeBack {
		check("write-mode", fmt.Errorf("write mode %q: must be %s or %s", cfg.WriteMode, writeThrough, writeBack))
	}
	if cfg.RevalidateAfter < 0 {
		check("revalidate-after", fmt.Errorf("duration %v: must not be negative", cfg.RevalidateAfter))
	}
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	_, err = parseLevel(cfg.LogLevel)
	check("log-level", err)
	cfg.LogFormat = strings.ToLower(cfg.LogFormat)
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		check("log-format", fmt.Errorf("log format %q: must be text or json", cfg.LogFormat))
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		check("secret-key", errors.New("--access-key and --secret-key go together"))
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		check("tls-key", errors.New("--tls-cert and --tls-key go together"))
	}
	if cfg.MultipartMaxAge <= 0 {
		check("multipart-max-age", fmt.Errorf("duration %v: must be positive", cfg.MultipartMaxAge))
	}
	if cfg.UploadWorkers < 1 {
		check("upload-workers", fmt.Errorf("%d workers: must be at least 1", cfg.UploadWorkers))
	}
	check("cluster-listen", checkListen(cfg.ClusterListen))
	if cfg.DebugListen != "" {
		check("debug-listen", checkListen(cfg.DebugListen))
	}
	if cfg.PeerListen == "" {
		cfg.PeerListen, err = nextPort(cfg.ClusterListen)
		check("cluster-listen", err)
	} else {
		check("peer-listen", checkListen(cfg.PeerListen))
	}
	for _, j := range strings.Split(*join, ",") {
		if j = strings.TrimSpace(j); j != "" {
			if _, _, err := net.SplitHostPort(j); err != nil {
				check("join", fmt.Errorf("address %q: want host:port", j))
			}
			cfg.Join = append(cfg.Join, j)
		}
	}
	if cfg.TombstoneHorizon <= 0 {
		check("tombstone-horizon", fmt.Errorf("duration %v: must be positive", cfg.TombstoneHorizon))
	}
	if strings.EqualFold(*replicas, "all") {
		cfg.Replicas = -1
	} else if r, err := strconv.Atoi(*replicas); err != nil || r < 1 {
		check("replicas", fmt.Errorf("%q: want a count of at least 1, or all", *replicas))
	} else {
		cfg.Replicas = r
	}
	if len(errs) > 0 {
		return serveConfig{}, fmt.Errorf("serve: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// rawFlags hold the flags parseServe converts.
type rawFlags struct {
	cacheSize, join, replicas *string
}

// serveFlags defines the flags of objstore serve on a new set, storing
// into cfg (whose values are the defaults) and, for the flags parseServe
// converts, into raw.
func serveFlags(cfg *serveConfig, raw *rawFlags) *envFlagSet {
	fs := newEnvFlagSet("serve", "objstore serve [flags]")
	cacheSize, join, replicas := new(string), new(string), new(string)
	*replicas = replicasString(cfg.Replicas)
	*raw = rawFlags{cacheSize: cacheSize, join: join, replicas: replicas}
	fs.StringVar(join, "join", "", "`host:port`,... of nodes of the cluster to join (any one live node is enough;\n"+
		"a DNS name that resolves to several nodes works)")
	fs.StringVar(replicas, "replicas", *replicas, "`count` of nodes that keep a copy of each written object besides the one\n"+
		"that received it, or \"all\"")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "`dir`ectory for cached bodies and the index")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "`host:port` to serve HTTP on")
	fs.StringVar(&cfg.BackendURL, "backend", cfg.BackendURL, "origin bucket `URL`: file:///abs/dir, s3://bucket?region=R,\n"+
		"or s3://bucket?endpoint=http://host:port&path_style=true (default file://<data-dir>/origin)")
	fs.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "`name` of the bucket /api/v1 uses")
	fs.StringVar(cacheSize, "cache-size", *cacheSize, "`size` of the cache in bytes, as in 50GiB, 500MB or 1048576\n"+
		"(default 80% of the data dir's free space plus what the cache holds)")
	fs.StringVar(&cfg.WriteMode, "write-mode", cfg.WriteMode, "`mode`: through (a PUT waits for the backend) or back (a PUT returns\n"+
		"once stored locally and uploads follow)")
	fs.DurationVar(&cfg.RevalidateAfter, "revalidate-after", cfg.RevalidateAfter, "age after which a read checks a cached copy against the backend\n(0: never; a client's Cache-Control: no-cache always does)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "`level` of logs: debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "`format` of logs: text or json")
	fs.IntVar(&cfg.UploadWorkers, "upload-workers", cfg.UploadWorkers, "`n`umber of uploads to the backend to run at once")
	fs.StringVar(&cfg.AccessKey, "access-key", cfg.AccessKey, "S3 API access `key` clients sign with")
	fs.StringVar(&cfg.SecretKey, "secret-key", cfg.SecretKey, "S3 API secret `key` of --access-key")
	fs.StringVar(&cfg.CredentialsFile, "credentials-file", cfg.CredentialsFile, "`file` of S3 API key pairs, \"ACCESS_KEY SECRET_KEY\" per line")
	fs.BoolVar(&cfg.AllowAnonymous, "allow-anonymous", cfg.AllowAnonymous, "serve unsigned S3 requests and /api/v1 without a token on a\nnon-loopback address (on loopback they are served when no credentials are set)")
	fs.StringVar(&cfg.APIToken, "api-token", cfg.APIToken, "bearer `token` /api/v1 requires (Authorization: Bearer <token>)")
	fs.StringVar(&cfg.Domain, "domain", cfg.Domain, "`domain` for virtual-hosted S3 addressing: <bucket>.<domain>")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "`file` of the TLS certificate (PEM) of the public listener")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "`file` of the TLS private key (PEM) of the public listener")
	fs.DurationVar(&cfg.MultipartMaxAge, "multipart-max-age", cfg.MultipartMaxAge, "age after which an unfinished S3 multipart upload is removed")
	fs.StringVar(&cfg.ClusterListen, "cluster-listen", cfg.ClusterListen, "`host:port` of cluster membership (gossip over TCP and UDP)")
	fs.StringVar(&cfg.PeerListen, "peer-listen", cfg.PeerListen, "`host:port` of node-to-node HTTP (default: the cluster-listen host, its port + 1)")
	fs.StringVar(&cfg.Advertise, "advertise", cfg.Advertise, "`host` or host:port other nodes reach this one at, an IP or a name resolved\nat start (default derived)")
	fs.StringVar(&cfg.ClusterSecret, "cluster-secret", cfg.ClusterSecret, "`passphrase` of the cluster: keys gossip encryption and node-to-node\n"+
		"authentication (without it the cluster is open to anyone who reaches it)")
	fs.BoolVar(&cfg.CacheOnRead, "cache-on-read", cfg.CacheOnRead, "keep a copy of objects read from other nodes")
	fs.StringVar(&cfg.DebugListen, "debug-listen", cfg.DebugListen, "`host:port` to serve Go's profiler on, /debug/pprof/ (default off; it is\n"+
		"unauthenticated: keep it on loopback)")
	fs.DurationVar(&cfg.TombstoneHorizon, "tombstone-horizon", cfg.TombstoneHorizon, "how long the journal remembers deletes (a node away for longer\ncatches up by snapshot)")
	return fs
}

// nextPort returns addr with its port + 1 (port 0 stays 0).
func nextPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p >= 65535 {
		return "", fmt.Errorf("cluster listen port %q has no next port for --peer-listen", port)
	}
	if p > 0 {
		p++
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// checkListen accepts host:port with a numeric port; an empty host means
// every interface.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen address %q: port %q must be a number from 0 to 65535", addr, port)
	}
	return nil
}

// sizeUnit returns the multiplier of a parseSize unit, in any case.
func sizeUnit(suffix string) (int64, bool) {
	switch strings.ToLower(suffix) {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "pb":
		return 1e15, true
	case "eb":
		return 1e18, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	case "pib":
		return 1 << 50, true
	case "eib":
		return 1 << 60, true
	}
	return 0, false
}

// parseSize parses a byte count: a plain number ("1048576") or a number,
// possibly with a fraction, and a unit, SI ("500MB" = 500×10⁶, also kB,
// GB, TB, PB, EB) or IEC ("50GiB" = 50×2³⁰, also KiB, MiB, TiB, PiB, EiB).
// Units are case-insensitive and may follow a space; a fraction of a byte
// is dropped. Single-letter units ("50G") are refused as ambiguous.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit, as in 50GiB, 500MB or 1048576", s)
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		hint := ""
		if len(unit) == 1 {
			hint = fmt.Sprintf("; write %[1]sB (powers of 1000) or %[1]siB (powers of 1024)", strings.ToUpper(unit))
		}
		return 0, fmt.Errorf("size %q: unknown unit %q%s", s, unit, hint)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: bad number %q", s, num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates: whole bytes only
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q: more than %d bytes", s, int64(math.MaxInt64))
	}
	return n.Int64(), nil
}
