package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
)

// Truncation removes the tail of the log: what a follower does when its
// log has diverged from its leader's (Kafka's UnifiedLog.truncateTo,
// reference §8.5.6). TruncateTo, holding the fsync semaphore and then the
// append lock for the whole cut, so that no append, fsync round,
// checkpoint, retention pass or compaction swap runs meanwhile:
//
//  1. makes everything written durable (an fsync round), so that the
//     point it cuts at lies in data that is on disk;
//  2. finds the cut, the batch boundary at or below the offset, with the
//     segment's append state there (a walk over the headers of the
//     segment holding it);
//  3. writes a checkpoint whose recovery point is the cut, flagged
//     checkpointTruncated: the commit point. A crash before it leaves the
//     log as it was; from it on, Open completes the cut (the segments
//     after the one holding the cut are removed, that one is cut at the
//     checkpoint's position) before anything else, so a crash anywhere
//     later opens the truncated log;
//  4. writes the leader epochs cut at the cut (truncateFromEnd);
//  5. removes the segments after the one holding the cut, and cuts that
//     one: in place when no reader holds it, else by writing its kept
//     part to a new file renamed over it, so that a reader mapping the
//     old file never meets its end; the offset index and time index keep
//     the entries below the cut. The files and the directory are fsynced;
//  6. publishes the truncated segment list; the written and durable ends
//     move to the cut, and the high watermark (and a Replicated log's
//     limit) down to it when above; the producers' state is rebuilt from
//     the newest snapshot at or below the cut and the batches after it
//     (Kafka's truncateAndReload), snapshots past the cut removed;
//  7. writes a checkpoint at the cut without the flag.
//
// A failure before step 3 changes nothing; a failure after it fails the
// partition (a *DurabilityError): memory and disk disagree until Open,
// which completes the cut.
//
// Readers take no lock. One bounded by a position taken before the cut
// (a high watermark or written end) returns, from the first batch at or
// above the cut on, a *TruncatedError (ErrLogTruncated), and reads the
// batches below the cut as before; it never reads bytes written after the
// cut as the batches it expected. A compaction pass running meanwhile
// notices the cut (the partition's truncation count moved) and drops its
// work at its next step, as it does when retention took its segments.

// TruncateTo removes every batch at and above offset from the log, so
// that the next append goes to offset. An offset inside a batch cuts
// before that batch: the end offset becomes the batch's base offset. When
// that batch is the one holding the log start and starts below it (the
// start moved inside it), no record is left: the log restarts empty at
// its start, as ResetTo(start) would. offset at or above the end offset
// changes nothing. It returns once the cut is durable: no
// crash after it brings a removed batch back, and a crash during it
// leaves the log as it was or as truncated. See the comment above for
// what it does and what readers see.
//
// Errors: ErrInvalidArgument for an offset below the log start offset or
// negative, nothing changed; ErrClosed
// (or why the partition was shut) and the *DurabilityError of a failed
// partition, as appends; ErrDiskFull when the commit checkpoint finds no
// space, nothing changed; a *DurabilityError when a write after the
// commit point fails; the context's error while it waits for an fsync
// round or checkpoint in progress.
func (p *PartitionLog) TruncateTo(ctx context.Context, offset int64) error {
	if err := p.refuseReadOnly("TruncateTo"); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: TruncateTo %s-%d: offset %d is negative", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, offset)
	}
	var end int64
	err := p.withSyncSem(ctx, func() error {
		p.mu.Lock()
		err := p.refuseLocked()
		var start int64
		end, start = p.written.Load().offset, p.start.Load()
		p.mu.Unlock()
		switch {
		case err != nil:
			return err
		case offset >= end:
			// No data to cut, but epochs assigned at the end (by a
			// leader that appended nothing in them) go: a follower that
			// keeps one would name it in its next fetch and diverge
			// again.
			return p.truncateEpochsAtEnd(offset)
		case offset < start:
			return fmt.Errorf("%w: TruncateTo %s-%d: offset %d is below the log start offset %d",
				ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, offset, start)
		}
		if err := p.flushHeld(); err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := p.refuseLocked(); err != nil {
			return err
		}
		end = p.written.Load().offset
		return p.truncateLocked(offset)
	})
	if now := p.EndOffset(); err == nil && now < end {
		p.cfg.Logger.Info("truncated the log", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", now, "end", end)
	}
	return err
}

