package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Partition is one ordered, append-only sequence of records: Kafka's
// partition log. Offsets start at 0 and grow by one per record.
//
// All methods are safe for concurrent use. Appends are serialized by the
// partition; reads never wait for appends (they read an immutable snapshot
// of the segment list and the high watermark).
//
// Offsets: StartOffset <= HighWatermark <= EndOffset. Readers see records
// below the high watermark. Under SyncAlways the high watermark is the
// durable end (DurableOffset); under SyncInterval and SyncNever it is the
// end of what was written.
type Partition struct {
	topic *Topic
	id    int32
	dir   string
	log   *Log
	cfg   TopicConfig
	sf    segmentFiles

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

	segments atomic.Pointer[[]*segment] // immutable, ascending by base
	written  atomic.Pointer[position]   // end of what was written
	durable  atomic.Pointer[position]   // end of what was fsynced
	hw       atomic.Pointer[position]   // high watermark: what readers see
	start    atomic.Int64               // log start offset

	// lastRetention is when retention last looked at the partition (Unix
	// ms, 0: never) and retentionDeleted the segments it deleted.
	lastRetention, retentionDeleted atomic.Int64

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
	// partition_producers.go). REQUIRES: syncSem.
	snapThrough int64
	snapChanges uint64

	waitMu sync.Mutex
	waitCh chan struct{} // closed when the high watermark moves; nil when nobody waits
	// watchers are signalled (without blocking) whenever the high
	// watermark moves or the partition closes: consumers waiting on many
	// partitions at once. Copy-on-write under waitMu.
	watchers atomic.Pointer[[]chan<- struct{}]
	done     chan struct{} // closed by close
}

// position is a point in the partition: the offset after the last batch
// before it, and that batch's end in its segment. With it, readers bound
// reads by byte position, so a batch is either entirely visible or not at
// all. The remaining fields are the segment's append state at that point,
// which a checkpoint records so recovery can resume exactly there.
type position struct {
	offset               int64
	seg                  *segment
	pos                  int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
	offsetEntries        int
	timeEntries          int
}

type syncItem struct {
	seg     *segment
	indexes bool // also fsync the index files (after a seal)
}

// Topic returns the name of the partition's topic.
func (p *Partition) Topic() string { return p.topic.name }

// ID returns the partition number.
func (p *Partition) ID() int32 { return p.id }

// StartOffset returns the offset of the first record that can be read.
func (p *Partition) StartOffset() int64 { return p.start.Load() }

// HighWatermark returns the offset below which records are visible to
// readers.
func (p *Partition) HighWatermark() int64 { return p.hw.Load().offset }

// EndOffset returns the offset the next appended record will get.
func (p *Partition) EndOffset() int64 { return p.written.Load().offset }

// DurableOffset returns the offset below which every record is known to be
// on disk (fsynced).
func (p *Partition) DurableOffset() int64 { return p.durable.Load().offset }

// Append adds recs to the end of the partition as one batch: atomically
// (all or none become visible), with consecutive offsets. It returns once
// the batch is acknowledged under the Log's SyncPolicy.
//
// A zero Timestamp is set to the current time. Headers keys must be
// non-empty strings. The records are not retained after Append returns.
//
// Errors: ErrInvalidArgument (no records, timestamp before 1970),
// *RecordTooLargeError, ErrDiskFull, *DurabilityError, ErrClosed, or the
// context's error. If ctx ends while waiting for the fsync, the batch may
// still become durable: the outcome is unknown, as with any timeout.
func (p *Partition) Append(ctx context.Context, recs []Record) (AppendResult, error) {
	if err := p.topic.refuseWrites(); err != nil {
		return AppendResult{}, err
	}
	return p.appendRecords(ctx, -1, recs)
}

