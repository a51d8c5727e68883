package storage

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Appends get consecutive offsets, returned to the caller, and read back
// as written.
func TestAppendAssignsConsecutiveOffsets(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	want := int64(0)
	for n := 1; n <= 4; n++ {
		rs := make([]kv, n)
		for i := range rs {
			rs[i] = rec("k", "v")
		}
		res := mustAppend(t, p, plainBatch(t, 1_700_000_000_000, rs...))
		require.Equal(t, want, res.BaseOffset)
		require.Equal(t, want+int64(n)-1, res.LastOffset)
		want += int64(n)
		require.Equal(t, want, p.EndOffset())
	}
	require.Equal(t, span(0, want), readOffsets(t, p, 0))
}

// AppendIf with the wrong expected end refuses the batch with a
// *ConflictError carrying the actual end and appends nothing; with the
// right one it appends.
func TestAppendExpectedEndConflicts(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))

	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: 5})
	var cerr *ConflictError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrConflict)
	require.Equal(t, int64(5), cerr.Expected)
	require.Equal(t, int64(2), cerr.Actual)
	require.Equal(t, int64(2), p.EndOffset(), "nothing appended")

	res, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: 2})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.BaseOffset)
	require.Equal(t, span(0, 3), readOffsets(t, p, 0))
}

// A retried batch of an idempotent producer returns the original offsets
// and appends nothing; a sequence gap and an older epoch are refused.
func TestAppendIdempotentProducer(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	first := mustAppend(t, p, idempotentBatch(t, 7, 1, 0, 3))
	mustAppend(t, p, plainBatch(t, 1, rec("x", "y")))
	second := mustAppend(t, p, idempotentBatch(t, 7, 1, 3, 2))
	require.Equal(t, int64(4), second.BaseOffset)
	end := p.EndOffset()

	dup, err := p.AppendBatch(ctx, idempotentBatch(t, 7, 1, 0, 3), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, first.BaseOffset, dup.BaseOffset)
	require.Equal(t, first.LastOffset, dup.LastOffset)
	require.Equal(t, end, p.EndOffset(), "a duplicate appends nothing")

	_, err = p.AppendBatch(ctx, idempotentBatch(t, 7, 1, 9, 1), AppendOptions{Expected: -1})
	var serr *SequenceError
	require.ErrorAs(t, err, &serr)
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
	require.NotErrorIs(t, err, ErrProducerFenced)
	require.Equal(t, int32(5), serr.Expected)
	require.Equal(t, int32(9), serr.FirstSeq)
	require.Equal(t, "t", serr.Topic)

	_, err = p.AppendBatch(ctx, idempotentBatch(t, 7, 0, 5, 1), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrProducerFenced)
	require.ErrorAs(t, err, &serr)
	require.Equal(t, int16(1), serr.LastEpoch)

	require.Equal(t, end, p.EndOffset(), "refused batches append nothing")
	require.Equal(t, int64(8), p.ProducerIDFloor(0, math.MaxInt64))

	// A new epoch starts its sequences at 0.
	res := mustAppend(t, p, idempotentBatch(t, 7, 2, 0, 1))
	require.Equal(t, end, res.BaseOffset)
}

// A batch above MaxBatchBytes is refused whole; a malformed one is an
// invalid argument.
func TestAppendRefusesOversizeAndMalformedBatches(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	big := plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 5000)})
	_, err := p.AppendBatch(ctx, big, AppendOptions{Expected: -1})
	var terr *RecordTooLargeError
	require.ErrorAs(t, err, &terr)
	require.ErrorIs(t, err, ErrRecordTooLarge)
	require.Equal(t, len(big), terr.Size)
	require.Equal(t, 4096, terr.Max)

	_, err = p.AppendBatch(ctx, []byte("not a batch"), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Zero(t, p.EndOffset())
}

// Under LogAppendTime the log stamps each batch with its clock.
func TestAppendStampsLogAppendTime(t *testing.T) {
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.LogAppendTime, cfg.Now = true, clock.Now
	p := openPartitionLog(t, cfg, true)
	clock.Advance(time.Minute)
	res := mustAppend(t, p, plainBatch(t, 5, rec("a", "1"), rec("b", "2")))
	require.True(t, clock.Now().Equal(res.LogAppendTime), "returned %v", res.LogAppendTime)

	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	b, h, err := r.Next()
	require.NoError(t, err)
	require.True(t, h.LogAppendTime())
	require.Equal(t, clock.Now().UnixMilli(), h.MaxTimestamp)
	require.NoError(t, record.CheckCRC(b), "the CRC covers the stamp")
	for _, rr := range readRecords(t, p, 0) {
		require.Equal(t, clock.Now().UnixMilli(), rr.Timestamp)
	}
}

