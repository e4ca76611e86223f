package index

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The write-ahead log: what makes a Commit durable, and where small
// bodies live. The committer writes a group's operations, and the bodies
// its batches carry, as one record at the end of the current segment and
// fdatasyncs it, which on this kind of disk costs one device flush (0.25
// ms for a group of 18 PUTs of 4 KiB); the applier copies the records'
// operations into bbolt later, many groups per transaction. Records carry
// the raw bbolt mutations with every number already assigned, so applying
// one twice has no effect beyond applying it once, and bbolt stores the
// LSN of the last record it holds, so that Open replays only the others.
// An entry whose body is in the log names it by Loc (segment, offset): a
// segment goes once bbolt holds all its records and no entry holds a body
// in it (see DB.Hold); the node moves the bodies out of sparse ones.
//
// A segment is created at its full size (fallocate), so that appending to
// it changes no file size and fdatasync flushes the data alone, and cut to
// its records when the next one starts. A record is: length (4 bytes),
// CRC-32C of the payload (4), payload. A payload is its LSN (8 bytes),
// then operations, each a kind (1 byte), key and value (each a uvarint
// length, then the bytes). Reading stops at the first record that is
// short, fails its CRC or does not follow the LSN before it: a torn write
// at the end was never acknowledged.

// segmentSize is the size a segment is allocated with by default (see
// Options.SegmentSize); a group that does not fit starts a new one (a
// larger group gets a segment of its own size).
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
	lsn uint64
	ops []op
}

// layout returns where each op's value starts in the encoded record, and
// the record's length.
func (r *record) layout() (offs []int64, size int64) {
	offs = make([]int64, len(r.ops))
	n := int64(recordHeader + 8)
	for i, o := range r.ops {
		n += 1 + int64(uvarintLen(len(o.key))) + int64(len(o.key)) + int64(uvarintLen(len(o.val)))
		offs[i] = n
		n += int64(len(o.val))
	}
	return offs, n
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
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
		if o.kind != opBody && int(o.kind&^opDelete) >= len(buckets) {
			return nil, errBadRecord
		}
		r.ops = append(r.ops, o)
	}
	return r, nil
}

// wal is the log's directory and its segments. Only the committer
// appends (reserve, then write); the applier and body readers take the
// lock.
type wal struct {
	dir     string
	segSize int64

	// The committer's: the segment appended to (nil until the first
	// record after Open; set under mu, which others read it under), the
	// end of its last record, its allocated size.
	cur   *segment
	off   int64
	alloc int64

	mu       sync.Mutex
	segs     []*segment // oldest first
	byFirst  map[uint64]*segment
	applied  uint64 // LSN of the last record bbolt holds
	counting bool   // every body's holder is counted (see DB.Counted)
}

// segment is one file of the log.
type segment struct {
	first uint64
	size  int64    // bytes of records
	alloc int64    // bytes allocated, while it is appended to
	live  int64    // bytes of the bodies that entries hold
	f     *os.File // nil until read or appended to
	refs  int      // readers, plus one while listed
}

func (s *segment) release() {
	s.refs--
	if s.refs == 0 && s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// segment numbers are the LSN of their first record.
func segName(first uint64) string { return fmt.Sprintf("%020d.log", first) }

// openWAL opens the log in dir and returns the records after applied, in
// LSN order, and the LSN the next record gets. Only the segments that may
// hold such records are read; the last one is cut to its last good
// record, and appending goes on in a new one.
func openWAL(dir string, applied uint64) (*wal, []*record, uint64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, 0, fmt.Errorf("open log: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open log: %w", err)
	}
	w := &wal{dir: dir, byFirst: map[uint64]*segment{}, applied: applied}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, nil, 0, fmt.Errorf("open log: %w", err)
		}
		w.segs = append(w.segs, &segment{first: first, size: info.Size(), refs: 1})
	}
	slices.SortFunc(w.segs, func(a, b *segment) int { return cmp.Compare(a.first, b.first) })
	from := 0 // the first segment that may hold records after applied
	for i, sg := range w.segs {
		if sg.first <= applied+1 {
			from = i
		}
	}
	next := applied + 1
	var recs []*record
	for i := from; i < len(w.segs); i++ {
		sg := w.segs[i]
		path := filepath.Join(dir, segName(sg.first))
		rs, end, err := readSegment(path)
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
		if end < sg.size {
			// The allocated tail, or a write the crash cut short.
			if err := os.Truncate(path, end); err != nil {
				return nil, nil, 0, fmt.Errorf("open log: %w", err)
			}
			sg.size = end
		}
	}
	// Empty segments (made just before a crash) go.
	w.segs = slices.DeleteFunc(w.segs, func(sg *segment) bool {
		if sg.size > 0 {
			return false
		}
		os.Remove(filepath.Join(dir, segName(sg.first)))
		return true
	})
	for _, sg := range w.segs {
		w.byFirst[sg.first] = sg
	}
	return w, recs, next, nil
}

