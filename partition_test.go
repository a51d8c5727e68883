package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestAppendAndRead(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "events", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	p, err := tp.Partition(1)
	require.NoError(t, err)

	res, err := p.Append(ctx, []Record{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: nil, Value: []byte{}},
		{Key: []byte{}, Value: nil, Headers: []Header{{Key: "x", Value: []byte("y")}, {Key: "x"}}},
	})
	require.NoError(t, err)
	require.Equal(t, AppendResult{BaseOffset: 0, LastOffset: 2}, res)
	res, err = p.Append(ctx, []Record{{Value: []byte("second batch")}})
	require.NoError(t, err)
	require.Equal(t, AppendResult{BaseOffset: 3, LastOffset: 3}, res)

	require.Equal(t, int64(0), p.StartOffset())
	require.Equal(t, int64(4), p.EndOffset())
	require.Equal(t, int64(4), p.HighWatermark())
	require.Equal(t, int64(4), p.DurableOffset())

	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 4)
	require.Equal(t, []byte("a"), recs[0].Key)
	require.Nil(t, recs[1].Key, "null key stays null")
	require.NotNil(t, recs[1].Value, "empty value stays empty, not null")
	require.Empty(t, recs[1].Value)
	require.NotNil(t, recs[2].Key)
	require.Nil(t, recs[2].Value, "null value (tombstone) stays null")
	require.Equal(t, []Header{{Key: "x", Value: []byte("y")}, {Key: "x"}}, recs[2].Headers)
	for i, r := range recs {
		require.Equal(t, int64(i), r.Offset)
		require.Equal(t, "events", r.Topic)
		require.Equal(t, int32(1), r.Partition)
		require.False(t, r.Timestamp.IsZero(), "a zero timestamp is set at append")
	}

	// Reading from the middle of a batch returns records from that offset.
	recs, err = p.Read(ctx, 2, 1<<20)
	require.NoError(t, err)
	require.Equal(t, int64(2), recs[0].Offset)
	require.Len(t, recs, 2)

	// maxBytes bounds whole batches but always returns the first one.
	recs, err = p.Read(ctx, 0, 1)
	require.NoError(t, err)
	require.Len(t, recs, 3)
}

func TestReadOwnsRecordsAndScanBorrows(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("hello")}, {Value: []byte("world")}})
	require.NoError(t, err)
	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	recs[0].Value[0] = 'J' // owned: modifying it changes nothing stored
	again, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Equal(t, "hello", string(again[0].Value))

	var kept []Record
	for r, err := range p.Scan(ctx, 0) {
		require.NoError(t, err)
		kept = append(kept, r.Clone())
	}
	require.Equal(t, "hello", string(kept[0].Value))
	require.Equal(t, "world", string(kept[1].Value))
}

func TestReadOutOfRange(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
	p, _ := tp.Partition(0)
	_, err := p.Append(ctx, []Record{{Value: []byte("x")}})
	require.NoError(t, err)

	for _, off := range []int64{-1, 2, 100} {
		_, err := p.Read(ctx, off, 100)
		var oor *OffsetOutOfRangeError
		require.ErrorAs(t, err, &oor, "offset %d", off)
		require.ErrorIs(t, err, ErrOffsetOutOfRange)
		require.Equal(t, OffsetOutOfRangeError{Topic: "t", Partition: 0, Offset: off, Start: 0, End: 1}, *oor)
		for _, err := range p.Scan(ctx, off) {
			require.ErrorIs(t, err, ErrOffsetOutOfRange)
		}
	}
	_, err = p.Read(ctx, 0, 0)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestReadBlocksUntilDataOrContextEnds(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
	p, _ := tp.Partition(0)

	// At the end, Read waits; cancelling the context releases it.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(cctx, 0, 100)
		errc <- err
	}()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	// An append wakes a waiting reader.
	got := make(chan []Record, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		recs, err := p.Read(ctx, 0, 100)
		if err != nil {
			panic(err)
		}
		got <- recs
	}()
	<-started
	_, err := p.Append(ctx, []Record{{Value: []byte("wake")}})
	require.NoError(t, err)
	recs := <-got
	require.Equal(t, "wake", string(recs[0].Value))
}

