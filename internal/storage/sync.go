package storage

import (
	"context"
	"fmt"
	"runtime"
)

// SyncTo returns once everything below offset target is fsynced, running
// fsync rounds as needed (group commit). One appender at a time leads a
// round; the others wait for it to end, all released at once, and those
// it did not cover lead or join the next. A target past the end offset,
// which a truncation (TruncateTo, ResetTo) made it, is a *TruncatedError.
func (p *PartitionLog) SyncTo(ctx context.Context, target int64) error {
	return p.syncTo(ctx, target, -1)
}

// syncTo is SyncTo for records below target appended when the partition
// had made truncations truncations (-1: unknown): a truncation since that
// cut below target fails it with a *TruncatedError, even once the end
// offset passes target again.
func (p *PartitionLog) syncTo(ctx context.Context, target, truncations int64) error {
	p.inSync.Add(1)
	defer p.inSync.Add(-1)
	for {
		if n := p.truncations.Load(); truncations >= 0 && n != truncations {
			p.mu.Lock()
			cut := p.truncatedSinceLocked(truncations)
			p.mu.Unlock()
			if cut < target {
				return &TruncatedError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Offset: target - 1, End: cut}
			}
			truncations = n // those cuts spared them
		}
		if p.durable.Load().offset >= target {
			return nil
		}
		if end := p.written.Load().offset; end < target {
			return &TruncatedError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Offset: target - 1, End: end}
		}
		p.roundMu.Lock()
		if running := p.roundDone; running != nil {
			p.roundMu.Unlock()
			select {
			case <-running:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		p.roundDone = done
		p.roundMu.Unlock()
		err := p.leadRound(ctx, target)
		p.roundMu.Lock()
		p.roundDone = nil
		p.roundMu.Unlock()
		close(done)
		if err != nil {
			return err
		}
	}
}

// leadRoundYields bounds how often a round's leader yields to let
// appenders in before it fsyncs.
const leadRoundYields = 8

// leadRound runs one fsync round for syncTo, unless a checkpoint or flush
// holding syncSem has already made target durable.
func (p *PartitionLog) leadRound(ctx context.Context, target int64) error {
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer p.releaseSync()
	if p.durable.Load().offset >= target {
		return nil
	}
	// The appenders the last round released are runnable, about to append
	// and wait again. Yield until they have appended (the written end stops
	// moving), so that this round covers them rather than leaving them to
	// the next: measured with 64 appenders on 2 CPUs, 59 instead of 33
	// batches per round, and 194,000 instead of 113,000 appends/s.
	//
	// A lone appender does not yield: with nothing else to run, the
	// runtime may still hand it to another thread, which cost a lone
	// durable append 7% (10 µs of 140) against a bare fdatasync. The
	// appenders the last round released are still counted in inSync until
	// they run, so the leader that needs to wait for them sees them.
	if p.inSync.Load() == 1 {
		return p.flushHeld()
	}
	w := p.written.Load()
	for range leadRoundYields {
		runtime.Gosched()
		next := p.written.Load()
		if next == w {
			break
		}
		w = next
	}
	return p.flushHeld()
}

// flushHeld runs one fsync round: it makes everything written so far
// durable — data of every segment written since the last round, index
// files of segments sealed since then, and the directory if files were
// created — then publishes the new durable end. REQUIRES: syncSem held.
func (p *PartitionLog) flushHeld() error {
	p.mu.Lock()
	if p.failed != nil || p.released {
		err := p.failed
		if err == nil {
			err = p.shutErr // an append that lost the race with Close or DeleteTopic
		}
		p.mu.Unlock()
		return err
	}
	w := p.written.Load()
	// Everything below w is written before this round fsyncs: the batches
	// staged since the last round go in one write (see segment.stage).
	if err := p.active.writeStaged(); err != nil {
		err = p.failLocked("write", err)
		p.mu.Unlock()
		return err
	}
	items := p.syncing[:0]
	for _, s := range p.unsynced {
		items = append(items, syncItem{seg: s, indexes: s.sealed})
		s.dirty = false
	}
	p.unsynced = p.unsynced[:0]
	dir := p.dirDirty
	p.dirDirty = false
	p.mu.Unlock()
	p.syncing = items

	if len(items) == 0 && !dir {
		if w.offset > p.durable.Load().offset {
			p.publishDurable(w)
		}
		return nil
	}
	start := p.cfg.Now()
	files, err := p.syncItems(items, dir)
	clear(items)
	d := p.cfg.Now().Sub(start)
	if p.cfg.SyncLatency != nil {
		p.cfg.SyncLatency.Observe(d)
	}
	if err != nil {
		p.noteSync(SyncEvent{Duration: d, Files: files, DurableOffset: p.durable.Load().offset, Err: err})
		return err
	}
	if w.offset > p.durable.Load().offset || len(items) > 0 {
		p.publishDurable(w)
	}
	p.noteSync(SyncEvent{Duration: d, Files: files, DurableOffset: p.durable.Load().offset})
	return nil
}

