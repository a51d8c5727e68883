package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// producer7 is the range of producer ids holding truncLog's producer 7
// and nothing else: ProducerIDFloor over it says whether the partition
// remembers that producer (8) or not (0).
const producer7Lo, producer7Hi = 0, 100

// requireResetAt checks that p is the empty log at offset a reset leaves:
// every offset at offset, one empty active segment based there, no leader
// epochs (in memory or in the file), no producer state, no snapshot or
// segment file of the old log (a snapshot at offset, of the empty state,
// is the new log's), and a checkpoint at offset without the reset flag.
func requireResetAt(t *testing.T, p *PartitionLog, fs vfs.FS, offset int64, what string) {
	t.Helper()
	require.Equal(t, offset, p.StartOffset(), what)
	require.Equal(t, offset, p.EndOffset(), what)
	require.Equal(t, offset, p.DurableOffset(), what)
	require.Equal(t, offset, p.HighWatermark(), what)
	require.Empty(t, p.LeaderEpochs(), what)
	require.Equal(t, int32(NoEpoch), p.LatestEpoch(), what)
	require.Empty(t, fileEpochs(t, fs), what)
	require.Equal(t, int64(producer7Lo), p.ProducerIDFloor(producer7Lo, producer7Hi), "%s: the producers' state is cleared", what)
	segs := p.Segments()
	require.Len(t, segs, 1, what)
	require.Equal(t, offset, segs[0].Base, what)
	require.Equal(t, offset, segs[0].Next, what)
	require.Zero(t, segs[0].Size, what)
	require.False(t, segs[0].Sealed, what)
	for _, n := range dirFiles(t, fs) {
		if base, ok := ParseSegmentName(n, LogSuffix); ok {
			require.Equal(t, offset, base, "%s: segment %s", what, n)
		}
		if at, ok := ParseSnapshotFileName(n); ok {
			require.Equal(t, offset, at, "%s: snapshot %s of the old log left", what, n)
		}
		require.False(t, strings.HasSuffix(n, TmpSuffix), "%s: %s left", what, n)
	}
	cp := p.LastCheckpoint()
	require.Equal(t, offset, cp.RecoveryOffset, what)
	require.Equal(t, offset, cp.LogStartOffset, what)
	require.Equal(t, offset, cp.CleanerOffset, what)
	require.Zero(t, cp.Flags&checkpointReset, "%s: the checkpoint has no reset flag", what)
	require.NoError(t, p.Check(context.Background()), what)
}

// ResetTo empties the log and restarts it at the offset: past or at the
// end, and, on a log holding no records, below or at its start. The log
// then takes a leader's batches and its own appends at the offset, with
// a fresh producer state, and reopens as reset.
func TestResetTo(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		delete int64 // DeleteRecords first, unless 0
		offset int64
	}{
		{"past the end", 0, 100},
		{"at the end", 0, 60},
		{"an empty log, below its start", 60, 41},
		{"an empty log, at its start", 60, 60},
		{"an empty log, past its end", 60, 75},
	} {
		for _, sync := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/SyncAlways=%v", tc.name, sync), func(t *testing.T) {
				mem := vfs.NewMem()
				cfg := smallConfig(mem)
				cfg.SyncAlways = sync
				p := openPartitionLog(t, cfg, true)
				truncLog(t, p)
				require.Equal(t, int64(8), p.ProducerIDFloor(producer7Lo, producer7Hi))
				if tc.delete > 0 {
					_, err := p.DeleteRecords(ctx, tc.delete)
					require.NoError(t, err)
				}
				old := p.Segments()
				require.NoError(t, p.ResetTo(ctx, tc.offset))
				requireResetAt(t, p, mem, tc.offset, "reset")
				for _, s := range old {
					require.True(t, s.Closed(), "old segment %d closed", s.Base)
				}

				// A follower's first batch goes to the offset, verbatim.
				res, err := p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1"), rec("b", "2")), tc.offset, 6), AppendOptions{Expected: -1})
				require.NoError(t, err)
				require.Equal(t, tc.offset, res.BaseOffset)
				require.Equal(t, epochs(6, tc.offset), p.LeaderEpochs())
				// Producer 7's last batch before the reset (sequence 18, at
				// offset 54) is no duplicate now: it is appended.
				res, err = p.AppendBatch(ctx, idempotentBatch(t, 7, 0, 18, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err)
				require.Equal(t, tc.offset+2, res.BaseOffset)
				res, err = p.AppendBatch(ctx, idempotentBatch(t, 7, 0, 20, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err, "sequence 20 follows 18")
				require.Equal(t, tc.offset+4, res.BaseOffset)
				end := tc.offset + 6
				require.Equal(t, end, p.EndOffset())
				require.Equal(t, end, p.HighWatermark())
				require.Equal(t, span(tc.offset, end), readOffsets(t, p, tc.offset))
				require.NoError(t, p.Check(ctx))
				want := stateOf(t, p)
				require.NoError(t, p.Close())

				q := openPartitionLog(t, cfg, false)
				require.Equal(t, want, stateOf(t, q), "reopened")
				require.Equal(t, tc.offset, q.StartOffset())
				require.Equal(t, end, q.EndOffset())
				require.Equal(t, span(tc.offset, end), readOffsets(t, q, tc.offset))
				_, err = q.AppendBatch(ctx, idempotentBatch(t, 7, 0, 20, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err, "a retry of sequence 20 is recognised after the reopen")
				require.Equal(t, end, q.EndOffset())
				require.NoError(t, q.Check(ctx))
			})
		}
	}
}

