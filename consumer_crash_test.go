package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// commitCrashTopic has two partitions with tiny segments, so that the
// workload rolls segments too.
var commitCrashTopic = TopicConfig{
	Partitions:         2,
	SegmentBytes:       4096,
	IndexIntervalBytes: 256,
	SegmentIndexBytes:  1024,
	MaxBatchBytes:      2048,
}

var commitCrashTPs = []TopicPartition{{"c", 0}, {"c", 1}}

// commitCrashOptions are the workload's options: small
// indexes (also for __consumer_offsets, through TopicDefaults) keep each
// crash state small, as it is copied and recovered hundreds of times.
func commitCrashOptions(fs vfs.FS, sync SyncPolicy) *Options {
	opts := testOptions(fs)
	opts.Sync = sync
	opts.OffsetsTopicPartitions = 2
	opts.TopicDefaults = TopicConfig{SegmentIndexBytes: 4096}
	return opts
}

// commitCrashState is what the commit workload has been told: the last
// acknowledged committed offset of each partition, the commit in flight
// (between the call and its return), and the acknowledged end of the data.
// hist records the appends, polls and commits for internal/histcheck;
// history is a clone's copy of its lines.
type commitCrashState struct {
	mu       sync.Mutex
	acked    map[TopicPartition]int64
	inflight map[TopicPartition]int64
	appended map[TopicPartition]int64
	hist     *crashHistory
	history  []byte
}

func newCommitCrashState() *commitCrashState {
	return &commitCrashState{acked: map[TopicPartition]int64{}, appended: map[TopicPartition]int64{}, hist: newCrashHistory()}
}

func (s *commitCrashState) clone() *commitCrashState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &commitCrashState{acked: maps.Clone(s.acked), inflight: maps.Clone(s.inflight), appended: maps.Clone(s.appended), history: s.hist.lines()}
}

// commit runs do, a commit of offsets, recording it as in flight until it
// returns, and as acknowledged if it succeeds (durably under SyncAlways).
func (s *commitCrashState) commit(policy SyncPolicy, offsets map[TopicPartition]int64, do func() error) error {
	s.mu.Lock()
	s.inflight = maps.Clone(offsets)
	var commits []*histcheck.Commit
	for tp, off := range offsets {
		commits = append(commits, s.hist.rec.Commit("g", histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, off))
	}
	s.mu.Unlock()
	err := do()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = nil
	for _, c := range commits {
		switch {
		case err != nil:
			c.Unknown()
		case policy == SyncAlways:
			c.Ok()
		default:
			c.OkNotDurable()
		}
	}
	if err != nil {
		return err
	}
	maps.Copy(s.acked, offsets)
	return nil
}