// Without LogAppendTime nothing is stamped.
func TestAppendKeepsCreateTime(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	res := mustAppend(t, p, plainBatch(t, 5, rec("a", "1")))
	require.True(t, res.LogAppendTime.IsZero())
	require.Equal(t, int64(5), readRecords(t, p, 0)[0].Timestamp)
}

// After Close appends fail with ErrClosed; after Shut with its reason.
// Close is idempotent and Done is closed by either.
func TestAppendAfterCloseAndShut(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	require.NoError(t, p.ErrIfClosed())
	select {
	case <-p.Done():
		t.Fatal("Done closed before Close")
	default:
	}
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	<-p.Done()
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("a", "1")), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, p.ErrIfClosed(), ErrClosed)
	require.ErrorIs(t, p.ClosedErr(), ErrClosed)
	_, err = p.NewReader(0, p.HighWatermarkPosition())
	require.ErrorIs(t, err, ErrClosed)

	deleted := errors.New("topic deleted")
	q := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	require.ErrorIs(t, q.ClosedErr(), ErrClosed, "ClosedErr before any shut is ErrClosed")
	q.Shut(deleted)
	<-q.Done()
	_, err = q.AppendBatch(ctx, plainBatch(t, 1, rec("a", "1")), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, deleted)
	require.ErrorIs(t, q.ErrIfClosed(), deleted)
	_, err = q.OffsetForTimestamp(0)
	require.ErrorIs(t, err, deleted)
	_, err = q.DeleteRecords(ctx, 0)
	require.ErrorIs(t, err, deleted)
	require.NoError(t, q.Close(), "closing a shut partition does nothing")
	require.ErrorIs(t, q.ClosedErr(), deleted, "Close after Shut keeps the reason")
}

// StartOffset <= HighWatermark <= EndOffset. Under SyncAlways the high
// watermark is the durable end: an append that does not wait moves the
// end but not the high watermark until SyncTo.
func TestOffsetsUnderSyncAlways(t *testing.T) {
	ctx := context.Background()
	var moves atomic.Int32
	cfg := smallConfig(vfs.NewMem())
	cfg.OnHighWatermark = func() bool { moves.Add(1); return false }
	p := openPartitionLog(t, cfg, true)
	require.Zero(t, p.StartOffset())
	require.Zero(t, p.HighWatermark())

	mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))
	require.Equal(t, int64(2), p.HighWatermark())
	require.Equal(t, int64(2), p.DurableOffset())
	afterFirst := moves.Load()
	require.Positive(t, afterFirst, "a durable append moves the high watermark")

	res, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.BaseOffset)
	require.Equal(t, int64(3), p.EndOffset())
	require.Equal(t, int64(2), p.HighWatermark(), "not durable yet")
	require.Equal(t, int64(2), p.DurableOffset())
	require.Equal(t, afterFirst, moves.Load())
	require.Equal(t, span(0, 2), readOffsets(t, p, 0), "readers see only what is durable")

	require.NoError(t, p.SyncTo(ctx, 3))
	require.Equal(t, int64(3), p.HighWatermark())
	require.Equal(t, int64(3), p.DurableOffset())
	require.Greater(t, moves.Load(), afterFirst)

	_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("d", "4")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, int64(4), p.HighWatermark())
	require.LessOrEqual(t, p.StartOffset(), p.HighWatermark())

	beforeClose := moves.Load()
	require.NoError(t, p.Close())
	require.Greater(t, moves.Load(), beforeClose, "closing tells the owner")
}

// Without SyncAlways the high watermark follows the written end, ahead
// of the durable end until a flush.
func TestOffsetsWithoutSyncAlways(t *testing.T) {
	ctx := context.Background()
	var moves atomic.Int32
	cfg := smallConfig(vfs.NewMem())
	cfg.SyncAlways = false
	cfg.OnHighWatermark = func() bool { moves.Add(1); return false }
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))
	require.Equal(t, int64(2), p.EndOffset())
	require.Equal(t, int64(2), p.HighWatermark())
	require.Zero(t, p.DurableOffset(), "nothing fsynced yet")
	require.Equal(t, int32(1), moves.Load())
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, int64(2), p.DurableOffset())
}