// On a Replicated log the reset moves the high watermark's limit to the
// offset too, down as well as up: the next SetHighWatermark above the
// offset moves the high watermark, and none at or below it does.
func TestResetToReplicated(t *testing.T) {
	ctx := context.Background()
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) {
			var moves atomic.Int64
			mem := vfs.NewMem()
			p := openPartitionLog(t, replicatedConfig(mem, sync, &moves), true)
			appendN(t, p, 10, AppendOptions{LeaderEpoch: 1})
			p.SetHighWatermark(20)
			require.Equal(t, int64(20), p.HighWatermark())

			// Up, past the end and the limit.
			require.NoError(t, p.ResetTo(ctx, 50))
			requireResetAt(t, p, mem, 50, "reset up")
			p.SetHighWatermark(40)
			require.Equal(t, int64(50), p.HighWatermark())
			p.SetHighWatermark(60) // a limit past the end, above the next reset
			require.Equal(t, int64(50), p.HighWatermark())

			// Down, on the empty log: what a follower does to take a
			// leader's batch that holds the leader's log start.
			before := moves.Load()
			require.NoError(t, p.ResetTo(ctx, 44))
			requireResetAt(t, p, mem, 44, "reset down")
			require.Greater(t, moves.Load(), before, "OnHighWatermark heard of the move")
			_, err := p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1"), rec("b", "2"), rec("c", "3")), 44, 3), AppendOptions{Expected: -1})
			require.NoError(t, err)
			require.Equal(t, int64(44), p.HighWatermark(), "appends do not move it: the limit came down to 44")
			p.SetHighWatermark(46)
			require.Equal(t, int64(44), p.HighWatermark(), "inside the batch: its base")
			p.SetHighWatermark(48)
			require.Equal(t, int64(47), p.HighWatermark(), "past the end: the end, below the old limit 50")
			_, err = p.DeleteRecords(ctx, 45)
			require.NoError(t, err, "the log start moves up into the batch")
			require.Equal(t, int64(45), p.StartOffset())
			require.Equal(t, []int64{45, 46}, readOffsets(t, p, 45))
			require.NoError(t, p.Check(ctx))
		})
	}
}

