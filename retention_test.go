package commitlog

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestDeleteRecordsMovesTheStartDurably(t *testing.T) {
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	_, err := l.CreateTopic(context.Background(), "t", smallTopic)
	require.NoError(t, err)
	fillTopic(t, l, "t", 500)
	p := mustPartition(t, l, "t", 0)
	ctx := context.Background()

	start, err := p.DeleteRecords(ctx, 123) // inside a batch, segments later
	require.NoError(t, err)
	require.Equal(t, int64(123), start)
	require.Equal(t, int64(123), p.StartOffset())
	_, err = p.Read(ctx, 122, 1<<20)
	var oor *OffsetOutOfRangeError
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(123), oor.Start)
	recs, err := p.Read(ctx, 123, 1)
	require.NoError(t, err)
	require.Equal(t, int64(123), recs[0].Offset)
	off, err := p.OffsetForTime(recs[0].Timestamp.Add(-1))
	require.NoError(t, err)
	require.Equal(t, int64(123), off, "time lookups start at the start offset")

	start, err = p.DeleteRecords(ctx, 50)
	require.NoError(t, err)
	require.Equal(t, int64(123), start, "an offset below the start changes nothing")
	_, err = p.DeleteRecords(ctx, 501)
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(500), oor.End)
	_, err = p.DeleteRecords(ctx, -1)
	require.ErrorIs(t, err, ErrInvalidArgument)

	// A consumer below the start follows its reset policy.
	tp := TopicPartition{"t", 0}
	earliest := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}})
	require.NoError(t, earliest.Seek(tp, 5))
	got := pollN(t, earliest, 1)
	require.Equal(t, int64(123), got[0].Offset)
	none := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}, AutoOffsetReset: ResetNone})
	require.NoError(t, none.Seek(tp, 5))
	_, err = none.Poll(ctx)
	require.ErrorAs(t, err, &oor)

	// Durable at once: a power failure right after keeps it.
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	l2, err := Open(testDir, testOptions(crashed))
	require.NoError(t, err)
	defer l2.Close()
	require.Equal(t, int64(123), mustPartition(t, l2, "t", 0).StartOffset())
	require.NoError(t, l2.Check(ctx))

	_, err = mustPartition(t, l, "t", 0).DeleteRecords(ctx, 500)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l = openTest(t, mem, nil)
	p = mustPartition(t, l, "t", 0)
	require.Equal(t, int64(500), p.StartOffset())
	require.Equal(t, int64(500), p.EndOffset())
	res, err := p.Append(ctx, []Record{{Key: []byte("k"), Value: []byte("after")}})
	require.NoError(t, err)
	require.Equal(t, int64(500), res.BaseOffset)
}

