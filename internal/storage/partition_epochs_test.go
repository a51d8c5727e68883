package storage

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// epochFileWrites counts the replacements of the leader-epoch file made
// through the file system it returns.
func epochFileWrites(fs vfs.FS) (vfs.FS, *atomic.Int64) {
	var n atomic.Int64
	return vfs.WithInjector(fs, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpRename && filepath.Base(path) == LeaderEpochsName+TmpSuffix {
			n.Add(1)
		}
		return nil
	}), vfs.InjectOptions{}), &n
}

// batchEpochs returns the leader epoch of every batch p holds.
func batchEpochs(t testing.TB, p *PartitionLog) []int32 {
	t.Helper()
	var out []int32
	require.NoError(t, p.VisitBatches(false, func(_ []byte, h record.Header) bool {
		out = append(out, h.PartitionLeaderEpoch)
		return true
	}))
	return out
}

// epochs returns EpochEntry pairs.
func epochs(pairs ...int64) []EpochEntry {
	out := []EpochEntry{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, EpochEntry{int32(pairs[i]), pairs[i+1]})
	}
	return out
}

// fileEpochs returns the leader epochs the partition's file holds.
func fileEpochs(t testing.TB, fs vfs.FS) []EpochEntry {
	t.Helper()
	c, err := readLeaderEpochs(fs, testPartitionDir)
	require.NoError(t, err)
	out := []EpochEntry{}
	for _, e := range c.entries {
		out = append(out, EpochEntry{e.epoch, e.start})
	}
	return out
}

// A single node's partition writes its leader-epoch file once, at its
// first append (epoch 0, before the batch), and never again; every batch
// carries epoch 0. A partition never appended to has no file.
func TestFirstAppendWritesLeaderEpochsOnce(t *testing.T) {
	mem := vfs.NewMem()
	fs, writes := epochFileWrites(mem)
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	_, err := mem.Stat(filepath.Join(testPartitionDir, LeaderEpochsName))
	require.True(t, isNotExist(err), "no file before the first append")
	require.Equal(t, int32(NoEpoch), p.LatestEpoch())
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, rec("k", strings.Repeat("v", 200))))
	}
	require.Greater(t, len(p.Segments()), 1)
	require.Equal(t, int64(1), writes.Load())
	require.Equal(t, epochs(0, 0), fileEpochs(t, mem))
	require.Equal(t, epochs(0, 0), p.LeaderEpochs())
	for _, e := range batchEpochs(t, p) {
		require.Zero(t, e)
	}
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	mustAppend(t, q, plainBatch(t, 1, rec("k", "after")))
	require.Equal(t, int64(1), writes.Load(), "a reopen does not write it either")
	require.NoError(t, q.Check(context.Background()))
}

// AppendOptions.LeaderEpoch is stamped into the batch and recorded; an
// epoch older than the latest, or negative, is refused and changes
// nothing.
func TestAppendBatchLeaderEpoch(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	for _, step := range []struct {
		epoch   int32
		wantErr error
		latest  int32
		epochs  []EpochEntry
	}{
		{0, nil, 0, epochs(0, 0)},
		{0, nil, 0, epochs(0, 0)},
		{3, nil, 3, epochs(0, 0, 3, 2)},
		{3, nil, 3, epochs(0, 0, 3, 2)},
		{2, ErrInvalidArgument, 3, epochs(0, 0, 3, 2)},
		{-1, ErrInvalidArgument, 3, epochs(0, 0, 3, 2)},
		{7, nil, 7, epochs(0, 0, 3, 2, 7, 4)},
	} {
		what := fmt.Sprintf("epoch %d", step.epoch)
		end := p.EndOffset()
		_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, LeaderEpoch: step.epoch})
		if step.wantErr != nil {
			require.ErrorIs(t, err, step.wantErr, what)
			require.Equal(t, end, p.EndOffset(), "%s: nothing appended", what)
			if step.epoch >= 0 {
				var eerr *EpochError
				require.ErrorAs(t, err, &eerr, what)
				require.Equal(t, EpochError{Topic: "t", Op: "AppendBatch", Epoch: step.epoch, Latest: step.latest}, *eerr)
			}
		} else {
			require.NoError(t, err, what)
		}
		require.Equal(t, step.latest, p.LatestEpoch(), what)
		require.Equal(t, step.epochs, p.LeaderEpochs(), what)
		require.Equal(t, step.epochs, fileEpochs(t, mem), "%s: the file holds it", what)
	}
	require.Equal(t, []int32{0, 0, 3, 3, 7}, batchEpochs(t, p))
	require.NoError(t, p.Check(ctx))
}