// ResetTo refuses a negative offset, one below the end of a log holding
// records, and a closed or failed partition, changing nothing.
func TestResetToRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		offset int64
	}{{"negative", -1}, {"below the end", 59}, {"at the start", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			fs, writes := epochFileWrites(mem)
			p := openPartitionLog(t, smallConfig(fs), true)
			truncLog(t, p)
			before, files, n, cp := stateOf(t, p), dirFiles(t, mem), writes.Load(), p.LastCheckpoint()
			err := p.ResetTo(ctx, tc.offset)
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Equal(t, before, stateOf(t, p))
			require.Equal(t, files, dirFiles(t, mem))
			require.Equal(t, n, writes.Load())
			require.Equal(t, cp, p.LastCheckpoint())
			require.Equal(t, int64(60), p.EndOffset())
			require.Equal(t, int64(8), p.ProducerIDFloor(producer7Lo, producer7Hi))
			require.NoError(t, p.Check(ctx))
		})
	}
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	truncLog(t, p)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.ResetTo(ctx, 100), ErrClosed)

	var fail atomic.Bool
	q := openPartitionLog(t, smallConfig(vfs.WithInjector(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, _ string) error {
		if fail.Load() && op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	}), vfs.InjectOptions{})), true)
	truncLog(t, q)
	fail.Store(true)
	_, err := q.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, LeaderEpoch: 4})
	require.ErrorIs(t, err, ErrDurability)
	fail.Store(false)
	require.ErrorIs(t, q.ResetTo(ctx, 100), ErrDurability)
}

// No space for the commit checkpoint: ErrDiskFull, and nothing changed.
func TestResetToDiskFull(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var full atomic.Bool
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if full.Load() && op == vfs.OpWrite && filepath.Base(path) == CheckpointName+TmpSuffix {
			return syscall.ENOSPC
		}
		return nil
	}), vfs.InjectOptions{})
	p := openPartitionLog(t, smallConfig(fs), true)
	truncLog(t, p)
	before, files := stateOf(t, p), dirFiles(t, mem)
	full.Store(true)
	require.ErrorIs(t, p.ResetTo(ctx, 100), ErrDiskFull)
	full.Store(false)
	require.Equal(t, before, stateOf(t, p))
	require.Equal(t, files, dirFiles(t, mem))
	require.Equal(t, int64(60), p.EndOffset())
	require.NoError(t, p.ResetTo(ctx, 100), "the partition is still usable")
	requireResetAt(t, p, mem, 100, "reset after the disk had room again")
}

// A reader whose bound was taken before a reset gets a *TruncatedError at
// its next batch, wherever it is, and never reads a batch of the new log;
// a reader bounded by a position taken after it reads the new log.
func TestResetToReaders(t *testing.T) {
	ctx := context.Background()
	for _, from := range []int64{0, 30, 56} {
		for _, bound := range []string{"high watermark", "written"} {
			t.Run(fmt.Sprintf("from %d/%s", from, bound), func(t *testing.T) {
				p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
				truncLog(t, p)
				pos := p.HighWatermarkPosition()
				if bound == "written" {
					pos = p.WrittenPosition()
				}
				r := mustReader(t, p, from, pos)
				defer r.Close()
				_, h, err := r.Next()
				require.NoError(t, err)
				require.LessOrEqual(t, h.BaseOffset, from)
				stale := p.HighWatermarkPosition()
				require.NoError(t, p.ResetTo(ctx, 100))
				for range 20 {
					_, err := p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 1, rec("x", strings.Repeat("y", 300))), p.EndOffset(), 6), AppendOptions{Expected: -1})
					require.NoError(t, err)
				}
				for _, rd := range []*Reader{r, mustReader(t, p, from, stale), mustReader(t, p, 100, stale)} {
					_, h, err := rd.Next()
					var terr *TruncatedError
					require.ErrorAs(t, err, &terr, "batch %+v", h)
					require.ErrorIs(t, err, ErrLogTruncated)
					require.Equal(t, int64(0), terr.End, "cut at the old log's first offset")
					rd.Close()
				}
				require.Equal(t, span(100, 120), readOffsets(t, p, 100), "a new reader reads the new log")
				require.NoError(t, p.Check(ctx))
			})
		}
	}
}

// An append waiting for its fsync when a reset removes its batch is not
// acknowledged: it gets ErrLogTruncated.
func TestResetToFailsWaitingAppends(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	truncLog(t, p)
	res, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v")), AppendOptions{Expected: -1, LeaderEpoch: 4, NoWait: true})
	require.NoError(t, err)
	truncations := p.truncations.Load()
	require.NoError(t, p.ResetTo(ctx, 100))
	err = p.acknowledge(ctx, res.LastOffset+1, truncations, AppendOptions{})
	require.ErrorIs(t, err, ErrLogTruncated)
}

