package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// While appends run, a pass rests after each slice of work so that it
// works CompactionDutyCycle of the time; with no appends it never rests.
func TestCompactionPacesItselfWhileAppendsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		cfg := smallConfig(vfs.NewMem())
		cfg.Compacted, cfg.RetentionDeletes, cfg.DeleteRetention = true, false, time.Hour
		cfg.CompactionDutyCycle = 0.2
		// The Log sums the ends of all its partitions; this one is all.
		var p *PartitionLog
		cfg.AppendedEnds = func() int64 { return p.EndOffset() }
		p = openPartitionLog(t, cfg, true)
		rng := rand.New(rand.NewPCG(1, 2))
		appendKeyed := func() error {
			_, err := p.AppendBatch(ctx, buildBatch(t, rng, 1, 1), AppendOptions{Expected: -1})
			return err
		}
		cl := &cleaner{p: p, ctx: ctx, paceStart: time.Now(), paceEnds: p.appendedEnds()}

		time.Sleep(10 * time.Millisecond) // a slice of work, in virtual time
		start := time.Now()
		require.NoError(t, cl.pace(pacingSlice))
		require.Zero(t, time.Since(start), "nothing appended: no rest")

		time.Sleep(10 * time.Millisecond)
		require.NoError(t, appendKeyed())
		start = time.Now()
		require.NoError(t, cl.pace(pacingSlice/2))
		require.Zero(t, time.Since(start), "rests only after a whole slice")
		require.NoError(t, cl.pace(pacingSlice/2))
		require.Equal(t, 40*time.Millisecond, time.Since(start), "10 ms of work at a 0.2 duty cycle rests 40 ms")

		cancelled, cancel := context.WithCancel(ctx)
		cl.ctx = cancelled
		time.Sleep(10 * time.Millisecond)
		require.NoError(t, appendKeyed())
		cancel()
		require.ErrorIs(t, cl.pace(pacingSlice), context.Canceled, "a rest ends with the pass's context")
		require.NoError(t, p.Close())
	})
}

// compactedConfig is a compact-only topic whose tombstones live an hour.
func compactedConfig(fs vfs.FS) Config {
	cfg := smallConfig(fs)
	cfg.Compacted, cfg.RetentionDeletes, cfg.DeleteRetention = true, false, time.Hour
	cfg.MinCleanableDirtyRatio = 0.5
	return cfg
}

// latestByKey returns, for every key, the offset and value of its last
// record in rs.
func latestByKey(rs []record.Record) map[string]record.Record {
	m := map[string]record.Record{}
	for _, r := range rs {
		m[string(r.Key)] = r
	}
	return m
}

// A pass keeps the latest record of each key in the sealed segments, at
// its offset, drops keyless records, and leaves the active segment alone.
func TestCompactKeepsLatestPerKey(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now = clock.Now
	p := openPartitionLog(t, cfg, true)
	for i := range 60 {
		key := fmt.Sprintf("k%d", i%5)
		mustAppend(t, p, plainBatch(t, clock.Now().UnixMilli(), kv{key: []byte(key), value: fmt.Appendf(nil, "%s=%d%0200d", key, i, 0)}))
		if i%10 == 0 {
			mustAppend(t, p, plainBatch(t, clock.Now().UnixMilli(), kv{value: []byte("keyless")}))
		}
	}
	require.NoError(t, p.RollIdle())
	mustAppend(t, p, plainBatch(t, clock.Now().UnixMilli(), rec("k0", "in the active segment")))
	before := readRecords(t, p, 0)
	end := p.EndOffset()
	sealed := p.Segments()
	require.Greater(t, len(sealed), 3)

	due, ratio := p.CompactionDue(clock.Now())
	require.True(t, due)
	require.Equal(t, 1.0, ratio, "nothing compacted yet")

	require.NoError(t, p.Compact(ctx, clock.Now()))
	after := readRecords(t, p, 0)
	require.Equal(t, end, p.EndOffset())
	activeBase := p.ActiveSegment().Base
	var sealedBefore []record.Record
	for _, r := range before {
		if r.Offset < activeBase && r.Key != nil {
			sealedBefore = append(sealedBefore, r)
		}
	}
	latest := latestByKey(sealedBefore)
	var want []record.Record
	for _, r := range sealedBefore {
		if latest[string(r.Key)].Offset == r.Offset {
			want = append(want, r)
		}
	}
	for _, r := range before {
		if r.Offset >= activeBase {
			want = append(want, r)
		}
	}
	require.Equal(t, want, after)
	require.Len(t, after, 6, "five keys, and the record in the active segment")
	requireContiguous(t, p.Segments())

	due, ratio = p.CompactionDue(clock.Now())
	require.False(t, due)
	require.Zero(t, ratio)
	require.True(t, clock.Now().Equal(p.Stats().LastCleaning))
	require.NoError(t, p.Check(ctx))

	// The compacted log reads the same after a reopen.
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, after, readRecords(t, q, 0))
	require.NoError(t, q.Check(ctx))
}