func TestFollowWaitsForNewRecords(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
	p, _ := tp.Partition(0)
	_, err := p.Append(ctx, []Record{{Value: []byte("0")}})
	require.NoError(t, err)

	seen := make(chan int64)
	done := make(chan error, 1)
	go func() {
		for r, err := range p.Follow(ctx, 0) {
			if err != nil {
				done <- err
				return
			}
			seen <- r.Offset
		}
		done <- nil
	}()
	require.Equal(t, int64(0), <-seen)
	for i := 1; i <= 3; i++ {
		_, err := p.Append(ctx, []Record{{Value: []byte(fmt.Sprint(i))}})
		require.NoError(t, err)
		require.Equal(t, int64(i), <-seen)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestScanStopsAtEnd(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", smallTopic)
	p, _ := tp.Partition(0)
	want := appendBatches(t, p, rand.New(rand.NewPCG(1, 2)), 0, 80, 5, 100)
	require.Greater(t, len(p.segments()), 3, "the workload must roll segments")
	verifyPartition(t, p, want, nil)

	// Scanning from every offset yields exactly the records from there.
	total := p.EndOffset()
	for from := int64(0); from <= total; from++ {
		n := int64(0)
		for r, err := range p.Scan(ctx, from) {
			require.NoError(t, err)
			require.Equal(t, from+n, r.Offset)
			n++
		}
		require.Equal(t, total-from, n)
		if from < total {
			recs, err := p.Read(ctx, from, 1)
			require.NoError(t, err)
			require.Equal(t, from, recs[0].Offset)
		}
	}
}

func TestAppendIf(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
	p, _ := tp.Partition(0)
	res, err := p.AppendIf(ctx, 0, []Record{{Value: []byte("a")}, {Value: []byte("b")}})
	require.NoError(t, err)
	require.Equal(t, int64(0), res.BaseOffset)

	_, err = p.AppendIf(ctx, 0, []Record{{Value: []byte("stale")}})
	var conflict *ConflictError
	require.ErrorAs(t, err, &conflict)
	require.ErrorIs(t, err, ErrConflict)
	require.Equal(t, int64(2), conflict.Actual)
	require.Equal(t, int64(2), p.EndOffset(), "nothing appended on conflict")

	res, err = p.AppendIf(ctx, conflict.Actual, []Record{{Value: []byte("c")}})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.BaseOffset)
	_, err = p.AppendIf(ctx, -1, []Record{{Value: []byte("c")}})
	require.ErrorIs(t, err, ErrInvalidArgument)

	// Concurrent AppendIf from many writers: exactly one wins each offset.
	var wg sync.WaitGroup
	wins := make([]int, 8)
	for w := range wins {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				end := p.EndOffset()
				if _, err := p.AppendIf(ctx, end, []Record{{Value: []byte(fmt.Sprintf("w%d", w))}}); err == nil {
					wins[w]++
				} else if !errors.Is(err, ErrConflict) {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range wins {
		total += n
	}
	require.Equal(t, int64(3+total), p.EndOffset())
}

func TestAppendValidation(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{MaxBatchBytes: 1000, SegmentBytes: 4096})
	p, _ := tp.Partition(0)

	_, err := p.Append(ctx, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)

	_, err = p.Append(ctx, []Record{{Value: []byte("ok")}, {Value: make([]byte, 2000)}})
	var tooLarge *RecordTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.ErrorIs(t, err, ErrRecordTooLarge)
	require.Equal(t, 1, tooLarge.Index, "the offending record is named")
	require.Equal(t, 1000, tooLarge.Max)

	many := make([]Record, 20)
	for i := range many {
		many[i].Value = make([]byte, 80)
	}
	_, err = p.Append(ctx, many)
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, -1, tooLarge.Index, "no single record is too large: the batch is")

	_, err = p.Append(ctx, []Record{{Value: []byte("x"), Timestamp: time.UnixMilli(-5)}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = p.Append(ctx, []Record{{Value: []byte("x"), Headers: []Header{{Key: ""}}}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Equal(t, int64(0), p.EndOffset(), "rejected appends add nothing")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.Append(cctx, []Record{{Value: []byte("x")}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestRollBySizeIndexAndAge(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	mem := vfs.NewMem()
	opts := testOptions(mem)
	opts.now = clock.Now
	l := openTest(t, mem, opts)

	// By size: a batch that would overflow the segment starts a new one.
	tp, _ := l.CreateTopic(ctx, "size", TopicConfig{SegmentBytes: 4096, MaxBatchBytes: 4096})
	p, _ := tp.Partition(0)
	for i := 0; i < 10; i++ {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 1000)}})
		require.NoError(t, err)
	}
	segs := p.segments()
	require.Len(t, segs, 4) // 3 batches of ~1.07 KiB fit in 4 KiB
	for i, s := range segs[:len(segs)-1] {
		require.LessOrEqual(t, s.Size, int64(4096))
		require.Equal(t, segs[i+1].Base, s.Next, "segments are contiguous")
	}

	// By index: tiny index files fill and force a roll.
	tp, _ = l.CreateTopic(ctx, "index", TopicConfig{SegmentIndexBytes: 1024, IndexIntervalBytes: 1})
	p, _ = tp.Partition(0)
	for i := 0; i < 200; i++ {
		_, err := p.Append(ctx, []Record{{Value: []byte("v")}})
		require.NoError(t, err)
	}
	segs = p.segments()
	require.Greater(t, len(segs), 1)
	require.Equal(t, 1024/offsetEntrySize, segs[0].OffsetEntries+0, "the first segment rolled when its offset index was full")

	// By age, on append and by the idle timer.
	tp, _ = l.CreateTopic(ctx, "age", TopicConfig{SegmentAge: time.Hour})
	p, _ = tp.Partition(0)
	_, err := p.Append(ctx, []Record{{Value: []byte("a")}})
	require.NoError(t, err)
	clock.Advance(59 * time.Minute)
	_, err = p.Append(ctx, []Record{{Value: []byte("b")}})
	require.NoError(t, err)
	require.Len(t, p.segments(), 1)
	clock.Advance(time.Minute)
	_, err = p.Append(ctx, []Record{{Value: []byte("c")}})
	require.NoError(t, err)
	require.Len(t, p.segments(), 2, "rolled on append after SegmentAge")
	clock.Advance(time.Hour)
	l.tick(false)
	require.Len(t, p.segments(), 3, "the idle timer rolled the quiet segment")
	l.tick(false)
	require.Len(t, p.segments(), 3, "an empty segment never rolls")
	require.Equal(t, int64(3), p.segments()[2].Base)
}

func TestOffsetForTime(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", smallTopic)
	p, _ := tp.Partition(0)
	base := time.UnixMilli(1_700_000_000_000)
	// Timestamps are not monotonic: offset i has time base + 10*i, except
	// every fifth record, which is back-dated.
	stamp := func(i int) time.Time {
		if i%5 == 4 {
			return base.Add(time.Duration(10*i-35) * time.Millisecond)
		}
		return base.Add(time.Duration(10*i) * time.Millisecond)
	}
	const n = 300
	for i := 0; i < n; i += 3 {
		var recs []Record
		for j := i; j < i+3; j++ {
			recs = append(recs, Record{Value: make([]byte, 40), Timestamp: stamp(j)})
		}
		_, err := p.Append(ctx, recs)
		require.NoError(t, err)
	}
	require.Greater(t, len(p.segments()), 3)
	for ms := int64(-20); ms <= 10*n+20; ms += 7 {
		target := base.Add(time.Duration(ms) * time.Millisecond)
		want := int64(n) // none: the high watermark
		for i := 0; i < n; i++ {
			if !stamp(i).Before(target) {
				want = int64(i)
				break
			}
		}
		got, err := p.OffsetForTime(target)
		require.NoError(t, err)
		require.Equal(t, want, got, "target %v", ms)
	}
}

func TestConcurrentAppendersAndReaders(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, _ := l.CreateTopic(ctx, "t", smallTopic)
	p, _ := tp.Partition(0)
	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	results := make(chan AppendResult, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < perWriter; i++ {
				res, err := p.Append(ctx, []Record{{Value: []byte(fmt.Sprintf("w%d-%d", w, i))}, {Value: []byte("pair")}})
				if err != nil {
					panic(err)
				}
				results <- res
			}
		})
	}
	// Readers follow concurrently and must see every offset in order.
	readCtx, cancel := context.WithCancel(ctx)
	var rwg sync.WaitGroup
	for r := 0; r < 3; r++ {
		rwg.Go(func() {
			next := int64(0)
			for rec, err := range p.Follow(readCtx, 0) {
				if err != nil {
					return
				}
				if rec.Offset != next {
					panic(fmt.Sprintf("reader saw offset %d, want %d", rec.Offset, next))
				}
				next++
				if next == writers*perWriter*2 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(results)
	seen := map[int64]bool{}
	for res := range results {
		require.Equal(t, res.BaseOffset+1, res.LastOffset)
		require.False(t, seen[res.BaseOffset])
		seen[res.BaseOffset] = true
	}
	rwg.Wait()
	cancel()
	require.Equal(t, int64(writers*perWriter*2), p.EndOffset())
}

func TestSyncPoliciesAndHighWatermark(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOptions(mem)
			opts.Sync = policy
			opts.SyncInterval = time.Hour
			l := openTest(t, mem, opts)
			tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
			p, _ := tp.Partition(0)
			_, err := p.Append(ctx, []Record{{Value: []byte("x")}})
			require.NoError(t, err)
			require.Equal(t, int64(1), p.HighWatermark())
			if policy == SyncAlways {
				require.Equal(t, int64(1), p.DurableOffset())
			} else {
				require.Equal(t, int64(0), p.DurableOffset(), "not fsynced yet")
				require.NoError(t, p.flush(ctx))
				require.Equal(t, int64(1), p.DurableOffset())
			}
		})
	}
}

func TestClosedPartition(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{})
	p, _ := tp.Partition(0)
	waiting := make(chan error, 1)
	go func() {
		_, err := p.Read(ctx, 0, 10)
		waiting <- err
	}()
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-waiting, ErrClosed, "Close releases blocked readers")
	_, err = p.Append(ctx, []Record{{Value: []byte("x")}})
	require.ErrorIs(t, err, ErrClosed)
	_, err = p.Read(ctx, 0, 10)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, l.Close(), "Close is idempotent")
	_, err = l.Topic("t")
	require.ErrorIs(t, err, ErrClosed)
	_, err = l.CreateTopic(ctx, "u", TopicConfig{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, l.Check(ctx), ErrClosed)
}

// Under SyncInterval the Log's scheduler fsyncs on its own; a tick is one
// round of its work.
func TestSyncIntervalFlushesInTheBackground(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	opts := testOptions(mem)
	opts.Sync = SyncInterval
	opts.SyncInterval = time.Hour // the test drives the ticks
	l := openTest(t, mem, opts)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	p0, _ := tp.Partition(0)
	p1, _ := tp.Partition(1)
	_, err := p0.Append(ctx, []Record{{Value: []byte("a")}})
	require.NoError(t, err)
	_, err = p1.Append(ctx, []Record{{Value: []byte("b")}, {Value: []byte("c")}})
	require.NoError(t, err)
	require.Equal(t, int64(0), p0.DurableOffset())
	// Before the tick a power failure loses both; after it neither.
	lost := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	l.tick(false)
	require.Equal(t, int64(1), p0.DurableOffset())
	require.Equal(t, int64(2), p1.DurableOffset())
	kept := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	for fs, want := range map[*vfs.MemFS]int64{lost: 0, kept: 2} {
		l2, err := Open(testDir, testOptions(fs))
		require.NoError(t, err)
		require.Equal(t, want, mustPartition(t, l2, "t", 1).EndOffset())
		require.NoError(t, l2.Close())
	}
}

// A time-index entry damaged in a way Open's cheap checks accept (still
// increasing) must not misdirect OffsetForTime.
func TestOffsetForTimeWithDamagedTimeIndex(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, _ := l.CreateTopic(ctx, "t", TopicConfig{SegmentBytes: 8192, IndexIntervalBytes: 300, SegmentIndexBytes: 1024})
	p, _ := tp.Partition(0)
	base := time.UnixMilli(1_700_000_000_000)
	const n = 200
	for i := 0; i < n; i++ {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 30), Timestamp: base.Add(time.Duration(10*i) * time.Millisecond)}})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	// Lower the timestamp of a middle entry of the first segment's time
	// index to halfway to its predecessor: still increasing, but wrong.
	path := filepath.Join(testDir, "t-0", segmentName(0, timeIndexSuffix))
	b, err := mem.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b)/timeEntrySize, 5)
	k := len(b) / timeEntrySize / 2
	prev := int64(binary.BigEndian.Uint64(b[(k-1)*timeEntrySize:]))
	cur := int64(binary.BigEndian.Uint64(b[k*timeEntrySize:]))
	binary.BigEndian.PutUint64(b[k*timeEntrySize:], uint64((prev+cur)/2))
	require.NoError(t, mem.WriteFile(path, b))

	l = openTest(t, mem, nil)
	p = mustPartition(t, l, "t", 0)
	for ms := int64(0); ms <= 10*n; ms += 3 {
		want := (ms + 9) / 10
		if want > n {
			want = n
		}
		got, err := p.OffsetForTime(base.Add(time.Duration(ms) * time.Millisecond))
		require.NoError(t, err)
		require.Equal(t, want, got, "target +%dms", ms)
	}
}

