package storage

import (
	"fmt"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Inspection: read-only views of a PartitionLog's segments, positions and
// checkpoint, and the maintenance steps that the scheduler, retention and
// compaction otherwise take on their own, for tests and diagnostic tools
// that look at a partition from outside the package. Nothing here is on
// the append or read path, and nothing changes what a partition holds.

// The on-disk layout facts that tools reading or damaging a partition's
// files, or checking how much space it prepares, need.
const (
	// OffsetEntrySize and TimeEntrySize are the sizes of an offset index
	// entry and a time index entry.
	OffsetEntrySize = offsetEntrySize
	TimeEntrySize   = timeEntrySize
	// PrepareStep is how far ahead of its data a SyncAlways segment fills
	// its file with zeros.
	PrepareStep = prepareStep
	// ReserveMinStep is the least space a non-durable segment reserves past
	// a batch.
	ReserveMinStep = reserveMinStep
)

// SegmentInfo describes one segment as it was when taken. It holds the
// segment itself, so Same and Closed answer about that segment even after
// it left the partition (compaction replaced it, retention deleted it).
type SegmentInfo struct {
	Base          int64  // offset of the segment's first batch
	Path          string // the data file
	Size          int64  // bytes in the data file
	Next          int64  // offset after the segment's last batch; Base when empty
	MaxTimestamp  int64  // largest record timestamp; -1 when none
	OffsetEntries int    // offset index entries
	TimeEntries   int    // time index entries
	Sealed        bool   // no longer appended to
	// NoReserve says the file system cannot reserve space for the
	// segment's data file (see segment.reserve).
	NoReserve bool
	// Refs counts the segment's references: the partition's own while the
	// segment is live, and one per reader in it.
	Refs int32

	seg *segment
}

// Same reports whether s and o describe the same segment (not merely one
// with the same base).
func (s SegmentInfo) Same(o SegmentInfo) bool { return s.seg != nil && s.seg == o.seg }

// Closed reports whether the segment's files are closed: the partition
// and every reader let go of it, so no reader can enter it any more.
func (s SegmentInfo) Closed() bool { return s.seg.refs.Load() <= 0 }

// info describes s. REQUIRES: p.mu (for the append state it reads).
func (p *PartitionLog) info(s *segment) SegmentInfo {
	return SegmentInfo{
		Base:          s.base,
		Path:          s.path,
		Size:          s.size.Load(),
		Next:          s.next.Load(),
		MaxTimestamp:  s.maxTimestamp.Load(),
		OffsetEntries: s.offsets().count(),
		TimeEntries:   s.times().count(),
		Sealed:        s.sealed,
		NoReserve:     s.noReserve,
		Refs:          s.refs.Load(),
		seg:           s,
	}
}

// Segments describes the partition's segments, ascending by base; the
// last is the active one.
func (p *PartitionLog) Segments() []SegmentInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	segs := *p.segments.Load()
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		out[i] = p.info(s)
	}
	return out
}

// ActiveSegment describes the segment appends go to.
func (p *PartitionLog) ActiveSegment() SegmentInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info(p.active)
}

// DurableSegment describes the segment the durable end (DurableOffset)
// is in.
func (p *PartitionLog) DurableSegment() SegmentInfo {
	return p.PositionSegment(p.durable.Load())
}

// PositionSegment describes the segment pos is in, such as that of a
// HighWatermarkPosition taken earlier.
func (p *PartitionLog) PositionSegment(pos *Position) SegmentInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info(pos.seg)
}

// VisitBatches calls fn with every batch of the partition, in order, each
// checked (header, size and CRC): up to the high watermark when belowHW,
// and otherwise every batch the segments' data files hold. It stops when
// fn returns false, and returns the error of the first batch that fails
// its check. batch is valid only during the call.
func (p *PartitionLog) VisitBatches(belowHW bool, fn func(batch []byte, h record.Header) bool) error {
	hw := p.hw.Load()
	// The active segment's size counts the batches staged for the next
	// fsync round (see segment.stage), which its file does not hold yet.
	p.mu.Lock()
	active, written := p.active, p.active.size.Load()
	if len(active.pending) > 0 {
		written = active.pendingPos
	}
	p.mu.Unlock()
	var scratch []byte
	for _, s := range *p.segments.Load() {
		limit := s.size.Load()
		if s == active {
			limit = min(limit, written)
		}
		if belowHW && s == hw.seg {
			limit = hw.pos
		}
		for pos := int64(0); pos < limit; {
			b, h, err := s.batchAt(&scratch, pos, limit)
			if err != nil {
				return fmt.Errorf("%s at %d: %w", s.path, pos, err)
			}
			if !fn(b, h) {
				return nil
			}
			pos += int64(h.Size())
		}
		if belowHW && s == hw.seg {
			return nil
		}
	}
	return nil
}

