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
	"strconv"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// A listing of a bucket merges the backend's listing with what is not in
// the backend yet: write-back puts waiting for their upload, which only
// their origin and its replicas hold. /peer/v1/dirty answers with those a
// node holds, as frames of a uvarint length and a journal Put body. And
// /peer/v1/uploaded is how an origin tells its replicas that it uploaded;
// /peer/v1/stat how a node asks a key's owner for its metadata.

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

// Uploaded tells the node at addr, which holds a replica of a write-back
// put of this node's, that version ver of (bucket, key) is in the backend
// now: that node need not ask the backend, nor upload it itself.
func (c *Client) Uploaded(ctx context.Context, addr, bucket, key string, ver journal.Version) error {
	hdr := http.Header{hdrVersion: {formatVersion(ver)}}
	resp, err := c.do(ctx, c.header, http.MethodPost, addr, "/peer/v1/uploaded", objectQuery(bucket, key), nil, 0, hdr)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

func (s *Server) uploaded(w http.ResponseWriter, r *http.Request) {
	ver, err := parseVersion(r.Header.Get(hdrVersion))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if err := s.objs.Uploaded(r.Context(), q.Get("bucket"), q.Get("key"), ver); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Stat returns the metadata of (bucket, key) from the node at addr, the
// key's owner, which asks the backend about a key it does not know (once
// for the cluster, however many nodes ask at once). hops is how many
// times the request was forwarded already, plus one.
func (c *Client) Stat(ctx context.Context, addr, bucket, key string, hops int) (core.Info, error) {
	hdr := http.Header{hdrHops: {strconv.Itoa(hops)}}
	resp, err := c.do(ctx, c.header, http.MethodGet, addr, "/peer/v1/stat", objectQuery(bucket, key), nil, 0, hdr)
	if err != nil {
		return core.Info{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	info, _, err := objectHeaders(resp.Header)
	if err != nil {
		return core.Info{}, fmt.Errorf("peer stat %s: %w", addr, err)
	}
	return info, nil
}

func (s *Server) stat(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hops, _ := strconv.Atoi(r.Header.Get(hdrHops))
	info, err := s.objs.StatPeer(r.Context(), q.Get("bucket"), q.Get("key"), hops)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setObjectHeaders(w.Header(), info, journal.Version{})
	w.WriteHeader(http.StatusOK)
}