// truncateEpochsAtEnd drops the epochs starting at or above offset, which
// is at or past the written end, persisting the cache first.
func (p *PartitionLog) truncateEpochsAtEnd(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.epochs.clone()
	if !next.truncateFromEnd(offset) {
		return nil
	}
	if err := writeLeaderEpochs(p.cfg.FS, p.dir, next); err != nil {
		return p.epochWriteFailedLocked("TruncateTo", err)
	}
	p.epochs, p.epochsDirty = next, false
	return nil
}

// truncateLocked is TruncateTo once everything below offset is durable.
// REQUIRES: syncSem and p.mu.
func (p *PartitionLog) truncateLocked(offset int64) error {
	segs := *p.segments.Load()
	i := max(0, segmentHolding(segs, offset))
	h := segs[i]
	cut, err := p.segmentBoundary(h, offset, true)
	if err != nil {
		return err
	}
	if start := p.start.Load(); cut.offset < start {
		// The offset lies in the batch holding the log start, which
		// starts below it (DeleteRecords inside a batch): every record
		// left is at or above the offset, so none stays, and the log
		// restarts empty at its start.
		p.cfg.Logger.Info("truncating inside the batch that holds the log start empties the log", "topic", p.cfg.Topic, "partition", p.cfg.Partition,
			"offset", offset, "batch", cut.offset, "log_start", start)
		return p.resetLocked(start)
	}
	if cut.offset >= p.written.Load().offset {
		return nil
	}
	created := h.created
	if created.IsZero() {
		created = p.cfg.Now()
	}
	cp := checkpoint{
		recoveryOffset:       cut.offset,
		segmentBase:          h.base,
		position:             cut.pos,
		maxTimestamp:         cut.maxTimestamp,
		offsetOfMaxTimestamp: cut.offsetOfMaxTimestamp,
		bytesSinceIndex:      cut.bytesSinceIndex,
		offsetEntries:        int64(cut.offsetEntries),
		timeEntries:          int64(cut.timeEntries),
		logStartOffset:       p.start.Load(),
		activeBase:           h.base,
		activeCreated:        created.UnixMilli(),
		cleanerOffset:        min(p.cleanerPoint.Load(), cut.offset),
		flags:                checkpointTruncated,
	}
	if p.cfg.SyncAlways {
		cp.flags |= checkpointRollsSynced
	}
	// The recovery point lies in h: its index entries below it must be
	// durable, as for any checkpoint (the active segment's are not
	// fsynced by the rounds).
	if err := h.syncIndexes(); err != nil {
		return p.failLocked("sync index", err)
	}
	if renamed, err := writeFileAtomic(p.cfg.FS, filepath.Join(p.dir, CheckpointName), cp.marshal()); err != nil {
		if !renamed {
			return DiskFull(fmt.Errorf("TruncateTo %s-%d: write the checkpoint: %w", p.cfg.Topic, p.cfg.Partition, err))
		}
		return p.failLocked("truncate", err)
	}
	// The commit point: from here Open completes the cut.
	if err := p.cutLocked(segs, i, cut); err != nil {
		return p.failLocked("truncate", err)
	}
	cp.flags &^= checkpointTruncated
	if err := writeCheckpoint(p.cfg.FS, p.dir, cp); err != nil {
		// Until a checkpoint without the flag is written, Open would cut
		// at the cut again, losing what was appended since.
		return p.failLocked("truncate", err)
	}
	p.checkpointed = cp
	return nil
}

