package peer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/journal"
)

// Reads of a copy a holder has (Client.Open without Fetch, the path of
// every peer hit) go over streams: persistent connections on the peer
// listener that an authenticated HTTP request upgrades to a framed
// protocol. A stream carries one read at a time (a large body's), or
// many pipelined, answered in order (small bodies', see pipe.go). The
// rest of the peer API, forwarded misses included, stays HTTP.
//
// Why: a 4 KiB peer hit over net/http cost the reading node about 225 µs
// of CPU and the holder about 100 µs (pprof, 4,855 req/s, same run),
// against about 40 µs for a local hit. Most of it was net/http itself on
// both ends: the holder wrote a response in two or three system calls
// (headers, body, final flush), parsed MIME headers and formatted its own;
// the client handed each request to a write and a read goroutine, set a
// timer per request and allocated a request, a response and their header
// maps. Trimming the requests and headers could not remove that, so reads
// got their own protocol. A stream read is one write and, for a small
// body, one read on the client, and one read and one write on the holder
// (header and body in a single buffer; a large body goes by sendfile after
// its header); its timeouts are deadlines on the connection. Measured
// with bench/cluster.sh (BENCH_ONLY=get BENCH_ROUNDS=2, f78320d and then
// 35d13e5, on a busy machine): 4 KiB peer hits went from 0.22× local hits
// to 0.61×, their CPU on the holder from 161 to 53 µs and on the reader
// from 327 to 151 µs; 1 MiB from 0.48× to 0.55×, where copying the body
// through the reader dominates. In process, BenchmarkPeerHit (node) went
// from 442 to 71 µs/op and from 178 to 52 allocations.
//
// Protocol (version streamProto):
//
//	upgrade:  GET /peer/v1/stream?nonce=<hex client nonce>, signed by
//	          Auth.Sign like any peer request, with Upgrade: streamProto
//	answer:   101 Switching Protocols, X-Objstore-Nonce: <hex server nonce>,
//	          X-Objstore-Proof: <hex HMAC(key, "server")> (see streamKey)
//	request:  u32 length of the rest | u16 len | bucket | u16 len | key |
//	          32-byte HMAC(key, u64 sequence number | the bytes before it)
//	response: u16 status (200 or the HTTP status of the error) |
//	          u32 length of the rest of the header | rest | body
//	          where rest is, for 200, flags (1 dirty) | uvarint len |
//	          version origin | the Info as a journal Put body (its Time the
//	          version's); else the error's message. The body is Info.Size
//	          bytes.
//
// Every request is authenticated: its MAC is keyed by a key derived from
// the cluster secret and both nonces, so it is good for one connection
// only, and counts the connection's requests, so none can be replayed or
// reordered. A request that fails its MAC is answered 401 and the
// connection closed. The server's proof tells the client it talks to a
// node of the cluster. An open cluster (no secret) signs nothing.
const (
	streamProto   = "objstore-read/1"
	streamPath    = "/peer/v1/stream"
	hdrNonce      = "X-Objstore-Nonce"
	hdrProof      = "X-Objstore-Proof"
	nonceLen      = 16
	macLen        = sha256.Size
	maxRequestLen = 2 + 1024 + 2 + 1024 + macLen // a request frame's largest length field
	flagDirty     = 1
)

// streamKey is the key of one stream's MACs: HMAC of the nonces and the
// client's node ID under the cluster's key; nil for an open cluster.
func (a *Auth) streamKey(client, server []byte, node string) []byte {
	if a.key == nil {
		return nil
	}
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("stream\n"))
	m.Write(client)
	m.Write(server)
	m.Write([]byte(node))
	return m.Sum(nil)
}

// serverProof is what a server shows that it knows the stream's key.
func serverProof(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("server"))
	return m.Sum(nil)
}

// streamMAC computes the MACs of one direction's requests, in order.
type streamMAC struct {
	h   hash.Hash // nil: an open cluster
	seq uint64
	sum []byte
}

func newStreamMAC(key []byte) *streamMAC {
	if key == nil {
		return &streamMAC{}
	}
	return &streamMAC{h: hmac.New(sha256.New, key), sum: make([]byte, 0, macLen)}
}

// next returns the MAC of the next request, frame (its bytes before the
// MAC); all zeros in an open cluster. It is valid until the next call.
func (m *streamMAC) next(frame []byte) []byte {
	m.seq++
	if m.h == nil {
		return zeroMAC[:]
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], m.seq)
	m.h.Reset()
	m.h.Write(seq[:])
	m.h.Write(frame)
	m.sum = m.h.Sum(m.sum[:0])
	return m.sum
}

var zeroMAC [macLen]byte

// appendRequest appends a read request's frame to dst.
func appendRequest(dst []byte, mac *streamMAC, bucket, key string) ([]byte, error) {
	if len(bucket) > 1024 || len(key) > 1024 {
		return dst, fmt.Errorf("%w: bucket or key too long", core.ErrInvalidKey)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(2+len(bucket)+2+len(key)+macLen))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(bucket)))
	dst = append(dst, bucket...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	return append(dst, mac.next(dst[start+4:])...), nil
}

// errBadFrame: a frame that does not parse.
var errBadFrame = errors.New("peer stream: bad frame")

// parseRequest splits a request frame (without its length) into bucket,
// key and the bytes its MAC covers.
func parseRequest(b []byte) (bucket, key string, signed, mac []byte, err error) {
	if len(b) < 2+2+macLen {
		return "", "", nil, nil, errBadFrame
	}
	signed, mac = b[:len(b)-macLen], b[len(b)-macLen:]
	p := signed
	n := int(binary.BigEndian.Uint16(p))
	if len(p) < 2+n+2 {
		return "", "", nil, nil, errBadFrame
	}
	bucket, p = string(p[2:2+n]), p[2+n:]
	n = int(binary.BigEndian.Uint16(p))
	if len(p) != 2+n {
		return "", "", nil, nil, errBadFrame
	}
	return bucket, string(p[2:]), signed, mac, nil
}

// appendObjectHeader appends the header of a 200 response serving o.
func appendObjectHeader(dst []byte, o *Object) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, 200)
	dst = append(dst, 0, 0, 0, 0) // length, set below
	var flags byte
	if o.Dirty {
		flags |= flagDirty
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(o.Ver.Origin)))
	dst = append(dst, o.Ver.Origin...)
	e := journal.Event{Kind: journal.Put, Time: o.Ver.Time, Info: o.Info}
	e.Info.Bucket, e.Info.Key = "", "" // the request's
	dst = journal.AppendBody(dst, &e)
	binary.BigEndian.PutUint32(dst[start+2:], uint32(len(dst)-start-6))
	return dst
}

// appendErrorHeader appends a response of status (not 200) with msg.
func appendErrorHeader(dst []byte, status int, msg string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(status))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// parseObjectHeader decodes the rest of a 200 response's header.
func parseObjectHeader(b []byte) (core.Info, journal.Version, bool, error) {
	if len(b) < 1 {
		return core.Info{}, journal.Version{}, false, errBadFrame
	}
	dirty := b[0]&flagDirty != 0
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return core.Info{}, journal.Version{}, false, errBadFrame
	}
	origin := string(b[1+k : 1+k+int(n)])
	var e journal.Event
	if err := journal.DecodeBody(b[1+k+int(n):], &e); err != nil {
		return core.Info{}, journal.Version{}, false, err
	}
	return e.Info, journal.Version{Time: e.Time, Origin: origin}, dirty, nil
}
