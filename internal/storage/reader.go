package storage

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/commitlog-go/commitlog/internal/record"
)

// MaxDecompressedBatch bounds the decompressed size of one batch, so that
// a damaged or hostile compressed batch cannot make a reader allocate
// without limit. Append refuses batches that would exceed it.
const MaxDecompressedBatch = 256 << 20

// Reader walks a partition's batches in offset order up to a high
// watermark position, holding a reference to the segment it is in. Batches
// it returns are checked (header, CRC, offset order) and valid until the
// next call; they alias the segment's mapping or the reader's scratch.
//
// When TruncateTo cuts the log below its bound after the bound was taken,
// the reader returns the batches below the cut as before and then, in
// place of the first batch at or above it, a *TruncatedError
// (ErrLogTruncated): what it would read there is gone, or was written
// after the cut. After ResetTo, which removes every batch, that error
// comes in place of the next batch.
type Reader struct {
	p       *PartitionLog
	hw      *Position
	segs    []*segment
	i       int      // index of seg in segs
	seg     *segment // acquired; nil when closed
	pos     int64
	limit   int64
	from    int64 // batches wholly below this offset are skipped
	next    int64 // offset the next batch must start at; -1 when not known
	scratch []byte
	header  record.Header // the header of the batch last returned
	// ahead checks CRCs ahead of the reader in a long read of a mapped
	// segment, when running; segRead counts the bytes read in the current
	// segment, which decides when it starts.
	ahead   verifyAhead
	segRead int64
	// truncations is the partition's count of truncations the reader
	// knows of (at first its bound's), and cut the lowest offset the
	// truncations after its bound's cut the log at (math.MaxInt64: none).
	truncations int64
	cut         int64
}

// segmentHolding returns the index of the last segment of segs (ascending
// by base) whose base is at or below offset, or -1 if there is none.
func segmentHolding(segs []*segment, offset int64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
}

// NewReader positions a reader at the batch holding offset from (or
// the first batch after it) under the high watermark hw.
func (p *PartitionLog) NewReader(from int64, hw *Position) (*Reader, error) {
	if err := p.ErrIfClosed(); err != nil {
		return nil, err
	}
	r := &Reader{p: p, hw: hw, segs: *p.segments.Load(), from: from, next: -1, truncations: hw.truncations, cut: math.MaxInt64}
	i := max(0, segmentHolding(r.segs, from))
	if err := r.enter(i); err != nil {
		return nil, err
	}
	if r.pos = r.seekInSegment(from); r.pos > 0 {
		r.next = -1 // the first batch's base offset is checked against the index instead
	}
	return r, nil
}

// enter acquires segment i and computes its visible limit.
func (r *Reader) enter(i int) error {
	s := r.segs[i]
	if !s.acquire() {
		return r.resume()
	}
	if r.next >= 0 && r.next != s.base {
		s.release()
		return &CorruptionError{Path: s.path, Offset: r.next,
			Reason: fmt.Sprintf("segment starts at offset %d but the previous one ends at %d", s.base, r.next)}
	}
	r.i, r.seg, r.pos, r.next, r.segRead = i, s, 0, s.base, 0
	r.setLimit()
	return nil
}

// setLimit computes the visible limit of the current segment: the high
// watermark's position in its segment, all of a segment below the high
// watermark (sealed: before the high watermark's segment, or compaction's
// replacement of that segment, sealed and compacted since the reader
// took the high watermark), nothing above it.
func (r *Reader) setLimit() {
	switch s := r.seg; {
	case s == r.hw.seg:
		r.limit = r.hw.pos
	case s.base < r.hw.offset:
		r.limit = s.size.Load()
	default:
		r.limit = 0
	}
}

// resume goes on from the offset the reader has reached after the segment
// it was to enter left the partition: compaction replaced it (its records
// are in the segment that took its place), or retention deleted it. It
// takes the partition's current segments and seeks as NewReader
// does.
func (r *Reader) resume() error {
	from := r.from
	if r.next >= 0 {
		from = max(from, r.next)
	}
	if start := r.p.start.Load(); from < start {
		return &OffsetOutOfRangeError{Topic: r.p.cfg.Topic, Partition: r.p.cfg.Partition, Offset: from, Start: start, End: r.p.written.Load().offset}
	}
	segs := *r.p.segments.Load()
	i := max(0, segmentHolding(segs, from))
	if !segs[i].acquire() {
		// The segment may be one a truncation is replacing: it publishes
		// the new list before it lets the append lock go.
		r.p.mu.Lock()
		segs = *r.p.segments.Load()
		r.p.mu.Unlock()
		i = max(0, segmentHolding(segs, from))
		if !segs[i].acquire() {
			return r.p.ClosedErr()
		}
	}
	r.segs, r.i, r.seg, r.from, r.segRead = segs, i, segs[i], from, 0
	r.setLimit()
	r.pos, r.next = 0, r.seg.base
	if r.pos = r.seekInSegment(from); r.pos > 0 {
		r.next = -1
	}
	return nil
}

