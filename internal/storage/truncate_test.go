package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// truncLog fills a partition with 30 batches of 2 records (offsets 0 to
// 59) over several segments, in epochs 0 (offsets 0-19), 2 (20-39) and 4
// (40-59); every third batch is producer 7's (sequences 0, 2, ...). It
// checkpoints (a producer snapshot at 60) and returns the partition's
// batches as stored.
func truncLog(t *testing.T, p *PartitionLog) [][]byte {
	t.Helper()
	ctx := context.Background()
	seq := int32(0)
	for i := range 30 {
		b := plainBatch(t, 1_700_000_000_000+int64(i), rec("k", strings.Repeat("v", 500)), rec("l", fmt.Sprint(i)))
		if i%3 == 0 {
			b = idempotentBatch(t, 7, 0, seq, 2)
			seq += 2
		}
		_, err := p.AppendBatch(ctx, b, AppendOptions{Expected: -1, LeaderEpoch: int32(i / 10 * 2)})
		require.NoError(t, err)
	}
	require.NoError(t, p.Checkpoint(ctx))
	require.Greater(t, len(p.Segments()), 3)
	return stateOf(t, p).batches
}

// batchesBelow returns the batches that end at or below offset.
func batchesBelow(batches [][]byte, offset int64) [][]byte {
	var out [][]byte
	for _, b := range batches {
		h, _ := record.ParseHeader(b, len(b))
		if h.NextOffset() <= offset {
			out = append(out, b)
		}
	}
	return out
}

// dirFiles returns the names in the partition's directory.
func dirFiles(t testing.TB, fs vfs.FS) []string {
	t.Helper()
	names, err := fs.List(testPartitionDir)
	require.NoError(t, err)
	slices.Sort(names)
	return names
}

// TruncateTo cuts the log at a batch boundary (rounding an offset inside
// a batch down to the batch's start), from the data, the indexes, the
// leader epochs, the producer snapshots and every offset; the log then
// takes appends at the cut, and reopens as truncated.
func TestTruncateTo(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		offset int64
		end    int64
		epochs []EpochEntry
		start  int64 // DeleteRecords first
	}{
		{"at a batch boundary", 30, 30, epochs(0, 0, 2, 20), 0},
		{"inside a batch", 31, 30, epochs(0, 0, 2, 20), 0},
		{"at an epoch's start", 20, 20, epochs(0, 0), 0},
		{"into the first epoch", 6, 6, epochs(0, 0), 0},
		{"the whole log", 0, 0, epochs(), 0},
		{"to the log start offset", 10, 10, epochs(), 10},
		{"the last batch", 58, 58, epochs(0, 0, 2, 20, 4, 40), 0},
	} {
		for _, inPlace := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/in place=%v", tc.name, inPlace), func(t *testing.T) {
				tc := tc // appended to below
				mem := vfs.NewMem()
				cfg := smallConfig(mem)
				cfg.IndexIntervalBytes = 600
				p := openPartitionLog(t, cfg, true)
				batches := truncLog(t, p)
				if tc.start > 0 {
					_, err := p.DeleteRecords(ctx, tc.start)
					require.NoError(t, err)
				}
				var r *Reader
				if !inPlace {
					// A reader in the segment holding the cut makes it be
					// copied rather than cut in place.
					var err error
					r, err = p.NewReader(tc.end, p.HighWatermarkPosition())
					require.NoError(t, err)
					defer r.Close()
				}
				segs := p.Segments()
				holding := segs[segmentHoldingInfo(segs, tc.end)]
				require.NoError(t, p.TruncateTo(ctx, tc.offset))
				require.Equal(t, inPlace, holding.Closed(), "cut in place, or copied")
				if r != nil {
					r.Close()
					require.True(t, holding.Closed(), "closed once its reader lets go")
				}
				want := batchesBelow(batches, tc.end)
				check := func(p *PartitionLog, what string) {
					t.Helper()
					got := stateOf(t, p)
					require.Equal(t, want, got.batches, what)
					require.Equal(t, tc.epochs, got.epochs, what)
					require.Equal(t, tc.end, p.EndOffset(), what)
					require.Equal(t, tc.end, p.HighWatermark(), what)
					require.Equal(t, tc.end, p.DurableOffset(), what)
					require.Equal(t, tc.start, p.StartOffset(), what)
					segs := p.Segments()
					require.Equal(t, tc.end, segs[len(segs)-1].Next, what)
					require.False(t, segs[len(segs)-1].Sealed, what)
					requireContiguous(t, segs)
					for _, n := range dirFiles(t, mem) {
						if off, ok := ParseSnapshotFileName(n); ok {
							require.LessOrEqual(t, off, tc.end, "%s: snapshot %s past the end", what, n)
						}
						if base, ok := ParseSegmentName(n, LogSuffix); ok {
							require.LessOrEqual(t, base, tc.end, "%s: segment %s past the end", what, n)
						}
						require.False(t, strings.HasSuffix(n, TmpSuffix), "%s: %s left", what, n)
					}
					require.NoError(t, p.Check(ctx), what)
				}
				check(p, "truncated")
				cp := p.LastCheckpoint()
				require.Equal(t, tc.end, cp.RecoveryOffset)
				require.Zero(t, cp.Flags&checkpointTruncated, "the final checkpoint has no truncation flag")

				res, err := p.AppendBatch(ctx, plainBatch(t, 5, rec("after", "cut")), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err)
				require.Equal(t, tc.end, res.BaseOffset, "the next append goes to the cut")
				want = append(want, stateOf(t, p).batches[len(want)])
				tc.epochs = append(slices.Clone(tc.epochs), EpochEntry{6, tc.end})
				tc.end++
				check(p, "appended after")
				require.NoError(t, p.Close())
				check(openPartitionLog(t, cfg, false), "reopened")
			})
		}
	}
}

