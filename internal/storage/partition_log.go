package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/commitlog-go/commitlog/internal/metrics"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Forever disables an age limit in Config (SegmentAge, DeleteRetention,
// Retention, MaxCompactionLag).
const Forever time.Duration = -1

// Config is what a PartitionLog needs from its owner: where its files
// are, the topic's storage settings (the same names and meanings as the
// public TopicConfig's) and the Log-wide settings that reach into a
// partition. Every field is required except the hooks, whose nil value
// is stated.
type Config struct {
	FS  vfs.FS
	Dir string // the partition's directory
	// Topic and Partition name the partition in errors and log lines.
	Topic     string
	Partition int32

	SegmentBytes       int64
	SegmentAge         time.Duration // Forever: no age-based roll
	IndexIntervalBytes int32
	SegmentIndexBytes  int32
	MaxBatchBytes      int32
	LogAppendTime      bool

	// Compacted says the topic's cleanup policy compacts, and
	// RetentionDeletes that it deletes old segments (Kafka's "compact",
	// "delete" and "compact,delete").
	Compacted              bool
	RetentionDeletes       bool
	DeleteRetention        time.Duration
	MinCompactionLag       time.Duration
	MaxCompactionLag       time.Duration
	MinCleanableDirtyRatio float64
	Retention              time.Duration
	RetentionBytes         int64

	// SyncAlways acknowledges an append only once it is fsynced; without,
	// an append is acknowledged once written.
	SyncAlways           bool
	ProducerIDExpiration time.Duration
	CompactionMapBytes   int64
	CompactionDutyCycle  float64
	// RepairCheckpoints lets Open rebuild a missing or damaged checkpoint
	// of a partition holding data, instead of failing.
	RepairCheckpoints bool
	// ReadOnly opens the partition without writing anything to its
	// directory: recovery keeps its cuts and rebuilds in memory, and every
	// call that would change the partition fails with a *ReadOnlyError
	// (see readonly.go). FS should be a vfs.ReadOnly file system, so that
	// any write is refused there too.
	ReadOnly bool
	// Replicated says replication sets the high watermark
	// (SetHighWatermark): it follows the local end (the durable end under
	// SyncAlways, the written end otherwise) only up to the offset
	// replication last gave, and starts at the log start offset on Open.
	// Without, the high watermark is the local end.
	Replicated bool

	Now    func() time.Time // the Log's clock
	Logger *slog.Logger

	// OnHighWatermark is called whenever the high watermark moves or the
	// partition closes, under the append lock: it must not block, and it
	// reports whether anyone was woken. Nil: nobody is told.
	OnHighWatermark func() bool
	// Discard runs the removal of deleted segments' files, which nothing
	// waits for, on the owner's background worker. Nil: inline.
	Discard func(remove func())
	// AppendedEnds returns a number that changes whenever anything is
	// appended anywhere in the owner (compaction paces itself while it
	// moves). Nil: compaction never paces.
	AppendedEnds func() int64
	// Closing is closed when the owner begins to close: compaction stops
	// at its next batch. Nil: never.
	Closing <-chan struct{}
	// Events receives the partition's notable events (events.go); its
	// nil fields report nothing.
	Events Events
	// SyncLatency, when not nil, counts the duration of every fsync
	// round (SyncEvent.Duration), shared by the owner's partitions. Nil:
	// not counted.
	SyncLatency *metrics.Histogram
}