// cutLocked does steps 4 to 6 of a truncation to cut, a position in
// segs[i] with its append state, committed by a checkpoint.
// REQUIRES: syncSem and p.mu.
func (p *PartitionLog) cutLocked(segs []*segment, i int, cut *Position) error {
	fs := p.cfg.FS
	next := p.epochs.clone()
	if next.truncateFromEnd(cut.offset) {
		if err := writeLeaderEpochs(fs, p.dir, next); err != nil {
			return err
		}
		p.epochs = next
	}
	for j := len(segs) - 1; j > i; j-- {
		if err := p.removeSegments([]int64{segs[j].base}); err != nil {
			return err
		}
	}
	h := segs[i]
	nh, err := p.cutSegment(h, cut)
	if err != nil {
		return err
	}
	if err := fs.SyncDir(p.dir); err != nil {
		return err
	}
	nh.created = h.created
	if nh.created.IsZero() && nh.size.Load() > 0 {
		nh.created = p.cfg.Now()
	}

	p.cuts = append(p.cuts, cut.offset)
	p.truncations.Add(1)
	w := &Position{offset: cut.offset, seg: nh, pos: cut.pos, maxTimestamp: cut.maxTimestamp,
		offsetOfMaxTimestamp: cut.offsetOfMaxTimestamp, bytesSinceIndex: cut.bytesSinceIndex,
		offsetEntries: cut.offsetEntries, timeEntries: cut.timeEntries, truncations: p.truncations.Load()}
	kept := append(slices.Clone(segs[:i]), nh)
	p.segments.Store(&kept)
	p.active = nh
	for _, s := range p.unsynced {
		s.dirty = false
	}
	p.unsynced = p.unsynced[:0]
	p.dirDirty = false
	p.written.Store(w)
	p.durable.Store(w)
	if p.cfg.Replicated {
		p.hwLimit, p.hwLimitFound = min(p.hwLimit, w.offset), false
		p.recent.reset()
		p.recent.add(w)
	}
	switch hw := p.hw.Load(); {
	case hw.offset >= w.offset:
		p.publishHW(w)
	case hw.seg == h:
		// Below the cut in the segment replaced: the same place in the
		// new one, whose bytes up to the cut are the old ones.
		moved := *hw
		moved.seg, moved.truncations = nh, w.truncations
		p.hw.Store(&moved)
	}
	if c := p.cleanerPoint.Load(); c > w.offset {
		p.cleanerPoint.Store(w.offset)
	}
	for _, s := range segs[i+1:] {
		s.release() // the partition's reference; readers keep theirs
	}
	return p.recoverProducers()
}

// cutSegment cuts h at cut and returns the segment that replaces it, the
// new active segment, durable. When no reader holds h it is closed and
// its files cut in place; otherwise its kept part is written to new files
// renamed over its own, and h, still open for its readers, keeps the old
// ones. REQUIRES: syncSem and p.mu.
func (p *PartitionLog) cutSegment(h *segment, cut *Position) (*segment, error) {
	fs := p.cfg.FS
	inPlace := h.refs.CompareAndSwap(1, 0) // no reader holds h, and none can take it now
	if inPlace {
		// Nothing reads h's mappings any more: cutting its file under
		// them is safe. They are unmapped once the new segment is
		// published (a reader that failed to take h looks again then).
		f, err := fs.OpenReadWrite(h.path)
		if err != nil {
			return nil, err
		}
		err = errors.Join(f.Truncate(cut.pos), f.Sync(), f.Close())
		if err != nil {
			return nil, err
		}
	} else {
		if err := p.copyPrefix(h, cut); err != nil {
			return nil, err
		}
	}
	nh, err := openSegment(p.sf, h.base, true)
	if err != nil {
		return nil, err
	}
	err = errors.Join(nh.offsets().truncateEntries(int(cut.offsetEntries)), nh.times().truncateEntries(int(cut.timeEntries)))
	if err == nil {
		err = errors.Join(nh.file.Sync(), nh.syncIndexes())
	}
	if err != nil {
		nh.release()
		return nil, err
	}
	nh.next.Store(cut.offset)
	nh.maxTimestamp.Store(cut.maxTimestamp)
	nh.offsetOfMaxTimestamp = cut.offsetOfMaxTimestamp
	nh.bytesSinceIndex = cut.bytesSinceIndex
	if inPlace {
		defer h.closeFiles()
	} else {
		defer h.release()
	}
	return nh, nil
}

