package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog/internal/mmap"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

const (
	LogSuffix       = ".log"
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"
	TmpSuffix       = ".tmp"
	sectorSize      = 512
)

// SegmentName returns Kafka's file name for a segment file: the base offset
// zero-padded to 20 digits, so that name order is offset order.
func SegmentName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// ParseSegmentName returns the base offset of a segment file name with the
// given suffix.
func ParseSegmentName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// segment is one data file of Kafka RecordBatch v2 batches with its offset
// and time indexes. Batches are appended through the file descriptor and
// read through a read-only shared mapping of the file when the file system
// has descriptors (zero-copy reads), or with ReadAt otherwise.
//
// Only the partition's active segment is appended to, by one goroutine
// holding the partition's append lock; readers use size, next and
// maxTimestamp (atomics) and never take that lock. A segment is reference
// counted: the partition holds one reference while the segment is live and
// every reader holds one while it reads, so files are closed and unmapped
// only when the last user lets go.
type segment struct {
	base    int64
	path    string // data file
	file    vfs.File
	data    []byte                         // read-only mapping of the data file, or nil
	ix      atomic.Pointer[segmentIndexes] // swapped whole when rebuilt
	retired []*segmentIndexes              // replaced indexes, closed with the segment. REQUIRES: append lock.

	size         atomic.Int64 // bytes in the data file
	next         atomic.Int64 // offset after the last batch; base when empty
	maxTimestamp atomic.Int64 // largest record timestamp; -1 when none

	// Append state. REQUIRES: the partition's append lock.
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
	created              time.Time // first append, on the Log's clock
	sealed               bool
	dirty                bool // data written but not fsynced
	indexDirty           bool // index files changed and not fsynced since sealing

	// Staged batches (see stage): appended, but not yet written to the
	// file; pendingPos is the file position of pending[0]. REQUIRES: the
	// partition's append lock.
	pending    []byte
	pendingPos int64
	// prepared is where the space prepared for durable appends ends (see
	// prepare): the file holds data, staged batches' places and then
	// zeros up to there. Zero when nothing is prepared. REQUIRES: the
	// partition's append lock.
	prepared int64
	// maxBytes is SegmentBytes: no need to prepare past it, as the
	// segment rolls there.
	maxBytes int64
	// reserved is where the space reserved for non-durable appends ends
	// (see reserve); zero when nothing is reserved. reservedPast says
	// that space may be reserved past the data, to be given back by
	// trimPrepared: after a reservation, or, in a segment opened active,
	// one made before a crash. noReserve says the file system cannot
	// reserve. REQUIRES: the partition's append lock.
	reserved     int64
	reservedPast bool
	noReserve    bool

	refs atomic.Int32
}

// segmentIndexes is a segment's pair of indexes. Readers load it once per
// lookup; a rebuild publishes a new pair and retires the old one, whose
// mappings stay valid until the segment is closed.
type segmentIndexes struct {
	offset *offsetIndex
	time   *timeIndex
}

func (s *segment) offsets() *offsetIndex { return s.ix.Load().offset }
func (s *segment) times() *timeIndex     { return s.ix.Load().time }

// segmentFiles holds what opening a segment needs from its partition.
type segmentFiles struct {
	fs       vfs.FS
	dir      string
	maxBytes int64 // SegmentBytes: the mapping length of an active segment
	maxIndex int64 // SegmentIndexBytes
	// readOnly opens files for reading only and keeps the indexes that
	// would be written in memory (see readonly.go).
	readOnly bool
}