func TestDeleteRecordsRefusesInternalTopics(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	groupTopic(t, l, 1)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
	pollN(t, c, 1)
	require.NoError(t, c.Commit(context.Background()))
	p := mustPartition(t, l, offsetsTopicName, int32(offsetsPartitionFor("g", 4)))
	_, err := p.DeleteRecords(context.Background(), 1)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

// TestDeleteRecordsCrashAtEveryPoint crashes a workload of appends,
// DeleteRecords calls and retention passes removing the segments below the
// start, before every mutating file operation: the recovered
// start offset is never below the last DeleteRecords that returned, never
// above the last one called, and every record from it on is intact; and
// internal/histcheck checks each state against the appends up to the
// crash, counting the records below the recovered start as deleted.
func TestDeleteRecordsCrashAtEveryPoint(t *testing.T) {
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.7, Tear: true}, {KeepUnsynced: 1}}
	type progress struct{ acked, called int64 }
	hp := histcheck.Partition{Topic: "t", ID: 0}
	workload := func(fs vfs.FS, mu *sync.Mutex, pr *progress, rec *histcheck.Recorder) error {
		ctx := context.Background()
		clock := newClock()
		opts := testOptions(fs)
		opts.now = clock.Now
		l, err := Open(testDir, opts)
		if err != nil {
			return err
		}
		defer l.Close()
		if _, err := l.CreateTopic(ctx, "t", smallTopic); err != nil {
			return err
		}
		p, _ := l.Topic("t")
		part, _ := p.Partition(0)
		for round := range 4 {
			for i := range 5 {
				var batch []Record
				var values []string
				for j := range 10 {
					batch = append(batch, Record{Value: retentionValue(int64(round*50 + i*10 + j))})
					values = append(values, string(batch[j].Value))
				}
				s := rec.Send("writer", hp, values...)
				res, err := part.Append(ctx, batch)
				if err != nil {
					s.Unknown()
					return err
				}
				s.Ok(res.BaseOffset)
			}
			before := int64(round*50 + 17)
			mu.Lock()
			pr.called = before
			mu.Unlock()
			if _, err := part.DeleteRecords(ctx, before); err != nil {
				return err
			}
			mu.Lock()
			pr.acked = before
			mu.Unlock()
			// Retention removes the segments wholly below the start.
			if err := l.EnforceRetention(ctx); err != nil {
				return err
			}
			if round == 1 {
				if err := l.Close(); err != nil {
					return err
				}
				if l, err = Open(testDir, opts); err != nil {
					return err
				}
				p, _ = l.Topic("t")
				part, _ = p.Partition(0)
			}
		}
		// Everything expires: retention deletes every segment, rolling the
		// active one first.
		mu.Lock()
		pr.called = part.EndOffset()
		mu.Unlock()
		clock.Advance(8 * 24 * time.Hour)
		if err := l.EnforceRetention(ctx); err != nil {
			return err
		}
		if part.StartOffset() != part.EndOffset() {
			return fmt.Errorf("retention left [%d, %d)", part.StartOffset(), part.EndOffset())
		}
		mu.Lock()
		pr.acked = part.EndOffset()
		mu.Unlock()
		return l.Close()
	}
	states := 0
	for k := 0; ; k++ {
		mem := vfs.NewMem()
		var mu sync.Mutex
		pr := &progress{}
		var at progress
		hist := newCrashHistory()
		var history []byte // hist's lines at the crash
		var clones []*vfs.MemFS
		ops := 0
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if ops == k {
				at = *pr
				history = hist.lines()
				for i, c := range keeps {
					c.Seed = int64(k*10 + i)
					clones = append(clones, mem.CrashClone(c))
				}
			}
			ops++
			return nil
		})
		require.NoError(t, workload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), &mu, pr, hist.rec))
		if clones == nil {
			require.Greater(t, k, 50, "the workload should have many crash points")
			break
		}
		for i, fs := range clones {
			states++
			what := fmt.Sprintf("crash before op %d, %+v", k, keeps[i])
			l, err := Open(testDir, testOptions(fs))
			require.NoError(t, err, what)
			// SyncAlways: every acknowledgement is durable; the records
			// below the start were deleted, and are never read.
			rec := replayCrashHistory(t, history, what)
			tp, err := l.Topic("t")
			if err != nil {
				require.ErrorIs(t, err, ErrUnknownTopic, what)
				rec.Final(hp, 0, 0, nil)
				requireHistory(t, rec, histcheck.Options{}, what)
				l.Close()
				continue
			}
			p, _ := tp.Partition(0)
			start := p.StartOffset()
			require.GreaterOrEqual(t, start, at.acked, "%s: a DeleteRecords that returned was undone", what)
			require.LessOrEqual(t, start, max(at.called, at.acked), "%s: more was deleted than asked", what)
			next := start
			var reads []histcheck.Read
			for r, err := range p.Scan(context.Background(), start) {
				require.NoError(t, err, what)
				reads = append(reads, histcheck.Read{Partition: hp, Offset: r.Offset, Value: string(r.Value)})
				require.Equal(t, next, r.Offset, what)
				require.Equal(t, string(retentionValue(r.Offset)), string(r.Value), what)
				next++
			}
			rec.Final(hp, start, p.EndOffset(), reads)
			requireHistory(t, rec, histcheck.Options{}, what)
			require.NoError(t, l.Check(context.Background()), what)
			require.NoError(t, l.Close())
		}
	}
	t.Logf("%d crash states checked", states)
}

// retentionLog opens a log on the injected clock with a topic of tiny
// segments (about 10 batches of 10 records each) and the given retention.
func retentionLog(t *testing.T, retention time.Duration, retentionBytes int64) (*Log, *Partition, *fixedClock) {
	clock := newClock()
	opts := testOptions(vfs.NewMem())
	opts.now = clock.Now
	l := openTest(t, nil, opts)
	cfg := smallTopic
	cfg.Retention, cfg.RetentionBytes = retention, retentionBytes
	_, err := l.CreateTopic(context.Background(), "t", cfg)
	require.NoError(t, err)
	return l, mustPartition(t, l, "t", 0), clock
}

