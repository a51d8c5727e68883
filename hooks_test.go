package commitlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// recordingHook implements every hook interface and records every call.
// call, when set, is called after each one is recorded, outside the
// hook's lock: tests use it to call back into the Log from a hook.
type recordingHook struct {
	mu          sync.Mutex
	appends     []AppendInfo
	syncs       []SyncInfo
	rolls       []RollInfo
	retentions  []RetentionInfo
	compactions []CompactionInfo
	rebalances  []RebalanceInfo
	commits     []CommitInfo
	recoveries  []RecoveryInfo
	call        func(event any)
}

func recordCall[T any](h *recordingHook, list *[]T, info T) {
	h.mu.Lock()
	*list = append(*list, info)
	call := h.call
	h.mu.Unlock()
	if call != nil {
		call(info)
	}
}

func (h *recordingHook) OnAppend(i AppendInfo)         { recordCall(h, &h.appends, i) }
func (h *recordingHook) OnSync(i SyncInfo)             { recordCall(h, &h.syncs, i) }
func (h *recordingHook) OnRoll(i RollInfo)             { recordCall(h, &h.rolls, i) }
func (h *recordingHook) OnRetention(i RetentionInfo)   { recordCall(h, &h.retentions, i) }
func (h *recordingHook) OnCompaction(i CompactionInfo) { recordCall(h, &h.compactions, i) }
func (h *recordingHook) OnRebalance(i RebalanceInfo)   { recordCall(h, &h.rebalances, i) }
func (h *recordingHook) OnCommit(i CommitInfo)         { recordCall(h, &h.commits, i) }
func (h *recordingHook) OnRecovery(i RecoveryInfo)     { recordCall(h, &h.recoveries, i) }

// take returns the calls recorded in *list since the last take, and
// forgets them.
func take[T any](h *recordingHook, list *[]T) []T {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := *list
	*list = nil
	return out
}

// hookedLog opens a Log on fs with h as its only hook and the clock.
func hookedLog(t *testing.T, fs vfs.FS, h Hook, clock *fixedClock, policy SyncPolicy) *Log {
	t.Helper()
	opts := testOptions(fs)
	opts.now, opts.Sync, opts.Hooks = clock.Now, policy, []Hook{h}
	return openTest(t, fs, opts)
}

// clockedFS makes every fsync of a file advance clock by fileSync and
// every fsync of a directory by dirSync: fsync rounds then take a known
// time on the Log's clock. fail, when it returns true for a data file's
// path, fails its fsync instead.
func clockedFS(mem *vfs.MemFS, clock *fixedClock, fileSync, dirSync time.Duration, fail func(path string) bool) vfs.FS {
	return vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		switch op {
		case vfs.OpSync:
			if fail != nil && fail(path) {
				return errors.New("injected fsync failure")
			}
			clock.Advance(fileSync)
		case vfs.OpSyncDir:
			clock.Advance(dirSync)
		}
		return nil
	}), vfs.InjectOptions{})
}

// onlyAppendHook observes appends only, counting them without
// allocating.
type onlyAppendHook struct{ batches, records, bytes atomic.Int64 }

func (h *onlyAppendHook) OnAppend(i AppendInfo) {
	h.batches.Add(int64(i.Batches))
	h.records.Add(int64(i.Records))
	h.bytes.Add(int64(i.Bytes))
}

func TestHooksMustImplementAHookInterface(t *testing.T) {
	opts := &Options{Hooks: []Hook{&recordingHook{}, nil, 42, &onlyAppendHook{}}}
	err := opts.Validate()
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, []string{
		"Hooks[1]: nil",
		"Hooks[2]: int implements none of the hook interfaces (AppendHook, SyncHook, RollHook, RetentionHook, CompactionHook, RebalanceHook, CommitHook, RecoveryHook)",
	}, cerr.Problems)
	_, err = Open(testDir, &Options{Hooks: opts.Hooks, fs: vfs.NewMem()})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.NoError(t, (&Options{Hooks: []Hook{&recordingHook{}, &onlyAppendHook{}}}).Validate())
}