// commitCrashWorkload appends to two partitions and commits offsets of a
// group in every way: CommitRecords (the first one creates
// __consumer_offsets), Commit, CommitOffsets of both partitions, a close
// and reopen of the Log, then a second member's CommitRecords and the
// commit of its Close (auto-commit). Everything runs on one goroutine and
// no background work fires, so the file operations are the same each run.
func commitCrashWorkload(fs vfs.FS, sync SyncPolicy, st *commitCrashState) error {
	ctx := context.Background()
	opts := commitCrashOptions(fs, sync)
	l, err := Open(testDir, opts)
	if err != nil {
		return err
	}
	defer func() { l.Close() }()
	if _, err := l.CreateTopic(ctx, "c", commitCrashTopic); err != nil {
		return err
	}
	next := 0
	appendN := func(n int) error {
		for _, tp := range commitCrashTPs {
			p, err := l.partition(tp)
			if err != nil {
				return err
			}
			recs := make([]Record, n)
			values := make([]string, n)
			for i := range recs {
				recs[i] = Record{Key: fmt.Appendf(nil, "k%d", next%3), Value: fmt.Appendf(nil, "%v-%03d-%0100d", tp, next, 0)}
				values[i] = string(recs[i].Value)
				next++
			}
			s := st.hist.rec.Send("appender", histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}, values...)
			res, err := p.Append(ctx, recs)
			if err != nil {
				s.Unknown()
				return err
			}
			if sync == SyncAlways {
				s.Ok(res.BaseOffset)
			} else {
				s.OkNotDurable(res.BaseOffset)
			}
			st.mu.Lock()
			st.appended[tp] = res.LastOffset + 1
			st.mu.Unlock()
		}
		return nil
	}
	member := "" // the member polling, for the history
	poll := func(c *Consumer, n int) ([]Record, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var out []Record
		for len(out) < n {
			recs, err := c.Poll(ctx)
			if err != nil {
				return nil, err
			}
			reads := make([]histcheck.Read, len(recs))
			for i, r := range recs {
				reads[i] = histcheck.Read{Partition: histcheck.Partition{Topic: r.Topic, ID: r.Partition}, Offset: r.Offset, Value: string(r.Value)}
			}
			st.hist.rec.Poll(member, 0, reads...)
			out = append(out, recs...)
		}
		return out, nil
	}
	offsetsOf := func(recs []Record) map[TopicPartition]int64 {
		m := map[TopicPartition]int64{}
		for _, r := range recs {
			tp := TopicPartition{r.Topic, r.Partition}
			m[tp] = max(m[tp], r.Offset+1)
		}
		return m
	}
	positions := func(c *Consumer) (map[TopicPartition]int64, error) {
		m := map[TopicPartition]int64{}
		for _, tp := range c.Assignment() {
			pos, err := c.Position(tp)
			if err != nil {
				return nil, err
			}
			m[tp] = pos
		}
		return m, nil
	}

	if err := appendN(6); err != nil {
		return err
	}
	cfg := ConsumerConfig{Group: "g", Topics: []string{"c"}, DisableAutoCommit: true, MaxPollRecords: 4}
	c, err := l.NewConsumer(cfg)
	if err != nil {
		return err
	}
	member = "member 1"
	// 1. CommitRecords: the group's first commit creates __consumer_offsets.
	recs, err := poll(c, 1)
	if err != nil {
		return err
	}
	if err := st.commit(sync, offsetsOf(recs), func() error { return c.CommitRecords(ctx, recs...) }); err != nil {
		return err
	}
	// 2. Commit: the positions of every assigned partition.
	if _, err := poll(c, 5); err != nil {
		return err
	}
	pos, err := positions(c)
	if err != nil {
		return err
	}
	if err := st.commit(sync, pos, func() error { return c.Commit(ctx) }); err != nil {
		return err
	}
	// 3. CommitOffsets of both partitions at once (one batch), after more
	// data.
	if err := appendN(4); err != nil {
		return err
	}
	recs, err = poll(c, 6)
	if err != nil {
		return err
	}
	offs := offsetsOf(recs)
	if len(offs) != 2 {
		return fmt.Errorf("workload: the poll returned records of %d partitions, want both", len(offs))
	}
	for tp := range offs {
		offs[tp]-- // the last polled record is not processed yet
	}
	if err := st.commit(sync, offs, func() error { return c.CommitOffsets(ctx, offs) }); err != nil {
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}

	// A clean close and reopen: the offsets are replayed.
	if err := l.Close(); err != nil {
		return err
	}
	if l, err = Open(testDir, opts); err != nil {
		return err
	}
	if err := appendN(3); err != nil {
		return err
	}
	cfg.DisableAutoCommit = false
	cfg.AutoCommitInterval = time.Hour // only Close commits
	c, err = l.NewConsumer(cfg)
	if err != nil {
		return err
	}
	member = "member 2"
	// 4. CommitRecords of a second member, from where the first stopped.
	recs, err = poll(c, 3)
	if err != nil {
		return err
	}
	if err := st.commit(sync, offsetsOf(recs), func() error { return c.CommitRecords(ctx, recs...) }); err != nil {
		return err
	}
	if _, err := poll(c, 2); err != nil {
		return err
	}
	// 5. Close commits the positions (auto-commit).
	if pos, err = positions(c); err != nil {
		return err
	}
	if err := st.commit(sync, pos, c.Close); err != nil {
		return err
	}
	return l.Close()
}

// crashLoop runs workload once per mutating file operation k, taking the
// crash states of keeps just before operation k, and calls check for each
// with the workload's state at that instant. It returns the number of
// states checked.
func crashLoop(t *testing.T, keeps []vfs.CrashOptions, workload func(vfs.FS, *commitCrashState) error,
	check func(t *testing.T, fs *vfs.MemFS, st *commitCrashState, what string)) int {
	states := 0
	for k := 0; ; k++ {
		mem := vfs.NewMem()
		st := newCommitCrashState()
		var clones []*vfs.MemFS
		var atCrash *commitCrashState
		ops := 0
		var opsMu sync.Mutex
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			opsMu.Lock()
			defer opsMu.Unlock()
			if ops == k {
				atCrash = st.clone()
				for i, c := range keeps {
					c.Seed = int64(k*10 + i)
					clones = append(clones, mem.CrashClone(c))
				}
			}
			ops++
			return nil
		})
		require.NoError(t, workload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), st))
		if clones == nil {
			require.Greater(t, k, 50, "the workload should have many crash points")
			// The end state too: everything acknowledged.
			check(t, mem, st.clone(), "after the workload")
			return states + 1
		}
		for i, clone := range clones {
			states++
			check(t, clone, atCrash, fmt.Sprintf("crash before op %d, %+v", k, keeps[i]))
		}
	}
}

