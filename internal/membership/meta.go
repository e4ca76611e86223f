package membership

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// MetaMaxSize is the largest encoded Meta memberlist carries (its
// MetaMaxSize, 512 bytes). Two IPv6 addresses with ports, a long version
// string and three 19-digit counters take 267.
const MetaMaxSize = memberlist.MetaMaxSize

// Meta is what a node tells the others about itself. It travels in every
// memberlist alive message, so it is small: change it with UpdateMeta
// when a value moved enough to matter, not on every request.
type Meta struct {
	// PublicAddr is the host:port of the client APIs.
	PublicAddr string `json:"pub,omitempty"`
	// PeerAddr is the host:port of the node-to-node HTTP API.
	PeerAddr string `json:"peer,omitempty"`
	// Version is the objstore version the node runs.
	Version string `json:"ver,omitempty"`
	// Capacity and Used are the cache's size and fill, in bytes.
	Capacity int64 `json:"cap,omitempty"`
	Used     int64 `json:"used,omitempty"`
	// Objects is the number of cached objects.
	Objects int64 `json:"objs,omitempty"`
	// Ready: the node has caught up with the cluster's journal since it
	// started, so others may send it work (make it a key's owner).
	Ready bool `json:"rdy,omitempty"`
}

// encode returns the wire form of m: JSON with short keys, empty fields
// left out. JSON because it is readable in a packet dump and unknown keys
// from a newer version are ignored, not fatal.
func (m Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode meta: %w", err)
	}
	if len(b) > MetaMaxSize {
		return nil, fmt.Errorf("encoded meta is %d bytes, more than %d: %w", len(b), MetaMaxSize, ErrMetaTooLarge)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("decode meta: %w", err)
	}
	return m, nil
}
