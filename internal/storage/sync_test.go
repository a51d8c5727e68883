package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under SyncAlways every acknowledged append is durable when it returns,
// with many appenders sharing the fsync rounds.
func TestSyncAlwaysAcknowledgesDurably(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	const appenders, each = 8, 25
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			for range each {
				res, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v"), rec("k", "w")), AppendOptions{Expected: -1})
				if !assert.NoError(t, err) {
					return
				}
				assert.Greater(t, p.DurableOffset(), res.LastOffset, "acknowledged before durable")
				assert.Greater(t, p.HighWatermark(), res.LastOffset, "acknowledged before visible")
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(2*appenders*each), p.EndOffset())
	require.Equal(t, p.EndOffset(), p.DurableOffset())
	require.Equal(t, p.EndOffset(), p.HighWatermark())
	require.Equal(t, span(0, p.EndOffset()), readOffsets(t, p, 0))
}

// Flush makes everything written durable without SyncAlways; SyncTo
// waits for a round covering its target.
func TestFlushMovesDurableOffset(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(vfs.NewMem())
	cfg.SyncAlways = false
	p := openPartitionLog(t, cfg, true)
	for range 10 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 500)}))
	}
	require.Greater(t, len(p.Segments()), 1)
	require.Equal(t, int64(10), p.HighWatermark())
	require.Less(t, p.DurableOffset(), p.EndOffset())
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, int64(10), p.DurableOffset())
	require.True(t, p.DurableSegment().Same(p.ActiveSegment()))

	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.NoError(t, p.SyncTo(ctx, 11))
	require.Equal(t, int64(11), p.DurableOffset())
	require.NoError(t, p.SyncTo(ctx, 5), "already durable")
}

// Checkpoint writes the durable end as the recovery point, with the log
// start and the durable end's segment, durably: a crash right after it
// keeps the file.
func TestCheckpointRecordsDurableEnd(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	for range 12 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 500)}))
	}
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Less(t, p.LastCheckpoint().RecoveryOffset, int64(12))

	require.NoError(t, p.Checkpoint(ctx))
	cp := p.LastCheckpoint()
	require.Equal(t, int64(13), p.DurableOffset(), "a checkpoint flushes first")
	require.Equal(t, p.DurableOffset(), cp.RecoveryOffset)
	require.Equal(t, p.DurableSegment().Base, cp.SegmentBase)
	require.Equal(t, p.DurableSegment().Size, cp.Position)
	require.Equal(t, p.ActiveSegment().Base, cp.ActiveBase)
	require.Zero(t, cp.LogStartOffset)
	require.NotZero(t, cp.Flags&CheckpointRollsSynced, "SyncAlways seals segments durably")

	crashed := mem.CrashClone(vfs.CrashOptions{})
	b, err := crashed.ReadFile(filepath.Join(testPartitionDir, CheckpointName))
	require.NoError(t, err)
	onDisk, err := UnmarshalCheckpoint(b)
	require.NoError(t, err)
	require.Equal(t, cp, onDisk)

	_, err = p.DeleteRecords(ctx, 4)
	require.NoError(t, err)
	require.Equal(t, int64(4), p.LastCheckpoint().LogStartOffset)
}

// Without SyncAlways the checkpoint does not claim synced rolls.
func TestCheckpointWithoutSyncAlways(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	cfg.SyncAlways = false
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	require.NoError(t, p.Checkpoint(context.Background()))
	cp := p.LastCheckpoint()
	require.Equal(t, int64(1), cp.RecoveryOffset)
	require.Zero(t, cp.Flags&CheckpointRollsSynced)
}

// Close checkpoints the end; after it Flush and Checkpoint fail with
// ErrClosed.
func TestCloseCheckpointsAndStopsSyncs(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(vfs.NewMem())
	cfg.SyncAlways = false
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("k", "v"), rec("k", "w")))
	require.NoError(t, p.Close())
	require.Equal(t, int64(2), p.LastCheckpoint().RecoveryOffset)
	require.Equal(t, int64(2), p.DurableOffset())
	require.ErrorIs(t, p.Flush(ctx), ErrClosed)
	require.ErrorIs(t, p.Checkpoint(ctx), ErrClosed)
}

// failingFS is a MemFS whose next operation of kind op on a path ending
// in suffix fails with err, once armed.
type failingFS struct {
	armed  atomic.Bool
	op     vfs.Op
	suffix string
	err    error
}

func (f *failingFS) MaybeError(op vfs.Op, path string) error {
	if op == f.op && strings.HasSuffix(path, f.suffix) && f.armed.CompareAndSwap(true, false) {
		return f.err
	}
	return nil
}

// A failed fsync fails the partition: the append gets a
// *DurabilityError, the high watermark stays, later appends are refused
// with the same error, reads go on; a reopen recovers what is durable.
func TestFailedSyncFailsThePartition(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	inj := &failingFS{op: vfs.OpSync, suffix: LogSuffix, err: errors.New("EIO")}
	cfg := smallConfig(vfs.WithInjector(mem, inj, vfs.InjectOptions{}))
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))

	inj.armed.Store(true)
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("b", "2")), AppendOptions{Expected: -1})
	require.False(t, inj.armed.Load(), "the fsync failed")
	var derr *DurabilityError
	require.ErrorAs(t, err, &derr)
	require.ErrorIs(t, err, ErrDurability)
	require.Equal(t, "sync", derr.Op)
	require.Equal(t, int64(1), p.HighWatermark(), "not acknowledged, not visible")

	_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrDurability, "refused until reopened")
	require.ErrorIs(t, p.Flush(ctx), ErrDurability)
	_, err = p.DeleteRecords(ctx, 1)
	require.ErrorIs(t, err, ErrDurability)
	require.Equal(t, span(0, 1), readOffsets(t, p, 0), "reads go on")
	require.NoError(t, p.Close())

	q := openPartitionLog(t, smallConfig(mem), false)
	require.GreaterOrEqual(t, q.EndOffset(), int64(1))
	require.NoError(t, q.Check(ctx))
	mustAppend(t, q, plainBatch(t, 1, rec("d", "4")))
}

// A write refused for lack of space fails only that append, with
// ErrDiskFull: nothing of it is visible and the next append succeeds.
func TestDiskFullLeavesPartitionUsable(t *testing.T) {
	ctx := context.Background()
	inj := &failingFS{op: vfs.OpWrite, suffix: LogSuffix, err: syscall.ENOSPC}
	cfg := smallConfig(vfs.WithInjector(vfs.NewMem(), inj, vfs.InjectOptions{ShortWrites: true}))
	cfg.SyncAlways = false
	p := openPartitionLog(t, cfg, true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))

	inj.armed.Store(true)
	_, err := p.AppendBatch(ctx, plainBatch(t, 1, kv{key: []byte("b"), value: make([]byte, 2000)}), AppendOptions{Expected: -1})
	require.False(t, inj.armed.Load(), "the write was refused")
	require.ErrorIs(t, err, ErrDiskFull)
	require.NotErrorIs(t, err, ErrDurability)
	require.Equal(t, int64(1), p.EndOffset())
	require.Equal(t, int64(1), p.HighWatermark())

	res := mustAppend(t, p, plainBatch(t, 1, rec("c", "3")))
	require.Equal(t, int64(1), res.BaseOffset)
	require.Equal(t, span(0, 2), readOffsets(t, p, 0))
	require.NoError(t, p.Check(ctx))
}