// A tombstone survives passes until DeleteRetention after the pass that
// first kept it, and the pass after that drops it; CompactionDue reports
// the pass due once the horizon is reached.
func TestCompactDropsTombstonesAfterDeleteRetention(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now = clock.Now
	p := openPartitionLog(t, cfg, true)
	ts := clock.Now().UnixMilli()
	mustAppend(t, p, plainBatch(t, ts, rec("a", "1"), rec("b", "1")))
	mustAppend(t, p, plainBatch(t, ts, rec("a", "")))
	mustAppend(t, p, plainBatch(t, ts, rec("c", "1")))
	require.NoError(t, p.RollIdle())

	require.NoError(t, p.Compact(ctx, clock.Now()))
	got := readRecords(t, p, 0)
	require.Len(t, got, 3)
	require.Equal(t, []byte("a"), got[1].Key)
	require.Nil(t, got[1].Value, "the tombstone is kept")
	require.Equal(t, int64(2), got[1].Offset)

	due, _ := p.CompactionDue(clock.At(time.Hour - time.Millisecond))
	require.False(t, due)
	require.NoError(t, p.Compact(ctx, clock.At(time.Hour-time.Millisecond)))
	require.Len(t, readRecords(t, p, 0), 3, "kept until its horizon")

	due, _ = p.CompactionDue(clock.At(time.Hour))
	require.True(t, due, "a tombstone reached its horizon")
	require.NoError(t, p.Compact(ctx, clock.At(time.Hour)))
	got = readRecords(t, p, 0)
	require.Len(t, got, 2)
	for _, r := range got {
		require.NotEqual(t, "a", string(r.Key))
	}
	require.Equal(t, int64(4), p.EndOffset(), "offsets stay")
	require.NoError(t, p.Check(ctx))
}

// A topic that does not compact is never due and never compacted.
func TestCompactDoesNothingForDeleteTopic(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	mustAppend(t, p, plainBatch(t, 1, rec("a", "2")))
	require.NoError(t, p.RollIdle())
	due, ratio := p.CompactionDue(time.Now())
	require.False(t, due)
	require.Zero(t, ratio)
	require.NoError(t, p.Compact(context.Background(), time.Now()))
	require.Len(t, readRecords(t, p, 0), 2)
	require.Zero(t, p.Stats().DirtyRatio)
}

// A dirty ratio at or below MinCleanableDirtyRatio is not due.
func TestCompactionDueFollowsDirtyRatio(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now = clock.Now
	p := openPartitionLog(t, cfg, true)
	due, ratio := p.CompactionDue(clock.Now())
	require.False(t, due, "nothing sealed")
	require.Zero(t, ratio)

	for i := range 20 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: fmt.Appendf(nil, "k%d", i), value: make([]byte, 300)}))
	}
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Compact(ctx, clock.Now())) // distinct keys: all kept, all clean now
	due, ratio = p.CompactionDue(clock.Now())
	require.False(t, due)
	require.Zero(t, ratio)

	for i := range 2 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: fmt.Appendf(nil, "k%d", i), value: make([]byte, 300)}))
	}
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Flush(ctx))
	due, ratio = p.CompactionDue(clock.Now())
	require.False(t, due, "dirty ratio %f", ratio)
	require.Positive(t, ratio)
	require.Less(t, ratio, 0.5)
	require.Equal(t, ratio, p.Stats().DirtyRatio)
}

// A reader inside a segment that compaction replaces finishes reading it
// as it was; the replaced files close when it lets go.
func TestCompactLeavesReadersTheirSegment(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now = clock.Now
	p := openPartitionLog(t, cfg, true)
	for i := range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("same"), value: fmt.Appendf(nil, "%d%0300d", i, 0)}))
	}
	require.NoError(t, p.RollIdle())
	first := p.Segments()[0]
	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	_, _, err = r.Next()
	require.NoError(t, err)

	require.NoError(t, p.Compact(ctx, clock.Now()))
	require.False(t, p.Segments()[0].Same(first), "replaced")
	require.Len(t, readRecords(t, p, 0), 1)
	for o := first.Base + 1; o < first.Next; o++ {
		_, h, err := r.Next()
		require.NoError(t, err, "the replaced segment reads whole")
		require.Equal(t, o, h.BaseOffset)
	}
	require.False(t, first.Closed(), "the reader holds it")
	r.Close()
	require.True(t, first.Closed())
}

