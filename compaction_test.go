package commitlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// compactTopic is smallTopic with compaction.
var compactTopic = TopicConfig{
	Partitions:         1,
	SegmentBytes:       4096,
	IndexIntervalBytes: 256,
	SegmentIndexBytes:  1024,
	MaxBatchBytes:      4096,
	CleanupPolicy:      CleanupCompact,
	Retention:          Forever,
	DeleteRetention:    time.Hour,
}

// written is one record appended in a compaction test, for the model.
type written struct {
	offset int64
	key    string
	value  []byte // nil: a tombstone
	ts     time.Time
}

// compactionLog opens a Log on an in-memory file system with an injected
// clock and a compacted topic "c" with cfg.
func compactionLog(t *testing.T, fs vfs.FS, cfg TopicConfig) (*Log, *Partition, *fixedClock) {
	t.Helper()
	clock := newClock()
	opts := testOptions(fs)
	opts.now = clock.Now
	l := openTest(t, fs, opts)
	_, err := l.CreateTopic(context.Background(), "c", cfg)
	require.NoError(t, err)
	return l, mustPartition(t, l, "c", 0), clock
}

// appendKeyed appends n batches of up to maxRecs records with keys drawn
// from keys distinct ones, a tenth of them tombstones, at the clock's time.
func appendKeyed(t *testing.T, p *Partition, rng *rand.Rand, clock *fixedClock, n, maxRecs, keys int) []written {
	t.Helper()
	var out []written
	for range n {
		recs := make([]Record, 1+rng.IntN(maxRecs))
		for i := range recs {
			recs[i].Key = fmt.Appendf(nil, "k%03d", rng.IntN(keys))
			if rng.IntN(10) > 0 {
				recs[i].Value = fmt.Appendf(nil, "v%d-%x", rng.Int64(), make([]byte, rng.IntN(40)))
			}
			recs[i].Timestamp = clock.Now()
		}
		res, err := p.Append(context.Background(), recs)
		require.NoError(t, err)
		for i, r := range recs {
			out = append(out, written{offset: res.BaseOffset + int64(i), key: string(r.Key), value: r.Value, ts: r.Timestamp})
		}
		clock.Advance(time.Millisecond)
	}
	return out
}

// checkCompacted checks what compaction may leave of history: offsets
// strictly increase; every record read is the one written at its offset;
// the latest record of every key is there, tombstones aside, which may go
// only when dropTombstones; and nothing at or after keepFrom is gone.
func checkCompacted(t *testing.T, got []Record, history []written, keepFrom int64, dropTombstones bool) {
	t.Helper()
	byOffset := map[int64]written{}
	latest := map[string]written{}
	for _, w := range history {
		byOffset[w.offset] = w
		latest[w.key] = w
	}
	seen := map[int64]bool{}
	prev := int64(-1)
	for _, r := range got {
		require.Greater(t, r.Offset, prev, "offsets strictly increase")
		prev = r.Offset
		w, ok := byOffset[r.Offset]
		require.True(t, ok, "offset %d was never written", r.Offset)
		require.Equal(t, w.key, string(r.Key), "offset %d", r.Offset)
		require.Equal(t, w.value, r.Value, "offset %d", r.Offset)
		require.Equal(t, w.value == nil, r.Value == nil, "offset %d: tombstone", r.Offset)
		require.True(t, r.Timestamp.Equal(w.ts), "offset %d: timestamp %v, wrote %v", r.Offset, r.Timestamp, w.ts)
		seen[r.Offset] = true
	}
	for _, w := range latest {
		if w.value == nil && dropTombstones {
			continue
		}
		require.True(t, seen[w.offset], "the latest record of key %s (offset %d) is missing", w.key, w.offset)
	}
	for _, w := range history {
		if w.offset >= keepFrom {
			require.True(t, seen[w.offset], "offset %d is past what compaction may touch (%d) but is missing", w.offset, keepFrom)
		}
	}
}