// TruncateTo refuses an offset below the log start offset, a negative
// one, and a closed or failed partition, changing nothing; an offset at or
// past the end is a no-op.
func TestTruncateToRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		offset  int64
		wantErr error
	}{
		{"below the start", 9, ErrInvalidArgument},
		{"negative", -1, ErrInvalidArgument},
		{"at the end", 60, nil},
		{"past the end", 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			fs, writes := epochFileWrites(mem)
			p := openPartitionLog(t, smallConfig(fs), true)
			truncLog(t, p)
			_, err := p.DeleteRecords(ctx, 10)
			require.NoError(t, err)
			before, files, n, cp := stateOf(t, p), dirFiles(t, mem), writes.Load(), p.LastCheckpoint()
			err = p.TruncateTo(ctx, tc.offset)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, before, stateOf(t, p))
			require.Equal(t, files, dirFiles(t, mem))
			require.Equal(t, n, writes.Load())
			require.Equal(t, cp, p.LastCheckpoint())
			require.Equal(t, int64(60), p.EndOffset())
			require.NoError(t, p.Check(ctx))
		})
	}
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	truncLog(t, p)
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.TruncateTo(ctx, 10), ErrClosed)

	// A failed partition refuses too.
	var fail atomic.Bool
	mem := vfs.NewMem()
	q := openPartitionLog(t, smallConfig(vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, _ string) error {
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
	require.ErrorIs(t, q.TruncateTo(ctx, 10), ErrDurability)
}

// A cut inside the batch that holds the log start (DeleteRecords moved
// the start inside it) leaves no record: the log restarts empty at its
// start, takes appends there, and reopens so; a cut above that batch
// still keeps it.
func TestTruncateToInsideTheBatchHoldingTheStart(t *testing.T) {
	ctx := context.Background()
	for _, offset := range []int64{11, 12} { // the batch at 10 holds 10 and 11, the start 11
		t.Run(fmt.Sprint(offset), func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := smallConfig(mem)
			p := openPartitionLog(t, cfg, true)
			truncLog(t, p)
			_, err := p.DeleteRecords(ctx, 11)
			require.NoError(t, err)
			require.NoError(t, p.TruncateTo(ctx, offset))
			if offset == 12 {
				require.Equal(t, int64(12), p.EndOffset(), "a cut above the batch holding the start keeps it")
				require.Equal(t, []int64{11}, readOffsets(t, p, 11))
				return
			}
			require.Equal(t, int64(11), p.StartOffset())
			require.Equal(t, int64(11), p.EndOffset())
			require.Equal(t, int64(11), p.HighWatermark())
			require.Empty(t, readOffsets(t, p, 11))
			require.Empty(t, p.LeaderEpochs())
			res, err := p.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1")), 11, 6), AppendOptions{Expected: -1})
			require.NoError(t, err)
			require.Equal(t, int64(11), res.BaseOffset)
			require.NoError(t, p.Check(ctx))
			require.NoError(t, p.Close())
			q := openPartitionLog(t, cfg, false)
			require.Equal(t, []int64{11}, readOffsets(t, q, 11))
			require.NoError(t, q.Check(ctx))
		})
	}
}

