package commitlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// Compaction scheduling: the Log's cleaner and Log.Compact. The pass
// itself, its rewriting and its crash-safe swap are the storage engine's
// (internal/storage).

// Compact compacts every partition of the named topics (none named: every
// topic with a compacting CleanupPolicy) and returns once the compacted
// segments are in place. Unlike the Log's cleaner, which compacts a
// partition only once its dirty ratio exceeds MinCleanableDirtyRatio or
// MaxCompactionLag has passed, Compact compacts whatever is cleanable;
// MinCompactionLag and the active segment are respected all the same.
//
// Errors: ErrUnknownTopic, ErrInvalidArgument for a named topic whose
// CleanupPolicy does not compact, ErrClosed, the context's error, or a
// file-system error (joined, one per partition).
func (l *Log) Compact(ctx context.Context, topics ...string) error {
	if err := l.refuseReadOnly("Compact"); err != nil {
		return err
	}
	var parts []*Partition
	if len(topics) == 0 {
		if l.isClosed() {
			return ErrClosed
		}
		for _, p := range l.allPartitions() {
			if p.cfg.CleanupPolicy.compacted() {
				parts = append(parts, p)
			}
		}
	}
	for _, name := range topics {
		t, err := l.Topic(name)
		if err != nil {
			return err
		}
		if !t.cfg.CleanupPolicy.compacted() {
			return fmt.Errorf("%w: Compact: topic %q has cleanup policy %s; only %s and %s topics are compacted",
				ErrInvalidArgument, name, t.cfg.CleanupPolicy, CleanupCompact, CleanupCompactDelete)
		}
		parts = append(parts, t.local()...)
	}
	var errs []error
	for _, p := range parts {
		if err := p.store.Compact(ctx, l.opts.now()); err != nil {
			errs = append(errs, fmt.Errorf("compact %s-%d: %w", p.topic.name, p.id, err))
		}
	}
	return errors.Join(errs...)
}

// runCleaner is the Log's goroutine compacting, after each checkpoint
// tick, every partition whose compaction is due (compactionDue), the
// dirtiest first. Close stops it: a pass in progress stops at its next
// batch.
func (l *Log) runCleaner() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.cleanWake:
		}
		now := l.opts.now()
		type due struct {
			p     *Partition
			ratio float64
		}
		var work []due
		for _, p := range l.allPartitions() {
			if !p.cfg.CleanupPolicy.compacted() {
				continue
			}
			if ok, ratio := p.store.CompactionDue(now); ok {
				work = append(work, due{p, ratio})
			}
		}
		slices.SortStableFunc(work, func(a, b due) int { return cmp.Compare(b.ratio, a.ratio) })
		for _, w := range work {
			err := w.p.store.Compact(l.ctx, now)
			if err != nil && l.ctx.Err() == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, storage.ErrSwapStale) {
				l.opts.Logger.Warn("compaction failed", "topic", w.p.topic.name, "partition", w.p.id, "err", err)
			}
		}
	}
}

// appendedEnds returns the sum of the end offsets of every partition: it
// changes whenever anything is appended.
func (l *Log) appendedEnds() int64 {
	var sum int64
	for _, p := range l.allPartitions() {
		sum += p.EndOffset()
	}
	return sum
}