// CheckingAhead reports whether the reader checks CRCs ahead of itself on
// another goroutine (see verifyAhead).
func (r *Reader) CheckingAhead() bool { return r.ahead.running() }

// Roll seals the active segment and starts a new one at the end offset,
// as an append that does not fit in the active segment does. An empty
// active segment rolls too.
func (p *PartitionLog) Roll() error {
	if err := p.refuseReadOnly("Roll"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.unlock()
	return p.rollLocked(p.written.Load().offset, RollRequested)
}

// RollIdle rolls the active segment as retention and the idle timer do
// (see rollIdleLocked): the written end moves to the new segment, so the
// old one can be deleted or compacted.
func (p *PartitionLog) RollIdle() error {
	if err := p.refuseReadOnly("RollIdle"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.unlock()
	return p.rollIdleLocked(RollRequested)
}

// CheckpointInfo is the content of a partition's checkpoint file (see
// checkpoint.go for what each field means).
type CheckpointInfo struct {
	RecoveryOffset       int64
	SegmentBase          int64
	Position             int64
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
	BytesSinceIndex      int64
	OffsetEntries        int64
	TimeEntries          int64
	LogStartOffset       int64
	ActiveBase           int64
	ActiveCreated        int64 // Unix ms; -1 unknown
	CleanerOffset        int64
	Flags                uint16
}

// CheckpointRollsSynced is the CheckpointInfo.Flags bit saying that sealed
// segments were fsynced as they were sealed (SyncAlways).
const CheckpointRollsSynced = checkpointRollsSynced

func (c checkpoint) info() CheckpointInfo {
	return CheckpointInfo{
		RecoveryOffset: c.recoveryOffset, SegmentBase: c.segmentBase, Position: c.position,
		MaxTimestamp: c.maxTimestamp, OffsetOfMaxTimestamp: c.offsetOfMaxTimestamp, BytesSinceIndex: c.bytesSinceIndex,
		OffsetEntries: c.offsetEntries, TimeEntries: c.timeEntries, LogStartOffset: c.logStartOffset,
		ActiveBase: c.activeBase, ActiveCreated: c.activeCreated, CleanerOffset: c.cleanerOffset, Flags: c.flags,
	}
}

func (c CheckpointInfo) checkpoint() checkpoint {
	return checkpoint{
		recoveryOffset: c.RecoveryOffset, segmentBase: c.SegmentBase, position: c.Position,
		maxTimestamp: c.MaxTimestamp, offsetOfMaxTimestamp: c.OffsetOfMaxTimestamp, bytesSinceIndex: c.BytesSinceIndex,
		offsetEntries: c.OffsetEntries, timeEntries: c.TimeEntries, logStartOffset: c.LogStartOffset,
		activeBase: c.ActiveBase, activeCreated: c.ActiveCreated, cleanerOffset: c.CleanerOffset, flags: c.Flags,
	}
}

// LastCheckpoint returns the checkpoint the partition last wrote (the
// zero CheckpointInfo before its first). It waits for a checkpoint or
// fsync round in progress.
func (p *PartitionLog) LastCheckpoint() CheckpointInfo {
	p.syncSem <- struct{}{}
	defer p.releaseSync()
	return p.checkpointed.info()
}

// InitialCheckpoint is a checkpoint with no recovery point past the
// partition's start and nothing deleted: recovery trusts none of the data
// and scans every byte.
func InitialCheckpoint() CheckpointInfo {
	return checkpoint{maxTimestamp: -1, offsetOfMaxTimestamp: -1, activeCreated: -1, flags: checkpointRollsSynced}.info()
}

// Marshal encodes c as a checkpoint file holds it.
func (c CheckpointInfo) Marshal() []byte {
	cp := c.checkpoint()
	return cp.marshal()
}

// UnmarshalCheckpoint decodes a checkpoint file, refusing what a
// partition would not have written.
func UnmarshalCheckpoint(b []byte) (CheckpointInfo, error) {
	c, err := unmarshalCheckpoint(b)
	return c.info(), err
}

// WriteCheckpoint replaces the checkpoint file of the partition in dir
// with c, atomically.
func WriteCheckpoint(fs vfs.FS, dir string, c CheckpointInfo) error {
	return writeCheckpoint(fs, dir, c.checkpoint())
}

// EpochEntry says that leader epoch Epoch wrote its first batch at offset
// StartOffset (or that the epoch holds the log start offset, StartOffset).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochs returns a copy of the partition's leader epochs, trimmed to
// the log start offset, ascending: each epoch with the offset its first
// batch got (the log start offset for the epoch holding it; the end
// offset for an epoch assigned before any batch of it).
func (p *PartitionLog) LeaderEpochs() []EpochEntry {
	c := p.epochView()
	out := make([]EpochEntry, len(c.entries))
	for i, e := range c.entries {
		out[i] = EpochEntry{Epoch: e.epoch, StartOffset: e.start}
	}
	return out
}
