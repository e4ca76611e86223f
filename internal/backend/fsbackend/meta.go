package fsbackend

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// metaVersion is the sidecar format version; a reader refuses others.
const metaVersion = 1

// meta is the JSON sidecar stored next to a body.
type meta struct {
	Version     int               `json:"v"`
	Key         string            `json:"key"`
	Size        int64             `json:"size"`
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type"`
	ModTime     time.Time         `json:"mod_time"`
	UserMeta    map[string]string `json:"user_meta,omitempty"`
	Header      map[string]string `json:"header,omitempty"`
	Name        string            `json:"name,omitempty"`
	Level       core.Level        `json:"level"`
}

// newMeta builds the sidecar for a body just written, normalising info as
// S3 would (lowercase user metadata keys, only the stored headers, a
// default content type).
func newMeta(key string, size int64, etag string, info core.Info) meta {
	m := meta{
		Version:     metaVersion,
		Key:         key,
		Size:        size,
		ETag:        etag,
		ContentType: info.ContentType,
		ModTime:     time.Now().UTC(),
		Name:        info.Name,
		Level:       info.Level,
	}
	if m.ContentType == "" {
		m.ContentType = "application/octet-stream"
	}
	if len(info.UserMeta) > 0 {
		m.UserMeta = make(map[string]string, len(info.UserMeta))
		for k, v := range info.UserMeta {
			m.UserMeta[strings.ToLower(k)] = v
		}
	}
	for k, v := range info.Header {
		k = http.CanonicalHeaderKey(k)
		if !slices.Contains(core.StoredHeaders, k) {
			continue
		}
		if m.Header == nil {
			m.Header = make(map[string]string)
		}
		m.Header[k] = v
	}
	return m
}

// decodeMeta decodes the sidecar of key.
func decodeMeta(data []byte, key string) (meta, error) {
	m, err := parseMeta(data)
	if err != nil {
		return meta{}, err
	}
	// A different key would take a SHA-256 collision: it means the
	// sidecar was corrupted or copied by hand.
	if m.Key != key {
		return meta{}, fmt.Errorf("metadata is for key %q", m.Key)
	}
	return m, nil
}

// parseMeta decodes a sidecar and checks its format.
func parseMeta(data []byte) (meta, error) {
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return meta{}, fmt.Errorf("decode metadata: %w", err)
	}
	if m.Version != metaVersion {
		return meta{}, fmt.Errorf("metadata format version %d, want %d", m.Version, metaVersion)
	}
	// The ETag becomes part of the body's file name.
	if len(m.ETag) != 2*md5.Size || strings.Trim(m.ETag, "0123456789abcdef") != "" {
		return meta{}, fmt.Errorf("metadata holds a malformed ETag %q", m.ETag)
	}
	return m, nil
}

func (m meta) info(bucket string) core.Info {
	return core.Info{
		Bucket:      bucket,
		Key:         m.Key,
		Size:        m.Size,
		ETag:        m.ETag,
		ContentType: m.ContentType,
		ModTime:     m.ModTime,
		UserMeta:    m.UserMeta,
		Header:      m.Header,
		Name:        m.Name,
		Level:       m.Level,
	}
}