// checkCommitRecovery opens a crash state and checks the group's committed
// offsets: each is the last commit acknowledged before the crash or the
// one in flight (never older, never a value not committed), and no commit
// points above its recovered partition's end. internal/histcheck checks
// the state against the history up to the crash too (checkCommitHistory).
// It returns how many partitions recovered the commit in flight rather
// than the acknowledged one.
func checkCommitRecovery(t *testing.T, fs *vfs.MemFS, st *commitCrashState, what string) (inflightRecovered int) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
	require.NoError(t, err, what)
	defer l.Close()
	require.NoError(t, l.Check(ctx), what)
	checkCommitHistory(t, l, SyncAlways, st.history, what)
	if _, err := l.Topic("c"); err != nil {
		require.ErrorIs(t, err, ErrUnknownTopic, what)
		require.Empty(t, st.acked, what)
		require.Empty(t, st.appended, what)
		return
	}
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: commitCrashTPs})
	require.NoError(t, err, what)
	defer c.Close()
	committed, err := c.Committed(ctx, commitCrashTPs...)
	require.NoError(t, err, what)
	for _, tp := range commitCrashTPs {
		p := mustPartition(t, l, tp.Topic, tp.Partition)
		require.GreaterOrEqual(t, p.HighWatermark(), st.appended[tp], "%s: acknowledged data of %v lost", what, tp)
		co, ok, _ := l.offsets.committed("g", tp)
		got, gotOK := committed[tp]
		require.Equal(t, ok, gotOK, what)
		require.Equal(t, co.Offset, got, "%s: Consumer.Committed disagrees with the offset store", what)
		acked, hasAcked := st.acked[tp]
		inflight, hasInflight := st.inflight[tp]
		if !ok {
			require.False(t, hasAcked, "%s: acknowledged commit %v=%d lost", what, tp, acked)
			continue
		}
		require.True(t, (hasAcked && got == acked) || (hasInflight && got == inflight),
			"%s: %v committed offset %d; last acknowledged %d (%v), in flight %d (%v)", what, tp, got, acked, hasAcked, inflight, hasInflight)
		require.LessOrEqual(t, got, p.HighWatermark(), "%s: %v committed offset above the recovered end", what, tp)
		if hasInflight && got == inflight && (!hasAcked || acked != inflight) {
			inflightRecovered++
		}
	}
	return inflightRecovered
}

// checkCommitHistory checks a recovered log of the commit workload, run
// under policy, against the history up to the crash: nothing acknowledged
// durable (or, under SyncAlways, polled) lost or moved, nothing read that
// was never appended, and each committed offset neither below the last
// commit acknowledged durable nor past the recovered data.
func checkCommitHistory(t *testing.T, l *Log, policy SyncPolicy, history []byte, what string) {
	t.Helper()
	rec := replayCrashHistory(t, history, what)
	_, err := l.Topic("c")
	for _, tp := range commitCrashTPs {
		hp := histcheck.Partition{Topic: tp.Topic, ID: tp.Partition}
		if err != nil {
			rec.Final(hp, 0, 0, nil) // the topic is not there: empty
		} else {
			recordFinal(t, rec, hp, mustPartition(t, l, tp.Topic, tp.Partition), what)
		}
		co, ok, _ := l.offsets.committed("g", tp)
		rec.FinalCommit("g", hp, co.Offset, ok)
	}
	// Under SyncAlways appends and commits are acknowledged durable, and
	// consumers read only durable records; under SyncNever a crash may
	// lose what they acknowledged and read, as a suffix.
	requireHistory(t, rec, histcheck.Options{DurableReads: policy == SyncAlways, RequireSeen: policy == SyncAlways}, what)
}

