package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// Resetting restarts the log empty at an offset: what a follower does
// when its leader's log starts past everything it holds, because
// retention or DeleteRecords on the leader removed what it lacks (Kafka's
// UnifiedLog.truncateFullyAndStartAt). ResetTo, holding the fsync
// semaphore and then the append lock for the whole reset, so that no
// append, fsync round, checkpoint, retention pass or compaction swap runs
// meanwhile:
//
//  1. makes everything written durable (an fsync round), so that a crash
//     before the commit point opens the log exactly as it was;
//  2. writes a checkpoint flagged checkpointReset whose recovery point,
//     segment, active segment, log start offset and cleaner point are
//     all the offset, at byte 0: the commit point. A crash before it
//     leaves the log as it was; from it on, Open completes the reset
//     (completeReset) before anything else, so a crash anywhere later
//     opens the reset log;
//  3. writes the leader epochs' file empty;
//  4. removes every segment's files and every producer state snapshot in
//     the directory (a reader holding a segment keeps its open files and
//     mappings), and fsyncs the directory;
//  5. creates the new, empty active segment at the offset, and fsyncs the
//     directory;
//  6. publishes the new segment list; the log start offset, the written
//     and durable ends, the high watermark (and a Replicated log's limit)
//     and the cleaner point move to the offset, and the producers' state
//     is emptied; the reset counts as a truncation cutting the log at
//     its first offset (the first segment's base, or the offset when
//     lower), which readers and waiting appenders notice;
//  7. writes the checkpoint again without the flag.
//
// A failure before step 2 changes nothing; a failure after it fails the
// partition (a *DurabilityError): memory and disk disagree until Open,
// which completes the reset. Completing it is the same removal (every
// segment file and snapshot), the empty epochs file, and the checkpoint
// without the flag; the log then opens empty at the offset. A flagged
// checkpoint never names a segment holding batches: nothing is appended
// before step 7 has written the checkpoint without the flag.
//
// Readers take no lock. One bounded by a position taken before the reset
// returns a *TruncatedError (ErrLogTruncated) in place of its next batch,
// wherever it is, since every batch it could read is gone: it never reads
// a batch of the new log as one it expected. Its End is where the log was
// cut, at or below the new log's start; reading again from there meets
// the new log (or its start, an *OffsetOutOfRangeError). An append
// waiting for its fsync returns the same error. A compaction pass running
// meanwhile notices the truncation and drops its work, as for TruncateTo.

// ResetTo removes every batch from the log and restarts it empty at
// offset, as a follower does whose leader's log starts past its end
// (Kafka's truncateFullyAndStartAt): the log start offset, the end offset
// (written and durable), the high watermark (on a Replicated log the
// limit SetHighWatermark gave too) and the cleaner point become offset;
// the leader epochs are emptied (their file rewritten), the producers'
// idempotence state is cleared (its snapshots removed), and the segments
// are replaced by one empty active segment based at offset, where the
// next append goes. It returns once the reset is durable: no crash after
// it brings a removed batch back, and a crash during it opens the log as
// it was or as reset, never a mix. See the comment above for what it does
// and what readers see.
//
// offset must be at or above the end offset: to cut below it, use
// TruncateTo. A log that holds no records (its start offset equals its
// end offset) may restart at any offset, below its start too: a follower
// whose leader's log starts inside a batch fetches the whole batch, and
// restarts its empty log at the batch's base offset to append it
// verbatim. Restarting below the start gives out again offsets the log
// gave out before: only replication, whose leader's log says what they
// hold, should.
//
// Errors: ErrInvalidArgument for a negative offset, or one below the end
// offset of a log holding records, nothing changed; ErrClosed (or why the
// partition was shut) and the *DurabilityError of a failed partition, as
// appends; ErrDiskFull when the commit checkpoint finds no space, nothing
// changed; a *DurabilityError when a write after the commit point fails;
// the context's error while it waits for an fsync round or checkpoint in
// progress.
func (p *PartitionLog) ResetTo(ctx context.Context, offset int64) error {
	if err := p.refuseReadOnly("ResetTo"); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: ResetTo %s-%d: offset %d is negative", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, offset)
	}
	return p.withSyncSem(ctx, func() error {
		p.mu.Lock()
		err := p.resetAllowedLocked(offset)
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if err := p.flushHeld(); err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		// An append may have come between the round and the lock.
		if err := p.resetAllowedLocked(offset); err != nil {
			return err
		}
		return p.resetLocked(offset)
	})
}