// appendAt appends n batches of 10 records stamped ts, of about 1 KiB
// (four to a segment of smallTopic); values are retentionValue(offset).
func appendAt(t *testing.T, p *Partition, n int, ts time.Time) {
	for range n {
		base := p.EndOffset()
		var batch []Record
		for j := range 10 {
			batch = append(batch, Record{Value: retentionValue(base + int64(j)), Timestamp: ts})
		}
		_, err := p.Append(context.Background(), batch)
		require.NoError(t, err)
	}
}

func retentionValue(offset int64) []byte {
	return fmt.Appendf(nil, "%-80d", offset)
}

func segmentBases(p *Partition) []int64 {
	var out []int64
	for _, s := range p.segments() {
		out = append(out, s.Base)
	}
	return out
}

func TestRetentionByTimeIsStrictAndSparesTheActiveSegment(t *testing.T) {
	l, p, clock := retentionLog(t, time.Hour, 0)
	ctx := context.Background()
	t0 := clock.Now()
	appendAt(t, p, 40, t0)                    // several segments, all stamped t0
	appendAt(t, p, 2, t0.Add(30*time.Minute)) // the newest, in the last segment
	bases := segmentBases(p)
	require.Greater(t, len(bases), 3)

	clock.Advance(time.Hour) // exactly the retention: nothing is older than it
	require.NoError(t, l.EnforceRetention(ctx))
	require.Equal(t, bases, segmentBases(p))
	require.Equal(t, int64(0), p.StartOffset())

	clock.Advance(time.Millisecond)
	require.NoError(t, l.EnforceRetention(ctx))
	after := segmentBases(p)
	require.Less(t, len(after), len(bases))
	require.Equal(t, after[0], p.StartOffset())
	// The segments left: the one with the newer records (the active one),
	// or ones the durable end still names.
	for _, s := range p.segments()[:len(after)-1] {
		require.True(t, p.durableSegment().Same(s), "only the durable end's segment may stay expired")
	}
	_, err := p.Read(ctx, 0, 1<<20)
	var oor *OffsetOutOfRangeError
	require.ErrorAs(t, err, &oor)
	l.waitDeletions()
	for _, b := range bases[:len(bases)-len(after)] {
		_, err := l.fs.Stat(fmt.Sprintf("%s/t-0/%020d.log", testDir, b))
		require.True(t, isNotExist(err), "segment %d's file is removed", b)
	}
	next := p.StartOffset()
	for r, err := range p.Scan(ctx, p.StartOffset()) {
		require.NoError(t, err)
		require.Equal(t, next, r.Offset)
		next++
	}
	require.Equal(t, p.EndOffset(), next)
	require.NoError(t, l.Check(ctx))
}

func TestRetentionBySize(t *testing.T) {
	l, p, clock := retentionLog(t, Forever, 8000)
	ctx := context.Background()
	appendAt(t, p, 60, clock.Now())
	var total int64
	for _, s := range p.segments() {
		total += s.Size
	}
	require.Greater(t, total, int64(12000))
	require.NoError(t, l.EnforceRetention(ctx, "t"))
	segs := p.segments()
	total = 0
	for _, s := range segs {
		total += s.Size
	}
	require.GreaterOrEqual(t, total, int64(8000), "never below the bound")
	require.Less(t, total-segs[0].Size, int64(8000), "the oldest left is needed to stay at the bound")
	require.ErrorIs(t, l.EnforceRetention(ctx, "nope"), ErrUnknownTopic)
}

