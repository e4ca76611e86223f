package sigv4

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

const (
	// maxChunkLine bounds a chunk header or trailer line; the longest real
	// one, "<size>;chunk-signature=<64 hex>", is under 100 bytes.
	maxChunkLine = 4096
	// maxTrailers bounds the number of trailer lines.
	maxTrailers = 32

	trailerSignatureName = "x-amz-trailer-signature"
)

// trailerField is one trailer header of an aws-chunked body.
type trailerField struct{ name, value string }

// chunkedReader decodes an aws-chunked body:
//
//	<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//
// followed by "\r\n" or, with trailers, by "name:value" lines (and, signed,
// an x-amz-trailer-signature line) and an empty line.
//
// Data is streamed through as it arrives; a chunk's signature is checked
// when its last byte has been read, before that byte is returned, so an
// error arrives at the latest with the end of the chunk that caused it.
// Lines may end in "\n" as well as "\r\n": minio-go ends trailer lines
// with "\n" and puts an empty line before the trailer signature, and the
// AWS documentation shows an empty line between the final chunk and the
// trailers; empty lines before the trailers are skipped.
type chunkedReader struct {
	br       *bufio.Reader
	sc       *scope // nil when chunks are unsigned
	prevSig  string // the seed signature, then each chunk's
	trailer  bool   // trailers follow the final chunk
	maxChunk int64
	declared int64 // x-amz-decoded-content-length

	decoded  int64     // data bytes returned so far
	left     int64     // data bytes left in the current chunk
	chunkSig string    // claimed signature of the current chunk
	h        hash.Hash // SHA-256 of the current chunk's data, when signed
	trailers []trailerField
	done     bool
	err      error // sticky
}

func newChunkedReader(r io.Reader, sc *scope, seed string, trailer bool, declared, maxChunk int64) *chunkedReader {
	c := &chunkedReader{
		br:       bufio.NewReaderSize(r, maxChunkLine),
		sc:       sc,
		prevSig:  seed,
		trailer:  trailer,
		maxChunk: maxChunk,
		declared: declared,
	}
	if sc != nil {
		c.h = sha256.New()
	}
	return c
}

