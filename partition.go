package commitlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
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
	log   *Log
	cfg   TopicConfig
	// store is the partition's log on disk: segments, appends, fsync
	// rounds, recovery, retention and compaction.
	store *storage.PartitionLog
	// repl is the partition's replica on a replicated Log (see
	// replica_partition.go); nil on a single-node Log.
	repl *replicaPartition

	waitMu sync.Mutex
	waitCh chan struct{} // closed when the high watermark moves; nil when nobody waits
	// watchers are signalled (without blocking) whenever the high
	// watermark moves or the partition closes: consumers waiting on many
	// partitions at once. Copy-on-write under waitMu.
	watchers atomic.Pointer[[]chan<- struct{}]
}

// Topic returns the name of the partition's topic.
func (p *Partition) Topic() string { return p.topic.name }

// ID returns the partition number.
func (p *Partition) ID() int32 { return p.id }

// StartOffset returns the offset of the first record that can be read.
func (p *Partition) StartOffset() int64 { return p.store.StartOffset() }

// HighWatermark returns the offset below which records are visible to
// readers.
func (p *Partition) HighWatermark() int64 { return p.store.HighWatermark() }

// EndOffset returns the offset the next appended record will get.
func (p *Partition) EndOffset() int64 { return p.store.EndOffset() }

// DurableOffset returns the offset below which every record is known to be
// on disk (fsynced).
func (p *Partition) DurableOffset() int64 { return p.store.DurableOffset() }

// Append adds recs to the end of the partition as one batch: atomically
// (all or none become visible), with consecutive offsets. It returns once
// the batch is acknowledged under the Log's SyncPolicy.
//
// A zero Timestamp is set to the current time. Header keys must be
// non-empty strings, and on a compacted topic every record needs a key.
// The records are not retained after Append returns.
//
// Errors: ErrInvalidArgument (no records, an empty header key, a keyless
// record on a compacted topic, an internal topic), *TimestampError (a
// timestamp before 1970 or past the year 292,278,994; it matches
// ErrInvalidArgument), *RecordTooLargeError, ErrDiskFull,
// *DurabilityError, ErrClosed, or the context's error. If ctx ends while waiting for the fsync, the batch may
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
	return p.appendBuilt(ctx, batch, aside, appendOptions{Expected: expected}, AckAll)
}

// appendBuilt is appendBatch for a batch from build, whose CRC build may
// have left to a crcAside (aside). It returns once the CRC is computed,
// so that the caller may reuse the batch's buffer.
func (p *Partition) appendBuilt(ctx context.Context, batch []byte, aside bool, o appendOptions, acks Acks) (AppendResult, error) {
	if aside {
		o.CRC = storage.ComputeCRCAside(batch)
		defer o.CRC.Wait()
	}
	return p.appendBatchAcks(ctx, batch, o, acks)
}

// build encodes recs as one batch with the topic's codec. The batch is
// owned by bb. aside says its CRC is left zero, for a crcAside: an
// uncompressed batch of at least storage.CRCAsideBytes whose timestamps the
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
	if bb.b.Size() > storage.MaxDecompressedBatch {
		// Readers cap decompression at this size; refuse what they could not read.
		return nil, false, &RecordTooLargeError{Topic: p.topic.name, Partition: p.id, Index: -1, Size: bb.b.Size(), Max: storage.MaxDecompressedBatch, Decoded: true}
	}
	aside = bb.b.Size() >= storage.CRCAsideBytes && p.cfg.Compression == CodecNone && !p.cfg.LogAppendTime
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

// appendOptions says how appendBatch treats a batch (storage.AppendOptions).
type appendOptions = storage.AppendOptions

// appendBatch appends one encoded batch and waits for it to be
// acknowledged; see storage.PartitionLog.AppendBatch. On a replicated Log
// acks says what acknowledges it (replicaPartition.append); on a
// single-node Log there is no replica to wait for, and AckAll and
// AckLeader both wait for the Log's SyncPolicy.
func (p *Partition) appendBatch(ctx context.Context, batch []byte, o appendOptions) (AppendResult, error) {
	return p.appendBatchAcks(ctx, batch, o, AckAll)
}

// appendBatchAcks is appendBatch acknowledged under acks.
func (p *Partition) appendBatchAcks(ctx context.Context, batch []byte, o appendOptions, acks Acks) (AppendResult, error) {
	if p.log.opts.ReadOnly {
		return AppendResult{}, p.log.refuseReadOnly(fmt.Sprintf("append to %s-%d", p.topic.name, p.id))
	}
	if p.repl != nil {
		return p.repl.append(ctx, batch, o, acks)
	}
	return p.store.AppendBatch(ctx, batch, o)
}

// acknowledge waits, under SyncAlways and unless o.NoWait, until
// everything below target is durable.
func (p *Partition) acknowledge(ctx context.Context, target int64, o appendOptions) error {
	return p.store.Acknowledge(ctx, target, o)
}

// acknowledgeAt waits until everything below target, appended at leader
// epoch epoch, is acknowledged as AckAll acknowledges it: durable here
// under SyncAlways, and on a replicated partition committed (below the
// high watermark; a *NotLeaderError once the leadership of epoch ends).
func (p *Partition) acknowledgeAt(ctx context.Context, target int64, epoch int32) error {
	if p.repl != nil {
		return p.repl.awaitCommitted(ctx, target, epoch)
	}
	return p.store.Acknowledge(ctx, target, appendOptions{})
}

// syncTo returns once everything below offset target is fsynced.
func (p *Partition) syncTo(ctx context.Context, target int64) error {
	return p.store.SyncTo(ctx, target)
}

// close flushes, checkpoints and releases the partition's segments, as
// the Log closes.
func (p *Partition) close() error { return p.store.Close() }

// shut releases the partition without flushing, as its topic is deleted;
// later calls fail with reason.
func (p *Partition) shut(reason error) { p.store.Shut(reason) }

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