func TestCompactionKeepsTheLatestRecordOfEachKey(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			cfg := compactTopic
			cfg.Compression = []Codec{CodecNone, CodecLZ4, CodecZstd, CodecGzip, CodecSnappy}[seed%5]
			mem := vfs.NewMem()
			l, p, clock := compactionLog(t, mem, cfg)
			ctx := context.Background()
			history := appendKeyed(t, p, rng, clock, 150, 8, 20+rng.IntN(40))
			segsBefore := len(segmentBases(p))
			require.Greater(t, segsBefore, 5)
			active := segmentBases(p)[segsBefore-1]

			require.NoError(t, l.Compact(ctx))
			got := readAll(t, p)
			checkCompacted(t, got, history, active, false)
			require.Less(t, len(got), len(history), "compaction removed superseded records")
			require.NoError(t, l.Check(ctx))

			// More writes, and a second pass over old and new.
			history = append(history, appendKeyed(t, p, rng, clock, 60, 8, 30)...)
			segsBefore = len(segmentBases(p))
			active = segmentBases(p)[segsBefore-1]
			require.NoError(t, l.Compact(ctx))
			checkCompacted(t, readAll(t, p), history, active, false)
			require.Less(t, len(segmentBases(p)), segsBefore, "segments that compaction shrank are merged")

			// Past the delete horizon, a pass drops tombstones.
			clock.Advance(2 * time.Hour)
			require.NoError(t, l.Compact(ctx))
			got = readAll(t, p)
			checkCompacted(t, got, history, active, true)
			for _, r := range got {
				if r.Offset < active {
					require.NotNil(t, r.Value, "tombstone at %d outlived its delete horizon", r.Offset)
				}
			}

			// All of it survives a reopen.
			require.NoError(t, l.Close())
			opts := testOptions(mem)
			opts.now = clock.Now
			l2 := openTest(t, mem, opts)
			p2 := mustPartition(t, l2, "c", 0)
			require.Equal(t, got, readAll(t, p2))
			require.NoError(t, l2.Check(ctx))
		})
	}
}

// The Log's cleaner compacts a partition on its own once its dirty ratio
// passes MinCleanableDirtyRatio, and not before.
func TestCleanerCompactsWhenTheDirtyRatioIsReached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := vfs.NewMem()
		l, err := Open(testDir, &Options{CheckpointInterval: time.Second, fs: mem})
		require.NoError(t, err)
		defer l.Close()
		cfg := compactTopic
		cfg.MinCleanableDirtyRatio = 0.6
		tp, err := l.CreateTopic(ctx, "c", cfg)
		require.NoError(t, err)
		p, _ := tp.Partition(0)
		clock := &fixedClock{now: time.Now()}
		rng := rand.New(rand.NewPCG(1, 2))

		history := appendKeyed(t, p, rng, clock, 120, 8, 1000)
		time.Sleep(1100 * time.Millisecond) // a checkpoint tick wakes the cleaner
		synctest.Wait()
		st := p.Stats()
		require.False(t, st.LastCleaning.IsZero(), "the cleaner compacted a wholly dirty partition")
		require.Zero(t, st.DirtyRatio)
		checkCompacted(t, readAll(t, p), history, segmentBases(p)[len(segmentBases(p))-1], false)
		cleaned := st.LastCleaning

		// A little more: the dirty share stays below 0.6, so no pass runs.
		history = append(history, appendKeyed(t, p, rng, clock, 25, 8, 1000)...)
		for range 3 {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		st = p.Stats()
		require.Greater(t, st.DirtyRatio, 0.0)
		require.LessOrEqual(t, st.DirtyRatio, 0.6)
		require.Equal(t, cleaned, st.LastCleaning, "no pass below the dirty ratio")

		// Much more: past the ratio, it runs again.
		history = append(history, appendKeyed(t, p, rng, clock, 300, 8, 1000)...)
		time.Sleep(time.Second)
		synctest.Wait()
		require.True(t, p.Stats().LastCleaning.After(cleaned))
		checkCompacted(t, readAll(t, p), history, segmentBases(p)[len(segmentBases(p))-1], false)
		require.NoError(t, l.Close())
		synctest.Wait()
	})
}