// PartitionLog is one partition's log on disk: Kafka's UnifiedLog. It
// owns the segments (data files with their offset and time indexes), the
// append path with its group-committed fsync rounds, recovery, the
// checkpoint, the idempotent producers' state, retention and compaction.
// It does I/O only through Config.FS and knows nothing of topics, records
// as values, consumers or groups: the public Partition is a front over
// it, which builds batches, decodes records and keeps the waiters.
//
// All methods are safe for concurrent use. Appends are serialized by the
// append lock; reads never wait for appends (they read an immutable
// snapshot of the segment list and the high watermark).
//
// Offsets: StartOffset <= HighWatermark <= EndOffset. Readers see records
// below the high watermark. Under SyncAlways the high watermark is the
// durable end (DurableOffset); otherwise it is the end of what was
// written. On a Replicated log it is at most what SetHighWatermark gave.
type PartitionLog struct {
	dir string
	cfg Config
	sf  segmentFiles

	// mu is the append lock. It serializes appends, rolls, failure and
	// close, and guards the fields below it.
	mu       sync.Mutex
	active   *segment
	unsynced []*segment // segments with writes or index changes not yet fsynced
	dirDirty bool       // the directory has entries not yet fsynced
	failed   error      // *DurabilityError once a write or fsync failed
	shutErr  error      // why the partition no longer accepts appends: ErrClosed, or deleted
	released bool       // the segments are released: nothing may touch the files
	// producers is the idempotence state: the last batches of each
	// producer id, to refuse gaps and recognise retried duplicates.
	producers *producerStates
	// epochs is the leader-epoch cache (leader_epochs.go). Every change
	// that an append, AssignLeaderEpoch, TruncateTo or ResetTo acts on is written
	// to its file first, under this lock; a trim from the start (the log
	// start offset moved) is written with the next checkpoint, and
	// epochsDirty says that write is still owed.
	epochs      *leaderEpochs
	epochsDirty bool
	// hwLimit is, on a Replicated log, the offset replication last set
	// the high watermark to (SetHighWatermark): the high watermark follows
	// the local end up to it. recent holds the latest written positions,
	// where the high watermark is looked up first (replicated_hw.go).
	// hwLimitFound says the high watermark has reached the limit's batch
	// boundary, below the local end: appends need not look it up again.
	hwLimit      int64
	hwLimitFound bool
	recent       positionRing
	// cuts lists the truncations (TruncateTo, and ResetTo, which cuts at
	// the log's first offset), oldest first; truncations is their count,
	// which readers load without the lock and every Position records as
	// it is made.
	cuts        []int64
	truncations atomic.Int64
	// openCut says Open completed a truncation a crash interrupted
	// (completeTruncation): the leader epochs are cut at the end.
	openCut bool
	// rolls are the rolls made under the lock, to be logged and
	// reported to Events.Roll once it is released (unlock).
	rolls []RollEvent

	segments atomic.Pointer[[]*segment] // immutable, ascending by base
	written  atomic.Pointer[Position]   // end of what was written
	durable  atomic.Pointer[Position]   // end of what was fsynced
	hw       atomic.Pointer[Position]   // high watermark: what readers see
	start    atomic.Int64               // log start offset

	// lastRetention is when retention last looked at the partition (Unix
	// ms, 0: never) and retentionDeleted the segments it deleted.
	lastRetention, retentionDeleted atomic.Int64
	// discardMu is held while the files of segments retention deleted are
	// removed (removeDeletedSegments, off the partition's locks) and while
	// ResetTo replaces every segment file, which may create a segment with
	// the base of one whose removal is still to come.
	discardMu sync.Mutex

	// cleanMu is held by the compaction pass running on the partition
	// (compaction.go); cleanerPoint is where the uncompacted part starts,
	// and lastCleaning when a pass last ran (Unix ms, 0: never).
	// tombstoneHorizon is the earliest delete horizon of the tombstones
	// compaction kept (Unix ms; 0: none known), when a pass is due even
	// without new records.
	cleanMu                                      sync.Mutex
	cleanerPoint, lastCleaning, tombstoneHorizon atomic.Int64

	// syncSem is held by the one goroutine running an fsync round (group
	// commit: appenders that arrive meanwhile are covered by the next
	// round). It also serializes checkpoints and close.
	syncSem chan struct{}
	// roundDone is closed when the fsync round an appender leads ends
	// (nil: none is led); the appenders waiting for it then check whether
	// it covered them (see syncTo).
	roundMu   sync.Mutex
	roundDone chan struct{}
	// inSync counts the appenders in syncTo, leading a round or waiting
	// for one: a leader with company yields before it fsyncs (leadRound).
	inSync atomic.Int32
	// syncing is the list flush swaps with unsynced. REQUIRES: syncSem.
	syncing []syncItem
	// checkpointed is the last checkpoint written. REQUIRES: syncSem.
	checkpointed checkpoint
	// snapThrough names the producer state snapshot on disk (-1: none),
	// and snapChanges is producers.changes when it was captured (see
	// producer_snapshots.go). REQUIRES: syncSem.
	snapThrough int64
	snapChanges uint64
	// heldSyncs are the fsync rounds the holder of syncSem ran, reported
	// to Events.Sync as it releases it (releaseSync). REQUIRES: syncSem.
	heldSyncs heldSyncEvents

	// recovery is what Open did (Recovery); written only by Open.
	recovery RecoveryStats

	done chan struct{} // closed by close
}