// Under SyncAlways, batches appended while no fsync round runs are staged
// and written by the next round in one write; under the other policies
// every batch is written as it is appended. Either way every batch reads
// back in order, before and after reopening.
func TestSyncAlwaysStagesBatchesForTheRound(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			l, p, logWrites := openCountingLogWrites(t, mem, policy)
			for i := range 3 {
				bb := new(batchBuilder)
				batch, aside, err := p.build(bb, []Record{{Value: []byte{byte('a' + i)}}})
				require.NoError(t, err)
				require.False(t, aside, "a small batch has its CRC")
				_, err = p.appendBatch(ctx, batch, appendOptions{Expected: -1, NoWait: true})
				require.NoError(t, err)
			}
			require.NoError(t, p.syncTo(ctx, 3))
			want := int64(3)
			if policy == SyncAlways {
				want = 2 // the zeros of the prepared space, then the three batches at once
			}
			require.Equal(t, want, logWrites.Load(), "writes to the segment file")
			require.Equal(t, int64(3), p.DurableOffset())
			requireValues(t, p, "a", "b", "c")
			require.NoError(t, l.Close())

			opts := testOptions(mem)
			opts.Sync = policy
			l = openTest(t, mem, opts)
			requireValues(t, mustPartition(t, l, "t", 0), "a", "b", "c")
		})
	}
}