// MaxCompactionLag rolls an active segment that old and compacts the
// partition whatever its dirty ratio.
func TestMaxCompactionLagForcesCompaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := vfs.NewMem()
		l, err := Open(testDir, &Options{CheckpointInterval: time.Second, fs: mem})
		require.NoError(t, err)
		defer l.Close()
		cfg := compactTopic
		cfg.SegmentBytes = 1 << 20
		cfg.MinCleanableDirtyRatio = 1 // never by ratio
		cfg.MaxCompactionLag = time.Minute
		tp, err := l.CreateTopic(ctx, "c", cfg)
		require.NoError(t, err)
		p, _ := tp.Partition(0)
		clock := &fixedClock{now: time.Now()}
		history := appendKeyed(t, p, rand.New(rand.NewPCG(3, 4)), clock, 50, 4, 5)
		require.Len(t, segmentBases(p), 1)

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.Len(t, segmentBases(p), 2, "the active segment rolled at MaxCompactionLag")
		require.False(t, p.Stats().LastCleaning.IsZero())
		got := readAll(t, p)
		require.LessOrEqual(t, len(got), 5, "one record per key is left")
		checkCompacted(t, got, history, p.EndOffset(), false)
		require.NoError(t, l.Close())
		synctest.Wait()
	})
}

// Records younger than MinCompactionLag are not compacted: a consumer
// within that lag sees every record.
func TestMinCompactionLagKeepsRecentRecords(t *testing.T) {
	cfg := compactTopic
	cfg.MinCompactionLag = time.Hour
	l, p, clock := compactionLog(t, vfs.NewMem(), cfg)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	old := appendKeyed(t, p, rng, clock, 60, 8, 10)
	clock.Advance(2 * time.Hour)
	recent := appendKeyed(t, p, rng, clock, 60, 8, 10)
	require.NoError(t, l.Compact(ctx))
	got := readAll(t, p)
	checkCompacted(t, got, append(old, recent...), recent[0].offset, false)
	require.Less(t, len(got), len(old)+len(recent), "the old records were compacted")

	clock.Advance(2 * time.Hour)
	require.NoError(t, l.Compact(ctx))
	require.Less(t, len(readAll(t, p)), len(got), "now the recent ones are old enough")
}

// __consumer_offsets is compacted by the same code, and the committed
// offsets survive it and a reopen.
func TestConsumerOffsetsTopicIsCompacted(t *testing.T) {
	mem := vfs.NewMem()
	clock := newClock()
	opts := testOptions(mem)
	opts.now = clock.Now
	opts.OffsetsTopicPartitions = 1
	l := openTest(t, mem, opts)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 4})
	require.NoError(t, err)
	fillTopic(t, l, "t", 400)
	all := []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: all, DisableAutoCommit: true})
	for i := range 200 {
		for part := range int32(4) {
			require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{{"t", part}: int64(i)}))
		}
	}
	off := mustPartition(t, l, offsetsTopicName, 0)
	before := off.EndOffset()
	clock.Advance(8 * 24 * time.Hour)
	require.NoError(t, off.rollIfAged(clock.Now()))
	require.NoError(t, l.Compact(ctx, offsetsTopicName))
	recs := readAll(t, off)
	require.Len(t, recs, 4, "one commit per partition is left of %d", before)
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())

	l2 := openTest(t, mem, opts)
	committed, err := newTestConsumer(t, l2, ConsumerConfig{Group: "g", Partitions: all}).Committed(ctx, all...)
	require.NoError(t, err)
	for _, tp := range all {
		require.Equal(t, int64(199), committed[tp], "%v", tp)
	}
}

func TestCompactRefusesTopicsThatDoNotCompact(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "d", TopicConfig{})
	require.NoError(t, err)
	require.ErrorIs(t, l.Compact(context.Background(), "d"), ErrInvalidArgument)
	require.ErrorIs(t, l.Compact(context.Background(), "nope"), ErrUnknownTopic)
	require.NoError(t, l.Compact(context.Background()), "no compacted topics: nothing to do")
}
