package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/commitlog-go/commitlog/internal/mmap"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Kafka's index formats (kafka.log.OffsetIndex and TimeIndex), big-endian:
//
//	.index      8 bytes per entry:  int32 relative offset | int32 position
//	.timeindex 12 bytes per entry:  int64 timestamp (ms)  | int32 relative offset
//
// An offset-index entry (o, p) says the batch starting at byte p of the
// data file has last offset base+o. A time-index entry (t, o) says t is the
// largest timestamp of any record up to and including offset base+o. Both
// are sparse (one entry per IndexIntervalBytes appended) and derived from
// the data file: they are checked when loaded and rebuilt when wrong.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// entryFile is a fixed-width, append-only array of index entries backed by
// a file. The active segment's index files are mapped read-write when the
// file system has descriptors; otherwise (the in-memory file system)
// entries live in a heap buffer and are also written to the file with
// WriteAt, so a crash sees them exactly as it would see any other write.
//
// The file holds room for capacity entries (SegmentIndexBytes), but its
// disk space is reserved as the entries need it, in steps (see reserve):
// a partition that holds little reserves little, and a full disk fails
// the append that needs more room with ENOSPC before anything is written,
// where a write through a mapping into unreserved space would raise
// SIGBUS.
//
// One goroutine appends (under the partition's append lock); any number of
// readers search concurrently without locks: the writer stores an entry's
// bytes before it publishes the new count, and readers load the count
// before the buffer, so they never see a partial entry.
type entryFile struct {
	path string
	// file is the index file; nil for an index kept in memory only (a
	// read-only partition's, see readonly.go), whose entries live in the
	// heap buffer and are never written anywhere.
	file      vfs.File
	entrySize int
	capacity  int // entries the index may hold: SegmentIndexBytes / entrySize

	buf      atomic.Pointer[[]byte] // mapping (capacity entries long) or heap buffer (reserved bytes long)
	n        atomic.Int64           // valid entries
	mapping  []byte                 // the mapping to unmap on close, if mapped
	reserved int64                  // bytes of the file whose space is reserved and inside its size (writer only)
	scratch  [timeEntrySize]byte    // the entry being appended (writer only)
}

// Index space is reserved in steps: as much again as is reserved, from
// indexReserveMin to indexReserveMax bytes at a time (rounded down to
// whole entries), and never past the index's capacity. An active segment
// of a quiet partition thus holds 4 KiB per index, and a busy one reserves
// at most 1 MiB ahead of its entries.
const (
	indexReserveMin = 4 << 10
	indexReserveMax = 1 << 20
)

// openEntryFile opens (creating if needed) the index file at path. When
// writable, entries can be appended up to maxBytes rounded down to a whole
// number of entries; otherwise the file is read as is. The count of valid
// entries starts at the number of whole entries in the file (for a
// writable file, up to the last nonzero one): the caller validates them
// and truncates as needed. Opening reserves no space.
//
// With readOnly (a read-only partition), nothing is created or written:
// a writable index is read into memory, where appends and truncations
// change only the copy, and a missing index is an empty one in memory.
func openEntryFile(fs vfs.FS, path string, entrySize int, maxBytes int64, writable, readOnly bool) (*entryFile, error) {
	if readOnly {
		return openEntryFileReadOnly(fs, path, entrySize, maxBytes, writable)
	}
	var (
		f   vfs.File
		err error
	)
	if writable {
		f, err = fs.OpenReadWrite(path)
		if isNotExist(err) {
			f, err = fs.Create(path)
		}
	} else {
		f, err = fs.Open(path)
		if isNotExist(err) {
			// A missing index is rebuilt by the caller's checks.
			f, err = fs.Create(path)
		}
	}
	if err != nil {
		return nil, err
	}
	e := &entryFile{path: path, file: f, entrySize: entrySize}
	if err := e.load(maxBytes, writable); err != nil {
		f.Close()
		return nil, err
	}
	return e, nil
}

