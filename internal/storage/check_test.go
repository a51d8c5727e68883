package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// checkedLog holds 40 batches over several segments, every batch indexed.
func checkedLog(t *testing.T, cfg Config) *PartitionLog {
	cfg.IndexIntervalBytes = 1
	p := openPartitionLog(t, cfg, true)
	for range 40 {
		mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), kv{key: []byte("b"), value: make([]byte, 300)}))
	}
	require.Greater(t, len(p.Segments()), 3)
	return p
}

// Check passes on a healthy partition, also after retention, a reopen and
// with appends not yet durable.
func TestCheckPassesOnHealthyLog(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(vfs.NewMem())
	p := checkedLog(t, cfg)
	require.NoError(t, p.Check(ctx))
	_, err := p.DeleteRecords(ctx, 30)
	require.NoError(t, err)
	require.NoError(t, p.EnforceRetention(ctx, cfg.Now()))
	_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.NoError(t, p.Check(ctx))
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.NoError(t, q.Check(ctx))
}

// A flipped byte in a sealed segment below the high watermark is a
// *CorruptionError naming the file and the damaged batch.
func TestCheckReportsDamageInSealedSegment(t *testing.T) {
	mem := vfs.NewMem()
	p := checkedLog(t, smallConfig(mem))
	seg := p.Segments()[1]
	data, err := mem.ReadFile(seg.Path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	require.Greater(t, len(starts), 2)
	flipByte(t, mem, seg.Path, int64(starts[2]+record.HeaderSize+4))

	err = p.Check(context.Background())
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, seg.Path, cerr.Path)
	require.Equal(t, int64(starts[2]), cerr.FilePosition)
	require.Equal(t, seg.Base+4, cerr.Offset, "two records a batch")
}

// Damage in the active segment below the high watermark is reported too.
func TestCheckReportsDamageInActiveSegment(t *testing.T) {
	mem := vfs.NewMem()
	p := checkedLog(t, smallConfig(mem))
	seg := p.ActiveSegment()
	flipByte(t, mem, seg.Path, record.HeaderSize+2)
	var cerr *CorruptionError
	require.ErrorAs(t, p.Check(context.Background()), &cerr)
	require.Equal(t, seg.Path, cerr.Path)
	require.Zero(t, cerr.FilePosition)
}

// An offset index that disagrees with its data is rebuilt and logged,
// not reported.
func TestCheckRebuildsDamagedIndex(t *testing.T) {
	logs := &logCapture{}
	cfg := smallConfig(vfs.NewMem())
	cfg.Logger = slog.New(logs)
	p := checkedLog(t, cfg)
	ix := (*p.segments.Load())[1].offsets()
	require.Greater(t, ix.count(), 2)
	good := ix.positionAt(1)
	binary.BigEndian.PutUint32(ix.entry(1)[4:], uint32(good+1))

	require.NoError(t, p.Check(context.Background()))
	require.Contains(t, logs.messages(), "index disagreed with its data and was rebuilt")
	ix = (*p.segments.Load())[1].offsets()
	require.Equal(t, good, ix.positionAt(1))
	require.NoError(t, p.Check(context.Background()))
	require.Len(t, logs.warnings(), 1, "nothing to rebuild the second time")
	require.Equal(t, span(0, 80), readOffsets(t, p, 0))
}

// Check stops with the context.
func TestCheckHonoursContext(t *testing.T) {
	p := checkedLog(t, smallConfig(vfs.NewMem()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, p.Check(ctx), context.Canceled)
}

// Under SyncAlways an append written but not yet durable lies above the
// high watermark, with its index entries: Check verifies what is below
// the high watermark and does not take those entries for damage.
func TestCheckIgnoresAppendsAboveHighWatermark(t *testing.T) {
	ctx := context.Background()
	logs := &logCapture{}
	cfg := smallConfig(vfs.NewMem())
	cfg.Logger = slog.New(logs)
	p := checkedLog(t, cfg)
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Less(t, p.HighWatermark(), p.EndOffset())
	require.NoError(t, p.Check(ctx))
	require.Empty(t, logs.warnings(), "no index rebuilt")
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Check(ctx))
}

// Rebuilding the active segment's damaged index while an append waits for
// its fsync round covers that append's batch too, which is staged in
// memory until the round writes it.
func TestCheckRebuildsActiveIndexWithAppendPending(t *testing.T) {
	ctx := context.Background()
	p := checkedLog(t, smallConfig(vfs.NewMem()))
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	ix := (*p.segments.Load())[len(p.Segments())-1].offsets()
	require.Greater(t, ix.count(), 2)
	good := ix.positionAt(1)
	binary.BigEndian.PutUint32(ix.entry(1)[4:], uint32(good+1))

	require.NoError(t, p.Check(ctx))
	require.Equal(t, good, p.active.offsets().positionAt(1), "rebuilt")
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, span(0, 81), readOffsets(t, p, 0))
	require.NoError(t, p.Check(ctx))
	require.NoError(t, p.Close())
}

// Check reports leader epochs that go back along the log, and an epoch
// cache that disagrees with the batches, as *CorruptionErrors.
func TestCheckReportsLeaderEpochs(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*vfs.MemFS, *PartitionLog) {
		mem := vfs.NewMem()
		p := openPartitionLog(t, smallConfig(mem), true)
		for i := range 20 {
			_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", fmt.Sprint(i))), AppendOptions{Expected: -1, LeaderEpoch: int32(i / 10 * 3)})
			require.NoError(t, err)
		}
		require.NoError(t, p.Check(ctx))
		return mem, p
	}
	t.Run("an epoch going back", func(t *testing.T) {
		mem, p := setup(t)
		// The leader epoch is outside the CRC: only Check sees it.
		seg := p.ActiveSegment()
		data, err := mem.ReadFile(seg.Path)
		require.NoError(t, err)
		starts := batchLayout(t, data)
		f, err := mem.OpenReadWrite(seg.Path)
		require.NoError(t, err)
		epoch := binary.BigEndian.AppendUint32(nil, 1)
		_, err = f.WriteAt(epoch, int64(starts[len(starts)-1]+12))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		err = p.Check(ctx)
		var cerr *CorruptionError
		require.ErrorAs(t, err, &cerr)
		require.Contains(t, err.Error(), "below the epoch 3")
		require.Equal(t, seg.Path, cerr.Path)
		require.Equal(t, int64(19), cerr.Offset)
	})
	t.Run("the cache disagrees", func(t *testing.T) {
		_, p := setup(t)
		p.mu.Lock()
		p.epochs = epochsOf(0, 0, 3, 12)
		p.mu.Unlock()
		err := p.Check(ctx)
		var cerr *CorruptionError
		require.ErrorAs(t, err, &cerr)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, cerr.Path, LeaderEpochsName)
	})
}