// TestCommitCrashAtEveryPoint crashes the commit workload (SyncAlways)
// before every mutating file operation, in two ways, and checks that Open
// and Check succeed and each committed offset is the last acknowledged one
// or the one in flight, within the recovered data; and internal/histcheck
// checks each state against the history of appends, polls and commits up
// to the crash.
func TestCommitCrashAtEveryPoint(t *testing.T) {
	// KeepUnsynced 1 (everything written survives, nothing torn) is the
	// state that keeps the commit in flight most often.
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.7, Tear: true}, {KeepUnsynced: 1}}
	inflight := 0
	n := crashLoop(t, keeps, func(fs vfs.FS, st *commitCrashState) error {
		return commitCrashWorkload(fs, SyncAlways, st)
	}, func(t *testing.T, fs *vfs.MemFS, st *commitCrashState, what string) {
		t.Helper()
		inflight += checkCommitRecovery(t, fs, st, what)
	})
	t.Logf("%d crash states recovered and checked; %d partition states recovered the commit in flight", n, inflight)
	require.Positive(t, inflight, "some crash states should keep the commit in flight")
}

// TestCommittedOffsetNeverAheadOfDurableData: under SyncNever appends are
// acknowledged before they are durable, but a commit of offset N first
// makes the partition durable up to N, whichever commit method is used; and
// after a power failure at any point, a committed offset that survived
// points at data that survived too.
func TestCommittedOffsetNeverAheadOfDurableData(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	opts := commitCrashOptions(fs, SyncNever)
	l := openTest(t, fs, opts)
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	fillTopic(t, l, "t", 30)
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	p0, p1 := mustPartition(t, l, "t", 0), mustPartition(t, l, "t", 1)
	require.Less(t, p0.DurableOffset(), int64(7), "SyncNever: the appends are not durable yet")
	require.Less(t, p1.DurableOffset(), int64(13))

	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true})
	recs := pollN(t, c, 60)

	// afterPowerFailure checks crash states of the current files: a
	// committed offset that survived never points past surviving data.
	afterPowerFailure := func(what string) {
		for i, keep := range []float64{0, 0.5, 1} {
			clone := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: keep, Tear: keep == 0.5, Seed: int64(i)})
			l2, err := Open(testDir, commitCrashOptions(clone, SyncNever))
			require.NoError(t, err, what)
			for _, tp := range []TopicPartition{tp0, tp1} {
				if co, ok, _ := l2.offsets.committed("g", tp); ok {
					require.LessOrEqual(t, co.Offset, mustPartition(t, l2, "t", tp.Partition).HighWatermark(),
						"%s, keep %v: %v committed offset points past the surviving data", what, keep, tp)
				}
			}
			require.NoError(t, l2.Check(ctx), what)
			require.NoError(t, l2.Close())
		}
	}

	require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{tp0: 7}))
	require.GreaterOrEqual(t, p0.DurableOffset(), int64(7), "CommitOffsets returned before the data below it was durable")
	afterPowerFailure("CommitOffsets 7")

	var at12 Record
	for _, r := range recs {
		if r.Partition == 1 && r.Offset == 12 {
			at12 = r
		}
	}
	require.NoError(t, c.CommitRecords(ctx, at12))
	require.GreaterOrEqual(t, p1.DurableOffset(), int64(13), "CommitRecords returned before the data below it was durable")
	afterPowerFailure("CommitRecords 13")

	// More data, not durable; Commit commits every position (30 and 30).
	fillTopic(t, l, "t", 10)
	require.Less(t, p0.DurableOffset(), int64(40))
	pollN(t, c, 20)
	require.NoError(t, c.Commit(ctx))
	require.Equal(t, int64(40), p0.DurableOffset(), "Commit returned before the data below it was durable")
	require.Equal(t, int64(40), p1.DurableOffset(), "Commit returned before the data below it was durable")
	afterPowerFailure("Commit 40")

	// A power failure at any point of the commit workload under SyncNever:
	// the acknowledged commits need not survive (SyncNever), but every
	// surviving one is a value that was committed, within the data; and
	// internal/histcheck finds the state consistent with the history.
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.5, Tear: true}, {KeepUnsynced: 1}}
	n := crashLoop(t, keeps, func(fs vfs.FS, st *commitCrashState) error {
		return commitCrashWorkload(fs, SyncNever, st)
	}, func(t *testing.T, fs *vfs.MemFS, st *commitCrashState, what string) {
		t.Helper()
		l, err := Open(testDir, commitCrashOptions(fs, SyncNever))
		require.NoError(t, err, what)
		defer l.Close()
		require.NoError(t, l.Check(ctx), what)
		for _, tp := range commitCrashTPs {
			co, ok, _ := l.offsets.committed("g", tp)
			if !ok {
				continue
			}
			p := mustPartition(t, l, tp.Topic, tp.Partition)
			require.LessOrEqual(t, co.Offset, p.HighWatermark(), "%s: %v committed offset points past the surviving data", what, tp)
		}
		checkCommitHistory(t, l, SyncNever, st.history, what)
	})
	t.Logf("%d SyncNever crash states checked", n)
}

