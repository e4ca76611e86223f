package peer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// A listing of a bucket merges the backend's listing with what is not in
// the backend yet: write-back puts waiting for their upload, which only
// their origin and its replicas hold. /peer/v1/dirty answers with those a
// node holds, as frames of a uvarint length and a journal Put body.

// maxDirtyFrame bounds one frame: a key, its metadata and headers.
const maxDirtyFrame = 64 << 10

// Dirty returns the objects of bucket whose key starts with prefix that
// the node at addr holds and has not seen in the backend yet.
func (c *Client) Dirty(ctx context.Context, addr, bucket, prefix string) ([]core.Info, error) {
	q := "bucket=" + url.QueryEscape(bucket) + "&prefix=" + url.QueryEscape(prefix)
	resp, err := c.do(ctx, c.header, http.MethodGet, addr, "/peer/v1/dirty", q, nil, 0, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var out []core.Info
	var buf []byte
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("peer dirty %s: %w", addr, err)
		}
		if n > maxDirtyFrame {
			return nil, fmt.Errorf("peer dirty %s: %w: frame of %d bytes", addr, journal.ErrCorrupt, n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("peer dirty %s: %w", addr, err)
		}
		var e journal.Event
		if err := journal.DecodeBody(buf, &e); err != nil {
			return nil, fmt.Errorf("peer dirty %s: %w", addr, err)
		}
		out = append(out, e.Info)
	}
}

func (s *Server) dirty(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/octet-stream")
	bw := bufio.NewWriter(w)
	var frame []byte
	for _, info := range s.objs.LocalDirty(q.Get("bucket"), q.Get("prefix")) {
		e := journal.Event{Kind: journal.Put, Bucket: info.Bucket, Key: info.Key, Info: info}
		frame = journal.AppendBody(frame[:0], &e)
		var n [binary.MaxVarintLen64]byte
		bw.Write(n[:binary.PutUvarint(n[:], uint64(len(frame)))])
		if _, err := bw.Write(frame); err != nil {
			return // the client is gone
		}
	}
	bw.Flush()
}
