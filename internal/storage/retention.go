package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Retention deletes whole segments, oldest first, under Kafka's rules
// (UnifiedLog.deleteOldSegments): a segment goes when the newest timestamp in it
// is older than the topic's Retention (now - newest > Retention, strictly),
// or when the partition without it would still hold RetentionBytes, or
// when it lies wholly below the start offset (DeleteRecords). Never a
// segment holding records at or above the high watermark, never the
// active segment, and never the segment holding the durable end (which the
// checkpoint names): a quiet partition's last segment goes once it has
// been rolled (SegmentAge) and written after. Deletion takes the segments
// out of the partition at once, writes the checkpoint with the new start
// offset, and then removes their files; a reader inside a deleted segment
// finishes its read, since the files stay open (and mapped) until the
// last reader lets go.

// expiredSegmentsLocked returns how many of the leading segments
// retention deletes now. With anyDurable, the segment holding the durable
// end counts as deletable too (for a first look, before a flush moves the
// durable end). REQUIRES: p.mu.
func (p *PartitionLog) expiredSegmentsLocked(segs []*segment, now time.Time, anyDurable bool) int {
	hw, durable, start := p.hw.Load(), p.durable.Load(), p.start.Load()
	byTime := p.cfg.RetentionDeletes && p.cfg.Retention != Forever
	bySize := p.cfg.RetentionDeletes && p.cfg.RetentionBytes > 0
	var total int64
	for _, s := range segs {
		total += s.size.Load()
	}
	k := 0
	for ; k < len(segs)-1; k++ {
		s, next := segs[k], segs[k+1]
		if next.base > hw.offset || s == hw.seg || s == durable.seg && !anyDurable || s == p.active {
			break
		}
		size := s.size.Load()
		expired := next.base <= start ||
			byTime && now.UnixMilli()-s.maxTimestamp.Load() > p.cfg.Retention.Milliseconds() ||
			bySize && total-size >= p.cfg.RetentionBytes
		if !expired {
			break
		}
		total -= size
	}
	return k
}

// activeExpiredLocked reports whether the active segment holds records,
// all of them visible, and all older than the retention. REQUIRES: p.mu.
func (p *PartitionLog) activeExpiredLocked(now time.Time) bool {
	a := p.active
	hw := p.hw.Load()
	return p.cfg.RetentionDeletes && p.cfg.Retention != Forever &&
		a.size.Load() > 0 && hw.seg == a && hw.pos == a.size.Load() &&
		now.UnixMilli()-a.maxTimestamp.Load() > p.cfg.Retention.Milliseconds()
}

// rollIdleLocked rolls the active segment, which no append is filling
// (it has expired, or reached its age), and moves the written end (and,
// where it follows it, the high watermark) to the new segment's start, so
// that the old one no longer holds the end and can be deleted or
// compacted. reason is the roll's. REQUIRES: p.mu.
func (p *PartitionLog) rollIdleLocked(reason RollReason) error {
	end := p.written.Load().offset
	if err := p.rollLocked(end, reason); err != nil {
		return err
	}
	w := &Position{offset: end, seg: p.active, maxTimestamp: -1, offsetOfMaxTimestamp: -1, truncations: p.truncations.Load()}
	p.written.Store(w)
	if p.cfg.Replicated {
		p.recent.add(w)
	}
	if !p.cfg.SyncAlways {
		p.publishLocalEndLocked(w)
	}
	return nil
}

