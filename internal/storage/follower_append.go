package storage

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"github.com/commitlog-go/commitlog/internal/record"
)

// AppendAsFollower appends batches, one or more whole RecordBatch v2
// batches back to back whose offsets a leader assigned, as they are:
// nothing in them is stamped or changed (Kafka's appendAsFollower,
// reference §8.2.3). The result holds the first batch's base offset and
// the last batch's last offset. batches is not modified nor retained.
//
// Every batch is checked before anything is appended, and any failure
// appends nothing: a batch that does not parse, or fails its CRC (end to
// end), is a *CorruptionError naming its offset and the leader; a batch
// cut short or with a negative leader epoch is ErrInvalidArgument; one
// over MaxBatchBytes a *RecordTooLargeError; a first batch that does not
// start at the end offset, or a batch that does not start where the one
// before it ends, an *UnexpectedOffsetError (ErrUnexpectedOffset); a
// leader epoch older than the epoch of the partition's last batch, or
// than the batch before it, an *EpochError. o.Expected is checked as
// AppendBatch does (a *ConflictError); o.LeaderEpoch and o.CRC are
// ignored.
//
// Each batch is written as AppendBatch writes one (rolling segments as
// needed; its largest timestamp feeds the time index); a batch whose
// leader epoch is new is recorded in the epoch cache, whose file is
// written first. The batches of idempotent producers update the
// producers' state without a sequence check: the leader checked them
// (Kafka's replication origin). A write that fails after some batches
// leaves those appended (EndOffset says how far) and returns the error:
// ErrDiskFull for lack of space, else a *DurabilityError.
//
// Under SyncAlways it returns once the batches are durable, unless
// o.NoWait (the caller then calls SyncTo). The high watermark of a
// Replicated log moves only as SetHighWatermark allows.
func (p *PartitionLog) AppendAsFollower(ctx context.Context, batches []byte, o AppendOptions) (AppendResult, error) {
	if err := p.refuseReadOnly("AppendAsFollower"); err != nil {
		return AppendResult{}, err
	}
	hs, err := p.checkLeaderBatches(batches)
	if err != nil {
		return AppendResult{}, err
	}
	now := p.cfg.Now()

	p.mu.Lock()
	if err := p.refuseLocked(); err != nil {
		p.mu.Unlock()
		return AppendResult{}, err
	}
	end := p.written.Load().offset
	if o.Expected >= 0 && o.Expected != end {
		p.mu.Unlock()
		return AppendResult{}, &ConflictError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Expected: o.Expected, Actual: end}
	}
	if base := hs[0].BaseOffset; base != end {
		p.mu.Unlock()
		return AppendResult{}, &UnexpectedOffsetError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Expected: end, Actual: base}
	}
	if last := p.epochs.epochBefore(end); hs[0].PartitionLeaderEpoch < last {
		p.mu.Unlock()
		return AppendResult{}, &EpochError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Op: "AppendAsFollower", Epoch: hs[0].PartitionLeaderEpoch, Latest: last}
	}
	var w *Position
	pos := 0
	for i := range hs {
		h := &hs[i]
		next, err := p.appendLocked(batches[pos:pos+h.Size()], h, now, nil)
		if err != nil {
			if w != nil && !p.cfg.SyncAlways {
				p.publishLocalEndLocked(w)
			}
			p.unlock()
			if w != nil {
				p.reportFollowerAppend(hs[:i], pos)
			}
			return AppendResult{}, err
		}
		w = next
		pos += h.Size()
	}
	woke := !p.cfg.SyncAlways && p.publishLocalEndLocked(w)
	p.unlock()
	p.reportFollowerAppend(hs, pos)
	if woke {
		runtime.Gosched() // as AppendBatch does
	}
	res := AppendResult{BaseOffset: hs[0].BaseOffset, LastOffset: hs[len(hs)-1].LastOffset()}
	return res, p.acknowledge(ctx, w.offset, w.truncations, o)
}

