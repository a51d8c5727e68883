package storage

import (
	"io"

	"github.com/commitlog-go/commitlog/internal/record"
)

// OffsetForTimestamp returns the offset of the first visible record whose
// timestamp (Unix milliseconds) is at or after target. When there is none
// yet it returns the high watermark: the offset at which such a record
// would appear.
//
// Errors: *CorruptionError, ErrClosed.
func (p *PartitionLog) OffsetForTimestamp(target int64) (int64, error) {
	if err := p.ErrIfClosed(); err != nil {
		return 0, err
	}
	hw := p.hw.Load()
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
func (p *PartitionLog) timeLookup(s *segment, target int64, hw *Position) int64 {
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
		p.cfg.Logger.Warn("time index entry does not match the data; searching the segment from its start",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.times().path, "timestamp", ts, "offset", off)
		return s.base
	}
	return off
}

// firstAtOrAfter scans from offset from for the first record with a
// timestamp at or after target.
func (p *PartitionLog) firstAtOrAfter(from, target int64, hw *Position) (int64, bool, error) {
	r, err := p.NewReader(from, hw)
	if err != nil {
		return 0, false, err
	}
	defer r.Close()
	var it record.Iter
	for {
		b, h, err := r.Next()
		if err == io.EOF {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if h.Control() || h.MaxTimestamp < target {
			continue
		}
		if err := it.Reset(b, MaxDecompressedBatch); err != nil {
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
