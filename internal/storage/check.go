package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Check verifies every invariant of the partition and returns nil, or an
// error joining every problem found: every batch's header, CRC and records
// decode; offsets are contiguous across batches and segments; each
// segment's recorded end and largest timestamp match its data; StartOffset
// <= HighWatermark <= EndOffset, and under SyncAlways the high watermark
// is durable; every index entry points at the batch it names. An index
// that disagrees with its data is rebuilt (and the rebuild logged) rather
// than reported. It reads everything below the high watermark, holding off
// compaction, whose swaps would take segments away mid-check; appends and
// reads go on.
func (p *PartitionLog) Check(ctx context.Context) error {
	p.cleanMu.Lock()
	defer p.cleanMu.Unlock()
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s-%d: "+format, append([]any{p.cfg.Topic, p.cfg.Partition}, args...)...))
	}
	start := p.start.Load()
	hw := p.hw.Load()
	durable := p.durable.Load()
	written := p.written.Load()
	if start > hw.offset || hw.offset > written.offset {
		problem("offsets out of order: start %d, high watermark %d, end %d", start, hw.offset, written.offset)
	}
	if p.cfg.SyncAlways && hw.offset > durable.offset {
		problem("high watermark %d is above the durable end %d under SyncAlways", hw.offset, durable.offset)
	}
	segs := *p.segments.Load()
	next := int64(-1)
	var scratch []byte
	for i, s := range segs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.base > hw.offset || (s.base == hw.offset && s != hw.seg) {
			break
		}
		if next >= 0 && s.base != next {
			problem("segment %d does not start where the segment before it ends (%d)", s.base, next)
		}
		if !s.acquire() {
			return ErrClosed
		}
		// A segment is checked whole unless it holds the high watermark,
		// which can lag inside a segment sealed since (under SyncAlways
		// it is the durable end, which the next fsync round moves): only
		// a whole sealed segment must end with its last batch.
		limit, whole := hw.pos, s != hw.seg
		if whole {
			limit = s.size.Load()
		}
		end, indexOK, err := p.checkSegment(s, limit, s.base, whole && i < len(segs)-1, &scratch)
		if err != nil {
			errs = append(errs, err)
		} else if !indexOK {
			p.mu.Lock()
			var rerr error
			if s == p.active {
				// The rebuild reads the data file to its end: write
				// the batches staged for the next fsync round first.
				if err := s.writeStaged(); err != nil {
					rerr = p.failLocked("write", err)
				}
			}
			if rerr == nil {
				_, rerr = s.rebuildIndexes(p.sf, int64(p.cfg.IndexIntervalBytes), &scratch)
			}
			p.mu.Unlock()
			if rerr != nil {
				errs = append(errs, fmt.Errorf("%s-%d: rebuild indexes of segment %d: %w", p.cfg.Topic, p.cfg.Partition, s.base, rerr))
			} else {
				p.cfg.Logger.Warn("index disagreed with its data and was rebuilt", "file", s.path)
			}
		}
		s.release()
		next = end
	}
	return errors.Join(errs...)
}

// checkSegment verifies the batches of s below byte limit, starting at
// offset from, and its indexes. It returns the offset after the last batch
// and whether the indexes agree with the data.
func (p *PartitionLog) checkSegment(s *segment, limit, from int64, sealed bool, scratch *[]byte) (int64, bool, error) {
	ix := s.ix.Load()
	offsets, times := ix.offset, ix.time
	no, nt := offsets.count(), times.count()
	oi, ti := 0, 0
	// In the segment holding the high watermark, entries at or past limit
	// are those of batches above it, which appends may be adding as this
	// runs: they need only be plausible for the file as it is.
	indexOK := offsets.validPrefix(s.size.Load(), 1<<62) >= no && times.validPrefix(1<<62) >= nt
	next, maxTs := from, int64(-1)
	var iter record.Iter
	pos := int64(0)
	for pos < limit {
		b, h, err := s.batchAt(scratch, pos, limit)
		if err == nil && h.BaseOffset != next {
			err = fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, next)
		}
		if err == nil {
			err = record.Validate(b, MaxDecompressedBatch)
		}
		if err == nil && !h.Control() {
			if err = iter.Reset(b, MaxDecompressedBatch); err == nil {
				for iter.Next() {
				}
				err = iter.Err()
			}
		}
		if err != nil {
			return next, indexOK, corruptUnlessIO(err, &CorruptionError{Path: s.path, FilePosition: pos, Offset: next})
		}
		// An offset-index entry names a batch by its start and last offset; a
		// time-index entry by its last offset and largest timestamp, which is
		// the largest so far.
		for indexOK && oi < no && offsets.positionAt(oi) <= pos {
			if offsets.positionAt(oi) < pos || offsets.offsetAt(oi) != h.LastOffset() {
				indexOK = false
			}
			oi++
		}
		for indexOK && ti < nt && times.offsetAt(ti) <= h.LastOffset() {
			if times.offsetAt(ti) != h.LastOffset() || times.timestampAt(ti) != h.MaxTimestamp || h.MaxTimestamp < maxTs {
				indexOK = false
			}
			ti++
		}
		maxTs = max(maxTs, h.MaxTimestamp)
		next = h.NextOffset()
		pos += int64(len(b))
	}
	if oi < no && offsets.positionAt(oi) < limit {
		indexOK = false
	}
	if sealed {
		if pos != s.size.Load() {
			return next, indexOK, &CorruptionError{Path: s.path, FilePosition: pos, Offset: next, Reason: "sealed segment has bytes after its last batch"}
		}
		if ti < nt {
			indexOK = false
		}
		if s.next.Load() != next || s.maxTimestamp.Load() != maxTs {
			return next, indexOK, &CorruptionError{Path: s.path, FilePosition: pos, Offset: next,
				Reason: fmt.Sprintf("segment records end %d and largest timestamp %d, data says %d and %d", s.next.Load(), s.maxTimestamp.Load(), next, maxTs)}
		}
	}
	return next, indexOK, nil
}