func TestHookSetSplitsByInterface(t *testing.T) {
	all, appends := &recordingHook{}, &onlyAppendHook{}
	s := newHookSet([]Hook{appends, all})
	require.Equal(t, []AppendHook{appends, all}, s.appends, "in the order given")
	require.Equal(t, []SyncHook{all}, s.syncs)
	require.Equal(t, []RollHook{all}, s.rolls)
	require.Equal(t, []RetentionHook{all}, s.retentions)
	require.Equal(t, []CompactionHook{all}, s.compactions)
	require.Equal(t, []RebalanceHook{all}, s.rebalances)
	require.Equal(t, []CommitHook{all}, s.commits)
	require.Equal(t, []RecoveryHook{all}, s.recoveries)
	only := newHookSet([]Hook{appends})
	ev := only.storageEvents("t", 0)
	require.NotNil(t, ev.Append)
	require.Nil(t, ev.Sync, "an event no hook observes has no callback")
	require.Nil(t, ev.Roll)
	require.Nil(t, ev.Retention)
	require.Nil(t, ev.Compaction)
}

func TestAppendHookSeesEveryBatch(t *testing.T) {
	ctx := context.Background()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, newClock(), SyncAlways)
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 1)
	res, err := p.Append(ctx, []Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}})
	require.NoError(t, err)
	prod, err := l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner()})
	require.NoError(t, err)
	defer prod.Close()
	r1, r2 := &Record{Topic: "t", Partition: 1, Value: []byte("d")}, &Record{Topic: "t", Partition: 1, Value: []byte("e")}
	require.NoError(t, prod.ProduceSync(ctx, r1, r2))

	var sizes []int
	for bh := range batchHeaders(t, p) {
		sizes = append(sizes, bh.Size())
	}
	require.Len(t, sizes, 2, "the producer sent its two records as one batch")
	require.Equal(t, []AppendInfo{
		{Topic: "t", Partition: 1, BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, Batches: 1, Records: 3, Bytes: sizes[0]},
		{Topic: "t", Partition: 1, BaseOffset: 3, LastOffset: 4, Batches: 1, Records: 2, Bytes: sizes[1]},
	}, take(h, &h.appends))
	require.Equal(t, int64(3), r1.Offset)

	// A batch that fails before it is written is not reported.
	_, err = p.Append(ctx, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.Empty(t, take(h, &h.appends))
}

func TestSyncHookSeesEveryRoundWithItsDuration(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	var failData atomic.Bool
	fs := clockedFS(mem, clock, 100*time.Microsecond, 10*time.Microsecond, func(path string) bool {
		return failData.Load() && strings.HasSuffix(path, logSuffix)
	})
	h := &recordingHook{}
	l := hookedLog(t, fs, h, clock, SyncAlways)
	_, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	require.NotEmpty(t, take(h, &h.syncs), "creating the partition fsyncs it")

	// One append, one round: its data file.
	res, err := p.Append(ctx, []Record{{Value: []byte("a")}})
	require.NoError(t, err)
	require.Equal(t, []SyncInfo{{Topic: "t", Partition: 0, Duration: 100 * time.Microsecond, Files: 1, DurableOffset: res.LastOffset + 1}},
		take(h, &h.syncs))

	// An append that rolls: the roll fsyncs the segment it seals (outside
	// any round), then the round fsyncs the sealed segment's data file and
	// its two index files, the new segment's data file and the directory.
	for len(p.segments()) == 1 {
		_, err = p.Append(ctx, []Record{{Value: make([]byte, 1000)}})
		require.NoError(t, err)
	}
	syncs := take(h, &h.syncs)
	require.Equal(t, SyncInfo{Topic: "t", Partition: 0, Duration: 410 * time.Microsecond, Files: 5, DurableOffset: p.EndOffset()},
		syncs[len(syncs)-1])

	// A failed fsync is reported with its error, and fails the partition.
	failData.Store(true)
	durable := p.DurableOffset()
	_, err = p.Append(ctx, []Record{{Value: []byte("b")}})
	require.ErrorIs(t, err, ErrDurability)
	syncs = take(h, &h.syncs)
	require.Len(t, syncs, 1)
	require.ErrorIs(t, syncs[0].Err, ErrDurability)
	syncs[0].Err = nil
	require.Equal(t, SyncInfo{Topic: "t", Partition: 0, Duration: 0, Files: 1, DurableOffset: durable}, syncs[0],
		"the failed fsync took no time on the clock")
}