// EnforceRetention deletes the segments retention allows at now, and
// returns once the new start offset is durable.
func (p *PartitionLog) EnforceRetention(ctx context.Context, now time.Time) error {
	if err := p.refuseReadOnly("EnforceRetention"); err != nil {
		return err
	}
	p.lastRetention.Store(now.UnixMilli())
	p.mu.Lock()
	work := false
	if p.shutErr == nil && p.failed == nil {
		segs := *p.segments.Load()
		n := p.expiredSegmentsLocked(segs, now, true)
		work = n > 0 || n == len(segs)-1 && p.activeExpiredLocked(now)
	}
	p.mu.Unlock()
	if !work {
		return nil // the common case costs no lock beyond this
	}
	var ev RetentionEvent
	err := p.withSyncSem(ctx, func() error {
		// Durable first: the checkpoint written below must name the
		// segment of the durable end, which must not be deleted.
		if err := p.flushHeld(); err != nil {
			return err
		}
		p.mu.Lock()
		segs := *p.segments.Load()
		n := p.expiredSegmentsLocked(segs, now, false)
		if n == len(segs)-1 && p.activeExpiredLocked(now) {
			// Everything but the active segment goes, and the active
			// segment has expired too: roll it so it can follow
			// (Kafka rolls an expired active segment the same way).
			// The roll is logged and reported once syncSem is
			// released, below.
			if err := p.rollIdleLocked(RollRetention); err != nil {
				p.mu.Unlock()
				return err
			}
			p.mu.Unlock()
			// The new segment's files become durable, and with them the
			// durable end moves into it.
			if err := p.flushHeld(); err != nil {
				return err
			}
			p.mu.Lock()
			segs = *p.segments.Load()
			n = p.expiredSegmentsLocked(segs, now, false)
		}
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		if p.shutErr != nil {
			p.mu.Unlock()
			return p.shutErr
		}
		gone := segs[:n:n]
		kept := append([]*segment(nil), segs[n:]...)
		p.segments.Store(&kept)
		if kept[0].base > p.start.Load() {
			p.start.Store(kept[0].base)
		}
		p.mu.Unlock()
		// The checkpoint records the new start before the files go: a
		// crash in between leaves segments below the start, which Open
		// removes.
		if err := p.checkpointHeld(); err != nil {
			return err
		}
		ev = RetentionEvent{Segments: len(gone), StartOffset: p.start.Load()}
		for _, s := range gone {
			ev.Bytes += s.size.Load()
		}
		p.retentionDeleted.Add(int64(len(gone)))
		p.discard(gone)
		return nil
	})
	p.mu.Lock()
	p.unlock() // the roll of an expired active segment, if any
	if ev.Segments > 0 {
		p.cfg.Logger.Info("retention deleted segments", "topic", p.cfg.Topic, "partition", p.cfg.Partition,
			"offset", ev.StartOffset, "segments", ev.Segments, "bytes", ev.Bytes)
		if f := p.cfg.Events.Retention; f != nil {
			f(ev)
		}
	}
	return err
}

// discard hands the removal of segs, taken out of the partition, to
// Config.Discard, or removes them now without one.
func (p *PartitionLog) discard(segs []*segment) {
	if p.cfg.Discard == nil {
		p.removeDeletedSegments(segs)
		return
	}
	p.cfg.Discard(func() { p.removeDeletedSegments(segs) })
}

// removeDeletedSegments removes the files of segments retention took out of p,
// and drops p's reference to them: they close when their last reader
// lets go. A failure is logged: the files are below the start offset, and
// the next Open removes them. A segment whose base a live segment has
// now is skipped: a reset (ResetTo) removed its files already, and the
// names are the live segment's.
func (p *PartitionLog) removeDeletedSegments(segs []*segment) {
	p.discardMu.Lock()
	defer p.discardMu.Unlock()
	live := *p.segments.Load()
	for _, s := range segs {
		if i := segmentHolding(live, s.base); i >= 0 && live[i].base == s.base && live[i] != s {
			s.release()
			continue
		}
		for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
			if err := p.cfg.FS.Remove(filepath.Join(p.dir, SegmentName(s.base, suffix))); err != nil && !isNotExist(err) {
				p.cfg.Logger.Warn("removing a deleted segment's file failed; the next Open retries",
					"topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", s.base, "err", err)
			}
		}
		s.release()
	}
	if err := p.cfg.FS.SyncDir(p.dir); err != nil && !isNotExist(err) {
		p.cfg.Logger.Warn("syncing a directory after removing segments failed",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "dir", p.dir, "err", err)
	}
}

// DeleteRecords moves the log start offset up to before (Kafka's
// DeleteRecords, KIP-107) and returns the new start offset, durable once
// it returns: the checkpoint recording it is written and fsynced first.
// An offset at or below the current start changes nothing.
//
// Errors: *OffsetOutOfRangeError when before is above the high watermark,
// ErrInvalidArgument for a negative offset, ErrClosed (or the reason the
// partition was shut), *DurabilityError, the context's error.
func (p *PartitionLog) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	if err := p.refuseReadOnly("DeleteRecords"); err != nil {
		return 0, err
	}
	if before < 0 {
		return 0, fmt.Errorf("%w: DeleteRecords %s-%d: offset %d is negative", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, before)
	}
	var (
		start int64
		moved bool
	)
	err := p.withSyncSem(ctx, func() error {
		p.mu.Lock()
		switch {
		case p.shutErr != nil:
			p.mu.Unlock()
			return p.shutErr
		case p.failed != nil:
			p.mu.Unlock()
			return p.failed
		}
		old := p.start.Load()
		if hw := p.hw.Load().offset; before > hw {
			p.mu.Unlock()
			return &OffsetOutOfRangeError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Offset: before, Start: old, End: hw}
		}
		start = max(old, before)
		p.start.Store(start)
		p.mu.Unlock()
		if start == old {
			return nil
		}
		if err := p.checkpointHeld(); err != nil {
			// Not durable: the records stay, in memory as on disk.
			p.start.CompareAndSwap(start, old)
			start = old
			return err
		}
		moved = true
		return nil
	})
	if moved {
		p.cfg.Logger.Info("deleted records: the log start offset moved", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", start)
	}
	return start, err
}
