package node

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Small bodies are served from file descriptors kept open between hits,
// read with pread: a hit then costs no open, fstat, lseek or close system
// call, which at 4 KiB is a good part of the cost of a request. Large
// bodies are opened per read and their *os.File handed out, so that the
// HTTP server can use sendfile.
const (
	smallBody     = 64 << 10 // largest body served from a kept-open fd
	maxOpenFiles  = 4096     // fds kept open at most
	openFileIdle  = time.Minute
	openFileSweep = 30 * time.Second
)

// sharedFile is an open body shared by the object that keeps it and by the
// readers using it; the last release closes it.
type sharedFile struct {
	f    *os.File
	refs atomic.Int32
	used atomic.Int64 // unix nanoseconds of the last acquire
}

// acquire takes a reference unless the file is already closing.
func (s *sharedFile) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (s *sharedFile) release() {
	if s.refs.Add(-1) == 0 {
		s.f.Close()
	}
}

// openFiles tracks the objects that keep an fd open.
type openFiles struct {
	count atomic.Int64
	mu    sync.Mutex
	objs  map[*object]struct{}
}

// open returns a reader of o's small body and its release func, using the
// kept-open fd when there is one, or nil if the body cannot be opened.
func (n *Node) openShared(o *object) (io.ReadSeeker, func(), error) {
	now := time.Now().UnixNano()
	if sf := o.fd.Load(); sf != nil && sf.acquire() {
		if now-sf.used.Load() > int64(time.Second) {
			sf.used.Store(now)
		}
		return io.NewSectionReader(sf.f, 0, o.e.Size), sf.release, nil
	}
	f, err := n.store.Open(o.e.Bucket, o.e.Key, o.e.Gen)
	if err != nil {
		return nil, nil, err
	}
	sf := &sharedFile{f: f}
	sf.refs.Store(1)
	sf.used.Store(now)
	if n.files.count.Load() < maxOpenFiles {
		sf.refs.Add(1) // the object's own reference
		if o.fd.CompareAndSwap(nil, sf) {
			n.files.count.Add(1)
			n.files.mu.Lock()
			if n.files.objs == nil {
				n.files.objs = make(map[*object]struct{})
			}
			n.files.objs[o] = struct{}{}
			n.files.mu.Unlock()
		} else {
			sf.refs.Add(-1)
		}
	}
	return io.NewSectionReader(f, 0, o.e.Size), sf.release, nil
}

// drop closes the fd o keeps, if any (o was replaced or its body removed).
func (of *openFiles) drop(o *object) {
	if sf := o.fd.Swap(nil); sf != nil {
		of.count.Add(-1)
		of.mu.Lock()
		delete(of.objs, o)
		of.mu.Unlock()
		sf.release()
	}
}

// sweep closes the fds not used for openFileIdle, or all when all is set.
func (of *openFiles) sweep(all bool) {
	cutoff := time.Now().Add(-openFileIdle).UnixNano()
	var idle []*object
	of.mu.Lock()
	for o := range of.objs {
		if sf := o.fd.Load(); all || sf == nil || sf.used.Load() < cutoff {
			idle = append(idle, o)
		}
	}
	of.mu.Unlock()
	for _, o := range idle {
		of.drop(o)
	}
}

func (n *Node) sweepLoop() {
	defer n.wg.Done()
	t := time.NewTicker(openFileSweep)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			n.files.sweep(true)
			return
		case <-t.C:
			n.files.sweep(false)
		}
	}
}

// The smallest bodies are also kept in memory once read, within
// hotBudget bytes for the node: a hit on one then costs no pread, and
// no lookup of its file or log segment (5% of a 4 KiB hit's CPU). A
// body's copy goes with its object (a put, a delete or an eviction
// replaces the object); once the budget is spent, other bodies are read
// from disk.
const (
	hotBody   = 16 << 10
	hotBudget = 64 << 20
)

// droppedMem marks an object whose memory copy was released: none may be
// kept for it any more.
var droppedMem []byte

// keepHot reads o's small body from content (at its start) into memory
// and keeps it there if the budget allows, returning it; else it returns
// nil and content is unread.
func (n *Node) keepHot(o *object, content io.ReadSeeker) []byte {
	if o.e.Size > hotBody || n.hot.Load()+o.e.Size > hotBudget {
		return nil
	}
	b := make([]byte, o.e.Size)
	if _, err := io.ReadFull(content, b); err != nil {
		content.Seek(0, io.SeekStart)
		return nil
	}
	if o.mem.CompareAndSwap(nil, &b) {
		n.hot.Add(o.e.Size)
	}
	return b
}

// handHot moves old's memory copy of its body to no, which replaces it in
// the table with the same body (another view of it, or the body now in the
// log: then the copy it was filled from stays), or else releases it.
func (n *Node) handHot(old, no *object) {
	m := old.mem.Swap(&droppedMem)
	if m == &droppedMem {
		m = nil
	}
	same := no != nil && no.hasBody() && no.e.Gen == old.e.Gen
	if m == nil && same && old.unlogged != nil && no.unlogged == nil && old.e.Size <= hotBody {
		if n.hot.Add(old.e.Size) <= hotBudget {
			b := old.unlogged
			m = &b
		} else {
			n.hot.Add(-old.e.Size)
		}
	}
	if m == nil || same && no.mem.CompareAndSwap(nil, m) {
		return
	}
	n.hot.Add(-int64(len(*m)))
}