// After TruncateTo and appends on either path, and a reopen, an
// idempotent producer's retry of a batch below the cut is recognised with
// its offsets, and one of a batch that was cut is not: it is appended.
func TestTruncateToRebuildsProducerState(t *testing.T) {
	ctx := context.Background()
	for _, follower := range []bool{false, true} {
		t.Run(fmt.Sprintf("follower=%v", follower), func(t *testing.T) {
			mem := vfs.NewMem()
			cfg := smallConfig(mem)
			p := openPartitionLog(t, cfg, true)
			truncLog(t, p)
			// Producer 7's batches are at 0, 6, 12, ..., 54, sequences 0, 2,
			// ..., 18. The cut at 40 keeps those through offset 36 (seq 12).
			require.NoError(t, p.TruncateTo(ctx, 40))
			next := plainBatch(t, 1, rec("k", "new"))
			if follower {
				_, err := p.AppendAsFollower(ctx, leaderBatch(next, 40, 6), AppendOptions{Expected: -1})
				require.NoError(t, err)
			} else {
				_, err := p.AppendBatch(ctx, next, AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err)
			}
			require.NoError(t, p.Checkpoint(ctx))
			require.NoError(t, p.Close())
			q := openPartitionLog(t, cfg, false)
			for _, retry := range []struct {
				seq  int32
				base int64
			}{{12, 36}, {10, 30}} {
				dup, err := q.AppendBatch(ctx, idempotentBatch(t, 7, 0, retry.seq, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err)
				require.Equal(t, retry.base, dup.BaseOffset, "seq %d is a duplicate", retry.seq)
			}
			require.Equal(t, int64(41), q.EndOffset())
			res, err := q.AppendBatch(ctx, idempotentBatch(t, 7, 0, 14, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
			require.NoError(t, err, "seq 14 was cut: it is appended again")
			require.Equal(t, int64(41), res.BaseOffset)
			_, err = q.AppendBatch(ctx, idempotentBatch(t, 7, 0, 18, 2), AppendOptions{Expected: -1, LeaderEpoch: 6})
			require.ErrorIs(t, err, ErrOutOfOrderSequence, "seq 16 is missing now")
			require.NoError(t, q.Check(ctx))
		})
	}
}

// A reader whose bound was taken before a truncation reads the batches
// below the cut and then gets a *TruncatedError, wherever it is: in a
// segment below the one cut, in that one (which is then copied, not cut
// under it), or in a segment the truncation removed; a reader bounded by
// a position taken after it reads the new log.
func TestTruncateToReaders(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		from int64
	}{{"below the segment cut", 0}, {"in the segment cut", 30}, {"in a segment removed", 56}} {
		for _, bound := range []string{"high watermark", "written"} {
			t.Run(tc.name+"/"+bound, func(t *testing.T) {
				p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
				truncLog(t, p)
				pos := p.HighWatermarkPosition()
				if bound == "written" {
					pos = p.WrittenPosition()
				}
				r, err := p.NewReader(tc.from, pos)
				require.NoError(t, err)
				defer r.Close()
				if _, _, err := r.Next(); err != nil {
					require.NoError(t, err) // the reader is inside its first segment
				}
				stale := p.HighWatermarkPosition()
				require.NoError(t, p.TruncateTo(ctx, 34))
				// Appends after the cut must not be read as what the
				// reader expected.
				for range 20 {
					_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("x", strings.Repeat("y", 300))), AppendOptions{Expected: -1, LeaderEpoch: 6})
					require.NoError(t, err)
				}
				for _, rd := range []*Reader{r, mustReader(t, p, tc.from, stale)} {
					var last int64 = -1
					for {
						_, h, err := rd.Next()
						if err != nil {
							var terr *TruncatedError
							require.ErrorAs(t, err, &terr)
							require.ErrorIs(t, err, ErrLogTruncated)
							require.Equal(t, int64(34), terr.End)
							break
						}
						require.Less(t, h.LastOffset(), int64(34), "a batch above the cut")
						last = h.LastOffset()
					}
					if tc.from < 34 {
						require.Equal(t, int64(33), last, "every batch below the cut is read")
					}
					rd.Close()
				}
				require.Equal(t, span(0, 54), readOffsets(t, p, 0), "a new reader reads the new log")
				w, err := p.NewReader(0, p.WrittenPosition())
				require.NoError(t, err)
				n := 0
				for {
					_, _, err := w.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(t, err)
					n++
				}
				w.Close()
				require.Equal(t, 17+20, n)
				require.NoError(t, p.Check(ctx))
			})
		}
	}
}