// TestCommittedOffsetsMalformedRecordFailsOpen: a record of
// __consumer_offsets whose batch is intact (valid CRC) but whose key or
// value does not decode is damage, reported by Open as a *CorruptionError,
// not a committed offset silently dropped. Kafka's group-metadata keys
// (version 2) and tombstones are not damage.
func TestCommittedOffsetsMalformedRecordFailsOpen(t *testing.T) {
	tp := TopicPartition{"t", 0}
	at := time.UnixMilli(1_700_000_000_000)
	value := encodeOffsetValue(5, -1, "", at)
	key := encodeOffsetKey("g", tp)
	withVersion := func(b []byte, v uint16) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint16(b, v)
		return b
	}
	badGroupLength := append([]byte(nil), key...)
	binary.BigEndian.PutUint16(badGroupLength[2:], 0xffff) // -1
	longGroupLength := append([]byte(nil), key...)
	binary.BigEndian.PutUint16(longGroupLength[2:], 200)

	// setup commits offset 3 for tp (creating __consumer_offsets), then
	// appends rec to the group's offsets partition, bypassing the
	// refusal of writes to internal topics, and closes the Log.
	setup := func(t *testing.T, rec Record) *vfs.MemFS {
		ctx := context.Background()
		fs := vfs.NewMem()
		l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
		require.NoError(t, err)
		_, err = l.CreateTopic(ctx, "t", TopicConfig{})
		require.NoError(t, err)
		fillTopic(t, l, "t", 10)
		c, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: []TopicPartition{tp}})
		require.NoError(t, err)
		require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{tp: 3}))
		require.NoError(t, c.Close())
		topic, err := l.Topic(offsetsTopicName)
		require.NoError(t, err)
		p, err := topic.Partition(offsetsPartitionFor("g", topic.NumPartitions()))
		require.NoError(t, err)
		_, err = p.appendRecords(ctx, -1, []Record{rec})
		require.NoError(t, err)
		require.NoError(t, l.Close())
		return fs
	}

	for _, tc := range []struct {
		name       string
		key, value []byte
	}{
		{"truncated value", key, value[:7]},
		{"value with trailing bytes", key, append(append([]byte(nil), value...), 0)},
		{"unknown value version", key, withVersion(value, 9)},
		{"empty value", key, []byte{}},
		{"truncated key", key[:5], value},
		{"unknown key version", withVersion(key, 7), value},
		{"negative string length in key", badGroupLength, value},
		{"string longer than key", longGroupLength, value},
		{"key with trailing bytes", append(append([]byte(nil), key...), 1), value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := setup(t, Record{Key: tc.key, Value: tc.value})
			l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
			if err == nil {
				co, ok, _ := l.offsets.committed("g", tp)
				l.Close()
				t.Fatalf("Open succeeded over a malformed committed-offset record; offset of %v now %v (present %v)", tp, co.Offset, ok)
			}
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.True(t, errors.As(err, &ce), "%T %v", err, err)
			require.Contains(t, ce.Path, offsetsTopicName, "the error names the damaged partition")
			require.GreaterOrEqual(t, ce.Offset, int64(1), "the error names the damaged record")
		})
	}

	t.Run("group metadata key is skipped", func(t *testing.T) {
		fs := setup(t, Record{Key: withVersion(key, 2), Value: []byte("group metadata, not decoded")})
		l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
		require.NoError(t, err)
		defer l.Close()
		co, ok, _ := l.offsets.committed("g", tp)
		require.True(t, ok)
		require.Equal(t, int64(3), co.Offset)
	})
	t.Run("tombstone deletes the offset", func(t *testing.T) {
		fs := setup(t, Record{Key: key, Value: nil})
		l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
		require.NoError(t, err)
		defer l.Close()
		_, ok, _ := l.offsets.committed("g", tp)
		require.False(t, ok)
	})
	t.Run("a later valid record wins", func(t *testing.T) {
		fs := setup(t, Record{Key: key, Value: value})
		l, err := Open(testDir, commitCrashOptions(fs, SyncAlways))
		require.NoError(t, err)
		defer l.Close()
		co, ok, _ := l.offsets.committed("g", tp)
		require.True(t, ok)
		require.Equal(t, int64(5), co.Offset)
		require.Equal(t, at.UnixMilli(), co.Time.UnixMilli())
	})
}
