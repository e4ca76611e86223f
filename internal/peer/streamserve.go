package peer

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"
)

// streamIdle is how long a server keeps a stream that sends no request.
// Clients drop theirs sooner (clientStreamIdle), so that they do not send
// on a stream the server is closing.
const streamIdle = 5 * time.Minute

// stream upgrades an authenticated request to a stream and serves it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	cn, err := hex.DecodeString(r.URL.Query().Get("nonce"))
	if err != nil || len(cn) != nonceLen || r.Header.Get("Upgrade") != streamProto {
		http.Error(w, "peer stream: want a nonce and Upgrade: "+streamProto, http.StatusBadRequest)
		return
	}
	sn := make([]byte, nonceLen)
	rand.Read(sn)
	key := s.auth.streamKey(cn, sn, r.Header.Get(hdrNode))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "peer server closing", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Warn("peer stream", "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.streams[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	conn.SetDeadline(time.Time{}) // the HTTP server's, if any
	hdr := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProto + "\r\n" +
		hdrNonce + ": " + hex.EncodeToString(sn) + "\r\n"
	if key != nil {
		hdr += hdrProof + ": " + hex.EncodeToString(serverProof(key)) + "\r\n"
	}
	if _, err := io.WriteString(conn, hdr+"\r\n"); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.serveStream(ctx, conn, brw.Reader, newStreamMAC(key)); err != nil {
		s.log.Warn("peer stream", "peer", r.Header.Get(hdrNode), "remote", r.RemoteAddr, "err", err)
	}
}

// serveStream answers the requests of one stream until the client closes
// it, it idles for streamIdle, or a request fails its MAC (an error). The
// body of a large object goes by sendfile when conn is a TCP connection.
//
// A client may send requests before the answers to earlier ones arrived
// (a pipe, see pipe.go): the answers of small bodies then accumulate in
// one buffer while further requests are already buffered, and leave in
// one write.
func (s *Server) serveStream(ctx context.Context, conn net.Conn, br *bufio.Reader, mac *streamMAC) error {
	var frame []byte
	out := make([]byte, 0, 512)
	var idleSet time.Time
	for {
		if len(out) > 0 && !frameBuffered(br) {
			if _, err := conn.Write(out); err != nil {
				return nil // the client is gone
			}
			out = out[:0]
		}
		// The idle deadline moves at most every streamIdle/8, not
		// per request: each move costs a timer update.
		if now := time.Now(); now.Sub(idleSet) > streamIdle/8 {
			conn.SetReadDeadline(now.Add(streamIdle))
			idleSet = now
		}
		var lb [4]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return nil // closed or idle
		}
		n := binary.BigEndian.Uint32(lb[:])
		if n > maxRequestLen {
			return fmt.Errorf("%w: request of %d bytes", errBadFrame, n)
		}
		if cap(frame) < int(n) {
			frame = make([]byte, n)
		}
		frame = frame[:n]
		if _, err := io.ReadFull(br, frame); err != nil {
			return nil
		}
		bucket, key, signed, got, err := parseRequest(frame)
		if err != nil {
			return err
		}
		if want := mac.next(signed); mac.h != nil && !hmac.Equal(got, want) {
			conn.Write(appendErrorHeader(out, http.StatusUnauthorized, ErrUnauthenticated.Error()))
			return fmt.Errorf("%w: bad request MAC", ErrUnauthenticated)
		}
		if out, err = s.serveRead(ctx, conn, out, bucket, key); err != nil {
			return nil // the client is gone, or has a short body to see
		}
	}
}

// maxPending is how many bytes of answers serveStream holds for one write.
const maxPending = 256 << 10

// frameBuffered reports whether br holds a whole request frame.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 4 {
		return false
	}
	lb, _ := br.Peek(4)
	return uint64(br.Buffered()) >= 4+uint64(binary.BigEndian.Uint32(lb))
}

// serveRead answers one read after the answers pending in out: a small
// body is appended to them (written once out is large, else left for
// serveStream), a large body is written after them and its header by
// io.Copy (sendfile from a file to TCP). It returns what is still
// pending. An error is the connection's: after it the client can only
// see a short body.
func (s *Server) serveRead(ctx context.Context, conn net.Conn, out []byte, bucket, key string) ([]byte, error) {
	o, err := s.objs.OpenPeer(ctx, bucket, key, OpenOptions{})
	if err != nil {
		return s.readFailed(out, bucket, key, err), nil
	}
	defer o.Close()
	size := o.Info.Size
	start := len(out)
	out = appendObjectHeader(out, o)
	if size > smallBody {
		if _, err := conn.Write(out); err != nil {
			return out[:0], err
		}
		_, err := io.Copy(conn, io.LimitReader(o.Body, size))
		return out[:0], err
	}
	out = slices.Grow(out, int(size))
	body := out[len(out) : len(out)+int(size)]
	if _, err := io.ReadFull(o.Body, body); err != nil {
		return s.readFailed(out[:start], bucket, key, fmt.Errorf("read %q: %w", key, err)), nil
	}
	out = out[:len(out)+int(size)]
	if len(out) >= maxPending {
		_, err := conn.Write(out)
		return out[:0], err
	}
	return out, nil
}

// readFailed appends the answer to a read that failed before its first
// byte was sent.
func (s *Server) readFailed(out []byte, bucket, key string, err error) []byte {
	code := status(false, err)
	if code >= 500 {
		s.log.Warn("peer stream read failed", "bucket", bucket, "key", key, "err", err)
	}
	return appendErrorHeader(out, code, err.Error())
}