func mustReader(t *testing.T, p *PartitionLog, from int64, hw *Position) *Reader {
	t.Helper()
	r, err := p.NewReader(from, hw)
	require.NoError(t, err)
	return r
}

// A compaction pass running while the log is truncated drops its work
// (the swap would bring truncated records back) and leaves the cleaner
// point at or below the cut; a later pass compacts the truncated log.
func TestTruncateToDuringCompaction(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var (
		p         *PartitionLog
		truncated atomic.Bool
		terr      error
	)
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpCreate && strings.HasSuffix(path, LogSuffix+CleanedSuffix) && truncated.CompareAndSwap(false, true) {
			terr = p.TruncateTo(ctx, 30) // in the middle of the pass, from its goroutine
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
	require.NoError(t, p.Compact(ctx, cfg.Now()))
	require.True(t, truncated.Load(), "the pass was interrupted")
	require.NoError(t, terr)
	require.Equal(t, int64(30), p.EndOffset())
	require.Equal(t, span(0, 30), readOffsets(t, p, 0), "nothing was compacted, nothing came back")
	require.NoError(t, p.Check(ctx))
	for _, n := range dirFiles(t, mem) {
		require.False(t, strings.Contains(n, CleanedSuffix) || strings.Contains(n, SwapSuffix), "%s left", n)
	}
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Compact(ctx, cfg.Now()))
	require.Equal(t, []int64{26, 27, 28, 29}, readOffsets(t, p, 0), "a later pass compacts")
	require.LessOrEqual(t, p.LastCheckpoint().CleanerOffset, int64(30))
	require.NoError(t, p.Check(ctx))
}