// resetAllowedLocked returns why the log cannot be reset at offset now,
// or nil. REQUIRES: p.mu.
func (p *PartitionLog) resetAllowedLocked(offset int64) error {
	if err := p.refuseLocked(); err != nil {
		return err
	}
	if end, start := p.written.Load().offset, p.start.Load(); offset < end && start != end {
		return fmt.Errorf("%w: ResetTo %s-%d: offset %d is below the end offset %d of a log holding records from %d; TruncateTo cuts below the end",
			ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, offset, end, start)
	}
	return nil
}

// resetCheckpoint returns the checkpoint of a log reset at offset,
// flagged checkpointReset: the commit point of ResetTo.
func resetCheckpoint(offset int64, syncAlways bool) checkpoint {
	cp := checkpoint{
		recoveryOffset:       offset,
		segmentBase:          offset,
		maxTimestamp:         -1,
		offsetOfMaxTimestamp: -1,
		logStartOffset:       offset,
		activeBase:           offset,
		activeCreated:        -1,
		cleanerOffset:        offset,
		flags:                checkpointReset,
	}
	if syncAlways {
		cp.flags |= checkpointRollsSynced
	}
	return cp
}

// resetLocked is ResetTo once everything written is durable, and
// TruncateTo's when it cuts inside the batch holding the log start.
// REQUIRES: syncSem and p.mu.
func (p *PartitionLog) resetLocked(offset int64) error {
	fs := p.cfg.FS
	cp := resetCheckpoint(offset, p.cfg.SyncAlways)
	if renamed, err := writeFileAtomic(fs, filepath.Join(p.dir, CheckpointName), cp.marshal()); err != nil {
		if !renamed {
			return DiskFull(fmt.Errorf("ResetTo %s-%d: write the checkpoint: %w", p.cfg.Topic, p.cfg.Partition, err))
		}
		return p.failLocked("reset", err)
	}
	// The commit point: from here Open completes the reset.
	empty := &leaderEpochs{}
	if err := writeLeaderEpochs(fs, p.dir, empty); err != nil {
		return p.failLocked("reset", err)
	}
	p.epochs, p.epochsDirty = empty, false
	// Removing the files and creating the new segment excludes the
	// removal of segments retention deleted earlier: one may have the
	// new segment's base (see removeDeletedSegments).
	p.discardMu.Lock()
	ns, err := p.replaceSegmentFiles(offset)
	if err != nil {
		p.discardMu.Unlock()
		return p.failLocked("reset", err)
	}
	p.publishResetLocked(ns, offset)
	p.discardMu.Unlock()
	cp.flags &^= checkpointReset
	if err := writeCheckpoint(fs, p.dir, cp); err != nil {
		// Until a checkpoint without the flag is written, Open would
		// reset the log again, losing what was appended since.
		return p.failLocked("reset", err)
	}
	p.checkpointed = cp
	return nil
}

// replaceSegmentFiles removes every segment file and producer snapshot in
// the directory and creates the new, empty segment at base, durably.
// REQUIRES: syncSem, p.mu and p.discardMu.
func (p *PartitionLog) replaceSegmentFiles(base int64) (*segment, error) {
	fs := p.cfg.FS
	if _, err := p.removeLogFiles(); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(p.dir); err != nil {
		return nil, err
	}
	ns, err := createSegment(p.sf, base)
	if err != nil {
		p.removeSegmentFiles(base)
		return nil, err
	}
	if err := errors.Join(ns.file.Sync(), ns.syncIndexes(), fs.SyncDir(p.dir)); err != nil {
		ns.release()
		return nil, err
	}
	return ns, nil
}