// A SyncTo whose context has ended returns the context's error when it
// would have to wait.
func TestSyncToHonoursContext(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	_, err := p.AppendBatch(context.Background(), plainBatch(t, 1, rec("a", "1")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	p.syncSem <- struct{}{} // a round in progress elsewhere
	err = p.SyncTo(cancelled, 1)
	<-p.syncSem
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, p.Flush(cancelled), context.Canceled)
	require.Zero(t, p.HighWatermark())
	require.NoError(t, p.SyncTo(context.Background(), 1))
	require.Equal(t, int64(1), p.HighWatermark())
}

// A batch that does not fit in the active segment rolls it; the segments'
// bases follow each other and each stays within SegmentBytes.
func TestRollOnSegmentBytes(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	p := openPartitionLog(t, cfg, true)
	for range 40 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	segs := p.Segments()
	require.Greater(t, len(segs), 2)
	require.Zero(t, segs[0].Base)
	requireContiguous(t, segs)
	for _, s := range segs[:len(segs)-1] {
		require.True(t, s.Sealed)
		require.LessOrEqual(t, s.Size, cfg.SegmentBytes)
		require.Greater(t, s.Size+350, cfg.SegmentBytes, "rolled only when the next batch did not fit")
	}
	require.True(t, segs[len(segs)-1].Same(p.ActiveSegment()))
	require.False(t, p.ActiveSegment().Sealed)
	require.Equal(t, span(0, 40), readOffsets(t, p, 0))
}

// A full index rolls the segment even when its data file has room.
func TestRollOnFullIndex(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 1 // an index entry for every batch
	cfg.SegmentIndexBytes = 4 * OffsetEntrySize
	p := openPartitionLog(t, cfg, true)
	for range 20 {
		mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	}
	segs := p.Segments()
	require.Greater(t, len(segs), 3)
	requireContiguous(t, segs)
	for _, s := range segs[:len(segs)-1] {
		require.Less(t, s.Size, int64(1024), "rolled for the index, not the data")
		require.LessOrEqual(t, s.OffsetEntries, 4)
	}
	require.Equal(t, span(0, 20), readOffsets(t, p, 0))
}

// RollIfAged rolls a segment that reached SegmentAge by the injected
// clock, and never an empty one.
func TestRollIfAged(t *testing.T) {
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.SegmentAge, cfg.Now = time.Hour, clock.Now
	p := openPartitionLog(t, cfg, true)
	require.NoError(t, p.RollIfAged(clock.At(2*time.Hour)))
	require.Len(t, p.Segments(), 1, "an empty segment never rolls")

	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	require.NoError(t, p.RollIfAged(clock.At(59*time.Minute)))
	require.Len(t, p.Segments(), 1, "not aged yet")
	require.NoError(t, p.RollIfAged(clock.At(time.Hour)))
	segs := p.Segments()
	require.Len(t, segs, 2)
	require.Equal(t, int64(1), segs[1].Base)
	require.Equal(t, int64(1), p.EndOffset())

	require.NoError(t, p.RollIfAged(clock.At(10*time.Hour)))
	require.Len(t, p.Segments(), 2, "the new segment is empty")

	// An append after the age rolls too.
	clock.Advance(time.Hour)
	mustAppend(t, p, plainBatch(t, 1, rec("b", "2")))
	clock.Advance(time.Hour)
	mustAppend(t, p, plainBatch(t, 1, rec("c", "3")))
	segs = p.Segments()
	require.Len(t, segs, 3)
	requireContiguous(t, segs)
	require.Equal(t, span(0, 3), readOffsets(t, p, 0))
}

// A batch whose CRC is computed aside while its records are written reads
// back with a valid CRC.
func TestAppendWithCRCAside(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	cfg.SegmentBytes, cfg.MaxBatchBytes = 4<<20, 2<<20
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("first", "1")))
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i := range 40 {
		b.Append(int64(i), []byte("k"), make([]byte, 10<<10), nil)
	}
	built, err := b.BuildWithoutCRC()
	require.NoError(t, err)
	batch := append([]byte(nil), built...)
	require.GreaterOrEqual(t, len(batch), CRCAsideBytes)
	crc := ComputeCRCAside(batch)
	res, err := p.AppendBatch(context.Background(), batch, AppendOptions{Expected: -1, CRC: crc})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.BaseOffset)
	require.Equal(t, int64(40), res.LastOffset)

	r, err := p.NewReader(1, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	got, h, err := r.Next()
	require.NoError(t, err, "the CRC checks")
	require.Equal(t, int64(1), h.BaseOffset)
	require.NoError(t, record.CheckCRC(got))
	require.Len(t, readRecords(t, p, 0), 41)
}

// Acknowledge waits until a batch appended without waiting is durable,
// unless told not to wait either.
func TestAcknowledge(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	require.Equal(t, testPartitionDir, p.Dir())
	res, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.NoError(t, p.Acknowledge(ctx, res.LastOffset+1, AppendOptions{NoWait: true}))
	require.Zero(t, p.DurableOffset(), "NoWait: not waited for")
	require.NoError(t, p.Acknowledge(ctx, res.LastOffset+1, AppendOptions{}))
	require.Equal(t, int64(1), p.DurableOffset())
	require.Equal(t, int64(1), p.HighWatermark())
}

// Every append allocates one Position, the new written end: it stays at
// 64 bytes, a size class of its own (72 would take 80).
func TestPositionSize(t *testing.T) {
	require.Equal(t, uintptr(64), unsafe.Sizeof(Position{}))
}