// AppendIf is Append with optimistic concurrency control: it appends only
// if the partition's end offset (EndOffset, the offset the next record
// gets) is expectedEnd, and otherwise returns a *ConflictError carrying
// the actual end, appending nothing. The check and the append are one
// step: no other append comes between them.
//
// The expected offset is the end of the whole partition, not of a key:
// any record appended to the partition after expectedEnd — of any key,
// by any writer, a Producer included — makes AppendIf conflict. Two
// patterns give event-sourced aggregates writers that never interleave:
//
//   - One aggregate's stream per partition. Read it to its end, decide,
//     and AppendIf at that end; a conflict is always another writer of
//     the same aggregate: read what it appended, decide again, retry.
//   - Aggregates sharing a partition. On a conflict, read the records
//     from your expected end to ConflictError.Actual (Read waits until
//     they are visible); apply those of your aggregate (by key); then
//     decide again if there were any, and retry at the new end. Records
//     of other aggregates cost a retry, never a wrong decision.
//
// The second pattern, with end the offset after the last record read:
//
//	for {
//		res, err := p.AppendIf(ctx, end, events)
//		var conflict *commitlog.ConflictError
//		if !errors.As(err, &conflict) {
//			return res, err
//		}
//		for end < conflict.Actual {
//			recs, err := p.Read(ctx, end, 1<<20)
//			if err != nil {
//				return res, err
//			}
//			for _, r := range recs {
//				if bytes.Equal(r.Key, aggregateID) {
//					apply(r) // and decide events afresh
//				}
//				end = r.Offset + 1
//			}
//		}
//	}
func (p *Partition) AppendIf(ctx context.Context, expectedEnd int64, recs []Record) (AppendResult, error) {
	if expectedEnd < 0 {
		return AppendResult{}, fmt.Errorf("%w: AppendIf: expected end offset %d is negative", ErrInvalidArgument, expectedEnd)
	}
	if err := p.topic.refuseWrites(); err != nil {
		return AppendResult{}, err
	}
	return p.appendRecords(ctx, expectedEnd, recs)
}

// batchBuilder is a pooled record.Builder with scratch space for headers.
type batchBuilder struct {
	b       record.Builder
	headers []record.RecordHeader
}

var builderPool = sync.Pool{New: func() any { return new(batchBuilder) }}

// appendRecords encodes recs as one batch and then writes it with one
// write, both on the caller's goroutine, and returns once it is written.
// Overlapping the two on another CPU was measured and not kept: writing
// the batch in pieces while encoding the rest costs more than it hides,
// as every further write call costs about 5 µs of its own (one 116 KB
// write took 51 µs, the same bytes in 2, 4 and 8 writes 56, 68 and 89 µs,
// on a 2-CPU virtual machine where encoding those 1,000 records took 34
// µs); and returning before the write, to encode the next batch during
// it, would acknowledge records that a process crash or a full disk can
// still lose.
func (p *Partition) appendRecords(ctx context.Context, expected int64, recs []Record) (AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return AppendResult{}, err
	}
	if len(recs) == 0 {
		return AppendResult{}, fmt.Errorf("%w: append to %s-%d: no records", ErrInvalidArgument, p.topic.name, p.id)
	}
	bb := builderPool.Get().(*batchBuilder)
	defer builderPool.Put(bb)
	batch, aside, err := p.build(bb, recs)
	if err != nil {
		return AppendResult{}, err
	}
	return p.appendBuilt(ctx, batch, aside, appendOptions{expected: expected})
}

// appendBuilt is appendBatch for a batch from build, whose CRC build may
// have left to a crcAside (aside). It returns once the CRC is computed,
// so that the caller may reuse the batch's buffer.
func (p *Partition) appendBuilt(ctx context.Context, batch []byte, aside bool, o appendOptions) (AppendResult, error) {
	if aside {
		o.crc = computeCRCAside(batch)
		defer o.crc.wait()
	}
	return p.appendBatch(ctx, batch, o)
}

// crcAsideBytes is the size from which appendRecords leaves a batch's CRC
// to another goroutine while the records are written (see crcAside).
const crcAsideBytes = 256 << 10