// requireValues checks that p holds exactly the records with values want.
func requireValues(t *testing.T, p *Partition, want ...string) {
	t.Helper()
	recs, err := p.Read(context.Background(), p.StartOffset(), 1<<20)
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	require.Equal(t, want, got)
}

// largeBatch returns n records of 1 KiB values starting with tag: about
// n KiB, a batch whose CRC is computed aside when n >= 256.
func largeBatch(tag string, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, 1024)
		copy(v, fmt.Sprintf("%s-%d-", tag, i))
		for j := len(tag) + 8; j < len(v); j++ {
			v[j] = byte(i + j)
		}
		recs[i].Value = v
	}
	return recs
}

// requireBatches checks that p holds exactly the batches want, in order.
func requireBatches(t *testing.T, p *Partition, want ...[]Record) {
	t.Helper()
	var values []string
	for _, b := range want {
		for _, r := range b {
			values = append(values, string(r.Value))
		}
	}
	requireValues(t, p, values...)
}

// An uncompressed batch of 256 KiB or more has its CRC computed on another
// goroutine while its records are written, and its header written after
// them: two writes, where a smaller batch takes one. The batches read
// back, pass Check, survive reopening and a crash, under every policy and
// with appenders running concurrently.
func TestLargeBatchesComputeCRCAside(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncNever, SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			l, p, logWrites := openCountingLogWrites(t, mem, policy)
			small := []Record{{Value: []byte("small")}}
			_, err := p.Append(ctx, small)
			require.NoError(t, err)
			before := logWrites.Load()
			large := largeBatch("large", 300)
			_, err = p.Append(ctx, large)
			require.NoError(t, err)
			require.Equal(t, before+2, logWrites.Load(), "the records, then the header")

			// Appenders of large batches side by side: under the race
			// detector, the CRC's goroutine reads each batch while the
			// append patches its header.
			batches := [][]Record{small, large}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := range 3 {
				wg.Go(func() {
					for i := range 2 {
						b := largeBatch(fmt.Sprintf("w%d-%d", w, i), 256+w*100)
						if _, err := p.Append(ctx, b); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						batches = append(batches, b)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			require.NoError(t, l.Check(ctx))
			recs, err := p.Read(ctx, 0, 64<<20)
			require.NoError(t, err)
			require.Len(t, recs, 1+300+2*(256+356+456))
			crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			require.NoError(t, l.Close())

			for _, fs := range []*vfs.MemFS{mem, crashed} {
				opts := testOptions(fs)
				opts.Sync = policy
				l := openTest(t, fs, opts)
				p := mustPartition(t, l, "t", 0)
				got, err := p.Read(ctx, 0, 64<<20)
				require.NoError(t, err)
				require.Equal(t, len(recs), len(got))
				for i := range recs {
					require.Equal(t, recs[i].Value, got[i].Value, "record %d", i)
				}
				require.NoError(t, l.Check(ctx))
				require.NoError(t, l.Close())
			}
		})
	}
}

// A large batch is written in two writes, the records and then the header.
// A full disk at either fails the append cleanly with ErrDiskFull and
// leaves nothing of the batch; a crash between the two leaves zeros where
// the header goes, which recovery cuts as an interrupted write, losing
// nothing acknowledged.
func TestLargeBatchSplitWriteFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		write int // which write of the large batch: 1 the records, 2 the header
		crash bool
	}{
		{"disk full writing the records", 1, false},
		{"disk full writing the header", 2, false},
		{"crash before the header", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			var armed atomic.Bool
			var writes atomic.Int64
			var crashed *vfs.MemFS
			inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
				if op != vfs.OpWrite || !strings.HasSuffix(path, logSuffix) || !armed.Load() {
					return nil
				}
				if writes.Add(1) != int64(tc.write) {
					return nil
				}
				if tc.crash {
					crashed = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
					return nil
				}
				return syscall.ENOSPC
			})
			fs := vfs.WithInjector(mem, inj, vfs.InjectOptions{ShortWrites: true})
			opts := testOptions(fs)
			opts.Sync = SyncNever
			l := openTest(t, fs, opts)
			tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			first := largeBatch("first", 300)
			_, err = p.Append(ctx, first)
			require.NoError(t, err)
			end := p.activeSegment().Size

			armed.Store(true)
			_, err = p.Append(ctx, largeBatch("failed", 300))
			armed.Store(false)
			if tc.crash {
				require.NoError(t, err)
				require.NotNil(t, crashed)
				logs := &logRecorder{}
				copts := testOptions(crashed)
				copts.Logger = slog.New(logs)
				cl := openTest(t, crashed, copts)
				requireBatches(t, mustPartition(t, cl, "t", 0), first)
				require.True(t, logs.logged("cut"), "the cut is logged: %v", logs.msgs)
				require.NoError(t, cl.Close())
				return
			}
			require.ErrorIs(t, err, ErrDiskFull)
			require.NotErrorIs(t, err, ErrDurability)
			require.Equal(t, end, p.activeSegment().Size)
			data, err := mem.ReadFile(p.activeSegment().Path)
			require.NoError(t, err)
			require.Equal(t, int(end), len(data), "nothing of the failed batch is left in the file")

			second := largeBatch("second", 300)
			_, err = p.Append(ctx, second)
			require.NoError(t, err, "the partition takes appends again")
			requireBatches(t, p, first, second)
			require.NoError(t, l.Close())
			l = openTest(t, mem, nil)
			requireBatches(t, mustPartition(t, l, "t", 0), first, second)
		})
	}
}

