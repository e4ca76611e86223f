package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/objstore/objstore/internal/sigv4"
)

// auth is how the public APIs authenticate clients.
type auth struct {
	verifier    *sigv4.Verifier // nil: no S3 credentials configured
	anonymousS3 bool            // unsigned S3 requests are served
	warnings    []string
}

// newAuth applies the rule: with no credentials (S3) or no token
// (/api/v1), a node serves anonymous requests only on a loopback address;
// on any other address it refuses to start unless --allow-anonymous.
func newAuth(cfg serveConfig) (auth, error) {
	creds := sigv4.StaticCredentials{}
	if cfg.AccessKey != "" {
		creds[cfg.AccessKey] = cfg.SecretKey
	}
	if cfg.CredentialsFile != "" {
		if err := readCredentials(cfg.CredentialsFile, creds); err != nil {
			return auth{}, err
		}
	}
	loopback := isLoopback(cfg.Listen)
	var a auth
	if len(creds) > 0 {
		v, err := sigv4.NewVerifier(sigv4.Config{Credentials: creds})
		if err != nil {
			return auth{}, err
		}
		a.verifier = v
		a.anonymousS3 = cfg.AllowAnonymous
	} else {
		if !loopback && !cfg.AllowAnonymous {
			return auth{}, fmt.Errorf("listening on %s without S3 credentials would let anyone read and write: give --access-key/--secret-key or --credentials-file, or --allow-anonymous", cfg.Listen)
		}
		a.anonymousS3 = true
		a.warnings = append(a.warnings, "S3 API: no credentials configured; serving anonymous requests")
	}
	if cfg.APIToken == "" {
		if !loopback && !cfg.AllowAnonymous {
			return auth{}, fmt.Errorf("listening on %s without --api-token would let anyone use /api/v1: give --api-token, or --allow-anonymous", cfg.Listen)
		}
		a.warnings = append(a.warnings, "/api/v1: no --api-token; serving anonymous requests")
	}
	return a, nil
}

// readCredentials adds the "ACCESS_KEY SECRET_KEY" lines of a file.
func readCredentials(path string, creds sigv4.StaticCredentials) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("credentials file %s:%d: want \"ACCESS_KEY SECRET_KEY\"", path, n)
		}
		creds[fields[0]] = fields[1]
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	if len(creds) == 0 {
		return fmt.Errorf("credentials file %s holds no key pair", path)
	}
	return nil
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