// crcAside is the CRC of a large batch, computed on a goroutine of its own
// while the segment writes the batch's records; the header, which holds
// the CRC, is written after them (segment.writeBatch). Computing the CRC
// of 1 MB takes about 47 µs, beside writing it in about 180 µs
// (reserved space, ext4, 2-CPU virtual machine): bench W2 (1,000 records
// of 1 KiB per append, SyncNever) went from 3,440-3,490 to 3,890-4,010
// MB/s in alternating runs. A smaller batch would pay a goroutine start
// and one more write call (about 5 µs) for less than that.
//
// The goroutine reads the bytes the CRC covers (from the attributes on),
// which nothing writes until wait returns: the append patches only the
// base offset and leader epoch before it, and then the CRC field.
type crcAside struct {
	done   chan uint32
	crc    uint32
	waited bool
}

// computeCRCAside starts computing batch's CRC.
func computeCRCAside(batch []byte) *crcAside {
	c := &crcAside{done: make(chan uint32, 1)}
	go func() { c.done <- record.ComputeCRC(batch) }()
	return c
}

// wait returns the CRC once computed. Every append that started one waits
// for it, whether or not it wrote the batch, so that the goroutine ends
// before the batch's buffer is reused. Not safe for concurrent use.
func (c *crcAside) wait() uint32 {
	if !c.waited {
		c.crc, c.waited = <-c.done, true
	}
	return c.crc
}

// build encodes recs as one batch with the topic's codec. The batch is
// owned by bb. aside says its CRC is left zero, for a crcAside: an
// uncompressed batch of at least crcAsideBytes whose timestamps the
// append does not rewrite.
func (p *Partition) build(bb *batchBuilder, recs []Record) (batch []byte, aside bool, err error) {
	bb.b.Reset(record.BuildOptions{
		Codec:         compress.Codec(p.cfg.Compression),
		Level:         p.cfg.CompressionLevel,
		ProducerID:    record.NoProducerID,
		ProducerEpoch: record.NoEpoch,
		BaseSequence:  record.NoSequence,
	})
	var now int64 = -1
	for i := range recs {
		r := &recs[i]
		var ts int64
		if r.Timestamp.IsZero() {
			if now < 0 {
				now = p.log.opts.now().UnixMilli()
			}
			ts = now
		} else if ms, bad := recordTimestamp(r.Timestamp); bad != "" {
			return nil, false, &TimestampError{Topic: p.topic.name, Partition: p.id, Index: i, Timestamp: r.Timestamp, Reason: bad}
		} else {
			ts = ms
		}
		if r.Key == nil && p.cfg.CleanupPolicy.compacted() {
			return nil, false, fmt.Errorf("%w: record %d for %s-%d has no key, and the topic is compacted (%v): every record needs a key",
				ErrInvalidArgument, i, p.topic.name, p.id, p.cfg.CleanupPolicy)
		}
		bb.headers = bb.headers[:0]
		for _, h := range r.Headers {
			if h.Key == "" {
				return nil, false, fmt.Errorf("%w: record %d for %s-%d: header key is empty", ErrInvalidArgument, i, p.topic.name, p.id)
			}
			// The builder only reads the key: no copy is needed.
			bb.headers = append(bb.headers, record.RecordHeader{Key: unsafe.Slice(unsafe.StringData(h.Key), len(h.Key)), Value: h.Value})
		}
		bb.b.Append(ts, r.Key, r.Value, bb.headers)
	}
	if bb.b.Size() > maxDecompressedBatch {
		// Readers cap decompression at this size; refuse what they could not read.
		return nil, false, &RecordTooLargeError{Topic: p.topic.name, Partition: p.id, Index: -1, Size: bb.b.Size(), Max: maxDecompressedBatch}
	}
	aside = bb.b.Size() >= crcAsideBytes && p.cfg.Compression == CodecNone && !p.cfg.LogAppendTime
	if aside {
		batch, err = bb.b.BuildWithoutCRC()
	} else {
		batch, err = bb.b.Build()
	}
	if err != nil {
		return nil, false, fmt.Errorf("encode batch for %s-%d: %w", p.topic.name, p.id, err)
	}
	if len(batch) > int(p.cfg.MaxBatchBytes) {
		return nil, false, p.tooLarge(recs, len(batch))
	}
	return batch, aside, nil
}

