package commitlog

import (
	"context"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestPartitionStats(t *testing.T) {
	l, p, clock := retentionLog(t, time.Hour, 0)
	st := p.Stats()
	require.Equal(t, PartitionStats{Topic: "t", Segments: 1}, st)
	appendAt(t, p, 12, clock.Now())
	st = p.Stats()
	require.Equal(t, int64(120), st.EndOffset)
	require.Equal(t, int64(120), st.HighWatermark)
	require.Equal(t, len(p.segments()), st.Segments)
	require.Greater(t, st.Segments, 2)
	var size int64
	for _, s := range p.segments() {
		size += s.Size
	}
	require.Equal(t, size, st.Bytes)
	require.True(t, st.LastRetention.IsZero())

	clock.Advance(2 * time.Hour)
	appendAt(t, p, 1, clock.Now())
	require.NoError(t, l.EnforceRetention(context.Background()))
	after := p.Stats()
	require.Equal(t, clock.Now().UnixMilli(), after.LastRetention.UnixMilli())
	require.Equal(t, int64(st.Segments-after.Segments+1), after.RetentionDeleted, "a segment was added, the rest deleted")
	require.Equal(t, after.StartOffset, p.segments()[0].Base)
	require.Less(t, after.Bytes, st.Bytes)
	all := l.Stats().Partitions
	require.Len(t, all, 1)
	require.Equal(t, after, all[0])
}

// LogStats.Fsync counts every fsync round, by duration: the rounds the
// SyncHooks hear of, with the same durations.
func TestLogStatsFsyncHistogram(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	h := &recordingHook{}
	l := hookedLog(t, clockedFS(mem, clock, 100*time.Microsecond, 10*time.Microsecond, nil), h, clock, SyncAlways)
	_, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	for range 20 {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 500)}})
		require.NoError(t, err)
	}
	st := l.Stats().Fsync
	syncs := take(h, &h.syncs)
	want := make([]uint64, len(st.Bounds)+1)
	var sum time.Duration
	for _, s := range syncs {
		i := 0
		for i < len(st.Bounds) && s.Duration > st.Bounds[i] {
			i++
		}
		want[i]++
		sum += s.Duration
	}
	require.Equal(t, want, st.Counts)
	require.Equal(t, uint64(len(syncs)), st.Count)
	require.Equal(t, sum, st.Sum)
	require.Positive(t, st.Counts[4], "rounds of one data file: 100 µs, in (64 µs, 128 µs]")
	require.Equal(t, 8*time.Microsecond, st.Bounds[0])
	require.Equal(t, 128*time.Microsecond, st.Bounds[4])
	require.Len(t, st.Bounds, 21)
}

// LogStats.Recovery sums what Open recovered, partition by partition.
func TestLogStatsRecovery(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	opts := testOptions(mem)
	opts.now, opts.Sync = clock.Now, SyncNever
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{Partitions: 3, SegmentBytes: 4096})
	require.NoError(t, err)
	for id := range int32(3) {
		appendAt(t, mustPartition(t, l, "t", id), 2+int(id)*3, clock.Now())
	}
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}) // no checkpoint since the topic was created
	require.NoError(t, l.Close())

	// Every read of the files advances the clock: opening takes time.
	fs := vfs.WithInjector(crashed, vfs.InjectorFunc(func(op vfs.Op, _ string) error {
		if op == vfs.OpRead || op == vfs.OpList {
			clock.Advance(time.Millisecond)
		}
		return nil
	}), vfs.InjectOptions{})
	h := &recordingHook{}
	opts = testOptions(fs)
	opts.now, opts.Sync, opts.Hooks = clock.Now, SyncNever, []Hook{h}
	l = openTest(t, fs, opts)
	infos := take(h, &h.recoveries)
	require.Len(t, infos, 3)
	var want RecoveryStats
	var partitions time.Duration
	for _, r := range infos {
		require.Positive(t, r.BytesScanned, "%s-%d: the tail past the checkpoint is scanned", r.Topic, r.Partition)
		want.Partitions++
		want.Segments += r.Segments
		want.SegmentsScanned += r.SegmentsScanned
		want.BytesScanned += r.BytesScanned
		if r.FromCheckpoint {
			want.FromCheckpoint++
		}
		partitions += r.Duration
	}
	got := l.Stats().Recovery
	require.Greater(t, got.Duration, partitions, "Open takes longer than its partitions' recoveries")
	want.Duration = got.Duration
	require.Equal(t, want, got)
	require.Equal(t, 3, got.FromCheckpoint, "the checkpoints written at creation")
	require.Equal(t, 1+2+2, got.Segments, "2, 5 and 8 batches of 1 KiB, four to a 4 KiB segment")
}

// LogStats.Groups holds each group's lag, and PartitionStats.ConsumerLag
// the largest lag of any group on the partition.
func TestLogStatsGroupLag(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	all := groupTopic(t, l, 2) // 100 records in each partition
	for _, g := range []struct {
		name    string
		offsets map[TopicPartition]int64
	}{
		{"a", map[TopicPartition]int64{all[0]: 30, all[1]: 100}},
		{"b", map[TopicPartition]int64{all[0]: 90}},
	} {
		c := newTestConsumer(t, l, ConsumerConfig{Group: g.name, Topics: []string{"t"}, DisableAutoCommit: true, MaxPollRecords: 1})
		pollN(t, c, 1) // takes both partitions
		require.NoError(t, c.CommitOffsets(ctx, g.offsets))
		if g.name == "b" {
			require.NoError(t, c.Close()) // b has no members left
		}
	}
	st := l.Stats()
	require.Len(t, st.Groups, 2)
	a, b := st.Groups[0], st.Groups[1]
	require.Equal(t, "a", a.Group)
	require.Equal(t, int64(70), a.Lag)
	require.Equal(t, 1, a.Members)
	require.Equal(t, int32(1), a.Generation)
	require.Equal(t, GroupStable, a.State)
	da, err := l.DescribeGroup("a")
	require.NoError(t, err)
	require.Equal(t, da.Partitions, a.Partitions)
	require.Equal(t, []int64{70, 0}, []int64{a.Partitions[0].Lag, a.Partitions[1].Lag})
	require.Equal(t, GroupStats{Group: "b", State: GroupEmpty, Lag: 10, Partitions: []PartitionLag{
		{TopicPartition: all[0], Committed: 90, CommittedAt: b.Partitions[0].CommittedAt, HighWatermark: 100, Lag: 10},
	}}, b)

	lag := map[TopicPartition]int64{}
	for _, ps := range st.Partitions {
		lag[TopicPartition{ps.Topic, ps.Partition}] = ps.ConsumerLag
	}
	require.Equal(t, int64(70), lag[all[0]], "the largest of a's 70 and b's 10")
	require.Equal(t, int64(0), lag[all[1]])
	p0 := mustPartition(t, l, "t", 0)
	require.Equal(t, int64(70), p0.Stats().ConsumerLag)
	require.Equal(t, int64(100), p0.Stats().DurableOffset)
}