// AppendResult reports where an appended batch landed.
type AppendResult struct {
	// BaseOffset is the offset of the batch's first record.
	BaseOffset int64
	// LastOffset is the offset of the batch's last record.
	LastOffset int64
	// LogAppendTime is the time the log stamped the batch with, on a topic
	// with TopicConfig.LogAppendTime; zero otherwise.
	LogAppendTime time.Time
}

// Position is a point in the partition: the offset after the last batch
// before it, and that batch's end in its segment. With it, readers bound
// reads by byte position, so a batch is either entirely visible or not at
// all. The remaining fields are the segment's append state at that point,
// which a checkpoint records so recovery can resume exactly there.
// A Position is immutable once published.
//
// The append state is that of the written and durable ends; a high
// watermark found by lookup (replicated_hw.go) carries only its offset,
// segment and position. truncations is the partition's count of
// truncations when the Position was made: a reader bounded by it knows
// whether the log was cut below it since (see Reader).
type Position struct {
	offset               int64
	seg                  *segment
	pos                  int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
	offsetEntries        int32 // an index holds at most SegmentIndexBytes/8 entries
	timeEntries          int32
	truncations          int64
}

// Offset returns the offset after the last batch before p.
func (p *Position) Offset() int64 { return p.offset }

type syncItem struct {
	seg     *segment
	indexes bool // also fsync the index files (after a seal)
}

// Open opens the partition log in cfg.Dir, recovering its tail (see
// recovery.go). creating says the partition is being created now, so
// nothing in its directory predates this call. The caller must not open
// the same directory twice.
func Open(cfg Config, creating bool) (*PartitionLog, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &PartitionLog{
		dir:         cfg.Dir,
		cfg:         cfg,
		sf:          segmentFiles{fs: cfg.FS, dir: cfg.Dir, maxBytes: cfg.SegmentBytes, maxIndex: int64(cfg.SegmentIndexBytes), readOnly: cfg.ReadOnly},
		syncSem:     make(chan struct{}, 1),
		done:        make(chan struct{}),
		producers:   newProducerStates(),
		epochs:      &leaderEpochs{},
		snapThrough: -1,
	}
	start := cfg.Now()
	if err := p.recoverPartition(creating); err != nil {
		if segs := p.segments.Load(); segs != nil {
			for _, s := range *segs {
				s.release()
			}
		}
		return nil, err
	}
	p.recovery.Duration = cfg.Now().Sub(start)
	p.recovery.Segments = len(*p.segments.Load())
	return p, nil
}

// Dir returns the partition's directory.
func (p *PartitionLog) Dir() string { return p.dir }

// StartOffset returns the offset of the first record that can be read.
func (p *PartitionLog) StartOffset() int64 { return p.start.Load() }

// HighWatermark returns the offset below which records are visible to
// readers.
func (p *PartitionLog) HighWatermark() int64 { return p.hw.Load().offset }