// A compaction pass running while the log is reset drops its work and
// leaves no file behind; the reset log takes appends and a later pass.
func TestResetToDuringCompaction(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var (
		p     *PartitionLog
		reset atomic.Bool
		rerr  error
	)
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpCreate && strings.HasSuffix(path, LogSuffix+CleanedSuffix) && reset.CompareAndSwap(false, true) {
			rerr = p.ResetTo(ctx, 100) // in the middle of the pass, from its goroutine
		}
		return nil
	}), vfs.InjectOptions{})
	cfg := smallConfig(fs)
	cfg.Compacted, cfg.RetentionDeletes = true, false
	p = openPartitionLog(t, cfg, true)
	for i := range 40 {
		_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec(fmt.Sprint("k", i%4), strings.Repeat("v", 300))), AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
	require.NoError(t, p.Roll())
	err := p.Compact(ctx, cfg.Now())
	require.True(t, reset.Load(), "the pass was interrupted")
	require.True(t, err == nil || errors.Is(err, ErrSwapStale), "compaction: %v", err)
	require.NoError(t, rerr)
	requireResetAt(t, p, mem, 100, "reset during compaction")
	for _, n := range dirFiles(t, mem) {
		require.False(t, strings.Contains(n, CleanedSuffix) || strings.Contains(n, SwapSuffix), "%s left", n)
	}
	for i := range 40 {
		_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec(fmt.Sprint("k", i%4), strings.Repeat("v", 300))), AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Compact(ctx, cfg.Now()))
	require.Equal(t, []int64{136, 137, 138, 139}, readOffsets(t, p, 100), "a later pass compacts the new log")
	require.NoError(t, p.Check(ctx))
}

// A segment retention deleted, whose files' removal waits on the owner's
// worker, may share its base with the segment a reset creates (an empty
// log reset below its start): the late removal leaves the new segment's
// files alone.
func TestResetToBelowADeletedSegment(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	var queued []func()
	cfg.Discard = func(remove func()) { queued = append(queued, remove) }
	p := openPartitionLog(t, cfg, true)
	truncLog(t, p)
	_, err := p.DeleteRecords(ctx, 60)
	require.NoError(t, err)
	old := p.Segments()
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.EnforceRetention(ctx, cfg.Now()))
	require.NotEmpty(t, queued, "retention deleted segments, their files still there")
	base := old[1].Base
	require.NoError(t, p.ResetTo(ctx, base))
	_, err = p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1")), base, 6), AppendOptions{Expected: -1})
	require.NoError(t, err)
	for _, remove := range queued {
		remove()
	}
	require.Equal(t, []int64{base}, readOffsets(t, p, base))
	require.NoError(t, p.Check(ctx))
	want := stateOf(t, p)
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, want, stateOf(t, q))
	require.NoError(t, q.Check(ctx))
}