// syncItems fsyncs the files of one round, and the directory if dir, and
// returns how many fsyncs it ran. A failure fails the partition.
// REQUIRES: syncSem.
func (p *PartitionLog) syncItems(items []syncItem, dir bool) (int, error) {
	files := 0
	for _, it := range items {
		files++
		if err := it.seg.file.Sync(); err != nil {
			return files, p.fail("sync", err)
		}
		if it.indexes {
			files += 2
			if err := it.seg.syncIndexes(); err != nil {
				return files, p.fail("sync index", err)
			}
		}
	}
	if dir {
		files++
		if err := p.cfg.FS.SyncDir(p.dir); err != nil {
			return files, p.fail("sync directory", err)
		}
	}
	return files, nil
}

// publishDurable moves the durable end to w, after an fsync round made
// everything below it durable, and with it, under SyncAlways, the high
// watermark. REQUIRES: syncSem.
func (p *PartitionLog) publishDurable(w *Position) {
	p.durable.Store(w)
	if p.cfg.SyncAlways && p.cfg.Replicated {
		// Replication's limit is under the append lock.
		p.mu.Lock()
		p.followLimitLocked(w)
		p.mu.Unlock()
	} else if p.cfg.SyncAlways && p.publishHW(w) {
		// The readers just woken are queued to run next on this
		// goroutine's P, and this goroutine is about to return to
		// an appender that, busy, goes straight into its next write
		// and fsync: the runtime hands the P over only after such a
		// syscall has blocked for ~20 µs. Yielding once per fsync
		// round lets them read now (measured: 50-90 µs less
		// produce-to-consume latency under SyncAlways).
		runtime.Gosched()
	}
}

// withSyncSem runs fn holding syncSem, or returns the context's error if
// it ends first (or has ended: nothing is done then).
func (p *PartitionLog) withSyncSem(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer p.releaseSync()
	return fn()
}

// withSyncSemKeeping is withSyncSem for a caller holding a lock of its
// own (compaction's cleanMu): the fsync rounds fn runs are appended to
// kept, for the caller to report to Events.Sync once it has released
// that lock, instead of being reported as syncSem is released.
func (p *PartitionLog) withSyncSemKeeping(ctx context.Context, kept *[]SyncEvent, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() {
		*kept = append(*kept, p.heldSyncs.evs[:p.heldSyncs.n]...)
		p.heldSyncs.n = 0
		<-p.syncSem
	}()
	return fn()
}

// flush makes everything written so far durable.
func (p *PartitionLog) Flush(ctx context.Context) error {
	if err := p.refuseReadOnly("Flush"); err != nil {
		return err
	}
	return p.withSyncSem(ctx, p.flushHeld)
}

// checkpoint flushes and records the durable end as the recovery point, if
// it moved since the last checkpoint. The index files of the active segment
// are fsynced first, so that recovery can trust entries below the point.
func (p *PartitionLog) Checkpoint(ctx context.Context) error {
	if err := p.refuseReadOnly("Checkpoint"); err != nil {
		return err
	}
	return p.withSyncSem(ctx, p.checkpointHeld)
}

// checkpointHeld is checkpoint for a caller holding syncSem.
func (p *PartitionLog) checkpointHeld() error {
	producers := p.captureProducers()
	if err := p.flushHeld(); err != nil {
		return err
	}
	d := p.durable.Load()
	cp := checkpoint{
		recoveryOffset:       d.offset,
		segmentBase:          d.seg.base,
		position:             d.pos,
		maxTimestamp:         d.maxTimestamp,
		offsetOfMaxTimestamp: d.offsetOfMaxTimestamp,
		bytesSinceIndex:      d.bytesSinceIndex,
		offsetEntries:        int64(d.offsetEntries),
		timeEntries:          int64(d.timeEntries),
		logStartOffset:       p.start.Load(),
		activeCreated:        -1,
		cleanerOffset:        p.cleanerPoint.Load(),
	}
	if p.cfg.SyncAlways {
		cp.flags = checkpointRollsSynced // see rollLocked
	}
	p.mu.Lock()
	cp.activeBase = p.active.base
	if !p.active.created.IsZero() {
		cp.activeCreated = p.active.created.UnixMilli()
	}
	epochsDirty := p.epochsDirty
	p.mu.Unlock()
	if cp == p.checkpointed && p.snapThrough >= 0 && !epochsDirty {
		return nil
	}
	if err := d.seg.syncIndexes(); err != nil {
		return p.fail("sync index", err)
	}
	if err := p.persistProducers(producers); err != nil {
		// Like a checkpoint, a snapshot only shortens the next Open: the
		// previous one stays valid.
		return fmt.Errorf("producer state snapshot %s-%d: %w", p.cfg.Topic, p.cfg.Partition, err)
	}
	if err := writeCheckpoint(p.cfg.FS, p.dir, cp); err != nil {
		// A checkpoint is an optimisation: failing to write one leaves the
		// previous one, which is still true. The data is unaffected.
		return fmt.Errorf("checkpoint %s-%d: %w", p.cfg.Topic, p.cfg.Partition, err)
	}
	p.checkpointed = cp
	p.persistEpochTrim(cp.logStartOffset)
	return nil
}