// readSegment returns the segment's records up to the first bad one, and
// where that one starts.
func readSegment(path string) ([]*record, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read log: %w", err)
	}
	var recs []*record
	var last uint64
	var end int64
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
		end += recordHeader + int64(n)
	}
	return recs, end, nil
}

// reserve returns where the next record, of n bytes and LSN lsn, goes:
// the current segment, or a new one when it does not fit.
func (w *wal) reserve(lsn uint64, n int64) (seg uint64, off int64, err error) {
	if w.cur == nil || w.off+n > w.alloc {
		if err := w.rotate(lsn, n); err != nil {
			return 0, 0, err
		}
	}
	return w.cur.first, w.off, nil
}

// write writes the encoded record buf where reserve said, durably.
func (w *wal) write(buf []byte) error {
	if _, err := w.cur.f.WriteAt(buf, w.off); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := unix.Fdatasync(int(w.cur.f.Fd())); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	w.off += int64(len(buf))
	w.mu.Lock()
	w.cur.size = w.off
	w.mu.Unlock()
	return nil
}

// rotate starts a segment whose first record is lsn and holds at least
// need bytes, and cuts the current one to its records.
func (w *wal) rotate(lsn uint64, need int64) error {
	size := max(w.segSize, need)
	path := filepath.Join(w.dir, segName(lsn))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new log segment: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("new log segment: %w", err)
	}
	if err := allocate(f, size); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := syncDir(w.dir); err != nil {
		return fail(err)
	}
	if w.cur != nil {
		// Readers of its bodies keep the file open; what is cut is the
		// unused allocation.
		w.cur.f.Truncate(w.off)
	}
	sg := &segment{first: lsn, f: f, refs: 1, alloc: size}
	w.mu.Lock()
	if w.cur != nil {
		w.cur.alloc = 0
	}
	w.segs = append(w.segs, sg)
	w.byFirst[lsn] = sg
	w.cur = sg
	w.mu.Unlock()
	w.off, w.alloc = 0, size
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

// setApplied records that bbolt holds every record up to lsn, and drops
// the segments no longer needed.
func (w *wal) setApplied(lsn uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied = max(w.applied, lsn)
	return w.dropLocked()
}

// dropLocked removes the segments that nothing needs: every record of
// which bbolt holds (a later segment starts at most at applied+1) and,
// once every holder is counted, with no body held. The last segment is
// kept.
func (w *wal) dropLocked() error {
	kept := w.segs[:0]
	var err error
	for i, sg := range w.segs {
		if err == nil && w.counting && sg.live <= 0 && sg != w.cur && i+1 < len(w.segs) && w.segs[i+1].first <= w.applied+1 {
			rerr := os.Remove(filepath.Join(w.dir, segName(sg.first)))
			if rerr == nil || errors.Is(rerr, os.ErrNotExist) {
				delete(w.byFirst, sg.first)
				sg.release()
				continue
			}
			err = fmt.Errorf("remove log segment: %w", rerr)
		}
		kept = append(kept, sg)
	}
	clear(w.segs[len(kept):])
	w.segs = kept
	return err
}

// hold adds n bytes held of the body at l to its segment's count (n < 0:
// released). An unknown segment is an error.
func (w *wal) hold(l Loc, n int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	sg := w.byFirst[l.Seg]
	if sg == nil || (n > 0 && (l.Off < 0 || l.Off+n > sg.size)) {
		return fmt.Errorf("body in log segment %d at %d: %w", l.Seg, l.Off, os.ErrNotExist)
	}
	sg.live += n
	if n < 0 && sg.live <= 0 {
		return w.dropLocked()
	}
	return nil
}

// open returns the body of n bytes at l, and the func to call when done.
func (w *wal) open(l Loc, n int64) (*io.SectionReader, func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sg := w.byFirst[l.Seg]
	if sg == nil || l.Off < 0 || l.Off+n > sg.size {
		return nil, nil, fmt.Errorf("body in log segment %d at %d: %w", l.Seg, l.Off, os.ErrNotExist)
	}
	if sg.f == nil {
		f, err := os.Open(filepath.Join(w.dir, segName(sg.first)))
		if err != nil {
			return nil, nil, fmt.Errorf("open log segment: %w", err)
		}
		sg.f = f
	}
	sg.refs++
	var once sync.Once
	return io.NewSectionReader(sg.f, l.Off, n), func() {
		once.Do(func() {
			w.mu.Lock()
			sg.release()
			w.mu.Unlock()
		})
	}, nil
}

// sparse returns the segments, bodies of which are to be moved so that
// it can go: all its records in bbolt, not the last, and entries holding
// less than ratio of its bytes.
func (w *wal) sparse(ratio float64) []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []uint64
	for i, sg := range w.segs {
		if i+1 < len(w.segs) && w.segs[i+1].first <= w.applied+1 && w.counting && sg.live > 0 && float64(sg.live) < ratio*float64(sg.size) {
			out = append(out, sg.first)
		}
	}
	return out
}

func (w *wal) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sg := range w.segs {
		sg.release()
	}
	w.segs = nil
	w.cur = nil
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