// tooLarge reports the first record that alone exceeds the limit, or the
// batch as a whole.
func (p *Partition) tooLarge(recs []Record, batchSize int) error {
	for i := range recs {
		r := &recs[i]
		var hdrs []record.RecordHeader
		for _, h := range r.Headers {
			hdrs = append(hdrs, record.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if n := record.HeaderSize + record.RecordSize(0, 0, r.Key, r.Value, hdrs); n > int(p.cfg.MaxBatchBytes) {
			return &RecordTooLargeError{Topic: p.topic.name, Partition: p.id, Index: i, Size: n, Max: int(p.cfg.MaxBatchBytes)}
		}
	}
	return &RecordTooLargeError{Topic: p.topic.name, Partition: p.id, Index: -1, Size: batchSize, Max: int(p.cfg.MaxBatchBytes)}
}

// appendOptions says how appendBatch treats a batch.
type appendOptions struct {
	// expected is the end offset AppendIf requires, or -1 for any.
	expected int64
	// noWait returns once the batch is written, without waiting for the
	// fsync SyncAlways acknowledges after; the caller calls syncTo.
	noWait bool
	// crc, when not nil, is the batch's CRC, computed aside while its
	// records are written; the batch's CRC field is zero until then.
	crc *crcAside
}

// appendBatch appends one encoded batch (base offset 0, as built) and waits
// for it to be acknowledged. The batch bytes are modified in place (base
// offset and leader epoch, outside the CRC; under LogAppendTime the
// timestamp, with the CRC recomputed) and not retained.
//
// A batch of an idempotent producer (producer id >= 0) is checked against
// the partition's producer state first: a duplicate of one of the
// producer's last batches appends nothing and returns the original
// offsets; a gap or an older epoch returns a *SequenceError.
func (p *Partition) appendBatch(ctx context.Context, batch []byte, o appendOptions) (AppendResult, error) {
	h, err := record.ParseHeader(batch, len(batch))
	if err != nil {
		return AppendResult{}, fmt.Errorf("%w: append to %s-%d: %w", ErrInvalidArgument, p.topic.name, p.id, err)
	}
	if len(batch) > int(p.cfg.MaxBatchBytes) {
		return AppendResult{}, &RecordTooLargeError{Topic: p.topic.name, Partition: p.id, Index: -1, Size: len(batch), Max: int(p.cfg.MaxBatchBytes)}
	}
	idempotent := h.ProducerID >= 0
	var lastSeq int32
	if idempotent {
		if h.BaseSequence < 0 || h.ProducerEpoch < 0 {
			return AppendResult{}, fmt.Errorf("%w: append to %s-%d: batch of producer %d has epoch %d and base sequence %d; both must be >= 0",
				ErrInvalidArgument, p.topic.name, p.id, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		lastSeq = nextSequence(h.BaseSequence, h.LastOffsetDelta)
	}
	now := p.log.opts.now()

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
	end := p.written.Load().offset
	if o.expected >= 0 && o.expected != end {
		p.mu.Unlock()
		return AppendResult{}, &ConflictError{Topic: p.topic.name, Partition: p.id, Expected: o.expected, Actual: end}
	}
	if idempotent {
		dup, isDup, err := p.producers.check(h.ProducerID, h.ProducerEpoch, h.BaseSequence, lastSeq)
		if err != nil {
			p.mu.Unlock()
			var serr *SequenceError
			if errors.As(err, &serr) {
				serr.Topic, serr.Partition = p.topic.name, p.id
			}
			return AppendResult{}, err
		}
		if isDup {
			p.mu.Unlock()
			res := AppendResult{BaseOffset: dup.baseOffset, LastOffset: dup.lastOffset()}
			return res, p.acknowledge(ctx, res.LastOffset+1, o)
		}
	}
	if err := p.maybeRollLocked(len(batch), &h, end, now); err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	record.SetBaseOffset(batch, end)
	record.SetPartitionLeaderEpoch(batch, 0)
	if p.cfg.LogAppendTime {
		record.SetLogAppendTime(batch, now.UnixMilli())
		h.MaxTimestamp = now.UnixMilli()
		h.Attributes |= record.AttrLogAppendTime
	}
	h.BaseOffset = end
	s := p.active
	wasDirty := s.dirty
	if err := s.append(batch, &h, int64(p.cfg.IndexIntervalBytes), now, p.log.opts.Sync == SyncAlways, o.crc); err != nil {
		err = p.writeFailedLocked(err)
		p.mu.Unlock()
		return AppendResult{}, err
	}
	if !wasDirty {
		p.unsynced = append(p.unsynced, s)
	}
	if idempotent {
		p.producers.update(h.ProducerID, h.ProducerEpoch, producerBatch{
			firstSeq: h.BaseSequence, lastSeq: lastSeq, baseOffset: end, lastOffsetDelta: h.LastOffsetDelta,
		}, now.UnixMilli())
	}
	w := &position{
		offset:               h.NextOffset(),
		seg:                  s,
		pos:                  s.size.Load(),
		maxTimestamp:         s.maxTimestamp.Load(),
		offsetOfMaxTimestamp: s.offsetOfMaxTimestamp,
		bytesSinceIndex:      s.bytesSinceIndex,
		offsetEntries:        s.offsets().count(),
		timeEntries:          s.times().count(),
	}
	p.written.Store(w)
	woke := p.log.opts.Sync != SyncAlways && p.publishHW(w)
	p.mu.Unlock()
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
	return res, p.acknowledge(ctx, w.offset, o)
}

// acknowledge waits, under SyncAlways and unless o.noWait, until
// everything below target is durable.
func (p *Partition) acknowledge(ctx context.Context, target int64, o appendOptions) error {
	if p.log.opts.Sync != SyncAlways || o.noWait {
		return nil
	}
	return p.syncTo(ctx, target)
}

// writeFailedLocked classifies a failed data write. Running out of space
// leaves the partition usable (the partial batch was removed) and returns
// ErrDiskFull; anything else fails the partition. REQUIRES: p.mu.
func (p *Partition) writeFailedLocked(err error) error {
	var werr *segmentWriteError
	if errors.As(err, &werr) && errors.Is(err, syscall.ENOSPC) && werr.clean {
		return fmt.Errorf("%w: append to %s-%d: %w", ErrDiskFull, p.topic.name, p.id, err)
	}
	return p.failLocked("write", err)
}

// failLocked puts the partition into its failed state. REQUIRES: p.mu.
func (p *Partition) failLocked(op string, err error) error {
	if p.failed == nil {
		p.failed = &DurabilityError{Topic: p.topic.name, Partition: p.id, Op: op, Err: err}
		p.log.opts.Logger.Error("partition failed", "topic", p.topic.name, "partition", p.id, "op", op, "err", err)
	}
	return p.failed
}

func (p *Partition) fail(op string, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failLocked(op, err)
}

// maybeRollLocked rolls the active segment if the incoming batch would
// overflow it or its indexes, or the segment has reached its age. An empty
// segment never rolls. REQUIRES: p.mu.
func (p *Partition) maybeRollLocked(batchLen int, h *record.Header, end int64, now time.Time) error {
	s := p.active
	size := s.size.Load()
	if size == 0 {
		return nil
	}
	if size+int64(batchLen) <= p.cfg.SegmentBytes && !s.indexFull() &&
		end+int64(h.LastOffsetDelta)-s.base <= math.MaxInt32 && !p.agedLocked(now) {
		return nil
	}
	return p.rollLocked(end)
}

// agedLocked reports whether the active segment is older than SegmentAge.
func (p *Partition) agedLocked(now time.Time) bool {
	s := p.active
	age := p.rollAge()
	return age > 0 && s.size.Load() > 0 && now.Sub(s.created) >= age
}

// rollAge is the age at which the active segment rolls: SegmentAge, or a
// compacted topic's MaxCompactionLag when that is shorter, since only
// sealed segments are compacted (Kafka does the same). 0 or less: never.
func (p *Partition) rollAge() time.Duration {
	age := p.cfg.SegmentAge
	if lag := p.cfg.MaxCompactionLag; p.cfg.CleanupPolicy.compacted() && lag > 0 && (age <= 0 || lag < age) {
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
// lack of space). REQUIRES: p.mu.
func (p *Partition) rollLocked(base int64) error {
	old := p.active
	if old.maxTimestamp.Load() >= 0 {
		// Room for the time index's final entry, which seal adds.
		if err := old.times().reserve(1); err != nil {
			return diskFull(fmt.Errorf("roll %s-%d: %w", p.topic.name, p.id, err))
		}
	}
	if _, err := old.trimPrepared(); err != nil {
		return p.failLocked("write", err)
	}
	if p.log.opts.Sync == SyncAlways {
		if err := old.file.Sync(); err != nil {
			return p.failLocked("sync", err)
		}
	}
	ns, err := createSegment(p.sf, base)
	if err != nil {
		p.removeSegmentFiles(base)
		if vfs.IsNoSpace(err) {
			return fmt.Errorf("%w: roll %s-%d: %w", ErrDiskFull, p.topic.name, p.id, err)
		}
		return fmt.Errorf("roll %s-%d: create segment %d: %w", p.topic.name, p.id, base, err)
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
	return nil
}

// removeSegmentFiles removes whatever files of segment base exist, for
// cleaning up after a failed create. Errors are ignored: recovery removes
// leftovers too.
func (p *Partition) removeSegmentFiles(base int64) {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		_ = p.log.fs.Remove(filepath.Join(p.sf.dir, segmentName(base, suffix)))
	}
}

// syncTo returns once everything below offset target is fsynced, running
// fsync rounds as needed (group commit). One appender at a time leads a
// round; the others wait for it to end, all released at once, and those
// it did not cover lead or join the next.
func (p *Partition) syncTo(ctx context.Context, target int64) error {
	p.inSync.Add(1)
	defer p.inSync.Add(-1)
	for {
		if p.durable.Load().offset >= target {
			return nil
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
func (p *Partition) leadRound(ctx context.Context, target int64) error {
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.syncSem }()
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
func (p *Partition) flushHeld() error {
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

	for _, it := range items {
		if err := it.seg.file.Sync(); err != nil {
			return p.fail("sync", err)
		}
		if it.indexes {
			if err := it.seg.syncIndexes(); err != nil {
				return p.fail("sync index", err)
			}
		}
	}
	if dir {
		if err := p.log.fs.SyncDir(p.dir); err != nil {
			return p.fail("sync directory", err)
		}
	}
	clear(items)
	if w.offset > p.durable.Load().offset || len(items) > 0 {
		p.durable.Store(w)
		if p.log.opts.Sync == SyncAlways && p.publishHW(w) {
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
	return nil
}

// withSyncSem runs fn holding syncSem, or returns the context's error if
// it ends first (or has ended: nothing is done then).
func (p *Partition) withSyncSem(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.syncSem }()
	return fn()
}

// flush makes everything written so far durable.
func (p *Partition) flush(ctx context.Context) error { return p.withSyncSem(ctx, p.flushHeld) }

// checkpoint flushes and records the durable end as the recovery point, if
// it moved since the last checkpoint. The index files of the active segment
// are fsynced first, so that recovery can trust entries below the point.
func (p *Partition) checkpoint(ctx context.Context) error {
	return p.withSyncSem(ctx, p.checkpointHeld)
}

// checkpointHeld is checkpoint for a caller holding syncSem.
func (p *Partition) checkpointHeld() error {
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
	if p.log.opts.Sync == SyncAlways {
		cp.flags = checkpointRollsSynced // see rollLocked
	}
	p.mu.Lock()
	cp.activeBase = p.active.base
	if !p.active.created.IsZero() {
		cp.activeCreated = p.active.created.UnixMilli()
	}
	p.mu.Unlock()
	if cp == p.checkpointed && p.snapThrough >= 0 {
		return nil
	}
	if err := d.seg.syncIndexes(); err != nil {
		return p.fail("sync index", err)
	}
	if err := p.persistProducers(producers); err != nil {
		// Like a checkpoint, a snapshot only shortens the next Open: the
		// previous one stays valid.
		return fmt.Errorf("producer state snapshot %s-%d: %w", p.topic.name, p.id, err)
	}
	if err := writeCheckpoint(p.log.fs, p.dir, cp); err != nil {
		// A checkpoint is an optimisation: failing to write one leaves the
		// previous one, which is still true. The data is unaffected.
		return fmt.Errorf("checkpoint %s-%d: %w", p.topic.name, p.id, err)
	}
	p.checkpointed = cp
	return nil
}

// publishHW moves the high watermark and wakes waiting readers. It
// reports whether anyone was waiting.
func (p *Partition) publishHW(w *position) bool {
	p.hw.Store(w)
	return p.wakeAll()
}

// watch makes the partition signal ch, without blocking, whenever its
// high watermark moves or it closes. ch should have a buffer of one.
func (p *Partition) watch(ch chan<- struct{}) {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	var ws []chan<- struct{}
	if old := p.watchers.Load(); old != nil {
		ws = slices.Clone(*old)
	}
	ws = append(ws, ch)
	p.watchers.Store(&ws)
}

// unwatch undoes one watch(ch).
func (p *Partition) unwatch(ch chan<- struct{}) {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	old := p.watchers.Load()
	if old == nil {
		return
	}
	if i := slices.Index(*old, ch); i >= 0 {
		ws := slices.Delete(slices.Clone(*old), i, i+1)
		p.watchers.Store(&ws)
	}
}

// hwChanged returns a channel closed at the next move of the high
// watermark. Take it before reading the high watermark, so no move is
// missed.
func (p *Partition) hwChanged() <-chan struct{} {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if p.waitCh == nil {
		p.waitCh = make(chan struct{})
	}
	return p.waitCh
}

// rollIfAged rolls the active segment if it has reached SegmentAge: the
// idle timer that Kafka lacks, so that a quiet partition still rolls.
func (p *Partition) rollIfAged(now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutErr != nil || p.failed != nil || !p.agedLocked(now) {
		return nil
	}
	return p.rollIdleLocked()
}

// close flushes, checkpoints and releases the partition's segments, as
// the Log closes.
func (p *Partition) close() error {
	err := p.shutdown(ErrClosed, true)
	p.waitCompaction()
	return err
}

// shut releases the partition without flushing, as its topic is deleted;
// later calls fail with reason.
func (p *Partition) shut(reason error) {
	p.shutdown(reason, false)
	p.waitCompaction()
}

// waitCompaction returns once no compaction pass runs on the partition: a
// pass stops at its next batch once the partition is shut, and removes
// its unfinished files.
func (p *Partition) waitCompaction() {
	p.cleanMu.Lock()
	p.cleanMu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}

func (p *Partition) shutdown(reason error, persist bool) error {
	p.syncSem <- struct{}{}
	defer func() { <-p.syncSem }()
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
	p.wakeAll()
	for _, s := range segs {
		s.release()
	}
	return errors.Join(errs...)
}

// trimActiveLocked trims the space prepared past the active segment's
// end (see segment.prepare) and has the next fsync round sync it. A
// failure to write its staged batches fails the partition, as in a round.
// REQUIRES: p.mu.
func (p *Partition) trimActiveLocked() error {
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
func (p *Partition) needsSyncLocked(s *segment) {
	if !s.dirty {
		s.dirty = true
		p.unsynced = append(p.unsynced, s)
	}
}

// wakeAll wakes every waiting reader and watcher, and reports whether
// there were any.
func (p *Partition) wakeAll() bool {
	p.waitMu.Lock()
	woke := p.waitCh != nil
	if woke {
		close(p.waitCh)
		p.waitCh = nil
	}
	p.waitMu.Unlock()
	if ws := p.watchers.Load(); ws != nil {
		for _, ch := range *ws {
			select {
			case ch <- struct{}{}:
				woke = true
			default:
			}
		}
	}
	return woke
}

// segmentWriteError is a failed data write; clean reports that nothing of
// the batch remains in the file.
type segmentWriteError struct {
	err   error
	clean bool
}

func (e *segmentWriteError) Error() string { return e.err.Error() }
func (e *segmentWriteError) Unwrap() error { return e.err }
