package commitlog

import (
	"context"
	"errors"
	"fmt"
)

// EnforceRetention runs a retention pass over every partition of the
// named topics (none named: every topic), as the Log's scheduler does on
// each checkpoint tick, and returns once the new start offsets are
// durable; the files of deleted segments are removed in the background.
//
// Errors: ErrUnknownTopic, ErrClosed, the context's error, or a
// file-system error (joined, one per partition).
func (l *Log) EnforceRetention(ctx context.Context, topics ...string) error {
	if err := l.refuseReadOnly("EnforceRetention"); err != nil {
		return err
	}
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
		parts = append(parts, t.local()...)
	}
	now := l.opts.now()
	var errs []error
	for _, p := range parts {
		if err := p.store.EnforceRetention(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("retention %s-%d: %w", p.topic.name, p.id, err))
		}
	}
	return errors.Join(errs...)
}

// deleteLater hands the removal of segments retention took out of a
// partition (storage.Config.Discard) to the Log's deleter. Removing files
// is the slow part of retention (about 100 µs per file on ext4 here: 300
// ms for 1,000 segments), and nothing waits for it: the new start is
// durable already, readers of the segments keep them open, and Open
// removes any left by a crash. After Close, it runs inline.
func (l *Log) deleteLater(remove func()) {
	l.delMu.Lock()
	if !l.delClosed {
		l.delQueue = append(l.delQueue, remove)
		l.delPending++
		l.delMu.Unlock()
		select {
		case l.delWake <- struct{}{}:
		default:
		}
		return
	}
	l.delMu.Unlock()
	remove()
}

// runDeleter is the Log's goroutine removing deleted segments' files. On
// Close it finishes the queue.
func (l *Log) runDeleter() {
	for {
		l.delMu.Lock()
		queue := l.delQueue
		l.delQueue = nil
		if len(queue) == 0 && l.ctx.Err() != nil {
			l.delClosed = true
		}
		closed := l.delClosed
		l.delMu.Unlock()
		for _, remove := range queue {
			remove()
		}
		l.delMu.Lock()
		if l.delPending -= len(queue); l.delPending == 0 {
			l.delIdle.Broadcast()
		}
		l.delMu.Unlock()
		if closed {
			return
		}
		if len(queue) == 0 {
			select {
			case <-l.delWake:
			case <-l.ctx.Done():
			}
		}
	}
}

// DeleteRecords makes the records below offset before unreadable by moving
// the partition's start offset up to it (Kafka's DeleteRecords, KIP-107),
// and returns the new start offset. The move is durable when DeleteRecords
// returns: the partition's checkpoint, which records the start offset, is
// written and fsynced first. Reads below the new start fail with an
// *OffsetOutOfRangeError, and consumers positioned there follow their
// AutoOffsetReset. An offset at or below the current start changes
// nothing. The space of whole segments below the start is reclaimed by
// retention. On a replicated partition, call it on the leader: the
// followers take the leader's start with their next fetches (up to their
// own high watermarks), and one whose log ends below it restarts its log
// there (see the package documentation's Replication).
//
// Errors: *OffsetOutOfRangeError when before is above the high watermark
// (records not yet visible cannot be deleted), ErrInvalidArgument for a
// negative offset or an internal topic, a *NotLeaderError (ErrNotLeader)
// on a replica that does not lead, ErrClosed, *DurabilityError, the
// context's error.
func (p *Partition) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	if before >= 0 {
		if err := p.topic.refuseWrites(); err != nil {
			return 0, err
		}
		if p.repl != nil {
			if err := p.repl.refuseUnlessLeader(); err != nil {
				return 0, err
			}
		}
	}
	return p.store.DeleteRecords(ctx, before)
}
