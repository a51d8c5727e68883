package storage

import (
	"strconv"
	"time"
)

// Events receives a partition log's notable events, for its owner's
// observability hooks (Config.Events). Every field may be nil: that
// event is not reported, and costs the path that would report it one nil
// check. Each function is called on the goroutine that did the work,
// once the work is done, with none of the partition's locks held (the
// append lock, the fsync semaphore, the compaction lock), so it may call
// the partition's methods; but it runs on that work's path (an append's,
// an fsync round's), so it must be fast. The events of one partition may
// be reported from several goroutines at once. The event values hold no
// references: they may be kept.
type Events struct {
	// Append is called once per AppendBatch or AppendAsFollower that
	// wrote batches, after they are written and before waiting for their
	// acknowledgement (under SyncAlways the next fsync round): a batch
	// whose fsync then fails was reported all the same. A duplicate of an
	// idempotent producer's batch, which writes nothing, is not reported.
	Append func(AppendEvent)
	// Sync is called once per fsync round that fsynced anything (data,
	// indexes or the directory), after the round, successful or not:
	// the rounds of appends' group commit, of Flush and of checkpoints.
	Sync func(SyncEvent)
	// Roll is called once per roll, after the new segment is in place.
	Roll func(RollEvent)
	// Retention is called once per EnforceRetention that deleted
	// segments, once the new log start offset is durable (the files are
	// removed later, through Config.Discard).
	Retention func(RetentionEvent)
	// Compaction is called once per Compact that ran a pass to its end
	// without an error (a pass stopped short by a truncation or by
	// retention taking its segments is reported with what it did).
	Compaction func(CompactionEvent)
}

// AppendEvent describes the batches one append wrote.
type AppendEvent struct {
	// BaseOffset is the offset of the first record written, LastOffset
	// that of the last.
	BaseOffset, LastOffset int64
	// Batches, Records and Bytes count what was written: one batch for
	// AppendBatch, those given for AppendAsFollower.
	Batches, Records, Bytes int
	// Follower says the batches were a leader's, appended by
	// AppendAsFollower.
	Follower bool
}

// SyncEvent describes one fsync round.
type SyncEvent struct {
	// Duration is the time the round's fsyncs took, on Config.Now's
	// clock: from before the first to after the last.
	Duration time.Duration
	// Files is the number of fsyncs the round ran (data files, index
	// files of sealed segments, the directory).
	Files int
	// DurableOffset is the durable end after the round: everything below
	// it is on disk.
	DurableOffset int64
	// Err is the fsync error that failed the round, and the partition
	// (a *DurabilityError); nil for a round that succeeded.
	Err error
}

// RollReason says why a segment rolled.
type RollReason uint8

const (
	// RollSize: the next batch would take the segment past SegmentBytes.
	RollSize RollReason = iota
	// RollIndex: an index of the segment is full, or the next batch's
	// offsets would be past the 32-bit range relative to its base.
	RollIndex
	// RollAge: the segment reached SegmentAge (or a compacted topic's
	// shorter MaxCompactionLag), at an append or at the idle timer
	// (RollIfAged).
	RollAge
	// RollRetention: retention rolled the active segment, whose records
	// had all expired, to delete it.
	RollRetention
	// RollRequested: a caller asked (Roll, RollIdle).
	RollRequested
)

var rollReasons = [...]string{RollSize: "size", RollIndex: "index", RollAge: "age", RollRetention: "retention", RollRequested: "requested"}

// String returns the reason's name: "size", "index", "age", "retention"
// or "requested".
func (r RollReason) String() string {
	if int(r) < len(rollReasons) {
		return rollReasons[r]
	}
	return "RollReason(" + strconv.Itoa(int(r)) + ")"
}

// RollEvent describes one roll.
type RollEvent struct {
	// Segment is the base offset of the new active segment, and Sealed
	// that of the segment sealed, whose data file holds SealedBytes.
	Segment, Sealed int64
	SealedBytes     int64
	Reason          RollReason
}

// RetentionEvent describes the segments one retention pass deleted.
type RetentionEvent struct {
	// Segments and Bytes count the deleted segments and their data.
	Segments int
	Bytes    int64
	// StartOffset is the log start offset after the pass.
	StartOffset int64
}

// CompactionEvent describes one compaction pass.
type CompactionEvent struct {
	// Duration is how long the pass took, on Config.Now's clock.
	Duration time.Duration
	// Segments is the number of segments the pass replaced, and
	// NewSegments the number it wrote in their place (small segments
	// merge); BytesBefore and BytesAfter are their data sizes. Groups of
	// segments in which nothing changed are left alone and not counted.
	Segments, NewSegments   int
	BytesBefore, BytesAfter int64
	// RecordsRemoved counts the records the replaced segments held that
	// their replacements do not: superseded by a later record of their
	// key, tombstones past their delete horizon, keyless records, and
	// records below the log start.
	RecordsRemoved int64
	// CleanerOffset is where the part not yet compacted starts after the
	// pass (Kafka's cleaner checkpoint).
	CleanerOffset int64
}

