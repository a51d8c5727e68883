package storage

import (
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// snapshotFiles returns the offsets of the producer state snapshots in
// the partition's directory.
func snapshotFiles(t *testing.T, fs vfs.FS) []int64 {
	t.Helper()
	names, err := fs.List(testPartitionDir)
	require.NoError(t, err)
	var out []int64
	for _, n := range names {
		if off, ok := ParseSnapshotFileName(n); ok {
			out = append(out, off)
		}
	}
	return out
}

// A checkpoint writes the producers' state as "<end>.snapshot"; a later
// one with the state unchanged moves it forward, leaving one file.
func TestCheckpointWritesProducerSnapshot(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	mustAppend(t, p, idempotentBatch(t, 1, 0, 0, 2))
	require.NoError(t, p.Checkpoint(ctx))
	require.Equal(t, []int64{2}, snapshotFiles(t, mem))

	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.NoError(t, p.Checkpoint(ctx))
	require.Equal(t, []int64{3}, snapshotFiles(t, mem), "unchanged state moves forward")

	mustAppend(t, p, idempotentBatch(t, 1, 0, 2, 1))
	require.NoError(t, p.Checkpoint(ctx))
	require.Equal(t, []int64{4}, snapshotFiles(t, mem), "a new state replaces the old file")
}

// After a crash the state is the snapshot plus the batches after it,
// replayed: retries of batches on both sides of the snapshot are still
// duplicates.
func TestProducerStateSurvivesCrashBySnapshotAndReplay(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	a := mustAppend(t, p, idempotentBatch(t, 4, 2, 0, 2))
	require.NoError(t, p.Checkpoint(ctx))
	for range 20 { // into later segments
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	b := mustAppend(t, p, idempotentBatch(t, 4, 2, 2, 3))
	c := mustAppend(t, p, idempotentBatch(t, 9, 0, 0, 1))
	require.Equal(t, []int64{2}, snapshotFiles(t, mem))

	ccfg := cfg
	ccfg.FS = mem.CrashClone(vfs.CrashOptions{})
	q := openPartitionLog(t, ccfg, false)
	end := q.EndOffset()
	require.Equal(t, c.LastOffset+1, end)
	for _, d := range []struct {
		pid   int64
		epoch int16
		seq   int32
		n     int
		want  AppendResult
	}{{4, 2, 0, 2, a}, {4, 2, 2, 3, b}, {9, 0, 0, 1, c}} {
		res, err := q.AppendBatch(ctx, idempotentBatch(t, d.pid, d.epoch, d.seq, d.n), AppendOptions{Expected: -1})
		require.NoError(t, err)
		require.Equal(t, d.want.BaseOffset, res.BaseOffset, "producer %d sequence %d", d.pid, d.seq)
	}
	require.Equal(t, end, q.EndOffset())
	_, err := q.AppendBatch(ctx, idempotentBatch(t, 4, 1, 5, 1), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrProducerFenced, "the epoch replayed is remembered")
	require.Equal(t, int64(10), q.ProducerIDFloor(0, math.MaxInt64))
	require.Equal(t, int64(5), q.ProducerIDFloor(0, 9), "producer 9 is outside the range")
	require.Equal(t, int64(100), q.ProducerIDFloor(100, 200), "no producer in the range")
}

// A damaged snapshot is removed and logged, and the state rebuilt from
// the whole log.
func TestDamagedProducerSnapshotIsRebuilt(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	a := mustAppend(t, p, idempotentBatch(t, 4, 0, 0, 2))
	require.NoError(t, p.Close())
	snaps := snapshotFiles(t, mem)
	require.Equal(t, []int64{2}, snaps)
	flipByte(t, mem, filepath.Join(testPartitionDir, SnapshotFileName(2)), 10)

	logs := &logCapture{}
	cfg.Logger = slog.New(logs)
	q := openPartitionLog(t, cfg, false)
	require.Contains(t, logs.messages(), "removing producer state snapshot; rebuilding it from the log")
	res, err := q.AppendBatch(ctx, idempotentBatch(t, 4, 0, 0, 2), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, a.BaseOffset, res.BaseOffset, "still a duplicate")
	require.Equal(t, int64(2), q.EndOffset())
}

// ExpireProducers forgets producers idle longer than
// ProducerIDExpiration: a retry of theirs is then a new batch.
func TestExpireProducers(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.Now, cfg.ProducerIDExpiration = clock.Now, time.Hour
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, idempotentBatch(t, 5, 0, 0, 1))
	clock.Advance(30 * time.Minute)
	mustAppend(t, p, idempotentBatch(t, 6, 0, 0, 1))
	require.Equal(t, int64(7), p.ProducerIDFloor(0, math.MaxInt64))

	p.ExpireProducers(clock.At(30 * time.Minute).UnixMilli())
	require.Equal(t, int64(7), p.ProducerIDFloor(0, math.MaxInt64), "idle exactly the expiration: kept")
	p.ExpireProducers(clock.At(30*time.Minute + time.Millisecond).UnixMilli())
	require.Equal(t, int64(7), p.ProducerIDFloor(0, math.MaxInt64), "producer 6 is younger")
	res, err := p.AppendBatch(ctx, idempotentBatch(t, 5, 0, 0, 1), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.BaseOffset, "producer 5 expired: its retry is appended")

	p.ExpireProducers(clock.At(2 * time.Hour).UnixMilli())
	require.Zero(t, p.ProducerIDFloor(0, math.MaxInt64))
}
