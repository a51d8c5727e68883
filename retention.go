package commitlog

import (
	"context"
	"fmt"
)

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
