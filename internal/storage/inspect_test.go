package storage

import (
	"context"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Segments describes every segment, the last the active one; a segment's
// references count the partition's and each reader's.
func TestSegmentsDescribeThePartition(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	segs := p.Segments()
	require.Len(t, segs, 1)
	require.Equal(t, SegmentInfo{Base: 0, Path: segs[0].Path, Next: 0, MaxTimestamp: -1, Refs: 1, seg: segs[0].seg}, segs[0])

	for i := range 20 {
		mustAppend(t, p, plainBatch(t, int64(100+i), kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	segs = p.Segments()
	require.Greater(t, len(segs), 1)
	requireContiguous(t, segs)
	require.Equal(t, int64(20), segs[len(segs)-1].Next)
	require.Equal(t, int64(119), segs[len(segs)-1].MaxTimestamp)
	require.True(t, segs[len(segs)-1].Same(p.ActiveSegment()))
	require.False(t, segs[0].Same(segs[1]))
	require.True(t, p.DurableSegment().Same(p.ActiveSegment()))
	st := p.Stats()
	require.Equal(t, len(segs), st.Segments)
	var bytes int64
	for _, s := range segs {
		bytes += s.Size
	}
	require.Equal(t, bytes, st.Bytes)

	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	require.Equal(t, int32(2), p.Segments()[0].Refs)
	r.Close()
	require.Equal(t, int32(1), p.Segments()[0].Refs)
}

// PositionSegment names the segment a high watermark taken earlier is in,
// even after a roll.
func TestPositionSegment(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	hw := p.HighWatermarkPosition()
	first := p.ActiveSegment()
	require.NoError(t, p.Roll())
	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.True(t, p.PositionSegment(hw).Same(first))
	require.False(t, p.PositionSegment(p.HighWatermarkPosition()).Same(first))
	require.True(t, p.PositionSegment(hw).Sealed)
}

// Roll seals even an empty active segment; RollIdle moves the written end
// into the new segment, Roll does not.
func TestRollAndRollIdle(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	require.NoError(t, p.Roll())
	segs := p.Segments()
	require.Len(t, segs, 2)
	require.Equal(t, segs[0].Base, segs[1].Base, "both start at 0")

	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.NoError(t, p.Roll())
	require.Len(t, p.Segments(), 3)
	require.False(t, p.PositionSegment(p.HighWatermarkPosition()).Same(p.ActiveSegment()), "the end is still in the sealed segment")

	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Flush(context.Background()))
	require.Len(t, p.Segments(), 4)
	require.True(t, p.DurableSegment().Same(p.ActiveSegment()), "RollIdle moves the end")
	require.Equal(t, int64(2), p.HighWatermark())
	require.Equal(t, span(0, 2), readOffsets(t, p, 0))
}

// VisitBatches walks the batches below the high watermark, or all that
// were written, and stops when told.
func TestVisitBatches(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	p := openPartitionLog(t, cfg, true)
	for range 20 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	var bases []int64
	require.NoError(t, p.VisitBatches(true, func(b []byte, h record.Header) bool {
		require.NoError(t, record.CheckCRC(b))
		bases = append(bases, h.BaseOffset)
		return true
	}))
	require.Equal(t, span(0, 20), bases)

	n := 0
	require.NoError(t, p.VisitBatches(false, func([]byte, record.Header) bool { n++; return n < 5 }))
	require.Equal(t, 5, n, "stops when fn returns false")
}

// A checkpoint's content round-trips through its file format, and a
// checkpoint written with WriteCheckpoint is the one Open starts from.
func TestCheckpointInfoRoundTrip(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	for range 5 {
		mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	}
	require.NoError(t, p.Checkpoint(ctx))
	cp := p.LastCheckpoint()
	got, err := UnmarshalCheckpoint(cp.Marshal())
	require.NoError(t, err)
	require.Equal(t, cp, got)
	b := cp.Marshal()
	b[len(b)-1] ^= 1
	_, err = UnmarshalCheckpoint(b)
	require.Error(t, err)
	require.NoError(t, p.Close())

	initial := InitialCheckpoint()
	require.Zero(t, initial.RecoveryOffset)
	require.Equal(t, int64(-1), initial.MaxTimestamp)
	require.NotZero(t, initial.Flags&CheckpointRollsSynced)
	// Starting from the initial checkpoint, Open rescans everything and
	// finds the same partition.
	require.NoError(t, WriteCheckpoint(mem, testPartitionDir, initial))
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, int64(5), q.EndOffset())
	require.Equal(t, int64(5), q.LastCheckpoint().RecoveryOffset, "Open writes a checkpoint of what it recovered")
	require.NoError(t, q.Check(ctx))
}

// Under SyncAlways a batch appended without waiting may be staged in
// memory until the next fsync round writes it: VisitBatches walks what
// the files hold, and the staged batch once written.
func TestVisitBatchesWithAppendStaged(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.NotEmpty(t, p.active.pending, "staged")
	count := func(belowHW bool) int {
		n := 0
		require.NoError(t, p.VisitBatches(belowHW, func([]byte, record.Header) bool { n++; return true }))
		return n
	}
	require.Equal(t, 1, count(true))
	require.Equal(t, 1, count(false), "the staged batch is not in the file yet")
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, 2, count(true))
	require.Equal(t, 2, count(false))
}