func (e *entryFile) load(maxBytes int64, writable bool) error {
	size, err := e.file.Size()
	if err != nil {
		return err
	}
	whole := size / int64(e.entrySize) * int64(e.entrySize)
	length := whole // what the mapping covers
	if writable {
		length = max(maxBytes/int64(e.entrySize)*int64(e.entrySize), whole)
		// What the file holds is taken as reserved: it was reserved
		// before it was extended, by this code or (older files, whole
		// indexes preallocated) by the code before it.
		e.reserved = whole
	}
	e.capacity = int(length / int64(e.entrySize))
	var buf []byte
	if fd := e.file.Fd(); fd != vfs.InvalidFd && length > 0 {
		// The mapping may reach past the file's end: nothing touches it
		// there, as entries are written and read only inside the file.
		m, err := mmap.Map(fd, int(length), writable)
		if err == nil {
			if writable {
				// Without this hint the first write fault reads ahead the
				// whole file: measured at 3-4 ms for a 10 MiB index on
				// Linux 6.18 ext4, paid twice per segment, against 15 µs
				// with it. Entries are written in order and looked up by
				// binary search, so readahead never helps. Advice that
				// fails changes nothing but speed.
				_ = mmap.AdviseRandom(m)
			}
			e.mapping = m
			buf = m
		} else if !errors.Is(err, mmap.ErrUnsupported) {
			return fmt.Errorf("map %s: %w", e.path, err)
		}
	}
	if buf == nil {
		buf = make([]byte, whole)
		if _, err := e.file.ReadAt(buf, 0); err != nil && len(buf) > 0 && !isEOF(err) {
			return err
		}
	}
	e.buf.Store(&buf)
	e.n.Store(int64(e.countEntries(buf, whole, writable)))
	return nil
}

// countEntries returns the number of entries in the first whole bytes of
// buf: all of them, or for a writable index, whose reserved space reads
// as zeros, those before the first all-zero entry (no valid entry is all
// zeros: positions and timestamps are positive). A binary search touches
// a few pages instead of the whole file; callers validate the entries it
// counts.
func (e *entryFile) countEntries(buf []byte, whole int64, writable bool) int {
	n := int(whole / int64(e.entrySize))
	if writable {
		n = sort.Search(n, func(i int) bool {
			return isZeroEntry(buf[i*e.entrySize : (i+1)*e.entrySize])
		})
	}
	return n
}

// openEntryFileReadOnly is openEntryFile for a read-only partition. A
// non-writable index is mapped read-only, as usual; a writable one is
// copied into a heap buffer, detached from its file, with room for as
// many entries as the writable one would have (see newMemoryEntryFile).
func openEntryFileReadOnly(fs vfs.FS, path string, entrySize int, maxBytes int64, writable bool) (*entryFile, error) {
	f, err := fs.Open(path)
	if isNotExist(err) {
		return newMemoryEntryFile(path, entrySize, maxBytes, nil), nil
	}
	if err != nil {
		return nil, err
	}
	if !writable {
		e := &entryFile{path: path, file: f, entrySize: entrySize}
		if err := e.load(maxBytes, false); err != nil {
			f.Close()
			return nil, err
		}
		return e, nil
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	whole := size / int64(entrySize) * int64(entrySize)
	buf := make([]byte, whole)
	if _, err := f.ReadAt(buf, 0); err != nil && len(buf) > 0 && !isEOF(err) {
		return nil, err
	}
	e := newMemoryEntryFile(path, entrySize, maxBytes, buf)
	e.n.Store(int64(e.countEntries(buf, whole, true)))
	return e, nil
}

// newMemoryEntryFile returns an index kept in memory only (file nil),
// holding buf's entries (none counted yet), with room for maxBytes of
// entries or as many as buf holds.
func newMemoryEntryFile(path string, entrySize int, maxBytes int64, buf []byte) *entryFile {
	e := &entryFile{path: path, entrySize: entrySize}
	e.capacity = int(max(maxBytes, int64(len(buf))) / int64(entrySize))
	e.reserved = int64(len(buf))
	e.buf.Store(&buf)
	return e
}

// reserve makes room for n more entries (as many as fit, at most),
// reserving the next step of disk space and extending the file over it
// when the entries would pass the end of what is reserved. A full disk
// fails it with an error matching syscall.ENOSPC and nothing changed but,
// possibly, some space reserved past the file's end, which trim gives
// back. REQUIRES: the only writer.
func (e *entryFile) reserve(n int) error {
	need := int64(min(e.count()+n, e.capacity)) * int64(e.entrySize)
	if need <= e.reserved {
		return nil
	}
	step := min(max(e.reserved, indexReserveMin), indexReserveMax)
	next := min(int64(e.capacity)*int64(e.entrySize), (e.reserved+step)/int64(e.entrySize)*int64(e.entrySize))
	next = max(next, need)
	if e.file != nil {
		if err := e.file.Allocate(e.reserved, next-e.reserved); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("reserve space for %s: %w", e.path, err)
		}
	}
	if e.mapping != nil {
		// Writes through the mapping must stay inside the file.
		if err := e.file.Truncate(next); err != nil {
			return fmt.Errorf("extend %s: %w", e.path, err)
		}
	} else {
		old := *e.buf.Load()
		buf := make([]byte, next)
		copy(buf, old[:e.count()*e.entrySize])
		e.buf.Store(&buf)
	}
	e.reserved = next
	return nil
}

