package s3backend

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// MinPartSize is the smallest part S3 accepts in a multipart upload (all
// parts but the last).
const MinPartSize = 5 << 20

// Config configures a Backend. A zero field takes its default, which
// DefaultConfig spells out.
type Config struct {
	// Endpoint is the base URL of an S3-compatible server, such as
	// "http://127.0.0.1:9000". Default "": AWS S3, found from Region.
	Endpoint string
	// Region signs requests and, without Endpoint, picks the AWS
	// endpoint. Default "us-east-1".
	Region string
	// PathStyle addresses a bucket as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint>; most S3-compatible servers need it. Default
	// false.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when both set, are used instead of
	// the standard AWS credential chain (environment, shared config and
	// credentials files, SSO, web identity, container and instance roles).
	// Meant for tests and S3-compatible servers. Default "": the chain.
	AccessKeyID     string
	SecretAccessKey string
	// MultipartThreshold: objects larger than this are uploaded in parts,
	// smaller ones with one PutObject. Default 16 MiB.
	MultipartThreshold int64
	// PartSize is the size of each part of a multipart upload; at least
	// MinPartSize. It grows by itself for objects that would need more
	// than 10,000 parts. Default 16 MiB.
	PartSize int64
	// Concurrency is the number of parts of one object uploaded at once.
	// A body that is not an io.ReaderAt is buffered, up to Concurrency+1
	// parts. Default 4.
	Concurrency int
	// MaxAttempts bounds the tries of one request, the first included.
	// Default 3.
	MaxAttempts int
	// ConnectTimeout bounds a TCP connect and, separately, a TLS
	// handshake. Default 5s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a response's headers once
	// the request is sent. Default 60s.
	ResponseHeaderTimeout time.Duration

	// proxy replaces the transport's proxy function (net/http's
	// ProxyFromEnvironment, which never proxies loopback); for tests.
	proxy func(*http.Request) (*url.URL, error)
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Region:                "us-east-1",
		MultipartThreshold:    16 << 20,
		PartSize:              16 << 20,
		Concurrency:           4,
		MaxAttempts:           3,
		ConnectTimeout:        5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// withDefaults fills the zero fields of c from DefaultConfig and checks
// the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Region == "" {
		c.Region = d.Region
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = d.MultipartThreshold
	}
	if c.PartSize == 0 {
		c.PartSize = d.PartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = d.ResponseHeaderTimeout
	}
	switch {
	case c.MultipartThreshold < 0:
		return c, fmt.Errorf("%w: negative MultipartThreshold %d", core.ErrInvalidArgument, c.MultipartThreshold)
	case c.PartSize < MinPartSize:
		return c, fmt.Errorf("%w: PartSize %d is below S3's minimum %d", core.ErrInvalidArgument, c.PartSize, MinPartSize)
	case c.Concurrency < 0:
		return c, fmt.Errorf("%w: negative Concurrency %d", core.ErrInvalidArgument, c.Concurrency)
	case c.MaxAttempts < 0:
		return c, fmt.Errorf("%w: negative MaxAttempts %d", core.ErrInvalidArgument, c.MaxAttempts)
	case c.ConnectTimeout < 0 || c.ResponseHeaderTimeout < 0:
		return c, fmt.Errorf("%w: negative timeout", core.ErrInvalidArgument)
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return c, fmt.Errorf("%w: AccessKeyID and SecretAccessKey must be set together", core.ErrInvalidArgument)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%w: Endpoint %q is not an http(s) URL", core.ErrInvalidArgument, c.Endpoint)
		}
	}
	return c, nil
}

// ParseURL parses a backend URL of the form
//
//	s3://BUCKET?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true
//
// into a DefaultConfig with those settings and the bucket name. Every
// query parameter is optional; unknown ones are an error, so that a typo
// does not go unnoticed.
func ParseURL(raw string) (cfg Config, bucket string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, "", fmt.Errorf("%w: backend URL: %w", core.ErrInvalidArgument, err)
	}
	if u.Scheme != "s3" {
		return Config{}, "", fmt.Errorf("%w: backend URL %q: scheme is not s3", core.ErrInvalidArgument, raw)
	}
	if u.Path != "" && u.Path != "/" {
		return Config{}, "", fmt.Errorf("%w: backend URL %q: a path is not supported", core.ErrInvalidArgument, raw)
	}
	bucket = u.Host
	if err := core.ValidateBucket(bucket); err != nil {
		return Config{}, "", fmt.Errorf("backend URL: %w", err)
	}
	cfg = DefaultConfig()
	for name, values := range u.Query() {
		v := values[len(values)-1]
		switch name {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path_style":
			if cfg.PathStyle, err = strconv.ParseBool(v); err != nil {
				return Config{}, "", fmt.Errorf("%w: backend URL: path_style=%q is not a boolean", core.ErrInvalidArgument, v)
			}
		default:
			return Config{}, "", fmt.Errorf("%w: backend URL: unknown parameter %q", core.ErrInvalidArgument, name)
		}
	}
	if _, err := cfg.withDefaults(); err != nil {
		return Config{}, "", fmt.Errorf("backend URL: %w", err)
	}
	return cfg, bucket, nil
}