// AssignLeaderEpoch records a new leader's epoch at the end offset,
// durably; the latest epoch again is a no-op, an older one an
// *EpochError, and an epoch assigned without a batch of its own gives
// way to the next one assigned.
func TestAssignLeaderEpoch(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	fs, writes := epochFileWrites(mem)
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	appendAt := func(epoch int32) error {
		_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v"), rec("l", "w")), AppendOptions{Expected: -1, LeaderEpoch: epoch})
		return err
	}
	for i, step := range []struct {
		assign  int32 // -2: append at appendEpoch instead
		append  int32
		wantErr error
		writes  int64
		epochs  []EpochEntry
	}{
		{assign: 0, writes: 1, epochs: epochs(0, 0)},
		{assign: -2, append: 0, writes: 1, epochs: epochs(0, 0)},
		{assign: 0, writes: 1, epochs: epochs(0, 0)},
		{assign: 5, writes: 2, epochs: epochs(0, 0, 5, 2)},
		{assign: 4, wantErr: ErrInvalidArgument, writes: 2, epochs: epochs(0, 0, 5, 2)},
		{assign: -1, wantErr: ErrInvalidArgument, writes: 2, epochs: epochs(0, 0, 5, 2)},
		{assign: 6, writes: 3, epochs: epochs(0, 0, 6, 2)},
		{assign: -2, append: 5, wantErr: ErrInvalidArgument, writes: 3, epochs: epochs(0, 0, 6, 2)},
		{assign: -2, append: 6, writes: 3, epochs: epochs(0, 0, 6, 2)},
		{assign: 6, writes: 3, epochs: epochs(0, 0, 6, 2)},
		{assign: 9, writes: 4, epochs: epochs(0, 0, 6, 2, 9, 4)},
	} {
		what := fmt.Sprintf("step %d", i)
		var err error
		if step.assign == -2 {
			err = appendAt(step.append)
		} else {
			err = p.AssignLeaderEpoch(step.assign)
		}
		if step.wantErr != nil {
			require.ErrorIs(t, err, step.wantErr, what)
		} else {
			require.NoError(t, err, what)
		}
		require.Equal(t, step.writes, writes.Load(), "%s: file writes", what)
		require.Equal(t, step.epochs, p.LeaderEpochs(), what)
		require.Equal(t, step.epochs, fileEpochs(t, mem), "%s: persisted before it returned", what)
	}
	require.NoError(t, p.Check(ctx))
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, epochs(0, 0, 6, 2, 9, 4), q.LeaderEpochs(), "an epoch assigned at the end survives a reopen")
	require.ErrorIs(t, q.AssignLeaderEpoch(8), ErrInvalidArgument)
	require.NoError(t, q.Close())
	require.ErrorIs(t, q.AssignLeaderEpoch(10), ErrClosed)
}

// A failed write of the leader-epoch file fails the append that needed
// it, with nothing appended: a full disk leaves the partition usable, any
// other failure fails it.
func TestLeaderEpochsWriteFailure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		errno  error
		failed bool
	}{{"ENOSPC", syscall.ENOSPC, false}, {"EIO", syscall.EIO, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var fail atomic.Bool
			mem := vfs.NewMem()
			fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
				if fail.Load() && strings.HasPrefix(filepath.Base(path), LeaderEpochsName) && op.Mutating() {
					return tc.errno
				}
				return nil
			}), vfs.InjectOptions{})
			p := openPartitionLog(t, smallConfig(fs), true)
			mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
			fail.Store(true)
			_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "new epoch")), AppendOptions{Expected: -1, LeaderEpoch: 2})
			require.Error(t, err)
			require.ErrorIs(t, err, tc.errno)
			require.Equal(t, int64(1), p.EndOffset(), "nothing appended")
			require.Equal(t, epochs(0, 0), p.LeaderEpochs())
			require.ErrorIs(t, p.AssignLeaderEpoch(2), tc.errno)
			fail.Store(false)
			if tc.failed {
				require.ErrorIs(t, err, ErrDurability)
				_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1})
				require.ErrorIs(t, err, ErrDurability, "the partition failed")
				return
			}
			require.ErrorIs(t, err, ErrDiskFull)
			require.NotErrorIs(t, err, ErrDurability)
			_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "new epoch")), AppendOptions{Expected: -1, LeaderEpoch: 2})
			require.NoError(t, err, "appends go on once there is space")
			require.Equal(t, epochs(0, 0, 2, 1), p.LeaderEpochs())
			require.NoError(t, p.Check(ctx))
		})
	}
}

