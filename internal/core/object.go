package core

import (
	"fmt"
	"time"
)

// Level is the consistency level of an object, as in the original objstore.
type Level int

const (
	// LevelLocal keeps the object on the receiving node only; it is never
	// uploaded and never evicted.
	LevelLocal Level = 0
	// LevelBackend keeps it on this node and in the backend.
	LevelBackend Level = 1
	// LevelAll keeps it on every node of the cluster and in the backend.
	LevelAll Level = 2
)

// ParseLevel parses "0", "1" or "2".
func ParseLevel(s string) (Level, error) {
	switch s {
	case "0":
		return LevelLocal, nil
	case "1":
		return LevelBackend, nil
	case "2":
		return LevelAll, nil
	}
	return 0, fmt.Errorf("%w: consistency level %q (want 0, 1 or 2)", ErrInvalidArgument, s)
}

// Info describes an object: what is stored with its body in the cache and
// in the backend.
type Info struct {
	Bucket      string
	Key         string
	Size        int64
	ETag        string // hex MD5 of the body, or S3's multipart form "hex-N"; no quotes
	ContentType string
	ModTime     time.Time
	// UserMeta is S3 user metadata (x-amz-meta-*), keys lowercase on S3.
	UserMeta map[string]string
	// Header holds the standard headers stored with the object and returned
	// on reads: Cache-Control, Content-Disposition, Content-Encoding,
	// Content-Language, Expires (canonical header names).
	Header map[string]string
	// Name is the file name of /api/v1 (X-Meta-Name), if any.
	Name string
	// Level is the consistency level (see Level).
	Level Level
}

// StoredHeaders lists the standard headers kept in Info.Header.
var StoredHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}
