package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// leaderBatch returns batch as a leader's log holds it: at base offset
// base, with leader epoch epoch.
func leaderBatch(batch []byte, base int64, epoch int32) []byte {
	b := append([]byte(nil), batch...)
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, epoch)
	return b
}

// leaderLog builds a leader's partition: batches of several epochs, some
// of an idempotent producer, over several segments, and returns it with
// every batch it holds, as stored.
func leaderLog(t *testing.T) (*PartitionLog, [][]byte) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	rng := rand.New(rand.NewPCG(3, 4))
	seq := int32(0)
	for i, epoch := range []int32{0, 0, 0, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, 5, 8, 8, 8, 8, 8, 8} {
		b := buildBatch(t, rng, 1+rng.IntN(4), 500)
		if i%3 == 0 {
			b = idempotentBatch(t, 11, 0, seq, 2)
			seq += 2
		}
		_, err := p.AppendBatch(ctx, b, AppendOptions{Expected: -1, LeaderEpoch: epoch})
		require.NoError(t, err)
	}
	require.Greater(t, len(p.Segments()), 2)
	return p, stateOf(t, p).batches
}

// A follower appends the leader's batches byte for byte, in calls of any
// number of batches: its log then holds what the leader's does, with the
// same leader epochs, time index answers and producer state.
func TestAppendAsFollowerCopiesTheLeader(t *testing.T) {
	ctx := context.Background()
	leader, batches := leaderLog(t)
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) {
			cfg := smallConfig(vfs.NewMem())
			cfg.SyncAlways = sync
			f := openPartitionLog(t, cfg, true)
			rng := rand.New(rand.NewPCG(5, 6))
			for i := 0; i < len(batches); {
				n := min(len(batches)-i, 1+rng.IntN(4))
				chunk := slices.Concat(batches[i : i+n]...)
				orig := slices.Clone(chunk)
				var first, last record.Header
				first, _ = record.ParseHeader(batches[i], len(batches[i]))
				last, _ = record.ParseHeader(batches[i+n-1], len(batches[i+n-1]))
				res, err := f.AppendAsFollower(ctx, chunk, AppendOptions{Expected: -1})
				require.NoError(t, err)
				require.Equal(t, AppendResult{BaseOffset: first.BaseOffset, LastOffset: last.LastOffset()}, res)
				require.Equal(t, orig, chunk, "the batches are not modified")
				if sync {
					require.Equal(t, f.EndOffset(), f.DurableOffset(), "acknowledged once durable")
				}
				i += n
			}
			got := stateOf(t, f)
			require.Equal(t, batches, got.batches)
			require.Equal(t, leader.LeaderEpochs(), got.epochs)
			require.Equal(t, leader.EndOffset(), f.EndOffset())
			require.Greater(t, len(f.Segments()), 2, "segments rolled as the leader's did")
			for _, ts := range []int64{0, 1_700_000_000_000, 1_700_000_000_002, 1 << 62} {
				want, werr := leader.OffsetForTimestamp(ts)
				gotOff, gerr := f.OffsetForTimestamp(ts)
				require.Equal(t, werr, gerr)
				require.Equal(t, want, gotOff, "time lookup at %d", ts)
			}
			require.NoError(t, f.Check(ctx))
			// The follower becomes the leader: the producer's retry of its
			// last batch is recognised, its next batch follows.
			require.NoError(t, f.AssignLeaderEpoch(9))
			dup, err := f.AppendBatch(ctx, idempotentBatch(t, 11, 0, 12, 2), AppendOptions{Expected: -1, LeaderEpoch: 9})
			require.NoError(t, err)
			require.Less(t, dup.LastOffset, leader.EndOffset(), "a duplicate")
			_, err = f.AppendBatch(ctx, idempotentBatch(t, 11, 0, 20, 1), AppendOptions{Expected: -1, LeaderEpoch: 9})
			require.ErrorIs(t, err, ErrOutOfOrderSequence)
			_, err = f.AppendBatch(ctx, idempotentBatch(t, 11, 0, 14, 1), AppendOptions{Expected: -1, LeaderEpoch: 9})
			require.NoError(t, err)
			require.NoError(t, f.Close())
			r := openPartitionLog(t, cfg, false)
			require.Equal(t, append(leader.LeaderEpochs(), EpochEntry{9, leader.EndOffset()}), r.LeaderEpochs())
			require.NoError(t, r.Check(ctx))
		})
	}
}