// EndOffsetForEpoch is Kafka's endOffsetFor against the end offset, and
// the views trim the epochs below the log start offset; the trim reaches
// the file with the checkpoint that records the new start.
func TestEpochQueries(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	for _, e := range []struct {
		epoch int32
		n     int
	}{{1, 10}, {3, 15}, {6, 15}} {
		require.NoError(t, p.AssignLeaderEpoch(e.epoch))
		for range e.n {
			_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, LeaderEpoch: e.epoch})
			require.NoError(t, err)
		}
	}
	require.Equal(t, epochs(1, 0, 3, 10, 6, 25), p.LeaderEpochs())
	for _, tc := range []struct {
		requested int32
		epoch     int32
		offset    int64
	}{
		{6, 6, 40}, {3, 3, 25}, {4, 3, 25}, {5, 3, 25}, {1, 1, 10}, {2, 1, 10},
		{0, NoEpoch, NoEpoch}, {7, NoEpoch, NoEpoch}, {NoEpoch, NoEpoch, NoEpoch},
	} {
		epoch, offset := p.EndOffsetForEpoch(tc.requested)
		require.Equal(t, []any{tc.epoch, tc.offset}, []any{epoch, offset}, "requested %d", tc.requested)
	}
	require.Equal(t, int64(10), p.EpochStartOffset(3))
	require.Equal(t, int64(-1), p.EpochStartOffset(2))
	for offset, want := range map[int64]int32{0: NoEpoch, 1: 1, 10: 1, 11: 3, 25: 3, 26: 6, 40: 6} {
		require.Equal(t, want, p.EpochBefore(offset), "the epoch of the record before offset %d", offset)
	}

	_, err := p.DeleteRecords(ctx, 12)
	require.NoError(t, err)
	require.Equal(t, epochs(3, 12, 6, 25), p.LeaderEpochs())
	require.Equal(t, epochs(3, 12, 6, 25), fileEpochs(t, mem), "written with the checkpoint of the new start")
	require.Equal(t, int64(-1), p.EpochStartOffset(1))
	require.Equal(t, int64(12), p.EpochStartOffset(3))
	epoch, offset := p.EndOffsetForEpoch(2)
	require.Equal(t, []any{int32(NoEpoch), int64(NoEpoch)}, []any{epoch, offset}, "below the first epoch left")
	require.NoError(t, p.Check(ctx))
}

// Open rebuilds a missing, damaged or inconsistent leader-epoch file from
// the batch headers, logs it, and writes the file again; it is never a
// reason to refuse to open.
func TestRecoveryRebuildsLeaderEpochs(t *testing.T) {
	ctx := context.Background()
	const rebuilt = "rebuilding the leader epochs from the batch headers"
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, fs *vfs.MemFS)
	}{
		{"missing", func(t *testing.T, fs *vfs.MemFS) {
			require.NoError(t, fs.Remove(filepath.Join(testPartitionDir, LeaderEpochsName)))
		}},
		{"damaged", func(t *testing.T, fs *vfs.MemFS) {
			flipByte(t, fs, filepath.Join(testPartitionDir, LeaderEpochsName), 5)
		}},
		{"garbage", func(t *testing.T, fs *vfs.MemFS) {
			require.NoError(t, fs.WriteFile(filepath.Join(testPartitionDir, LeaderEpochsName), []byte("not epochs")))
		}},
		{"too large", func(t *testing.T, fs *vfs.MemFS) {
			require.NoError(t, fs.WriteFile(filepath.Join(testPartitionDir, LeaderEpochsName), make([]byte, MaxMetadataFileSize+1)))
		}},
		{"empty", func(t *testing.T, fs *vfs.MemFS) {
			require.NoError(t, fs.WriteFile(filepath.Join(testPartitionDir, LeaderEpochsName), nil))
		}},
		{"disagrees with the scanned batches", func(t *testing.T, fs *vfs.MemFS) {
			// A valid file whose epoch 4 starts at the wrong batch, read
			// with a checkpoint that makes Open scan every batch.
			require.NoError(t, writeLeaderEpochs(fs, testPartitionDir, epochsOf(0, 0, 4, 3, 7, 20)))
			require.NoError(t, WriteCheckpoint(fs, testPartitionDir, InitialCheckpoint()))
		}},
		{"an epoch newer than the batches'", func(t *testing.T, fs *vfs.MemFS) {
			require.NoError(t, writeLeaderEpochs(fs, testPartitionDir, epochsOf(0, 0, 8, 10)))
			require.NoError(t, WriteCheckpoint(fs, testPartitionDir, InitialCheckpoint()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := smallConfig(mem)
			p := openPartitionLog(t, cfg, true)
			for i, e := range []int32{0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 7, 7, 7, 7, 7} {
				_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", strings.Repeat("v", 300)), rec("l", fmt.Sprint(i))), AppendOptions{Expected: -1, LeaderEpoch: e})
				require.NoError(t, err)
			}
			want := epochs(0, 0, 4, 10, 7, 20)
			require.Equal(t, want, p.LeaderEpochs())
			require.NoError(t, p.Close())
			tc.damage(t, mem)

			logs := &logCapture{}
			cfg.Logger = slog.New(logs)
			q := openPartitionLog(t, cfg, false)
			require.Contains(t, logs.messages(), rebuilt)
			require.Equal(t, want, q.LeaderEpochs())
			require.Equal(t, want, fileEpochs(t, mem), "written again")
			require.NoError(t, q.Check(ctx))
			require.NoError(t, q.Close())

			logs = &logCapture{}
			cfg.Logger = slog.New(logs)
			r := openPartitionLog(t, cfg, false)
			require.NotContains(t, logs.messages(), rebuilt, "once is enough")
			require.Equal(t, want, r.LeaderEpochs())
		})
	}
}

// Open takes the file as it is when it agrees with the batches: entries
// below the log start offset (a trim not written yet) are trimmed, an
// epoch assigned at the end without a batch stays, and an epoch above
// the end (its batches lost with an unsynced tail) goes; none of it is a
// rebuild.
func TestRecoveryTrimsLeaderEpochs(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	for _, e := range []int32{1, 1, 1, 2, 2, 2} {
		_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, LeaderEpoch: e})
		require.NoError(t, err)
	}
	_, err := p.DeleteRecords(ctx, 4)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	for _, tc := range []struct {
		name string
		file *leaderEpochs
		want []EpochEntry
	}{
		{"stale below the start", epochsOf(1, 0, 2, 3), epochs(2, 4)},
		{"assigned at the end", epochsOf(1, 0, 2, 3, 5, 6), epochs(2, 4, 5, 6)},
		{"above the end", epochsOf(1, 0, 2, 3, 5, 9), epochs(2, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := mem.CrashClone(vfs.CrashOptions{})
			require.NoError(t, writeLeaderEpochs(fs, testPartitionDir, tc.file))
			logs := &logCapture{}
			ccfg := cfg
			ccfg.FS, ccfg.Logger = fs, slog.New(logs)
			q := openPartitionLog(t, ccfg, false)
			require.NotContains(t, logs.messages(), "rebuilding the leader epochs from the batch headers")
			require.Equal(t, tc.want, q.LeaderEpochs())
			require.Equal(t, tc.want, fileEpochs(t, fs))
			require.NoError(t, q.Check(ctx))
		})
	}
}

