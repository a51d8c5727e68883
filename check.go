package commitlog

import (
	"context"
	"errors"
	"slices"
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
		errs = append(errs, p.Check(ctx))
	}
	return errors.Join(errs...)
}

// Check verifies every invariant of the partition, as Log.Check does for
// each partition, and returns nil or an error joining every problem found
// (*CorruptionError for damaged data). It reads all the partition's data;
// appends and reads go on meanwhile.
//
// Errors besides the problems: ErrClosed, the context's error.
func (p *Partition) Check(ctx context.Context) error {
	if p.log.isClosed() {
		return ErrClosed
	}
	return p.store.Check(ctx)
}