// Segments holding records younger than MinCompactionLag are not
// compacted yet.
func TestCompactWaitsForMinCompactionLag(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now, cfg.MinCompactionLag = clock.Now, time.Hour
	p := openPartitionLog(t, cfg, true)
	ts := clock.Now().UnixMilli()
	for range 4 {
		mustAppend(t, p, plainBatch(t, ts, rec("k", "v")))
	}
	require.NoError(t, p.RollIdle())
	due, _ := p.CompactionDue(clock.At(time.Hour - time.Millisecond))
	require.False(t, due, "too young")
	require.NoError(t, p.Compact(ctx, clock.At(time.Hour-time.Millisecond)))
	require.Len(t, readRecords(t, p, 0), 4)

	due, _ = p.CompactionDue(clock.At(time.Hour))
	require.True(t, due)
	require.NoError(t, p.Compact(ctx, clock.At(time.Hour)))
	require.Len(t, readRecords(t, p, 0), 1)
}

// A dirty part below MinCleanableDirtyRatio is due anyway once its oldest
// record has waited MaxCompactionLag; and the active segment of such a
// topic rolls at MaxCompactionLag when that is shorter than SegmentAge.
func TestMaxCompactionLag(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := compactedConfig(vfs.NewMem())
	cfg.Now, cfg.MaxCompactionLag, cfg.MinCleanableDirtyRatio = clock.Now, time.Hour, 0.99
	p := openPartitionLog(t, cfg, true)
	ts := clock.Now().UnixMilli()
	for i := range 20 {
		mustAppend(t, p, plainBatch(t, ts, kv{key: fmt.Appendf(nil, "k%d", i), value: make([]byte, 300)}))
	}
	require.NoError(t, p.RollIdle())
	require.NoError(t, p.Compact(ctx, clock.Now())) // everything clean
	mustAppend(t, p, plainBatch(t, ts, kv{key: []byte("k0"), value: make([]byte, 300)}))

	require.NoError(t, p.RollIfAged(clock.At(time.Hour-time.Millisecond)))
	n := len(p.Segments())
	require.NoError(t, p.RollIfAged(clock.At(time.Hour)))
	require.Len(t, p.Segments(), n+1, "rolled at MaxCompactionLag")
	require.NoError(t, p.Flush(ctx))

	due, ratio := p.CompactionDue(clock.At(time.Hour))
	require.False(t, due, "waited exactly the lag, dirty ratio %f", ratio)
	require.Less(t, ratio, 0.99)
	due, _ = p.CompactionDue(clock.At(time.Hour + time.Millisecond))
	require.True(t, due)
	require.NoError(t, p.Compact(ctx, clock.At(time.Hour+time.Millisecond)))
	recs := readRecords(t, p, 0)
	require.Len(t, recs, 20)
	require.Equal(t, "k1", string(recs[0].Key), "the first k0 went")
}

// Compaction keeps every batch's leader epoch: rebuilt batches keep
// theirs, and the empty batches standing in for runs of batches that
// lost every record are one per epoch, so each epoch still starts at a
// batch of its own and the epoch cache agrees with the batches.
func TestCompactionKeepsLeaderEpochs(t *testing.T) {
	ctx := context.Background()
	cfg := compactedConfig(vfs.NewMem())
	p := openPartitionLog(t, cfg, true)
	// Keys a0..a3 are overwritten in every epoch but the last, so whole
	// batches of the early epochs go: runs of them across each epoch's
	// end.
	epochOf := map[int64]int32{}
	for i := range 48 {
		epoch := int32(i / 8)
		rs := []kv{rec(fmt.Sprint("a", i%4), fmt.Sprint(i)), rec(fmt.Sprint("b", i), "kept")}
		if i%8 != 3 {
			rs = rs[:1]
		}
		res, err := p.AppendBatch(ctx, plainBatch(t, 1, rs...), AppendOptions{Expected: -1, LeaderEpoch: epoch})
		require.NoError(t, err)
		for o := res.BaseOffset; o <= res.LastOffset; o++ {
			epochOf[o] = epoch
		}
	}
	require.NoError(t, p.RollIdle())
	want := p.LeaderEpochs()
	require.Len(t, want, 6)
	require.NoError(t, p.Compact(ctx, cfg.Now()))
	fillers := 0
	require.NoError(t, p.VisitBatches(false, func(_ []byte, h record.Header) bool {
		for o := h.BaseOffset; o <= h.LastOffset(); o++ {
			require.Equal(t, epochOf[o], h.PartitionLeaderEpoch, "offset %d", o)
		}
		if h.RecordCount == 0 {
			fillers++
		}
		return true
	}))
	require.Positive(t, fillers, "some batches lost every record")
	require.Less(t, len(readOffsets(t, p, 0)), len(epochOf), "compaction removed records")
	require.Equal(t, want, p.LeaderEpochs())
	require.NoError(t, p.Check(ctx))
	require.NoError(t, p.Close())
	q := openPartitionLog(t, cfg, false)
	require.Equal(t, want, q.LeaderEpochs())
	require.NoError(t, q.Check(ctx))
}