// A crash at any file operation of the first append of an epoch (which
// writes the leader-epoch file first) and of AssignLeaderEpoch opens to
// the state before or after it, with leader epochs that agree with the
// batches; an epoch recorded without its batch is one assigned at the
// end. Nothing acknowledged before is lost.
func TestCrashDuringEpochChanges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup int // batches appended first, at epoch 0
		op    func(p *PartitionLog) error
	}{
		{"the first append", 0, func(p *PartitionLog) error {
			_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "first")), AppendOptions{Expected: -1})
			return err
		}},
		{"the first append of a new epoch", 12, func(p *PartitionLog) error {
			_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "epoch 3")), AppendOptions{Expected: -1, LeaderEpoch: 3})
			return err
		}},
		{"AssignLeaderEpoch", 12, func(p *PartitionLog) error { return p.AssignLeaderEpoch(4) }},
		{"AssignLeaderEpoch on an empty partition", 0, func(p *PartitionLog) error { return p.AssignLeaderEpoch(2) }},
	} {
		for _, sync := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/SyncAlways=%v", tc.name, sync), func(t *testing.T) {
				cr := newCrashRecorder()
				cfg := smallConfig(cr.fs())
				cfg.SyncAlways = sync
				p := openPartitionLog(t, cfg, true)
				for i := range tc.setup {
					mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: []byte(fmt.Sprint(i, strings.Repeat("x", 300)))}))
				}
				require.NoError(t, p.Flush(ctx))
				before := stateOf(t, p)
				states := cr.record(func() { require.NoError(t, tc.op(p)) })
				after := stateOf(t, p)
				require.NotEmpty(t, states)
				seen := map[int]int{}
				for i, fs := range states {
					what := fmt.Sprintf("crash state %d of %d", i, len(states))
					q := openCrashed(t, cfg, fs, what)
					seen[requireOneOf(t, stateOf(t, q), true, what, before, after)]++
					// The reopened log takes the operation again.
					require.NoError(t, tc.op(q), what)
					require.NoError(t, q.Check(ctx), what)
					require.NoError(t, q.Close())
				}
				require.Positive(t, seen[1], "some crash states hold the change")
			})
		}
	}
}