func TestRollHookSaysWhyASegmentRolled(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, clock, SyncNever)

	// Size: the fifth batch of about 1 KiB does not fit in 4 KiB.
	cfg := smallTopic
	cfg.Retention, cfg.SegmentAge = time.Hour, 2*time.Hour
	_, err := l.CreateTopic(ctx, "t", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	appendAt(t, p, 5, clock.Now())
	segs := p.segments()
	require.Len(t, segs, 2)
	require.Equal(t, []RollInfo{{Topic: "t", Partition: 0, Segment: 40, Sealed: 0, SealedBytes: segs[0].Size, Reason: RollSize}},
		take(h, &h.rolls))

	// Age: the scheduler's idle check rolls a segment past SegmentAge.
	clock.Advance(2 * time.Hour)
	l.tick(false)
	segs = p.segments()
	require.Len(t, segs, 3)
	require.Equal(t, []RollInfo{{Topic: "t", Partition: 0, Segment: 50, Sealed: 40, SealedBytes: segs[1].Size, Reason: RollAge}},
		take(h, &h.rolls))

	// Retention: an active segment whose records all expired is rolled
	// to be deleted.
	appendAt(t, p, 1, clock.Now())
	clock.Advance(time.Hour + time.Millisecond)
	size := p.activeSegment().Size
	require.NoError(t, l.EnforceRetention(ctx))
	require.Equal(t, []RollInfo{{Topic: "t", Partition: 0, Segment: 60, Sealed: 50, SealedBytes: size, Reason: RollRetention}},
		take(h, &h.rolls))

	// Index: tiny batches, each with an index entry and a newer
	// timestamp, fill the 1 KiB time index long before 1 MiB of data.
	cfg = TopicConfig{SegmentBytes: 1 << 20, IndexIntervalBytes: 1, SegmentIndexBytes: 1024}
	_, err = l.CreateTopic(ctx, "i", cfg)
	require.NoError(t, err)
	pi := mustPartition(t, l, "i", 0)
	for len(pi.segments()) == 1 {
		clock.Advance(time.Millisecond)
		_, err := pi.Append(ctx, []Record{{Value: []byte("x")}})
		require.NoError(t, err)
	}
	segs = pi.segments()
	require.Equal(t, []RollInfo{{Topic: "i", Partition: 0, Segment: segs[1].Base, Sealed: 0, SealedBytes: segs[0].Size, Reason: RollIndex}},
		take(h, &h.rolls))
}

func TestRetentionHookCountsTheDeletedSegments(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, clock, SyncAlways)
	cfg := smallTopic
	cfg.Retention = time.Hour
	_, err := l.CreateTopic(ctx, "t", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	appendAt(t, p, 12, clock.Now()) // three segments
	clock.Advance(2 * time.Hour)
	appendAt(t, p, 1, clock.Now())
	before := p.segments()
	require.NoError(t, l.EnforceRetention(ctx))
	start := p.StartOffset()
	require.Greater(t, start, int64(0))
	want := RetentionInfo{Topic: "t", Partition: 0, StartOffset: start}
	for _, s := range before {
		if s.Base < start {
			want.Segments++
			want.Bytes += s.Size
		}
	}
	require.Equal(t, 3, want.Segments)
	require.Equal(t, []RetentionInfo{want}, take(h, &h.retentions))

	// A pass that deletes nothing is not reported.
	require.NoError(t, l.EnforceRetention(ctx))
	require.Empty(t, take(h, &h.retentions))
}