// Every kind of bad input is refused with its typed error, and nothing is
// appended: not even the valid batches before the bad one.
func TestAppendAsFollowerRefuses(t *testing.T) {
	ctx := context.Background()
	one := plainBatch(t, 1, rec("k", "v"), rec("l", "w")) // two records
	at := func(base int64, epoch int32) []byte { return leaderBatch(one, base, epoch) }
	for _, tc := range []struct {
		name    string
		batches []byte
		opts    AppendOptions
		check   func(t *testing.T, err error)
	}{
		{"nothing", nil, AppendOptions{Expected: -1}, func(t *testing.T, err error) { require.ErrorIs(t, err, ErrInvalidArgument) }},
		{"cut short", slices.Concat(at(4, 1), at(6, 1)[:40]), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrInvalidArgument)
		}},
		{"cut inside the records", slices.Concat(at(4, 1), at(6, 1)[:len(one)-3]), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrInvalidArgument)
		}},
		{"bad CRC", func() []byte {
			b := slices.Concat(at(4, 1), at(6, 1))
			b[len(one)+record.HeaderSize+2] ^= 1
			return b
		}(), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			var cerr *CorruptionError
			require.ErrorAs(t, err, &cerr)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Equal(t, int64(6), cerr.Offset, "names the batch's offset")
			require.Equal(t, int64(len(one)), cerr.FilePosition)
			require.Contains(t, err.Error(), "leader")
		}},
		{"bad magic", func() []byte {
			b := at(4, 1)
			b[16] = 1
			return b
		}(), AppendOptions{Expected: -1}, func(t *testing.T, err error) { require.ErrorIs(t, err, ErrCorrupt) }},
		{"not at the end offset", at(5, 1), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			var oerr *UnexpectedOffsetError
			require.ErrorAs(t, err, &oerr)
			require.ErrorIs(t, err, ErrUnexpectedOffset)
			require.Equal(t, UnexpectedOffsetError{Topic: "t", Expected: 4, Actual: 5}, *oerr)
		}},
		{"below the end offset", at(2, 1), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrUnexpectedOffset)
		}},
		{"a gap between batches", slices.Concat(at(4, 1), at(7, 1)), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			var oerr *UnexpectedOffsetError
			require.ErrorAs(t, err, &oerr)
			require.Equal(t, UnexpectedOffsetError{Topic: "t", Index: 1, Expected: 6, Actual: 7}, *oerr)
		}},
		{"an epoch older than the last batch's", at(4, 0), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			var eerr *EpochError
			require.ErrorAs(t, err, &eerr)
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Equal(t, EpochError{Topic: "t", Op: "AppendAsFollower", Epoch: 0, Latest: 1}, *eerr)
		}},
		{"epochs going back between batches", slices.Concat(at(4, 3), at(6, 2)), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			var eerr *EpochError
			require.ErrorAs(t, err, &eerr)
			require.Equal(t, int32(2), eerr.Epoch)
		}},
		{"no epoch", at(4, -1), AppendOptions{Expected: -1}, func(t *testing.T, err error) { require.ErrorIs(t, err, ErrInvalidArgument) }},
		{"too large", leaderBatch(plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 5000)}), 4, 1), AppendOptions{Expected: -1}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrRecordTooLarge)
		}},
		{"AppendIf conflict", at(4, 1), AppendOptions{Expected: 3}, func(t *testing.T, err error) { require.ErrorIs(t, err, ErrConflict) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			fs, writes := epochFileWrites(mem)
			f := openPartitionLog(t, smallConfig(fs), true)
			_, err := f.AppendAsFollower(ctx, slices.Concat(at(0, 0), at(2, 1)), AppendOptions{Expected: -1})
			require.NoError(t, err)
			before, n := stateOf(t, f), writes.Load()
			_, err = f.AppendAsFollower(ctx, tc.batches, tc.opts)
			require.Error(t, err)
			tc.check(t, err)
			require.Equal(t, before, stateOf(t, f), "nothing changed")
			require.Equal(t, int64(4), f.EndOffset())
			require.Equal(t, n, writes.Load(), "the leader-epoch file is untouched")
			require.NoError(t, f.Check(ctx))
		})
	}
	f := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	require.NoError(t, f.Close())
	_, err := f.AppendAsFollower(ctx, at(0, 0), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrClosed)
}

