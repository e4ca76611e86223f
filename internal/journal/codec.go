package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/objstore/objstore/internal/core"
)

// ErrCorrupt: encoded events or a stream could not be decoded.
var ErrCorrupt = errors.New("journal: corrupt encoding")

// AppendBody appends the encoding of e without its Origin and Seq (which
// a store keeps in its key and a stream in its frame) to dst.
func AppendBody(dst []byte, e *Event) []byte {
	dst = append(dst, byte(e.Kind))
	dst = binary.AppendUvarint(dst, uint64(e.Time))
	dst = appendString(dst, e.Bucket)
	dst = appendString(dst, e.Key)
	switch e.Kind {
	case Put, Cache:
		in := &e.Info
		dst = binary.AppendUvarint(dst, uint64(in.Size))
		dst = appendString(dst, in.ETag)
		dst = appendString(dst, in.ContentType)
		dst = binary.AppendVarint(dst, unixNano(in.ModTime))
		dst = appendMap(dst, in.UserMeta)
		dst = appendMap(dst, in.Header)
		dst = appendString(dst, in.Name)
		dst = append(dst, byte(in.Level))
	case Hold, Drop:
		dst = binary.AppendUvarint(dst, uint64(e.Ver.Time))
		dst = appendString(dst, e.Ver.Origin)
	}
	return dst
}

// DecodeBody decodes what AppendBody encoded into e, leaving e.Origin and
// e.Seq as they are.
func DecodeBody(src []byte, e *Event) error {
	d := decoder{b: src}
	e.Kind = Kind(d.byte())
	e.Time = Timestamp(d.uvarint())
	e.Bucket = d.string()
	e.Key = d.string()
	e.Info, e.Ver = core.Info{}, Version{}
	switch e.Kind {
	case Put, Cache:
		in := &e.Info
		in.Bucket, in.Key = e.Bucket, e.Key
		in.Size = int64(d.uvarint())
		in.ETag = d.string()
		in.ContentType = d.string()
		in.ModTime = fromUnixNano(d.varint())
		in.UserMeta = d.strMap()
		in.Header = d.strMap()
		in.Name = d.string()
		in.Level = core.Level(d.byte())
	case Hold, Drop:
		e.Ver.Time = Timestamp(d.uvarint())
		e.Ver.Origin = d.string()
	case Delete:
	default:
		d.fail()
	}
	if d.err != nil || len(d.b) != 0 {
		return fmt.Errorf("%w: event body", ErrCorrupt)
	}
	if e.Kind != Hold && e.Kind != Drop {
		e.Ver = Version{}
	}
	return nil
}

// AppendVector appends the encoding of v to dst.
func AppendVector(dst []byte, v Vector) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for o, s := range v {
		dst = appendString(dst, o)
		dst = binary.AppendUvarint(dst, s)
	}
	return dst
}

// DecodeVector decodes what AppendVector encoded.
func DecodeVector(src []byte) (Vector, error) {
	d := decoder{b: src}
	n := d.uvarint()
	if n > uint64(len(src)) {
		d.fail()
	}
	v := make(Vector, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		o := d.string()
		v[o] = d.uvarint()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: vector", ErrCorrupt)
	}
	return v, nil
}

// A stream carries events between nodes: a header, then frames, then an
// end frame. Events of one origin appear in Seq order, each after the
// frame that declares its origin. The receiver of a delta stream knows
// that for each declared origin it has now seen every event with a Seq
// after the declared After up to the last event or Upto frame of that
// origin (events compacted away need not be sent).
const (
	streamMagic = "OJ1"
	frameOrigin = 1
	frameEvent  = 2
	frameUpto   = 3
	frameEnd    = 4
)

// StreamWriter writes a stream. It is not safe for concurrent use.
type StreamWriter struct {
	w       *bufio.Writer
	origins map[string]uint64
	buf     []byte
	err     error
}

// NewStreamWriter starts a stream on w; snapshot marks it as a snapshot
// (every event its sender holds, see StreamReader.Snapshot).
func NewStreamWriter(w io.Writer, snapshot bool) *StreamWriter {
	sw := &StreamWriter{w: bufio.NewWriterSize(w, 64<<10), origins: make(map[string]uint64)}
	flag := byte(0)
	if snapshot {
		flag = 1
	}
	sw.write(append([]byte(streamMagic), flag))
	return sw
}

func (sw *StreamWriter) write(b []byte) {
	if sw.err == nil {
		_, sw.err = sw.w.Write(b)
	}
}

// Origin declares origin: the events of origin that follow are all it has
// with a Seq after after. It must come before any Event or Upto of origin.
func (sw *StreamWriter) Origin(origin string, after uint64) error {
	if _, ok := sw.origins[origin]; ok {
		return fmt.Errorf("journal stream: origin %s declared twice", origin)
	}
	sw.origins[origin] = uint64(len(sw.origins))
	b := append(sw.buf[:0], frameOrigin)
	b = appendString(b, origin)
	b = binary.AppendUvarint(b, after)
	sw.buf = b
	sw.write(b)
	return sw.err
}

// Event writes e; its origin must have been declared.
func (sw *StreamWriter) Event(e *Event) error {
	idx, ok := sw.origins[e.Origin]
	if !ok {
		return fmt.Errorf("journal stream: origin %s not declared", e.Origin)
	}
	b := append(sw.buf[:0], frameEvent)
	b = binary.AppendUvarint(b, idx)
	b = binary.AppendUvarint(b, e.Seq)
	b = append(b, 0, 0, 0) // room for the body length, see below
	start := len(b)
	b = AppendBody(b, e)
	// The body length as a fixed 3-byte prefix would cap a body at 16 MiB;
	// a body is at most a few KiB (key 1 KiB, metadata 2 KiB, headers).
	n := len(b) - start
	if n >= 1<<24 {
		return fmt.Errorf("journal stream: event of %d bytes", n)
	}
	b[start-3], b[start-2], b[start-1] = byte(n>>16), byte(n>>8), byte(n)
	sw.buf = b
	sw.write(b)
	return sw.err
}