func isZeroEntry(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// count returns the number of valid entries.
func (e *entryFile) count() int { return int(e.n.Load()) }

// entry returns the bytes of entry i < count(). The slice must not be
// retained or modified.
func (e *entryFile) entry(i int) []byte {
	b := *e.buf.Load()
	return b[i*e.entrySize : (i+1)*e.entrySize]
}

// full reports whether no entry can be appended.
func (e *entryFile) full() bool { return e.count() >= e.capacity }

// appendEntry adds an entry, reserving room for it if reserve has not.
// REQUIRES: the caller is the only writer and !full().
func (e *entryFile) appendEntry(entry []byte) error {
	if err := e.reserve(1); err != nil {
		return err
	}
	i := e.count()
	b := *e.buf.Load()
	off := i * e.entrySize
	copy(b[off:off+e.entrySize], entry)
	if e.mapping == nil && e.file != nil {
		if _, err := e.file.WriteAt(entry, int64(off)); err != nil {
			return err
		}
	}
	e.n.Store(int64(i + 1))
	return nil
}

// truncateEntries drops entries from n on, zeroing them so that a reload
// cannot mistake them for valid ones. REQUIRES: the only writer.
func (e *entryFile) truncateEntries(n int) error {
	old := e.count()
	if n >= old {
		return nil
	}
	e.n.Store(int64(n))
	b := *e.buf.Load()
	clear(b[n*e.entrySize : old*e.entrySize])
	if e.mapping == nil && e.file != nil {
		if _, err := e.file.WriteAt(b[n*e.entrySize:old*e.entrySize], int64(n*e.entrySize)); err != nil {
			return err
		}
	}
	return nil
}

// trim shrinks the file to the valid entries (on seal and close), giving
// back the space reserved past them. The mapping stays valid for the
// entries that remain, so concurrent readers are unaffected; no entry may
// be appended afterwards.
func (e *entryFile) trim() error {
	e.capacity = e.count()
	e.reserved = int64(e.count() * e.entrySize)
	if e.file == nil {
		return nil
	}
	return e.file.Truncate(e.reserved)
}

// sync fsyncs the index file; an index in memory has nothing to sync.
func (e *entryFile) sync() error {
	if e.file == nil {
		return nil
	}
	return e.file.Sync()
}

// close unmaps and closes the file. REQUIRES: no reader uses it any more.
func (e *entryFile) close() error {
	var err error
	if e.mapping != nil {
		err = mmap.Unmap(e.mapping)
		e.mapping = nil
	}
	if e.file == nil {
		return err
	}
	return errors.Join(err, e.file.Close())
}

// offsetIndex maps offsets to data-file positions.
type offsetIndex struct {
	*entryFile
	base int64
}

// lookup returns the entry with the largest offset <= target, or
// (base, 0) when there is none.
func (x *offsetIndex) lookup(target int64) (offset, position int64) {
	n := x.count()
	i := sort.Search(n, func(i int) bool { return x.offsetAt(i) > target })
	if i == 0 {
		return x.base, 0
	}
	return x.offsetAt(i - 1), x.positionAt(i - 1)
}

func (x *offsetIndex) offsetAt(i int) int64 {
	return x.base + int64(binary.BigEndian.Uint32(x.entry(i)))
}

func (x *offsetIndex) positionAt(i int) int64 {
	return int64(binary.BigEndian.Uint32(x.entry(i)[4:]))
}

func (x *offsetIndex) add(offset, position int64) error {
	b := x.scratch[:offsetEntrySize]
	binary.BigEndian.PutUint32(b, uint32(offset-x.base))
	binary.BigEndian.PutUint32(b[4:], uint32(position))
	return x.appendEntry(b)
}

// validPrefix returns how many leading entries are plausible for a data
// file of size bytes whose offsets are below next: offsets strictly
// increasing and at least base, positions strictly increasing, above 0 (the
// first batch of a segment never gets an entry) and below size.
func (x *offsetIndex) validPrefix(size, next int64) int {
	n := x.count()
	prevOff, prevPos := x.base-1, int64(0)
	for i := 0; i < n; i++ {
		off, pos := x.offsetAt(i), x.positionAt(i)
		if off <= prevOff || off >= next || pos <= prevPos || pos >= size {
			return i
		}
		prevOff, prevPos = off, pos
	}
	return n
}

// timeIndex maps timestamps to offsets.
type timeIndex struct {
	*entryFile
	base int64
}

func (x *timeIndex) timestampAt(i int) int64 { return int64(binary.BigEndian.Uint64(x.entry(i))) }

func (x *timeIndex) offsetAt(i int) int64 {
	return x.base + int64(binary.BigEndian.Uint32(x.entry(i)[8:]))
}

// last returns the last entry, or ok == false when there is none.
func (x *timeIndex) last() (ts, offset int64, ok bool) {
	n := x.count()
	if n == 0 {
		return 0, 0, false
	}
	return x.timestampAt(n - 1), x.offsetAt(n - 1), true
}

// full reports whether no entry can be appended except the final one a
// seal adds: Kafka keeps the last slot for it.
func (x *timeIndex) full() bool { return x.count() >= x.capacity-1 }

// maybeAdd appends (ts, offset) if ts is larger than the last entry's
// timestamp, keeping timestamps strictly increasing.
func (x *timeIndex) maybeAdd(ts, offset int64) error {
	if last, lastOff, ok := x.last(); ok && (ts <= last || offset <= lastOff) {
		return nil
	}
	if x.count() >= x.capacity {
		return nil
	}
	b := x.scratch[:timeEntrySize]
	binary.BigEndian.PutUint64(b, uint64(ts))
	binary.BigEndian.PutUint32(b[8:], uint32(offset-x.base))
	return x.appendEntry(b)
}

// lookupBefore returns the entry with the largest timestamp strictly
// below ts, or ok == false when there is none. Every record at or below
// that entry's offset has a timestamp below ts, so the first record at or
// after ts lies above it.
func (x *timeIndex) lookupBefore(ts int64) (entryTs, offset int64, ok bool) {
	n := x.count()
	i := sort.Search(n, func(i int) bool { return x.timestampAt(i) >= ts })
	if i == 0 {
		return 0, x.base, false
	}
	return x.timestampAt(i - 1), x.offsetAt(i - 1), true
}

// validPrefix returns how many leading entries are plausible: timestamps
// and offsets strictly increasing, offsets in [base, next).
func (x *timeIndex) validPrefix(next int64) int {
	n := x.count()
	prevTs, prevOff := int64(-1<<63), x.base-1
	for i := 0; i < n; i++ {
		ts, off := x.timestampAt(i), x.offsetAt(i)
		if ts <= prevTs || off <= prevOff || off >= next || ts < 0 {
			return i
		}
		prevTs, prevOff = ts, off
	}
	return n
}