// seekInSegment returns the position to start reading the current segment
// for offset from, using the offset index. An index entry is checked
// against the batch it points at; a wrong one (a damaged index) is logged
// and the segment is read from its start instead, which is slower but
// correct. Log.Check rebuilds damaged indexes.
func (r *Reader) seekInSegment(from int64) int64 {
	off, pos := r.seg.offsets().lookup(from)
	if pos == 0 || pos >= r.limit {
		return 0
	}
	if r.limit-pos >= record.HeaderSize {
		if hb, err := r.seg.bytesAt(&r.scratch, pos, record.HeaderSize); err == nil {
			if h, err := record.ParseHeader(hb, int(r.limit-pos)); err == nil && h.LastOffset() == off {
				return pos
			}
		}
	}
	r.p.cfg.Logger.Warn("offset index entry does not match the data; reading the segment from its start",
		"topic", r.p.cfg.Topic, "partition", r.p.cfg.Partition, "segment", r.seg.base, "file", r.seg.offsets().path, "offset", off, "position", pos)
	return 0
}

// nextBatch returns the next batch with records at or above from, or
// io.EOF at the high watermark.
func (r *Reader) Next() ([]byte, *record.Header, error) {
	for {
		if n := r.p.truncations.Load(); n != r.truncations {
			r.p.mu.Lock()
			r.cut = min(r.cut, r.p.truncatedSinceLocked(r.truncations))
			r.p.mu.Unlock()
			r.truncations = n
		}
		if r.cut != math.MaxInt64 && r.next >= r.cut {
			return nil, nil, r.truncated(r.next)
		}
		if r.pos >= r.limit {
			if r.seg == r.hw.seg || r.i+1 >= len(r.segs) || r.segs[r.i+1].base >= r.hw.offset {
				return nil, nil, io.EOF
			}
			r.Close()
			if err := r.enter(r.i + 1); err != nil {
				return nil, nil, err
			}
			continue
		}
		b, h, err := r.seg.uncheckedBatchAt(&r.scratch, r.pos, r.limit)
		if err == nil && (!r.ahead.running() || !r.ahead.checked(r.pos+int64(len(b)))) {
			err = record.CheckCRC(b)
		}
		if err == nil && r.next >= 0 && h.BaseOffset != r.next {
			// Offsets are contiguous; the base offset is outside the CRC.
			err = fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, r.next)
		}
		if err == nil && h.NextOffset() > r.cut {
			return nil, nil, r.truncated(h.BaseOffset)
		}
		if err != nil {
			if r.cut != math.MaxInt64 {
				// Bytes past the cut, read with a bound from before it.
				return nil, nil, r.truncated(max(r.next, r.cut))
			}
			return nil, nil, corruptUnlessIO(err, &CorruptionError{Path: r.seg.path, FilePosition: r.pos, Offset: r.next})
		}
		r.pos += int64(len(b))
		r.next = h.NextOffset()
		r.segRead += int64(len(b))
		if !r.ahead.running() && r.segRead >= verifyAheadAfter && r.limit-r.pos >= verifyAheadMin &&
			r.limit <= int64(len(r.seg.data)) {
			r.ahead.start(r.seg.data[:r.limit], r.pos, verifyAheadWindow)
		}
		if h.LastOffset() < r.from {
			continue
		}
		r.header = h
		return b, &r.header, nil
	}
}

// truncated returns the *TruncatedError of a reader at offset.
func (r *Reader) truncated(offset int64) error {
	return &TruncatedError{Topic: r.p.cfg.Topic, Partition: r.p.cfg.Partition, Offset: offset, End: r.cut}
}

// close stops checking ahead and releases the segment.
func (r *Reader) Close() {
	r.ahead.stop()
	if r.seg != nil {
		r.seg.release()
		r.seg = nil
	}
}

// shutErrIfClosed returns closedErr once the partition is closed (its
// Log closed or its topic deleted), and nil before. Reads check it as they
// start and at every batch: a reader still holding a segment could
// otherwise read on from it.
func (p *PartitionLog) ErrIfClosed() error {
	select {
	case <-p.done:
		return p.ClosedErr()
	default:
		return nil
	}
}

// closedErr returns why the partition no longer serves reads: ErrClosed,
// or the deletion of its topic.
func (p *PartitionLog) ClosedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutErr != nil {
		return p.shutErr
	}
	return ErrClosed
}

// HighWatermark returns the offset of the high watermark the reader is
// bounded by.
func (r *Reader) HighWatermark() int64 { return r.hw.offset }

// Remaining returns how many bytes of the current segment the reader may
// still read.
func (r *Reader) Remaining() int64 { return r.limit - r.pos }

// Corrupt returns the *CorruptionError for the batch last returned by
// Next, of length n and header h, whose records failed to decode with err.
func (r *Reader) Corrupt(n int, h *record.Header, err error) error {
	return &CorruptionError{Path: r.seg.path, FilePosition: r.pos - int64(n), Offset: h.BaseOffset, Err: err}
}

// Header returns the header of the batch last returned by Next, valid
// until the next call.
func (r *Reader) Header() *record.Header { return &r.header }
