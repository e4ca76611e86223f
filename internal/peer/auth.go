package peer

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Request headers of the authentication.
const (
	hdrNode = "X-Objstore-Node"
	hdrDate = "X-Objstore-Date"
	hdrSig  = "X-Objstore-Signature"
)

// MaxSkew is how far a request's date may be from the receiver's clock.
const MaxSkew = 5 * time.Minute

// ErrUnauthenticated: a request without a valid signature.
var ErrUnauthenticated = errors.New("peer request not authenticated")

// Auth signs and verifies node-to-node requests with HMAC-SHA256 over the
// method, path and query, date and sender ID, keyed by a key derived from
// the cluster secret. The body is not signed: it is bound to the request
// by the connection, as the cluster's network is trusted not to rewrite
// traffic (run peers over a private network or a VPN when it is not). The
// zero Auth (no secret) signs nothing and accepts everything: an open
// cluster. Safe for concurrent use.
type Auth struct {
	node string
	key  []byte
	now  func() time.Time
}

// NewAuth returns the Auth of node for the cluster secret (empty: open).
func NewAuth(secret, node string) (*Auth, error) {
	a := &Auth{node: node, now: time.Now}
	if secret == "" {
		return a, nil
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "objstore peer http v1", 32)
	if err != nil {
		return nil, fmt.Errorf("peer auth key: %w", err)
	}
	a.key = key
	return a, nil
}

// Open reports whether the cluster has no secret.
func (a *Auth) Open() bool { return a.key == nil }

func (a *Auth) mac(method, uri, date, node string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(method + "\n" + uri + "\n" + date + "\n" + node))
	return m.Sum(nil)
}

// Sign adds the authentication headers to r.
func (a *Auth) Sign(r *http.Request) {
	r.Header.Set(hdrNode, a.node)
	if a.key == nil {
		return
	}
	date := strconv.FormatInt(a.now().Unix(), 10)
	r.Header.Set(hdrDate, date)
	r.Header.Set(hdrSig, hex.EncodeToString(a.mac(r.Method, r.URL.RequestURI(), date, a.node)))
}

// Verify checks r's signature and returns the sender's node ID.
func (a *Auth) Verify(r *http.Request) (string, error) {
	node := r.Header.Get(hdrNode)
	if a.key == nil {
		return node, nil
	}
	date := r.Header.Get(hdrDate)
	sec, err := strconv.ParseInt(date, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: no date", ErrUnauthenticated)
	}
	if d := a.now().Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return "", fmt.Errorf("%w: date %v off by %v", ErrUnauthenticated, time.Unix(sec, 0).UTC(), d)
	}
	sig, err := hex.DecodeString(r.Header.Get(hdrSig))
	if err != nil || !hmac.Equal(sig, a.mac(r.Method, r.URL.RequestURI(), date, node)) {
		return "", fmt.Errorf("%w: bad signature", ErrUnauthenticated)
	}
	return node, nil
}
