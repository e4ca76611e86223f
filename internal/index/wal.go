package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The write-ahead log: what makes a Commit durable. The committer writes a
// group's operations (and the small bodies its batches carry) as one
// record at the end of the current segment and fdatasyncs it, which on
// this kind of disk costs one device flush (0.25 ms for a group of 18
// PUTs); the applier copies the records into bbolt later, many groups per
// transaction, and removes the segments bbolt holds. Records carry the
// raw bbolt mutations with every number already assigned, so applying one
// twice has no effect beyond applying it once, and bbolt stores the LSN of
// the last record it holds, so that Open replays only the others.
//
// A segment is created at its full size (fallocate), so that appending to
// it changes no file size and fdatasync flushes the data alone. A record
// is: length (4 bytes), CRC-32C of the payload (4), payload. A payload is
// its LSN (8 bytes), then operations, each a kind (1 byte), key and value
// (each a uvarint length, then the bytes). Reading stops at the first
// record that is short, fails its CRC or does not follow the LSN before
// it: a torn write at the end was never acknowledged.

// segmentSize is the size a segment is allocated with; a group that does
// not fit starts a new one (a larger group gets a segment of its own size).
const segmentSize = 64 << 20

const recordHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// op is one mutation of bbolt, or a body to restore (kind opBody).
type op struct {
	kind byte // a bucket number (see buckets) | opDelete, or opBody
	key  []byte
	val  []byte
}

const (
	opDelete = 0x80
	opBody   = 0xfe
)

// buckets numbers bbolt's buckets for ops.
var buckets = [][]byte{bktObjects, bktQueue, bktMeta, bktEvents, bktVector, bktFloor}

const (
	bObjects byte = iota
	bQueue
	bMeta
	bEvents
	bVector
	bFloor
)

// record is one group's operations under its LSN.
type record struct {
	lsn    uint64
	ops    []op
	bodies bool // some op is an opBody
}

func (r *record) appendTo(buf []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, recordHeader)...)
	buf = binary.BigEndian.AppendUint64(buf, r.lsn)
	for _, o := range r.ops {
		buf = append(buf, o.kind)
		buf = binary.AppendUvarint(buf, uint64(len(o.key)))
		buf = append(buf, o.key...)
		buf = binary.AppendUvarint(buf, uint64(len(o.val)))
		buf = append(buf, o.val...)
	}
	payload := buf[start+recordHeader:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

var errBadRecord = errors.New("bad record")

func decodeRecord(payload []byte) (*record, error) {
	if len(payload) < 8 {
		return nil, errBadRecord
	}
	r := &record{lsn: binary.BigEndian.Uint64(payload)}
	p := payload[8:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		f := p[k : k+int(n)]
		p = p[k+int(n):]
		return f, true
	}
	for len(p) > 0 {
		o := op{kind: p[0]}
		p = p[1:]
		var ok1, ok2 bool
		o.key, ok1 = field()
		o.val, ok2 = field()
		if !ok1 || !ok2 {
			return nil, errBadRecord
		}
		if o.kind == opBody {
			r.bodies = true
		} else if int(o.kind&^opDelete) >= len(buckets) {
			return nil, errBadRecord
		}
		r.ops = append(r.ops, o)
	}
	return r, nil
}

// wal is the log's directory and the segment being appended to. Only the
// committer appends; segments are removed by the applier (see drop).
type wal struct {
	dir  string
	seg  *os.File
	off  int64 // end of the last record in seg
	size int64 // seg's allocated size

	mu   sync.Mutex
	segs []uint64 // first LSNs of the segments, oldest first
}

// segment numbers are the LSN of their first record.
func segName(first uint64) string { return fmt.Sprintf("%020d.log", first) }

// openWAL opens the log in dir and returns the records after applied, in
// LSN order, and the LSN the next record gets.
func openWAL(dir string, applied uint64) (*wal, []*record, uint64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, 0, fmt.Errorf("open log: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open log: %w", err)
	}
	w := &wal{dir: dir}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		w.segs = append(w.segs, first)
	}
	slices.Sort(w.segs)
	next := applied + 1
	var recs []*record
	for _, first := range w.segs {
		rs, err := readSegment(filepath.Join(dir, segName(first)))
		if err != nil {
			return nil, nil, 0, err
		}
		for _, r := range rs {
			if r.lsn < next {
				continue // in bbolt already
			}
			if r.lsn != next {
				break // a gap: what follows was never acknowledged
			}
			recs = append(recs, r)
			next++
		}
	}
	return w, recs, next, nil
}

// readSegment returns the segment's records up to the first bad one.
func readSegment(path string) ([]*record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	var recs []*record
	var last uint64
	for len(data) >= recordHeader {
		n := binary.BigEndian.Uint32(data)
		if n == 0 || int64(n) > int64(len(data)-recordHeader) {
			break
		}
		payload := data[recordHeader : recordHeader+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(data[4:]) {
			break
		}
		r, err := decodeRecord(payload)
		if err != nil || (last != 0 && r.lsn != last+1) {
			break
		}
		last = r.lsn
		recs = append(recs, r)
		data = data[recordHeader+int(n):]
	}
	return recs, nil
}

// append writes the encoded record buf (whose LSN is lsn) durably.
func (w *wal) append(lsn uint64, buf []byte) error {
	if w.seg == nil || w.off+int64(len(buf)) > w.size {
		if err := w.rotate(lsn, int64(len(buf))); err != nil {
			return err
		}
	}
	if _, err := w.seg.WriteAt(buf, w.off); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := unix.Fdatasync(int(w.seg.Fd())); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	w.off += int64(len(buf))
	return nil
}

// rotate starts a segment whose first record is lsn and holds at least
// need bytes.
func (w *wal) rotate(lsn uint64, need int64) error {
	size := max(int64(segmentSize), need)
	path := filepath.Join(w.dir, segName(lsn))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new log segment: %w", err)
	}
	if err := allocate(f, size); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("new log segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("new log segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if w.seg != nil {
		w.seg.Close()
	}
	w.seg, w.off, w.size = f, 0, size
	w.mu.Lock()
	w.segs = append(w.segs, lsn)
	w.mu.Unlock()
	return nil
}

// allocate gives f size bytes of disk, zeroed.
func allocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size) // tmpfs and others: no preallocation
	}
	return err
}

// drop removes the segments every record of which is at or below applied:
// those a later segment follows, with its first LSN at most applied+1. The
// segment being appended to is kept.
func (w *wal) drop(applied uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n+1 < len(w.segs) && w.segs[n+1] <= applied+1 {
		if err := os.Remove(filepath.Join(w.dir, segName(w.segs[n]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.segs = w.segs[n:]
			return fmt.Errorf("remove log segment: %w", err)
		}
		n++
	}
	w.segs = w.segs[n:]
	return nil
}

// reset removes every segment: bbolt holds all their records.
func (w *wal) reset() error {
	if w.seg != nil {
		w.seg.Close()
		w.seg = nil
	}
	for _, s := range w.segs {
		if err := os.Remove(filepath.Join(w.dir, segName(s))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove log segment: %w", err)
		}
	}
	w.segs = nil
	return syncDir(w.dir)
}

func (w *wal) close() error {
	if w.seg == nil {
		return nil
	}
	err := w.seg.Close()
	w.seg = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