func malformedChunk(format string, args ...any) *Error {
	return ErrInvalidRequest.with("malformed aws-chunked body: "+format, args...)
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 {
		if c.done {
			c.err = io.EOF
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	c.decoded += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	if c.left == 0 {
		if err := c.endChunk(); err != nil {
			c.err = err
			return 0, err
		}
		return n, nil
	}
	if err != nil {
		c.err = incomplete(err)
		return n, c.err
	}
	return n, nil
}

// incomplete turns the end of the body where more was due into
// ErrIncompleteBody and passes other errors through.
func incomplete(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrIncompleteBody.with("The request body ended before the end of its aws-chunked encoding.")
	}
	return err
}

// readLine reads a line, without its "\n" or "\r\n".
func (c *chunkedReader) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", malformedChunk("line longer than %d bytes", maxChunkLine)
	}
	if err != nil {
		return "", incomplete(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// nextChunk reads a chunk header and, for the final chunk, what follows.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	sizeStr, ext, _ := strings.Cut(line, ";")
	sizeStr = strings.TrimSpace(sizeStr)
	size, err := strconv.ParseUint(sizeStr, 16, 63)
	if err != nil || sizeStr == "" {
		return malformedChunk("bad chunk size %q", sizeStr)
	}
	if int64(size) > c.maxChunk {
		return ErrInvalidRequest.with("aws-chunked chunk of %d bytes is larger than the limit of %d bytes", size, c.maxChunk)
	}
	if c.declared-c.decoded < int64(size) {
		return ErrIncompleteBody.with("The aws-chunked body is longer than its x-amz-decoded-content-length of %d bytes.", c.declared)
	}
	if c.sc != nil {
		sig, ok := chunkSignature(ext)
		if !ok {
			return malformedChunk("chunk without chunk-signature")
		}
		c.chunkSig = sig
	}
	if size > 0 {
		c.left = int64(size)
		if c.h != nil {
			c.h.Reset()
		}
		return nil
	}

	// The final chunk: no data, but signed like any other.
	if c.sc != nil {
		if err := c.verifyChunk(emptySHA256); err != nil {
			return err
		}
	}
	if c.trailer {
		err = c.readTrailers()
	} else {
		err = c.readFinalLine()
	}
	if err != nil {
		return err
	}
	if c.decoded != c.declared {
		return ErrIncompleteBody.with("The aws-chunked body has %d bytes, not its x-amz-decoded-content-length of %d.", c.decoded, c.declared)
	}
	c.done = true
	return nil
}

// chunkSignature finds the chunk-signature extension of a chunk header.
func chunkSignature(ext string) (string, bool) {
	for e := range strings.SplitSeq(ext, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(e), "=")
		if ok && strings.TrimSpace(k) == "chunk-signature" {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// endChunk reads the "\r\n" after a chunk's data and checks the chunk's
// signature.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return incomplete(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return malformedChunk("chunk data not followed by CRLF")
	}
	if c.sc == nil {
		return nil
	}
	return c.verifyChunk(hex.EncodeToString(c.h.Sum(nil)))
}

// verifyChunk checks the signature of the current chunk, whose data hashes
// to dataHash, and chains it.
func (c *chunkedReader) verifyChunk(dataHash string) error {
	want := c.sc.sign(c.sc.chunkStringToSign(c.prevSig, dataHash))
	if !signatureEqual([]byte(want), c.chunkSig) {
		return ErrSignatureDoesNotMatch.with("The chunk signature we calculated does not match the chunk-signature you provided.").
			detail("SignatureProvided", c.chunkSig)
	}
	c.prevSig = want
	return nil
}

// readFinalLine reads the empty line after the final chunk of a body
// without trailers. A body that ends right after the final chunk's header
// is accepted too.
func (c *chunkedReader) readFinalLine() error {
	line, err := c.readLine()
	if errors.Is(err, ErrIncompleteBody) {
		return nil
	}
	if err != nil {
		return err
	}
	if line != "" {
		return malformedChunk("data after the final chunk")
	}
	return nil
}

// readTrailers reads the trailer lines after the final chunk and, signed,
// checks the trailer signature.
func (c *chunkedReader) readTrailers() error {
	signed := c.sc != nil
	for lines := 0; ; lines++ {
		if lines > maxTrailers {
			return malformedChunk("more than %d trailer lines", maxTrailers)
		}
		line, err := c.readLine()
		if errors.Is(err, ErrIncompleteBody) && !signed {
			return nil // the trailers ended with the body
		}
		if err != nil {
			return err
		}
		if line == "" {
			if !signed && len(c.trailers) > 0 {
				return nil
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return malformedChunk("trailer line without ':'")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name != trailerSignatureName {
			c.trailers = append(c.trailers, trailerField{name, value})
			continue
		}
		if !signed {
			return malformedChunk("x-amz-trailer-signature in an unsigned body")
		}
		return c.verifyTrailer(value)
	}
}

// verifyTrailer checks the trailer signature: the trailer headers before
// it, each as "name:value\n", hashed and signed chained to the final
// chunk's signature.
func (c *chunkedReader) verifyTrailer(sig string) error {
	var b strings.Builder
	for _, t := range c.trailers {
		b.WriteString(t.name)
		b.WriteByte(':')
		b.WriteString(t.value)
		b.WriteByte('\n')
	}
	want := c.sc.sign(c.sc.trailerStringToSign(c.prevSig, hexSHA256([]byte(b.String()))))
	if !signatureEqual([]byte(want), sig) {
		return ErrSignatureDoesNotMatch.with("The trailer signature we calculated does not match the x-amz-trailer-signature you provided.").
			detail("SignatureProvided", sig)
	}
	return nil
}

// trailerValue returns the value of the trailer header name (lower case).
func (c *chunkedReader) trailerValue(name string) (string, bool) {
	for _, t := range c.trailers {
		if t.name == name {
			return t.value, true
		}
	}
	return "", false
}
