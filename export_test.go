package commitlog

import (
	"context"
	"time"

	"github.com/commitlog-go/commitlog/internal/group"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// closeTopicsWithoutSync releases every partition's files without the
// flush and checkpoint of Close, as if the process stopped (benchmarks).
func (l *Log) closeTopicsWithoutSync() {
	for _, t := range l.topics {
		for _, p := range t.local() {
			p.shut(ErrClosed)
		}
	}
}

// checkpoint is the content of a partition's checkpoint file.
type checkpoint = storage.CheckpointInfo

// checkpointSnapshot returns the last checkpoint written (tests).
func (p *Partition) checkpointSnapshot() checkpoint { return p.store.LastCheckpoint() }

// checkpoint flushes and records the durable end as the recovery point,
// as the scheduler does (tests).
func (p *Partition) checkpoint(ctx context.Context) error { return p.store.Checkpoint(ctx) }

// flush makes everything written so far durable (tests).
func (p *Partition) flush(ctx context.Context) error { return p.store.Flush(ctx) }

// rollIfAged rolls the active segment if it has reached SegmentAge, as the
// idle timer does (tests).
func (p *Partition) rollIfAged(now time.Time) error { return p.store.RollIfAged(now) }

// rollIdle rolls the active segment and moves the written end to the new
// one, as retention and the idle timer do (tests).
func (p *Partition) rollIdle() error { return p.store.RollIdle() }

// roll seals the active segment and starts a new one at the end offset
// (tests).
func (p *Partition) roll() error { return p.store.Roll() }

// segments describes the partition's segments, ascending by base (tests).
func (p *Partition) segments() []storage.SegmentInfo { return p.store.Segments() }

// activeSegment describes the segment appends go to (tests).
func (p *Partition) activeSegment() storage.SegmentInfo { return p.store.ActiveSegment() }

// durableSegment describes the segment the durable end is in (tests).
func (p *Partition) durableSegment() storage.SegmentInfo { return p.store.DurableSegment() }

// waitDeletions waits until the deleter has removed every segment queued
// so far (tests).
func (l *Log) waitDeletions() {
	l.delMu.Lock()
	defer l.delMu.Unlock()
	for l.delPending > 0 {
		l.delIdle.Wait()
	}
}

// target returns m's target assignment, sorted (tests).
func (gc *coordinator) target(m *group.Member) []TopicPartition {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return topicPartitions(gc.state.Target(m))
}
