package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Check verifies every invariant of the partition and returns nil, or an
// error joining every problem found: every batch's header, CRC and records
// decode; offsets are contiguous across batches and segments; each
// segment's recorded end and largest timestamp match its data; StartOffset
// <= HighWatermark <= EndOffset, and under SyncAlways the high watermark
// is durable; every index entry points at the batch it names; the leader
// epochs of the batches never decrease along the log, and the epoch cache
// agrees with them (checkEpochs). An index that disagrees with its data
// is rebuilt (and the rebuild logged) rather than reported. It reads
// everything below the high watermark, and the headers of the batches
// above it, holding off compaction, whose swaps would take segments away
// mid-check; appends and reads go on.
func (p *PartitionLog) Check(ctx context.Context) error {
	p.cleanMu.Lock()
	defer p.cleanMu.Unlock()
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s-%d: "+format, append([]any{p.cfg.Topic, p.cfg.Partition}, args...)...))
	}
	// One view of the partition: a truncation changes all of it at once.
	// The batches staged for the next fsync round are written, so that
	// every batch below the written end is in its file.
	p.mu.Lock()
	start := p.start.Load()
	hw := p.hw.Load()
	durable := p.durable.Load()
	written := p.written.Load()
	segs := *p.segments.Load()
	epochs := p.epochs.clone()
	var staged error
	if !p.released && p.failed == nil {
		if err := p.active.writeStaged(); err != nil {
			staged = p.failLocked("write", err)
		}
	}
	p.mu.Unlock()
	if staged != nil {
		return staged
	}
	if start > hw.offset || hw.offset > written.offset {
		problem("offsets out of order: start %d, high watermark %d, end %d", start, hw.offset, written.offset)
	}
	if p.cfg.SyncAlways && hw.offset > durable.offset {
		problem("high watermark %d is above the durable end %d under SyncAlways", hw.offset, durable.offset)
	}
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
				p.cfg.Logger.Warn("index disagreed with its data and was rebuilt", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "file", s.path)
			}
		}
		s.release()
		next = end
	}
	if err := p.checkEpochs(segs, start, written, epochs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkEpochs verifies the leader epochs of the batches in segs that hold
// offsets at or above start, up to written (headers only: the data is
// checked below the high watermark by Check): each is at least 0 and at
// least the one before it, and the epoch cache, trimmed to start, is
// their runs (each epoch at the base offset of its first batch, the first
// at start when that lies inside a batch), plus at most one epoch newer
// than them assigned at the end. It returns the problems found as
// *CorruptionErrors, joined.
func (p *PartitionLog) checkEpochs(segs []*segment, start int64, written *Position, epochs *leaderEpochs) error {
	var errs []error
	var runs []epochEntry
	for _, s := range segs {
		if !s.acquire() {
			return ErrClosed
		}
		err := walkHeaders([]*segment{s}, start, written, func(s *segment, pos int64, h *record.Header) bool {
			e := h.PartitionLeaderEpoch
			n := len(runs)
			switch {
			case e < 0:
				errs = append(errs, &CorruptionError{Path: s.path, FilePosition: pos, Offset: h.BaseOffset,
					Reason: fmt.Sprintf("batch has no leader epoch (%d)", e)})
			case n > 0 && e < runs[n-1].epoch:
				errs = append(errs, &CorruptionError{Path: s.path, FilePosition: pos, Offset: h.BaseOffset,
					Reason: fmt.Sprintf("batch has leader epoch %d, below the epoch %d of the batches before it", e, runs[n-1].epoch)})
			case n == 0 || e > runs[n-1].epoch:
				runs = append(runs, epochEntry{e, max(h.BaseOffset, start)})
			}
			return true
		})
		s.release()
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	epochs.truncateFromStart(start)
	got := epochs.entries
	if n := len(got); n > 0 && got[n-1].start == written.offset && (len(runs) == 0 || got[n-1].epoch > runs[len(runs)-1].epoch) {
		got = got[:n-1] // assigned, no batch yet
	}
	if !slices.Equal(got, runs) {
		errs = append(errs, &CorruptionError{Path: filepath.Join(p.dir, LeaderEpochsName), Offset: -1,
			Reason: fmt.Sprintf("the leader epochs %v disagree with the epochs of the batches %v", got, runs),
			Remedy: "the file is derived from the batches: remove it and reopen the partition to rebuild it"})
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