// createSegment creates the files of a new, empty segment.
func createSegment(sf segmentFiles, base int64) (*segment, error) {
	s := &segment{base: base, path: filepath.Join(sf.dir, SegmentName(base, LogSuffix)), maxBytes: sf.maxBytes}
	f, err := sf.fs.Create(s.path)
	if err != nil {
		return nil, err
	}
	s.file = f
	if err := s.openIndexes(sf, true, true); err != nil {
		f.Close()
		return nil, err
	}
	s.next.Store(base)
	s.maxTimestamp.Store(-1)
	s.offsetOfMaxTimestamp = -1
	s.refs.Store(1)
	if err := s.mapData(sf.maxBytes); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// openSegment opens the files of an existing segment. Index files are
// created if missing (read-only: empty in memory); their contents are
// validated by the caller.
func openSegment(sf segmentFiles, base int64, active bool) (*segment, error) {
	s := &segment{base: base, path: filepath.Join(sf.dir, SegmentName(base, LogSuffix)), maxBytes: sf.maxBytes}
	open := sf.fs.OpenReadWrite
	if sf.readOnly {
		open = sf.fs.Open
	}
	f, err := open(s.path)
	if err != nil {
		return nil, err
	}
	s.file = f
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.size.Store(size)
	// Space reserved before a crash outlives it (see reserve). MemFS
	// files, which have no descriptor, do not keep it.
	s.reservedPast = active && f.Fd() != vfs.InvalidFd && !sf.readOnly
	s.next.Store(base)
	s.maxTimestamp.Store(-1)
	s.offsetOfMaxTimestamp = -1
	s.refs.Store(1)
	if err := s.openIndexes(sf, active, false); err != nil {
		f.Close()
		return nil, err
	}
	mapLen := size
	if active {
		mapLen = max(size, sf.maxBytes)
	}
	if err := s.mapData(mapLen); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *segment) openIndexes(sf segmentFiles, writable, truncate bool) error {
	ix, err := openSegmentIndexes(sf, s.base, "", writable, truncate)
	if err != nil {
		return err
	}
	s.ix.Store(ix)
	return nil
}

// openSegmentIndexes opens the index files of segment base, with suffix
// appended to their names (for rebuilding into temporary files).
func openSegmentIndexes(sf segmentFiles, base int64, suffix string, writable, truncate bool) (*segmentIndexes, error) {
	ipath := filepath.Join(sf.dir, SegmentName(base, IndexSuffix)+suffix)
	tpath := filepath.Join(sf.dir, SegmentName(base, TimeIndexSuffix)+suffix)
	if truncate && sf.readOnly {
		// A new, empty index (a rebuild's): in memory.
		return &segmentIndexes{
			offset: &offsetIndex{entryFile: newMemoryEntryFile(ipath, offsetEntrySize, sf.maxIndex, nil), base: base},
			time:   &timeIndex{entryFile: newMemoryEntryFile(tpath, timeEntrySize, sf.maxIndex, nil), base: base},
		}, nil
	}
	if truncate {
		for _, p := range []string{ipath, tpath} {
			f, err := sf.fs.Create(p)
			if err != nil {
				return nil, err
			}
			if err := f.Close(); err != nil {
				return nil, err
			}
		}
	}
	oi, err := openEntryFile(sf.fs, ipath, offsetEntrySize, sf.maxIndex, writable, sf.readOnly)
	if err != nil {
		return nil, err
	}
	ti, err := openEntryFile(sf.fs, tpath, timeEntrySize, sf.maxIndex, writable, sf.readOnly)
	if err != nil {
		oi.close()
		return nil, err
	}
	return &segmentIndexes{offset: &offsetIndex{entryFile: oi, base: base}, time: &timeIndex{entryFile: ti, base: base}}, nil
}

func (x *segmentIndexes) close() error {
	return errors.Join(x.offset.close(), x.time.close())
}

// mapData maps length bytes of the data file read-only, when the file has a
// descriptor. Bytes past the file's size are never read.
func (s *segment) mapData(length int64) error {
	fd := s.file.Fd()
	if fd == vfs.InvalidFd || length <= 0 {
		return nil
	}
	m, err := mmap.Map(fd, int(length), false)
	if errors.Is(err, mmap.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("map %s: %w", s.path, err)
	}
	s.data = m
	return nil
}

// acquire takes a reader's reference; it fails once the segment is closed.
func (s *segment) acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference, closing the files when it was the last.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

func (s *segment) closeFiles() error {
	var errs []error
	if s.data != nil {
		errs = append(errs, mmap.Unmap(s.data))
		s.data = nil
	}
	if ix := s.ix.Load(); ix != nil {
		errs = append(errs, ix.close())
	}
	for _, ix := range s.retired {
		errs = append(errs, ix.close())
	}
	errs = append(errs, s.file.Close())
	return errors.Join(errs...)
}

// bytesAt returns n bytes of the data file at pos: a sub-slice of the
// mapping when there is one, else the bytes read into *scratch (grown as
// needed). The result is valid while the caller holds a reference and, for
// the scratch case, until scratch is reused. REQUIRES: pos+n <= size.
func (s *segment) bytesAt(scratch *[]byte, pos, n int64) ([]byte, error) {
	if s.data != nil && pos+n <= int64(len(s.data)) {
		return s.data[pos : pos+n : pos+n], nil
	}
	if int64(cap(*scratch)) < n {
		*scratch = make([]byte, n)
	}
	b := (*scratch)[:n]
	if _, err := s.file.ReadAt(b, pos); err != nil && !(isEOF(err) && n == 0) {
		return nil, fmt.Errorf("%w: read %s at %d: %w", errIO, s.path, pos, err)
	}
	return b, nil
}

// batchAt reads and checks the batch at pos, which must end at or before
// limit: header, size, and CRC. It returns the whole batch.
func (s *segment) batchAt(scratch *[]byte, pos, limit int64) ([]byte, record.Header, error) {
	b, h, err := s.uncheckedBatchAt(scratch, pos, limit)
	if err != nil {
		return nil, h, err
	}
	if err := record.CheckCRC(b); err != nil {
		return nil, h, err
	}
	return b, h, nil
}

// uncheckedBatchAt is batchAt without the CRC check, for a caller that
// verifies it otherwise.
func (s *segment) uncheckedBatchAt(scratch *[]byte, pos, limit int64) ([]byte, record.Header, error) {
	if limit-pos < record.HeaderSize {
		return nil, record.Header{}, record.ErrTruncated
	}
	hb, err := s.bytesAt(scratch, pos, record.HeaderSize)
	if err != nil {
		return nil, record.Header{}, err
	}
	h, err := record.ParseHeader(hb, int(min(limit-pos, 1<<31-1)))
	if err != nil {
		return nil, h, err
	}
	b, err := s.bytesAt(scratch, pos, int64(h.Size()))
	if err != nil {
		return nil, h, err
	}
	return b, h, nil
}

const (
	// maxStagedBytes bounds the batches a segment stages between fsync
	// rounds. Larger batches are written at once: the copy would cost
	// more than the write it saves.
	maxStagedBytes = 64 << 10
	// prepareStep is how far ahead of the end a durable segment prepares
	// space.
	prepareStep = 1 << 20
	// reserveMinStep and reserveMaxStep bound how far past a batch a
	// non-durable segment reserves space: as far again as its data
	// reaches, so that the space reserved and not yet used is at most
	// the segment's size (or reserveMinStep), and at most reserveMaxStep.
	reserveMinStep = 64 << 10
	reserveMaxStep = 16 << 20
)

// zeros is what prepare writes: never written to, so its pages are
// never faulted in.
var zeros [prepareStep]byte

// append adds batch (whose base offset is already stamped) at the end of
// the data file and maintains the indexes, following Kafka's
// LogSegment.append. With durable (SyncAlways: every append is followed
// by an fsync round), the batch goes into space prepared ahead (see
// prepare), and a small one may be staged in memory instead of written
// (see stage); the partition's next fsync round writes it, and nothing
// may read it before. REQUIRES: the partition's append lock.
func (s *segment) append(batch []byte, h *record.Header, interval int64, now time.Time, durable bool, crc *CRCAside) error {
	pos := s.size.Load()
	end := pos + int64(len(batch))
	if s.bytesSinceIndex > interval {
		// This batch gets index entries: make room for them first, so
		// that a full disk fails the append before anything is written.
		if err := s.reserveIndexes(1); err != nil {
			return &segmentWriteError{err: err, clean: true}
		}
	}
	if !durable {
		s.reserve(pos, end, interval)
	}
	if !durable || !s.prepare(pos, end, interval) || crc != nil || !s.stage(batch, pos) {
		if err := s.writeBatch(batch, pos, crc); err != nil {
			return err
		}
	}
	if pos == 0 {
		s.created = now
	}
	s.dirty = true
	if h.MaxTimestamp > s.maxTimestamp.Load() {
		s.maxTimestamp.Store(h.MaxTimestamp)
		s.offsetOfMaxTimestamp = h.LastOffset()
	}
	if s.bytesSinceIndex > interval {
		if err := s.offsets().add(h.LastOffset(), pos); err != nil {
			return err
		}
		if err := s.times().maybeAdd(s.maxTimestamp.Load(), s.offsetOfMaxTimestamp); err != nil {
			return err
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(len(batch))
	s.next.Store(h.NextOffset())
	s.size.Store(end)
	return nil
}

// prepare makes the file reach at least end, with the bytes past the data
// zero, and reports whether it does. When it does not yet, it writes zeros
// from the file's end to prepareStep past it (never past SegmentBytes,
// unless end is), Kafka's log.preallocate done with writes.
//
// This is for durable appends. An fdatasync after a write that grew the
// file must also commit the new size and block allocation to the file
// system's journal; after a write over blocks already written it only
// writes the data. Measured on ext4 (bench W3lat, alternating runs): a
// durable append of one record went from 1.05x the fdatasync of a bare
// append to 0.82-0.84x of it, 64 durable appenders from 177,000-200,000
// to 242,000-283,000 records/s, and durable batches of 120 KB 10-25%
// faster, though each prepared byte is written twice. Space reserved with
// fallocate does not help: writing into it converts its extents, which
// is metadata too.
//
// The zeros are never part of the log: readers stop at the end of the
// data, seal and Close trim them off, and recovery after a crash cuts
// them (zeros past the last batch are what an interrupted write leaves
// too). A failed zero write (a full disk) is undone and reported as
// false: the append then writes as it would without preparing, and a
// full disk fails it cleanly. REQUIRES: the append lock.
func (s *segment) prepare(pos, end, interval int64) bool {
	if end <= s.prepared {
		return true
	}
	if end-pos > prepareStep {
		// The batch's own write allocates at least as much as the zeros
		// would: writing them first only copies more.
		return false
	}
	from := max(s.prepared, pos)                          // the file's end: staged batches lie below prepared
	n := max(end-from, min(prepareStep, s.maxBytes-from)) // at most prepareStep, as end-pos is
	if _, err := s.file.WriteAt(zeros[:n], from); err != nil {
		// The zeros a short write left are past the data, where they do
		// no harm; give them back all the same.
		_ = s.file.Truncate(from)
		return false
	}
	s.prepared = from + n
	s.reserveIndexesFor(s.prepared-pos, interval)
	return true
}

// reserveIndexes makes room for n more entries in both indexes, and for
// the time index's final entry, which seal adds. REQUIRES: the append
// lock.
func (s *segment) reserveIndexes(n int) error {
	return errors.Join(s.offsets().reserve(n), s.times().reserve(n+1))
}

// reserveIndexesFor reserves, if it can, index room for the entries that
// appends of n more bytes of data may add: space prepared or reserved
// ahead of the data covers the index entries of what it can hold, so that
// while the disk is full the appends that fit in it still succeed. A
// failure is no error: the append that needs the entry reserves again,
// and fails cleanly if it cannot. REQUIRES: the append lock.
func (s *segment) reserveIndexesFor(n, interval int64) {
	_ = s.reserveIndexes(int(min(n/max(interval, 1)+1, math.MaxInt32)))
}

// reserve has the file system reserve space for the data file up to at
// least end, ahead of the writes of non-durable appends, without changing
// the file's size (vfs.File.Allocate: fallocate with FALLOC_FL_KEEP_SIZE).
// A write into reserved space skips the file system's block allocation.
// Measured on ext4 (Linux 6.18, 2-CPU virtual machine), writing 1 GiB
// into a new file: 116 KB writes ran at 3,100 MB/s without reserving and
// at 4,000-4,200 MB/s with it, 1 MiB writes at 4,450 and 6,400-6,600,
// counting the reservations; the same with an fdatasync every 100 ms,
// 2,750-2,850 against 3,450-3,650 and 1,700-3,450 against 4,350-6,300.
//
// Durable appends do not reserve: the fdatasync after a write into
// reserved space must commit the conversion of its extents, which made a
// durable append of 116 KB 20% slower there (390 against 325 µs); they
// write zeros ahead instead (see prepare).
//
// Copying batches into a writable mapping whose pages a second goroutine
// faults in ahead (fallocate, then MADV_POPULATE_WRITE, off the inode
// lock) was tried instead and is slower there: faulting a page in zeroes
// it first, which a buffered write of whole pages does not, and the
// zeroing (half of the faulting's time) runs at 870-1,060 MB/s on memory
// the virtual machine has not touched lately, against 3,500-5,500 MB/s
// on pages just freed. The populating goroutine fell behind, the appends
// it did not keep up with wrote with pwrite all the same, and bench W1
// dropped from 0.49-0.52x of plain writes to 0.31-0.37x.
//
// Reserved space holds no data and does not count in the file's size, so
// readers and recovery never see it. trimPrepared gives back what is left
// past the data at seal and Close. A failed reservation is no error: the
// append writes as it would without one, and a full disk fails that
// write. REQUIRES: the append lock.
func (s *segment) reserve(pos, end, interval int64) {
	if end <= s.reserved || s.noReserve {
		return
	}
	from := max(s.reserved, pos)
	ahead := min(max(pos, reserveMinStep), reserveMaxStep)
	n := max(end, min(end+ahead, s.maxBytes)) - from
	err := s.file.Allocate(from, n)
	switch {
	case err == nil:
		s.reserved = from + n
		s.reservedPast = true
		s.reserveIndexesFor(s.reserved-pos, interval)
	case errors.Is(err, errors.ErrUnsupported):
		s.noReserve = true
	default:
		// A full disk may have reserved part of it: give back all that
		// lies past the data at once, for the writes that still fit.
		// The file ends at pos.
		if s.file.Truncate(pos) == nil {
			s.reserved, s.reservedPast = 0, false
		} else {
			s.reservedPast = true
		}
	}
}

// stage copies batch, to be written at pos, into the staged batches, and
// reports whether it did. It stages only what fits in maxStagedBytes, in
// space prepare has made, so that writing it later cannot fail for lack
// of space: a full disk still fails the append that meets it, with
// nothing assigned. REQUIRES: the append lock.
//
// Staging is group commit's write coalescing. Under SyncAlways each
// appender waits for an fsync round anyway; one write of the staged
// batches per round costs a fraction of one write per batch, which
// appenders would otherwise make one after another under the append lock.
func (s *segment) stage(batch []byte, pos int64) bool {
	if len(s.pending)+len(batch) > maxStagedBytes || pos+int64(len(batch)) > s.prepared {
		return false
	}
	if len(s.pending) == 0 {
		s.pendingPos = pos
	}
	s.pending = append(s.pending, batch...)
	return true
}

// writeStaged writes the staged batches to the file. A failure loses
// batches that were assigned offsets, so it is never clean: the partition
// fails. REQUIRES: the append lock.
func (s *segment) writeStaged() error {
	if len(s.pending) == 0 {
		return nil
	}
	_, err := s.file.WriteAt(s.pending, s.pendingPos)
	s.pending = s.pending[:0]
	if err != nil {
		return &segmentWriteError{err: fmt.Errorf("write staged batches: %w", err)}
	}
	return nil
}

// writeBatch writes batch at pos, after the staged batches, which come
// before it. A failed write of batch itself leaves nothing of it behind
// (clean), so the append can fail without failing the partition.
//
// With crc (see CRCAside), it writes the records first, while the CRC is
// computed, and then the header with the CRC. A crash between the two
// leaves zeros where the header goes, which recovery cuts as an
// interrupted write: nothing was acknowledged.
func (s *segment) writeBatch(batch []byte, pos int64, crc *CRCAside) error {
	if err := s.writeStaged(); err != nil {
		return err
	}
	if crc == nil {
		n, err := s.file.WriteAt(batch, pos)
		if err != nil {
			return s.undoWrite(pos, n > 0, err)
		}
		return nil
	}
	n, err := s.file.WriteAt(batch[record.HeaderSize:], pos+record.HeaderSize)
	if err != nil {
		return s.undoWrite(pos, n > 0, err)
	}
	record.SetCRC(batch, crc.Wait())
	if _, err := s.file.WriteAt(batch[:record.HeaderSize], pos); err != nil {
		return s.undoWrite(pos, true, err)
	}
	return nil
}

// undoWrite returns a failed write of a batch at pos as a
// *segmentWriteError. When some of the batch was written (wrote), it
// truncates the file to pos first: a later append starts at pos again
// anyway, and a crash would otherwise find a torn batch. The space
// prepared or reserved past pos goes too. The failure is clean when
// nothing of the batch is left behind.
func (s *segment) undoWrite(pos int64, wrote bool, err error) error {
	clean := true
	if wrote {
		s.prepared, s.reserved = 0, 0
		if terr := s.file.Truncate(pos); terr != nil {
			clean = false
			err = errors.Join(err, fmt.Errorf("truncate after failed write: %w", terr))
		} else {
			s.reservedPast = false
		}
	}
	return &segmentWriteError{err: err, clean: clean}
}

// trimPrepared writes the staged batches and truncates the file to the
// end of its data, giving back the space prepared or reserved past it. It
// reports whether it truncated: only an fsync makes that durable.
// REQUIRES: the append lock.
func (s *segment) trimPrepared() (bool, error) {
	if err := s.writeStaged(); err != nil {
		return false, err
	}
	if s.prepared <= s.size.Load() && !s.reservedPast {
		s.prepared = 0
		return false, nil
	}
	s.prepared, s.reserved, s.reservedPast = 0, 0, false
	return true, s.file.Truncate(s.size.Load())
}

// indexFull reports whether either index has no room for another entry.
func (s *segment) indexFull() bool { return s.offsets().full() || s.times().full() }

// seal makes the segment read-only: it writes the staged batches, trims
// the space prepared past the end, adds the final time-index entry and
// trims both index files to their entries. The caller fsyncs the segment
// in the next round, which makes the trim durable. REQUIRES: the append
// lock.
func (s *segment) seal() error {
	if _, err := s.trimPrepared(); err != nil {
		return err
	}
	if s.maxTimestamp.Load() >= 0 {
		if err := s.times().maybeAdd(s.maxTimestamp.Load(), s.offsetOfMaxTimestamp); err != nil {
			return err
		}
	}
	if err := s.offsets().trim(); err != nil {
		return err
	}
	if err := s.times().trim(); err != nil {
		return err
	}
	s.sealed = true
	s.indexDirty = true
	return nil
}

// syncIndexes fsyncs both index files.
func (s *segment) syncIndexes() error {
	return errors.Join(s.offsets().sync(), s.times().sync())
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// segmentWriteError is a failed data write; clean reports that nothing of
// the batch remains in the file.
type segmentWriteError struct {
	err   error
	clean bool
}

func (e *segmentWriteError) Error() string { return e.err.Error() }
func (e *segmentWriteError) Unwrap() error { return e.err }

// CRCAsideBytes is the size from which appendRecords leaves a batch's CRC
// to another goroutine while the records are written (see CRCAside).
const CRCAsideBytes = 256 << 10

// CRCAside is the CRC of a large batch, computed on a goroutine of its own
// while the segment writes the batch's records; the header, which holds
// the CRC, is written after them (segment.writeBatch). Computing the CRC
// of 1 MB takes about 47 µs, beside writing it in about 180 µs
// (reserved space, ext4, 2-CPU virtual machine): bench W2 (1,000 records
// of 1 KiB per append, SyncNever) went from 3,440-3,490 to 3,890-4,010
// MB/s in alternating runs. A smaller batch would pay a goroutine start
// and one more write call (about 5 µs) for less than that.
//
// The goroutine reads the bytes the CRC covers (from the attributes on),
// which nothing writes until wait returns: the append patches only the
// base offset and leader epoch before it, and then the CRC field.
type CRCAside struct {
	done   chan uint32
	crc    uint32
	waited bool
}

// ComputeCRCAside starts computing batch's CRC.
func ComputeCRCAside(batch []byte) *CRCAside {
	c := &CRCAside{done: make(chan uint32, 1)}
	go func() { c.done <- record.ComputeCRC(batch) }()
	return c
}

// wait returns the CRC once computed. Every append that started one waits
// for it, whether or not it wrote the batch, so that the goroutine ends
// before the batch's buffer is reused. Not safe for concurrent use.
func (c *CRCAside) Wait() uint32 {
	if !c.waited {
		c.crc, c.waited = <-c.done, true
	}
	return c.crc
}

// isDecodeError reports whether err is a batch decoding failure, as
// opposed to an I/O error.
func isDecodeError(err error) bool { return !errors.Is(err, errIO) }

// errIO marks errors that come from the file system rather than the data.
var errIO = errors.New("i/o error")
