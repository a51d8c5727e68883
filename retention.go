package commitlog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Retention deletes whole segments, oldest first, under Kafka's rules
// (kafka-semantics.md §3): a segment goes when the newest timestamp in it
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

// EnforceRetention runs a retention pass over every partition of the
// named topics (none named: every topic), as the Log's scheduler does on
// each checkpoint tick, and returns once the deletions are durable.
//
// Errors: ErrUnknownTopic, ErrClosed, the context's error, or a
// file-system error (joined, one per partition).
func (l *Log) EnforceRetention(ctx context.Context, topics ...string) error {
	var parts []*Partition
	if len(topics) == 0 {
		if l.isClosed() {
			return ErrClosed
		}
		parts = l.allPartitions()
	}
	for _, name := range topics {
		t, err := l.Topic(name)
		if err != nil {
			return err
		}
		parts = append(parts, t.partitions...)
	}
	now := l.opts.now()
	var errs []error
	for _, p := range parts {
		if err := p.enforceRetention(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("retention %s-%d: %w", p.topic.name, p.id, err))
		}
	}
	return errors.Join(errs...)
}

// expiredSegments returns how many of the leading segments retention
// deletes now. REQUIRES: p.mu.
func (p *Partition) expiredSegmentsLocked(segs []*segment, now time.Time) int {
	hw, durable, start := p.hw.Load(), p.durable.Load(), p.start.Load()
	byTime := p.cfg.CleanupPolicy != CleanupCompact && p.cfg.Retention != Forever
	bySize := p.cfg.CleanupPolicy != CleanupCompact && p.cfg.RetentionBytes > 0
	var total int64
	for _, s := range segs {
		total += s.size.Load()
	}
	k := 0
	for ; k < len(segs)-1; k++ {
		s, next := segs[k], segs[k+1]
		if next.base > hw.offset || s == hw.seg || s == durable.seg || s == p.active {
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

// enforceRetention deletes the segments retention allows.
func (p *Partition) enforceRetention(ctx context.Context, now time.Time) error {
	p.mu.Lock()
	n := 0
	if p.shutErr == nil && p.failed == nil {
		n = p.expiredSegmentsLocked(*p.segments.Load(), now)
	}
	p.mu.Unlock()
	if n == 0 {
		return nil // the common case costs no lock beyond this
	}
	return p.withSyncSem(ctx, func() error {
		p.mu.Lock()
		if p.shutErr != nil {
			p.mu.Unlock()
			return p.shutErr
		}
		if p.failed != nil {
			p.mu.Unlock()
			return p.failed
		}
		segs := *p.segments.Load()
		n := p.expiredSegmentsLocked(segs, now)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		gone := segs[:n:n]
		kept := append([]*segment(nil), segs[n:]...)
		p.segments.Store(&kept)
		if kept[0].base > p.start.Load() {
			p.start.Store(kept[0].base)
		}
		p.mu.Unlock()
		// The checkpoint records the new start before the files go: a
		// crash in between leaves segments below the start, which the
		// next pass removes.
		if err := p.checkpointHeld(); err != nil {
			return err
		}
		var errs []error
		for _, s := range gone {
			for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if err := p.log.fs.Remove(filepath.Join(p.dir, segmentName(s.base, suffix))); err != nil && !isNotExist(err) {
					errs = append(errs, err)
				}
			}
			s.release() // the files close when the last reader lets go
		}
		if err := p.log.fs.SyncDir(p.dir); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// DeleteRecords makes the records below offset before unreadable by moving
// the partition's start offset up to it (Kafka's DeleteRecords, KIP-107),
// and returns the new start offset. The move is durable when DeleteRecords
// returns: the partition's checkpoint, which records the start offset, is
// written and fsynced first. Reads below the new start fail with an
// *OffsetOutOfRangeError, and consumers positioned there follow their
// AutoOffsetReset. An offset at or below the current start changes
// nothing. The space of whole segments below the start is reclaimed by
// retention.
//
// Errors: *OffsetOutOfRangeError when before is above the high watermark
// (records not yet visible cannot be deleted), ErrInvalidArgument for a
// negative offset or an internal topic, ErrClosed, *DurabilityError, the
// context's error.
func (p *Partition) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	if before < 0 {
		return 0, fmt.Errorf("%w: DeleteRecords %s-%d: offset %d is negative", ErrInvalidArgument, p.topic.name, p.id, before)
	}
	if err := p.topic.refuseWrites(); err != nil {
		return 0, err
	}
	var start int64
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
			return &OffsetOutOfRangeError{Topic: p.topic.name, Partition: p.id, Offset: before, Start: old, End: hw}
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
		return nil
	})
	return start, err
}