// copyPrefix writes the part of h below cut, and the index entries below
// it, to temporary files, fsyncs them and renames them over h's files.
// h's own files stay open (and mapped) for its readers; a crash leaves
// either file under the live name, which recovery cuts at the
// checkpointed position either way, and removes the temporary ones.
func (p *PartitionLog) copyPrefix(h *segment, cut *Position) error {
	fs := p.cfg.FS
	write := func(path string, chunks func(put func([]byte) error) error) error {
		f, err := fs.Create(path + TmpSuffix)
		if err != nil {
			return err
		}
		var off int64
		err = chunks(func(b []byte) error {
			n, err := f.WriteAt(b, off)
			off += int64(n)
			return err
		})
		if err == nil {
			err = f.Sync()
		}
		if err = errors.Join(err, f.Close()); err != nil {
			return errors.Join(err, fs.Remove(path+TmpSuffix))
		}
		return fs.Rename(path+TmpSuffix, path)
	}
	var scratch []byte
	if err := write(h.path, func(put func([]byte) error) error {
		const chunk = 1 << 20
		for pos := int64(0); pos < cut.pos; pos += chunk {
			b, err := h.bytesAt(&scratch, pos, min(chunk, cut.pos-pos))
			if err != nil {
				return err
			}
			if err := put(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, x := range []struct {
		file *entryFile
		n    int
	}{{h.offsets().entryFile, int(cut.offsetEntries)}, {h.times().entryFile, int(cut.timeEntries)}} {
		if err := write(x.file.path, func(put func([]byte) error) error {
			for k := range x.n {
				if err := put(x.file.entry(k)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// truncatedSince returns the lowest offset the log was cut at by the
// truncations after the first n (math.MaxInt64 when none). REQUIRES: p.mu.
func (p *PartitionLog) truncatedSinceLocked(n int64) int64 {
	low := int64(1<<63 - 1)
	for _, c := range p.cuts[min(int(n), len(p.cuts)):] {
		low = min(low, c)
	}
	return low
}

// completeTruncation finishes, on Open, a truncation that passed its
// commit point (cp has checkpointTruncated, see the comment at the top of
// this file): the segments after cp.segmentBase are removed, newest
// first, and that one is cut at cp.position; the leader epochs are cut
// there too, and the checkpoint is written again without the flag. bases
// is the ascending list of segment bases; what is left of it is returned.
// A failure to write the checkpoint (no space) fails Open, the cut done
// and the flag kept, so the next Open completes it again.
func (p *PartitionLog) completeTruncation(cp checkpoint, bases []int64) ([]int64, error) {
	fs := p.cfg.FS
	k := sort.Search(len(bases), func(i int) bool { return bases[i] > cp.segmentBase })
	for j := len(bases) - 1; j >= k; j-- {
		if err := p.removeSegments(bases[j : j+1]); err != nil {
			return bases, err
		}
	}
	removed := len(bases) - k
	bases = bases[:k]
	path := filepath.Join(p.dir, SegmentName(cp.segmentBase, LogSuffix))
	cutBytes := int64(0)
	if f, err := fs.OpenReadWrite(path); err == nil {
		size, err := f.Size()
		if err == nil && size > cp.position {
			cutBytes = size - cp.position
			err = errors.Join(f.Truncate(cp.position), f.Sync())
		}
		if err = errors.Join(err, f.Close()); err != nil {
			return bases, err
		}
	} else if !isNotExist(err) {
		return bases, err
	}
	if err := fs.SyncDir(p.dir); err != nil {
		return bases, err
	}
	// Step 4 may not have run: cut the leader epochs too (a damaged file
	// is left to recoverEpochs, which rebuilds it from the cut log).
	if c, err := readLeaderEpochs(fs, p.dir); err == nil && c.truncateFromEnd(cp.recoveryOffset) {
		if err := writeLeaderEpochs(fs, p.dir, c); err != nil {
			return bases, err
		}
	}
	// The flag goes now, not with the checkpoint Open ends with, which is
	// skipped when it finds no space: a flag left behind would have the
	// next Open cut here again, taking what was appended meanwhile.
	cp.flags &^= checkpointTruncated
	if err := writeCheckpoint(fs, p.dir, cp); err != nil {
		return bases, fmt.Errorf("complete the truncation of %s-%d interrupted by a crash: write the checkpoint: %w", p.cfg.Topic, p.cfg.Partition, err)
	}
	p.openCut = true
	p.recovery.Completed++
	p.recovery.SegmentsRemoved += removed
	p.recovery.BytesCut += cutBytes
	p.cfg.Logger.Info("completed a truncation interrupted by a crash", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "offset", cp.recoveryOffset,
		"segments_removed", removed, "bytes_cut", cutBytes)
	return bases, nil
}