func TestCompactionHookCountsWhatAPassReplaced(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, clock, SyncAlways)
	cfg := smallTopic
	cfg.CleanupPolicy = CleanupCompact
	_, err := l.CreateTopic(ctx, "c", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "c", 0)
	// Ten keys written over and over: most records are superseded.
	write := func(batches int) {
		for i := range batches {
			recs := make([]Record, 5)
			for j := range recs {
				recs[j] = Record{Key: fmt.Appendf(nil, "k%d", (i*5+j)%10), Value: make([]byte, 100)}
			}
			_, err := p.Append(ctx, recs)
			require.NoError(t, err)
		}
	}
	count := func() (n int64) {
		for _, err := range p.Scan(ctx, p.StartOffset()) {
			require.NoError(t, err)
			n++
		}
		return n
	}
	// compact runs Compact and returns what the hook should have heard,
	// from the segments and records before and after.
	compact := func() CompactionInfo {
		before, recsBefore := p.segments(), count()
		require.NoError(t, l.Compact(ctx, "c"))
		after, recsAfter := p.segments(), count()
		want := CompactionInfo{Topic: "c", Partition: 0, RecordsRemoved: recsBefore - recsAfter,
			CleanerOffset: p.checkpointSnapshot().CleanerOffset}
		for _, s := range before {
			if !containsSegment(after, s) {
				want.Segments++
				want.BytesBefore += s.Size
			}
		}
		for _, s := range after {
			if !containsSegment(before, s) {
				want.NewSegments++
				want.BytesAfter += s.Size
			}
		}
		require.Equal(t, want.CleanerOffset, after[len(after)-1].Base, "everything sealed is compacted")
		return want
	}

	write(60)
	want := compact()
	require.Positive(t, want.Segments)
	require.Greater(t, want.RecordsRemoved, int64(200))
	require.Equal(t, []CompactionInfo{want}, take(h, &h.compactions))

	// The compacted segments are small: with more written, the next pass
	// merges them.
	write(60)
	want = compact()
	require.Greater(t, want.Segments, want.NewSegments, "small segments merged")
	require.Equal(t, []CompactionInfo{want}, take(h, &h.compactions))

	// A pass over what is compacted removes nothing.
	want = compact()
	require.Zero(t, want.RecordsRemoved)
	require.Equal(t, []CompactionInfo{want}, take(h, &h.compactions))

	// A pass with no sealed segment to work on finds nothing, and says
	// so.
	_, err = l.CreateTopic(ctx, "empty", cfg)
	require.NoError(t, err)
	require.NoError(t, l.Compact(ctx, "empty"))
	require.Equal(t, []CompactionInfo{{Topic: "empty", Partition: 0}}, take(h, &h.compactions))
}

func TestRebalanceHookSeesEveryGeneration(t *testing.T) {
	ctx := context.Background()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, newClock(), SyncAlways)
	groupTopic(t, l, 4)
	// A hook may call into the Log: the coordinator's locks are released.
	var described []int32
	h.call = func(ev any) {
		if r, ok := ev.(RebalanceInfo); ok {
			d, err := l.DescribeGroup(r.Group)
			if err == nil {
				described = append(described, d.Epoch)
			}
		}
	}
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, DisableAutoCommit: true}
	a := newTestConsumer(t, l, cfg)
	require.Equal(t, []RebalanceInfo{{Group: "g", Generation: 1, Members: 1, Partitions: 4, Reason: RebalanceJoin}}, take(h, &h.rebalances))
	pollN(t, a, 1)
	b := newTestConsumer(t, l, cfg)
	bDone := pollAsync(b)
	pollN(t, a, 1)
	require.NoError(t, <-bDone)
	require.NoError(t, b.Close())
	require.NoError(t, l.DeleteTopic(ctx, "t"))
	require.Equal(t, []RebalanceInfo{
		{Group: "g", Generation: 2, Members: 2, Partitions: 4, Reason: RebalanceJoin},
		{Group: "g", Generation: 3, Members: 1, Partitions: 4, Reason: RebalanceLeave},
		{Group: "g", Generation: 4, Members: 1, Partitions: 0, Reason: RebalanceTopicDeleted},
	}, take(h, &h.rebalances))
	require.Equal(t, []int32{1, 2, 3, 4}, described)
}

