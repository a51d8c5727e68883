package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// replicatedConfig is smallConfig for a Replicated log, counting the
// calls of OnHighWatermark.
func replicatedConfig(fs vfs.FS, sync bool, moves *atomic.Int64) Config {
	cfg := smallConfig(fs)
	cfg.SyncAlways, cfg.Replicated = sync, true
	cfg.OnHighWatermark = func() bool { moves.Add(1); return false }
	return cfg
}

// appendN appends n batches of two records (offsets end, end+1).
func appendN(t testing.TB, p *PartitionLog, n int, o AppendOptions) {
	t.Helper()
	for i := range n {
		o.Expected = -1
		_, err := p.AppendBatch(context.Background(), plainBatch(t, 1, rec("k", strings.Repeat("v", 200)), rec("l", fmt.Sprint(i))), o)
		require.NoError(t, err)
	}
}

// On a Replicated log the high watermark is min(what SetHighWatermark
// gave, the local end), follows the local end up to that limit, never
// moves down, rounds an offset inside a batch down to its base, and
// bounds readers; OnHighWatermark hears of each move.
func TestSetHighWatermark(t *testing.T) {
	ctx := context.Background()
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) {
			var moves atomic.Int64
			p := openPartitionLog(t, replicatedConfig(vfs.NewMem(), sync, &moves), true)
			appendN(t, p, 10, AppendOptions{})
			require.Zero(t, p.HighWatermark(), "appends do not move it")
			require.Empty(t, readOffsets(t, p, 0))
			for _, step := range []struct {
				set, want int64
				appends   int
			}{
				{6, 6, 0},
				{4, 6, 0},    // never down
				{6, 6, 0},    // the same: no move
				{9, 8, 0},    // inside a batch: its base
				{10, 10, 0},  //
				{30, 20, 0},  // past the end: the end
				{30, 30, 5},  // then it follows the appends up to the limit
				{30, 30, 5},  // and no further
				{37, 36, 0},  //
				{100, 40, 0}, //
			} {
				what := fmt.Sprintf("set %d after %d appends", step.set, step.appends)
				before := moves.Load()
				old := p.HighWatermark()
				p.SetHighWatermark(step.set)
				appendN(t, p, step.appends, AppendOptions{LeaderEpoch: 0})
				require.Equal(t, step.want, p.HighWatermark(), what)
				require.Equal(t, step.want != old, moves.Load() > before, "%s: OnHighWatermark on a move", what)
				require.Equal(t, span(0, step.want), readOffsets(t, p, 0), "%s: readers stop at it", what)
				require.NoError(t, p.Check(ctx), what)
			}
		})
	}
}

// Under SyncAlways the high watermark is at most the durable end: appends
// that do not wait for their fsync move it only when a round covers
// them.
func TestSetHighWatermarkFollowsDurability(t *testing.T) {
	ctx := context.Background()
	var moves atomic.Int64
	p := openPartitionLog(t, replicatedConfig(vfs.NewMem(), true, &moves), true)
	p.SetHighWatermark(1000)
	appendN(t, p, 3, AppendOptions{NoWait: true})
	require.Equal(t, int64(6), p.EndOffset())
	require.Less(t, p.HighWatermark(), int64(6), "not durable yet")
	require.LessOrEqual(t, p.HighWatermark(), p.DurableOffset())
	require.NoError(t, p.SyncTo(ctx, 6))
	require.Equal(t, int64(6), p.HighWatermark())
	require.NoError(t, p.Check(ctx))
}

// The high watermark's position is found in the recent written ends, or,
// for an older limit, through the offset index and the headers after
// it: both give the same position, for every batch boundary.
func TestHighWatermarkLookup(t *testing.T) {
	var moves atomic.Int64
	cfg := replicatedConfig(vfs.NewMem(), false, &moves)
	cfg.IndexIntervalBytes = 700
	p := openPartitionLog(t, cfg, true)
	appendN(t, p, 2*recentPositions, AppendOptions{})
	p.mu.Lock()
	defer p.mu.Unlock()
	for off := int64(0); off <= p.EndOffset(); off++ {
		looked, err := p.boundaryLocked(off)
		require.NoError(t, err)
		require.Equal(t, off/2*2, looked.offset, "offset %d", off)
		if recent := p.recent.find(off); recent != nil {
			require.Equal(t, recent.offset, looked.offset, "offset %d", off)
			// The same place, or a segment's end and the next one's start.
			same := recent.seg == looked.seg && recent.pos == looked.pos ||
				looked.pos == 0 && recent.pos == recent.seg.size.Load() && looked.seg.base == recent.offset
			require.True(t, same, "offset %d: segment %d position %d, looked up segment %d position %d",
				off, recent.seg.base, recent.pos, looked.seg.base, looked.pos)
		} else {
			require.Less(t, off, p.EndOffset()-2*recentPositions+2, "the ring holds the latest")
		}
	}
	require.Nil(t, p.recent.find(10), "an old offset is not in the ring")
}