// HighWatermarkPosition returns the high watermark as a Position, to bound
// a read (NewReader) by it.
func (p *PartitionLog) HighWatermarkPosition() *Position { return p.hw.Load() }

// EndOffset returns the offset the next appended record will get.
func (p *PartitionLog) EndOffset() int64 { return p.written.Load().offset }

// DurableOffset returns the offset below which every record is known to be
// on disk (fsynced).
func (p *PartitionLog) DurableOffset() int64 { return p.durable.Load().offset }

// Done returns a channel closed once the partition is closed or shut.
func (p *PartitionLog) Done() <-chan struct{} { return p.done }

// AppendOptions says how appendBatch treats a batch.
type AppendOptions struct {
	// expected is the end offset AppendIf requires, or -1 for any.
	Expected int64
	// noWait returns once the batch is written, without waiting for the
	// fsync SyncAlways acknowledges after; the caller calls SyncTo.
	NoWait bool
	// crc, when not nil, is the batch's CRC, computed aside while its
	// records are written; the batch's CRC field is zero until then.
	CRC *CRCAside
	// LeaderEpoch is the leader epoch AppendBatch stamps into the batch
	// (its partitionLeaderEpoch) and records in the epoch cache, written to
	// the partition's leader-epoch-checkpoint before the batch when the
	// epoch is new. 0, the zero value, is a single node's epoch. It must
	// not be negative nor older than LatestEpoch (an *EpochError).
	// AppendAsFollower ignores it: the batches carry their epochs.
	LeaderEpoch int32
	// Defer, when not nil, receives the events of the append (its own,
	// and the rolls it makes) instead of their being reported to
	// Config.Events: for a caller that appends holding a lock of its
	// own, and reports them with Report once it has released it.
	Defer *Deferred
}

