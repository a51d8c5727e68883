package commitlog

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"time"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
)

// maxDecompressedBatch bounds the decompressed size of one batch, so that
// a damaged or hostile compressed batch cannot make a reader allocate
// without limit. Append refuses batches that would exceed it.
const maxDecompressedBatch = 256 << 20

// batchReader walks a partition's batches in offset order up to a high
// watermark position, holding a reference to the segment it is in. Batches
// it returns are checked (header, CRC, offset order) and valid until the
// next call; they alias the segment's mapping or the reader's scratch.
type batchReader struct {
	p       *Partition
	hw      *position
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
}

// segmentHolding returns the index of the last segment of segs (ascending
// by base) whose base is at or below offset, or -1 if there is none.
func segmentHolding(segs []*segment, offset int64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
}

// newBatchReader positions a reader at the batch holding offset from (or
// the first batch after it) under the high watermark hw.
func (p *Partition) newBatchReader(from int64, hw *position) (*batchReader, error) {
	if err := p.shutErrIfClosed(); err != nil {
		return nil, err
	}
	r := &batchReader{p: p, hw: hw, segs: *p.segments.Load(), from: from, next: -1}
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
func (r *batchReader) enter(i int) error {
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
func (r *batchReader) setLimit() {
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
// takes the partition's current segments and seeks as newBatchReader
// does.
func (r *batchReader) resume() error {
	from := r.from
	if r.next >= 0 {
		from = max(from, r.next)
	}
	if start := r.p.start.Load(); from < start {
		return &OffsetOutOfRangeError{Topic: r.p.topic.name, Partition: r.p.id, Offset: from, Start: start, End: r.p.written.Load().offset}
	}
	segs := *r.p.segments.Load()
	i := max(0, segmentHolding(segs, from))
	if !segs[i].acquire() {
		return r.p.closedErr()
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
func (r *batchReader) seekInSegment(from int64) int64 {
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
	r.p.log.opts.Logger.Warn("offset index entry does not match the data; reading the segment from its start",
		"file", r.seg.offsets().path, "offset", off, "position", pos)
	return 0
}

// nextBatch returns the next batch with records at or above from, or
// io.EOF at the high watermark.
func (r *batchReader) nextBatch() ([]byte, *record.Header, error) {
	for {
		if r.pos >= r.limit {
			if r.seg == r.hw.seg || r.i+1 >= len(r.segs) || r.segs[r.i+1].base >= r.hw.offset {
				return nil, nil, io.EOF
			}
			r.close()
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
		if err != nil {
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

// close stops checking ahead and releases the segment.
func (r *batchReader) close() {
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
func (p *Partition) shutErrIfClosed() error {
	select {
	case <-p.done:
		return p.closedErr()
	default:
		return nil
	}
}

// closedErr returns why the partition no longer serves reads: ErrClosed,
// or the deletion of its topic.
func (p *Partition) closedErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutErr != nil {
		return p.shutErr
	}
	return ErrClosed
}

// checkRange returns an *OffsetOutOfRangeError unless start <= from <= end.
func (p *Partition) checkRange(from int64) error {
	start, end := p.start.Load(), p.written.Load().offset
	if from < start || from > end {
		return &OffsetOutOfRangeError{Topic: p.topic.name, Partition: p.id, Offset: from, Start: start, End: end}
	}
	return nil
}

// waitAbove blocks until the high watermark is above from, and returns it.
func (p *Partition) waitAbove(ctx context.Context, from int64) (*position, error) {
	for {
		if hw := p.hw.Load(); hw.offset > from {
			return hw, nil
		}
		ch := p.hwChanged()
		if hw := p.hw.Load(); hw.offset > from {
			return hw, nil
		}
		select {
		case <-ch:
		case <-p.done:
			return nil, p.shutErr
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Read returns records from offset from on, at least one batch and then as
// many whole batches as fit in maxBytes (encoded size). If no record at or
// above from is visible yet, it blocks until one is or ctx ends.
//
// The records and their slices are owned by the caller. Errors:
// *OffsetOutOfRangeError when from is outside [StartOffset, EndOffset],
// ErrInvalidArgument for maxBytes <= 0, *CorruptionError, ErrClosed, or the
// context's error.
func (p *Partition) Read(ctx context.Context, from int64, maxBytes int) ([]Record, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("%w: Read: maxBytes %d must be positive", ErrInvalidArgument, maxBytes)
	}
	for {
		if err := p.checkRange(from); err != nil {
			return nil, err
		}
		hw, err := p.waitAbove(ctx, from)
		if err != nil {
			return nil, err
		}
		recs, err := p.readCopy(from, maxBytes, hw)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		// Every record up to the high watermark was below from (possible
		// only where offsets have gaps): wait for more.
		from = max(from, hw.offset)
	}
}

// readCopy reads batches from from under hw into records owned by the
// caller, copied into a recordArena.
func (p *Partition) readCopy(from int64, maxBytes int, hw *position) ([]Record, error) {
	r, err := p.newBatchReader(from, hw)
	if err != nil {
		return nil, err
	}
	defer r.close()
	var (
		recs   []Record
		arena  recordArena
		it     record.Iter
		budget = maxBytes
	)
	for len(recs) == 0 || budget > 0 {
		b, h, err := r.nextBatch()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 && len(b) > budget {
			break
		}
		budget -= len(b)
		if h.Control() {
			continue
		}
		if err := it.Reset(b, maxDecompressedBatch); err != nil {
			return nil, &CorruptionError{Path: r.seg.path, FilePosition: r.pos - int64(len(b)), Offset: h.BaseOffset, Err: err}
		}
		if h.Codec() == compress.None {
			// Room for this batch and what the budget still allows, up
			// to what is left in the segment (the bytes of records are
			// fewer than their batches'), so that small batches share a
			// chunk instead of starting one each.
			arena.reserve(int64(len(b)) + min(int64(max(budget, 0)), r.limit-r.pos))
		}
		for it.Next() {
			rr := it.Record()
			if rr.Offset < from {
				continue
			}
			recs = append(recs, arena.copyRecord(p.topic.name, p.id, rr))
		}
		if err := it.Err(); err != nil {
			return nil, &CorruptionError{Path: r.seg.path, FilePosition: r.pos - int64(len(b)), Offset: h.BaseOffset, Err: err}
		}
	}
	return recs, nil
}

// Scan iterates over the records from offset from up to the high watermark
// as it was when the iteration started, then stops.
//
// Records are decoded without copying: a record's Key, Value and header
// values are valid only until the next iteration (use Record.Clone to keep
// one). An error ends the iteration: *OffsetOutOfRangeError when from is
// outside [StartOffset, EndOffset], *CorruptionError, ErrClosed, or the
// context's error. A segment being read stays open until the iteration
// moves past it or ends, even across Close. Cursor is the same read,
// pulled one record at a time.
func (p *Partition) Scan(ctx context.Context, from int64) iter.Seq2[Record, error] {
	return p.scan(ctx, from, false)
}

// Follow is Scan that does not stop at the high watermark: once it has
// yielded everything visible, it waits for more records until ctx ends
// (then it yields the context's error) or the Log is closed (ErrClosed).
func (p *Partition) Follow(ctx context.Context, from int64) iter.Seq2[Record, error] {
	return p.scan(ctx, from, true)
}

func (p *Partition) scan(ctx context.Context, from int64, follow bool) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		c := p.newCursor(ctx, from, follow)
		// Also when the loop body panics: the cursor holds a segment
		// reference and may run a goroutine checking ahead.
		defer c.Close()
		// c.Next and c.Record, inlined into a loop over a local Record:
		// through the calls, Scan took 10% longer per record.
		rec, lastTS := c.rec, c.lastTS
		for c.it.Next() || c.advance() {
			rr := c.it.Record()
			rec.Offset, rec.Key, rec.Value = rr.Offset, rr.Key, rr.Value
			if rr.Timestamp != lastTS {
				lastTS, rec.Timestamp = rr.Timestamp, time.UnixMilli(rr.Timestamp)
			}
			rec.Headers = nil
			if len(rr.Headers) > 0 {
				rec.Headers = c.setHeaders(rr.Headers)
			}
			if !yield(rec, nil) {
				return
			}
		}
		if err := c.Err(); err != nil {
			yield(Record{}, err)
		}
	}
}

// OffsetForTime returns the offset of the first visible record whose
// timestamp is at or after ts. When there is none yet it returns the high
// watermark: the offset at which such a record would appear.
//
// Errors: *CorruptionError, ErrClosed.
func (p *Partition) OffsetForTime(ts time.Time) (int64, error) {
	if err := p.shutErrIfClosed(); err != nil {
		return 0, err
	}
	target, afterAll := lookupTimestamp(ts)
	hw := p.hw.Load()
	if afterAll {
		return hw.offset, nil
	}
	start := p.start.Load()
	for _, s := range *p.segments.Load() {
		if s.base >= hw.offset {
			break
		}
		if s.maxTimestamp.Load() < target {
			continue
		}
		from := max(p.timeLookup(s, target, hw), start)
		off, found, err := p.firstAtOrAfter(from, target, hw)
		if err != nil || found {
			return off, err
		}
	}
	return hw.offset, nil
}

// timeLookup returns the offset to start looking for target in segment s:
// the time index's entry below target, checked against its batch (which
// must end at the entry's offset with the entry's timestamp as its
// largest). A damaged entry is logged and the segment searched from its
// start, so a bad index slows the lookup but never misdirects it.
func (p *Partition) timeLookup(s *segment, target int64, hw *position) int64 {
	ts, off, ok := s.times().lookupBefore(target)
	if !ok {
		return s.base
	}
	if !s.acquire() {
		return s.base
	}
	defer s.release()
	limit := s.size.Load()
	if s == hw.seg {
		limit = hw.pos
	}
	var scratch []byte
	if off < hw.offset && !s.timeEntryResolves(ts, off, limit, &scratch) {
		p.log.opts.Logger.Warn("time index entry does not match the data; searching the segment from its start",
			"file", s.times().path, "timestamp", ts, "offset", off)
		return s.base
	}
	return off
}

// firstAtOrAfter scans from offset from for the first record with a
// timestamp at or after target.
func (p *Partition) firstAtOrAfter(from, target int64, hw *position) (int64, bool, error) {
	r, err := p.newBatchReader(from, hw)
	if err != nil {
		return 0, false, err
	}
	defer r.close()
	var it record.Iter
	for {
		b, h, err := r.nextBatch()
		if err == io.EOF {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if h.Control() || h.MaxTimestamp < target {
			continue
		}
		if err := it.Reset(b, maxDecompressedBatch); err != nil {
			return 0, false, &CorruptionError{Path: r.seg.path, FilePosition: r.pos - int64(len(b)), Offset: h.BaseOffset, Err: err}
		}
		for it.Next() {
			if rr := it.Record(); rr.Offset >= from && rr.Timestamp >= target {
				return rr.Offset, true, nil
			}
		}
		if err := it.Err(); err != nil {
			return 0, false, &CorruptionError{Path: r.seg.path, FilePosition: r.pos - int64(len(b)), Offset: h.BaseOffset, Err: err}
		}
	}
}