// A crash at any file operation of TruncateTo opens to the log as it was
// or as truncated, never anything else; a crash after it returned opens
// to the truncated log with what was appended after it, and nothing cut
// comes back.
func TestCrashDuringTruncateTo(t *testing.T) {
	ctx := context.Background()
	for _, sync := range []bool{true, false} {
		for _, inPlace := range []bool{true, false} {
			t.Run(fmt.Sprintf("SyncAlways=%v/in place=%v", sync, inPlace), func(t *testing.T) {
				cr := newCrashRecorder()
				cfg := smallConfig(cr.fs())
				cfg.SyncAlways = sync
				p := openPartitionLog(t, cfg, true)
				truncLog(t, p)
				before := stateOf(t, p)
				if !inPlace {
					r, err := p.NewReader(30, p.HighWatermarkPosition())
					require.NoError(t, err)
					defer r.Close()
				}
				states := cr.record(func() { require.NoError(t, p.TruncateTo(ctx, 30)) })
				after := stateOf(t, p)
				require.Len(t, after.batches, 15)
				seen := map[int]int{}
				for i, fs := range states {
					what := fmt.Sprintf("crash state %d of %d", i, len(states))
					q := openCrashed(t, cfg, fs, what)
					k := requireOneOf(t, stateOf(t, q), false, what, before, after)
					seen[k]++
					if i >= len(states)-3 {
						require.Equal(t, 1, k, "%s: taken after TruncateTo returned", what)
					}
					require.NoError(t, q.Close())
				}
				require.Positive(t, seen[0])
				require.Positive(t, seen[1])

				// Appended after the cut, acknowledged, then a crash.
				_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "after")), AppendOptions{Expected: -1, LeaderEpoch: 6})
				require.NoError(t, err)
				if !sync {
					require.NoError(t, p.Flush(ctx))
				}
				final := stateOf(t, p)
				for _, keep := range []float64{0, 1} {
					q := openCrashed(t, cfg, cr.mem.CrashClone(vfs.CrashOptions{KeepUnsynced: keep}), "after")
					require.Equal(t, final, stateOf(t, q))
					require.NoError(t, q.Close())
				}
			})
		}
	}
}

// crashAfterCommit returns mem behind an injector that, at the first
// operation after a checkpoint flagged flag is on disk (the leader-epoch
// file's replacement, both in a truncation and in a reset), sets
// *crashed to a crash state of mem: the operation interrupted just past
// its commit point.
func crashAfterCommit(mem *vfs.MemFS, flag uint16) (vfs.FS, **vfs.MemFS) {
	crashed := new(*vfs.MemFS)
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if *crashed == nil && op == vfs.OpCreate && filepath.Base(path) == LeaderEpochsName+TmpSuffix {
			if cp, ok, _, _ := readCheckpoint(mem, testPartitionDir); ok && cp.flags&flag != 0 {
				*crashed = mem.CrashClone(vfs.CrashOptions{})
			}
		}
		return nil
	}), vfs.InjectOptions{})
	return fs, crashed
}

// A truncation that passed its commit point is completed by Open, and
// logged.
func TestOpenCompletesTruncation(t *testing.T) {
	ctx := context.Background()
	fs, crashed := crashAfterCommit(vfs.NewMem(), checkpointTruncated)
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	batches := truncLog(t, p)
	require.NoError(t, p.TruncateTo(ctx, 30))
	require.NotNil(t, *crashed)
	logs := &logCapture{}
	ccfg := cfg
	ccfg.FS, ccfg.Logger = *crashed, slog.New(logs)
	q := openPartitionLog(t, ccfg, false)
	require.Contains(t, logs.messages(), "completed a truncation interrupted by a crash")
	require.Equal(t, batchesBelow(batches, 30), stateOf(t, q).batches)
	require.Equal(t, epochs(0, 0, 2, 20), q.LeaderEpochs())
	require.NoError(t, q.Check(ctx))
}