// Regression: an Append of a record stamped time.Unix(1<<62, 0) was
// accepted and read back as 1970 (the milliseconds overflowed), and
// OffsetForTime(time.Unix(math.MaxInt64, 0)) returned 0 instead of the
// high watermark, by the same overflow. Times outside int64 milliseconds
// since 1970 are refused with a *TimestampError; lookups by time clamp.
func TestTimestampsOutsideInt64Milliseconds(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	last := time.UnixMilli(math.MaxInt64)
	res, err := p.Append(ctx, []Record{{Value: []byte("first"), Timestamp: time.UnixMilli(0)}, {Value: []byte("last"), Timestamp: last}})
	require.NoError(t, err, "the first and last storable times")
	require.Equal(t, int64(1), res.LastOffset)
	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.True(t, recs[1].Timestamp.Equal(last), "%v", recs[1].Timestamp)

	for _, ts := range []time.Time{time.Unix(1<<62, 0), time.Unix(math.MaxInt64, 0), last.Add(time.Millisecond), time.Unix(-1, 0), time.Unix(math.MinInt64, 0)} {
		_, err := p.Append(ctx, []Record{{Value: []byte("ok")}, {Value: []byte("bad"), Timestamp: ts}})
		var terr *TimestampError
		require.ErrorAs(t, err, &terr, "%v", ts)
		require.ErrorIs(t, err, ErrInvalidArgument)
		require.Equal(t, 1, terr.Index)
		require.True(t, terr.Timestamp.Equal(ts))
		prod, err := l.NewProducer(ProducerConfig{})
		require.NoError(t, err)
		err = prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("bad"), Timestamp: ts})
		require.ErrorAs(t, err, &terr, "%v", ts)
		require.NoError(t, prod.Close())
	}
	require.Equal(t, int64(2), p.EndOffset(), "nothing refused was appended")

	for _, tc := range []struct {
		ts   time.Time
		want int64
	}{
		{time.Unix(math.MaxInt64, 0), 2},
		{time.Unix(1<<62, 0), 2},
		{time.Unix(math.MinInt64, 0), 0},
		{time.Unix(-1, 0), 0},
		{last, 1},
	} {
		off, err := p.OffsetForTime(tc.ts)
		require.NoError(t, err)
		require.Equal(t, tc.want, off, "OffsetForTime(%v)", tc.ts)
	}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
	require.NoError(t, c.SeekToTime(TopicPartition{"t", 0}, time.Unix(math.MaxInt64, 0)))
	pos, err := c.Position(TopicPartition{"t", 0})
	require.NoError(t, err)
	require.Equal(t, int64(2), pos)
	require.NoError(t, c.Close())
	got, err := l.ResetGroupOffsets(ctx, "g", OffsetAtTime(time.Unix(math.MaxInt64, 0)), TopicPartition{"t", 0})
	require.NoError(t, err)
	require.Equal(t, int64(2), got[TopicPartition{"t", 0}])
}