// reportFollowerAppend reports to Events.Append the batches hs, of size
// bytes in all, that AppendAsFollower wrote.
func (p *PartitionLog) reportFollowerAppend(hs []record.Header, size int) {
	f := p.cfg.Events.Append
	if f == nil {
		return
	}
	ev := AppendEvent{BaseOffset: hs[0].BaseOffset, LastOffset: hs[len(hs)-1].LastOffset(), Batches: len(hs), Bytes: size, Follower: true}
	for i := range hs {
		ev.Records += int(hs[i].RecordCount)
	}
	f(ev)
}

// publishLocalEndLocked moves the high watermark after the written end
// moved to w, as AppendBatch does: to w, or on a Replicated log as far as
// the limit allows. It reports whether a reader was woken. REQUIRES: p.mu.
func (p *PartitionLog) publishLocalEndLocked(w *Position) bool {
	if p.cfg.Replicated {
		return p.followLimitLocked(w)
	}
	return p.publishHW(w)
}

// checkLeaderBatches parses and checks the batches given to
// AppendAsFollower, returning their headers; see there for the errors.
func (p *PartitionLog) checkLeaderBatches(batches []byte) ([]record.Header, error) {
	if len(batches) == 0 {
		return nil, fmt.Errorf("%w: AppendAsFollower on %s-%d: no batches", ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition)
	}
	corrupt := func(pos int, offset int64, reason string, err error) error {
		return &CorruptionError{Path: p.dir, FilePosition: int64(pos), Offset: offset,
			Reason: fmt.Sprintf("%s (a batch from the leader, at byte %d of those given to AppendAsFollower)", reason, pos), Err: err,
			Remedy: "nothing was appended; fetch the batches again from the leader"}
	}
	var hs []record.Header
	for pos := 0; pos < len(batches); {
		rest := batches[pos:]
		if len(rest) < record.HeaderSize {
			return nil, fmt.Errorf("%w: AppendAsFollower on %s-%d: %d bytes after batch %d, less than a batch header",
				ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, len(rest), len(hs))
		}
		h, err := record.ParseHeader(rest, math.MaxInt32)
		if err != nil {
			return nil, corrupt(pos, h.BaseOffset, "batch header", err)
		}
		if h.Size() > len(rest) {
			return nil, fmt.Errorf("%w: AppendAsFollower on %s-%d: batch %d at offset %d is cut short: %d of its %d bytes given",
				ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, len(hs), h.BaseOffset, len(rest), h.Size())
		}
		if h.Size() > int(p.cfg.MaxBatchBytes) {
			return nil, &RecordTooLargeError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Index: -1, Size: h.Size(), Max: int(p.cfg.MaxBatchBytes)}
		}
		if err := record.CheckCRC(rest[:h.Size()]); err != nil {
			return nil, corrupt(pos, h.BaseOffset, "batch fails its CRC", err)
		}
		if h.PartitionLeaderEpoch < 0 {
			return nil, fmt.Errorf("%w: AppendAsFollower on %s-%d: batch at offset %d has no leader epoch (%d)",
				ErrInvalidArgument, p.cfg.Topic, p.cfg.Partition, h.BaseOffset, h.PartitionLeaderEpoch)
		}
		if n := len(hs); n > 0 {
			prev := &hs[n-1]
			if h.BaseOffset != prev.NextOffset() {
				return nil, &UnexpectedOffsetError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Index: n, Expected: prev.NextOffset(), Actual: h.BaseOffset}
			}
			if h.PartitionLeaderEpoch < prev.PartitionLeaderEpoch {
				return nil, &EpochError{Topic: p.cfg.Topic, Partition: p.cfg.Partition, Op: "AppendAsFollower", Epoch: h.PartitionLeaderEpoch, Latest: prev.PartitionLeaderEpoch}
			}
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	return hs, nil
}