// A follower batch of the epoch of the batch before it drops an epoch the
// follower assigned at the end without writing under it (it led briefly,
// and its new leader's log goes on in the older epoch); one of a newer
// epoch starts it.
func TestAppendAsFollowerAfterAnAssignedEpoch(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	f := openPartitionLog(t, smallConfig(mem), true)
	one := plainBatch(t, 1, rec("k", "v"))
	_, err := f.AppendAsFollower(ctx, slices.Concat(leaderBatch(one, 0, 3), leaderBatch(one, 1, 3)), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.NoError(t, f.AssignLeaderEpoch(5))
	require.Equal(t, epochs(3, 0, 5, 2), f.LeaderEpochs())
	_, err = f.AppendAsFollower(ctx, leaderBatch(one, 2, 3), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, epochs(3, 0), f.LeaderEpochs())
	require.Equal(t, epochs(3, 0), fileEpochs(t, mem))
	require.NoError(t, f.AssignLeaderEpoch(5))
	_, err = f.AppendAsFollower(ctx, leaderBatch(one, 3, 4), AppendOptions{Expected: -1})
	require.NoError(t, err)
	require.Equal(t, epochs(3, 0, 4, 3), f.LeaderEpochs())
	require.NoError(t, f.Check(ctx))
}

// Under SyncAlways, NoWait returns once the batches are written; SyncTo
// makes them durable.
func TestAppendAsFollowerNoWait(t *testing.T) {
	ctx := context.Background()
	f := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	one := plainBatch(t, 1, rec("k", strings.Repeat("v", 100)))
	res, err := f.AppendAsFollower(ctx, leaderBatch(one, 0, 0), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Equal(t, int64(1), f.EndOffset())
	require.Less(t, f.DurableOffset(), int64(1), "not yet durable")
	require.NoError(t, f.SyncTo(ctx, res.LastOffset+1))
	require.Equal(t, int64(1), f.DurableOffset())
	require.Equal(t, int64(1), f.HighWatermark())
}

// A crash at any file operation of a follower append opens to the state
// before it, or with a prefix of its batches (each batch whole: a call
// is not atomic, nothing of it was acknowledged), with leader epochs that
// agree with the batches; what was acknowledged before stays.
func TestCrashDuringAppendAsFollower(t *testing.T) {
	ctx := context.Background()
	_, batches := leaderLog(t)
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("SyncAlways=%v", sync), func(t *testing.T) {
			cr := newCrashRecorder()
			cfg := smallConfig(cr.fs())
			cfg.SyncAlways = sync
			f := openPartitionLog(t, cfg, true)
			const before = 6 // batches appended first: epochs 0 and 2
			_, err := f.AppendAsFollower(ctx, slices.Concat(batches[:before]...), AppendOptions{Expected: -1})
			require.NoError(t, err)
			require.NoError(t, f.Flush(ctx))
			// The next call starts epoch 5, and rolls a segment.
			chunk := slices.Concat(batches[before : before+6]...)
			var allowed []logState
			for k := before; k <= before+6; k++ {
				allowed = append(allowed, logState{batches: batches[:k]})
			}
			states := cr.record(func() {
				_, err := f.AppendAsFollower(ctx, chunk, AppendOptions{Expected: -1})
				require.NoError(t, err)
			})
			full := stateOf(t, f)
			require.Equal(t, batches[:before+6], full.batches)
			seen := map[int]int{}
			for i, fs := range states {
				what := fmt.Sprintf("crash state %d of %d", i, len(states))
				q := openCrashed(t, cfg, fs, what)
				got := stateOf(t, q)
				// The epochs are checked against the batches by Check; here
				// only the batches.
				for j := range allowed {
					allowed[j].epochs = got.epochs
				}
				k := requireOneOf(t, got, false, what, allowed...)
				seen[k]++
				require.GreaterOrEqual(t, q.EndOffset(), allowedEnd(allowed[0]), "%s: acknowledged batches lost", what)
				// The follower fetches the rest again.
				_, err := q.AppendAsFollower(ctx, slices.Concat(batches[before+k:before+6]...), AppendOptions{Expected: -1})
				if k < 6 {
					require.NoError(t, err, what)
				}
				require.Equal(t, full, stateOf(t, q), what)
				require.NoError(t, q.Check(ctx), what)
				require.NoError(t, q.Close())
			}
			require.Positive(t, seen[0])
			require.Positive(t, seen[6])
		})
	}
}

// allowedEnd returns the end offset of a state's batches.
func allowedEnd(st logState) int64 {
	if len(st.batches) == 0 {
		return 0
	}
	last := st.batches[len(st.batches)-1]
	h, _ := record.ParseHeader(last, len(last))
	return h.NextOffset()
}