func TestRebalanceHookSeesEvictions(t *testing.T) {
	clock := newClock()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, clock, SyncAlways)
	groupTopic(t, l, 2)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, MaxPollInterval: time.Hour}
	a := newTestConsumer(t, l, cfg)
	newTestConsumer(t, l, cfg)
	pollN(t, a, 1)
	take(h, &h.rebalances)
	// A's Poll returned (it is outside Poll now), and neither polls
	// again: past MaxPollInterval the liveness timer's expiry evicts both.
	clock.Advance(time.Hour + time.Second)
	l.groups.expire()
	require.Empty(t, take(h, &h.rebalances), "the last members leaving end the group: no new generation")
	b := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, MaxPollInterval: time.Hour})
	pollN(t, b, 1)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, MaxPollInterval: 2 * time.Hour})
	cDone := pollAsync(c)
	pollN(t, b, 1) // b gives up what c gets
	require.NoError(t, <-cDone)
	require.Equal(t, []RebalanceInfo{
		{Group: "g", Generation: 1, Members: 1, Partitions: 2, Reason: RebalanceJoin},
		{Group: "g", Generation: 2, Members: 2, Partitions: 2, Reason: RebalanceJoin},
	}, take(h, &h.rebalances), "the group started afresh")
	clock.Advance(time.Hour + time.Second)
	l.groups.expire()
	require.Equal(t, []RebalanceInfo{{Group: "g", Generation: 3, Members: 1, Partitions: 2, Reason: RebalanceEvicted}},
		take(h, &h.rebalances), "b is evicted, c stays")
}

func TestCommitHookSeesEveryCommit(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	h := &recordingHook{}
	// Commits fsync: the clock moves with every fsync, so a commit takes
	// a known time.
	l := hookedLog(t, clockedFS(mem, clock, 100*time.Microsecond, 10*time.Microsecond, nil), h, clock, SyncAlways)
	all := groupTopic(t, l, 4)
	cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true, MaxPollRecords: 1}
	a := newTestConsumer(t, l, cfg)
	pollN(t, a, 1)
	// The first commit creates __consumer_offsets, whose files are
	// fsynced outside fsync rounds too.
	require.NoError(t, a.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 1}))
	require.Len(t, take(h, &h.commits), 1)
	take(h, &h.syncs)
	take(h, &h.appends)
	// The next is one append and one fsync round of its data file.
	require.NoError(t, a.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 5, all[1]: 7}))
	syncs := take(h, &h.syncs)
	require.Len(t, syncs, 1)
	require.Equal(t, offsetsTopicName, syncs[0].Topic)
	require.Equal(t, 100*time.Microsecond, syncs[0].Duration)
	require.Equal(t, []CommitInfo{{Group: "g", Partitions: 2, Duration: 100 * time.Microsecond}}, take(h, &h.commits))
	appends := take(h, &h.appends)
	require.Len(t, appends, 1, "the commit's batch")
	require.Equal(t, offsetsTopicName, appends[0].Topic)
	require.Equal(t, 2, appends[0].Records)

	// A fenced commit is reported with its error.
	b := newTestConsumer(t, l, cfg)
	bDone := pollAsync(b)
	pollN(t, a, 1)
	require.NoError(t, <-bDone)
	moved := b.Assignment()[0]
	err := a.CommitOffsets(ctx, map[TopicPartition]int64{moved: 5})
	require.ErrorIs(t, err, ErrFenced)
	commits := take(h, &h.commits)
	require.Len(t, commits, 1)
	require.Equal(t, err, commits[0].Err)
	require.Equal(t, CommitInfo{Group: "g", Partitions: 1, Err: err}, commits[0])
}