// AppendBatch appends one encoded batch (base offset 0, as built) and
// waits for it to be acknowledged. The batch bytes are modified in place
// (base offset and leader epoch o.LeaderEpoch, outside the CRC; under
// LogAppendTime the timestamp, with the CRC recomputed) and not retained.
//
// A batch of an idempotent producer (producer id >= 0) is checked against
// the partition's producer state first: a duplicate of one of the
// producer's last batches appends nothing and returns the original
// offsets; a gap or an older epoch returns a *SequenceError. A leader
// epoch older than LatestEpoch returns an *EpochError.
func (p *PartitionLog) AppendBatch(ctx context.Context, batch []byte, o AppendOptions) (AppendResult, error) {
	if err := p.refuseReadOnly("AppendBatch"); err != nil {
		return AppendResult{}, err
	}
	h, err := record.ParseHeader(batch, len(batch))
	if err != nil {
		return AppendResult{}, fmt.Errorf("%w: append to %s-%d: %w", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, err)
	}
	if len(batch) > int(p.cfg.MaxBatchBytes) {
		return AppendResult{}, &RecordTooLargeError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Index: -1, Size: len(batch), Max: int(p.cfg.MaxBatchBytes)}
	}
	if o.LeaderEpoch < 0 {
		return AppendResult{}, fmt.Errorf("%w: append to %s-%d: leader epoch %d is negative", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, o.LeaderEpoch)
	}
	idempotent := h.ProducerID >= 0
	var lastSeq int32
	if idempotent {
		if h.BaseSequence < 0 || h.ProducerEpoch < 0 {
			return AppendResult{}, fmt.Errorf("%w: append to %s-%d: batch of producer %d has epoch %d and base sequence %d; both must be >= 0",
				ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		lastSeq = NextSequence(h.BaseSequence, h.LastOffsetDelta)
	}
	now := p.cfg.Now()

	p.mu.Lock()
	if p.shutErr != nil {
		err := p.shutErr
		p.mu.Unlock()
		return AppendResult{}, err
	}
	if p.failed != nil {
		err := p.failed
		p.mu.Unlock()
		return AppendResult{}, err
	}
	if latest := p.epochs.latest(); o.LeaderEpoch < latest {
		p.mu.Unlock()
		return AppendResult{}, &EpochError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Op: "AppendBatch", Epoch: o.LeaderEpoch, Latest: latest}
	}
	end := p.written.Load().offset
	if o.Expected >= 0 && o.Expected != end {
		p.mu.Unlock()
		return AppendResult{}, &ConflictError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Expected: o.Expected, Actual: end}
	}
	if idempotent {
		dup, isDup, err := p.producers.check(h.ProducerID, h.ProducerEpoch, h.BaseSequence, lastSeq)
		if err != nil {
			p.mu.Unlock()
			var serr *SequenceError
			if errors.As(err, &serr) {
				serr.Topic, serr.Partition = p.cfg.Topic, p.cfg.Partition
			}
			return AppendResult{}, err
		}
		if isDup {
			truncations := p.truncations.Load()
			p.mu.Unlock()
			res := AppendResult{BaseOffset: dup.baseOffset, LastOffset: dup.lastOffset()}
			return res, p.acknowledge(ctx, res.LastOffset+1, truncations, o)
		}
	}
	record.SetBaseOffset(batch, end)
	record.SetPartitionLeaderEpoch(batch, o.LeaderEpoch)
	if p.cfg.LogAppendTime {
		record.SetLogAppendTime(batch, now.UnixMilli())
		h.MaxTimestamp = now.UnixMilli()
		h.Attributes |= record.AttrLogAppendTime
	}
	h.BaseOffset, h.PartitionLeaderEpoch = end, o.LeaderEpoch
	w, err := p.appendLocked(batch, &h, now, o.CRC)
	if err != nil {
		p.unlockDeferring(o.Defer) // a roll before the failed write stays
		return AppendResult{}, err
	}
	woke := false
	if !p.cfg.SyncAlways {
		if !p.cfg.Replicated {
			woke = p.publishHW(w)
		} else {
			woke = p.followLimitLocked(w)
		}
	}
	p.unlockDeferring(o.Defer)
	if f := p.cfg.Events.Append; f != nil {
		ev := AppendEvent{BaseOffset: end, LastOffset: h.LastOffset(), Batches: 1, Records: int(h.RecordCount), Bytes: len(batch)}
		if o.Defer != nil {
			o.Defer.append, o.Defer.appended = ev, true
		} else {
			f(ev)
		}
	}
	if woke {
		// Let the readers just woken read now, before this goroutine's
		// next append (see flushHeld): produce-to-consume p50 went from
		// 21 µs to 4 µs at 10,000 appends/s, for about 2.5 µs more per
		// append while a caught-up reader waits.
		runtime.Gosched()
	}

	res := AppendResult{BaseOffset: end, LastOffset: h.LastOffset()}
	if p.cfg.LogAppendTime {
		res.LogAppendTime = time.UnixMilli(now.UnixMilli())
	}
	return res, p.acknowledge(ctx, w.offset, w.truncations, o)
}