// An old limit given late (a follower behind its leader's high watermark
// by more than the ring holds) is found through the index.
func TestSetHighWatermarkOldLimit(t *testing.T) {
	var moves atomic.Int64
	p := openPartitionLog(t, replicatedConfig(vfs.NewMem(), false, &moves), true)
	appendN(t, p, 2*recentPositions, AppendOptions{})
	p.SetHighWatermark(101)
	require.Equal(t, int64(100), p.HighWatermark())
	require.Equal(t, span(0, 100), readOffsets(t, p, 0))
	require.NoError(t, p.Check(context.Background()))
}

// A Replicated log opens with its high watermark at the log start offset,
// or at the end of the batch holding it; a log that is not Replicated
// ignores SetHighWatermark.
func TestReplicatedHighWatermarkOnOpen(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var moves atomic.Int64
	cfg := replicatedConfig(mem, true, &moves)
	p := openPartitionLog(t, cfg, true)
	appendN(t, p, 10, AppendOptions{})
	p.SetHighWatermark(20)
	_, err := p.DeleteRecords(ctx, 5)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, int64(6), q.HighWatermark(), "the end of the batch holding the start")
	require.Equal(t, int64(5), q.StartOffset())
	require.NoError(t, q.Check(ctx))
	q.SetHighWatermark(12)
	require.Equal(t, span(5, 12), readOffsets(t, q, 5))
	require.NoError(t, q.Close())

	plain := cfg
	plain.Replicated = false
	r := openPartitionLog(t, plain, false)
	require.Equal(t, int64(20), r.HighWatermark())
	r.SetHighWatermark(4)
	require.Equal(t, int64(20), r.HighWatermark())
}

// An idle roll moves a Replicated log's high watermark into the new
// segment when the limit allows, so retention can take the old one; a
// truncation below the high watermark lowers it and the limit.
func TestReplicatedHighWatermarkRollAndTruncate(t *testing.T) {
	ctx := context.Background()
	var moves atomic.Int64
	cfg := replicatedConfig(vfs.NewMem(), false, &moves)
	p := openPartitionLog(t, cfg, true)
	appendN(t, p, 20, AppendOptions{})
	p.SetHighWatermark(1000)
	require.NoError(t, p.RollIdle())
	require.Equal(t, p.ActiveSegment().Base, p.PositionSegment(p.HighWatermarkPosition()).Base, "the high watermark is in the new segment")
	require.NoError(t, p.TruncateTo(ctx, 30))
	require.Equal(t, int64(30), p.HighWatermark())
	appendN(t, p, 3, AppendOptions{})
	require.Equal(t, int64(30), p.HighWatermark(), "the limit came down with the cut")
	p.SetHighWatermark(34)
	require.Equal(t, int64(34), p.HighWatermark())
	require.NoError(t, p.Check(ctx))
}

// WrittenPosition bounds a reader that serves followers past the high
// watermark: under SyncAlways it writes the batches staged for the next
// fsync round first, so the reader finds every batch written.
func TestWrittenPositionReader(t *testing.T) {
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) {
			var moves atomic.Int64
			p := openPartitionLog(t, replicatedConfig(vfs.NewMem(), sync, &moves), true)
			appendN(t, p, 7, AppendOptions{NoWait: true})
			w := p.WrittenPosition()
			require.Equal(t, int64(14), w.Offset())
			r, err := p.NewReader(0, w)
			require.NoError(t, err)
			defer r.Close()
			var got []int64
			for {
				_, h, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				got = append(got, h.BaseOffset)
			}
			require.Equal(t, []int64{0, 2, 4, 6, 8, 10, 12}, got)
			require.Zero(t, p.HighWatermark())
		})
	}
}

// SetHighWatermark from one goroutine while another appends and a third
// reads: the high watermark only rises, never past the local end nor the
// limit, and readers stop at it.
func TestSetHighWatermarkWhileAppendsRun(t *testing.T) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", durable), func(t *testing.T) {
			var moves atomic.Int64
			p := openPartitionLog(t, replicatedConfig(vfs.NewMem(), durable, &moves), true)
			const batches = 300
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range batches {
					b := plainBatch(t, 1, rec("k", strings.Repeat("v", 200)), rec("l", fmt.Sprint(i)))
					if _, err := p.AppendBatch(ctx, b, AppendOptions{Expected: -1, NoWait: true}); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			}()
			var limit, last int64
			for i := 0; ; i++ {
				select {
				case <-done:
				default:
					limit = max(limit, p.EndOffset()-int64(i%7))
					p.SetHighWatermark(limit)
					hw := p.HighWatermark()
					require.GreaterOrEqual(t, hw, last, "never down")
					require.LessOrEqual(t, hw, limit)
					last = hw
					if i%10 == 0 {
						offs := readOffsets(t, p, 0)
						require.LessOrEqual(t, int64(len(offs)), limit)
					}
					continue
				}
				break
			}
			require.NoError(t, p.Flush(ctx))
			p.SetHighWatermark(2 * batches)
			require.Equal(t, int64(2*batches), p.HighWatermark())
			require.NoError(t, p.Check(ctx))
		})
	}
}