func TestRecoveryHookReportsEachPartition(t *testing.T) {
	ctx := context.Background()
	mem, clock := vfs.NewMem(), newClock()
	opts := testOptions(mem)
	opts.Sync, opts.now = SyncNever, clock.Now
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2, SegmentBytes: 4096})
	require.NoError(t, err)
	p0 := mustPartition(t, l, "t", 0)
	appendAt(t, p0, 6, time.UnixMilli(1_700_000_000_000)) // two segments
	require.NoError(t, l.Close())

	// A clean reopen resumes from the checkpoints and scans nothing.
	h := &recordingHook{}
	reopen := func(fs vfs.FS) *Log {
		o := testOptions(fs)
		o.Sync, o.Hooks, o.now = SyncNever, []Hook{h}, clock.Now
		l, err := Open(testDir, o)
		require.NoError(t, err)
		return l
	}
	l = reopen(mem)
	require.Equal(t, []RecoveryInfo{
		{Topic: "t", Partition: 0, Segments: 2, SegmentsScanned: 1, FromCheckpoint: true},
		{Topic: "t", Partition: 1, Segments: 1, SegmentsScanned: 1, FromCheckpoint: true},
	}, take(h, &h.recoveries))
	p0 = mustPartition(t, l, "t", 0)
	checkpointed := p0.activeSegment().Size
	appendAt(t, p0, 1, time.UnixMilli(1_700_000_000_000))
	tail := p0.activeSegment().Size - checkpointed

	// A crash keeps the unflushed tail, then a torn write after it: the
	// tail is scanned and the torn bytes cut.
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, l.Close())
	torn := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 'x', 'y'}
	appendToFile(t, crashed, fmt.Sprintf("%s/t-0/%020d.log", testDir, 40), torn)
	l = reopen(crashed)
	defer l.Close()
	require.Equal(t, []RecoveryInfo{
		{Topic: "t", Partition: 0, Segments: 2, SegmentsScanned: 1, BytesScanned: tail, FromCheckpoint: true, BytesCut: int64(len(torn))},
		{Topic: "t", Partition: 1, Segments: 1, SegmentsScanned: 1, FromCheckpoint: true},
	}, take(h, &h.recoveries))
	st := l.Stats().Recovery
	require.Equal(t, RecoveryStats{Partitions: 2, Segments: 3, SegmentsScanned: 2, BytesScanned: tail, BytesCut: int64(len(torn)),
		FromCheckpoint: 2}, st)
}

// appendToFile writes b at the end of the file at path.
func appendToFile(t *testing.T, fs vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fs.OpenReadWrite(path)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	_, err = f.WriteAt(b, size)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
}

// Hooks are called with none of the Log's locks held: a hook may call the
// Log's methods, the partition's included, from any event.
func TestHooksMayCallTheLog(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, clock, SyncAlways)
	cfg := smallTopic
	cfg.Retention = time.Hour
	_, err := l.CreateTopic(ctx, "t", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	var calls atomic.Int64
	h.call = func(any) {
		calls.Add(1)
		l.Stats()
		_ = p.Stats()
		// Flushing takes the fsync semaphore, which the round just
		// reported must have released.
		require.NoError(t, p.flush(ctx))
	}
	appendAt(t, p, 12, clock.Now())
	clock.Advance(2 * time.Hour)
	require.NoError(t, l.EnforceRetention(ctx))
	h.mu.Lock()
	require.NotEmpty(t, h.appends)
	require.NotEmpty(t, h.syncs)
	require.NotEmpty(t, h.rolls)
	require.NotEmpty(t, h.retentions)
	h.mu.Unlock()
	require.Positive(t, calls.Load())
}