// appendLocked writes batch, whose header h holds its final base offset
// (the end offset) and leader epoch, at the end of the log: the write
// step AppendBatch and AppendAsFollower share. It rolls the active
// segment if the batch does not fit, records the batch's epoch in the
// epoch cache when it is not the latest (the cache's file first), writes
// the batch (the time index takes its largest timestamp), records it in
// the producers' state when it has a producer id, and stores the new
// written end, which it returns. The high watermark is the caller's. A
// failure leaves nothing of the batch (ErrDiskFull), or fails the
// partition. REQUIRES: p.mu.
func (p *PartitionLog) appendLocked(batch []byte, h *record.Header, now time.Time, crc *CRCAside) (*Position, error) {
	if err := p.maybeRollLocked(len(batch), h, h.BaseOffset, now); err != nil {
		return nil, err
	}
	if h.PartitionLeaderEpoch != p.epochs.latest() {
		if err := p.recordEpochLocked("append", h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return nil, err
		}
	}
	s := p.active
	wasDirty := s.dirty
	if err := s.append(batch, h, int64(p.cfg.IndexIntervalBytes), now, p.cfg.SyncAlways, crc); err != nil {
		return nil, p.writeFailedLocked(err)
	}
	if !wasDirty {
		p.unsynced = append(p.unsynced, s)
	}
	if h.ProducerID >= 0 {
		p.producers.update(h.ProducerID, h.ProducerEpoch, producerBatch{
			firstSeq: h.BaseSequence, lastSeq: NextSequence(h.BaseSequence, h.LastOffsetDelta),
			baseOffset: h.BaseOffset, lastOffsetDelta: h.LastOffsetDelta,
		}, now.UnixMilli())
	}
	w := &Position{
		offset:               h.NextOffset(),
		seg:                  s,
		pos:                  s.size.Load(),
		maxTimestamp:         s.maxTimestamp.Load(),
		offsetOfMaxTimestamp: s.offsetOfMaxTimestamp,
		bytesSinceIndex:      s.bytesSinceIndex,
		offsetEntries:        int32(s.offsets().count()),
		timeEntries:          int32(s.times().count()),
		truncations:          p.truncations.Load(),
	}
	p.written.Store(w)
	if p.cfg.Replicated {
		p.recent.add(w)
	}
	return w, nil
}

// acknowledge waits, under SyncAlways and unless o.NoWait, until
// everything below target is durable.
func (p *PartitionLog) Acknowledge(ctx context.Context, target int64, o AppendOptions) error {
	if !p.cfg.SyncAlways || o.NoWait {
		return nil
	}
	return p.SyncTo(ctx, target)
}

// acknowledge is Acknowledge for records below target that were appended
// (or found) when the partition had made truncations truncations: it
// fails with a *TruncatedError when a truncation since cut them before
// they became durable.
func (p *PartitionLog) acknowledge(ctx context.Context, target, truncations int64, o AppendOptions) error {
	if !p.cfg.SyncAlways || o.NoWait {
		return nil
	}
	return p.syncTo(ctx, target, truncations)
}

// writeFailedLocked classifies a failed data write. Running out of space
// leaves the partition usable (the partial batch was removed) and returns
// ErrDiskFull; anything else fails the partition. REQUIRES: p.mu.
func (p *PartitionLog) writeFailedLocked(err error) error {
	var werr *segmentWriteError
	if errors.As(err, &werr) && errors.Is(err, syscall.ENOSPC) && werr.clean {
		return fmt.Errorf("%w: append to %s-%d: %w", ErrDiskFull, p.cfg.Topic, p.cfg.Partition, err)
	}
	return p.failLocked("write", err)
}

// failLocked puts the partition into its failed state. REQUIRES: p.mu.
func (p *PartitionLog) failLocked(op string, err error) error {
	if p.failed == nil {
		p.failed = &DurabilityError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Op: op, Err: err}
		p.cfg.Logger.Error("partition failed", "topic", p.cfg.Topic, "partition", p.cfg.Partition, "op", op, "err", err)
	}
	return p.failed
}

func (p *PartitionLog) fail(op string, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failLocked(op, err)
}

// maybeRollLocked rolls the active segment if the incoming batch would
// overflow it or its indexes, or the segment has reached its age. An empty
// segment never rolls. REQUIRES: p.mu.
func (p *PartitionLog) maybeRollLocked(batchLen int, h *record.Header, end int64, now time.Time) error {
	s := p.active
	size := s.size.Load()
	if size == 0 {
		return nil
	}
	var reason RollReason
	switch {
	case p.agedLocked(now):
		reason = RollAge
	case s.indexFull() || end+int64(h.LastOffsetDelta)-s.base > math.MaxInt32:
		reason = RollIndex
	case size+int64(batchLen) > p.cfg.SegmentBytes:
		reason = RollSize
	default:
		return nil
	}
	return p.rollLocked(end, reason)
}

