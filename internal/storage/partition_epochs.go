package storage

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// A partition's leader epochs (leader_epochs.go) as the partition keeps
// them: the cache lives in memory under the append lock and in the file
// leader-epoch-checkpoint, which is replaced and fsynced before any change
// is acted on, so that no batch reaches the disk with an epoch its file
// does not know:
//
//   - an append whose epoch is not the latest (the first append of a
//     partition, with epoch 0; a new leader's first batch; a follower's
//     batch of a newer leader) records it at the batch's base offset
//     before the batch is written;
//   - AssignLeaderEpoch records a new leader's epoch at the end offset;
//   - TruncateTo cuts the epochs that start at or above its offset;
//   - ResetTo empties the cache (after its commit point: see reset.go).
//
// Moving the log start offset (retention, DeleteRecords) trims the epochs
// below it only once the checkpoint recording the new start is written,
// and the file with them (an entry below the start is harmless: every
// reader of the cache trims it, and Open does too).
//
// Open rebuilds the cache (recoverEpochs): the file, cut to the log's end,
// is checked against the headers of the batches recovery scanned and
// extended with their epochs. A file that is missing while the log holds
// batches (a directory written before the file existed), damaged, or
// disagreeing with those batches is rebuilt from the headers of every
// batch, logged, and written again: like the indexes it is derived data,
// never a reason to refuse to open.

// AssignLeaderEpoch records that leader epoch epoch starts at the end
// offset, as a new leader does before it appends (Kafka's makeLeader),
// and returns once the epoch cache's file holds it. The latest epoch
// again is a no-op. An epoch older than LatestEpoch is an *EpochError, a
// negative one ErrInvalidArgument; both change nothing. It fails like an
// append on a closed or failed partition, and with ErrDiskFull (nothing
// changed) or a *DurabilityError (the partition failed) when the file
// cannot be written.
func (p *PartitionLog) AssignLeaderEpoch(epoch int32) error {
	if err := p.refuseReadOnly("AssignLeaderEpoch"); err != nil {
		return err
	}
	if epoch < 0 {
		return fmt.Errorf("%w: AssignLeaderEpoch on %s-%d: epoch %d is negative", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, epoch)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.refuseLocked(); err != nil {
		return err
	}
	switch latest := p.epochs.latest(); {
	case epoch == latest:
		return nil
	case epoch < latest:
		return &EpochError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Op: "AssignLeaderEpoch", Epoch: epoch, Latest: latest}
	}
	return p.recordEpochLocked("AssignLeaderEpoch", epoch, p.written.Load().offset)
}

// LatestEpoch returns the latest leader epoch the partition knows, or
// NoEpoch when it knows none (a partition never appended to).
func (p *PartitionLog) LatestEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epochs.latest()
}

// EpochBefore returns the leader epoch of the record just below offset
// (the latest epoch starting below it), or NoEpoch when no epoch does:
// the epoch of the last record a consumer at position offset read, as
// Kafka's committed offsets and fetch positions carry it (KIP-320).
func (p *PartitionLog) EpochBefore(offset int64) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epochs.epochBefore(offset)
}

// EpochStartOffset returns the offset at which leader epoch epoch starts
// (the log start offset for the epoch holding it), or -1 when the
// partition does not know the epoch.
func (p *PartitionLog) EpochStartOffset(epoch int32) int64 {
	return p.epochView().startOf(epoch)
}

// EndOffsetForEpoch answers a follower whose latest epoch is requested
// (Kafka's OffsetsForLeaderEpoch, KIP-101 and KIP-279): the largest epoch
// at or below requested that the partition knows, and the offset where
// the epoch after it starts, or the end offset when requested is the
// latest epoch. It returns NoEpoch, NoEpoch when requested is older than
// every epoch known (or NoEpoch, or newer than the latest).
func (p *PartitionLog) EndOffsetForEpoch(requested int32) (int32, int64) {
	p.mu.Lock()
	c := p.epochs.clone()
	start, end := p.start.Load(), p.written.Load().offset
	p.mu.Unlock()
	c.truncateFromStart(start)
	return c.endOffsetFor(requested, end)
}

// epochView returns a copy of the epoch cache trimmed to the log start
// offset.
func (p *PartitionLog) epochView() *leaderEpochs {
	p.mu.Lock()
	c := p.epochs.clone()
	start := p.start.Load()
	p.mu.Unlock()
	c.truncateFromStart(start)
	return c
}

// refuseLocked returns why the partition takes no appends, or nil.
// REQUIRES: p.mu.
func (p *PartitionLog) refuseLocked() error {
	if p.shutErr != nil {
		return p.shutErr
	}
	return p.failed
}

// recordEpochLocked records that the batch at offset base has leader epoch
// epoch, writing the cache's file first when that changes it: an epoch
// newer than those before base starts there (assign); the epoch of the
// batch before base continues, and epochs assigned at base without a
// batch of theirs go. op names the caller in errors. REQUIRES: p.mu.
func (p *PartitionLog) recordEpochLocked(op string, epoch int32, base int64) error {
	next := p.epochs.clone()
	var changed bool
	if epoch == next.epochBefore(base) {
		changed = next.truncateFromEnd(base)
	} else {
		changed = next.assign(epoch, base)
	}
	if !changed {
		return nil
	}
	if err := writeLeaderEpochs(p.cfg.FS, p.dir, next); err != nil {
		return p.epochWriteFailedLocked(op, err)
	}
	p.epochs, p.epochsDirty = next, false
	return nil
}