// Completing an interrupted truncation clears its flag at once: were the
// flag left for the checkpoint Open ends with, which is skipped when it
// finds no space, the next Open would cut there again, taking what was
// appended and acknowledged meanwhile. Without space for that, Open fails
// and changes nothing more; with space, appends after it survive a crash.
func TestOpenCompletingTruncationNeedsItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	fs, crashed := crashAfterCommit(vfs.NewMem(), checkpointTruncated)
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	batches := truncLog(t, p)
	require.NoError(t, p.TruncateTo(ctx, 30))
	require.NotNil(t, *crashed)

	var full atomic.Bool
	full.Store(true)
	ccfg := cfg
	ccfg.FS = vfs.WithInjector(*crashed, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if full.Load() && op == vfs.OpWrite && filepath.Base(path) == CheckpointName+TmpSuffix {
			return syscall.ENOSPC
		}
		return nil
	}), vfs.InjectOptions{})
	_, err := Open(ccfg, false)
	require.Error(t, err, "no space for the checkpoint that ends the truncation")
	require.True(t, vfs.IsNoSpace(err), "%v", err)

	full.Store(false)
	q := openPartitionLog(t, ccfg, false)
	require.Equal(t, batchesBelow(batches, 30), stateOf(t, q).batches)
	cp, ok, _, err := readCheckpoint(*crashed, testPartitionDir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Zero(t, cp.flags&checkpointTruncated, "the flag is gone once Open has completed the cut")
	res, err := q.AppendAsFollower(ctx, leaderBatch(plainBatch(t, 5, rec("a", "1")), q.EndOffset(), 3), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.NoError(t, q.SyncTo(ctx, res.LastOffset+1))
	again := (*crashed).CrashClone(vfs.CrashOptions{})
	acfg := cfg
	acfg.FS = again
	r := openPartitionLog(t, acfg, false)
	require.Equal(t, res.LastOffset+1, r.EndOffset(), "the record appended after the completed truncation survives")
	require.NoError(t, r.Check(ctx))
}

// segmentHoldingInfo returns the index of the segment holding offset.
func segmentHoldingInfo(segs []SegmentInfo, offset int64) int {
	i := 0
	for i+1 < len(segs) && segs[i+1].Base <= offset {
		i++
	}
	return i
}

// Truncations while appenders and readers run: appends whose records a
// cut removed before their fsync fail with ErrLogTruncated (never a
// success for records that are gone), readers see checked, contiguous
// batches and end with io.EOF or ErrLogTruncated, and the log checks and
// reopens.
func TestTruncateToWhileAppendsAndReadsRun(t *testing.T) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", durable), func(t *testing.T) {
			cfg := smallConfig(vfs.NewMem())
			cfg.SyncAlways = durable
			p := openPartitionLog(t, cfg, true)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var appended, cut atomic.Int64
			// Each appender says when its first append succeeded (or it
			// stopped), so that the cuts below run while appends do,
			// whatever the scheduler.
			first := make(chan struct{}, 2)
			for w := range 2 {
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
						_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", fmt.Sprint(w, i, strings.Repeat("v", 100)))), AppendOptions{Expected: -1})
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
			}
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := p.NewReader(0, p.HighWatermarkPosition())
					if err != nil {
						t.Errorf("reader: %v", err)
						return
					}
					next := int64(0)
					for {
						_, h, err := r.Next()
						if errors.Is(err, io.EOF) || errors.Is(err, ErrLogTruncated) {
							break
						}
						if err != nil {
							t.Errorf("read: %v", err)
							break
						}
						if h.BaseOffset != next {
							t.Errorf("batch at %d after one ending at %d", h.BaseOffset, next)
						}
						next = h.NextOffset()
					}
					r.Close()
				}
			})
			for range 2 {
				<-first
			}
			for range 30 {
				for p.EndOffset() < 40 {
					_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "main")), AppendOptions{Expected: -1})
					if !errors.Is(err, ErrLogTruncated) {
						require.NoError(t, err)
					}
				}
				require.NoError(t, p.TruncateTo(ctx, p.EndOffset()*2/3))
			}
			close(stop)
			wg.Wait()
			require.Positive(t, appended.Load())
			require.NoError(t, p.Check(ctx))
			end := stateOf(t, p)
			require.NoError(t, p.Close())
			q := openPartitionLog(t, cfg, false)
			require.Equal(t, end, stateOf(t, q))
			require.NoError(t, q.Check(ctx))
			t.Logf("%d appends acknowledged, %d cut before their fsync", appended.Load(), cut.Load())
		})
	}
}