// publishResetLocked makes ns, empty at offset, the log's only segment,
// moves every offset to offset and empties the producers' state. The old
// segments lose the partition's reference (readers keep theirs). REQUIRES:
// syncSem and p.mu.
func (p *PartitionLog) publishResetLocked(ns *segment, offset int64) {
	old := *p.segments.Load()
	// Readers bounded from before the reset fail at their next batch:
	// every batch they could read lies at or above the cut.
	p.cuts = append(p.cuts, min(old[0].base, p.start.Load(), offset))
	p.truncations.Add(1)
	w := &Position{offset: offset, seg: ns, maxTimestamp: -1, offsetOfMaxTimestamp: -1, truncations: p.truncations.Load()}
	// The segment list first: a reader that loads the new high watermark
	// must find the new segment.
	segs := []*segment{ns}
	p.segments.Store(&segs)
	p.active = ns
	for _, s := range p.unsynced {
		s.dirty = false
	}
	p.unsynced = p.unsynced[:0]
	p.dirDirty = false
	if p.cfg.Replicated {
		p.hwLimit, p.hwLimitFound = offset, false
		p.recent.reset()
		p.recent.add(w)
	}
	// Each offset moves so that a reader loading them one at a time finds
	// StartOffset <= HighWatermark <= EndOffset.
	if offset < p.start.Load() {
		p.start.Store(offset)
		p.publishHW(w)
		p.durable.Store(w)
		p.written.Store(w)
	} else {
		p.written.Store(w)
		p.durable.Store(w)
		p.publishHW(w)
		p.start.Store(offset)
	}
	p.cleanerPoint.Store(offset)
	p.producers = newProducerStates()
	p.snapThrough, p.snapChanges = -1, 0
	for _, s := range old {
		s.release() // the partition's reference; readers keep theirs
	}
}

// removeLogFiles removes every segment file (data and indexes) and every
// producer state snapshot in the directory, and returns how many segment
// data files it removed. The directory is not fsynced.
func (p *PartitionLog) removeLogFiles() (int, error) {
	fs := p.cfg.FS
	names, err := fs.List(p.dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, n := range names {
		_, isLog := ParseSegmentName(n, LogSuffix)
		_, isIndex := ParseSegmentName(n, IndexSuffix)
		_, isTimes := ParseSegmentName(n, TimeIndexSuffix)
		_, isSnapshot := ParseSnapshotFileName(n)
		if !isLog && !isIndex && !isTimes && !isSnapshot {
			continue
		}
		if err := fs.Remove(filepath.Join(p.dir, n)); err != nil && !isNotExist(err) {
			return removed, err
		}
		if isLog {
			removed++
		}
	}
	return removed, nil
}

// completeReset finishes, on Open, a reset that passed its commit point
// (cp has checkpointReset, see the comment at the top of this file):
// every segment file and producer snapshot is removed, the leader epochs'
// file written empty and the checkpoint written without the flag, which
// it returns. The log then holds no segment: Open creates the empty one
// at cp.logStartOffset.
func (p *PartitionLog) completeReset(cp checkpoint) (checkpoint, error) {
	fs := p.cfg.FS
	removed, err := p.removeLogFiles()
	if err != nil {
		return cp, err
	}
	if err := fs.SyncDir(p.dir); err != nil {
		return cp, err
	}
	if err := writeLeaderEpochs(fs, p.dir, &leaderEpochs{}); err != nil {
		return cp, err
	}
	cp.flags &^= checkpointReset
	// Written now, not by the checkpoint Open ends with, which may be
	// skipped for lack of space: a flag left behind would reset the log
	// again at the next Open, after appends.
	if err := writeCheckpoint(fs, p.dir, cp); err != nil {
		return cp, err
	}
	p.recovery.Completed++
	p.recovery.SegmentsRemoved += removed
	p.cfg.Logger.Info("completed a reset interrupted by a crash: the log restarts empty", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", cp.logStartOffset,
		"segments_removed", removed)
	return cp, nil
}
