package commitlog

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Check verifies every invariant of every partition and returns nil, or
// an error joining every problem found. It reads all the data, so it takes
// time in proportion to the size of the log; appends and reads continue
// meanwhile (Check verifies what is visible when it reaches a partition),
// and compaction of the partition being checked waits.
//
// Verified: every batch's header, CRC and records decode; offsets are
// contiguous across batches and segments; each segment's recorded end and largest
// timestamp match its data; StartOffset <= HighWatermark <= EndOffset, and
// under SyncAlways the high watermark is durable; every index entry points
// at the batch it names. Indexes are derived data: one that disagrees with
// its data is rebuilt (and the rebuild logged) rather than reported.
// Damaged data is reported as *CorruptionError.
func (l *Log) Check(ctx context.Context) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	l.mu.RUnlock()
	ps := l.allPartitions()
	slices.SortFunc(ps, func(a, b *Partition) int {
		if a.topic.name != b.topic.name {
			if a.topic.name < b.topic.name {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	var errs []error
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, p.check(ctx))
	}
	return errors.Join(errs...)
}

// check verifies one partition; see Log.Check. It holds off compaction,
// whose swaps would take segments away mid-check.
func (p *Partition) check(ctx context.Context) error {
	p.cleanMu.Lock()
	defer p.cleanMu.Unlock()
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s-%d: "+format, append([]any{p.topic.name, p.id}, args...)...))
	}
	start := p.start.Load()
	hw := p.hw.Load()
	durable := p.durable.Load()
	written := p.written.Load()
	if start > hw.offset || hw.offset > written.offset {
		problem("offsets out of order: start %d, high watermark %d, end %d", start, hw.offset, written.offset)
	}
	if p.log.opts.Sync == SyncAlways && hw.offset > durable.offset {
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
			_, rerr := s.rebuildIndexes(p.sf, int64(p.cfg.IndexIntervalBytes), &scratch)
			p.mu.Unlock()
			if rerr != nil {
				errs = append(errs, fmt.Errorf("%s-%d: rebuild indexes of segment %d: %w", p.topic.name, p.id, s.base, rerr))
			} else {
				p.log.opts.Logger.Warn("index disagreed with its data and was rebuilt", "file", s.path)
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
func (p *Partition) checkSegment(s *segment, limit, from int64, sealed bool, scratch *[]byte) (int64, bool, error) {
	ix := s.ix.Load()
	offsets, times := ix.offset, ix.time
	no, nt := offsets.count(), times.count()
	oi, ti := 0, 0
	indexOK := offsets.validPrefix(limit, 1<<62) == no && times.validPrefix(1<<62) == nt
	next, maxTs := from, int64(-1)
	var iter record.Iter
	pos := int64(0)
	for pos < limit {
		b, h, err := s.batchAt(scratch, pos, limit)
		if err == nil && h.BaseOffset != next {
			err = fmt.Errorf("batch base offset %d, expected %d", h.BaseOffset, next)
		}
		if err == nil {
			err = record.Validate(b, maxDecompressedBatch)
		}
		if err == nil && !h.Control() {
			if err = iter.Reset(b, maxDecompressedBatch); err == nil {
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