// agedLocked reports whether the active segment is older than SegmentAge.
func (p *PartitionLog) agedLocked(now time.Time) bool {
	s := p.active
	age := p.rollAge()
	return age > 0 && s.size.Load() > 0 && now.Sub(s.created) >= age
}

// rollAge is the age at which the active segment rolls: SegmentAge, or a
// compacted topic's MaxCompactionLag when that is shorter, since only
// sealed segments are compacted (Kafka does the same). 0 or less: never.
func (p *PartitionLog) rollAge() time.Duration {
	age := p.cfg.SegmentAge
	if lag := p.cfg.MaxCompactionLag; p.cfg.Compacted && lag > 0 && (age <= 0 || lag < age) {
		age = lag
	}
	return age
}

// rollLocked seals the active segment and starts a new one at base. Under
// SyncAlways the old segment's data is fsynced before the new segment is
// created, so that no crash can leave a sealed segment short of the next
// one's start, and recovery treats any damage in a sealed segment as
// corruption (the checkpoint says so: checkpointRollsSynced); the fsync
// rounds have written nearly all of it already, so this costs one fsync
// of little. Under the other policies the roll does not wait for the
// disk: waiting for the writeback of a sealed segment halved SyncNever's
// throughput with 16 MiB segments (BenchmarkAppendRolls, 2,450 against
// 1,000 MB/s over 300 MB; 976 against 593 MB/s over 4 GB), and their
// acknowledgements promise nothing against power loss beyond the last
// fsync. A torn sealed segment above the recovery point is then cut by
// recovery like a torn tail. If the new segment cannot be created the
// active segment stays active and the error is returned (ErrDiskFull for
// lack of space). reason is what Events.Roll hears. REQUIRES: p.mu.
func (p *PartitionLog) rollLocked(base int64, reason RollReason) error {
	old := p.active
	if old.maxTimestamp.Load() >= 0 {
		// Room for the time index's final entry, which seal adds.
		if err := old.times().reserve(1); err != nil {
			return DiskFull(fmt.Errorf("roll %s-%d: %w", p.cfg.Topic, p.cfg.Partition, err))
		}
	}
	if _, err := old.trimPrepared(); err != nil {
		return p.failLocked("write", err)
	}
	if p.cfg.SyncAlways {
		if err := old.file.Sync(); err != nil {
			return p.failLocked("sync", err)
		}
	}
	ns, err := createSegment(p.sf, base)
	if err != nil {
		p.removeSegmentFiles(base)
		if vfs.IsNoSpace(err) {
			return fmt.Errorf("%w: roll %s-%d: %w", ErrDiskFull, p.cfg.Topic, p.cfg.Partition, err)
		}
		return fmt.Errorf("roll %s-%d: create segment %d: %w", p.cfg.Topic, p.cfg.Partition, base, err)
	}
	if err := old.seal(); err != nil {
		ns.release()
		p.removeSegmentFiles(base)
		return p.failLocked("seal", err)
	}
	p.needsSyncLocked(old)
	p.dirDirty = true
	p.active = ns
	old2 := *p.segments.Load()
	segs := make([]*segment, len(old2), len(old2)+1)
	copy(segs, old2)
	segs = append(segs, ns)
	p.segments.Store(&segs)
	// Logged and reported once the lock is released (unlock).
	p.rolls = append(p.rolls, RollEvent{Segment: base, Sealed: old.base, SealedBytes: old.size.Load(), Reason: reason})
	return nil
}

// removeSegmentFiles removes whatever files of segment base exist, for
// cleaning up after a failed create. Errors are ignored: recovery removes
// leftovers too.
func (p *PartitionLog) removeSegmentFiles(base int64) {
	for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		_ = p.cfg.FS.Remove(filepath.Join(p.sf.dir, SegmentName(base, suffix)))
	}
}