// A crash at any file operation of ResetTo opens to the log as it was or
// as reset, never a mix of the two (the old start with the new end, old
// epochs or producers with the new log); a crash after it returned opens
// the reset log with what was appended after it, and nothing removed
// comes back.
func TestCrashDuringResetTo(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		delete int64
		offset int64
	}{{"past the end", 0, 100}, {"an empty log, below its start", 60, 41}} {
		for _, sync := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/SyncAlways=%v", tc.name, sync), func(t *testing.T) {
				cr := newCrashRecorder()
				cfg := smallConfig(cr.fs())
				cfg.SyncAlways = sync
				p := openPartitionLog(t, cfg, true)
				truncLog(t, p)
				oldStart := int64(0)
				if tc.delete > 0 {
					_, err := p.DeleteRecords(ctx, tc.delete)
					require.NoError(t, err)
					oldStart = tc.delete
				}
				// The log as it was, as Open gives it: without the
				// segments below its start.
				before := stateOf(t, openCrashed(t, cfg, cr.mem.CrashClone(vfs.CrashOptions{}), "before"))
				// A reader holding a segment keeps its files open through
				// the reset.
				r := mustReader(t, p, 30, p.HighWatermarkPosition())
				defer r.Close()
				states := cr.record(func() { require.NoError(t, p.ResetTo(ctx, tc.offset)) })
				after := stateOf(t, p)
				require.Empty(t, after.batches)
				require.Empty(t, after.epochs)
				seen := map[int]int{}
				for i, fs := range states {
					what := fmt.Sprintf("crash state %d of %d", i, len(states))
					q := openCrashed(t, cfg, fs, what)
					k := requireOneOf(t, stateOf(t, q), false, what, before, after)
					seen[k]++
					switch k {
					case 0:
						require.Equal(t, oldStart, q.StartOffset(), what)
						require.Equal(t, int64(60), q.EndOffset(), what)
						require.Equal(t, int64(8), q.ProducerIDFloor(producer7Lo, producer7Hi), "%s: the old log's producers", what)
					case 1:
						require.Equal(t, tc.offset, q.StartOffset(), what)
						require.Equal(t, tc.offset, q.EndOffset(), what)
						require.Equal(t, int64(producer7Lo), q.ProducerIDFloor(producer7Lo, producer7Hi), "%s: no producers", what)
						for _, n := range dirFiles(t, fs) {
							if base, ok := ParseSegmentName(n, LogSuffix); ok {
								require.Equal(t, tc.offset, base, "%s: segment %s", what, n)
							}
						}
						// The reset log takes a leader's batch at the offset.
						_, err := q.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1")), tc.offset, 6), AppendOptions{Expected: -1})
						require.NoError(t, err, what)
						require.NoError(t, q.Check(ctx), what)
					}
					if i >= len(states)-3 {
						require.Equal(t, 1, k, "%s: taken after ResetTo returned", what)
					}
					require.NoError(t, q.Close())
				}
				require.Positive(t, seen[0])
				require.Positive(t, seen[1])

				// Appended after the reset, acknowledged, then a crash.
				_, err := p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("k", "after")), tc.offset, 6), AppendOptions{Expected: -1})
				require.NoError(t, err)
				if !sync {
					require.NoError(t, p.Flush(ctx))
				}
				final := stateOf(t, p)
				for _, keep := range []float64{0, 1} {
					q := openCrashed(t, cfg, cr.mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep}), "after")
					require.Equal(t, final, stateOf(t, q))
					require.Equal(t, tc.offset, q.StartOffset())
					require.Equal(t, tc.offset+1, q.EndOffset())
					require.NoError(t, q.Close())
				}
			})
		}
	}
}

// A reset that passed its commit point is completed by Open, and logged;
// the checkpoint Open leaves has no reset flag, so a second Open after
// appends keeps them.
func TestOpenCompletesReset(t *testing.T) {
	ctx := context.Background()
	fs, crashedp := crashAfterCommit(vfs.NewMem(), checkpointReset)
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	truncLog(t, p)
	require.NoError(t, p.ResetTo(ctx, 100))
	crashed := *crashedp
	require.NotNil(t, crashed)
	cp, ok, _, err := readCheckpoint(crashed, testPartitionDir)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotZero(t, cp.flags&checkpointReset, "the crash came after the commit point")
	require.NotEmpty(t, fileEpochs(t, crashed), "and before the epochs were emptied")

	logs := &logCapture{}
	ccfg := cfg
	ccfg.FS, ccfg.Logger = crashed, slog.New(logs)
	q := openPartitionLog(t, ccfg, false)
	require.Contains(t, logs.messages(), "completed a reset interrupted by a crash: the log restarts empty")
	requireResetAt(t, q, crashed, 100, "opened")
	_, err = q.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1")), 100, 6), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.NoError(t, q.Close())
	logs2 := &logCapture{}
	ccfg.Logger = slog.New(logs2)
	q2 := openPartitionLog(t, ccfg, false)
	require.NotContains(t, logs2.messages(), "completed a reset interrupted by a crash: the log restarts empty")
	require.Equal(t, []int64{100}, readOffsets(t, q2, 100))
	require.NoError(t, q2.Check(ctx))
}