func TestRetentionMakesDataDurableBeforeDeleting(t *testing.T) {
	clock := newClock()
	opts := testOptions(vfs.NewMem())
	opts.now = clock.Now
	opts.Sync = SyncInterval
	opts.SyncInterval = time.Hour // the high watermark is the written end
	l := openTest(t, nil, opts)
	cfg := smallTopic
	cfg.Retention = time.Minute
	_, err := l.CreateTopic(context.Background(), "t", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	appendAt(t, p, 30, clock.Now())
	clock.Advance(time.Hour)
	require.Less(t, p.DurableOffset(), p.HighWatermark(), "written, not yet durable")
	require.NoError(t, l.EnforceRetention(context.Background()))
	// The pass made the data durable first (the checkpoint it writes
	// names the durable end's segment), then deleted below the high
	// watermark only.
	require.Equal(t, p.HighWatermark(), p.DurableOffset())
	require.Greater(t, p.StartOffset(), int64(0))
	require.LessOrEqual(t, p.StartOffset(), p.HighWatermark())
	segs := p.segments()
	require.True(t, p.durableSegment().Same(segs[len(segs)-1]))
}

func TestRetentionRemovesSegmentsBelowDeleteRecords(t *testing.T) {
	l, p, clock := retentionLog(t, Forever, 0)
	ctx := context.Background()
	appendAt(t, p, 30, clock.Now())
	bases := segmentBases(p)
	_, err := p.DeleteRecords(ctx, bases[2]+3)
	require.NoError(t, err)
	require.NoError(t, l.EnforceRetention(ctx))
	require.Equal(t, bases[2:], segmentBases(p))
	require.Equal(t, bases[2]+3, p.StartOffset(), "the start stays where DeleteRecords put it")
}

func TestRetentionLetsAReaderFinishADeletedSegment(t *testing.T) {
	l, p, clock := retentionLog(t, time.Minute, 0)
	ctx := context.Background()
	appendAt(t, p, 30, clock.Now())
	next, stop := iter.Pull2(p.Scan(ctx, 0))
	defer stop()
	r, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)
	require.Equal(t, int64(0), r.Offset)
	clock.Advance(time.Hour)
	appendAt(t, p, 10, clock.Now())
	require.NoError(t, l.EnforceRetention(ctx))
	require.Greater(t, p.StartOffset(), int64(0))
	// The reader, inside the first (deleted) segment, reads on.
	for want := int64(1); want < 10; want++ {
		r, err, ok := next()
		require.True(t, ok)
		require.NoError(t, err)
		require.Equal(t, want, r.Offset)
		require.Equal(t, string(retentionValue(want)), string(r.Value))
	}
}

func TestRetentionRollsAnExpiredActiveSegment(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			clock := newClock()
			opts := testOptions(mem)
			opts.now, opts.Sync = clock.Now, policy
			l := openTest(t, nil, opts)
			cfg := smallTopic
			cfg.Retention = time.Hour
			_, err := l.CreateTopic(context.Background(), "t", cfg)
			require.NoError(t, err)
			p := mustPartition(t, l, "t", 0)
			ctx := context.Background()
			appendAt(t, p, 6, clock.Now()) // two segments, the active one holding the newest
			clock.Advance(30 * time.Minute)
			appendAt(t, p, 1, clock.Now())
			clock.Advance(time.Hour)
			require.NoError(t, l.EnforceRetention(ctx))
			require.Equal(t, p.StartOffset(), p.segments()[0].Base)
			require.Greater(t, p.StartOffset(), int64(0), "the sealed, expired segment went")
			clock.Advance(time.Hour) // now the active segment has expired too
			require.NoError(t, l.EnforceRetention(ctx))
			require.Equal(t, int64(70), p.StartOffset(), "everything expired is gone")
			require.Equal(t, int64(70), p.EndOffset())
			require.Equal(t, []int64{70}, segmentBases(p))
			require.NoError(t, l.Check(ctx))
			appendAt(t, p, 1, clock.Now())
			recs, err := p.Read(ctx, 70, 1<<20)
			require.NoError(t, err)
			require.Len(t, recs, 10)
			// Durable: a crash keeps the new start.
			crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
			l2, err := Open(testDir, testOptions(crashed))
			require.NoError(t, err)
			p2 := mustPartition(t, l2, "t", 0)
			require.Equal(t, int64(70), p2.StartOffset())
			require.NoError(t, l2.Check(ctx))
			require.NoError(t, l2.Close())
		})
	}
}

// BenchmarkRetention1000Segments measures one retention pass deleting
// 1,000 expired segments (of 4 KiB, with their indexes) on the real file
// system.
func BenchmarkRetention1000Segments(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		clock := newClock()
		l, err := Open(b.TempDir(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour, now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		cfg := smallTopic
		cfg.Retention = time.Hour
		if _, err := l.CreateTopic(ctx, "t", cfg); err != nil {
			b.Fatal(err)
		}
		p := mustPartition(b, l, "t", 0)
		batch := make([]Record, 10)
		for i := range batch {
			batch[i] = Record{Value: make([]byte, 300)}
		}
		for len(p.segments()) <= 1000 {
			if _, err := p.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		clock.Advance(2 * time.Hour)
		if _, err := p.Append(ctx, batch); err != nil { // a fresh active segment stays
			b.Fatal(err)
		}
		// Old segments are durable long before they expire: the
		// scheduler's checkpoints fsynced them.
		if err := p.checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		n := len(p.segments())
		b.StartTimer()
		start := time.Now()
		if err := l.EnforceRetention(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if got := n - len(p.segments()); got < 1000 {
			b.Fatalf("deleted %d segments, want at least 1000", got)
		}
		b.ReportMetric(float64(elapsed.Microseconds())/1e3, "ms/pass")
		l.Close()
	}
}