// publishHW moves the high watermark and wakes waiting readers. It
// reports whether anyone was waiting.
func (p *PartitionLog) publishHW(w *Position) bool {
	p.hw.Store(w)
	return p.notify()
}

// notify calls OnHighWatermark, if any.
func (p *PartitionLog) notify() bool {
	return p.cfg.OnHighWatermark != nil && p.cfg.OnHighWatermark()
}

// rollIfAged rolls the active segment if it has reached SegmentAge: the
// idle timer that Kafka lacks, so that a quiet partition still rolls.
func (p *PartitionLog) RollIfAged(now time.Time) error {
	if err := p.refuseReadOnly("RollIfAged"); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.unlock()
	if p.shutErr != nil || p.failed != nil || !p.agedLocked(now) {
		return nil
	}
	return p.rollIdleLocked(RollAge)
}

// close flushes, checkpoints and releases the partition's segments, as
// the Log closes.
//
// A read-only partition is released without either: it writes nothing.
func (p *PartitionLog) Close() error {
	err := p.shutdown(ErrClosed, !p.cfg.ReadOnly)
	p.waitCompaction()
	return err
}

// shut releases the partition without flushing, as its topic is deleted;
// later calls fail with reason.
func (p *PartitionLog) Shut(reason error) {
	p.shutdown(reason, false)
	p.waitCompaction()
}

// waitCompaction returns once no compaction pass runs on the partition: a
// pass stops at its next batch once the partition is shut, and removes
// its unfinished files.
func (p *PartitionLog) waitCompaction() {
	p.cleanMu.Lock()
	p.cleanMu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}

func (p *PartitionLog) shutdown(reason error, persist bool) error {
	p.syncSem <- struct{}{}
	defer p.releaseSync()
	p.mu.Lock()
	if p.shutErr != nil {
		p.mu.Unlock()
		return nil
	}
	p.shutErr = reason // no append starts after this; the flush below covers every one before it
	p.mu.Unlock()
	var errs []error
	if persist {
		// Trim the space prepared past the active segment's end before
		// the last fsync round, which makes the trim durable: a closed
		// directory holds exact-size files, as Kafka's does.
		p.mu.Lock()
		if p.failed == nil {
			if err := p.trimActiveLocked(); err != nil && !errors.Is(err, ErrDurability) {
				errs = append(errs, err)
			}
		}
		p.mu.Unlock()
		if err := p.checkpointHeld(); err != nil && !errors.Is(err, ErrDurability) {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	// Trim the active segment's preallocated indexes too.
	if persist && p.failed == nil {
		if err := p.active.offsets().trim(); err != nil {
			errs = append(errs, err)
		}
		if err := p.active.times().trim(); err != nil {
			errs = append(errs, err)
		}
	}
	p.released = true
	segs := *p.segments.Load()
	p.mu.Unlock()
	close(p.done)
	p.notify()
	for _, s := range segs {
		s.release()
	}
	return errors.Join(errs...)
}

// trimActiveLocked trims the space prepared past the active segment's
// end (see segment.prepare) and has the next fsync round sync it. A
// failure to write its staged batches fails the partition, as in a round.
// REQUIRES: p.mu.
func (p *PartitionLog) trimActiveLocked() error {
	s := p.active
	trimmed, err := s.trimPrepared()
	var werr *segmentWriteError
	if errors.As(err, &werr) {
		return p.failLocked("write", err)
	}
	if err != nil {
		return err
	}
	if trimmed {
		p.needsSyncLocked(s)
	}
	return nil
}

// needsSyncLocked puts s in the next fsync round, unless it is already
// there. REQUIRES: p.mu, or no appender yet (recovery).
func (p *PartitionLog) needsSyncLocked(s *segment) {
	if !s.dirty {
		s.dirty = true
		p.unsynced = append(p.unsynced, s)
	}
}