// A checkpoint with the reset flag and fields a reset would not write is
// refused as damaged.
func TestCheckpointResetFlag(t *testing.T) {
	good := resetCheckpoint(100, true)
	got, err := unmarshalCheckpoint(good.marshal())
	require.NoError(t, err)
	require.Equal(t, good, got)
	for name, bad := range map[string]func(*checkpoint){
		"position":      func(c *checkpoint) { c.position = 8 },
		"segment base":  func(c *checkpoint) { c.segmentBase = 90 },
		"active base":   func(c *checkpoint) { c.activeBase = 110 },
		"log start":     func(c *checkpoint) { c.logStartOffset = 90 },
		"index entries": func(c *checkpoint) { c.offsetEntries = 1 },
		"truncated too": func(c *checkpoint) { c.flags |= checkpointTruncated },
	} {
		c := good
		bad(&c)
		_, err := unmarshalCheckpoint(c.marshal())
		require.ErrorContains(t, err, "inconsistent", name)
	}
}

// Resets while appenders and readers run: appends are acknowledged or
// fail with ErrLogTruncated, readers see checked, contiguous batches and
// end with io.EOF, ErrLogTruncated or an *OffsetOutOfRangeError, and the
// log checks and reopens.
func TestResetToWhileAppendsAndReadsRun(t *testing.T) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", durable), func(t *testing.T) {
			cfg := smallConfig(vfs.NewMem())
			cfg.SyncAlways = durable
			p := openPartitionLog(t, cfg, true)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var appended, cut atomic.Int64
			// The appender says when its first append succeeded (or it
			// stopped), so that the resets below run while appends do,
			// whatever the scheduler.
			first := make(chan struct{}, 1)
			wg.Go(func() {
				signalled := false
				defer func() {
					if !signalled {
						first <- struct{}{}
					}
				}()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", fmt.Sprint(i, strings.Repeat("v", 100)))), AppendOptions{Expected: -1})
					switch {
					case errors.Is(err, ErrLogTruncated):
						cut.Add(1)
					case err != nil:
						t.Errorf("append: %v", err)
						return
					default:
						appended.Add(1)
						if !signalled {
							signalled = true
							first <- struct{}{}
						}
					}
				}
			})
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := p.NewReader(p.StartOffset(), p.HighWatermarkPosition())
					if errors.Is(err, ErrOffsetOutOfRange) {
						continue // a reset moved the start past it meanwhile
					}
					if err != nil {
						t.Errorf("reader: %v", err)
						return
					}
					next := int64(-1)
					for {
						_, h, err := r.Next()
						if errors.Is(err, io.EOF) || errors.Is(err, ErrLogTruncated) || errors.Is(err, ErrOffsetOutOfRange) {
							break
						}
						if err != nil {
							t.Errorf("read: %v", err)
							break
						}
						if next >= 0 && h.BaseOffset != next {
							t.Errorf("batch at %d after one ending at %d", h.BaseOffset, next)
						}
						next = h.NextOffset()
					}
					r.Close()
				}
			})
			<-first
			for range 20 {
				target := p.EndOffset() + 20
				for p.EndOffset() < target {
					_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "main")), AppendOptions{Expected: -1})
					if !errors.Is(err, ErrLogTruncated) {
						require.NoError(t, err)
					}
				}
				// The appender may move the end between the look and the
				// reset: then the reset refuses, and the next one goes
				// further.
				if err := p.ResetTo(ctx, p.EndOffset()+5); err != nil {
					require.ErrorIs(t, err, ErrInvalidArgument)
				}
			}
			close(stop)
			wg.Wait()
			require.Positive(t, appended.Load())
			require.NoError(t, p.Check(ctx))
			end := stateOf(t, p)
			start := p.StartOffset()
			require.NoError(t, p.Close())
			q := openPartitionLog(t, cfg, false)
			require.Equal(t, end, stateOf(t, q))
			require.Equal(t, start, q.StartOffset())
			require.NoError(t, q.Check(ctx))
			t.Logf("%d appends acknowledged, %d removed before their fsync", appended.Load(), cut.Load())
		})
	}
}