// epochWriteFailedLocked classifies a failed write of the epoch cache's
// file that a change waited for. Nothing was changed in memory, and on
// disk the file holds the old cache or the new one, both harmless (the
// new one's extra entry lies at the end, where recovery cuts it): a full
// disk is ErrDiskFull and leaves the partition usable; any other failure
// fails it, as a failed data write does, since the directory's state is
// no longer known. REQUIRES: p.mu.
func (p *PartitionLog) epochWriteFailedLocked(op string, err error) error {
	if vfs.IsNoSpace(err) {
		return fmt.Errorf("%w: %s on %s-%d: write %s: %w", ErrDiskFull, op, p.cfg.Topic, p.cfg.Partition, LeaderEpochsName, err)
	}
	return p.failLocked("write "+LeaderEpochsName, err)
}

// persistEpochTrim trims the epochs below start, the log start offset a
// checkpoint just made durable, and writes the file if that changed the
// cache or an earlier such write failed. A failure is logged and retried
// with the next checkpoint: the file's extra entries lie below the start,
// where they are harmless.
func (p *PartitionLog) persistEpochTrim(start int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.epochs.truncateFromStart(start) && !p.epochsDirty {
		return
	}
	if err := writeLeaderEpochs(p.cfg.FS, p.dir, p.epochs); err != nil {
		p.epochsDirty = true
		p.cfg.Logger.Warn("writing the leader epochs trimmed to the log start offset failed; the next checkpoint retries",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "err", err)
		return
	}
	p.epochsDirty = false
}

// epochRuns returns the epochs of the batches from offset from up to to:
// one entry per batch whose epoch differs from the one before it, and one
// for the first. REQUIRES: as walkHeaders.
func epochRuns(segs []*segment, from int64, to *Position) ([]epochEntry, error) {
	var runs []epochEntry
	err := walkHeaders(segs, from, to, func(_ *segment, _ int64, h *record.Header) bool {
		if n := len(runs); n == 0 || runs[n-1].epoch != h.PartitionLeaderEpoch {
			runs = append(runs, epochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
		}
		return true
	})
	return runs, err
}

// recoverEpochs rebuilds the epoch cache on Open, once the segments are
// recovered and the written end and log start offset are known; scanned
// is the offset from which recovery checked every batch (the batches
// below it were trusted). See the comment at the top of this file.
func (p *PartitionLog) recoverEpochs(scanned int64, creating bool) error {
	fs := p.cfg.FS
	path := filepath.Join(p.dir, LeaderEpochsName)
	segs := *p.segments.Load()
	written, start := p.written.Load(), p.start.Load()
	end := written.offset
	c, err := readLeaderEpochs(fs, p.dir)
	reason := ""
	var cerr *CorruptionError
	switch {
	case errors.As(err, &cerr):
		reason = "the file is damaged: " + cerr.Reason
	case errors.Is(err, ErrFileTooLarge):
		reason = "the file is damaged: " + err.Error()
	case err != nil:
		return err
	}
	exists := false
	if reason == "" {
		if _, serr := fs.Stat(path); serr == nil {
			exists = true
		} else if !isNotExist(serr) {
			return serr
		}
		holds := false
		for _, s := range segs {
			holds = holds || s.size.Load() > 0
		}
		if !exists && holds {
			reason = "the file is missing"
		}
	}
	changed := false
	if reason == "" {
		// An entry above the end is an epoch whose batches were written
		// after it and lost with the unsynced tail (the file is fsynced
		// first, the data may not be); one at the end, an epoch assigned
		// before its first batch, stays, unless the end is where a
		// truncation cut the log.
		cutAt := end + 1
		if p.openCut {
			cutAt = end
		}
		changed = c.truncateFromEnd(cutAt)
		runs, err := epochRuns(segs, scanned, written)
		if err != nil {
			return err
		}
		before := len(c.entries)
		if !c.reconcile(scanned, end, runs) {
			reason = fmt.Sprintf("the file disagrees with the epochs of the batches from offset %d", scanned)
		} else {
			changed = changed || len(c.entries) != before
		}
	}
	if reason != "" {
		p.cfg.Logger.Warn("rebuilding the leader epochs from the batch headers", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "file", path, "reason", reason)
		c = &leaderEpochs{}
		if err := walkHeaders(segs, segs[0].base, written, func(_ *segment, _ int64, h *record.Header) bool {
			c.assign(h.PartitionLeaderEpoch, h.BaseOffset)
			return true
		}); err != nil {
			return err
		}
		changed = true
	}
	changed = c.truncateFromStart(start) || changed
	p.epochs = c
	if !changed || p.cfg.ReadOnly {
		return nil
	}
	if err := writeLeaderEpochs(fs, p.dir, c); err != nil {
		if creating || !vfs.IsNoSpace(err) {
			return err
		}
		p.epochsDirty = true
		p.cfg.Logger.Warn("no space to write the rebuilt leader epochs; the next checkpoint retries",
			"topic", p.cfg.Topic, "partition", p.cfg.Partition, "err", err)
	}
	return nil
}