// A hook set on the append path allocates nothing more than none.
func TestHooksAllocateNothingOnTheAppendPath(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled builders at random")
	}
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncNever, SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			allocs := func(hooks []Hook) float64 {
				opts := testOptions(vfs.NewMem())
				opts.Sync, opts.Hooks = policy, hooks
				l := openTest(t, nil, opts)
				tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
				require.NoError(t, err)
				p, _ := tp.Partition(0)
				recs := benchRecords(10, 100)
				return testing.AllocsPerRun(100, func() {
					if _, err := p.Append(ctx, recs); err != nil {
						t.Fatal(err)
					}
				})
			}
			counter := &countingHook{}
			without, with := allocs(nil), allocs([]Hook{counter})
			require.Equal(t, without, with, "allocations per append without hooks and with")
			require.Positive(t, counter.appends.Load())
			if policy == SyncAlways {
				require.Positive(t, counter.syncs.Load())
			}
		})
	}
}

// countingHook counts the events of a partition's append path, without
// allocating.
type countingHook struct{ appends, syncs, rolls atomic.Int64 }

func (h *countingHook) OnAppend(AppendInfo) { h.appends.Add(1) }
func (h *countingHook) OnSync(SyncInfo)     { h.syncs.Add(1) }
func (h *countingHook) OnRoll(RollInfo)     { h.rolls.Add(1) }

// The appends of commits are reported once the coordinator's commit lock
// is released, and rebalances once its locks are: a hook may commit, and
// join a group, from inside (under the locks, these calls would never
// return).
func TestHooksMayCommitAndJoin(t *testing.T) {
	ctx := context.Background()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, newClock(), SyncAlways)
	all := groupTopic(t, l, 2)
	other := newTestConsumer(t, l, ConsumerConfig{Partitions: all, Group: "other", DisableAutoCommit: true})
	var (
		committed, joined bool
		joiner            *Consumer
	)
	h.call = func(ev any) {
		switch e := ev.(type) {
		case AppendInfo:
			if e.Topic == offsetsTopicName && !committed {
				committed = true
				require.NoError(t, other.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 3}))
			}
		case RebalanceInfo:
			if e.Group == "g" && !joined {
				joined = true
				var err error
				joiner, err = l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
				require.NoError(t, err)
			}
		}
	}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 1, DisableAutoCommit: true})
	require.NotNil(t, joiner)
	defer joiner.Close()
	// The joiner's rebalance, made inside the hook, is delivered after it.
	require.Equal(t, []RebalanceInfo{
		{Group: "g", Generation: 1, Members: 1, Partitions: 2, Reason: RebalanceJoin},
		{Group: "g", Generation: 2, Members: 2, Partitions: 2, Reason: RebalanceJoin},
	}, take(h, &h.rebalances))
	pollN(t, c, 1)
	require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{c.Assignment()[0]: 1}))
	require.True(t, committed)
	co, err := other.Committed(ctx, all[0])
	require.NoError(t, err)
	require.Equal(t, int64(3), co[all[0]])
	require.Len(t, take(h, &h.commits), 2)
}

// Appenders running at once, with Stats read meanwhile: the hooks hear of
// every batch exactly once, and of the fsync rounds that made them all
// durable.
func TestHooksUnderConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	h := &recordingHook{}
	l := hookedLog(t, vfs.NewMem(), h, newClock(), SyncAlways)
	_, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	take(h, &h.syncs)
	const writers, appends = 4, 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		for {
			select {
			case <-stop:
				return
			default:
				l.Stats()
			}
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				if _, err := p.Append(ctx, []Record{{Value: fmt.Appendf(nil, "%d-%d", w, i)}, {Value: []byte("x")}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-statsDone
	covered := make([]bool, p.EndOffset())
	for _, a := range take(h, &h.appends) {
		require.Equal(t, 2, a.Records)
		for o := a.BaseOffset; o <= a.LastOffset; o++ {
			require.False(t, covered[o], "offset %d reported twice", o)
			covered[o] = true
		}
	}
	require.NotContains(t, covered, false, "every offset reported")
	var durable int64
	for _, s := range take(h, &h.syncs) {
		require.NoError(t, s.Err)
		durable = max(durable, s.DurableOffset)
	}
	require.Equal(t, p.EndOffset(), durable)
	require.Equal(t, int64(writers*appends*2), p.EndOffset())
}