// RecoveryStats describes what Open did to recover the partition.
type RecoveryStats struct {
	// Duration is how long Open took, on Config.Now's clock.
	Duration time.Duration
	// Segments is the number of segments the partition has after
	// recovery; SegmentsScanned how many of them had their batches
	// checked one by one (those past the checkpoint's recovery point),
	// and BytesScanned the bytes of data checked so.
	Segments, SegmentsScanned int
	BytesScanned              int64
	// FromCheckpoint says recovery resumed from the checkpoint's recovery
	// point: the segments below it were trusted, not scanned. False for
	// a new partition, one without a valid checkpoint, and one whose
	// checkpoint names a segment compaction merged.
	FromCheckpoint bool
	// BytesCut is the data cut off segments' ends: torn batches an
	// interrupted write left, and zeros past the last batch (space
	// prepared for durable appends, or writes that never reached the
	// disk). SegmentsRemoved counts the segments removed: those after a
	// torn one, and those below the log start an interrupted retention
	// pass left.
	BytesCut        int64
	SegmentsRemoved int
	// IndexesRebuilt counts the segments whose indexes were rebuilt from
	// the data, because they disagreed with it.
	IndexesRebuilt int
	// Completed counts the interrupted operations Open finished or
	// rolled back: compaction swaps, a truncation, a reset.
	Completed int
}

// Recovery returns what Open did to recover the partition. It never
// changes after Open.
func (p *PartitionLog) Recovery() RecoveryStats { return p.recovery }

// unlock releases the append lock, and then logs and reports the rolls
// made while it was held (rollLocked keeps them in p.rolls). Every path
// that may roll releases the lock through here; the others may too.
// REQUIRES: p.mu.
func (p *PartitionLog) unlock() {
	if len(p.rolls) == 0 {
		p.mu.Unlock()
		return
	}
	rolls := p.rolls
	p.rolls = nil
	p.mu.Unlock()
	p.reportRolls(rolls)
}

// reportRolls logs rolls and reports them to Events.Roll.
func (p *PartitionLog) reportRolls(rolls []RollEvent) {
	for _, r := range rolls {
		p.cfg.Logger.Info("rolled segment", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "segment", r.Segment,
			"sealed", r.Sealed, "sealed_bytes", r.SealedBytes, "reason", r.Reason.String())
		if f := p.cfg.Events.Roll; f != nil {
			f(r)
		}
	}
}

// unlockDeferring is unlock for an append with AppendOptions.Defer: the
// rolls go to d, when not nil, instead of being logged and reported.
// REQUIRES: p.mu.
func (p *PartitionLog) unlockDeferring(d *Deferred) {
	if d == nil || len(p.rolls) == 0 {
		p.unlock()
		return
	}
	d.rolls = append(d.rolls, p.rolls...)
	p.rolls = nil
	p.mu.Unlock()
}

// Deferred holds the events of an append made with AppendOptions.Defer,
// until its caller reports them (Report). The zero value is empty; one
// Deferred serves one append.
type Deferred struct {
	append   AppendEvent
	appended bool
	rolls    []RollEvent
}

// Report logs and reports the events d holds, as the append would have,
// and empties d. Call it holding none of the partition's locks, nor any
// lock the owner's hooks may need.
func (p *PartitionLog) Report(d *Deferred) {
	rolls := d.rolls
	d.rolls = nil
	p.reportRolls(rolls)
	if d.appended {
		d.appended = false
		p.cfg.Events.Append(d.append)
	}
}

// maxHeldSyncEvents bounds the fsync rounds one holder of syncSem keeps
// to report as it releases it: more than any holder runs (EnforceRetention
// runs three). Beyond it, the last event absorbs the later rounds.
const maxHeldSyncEvents = 4

// heldSyncEvents are the fsync rounds run by the holder of syncSem, to
// be reported as it releases it (releaseSync). REQUIRES: syncSem.
type heldSyncEvents struct {
	evs [maxHeldSyncEvents]SyncEvent
	n   int
}

// noteSync records a round for the holder of syncSem to report, when
// Events.Sync is set. REQUIRES: syncSem.
func (p *PartitionLog) noteSync(ev SyncEvent) {
	if p.cfg.Events.Sync == nil {
		return
	}
	h := &p.heldSyncs
	if h.n == len(h.evs) {
		last := &h.evs[h.n-1]
		last.Duration += ev.Duration
		last.Files += ev.Files
		last.DurableOffset = ev.DurableOffset
		if last.Err == nil {
			last.Err = ev.Err
		}
		return
	}
	h.evs[h.n] = ev
	h.n++
}

// releaseSync releases syncSem and then reports the fsync rounds its
// holder ran. Every holder releases it through here. REQUIRES: syncSem.
func (p *PartitionLog) releaseSync() {
	if p.heldSyncs.n == 0 {
		<-p.syncSem
		return
	}
	held := p.heldSyncs // a copy, on the stack: the next holder reuses p's
	p.heldSyncs.n = 0
	<-p.syncSem
	for _, ev := range held.evs[:held.n] {
		p.cfg.Events.Sync(ev)
	}
}