// Upto tells the receiver that it has seen every event of origin up to
// seq once it has read the stream so far.
func (sw *StreamWriter) Upto(origin string, seq uint64) error {
	idx, ok := sw.origins[origin]
	if !ok {
		return fmt.Errorf("journal stream: origin %s not declared", origin)
	}
	b := append(sw.buf[:0], frameUpto)
	b = binary.AppendUvarint(b, idx)
	b = binary.AppendUvarint(b, seq)
	sw.buf = b
	sw.write(b)
	return sw.err
}

// Flush sends what is buffered.
func (sw *StreamWriter) Flush() error {
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.err
}

// Close writes the end frame and flushes; it does not close the
// underlying writer.
func (sw *StreamWriter) Close() error {
	sw.write([]byte{frameEnd})
	return sw.Flush()
}

// FrameKind is the kind of a Frame.
type FrameKind uint8

const (
	// FrameOrigin: Origin and Seq (the After of the declaration).
	FrameOrigin FrameKind = frameOrigin
	// FrameEvent: Event.
	FrameEvent FrameKind = frameEvent
	// FrameUpto: Origin and Seq.
	FrameUpto FrameKind = frameUpto
)

// Frame is one record of a stream.
type Frame struct {
	Kind   FrameKind
	Origin string
	Seq    uint64
	Event  Event
}

// StreamReader reads a stream. It is not safe for concurrent use.
type StreamReader struct {
	r        *bufio.Reader
	snapshot bool
	origins  []string
	buf      []byte
	done     bool
}

// NewStreamReader reads the header of a stream from r.
func NewStreamReader(r io.Reader) (*StreamReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h := make([]byte, len(streamMagic)+1)
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, fmt.Errorf("journal stream header: %w", err)
	}
	if string(h[:len(streamMagic)]) != streamMagic || h[len(streamMagic)] > 1 {
		return nil, fmt.Errorf("%w: stream header", ErrCorrupt)
	}
	return &StreamReader{r: br, snapshot: h[len(streamMagic)] == 1}, nil
}

// Snapshot reports whether the stream is a snapshot: every event its
// sender held when it began, so that what the receiver knows of an origin
// up to the sender's Upto and is absent from it was compacted away.
func (sr *StreamReader) Snapshot() bool { return sr.snapshot }

// Next reads the next frame into f. It returns io.EOF after the end frame,
// and io.ErrUnexpectedEOF (wrapped) if the stream stops before it.
func (sr *StreamReader) Next(f *Frame) error {
	if sr.done {
		return io.EOF
	}
	kind, err := sr.r.ReadByte()
	if err != nil {
		return sr.eof(err)
	}
	switch kind {
	case frameEnd:
		sr.done = true
		return io.EOF
	case frameOrigin:
		o, err := sr.readString()
		if err != nil {
			return err
		}
		after, err := sr.readUvarint()
		if err != nil {
			return err
		}
		sr.origins = append(sr.origins, o)
		*f = Frame{Kind: FrameOrigin, Origin: o, Seq: after}
		return nil
	case frameEvent, frameUpto:
		o, err := sr.readOrigin()
		if err != nil {
			return err
		}
		seq, err := sr.readUvarint()
		if err != nil {
			return err
		}
		if kind == frameUpto {
			*f = Frame{Kind: FrameUpto, Origin: o, Seq: seq}
			return nil
		}
		var l [3]byte
		if _, err := io.ReadFull(sr.r, l[:]); err != nil {
			return sr.eof(err)
		}
		n := int(l[0])<<16 | int(l[1])<<8 | int(l[2])
		if cap(sr.buf) < n {
			sr.buf = make([]byte, n)
		}
		body := sr.buf[:n]
		if _, err := io.ReadFull(sr.r, body); err != nil {
			return sr.eof(err)
		}
		f.Kind, f.Origin, f.Seq = FrameEvent, o, seq
		f.Event = Event{Origin: o, Seq: seq}
		return DecodeBody(body, &f.Event)
	}
	return fmt.Errorf("%w: frame kind %d", ErrCorrupt, kind)
}

func (sr *StreamReader) eof(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("journal stream: %w", err)
}

func (sr *StreamReader) readUvarint() (uint64, error) {
	v, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return 0, sr.eof(err)
	}
	return v, nil
}

func (sr *StreamReader) readString() (string, error) {
	n, err := sr.readUvarint()
	if err != nil {
		return "", err
	}
	if n > 1<<16 {
		return "", fmt.Errorf("%w: string of %d bytes", ErrCorrupt, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		return "", sr.eof(err)
	}
	return string(b), nil
}

func (sr *StreamReader) readOrigin() (string, error) {
	i, err := sr.readUvarint()
	if err != nil {
		return "", err
	}
	if i >= uint64(len(sr.origins)) {
		return "", fmt.Errorf("%w: undeclared origin %d", ErrCorrupt, i)
	}
	return sr.origins[i], nil
}

// unixNano encodes t; the zero time (which has no UnixNano) as MinInt64.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for k, v := range m {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return dst
}

// decoder reads what the append functions wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strMap() map[string]string {
	n := d.uvarint()
	if n == 0 || n > uint64(len(d.b)) {
		if n != 0 {
			d.fail()
		}
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		m[k] = d.string()
	}
	return m
}
