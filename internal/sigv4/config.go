package sigv4

import (
	"errors"
	"time"
)

// Credentials finds the secret of an access key.
//
// Secret is called once per signed request, from any goroutine: it must be
// safe for concurrent use and should answer from memory without blocking.
// ok is false for an unknown key, which Verify reports as
// ErrInvalidAccessKeyID.
type Credentials interface {
	Secret(accessKey string) (secret string, ok bool)
}

// CredentialsFunc adapts a function to Credentials.
type CredentialsFunc func(accessKey string) (secret string, ok bool)

// Secret calls f.
func (f CredentialsFunc) Secret(accessKey string) (string, bool) { return f(accessKey) }

// StaticCredentials maps access keys to their secrets. It must not be
// modified while a Verifier uses it.
type StaticCredentials map[string]string

// Secret looks the key up in the map.
func (c StaticCredentials) Secret(accessKey string) (string, bool) {
	s, ok := c[accessKey]
	return s, ok
}

var (
	_ Credentials = CredentialsFunc(nil)
	_ Credentials = StaticCredentials(nil)
)

// Config configures a Verifier. A zero field takes its default, which
// DefaultConfig spells out; Credentials has none and must be set.
type Config struct {
	// Credentials finds the secret of each access key. Required.
	Credentials Credentials
	// Regions are the regions a request may be signed for. Default nil:
	// any region, since clients of an S3-compatible server sign with
	// whatever region they were configured with ("us-east-1" mostly).
	Regions []string
	// Now is the clock that X-Amz-Date is checked against. Default
	// time.Now.
	Now func() time.Time
	// MaxSkew is how far the time of a request signed in its headers may
	// be from Now, either way, and how far in the future the X-Amz-Date
	// of a presigned URL may be. Default 15 minutes, as S3.
	MaxSkew time.Duration
	// MaxChunkSize bounds the size of one chunk of an aws-chunked body.
	// Chunks are streamed, not buffered, so this guards against a
	// malformed or hostile size rather than memory use; clients send 64
	// KiB to 1 MiB chunks. Default 16 MiB.
	MaxChunkSize int64
}

// Defaults of Config.
const (
	DefaultMaxSkew      = 15 * time.Minute
	DefaultMaxChunkSize = 16 << 20
)

// Limits of presigned URLs: X-Amz-Expires is 1 second to 7 days.
const (
	MinPresignExpires = 1
	MaxPresignExpires = 7 * 24 * 60 * 60
)

// DefaultConfig returns a Config with every default filled in but
// Credentials.
func DefaultConfig() Config {
	return Config{
		Regions:      nil, // any region
		Now:          time.Now,
		MaxSkew:      DefaultMaxSkew,
		MaxChunkSize: DefaultMaxChunkSize,
	}
}

// withDefaults fills the zero fields of c and validates it.
func (c Config) withDefaults() (Config, error) {
	if c.Credentials == nil {
		return c, errors.New("sigv4: Config.Credentials is required")
	}
	if c.MaxSkew < 0 || c.MaxChunkSize < 0 {
		return c, errors.New("sigv4: Config.MaxSkew and MaxChunkSize must not be negative")
	}
	d := DefaultConfig()
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = d.MaxSkew
	}
	if c.MaxChunkSize == 0 {
		c.MaxChunkSize = d.MaxChunkSize
	}
	c.Regions = append([]string(nil), c.Regions...)
	return c, nil
}
