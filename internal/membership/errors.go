package membership

import "errors"

// Errors returned by this package. Test them with errors.Is.
var (
	// ErrClosed: the Membership was closed.
	ErrClosed = errors.New("membership: closed")
	// ErrLeft: the node has left the cluster (Leave) and can no longer
	// change its metadata; memberlist cannot rejoin a node that left, so
	// only Close remains.
	ErrLeft = errors.New("membership: left the cluster")
	// ErrMetaTooLarge: the encoded Meta exceeds MetaMaxSize.
	ErrMetaTooLarge = errors.New("membership: meta too large")
	// ErrInvalidConfig: a Config field is malformed; the message names it.
	ErrInvalidConfig = errors.New("membership: invalid config")
)
