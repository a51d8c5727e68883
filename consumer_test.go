package commitlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// fillTopic appends n records per partition to topic, values "p<id>-<i>",
// in batches of up to 50, and returns them per partition.
func fillTopic(t testing.TB, l *Log, topic string, n int) map[int32][]Record {
	t.Helper()
	tp, err := l.Topic(topic)
	require.NoError(t, err)
	out := map[int32][]Record{}
	for id := range tp.NumPartitions() {
		p := mustPartition(t, l, topic, id)
		base := p.EndOffset()
		for i := 0; i < n; {
			var batch []Record
			for ; i < n && len(batch) < 50; i++ {
				batch = append(batch, Record{Key: []byte("k" + strconv.Itoa(i)), Value: fmt.Appendf(nil, "p%d-%d", id, int(base)+i)})
			}
			res, err := p.Append(context.Background(), batch)
			require.NoError(t, err)
			for j := range batch {
				batch[j].Topic, batch[j].Partition, batch[j].Offset = topic, id, res.BaseOffset+int64(j)
			}
			out[id] = append(out[id], batch...)
		}
	}
	return out
}

func newTestConsumer(t testing.TB, l *Log, cfg ConsumerConfig) *Consumer {
	t.Helper()
	c, err := l.NewConsumer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// pollN polls until it has n records (or fails the test on error).
func pollN(t testing.TB, c *Consumer, n int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		out = append(out, recs...)
	}
	return out
}

func valuesOf(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func TestConsumerManualAssignmentReadsInOrder(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 3})
	require.NoError(t, err)
	want := fillTopic(t, l, "t", 700)
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}}})
	got := pollN(t, c, 2100)
	require.Len(t, got, 2100)
	per := map[int32][]Record{}
	for _, r := range got {
		per[r.Partition] = append(per[r.Partition], r)
	}
	for id, recs := range want {
		require.Equal(t, valuesOf(recs), valuesOf(per[id]), "partition %d", id)
		for i := range recs {
			require.True(t, recs[i].Equal(&per[id][i]) || recs[i].Offset == per[id][i].Offset, "record %d", i)
		}
		pos, err := c.Position(TopicPartition{"t", id})
		require.NoError(t, err)
		require.Equal(t, int64(700), pos)
	}
	require.Equal(t, []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}}, c.Assignment())
}

func TestConsumerPollBounds(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "t", 1000)
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, MaxPollRecords: 120})
	recs, err := c.Poll(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 120)
	require.Equal(t, int64(0), recs[0].Offset)

	// Bytes: values are "p0-NNN" (5-6 bytes) and keys "kNNN"; 100 bytes
	// hold a handful. The next Poll continues in the middle of the batch.
	c2 := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, FetchMaxBytes: 100})
	var all []Record
	for len(all) < 1000 {
		recs, err := c2.Poll(context.Background())
		require.NoError(t, err)
		size := 0
		for _, r := range recs {
			size += len(r.Key) + len(r.Value)
		}
		require.LessOrEqual(t, size, 100)
		require.NotEmpty(t, recs)
		all = append(all, recs...)
	}
	for i, r := range all {
		require.Equal(t, int64(i), r.Offset)
	}
	// A record larger than FetchMaxBytes is still returned, alone.
	p := mustPartition(t, l, "t", 0)
	_, err = p.Append(context.Background(), []Record{{Value: make([]byte, 500)}, {Value: []byte("x")}})
	require.NoError(t, err)
	recs, err = c2.Poll(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].Value, 500)
}

func TestConsumerRecordsAreOwnedByCaller(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	_, err = p.Append(context.Background(), []Record{{Key: []byte("a"), Value: []byte("one"), Headers: []Header{{"h", []byte("v")}}}, {Value: nil}})
	require.NoError(t, err)
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
	recs := pollN(t, c, 2)
	_, err = p.Append(context.Background(), []Record{{Key: []byte("b"), Value: []byte("two")}})
	require.NoError(t, err)
	more := pollN(t, c, 1)
	require.Equal(t, "one", string(recs[0].Value))
	require.Equal(t, "a", string(recs[0].Key))
	require.Equal(t, []Header{{"h", []byte("v")}}, recs[0].Headers)
	require.Nil(t, recs[1].Value)
	require.Nil(t, recs[1].Key)
	require.Equal(t, "two", string(more[0].Value))
	recs[0].Value[0] = 'X' // ours to modify
	require.Equal(t, "Xne", string(recs[0].Value))
}

func TestConsumerPollWaitsAndCancels(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Poll(ctx)
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	got := make(chan []Record, 1)
	go func() {
		recs, err := c.Poll(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- recs
	}()
	p := mustPartition(t, l, "t", 0)
	_, err = p.Append(context.Background(), []Record{{Value: []byte("late")}})
	require.NoError(t, err)
	require.Equal(t, "late", string((<-got)[0].Value))
}

func TestConsumerCloseUnblocksPoll(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.Poll(context.Background())
		done <- err
	}()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	_, err = c.Poll(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, c.Commit(context.Background()), ErrClosed)
	require.NoError(t, c.Close())
}

func TestConsumerFetchMinBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
		require.NoError(t, err)
		p := mustPartition(t, l, "t", 0)
		c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, FetchMinBytes: 10, FetchMaxWait: time.Second})
		_, err = p.Append(context.Background(), []Record{{Value: []byte("12345")}})
		require.NoError(t, err)
		got := make(chan []Record, 1)
		start := time.Now()
		go func() {
			recs, _ := c.Poll(context.Background())
			got <- recs
		}()
		synctest.Wait()
		require.Empty(t, got, "Poll returned before FetchMinBytes or FetchMaxWait")
		_, err = p.Append(context.Background(), []Record{{Value: []byte("67890")}})
		require.NoError(t, err)
		recs := <-got
		require.Len(t, recs, 2)
		require.Equal(t, start, time.Now(), "enough bytes: no waiting for FetchMaxWait")

		_, err = p.Append(context.Background(), []Record{{Value: []byte("abc")}})
		require.NoError(t, err)
		start = time.Now()
		recs, err = c.Poll(context.Background())
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, time.Second, time.Since(start), "too few bytes: FetchMaxWait")
		c.Close()
		l.Close()
	})
}

func TestConsumerAutoOffsetReset(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "t", 10)
	tp := TopicPartition{"t", 0}

	earliest := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}})
	pos, err := earliest.Position(tp)
	require.NoError(t, err)
	require.Equal(t, int64(0), pos)

	latest := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}, AutoOffsetReset: ResetLatest})
	pos, err = latest.Position(tp)
	require.NoError(t, err)
	require.Equal(t, int64(10), pos)

	none := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{tp}, AutoOffsetReset: ResetNone})
	_, err = none.Poll(context.Background())
	var oor *OffsetOutOfRangeError
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(-1), oor.Offset)
	require.Contains(t, err.Error(), "no committed offset")
	require.NoError(t, none.Seek(tp, 4))
	recs, err := none.Poll(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(4), recs[0].Offset)

	// Out of range: beyond the end.
	require.NoError(t, none.Seek(tp, 50))
	_, err = none.Poll(context.Background())
	require.ErrorAs(t, err, &oor)
	require.Equal(t, int64(50), oor.Offset)
	require.NoError(t, earliest.Seek(tp, 50))
	recs, err = earliest.Poll(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(0), recs[0].Offset, "ResetEarliest on an out-of-range position")
}

func TestConsumerSeekPauseResume(t *testing.T) {
	clock := newClock()
	opts := testOptions(vfs.NewMem())
	opts.now = clock.Now
	l := openTest(t, nil, opts)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	p0 := mustPartition(t, l, "t", 0)
	for i := range 10 {
		_, err := p0.Append(context.Background(), []Record{{Value: []byte(strconv.Itoa(i)), Timestamp: clock.Now().Add(time.Duration(i) * time.Minute)}})
		require.NoError(t, err)
	}
	fillTopic(t, l, "t", 0)
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp0, tp1}})
	require.NoError(t, c.SeekToTime(tp0, clock.Now().Add(7*time.Minute)))
	recs := pollN(t, c, 3)
	require.Equal(t, []string{"7", "8", "9"}, valuesOf(recs))

	require.NoError(t, c.Seek(tp0, 2))
	require.NoError(t, c.Pause(tp0))
	require.Equal(t, []TopicPartition{tp0}, c.Paused())
	p1 := mustPartition(t, l, "t", 1)
	_, err = p1.Append(context.Background(), []Record{{Value: []byte("p1")}})
	require.NoError(t, err)
	recs = pollN(t, c, 1)
	require.Equal(t, []string{"p1"}, valuesOf(recs), "paused partition returned records")
	require.NoError(t, c.Resume(tp0))
	recs = pollN(t, c, 8)
	require.Equal(t, []string{"2", "3", "4", "5", "6", "7", "8", "9"}, valuesOf(recs))

	require.ErrorIs(t, c.Pause(TopicPartition{"t", 7}), ErrInvalidArgument)
	require.ErrorIs(t, c.Seek(TopicPartition{"u", 0}, 1), ErrInvalidArgument)
	require.ErrorIs(t, c.Seek(tp0, -1), ErrInvalidArgument)
}

func TestConsumerRecordsIteratorRewindsOnBreak(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "t", 100)
	tp := TopicPartition{"t", 0}
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{tp}})
	n := 0
	for r, err := range c.Records(context.Background()) {
		require.NoError(t, err)
		require.Equal(t, int64(n), r.Offset)
		n++
		if n == 30 {
			break
		}
	}
	pos, err := c.Position(tp)
	require.NoError(t, err)
	require.Equal(t, int64(30), pos, "break rewinds to the first record not yielded")
	require.NoError(t, c.Commit(context.Background()))
	committed, err := c.Committed(context.Background(), tp)
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{tp: 30}, committed)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range c.Records(ctx) {
		require.ErrorIs(t, err, context.Canceled)
	}
}

func TestConsumerCommitAndResume(t *testing.T) {
	fs := vfs.NewMem()
	l := openTest(t, fs, nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	fillTopic(t, l, "t", 100)
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true})
	require.NoError(t, err)
	recs := pollN(t, c, 200)
	require.Len(t, recs, 200)
	var last []Record
	for _, r := range recs {
		if r.Offset == 41 {
			last = append(last, r)
		}
	}
	require.NoError(t, c.CommitRecords(context.Background(), last...))
	committed, err := c.Committed(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{{"t", 0}: 42, {"t", 1}: 42}, committed)
	require.NoError(t, c.Close())
	require.Equal(t, []string{"__consumer_offsets"}, l.InternalTopics())
	require.Equal(t, []string{"t"}, l.Topics())

	// Reopen: the committed offsets are durable and a new member resumes.
	require.NoError(t, l.Close())
	l = openTest(t, fs, nil)
	c = newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	recs = pollN(t, c, 116)
	for _, r := range recs {
		require.GreaterOrEqual(t, r.Offset, int64(42))
	}
	require.NoError(t, c.Close(), "Close commits (auto-commit)")
	c = newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	committed, err = c.Committed(context.Background(), TopicPartition{"t", 0}, TopicPartition{"t", 1})
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{{"t", 0}: 100, {"t", 1}: 100}, committed)
}

func TestConsumerCommitErrors(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	fillTopic(t, l, "t", 10)
	tp := TopicPartition{"t", 0}

	noGroup := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{tp}})
	require.ErrorIs(t, noGroup.Commit(context.Background()), ErrInvalidArgument)

	member := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	pollN(t, member, 20)
	var oor *OffsetOutOfRangeError
	require.ErrorAs(t, member.CommitOffsets(context.Background(), map[TopicPartition]int64{tp: 11}), &oor)
	require.ErrorIs(t, member.CommitOffsets(context.Background(), map[TopicPartition]int64{{"nope", 0}: 1}), ErrUnknownTopic)
	require.NoError(t, member.CommitOffsets(context.Background(), map[TopicPartition]int64{tp: 10}))

	// A consumer without membership cannot commit for a group with members.
	manual := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{tp}})
	require.ErrorIs(t, manual.CommitOffsets(context.Background(), map[TopicPartition]int64{tp: 3}), ErrGroupNotEmpty)
	require.NoError(t, member.Close())
	require.NoError(t, manual.CommitOffsets(context.Background(), map[TopicPartition]int64{tp: 3}))
	committed, err := manual.Committed(context.Background(), tp)
	require.NoError(t, err)
	require.Equal(t, int64(3), committed[tp])
}

func TestConsumerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  ConsumerConfig
		want string
	}{
		{ConsumerConfig{}, "both empty"},
		{ConsumerConfig{Topics: []string{"t"}}, "Group: required"},
		{ConsumerConfig{Group: "g", Topics: []string{"t"}, Partitions: []TopicPartition{{"t", 0}}}, "not both"},
		{ConsumerConfig{Group: "g", Topics: []string{"t", "t"}}, "listed twice"},
		{ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, InstanceID: "x"}, "InstanceID"},
		{ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, MaxPollRecords: -1}, "MaxPollRecords"},
		{ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, FetchMaxWait: -1}, "FetchMaxWait"},
		{ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}, AutoOffsetReset: 9}, "AutoOffsetReset"},
		{ConsumerConfig{Partitions: []TopicPartition{{"t", -1}}}, "negative partition"},
	} {
		err := tc.cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
	}
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"missing"}})
	require.ErrorIs(t, err, ErrUnknownTopic)
	_, err = l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	_, err = l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{{"t", 3}}})
	require.ErrorIs(t, err, ErrUnknownPartition)
	a := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	_ = a
	_, err = l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{"t"}, Balancer: RangeBalancer()})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestInternalTopicRefusesWrites(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "t", 1)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
	pollN(t, c, 1)
	require.NoError(t, c.Commit(context.Background()))
	p := mustPartition(t, l, offsetsTopicName, offsetsPartitionFor("g", 4))
	_, err = p.Append(context.Background(), []Record{{Key: []byte("k"), Value: []byte("v")}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorIs(t, l.DeleteTopic(context.Background(), offsetsTopicName), ErrInvalidArgument)
	prod, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err)
	defer prod.Close()
	require.ErrorIs(t, prod.ProduceSync(context.Background(), &Record{Topic: offsetsTopicName, Key: []byte("k")}), ErrInvalidArgument)
}

func TestConsumerConcurrentCallsAreSafe(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			_, err := c.Poll(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			c.Assignment()
			if err := c.Commit(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
		}
	})
	fillTopic(t, l, "t", 300)
	cancel()
	wg.Wait()
	_ = slices.Clone(c.Assignment())
}

// readToEnd calls PollToEnd until it reports caught up and returns every
// record it returned.
func readToEnd(t testing.TB, c *Consumer) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Record
	for {
		recs, caughtUp, err := c.PollToEnd(ctx)
		require.NoError(t, err)
		out = append(out, recs...)
		if caughtUp {
			return out
		}
	}
}

func TestPollToEnd(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 3, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "empty", TopicConfig{Partitions: 2, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	want := fillTopic(t, l, "t", 120)
	all := []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}}
	// FetchMinBytes would make Poll wait for more: PollToEnd stops at the end.
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: all, MaxPollRecords: 50, FetchMinBytes: 1 << 20, FetchMaxWait: time.Hour})
	got := readToEnd(t, c)
	require.Len(t, got, 360)
	byPartition := map[int32][]Record{}
	for _, r := range got {
		byPartition[r.Partition] = append(byPartition[r.Partition], r)
	}
	for id, recs := range want {
		require.Equal(t, values(recs), values(byPartition[id]), "partition %d: every record, in order", id)
	}
	for _, tp := range all {
		pos, err := c.Position(tp)
		require.NoError(t, err)
		require.Equal(t, int64(120), pos)
	}

	// At the end, PollToEnd returns at once; records appended later are
	// read up to the new end.
	recs, caughtUp, err := c.PollToEnd(ctx)
	require.NoError(t, err)
	require.True(t, caughtUp)
	require.Empty(t, recs)
	more := fillTopic(t, l, "t", 7)
	got = readToEnd(t, c)
	require.Len(t, got, 21)
	require.Equal(t, values(more[1]), values(filterPartition(got, 1)))

	// Nothing to read: caught up at once.
	e := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"empty", 0}, {"empty", 1}}})
	recs, caughtUp, err = e.PollToEnd(ctx)
	require.NoError(t, err)
	require.True(t, caughtUp)
	require.Empty(t, recs)

	// Errors are Poll's, and come without caughtUp.
	none := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: all, AutoOffsetReset: ResetNone})
	_, caughtUp, err = none.PollToEnd(ctx)
	require.ErrorIs(t, err, ErrOffsetOutOfRange)
	require.False(t, caughtUp)
	require.NoError(t, c.Close())
	_, caughtUp, err = c.PollToEnd(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, caughtUp)
}

// values returns the values of recs, as strings, in order.
func values(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func filterPartition(recs []Record, id int32) []Record {
	var out []Record
	for _, r := range recs {
		if r.Partition == id {
			out = append(out, r)
		}
	}
	return out
}

// A paused partition does not hold PollToEnd up, and keeps its lag.
func TestPollToEndPaused(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	want := fillTopic(t, l, "t", 80)
	all := []TopicPartition{{"t", 0}, {"t", 1}}
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: all, MaxPollRecords: 30})
	require.NoError(t, c.Pause(all[1]))
	got := readToEnd(t, c)
	require.Equal(t, values(want[0]), values(got), "only the unpaused partition, to its end")
	require.Equal(t, map[TopicPartition]int64{all[0]: 0, all[1]: 80}, c.Lag())

	// Everything paused: caught up at once, nothing returned.
	require.NoError(t, c.Pause(all[0]))
	fillTopic(t, l, "t", 5)
	recs, caughtUp, err := c.PollToEnd(ctx)
	require.NoError(t, err)
	require.True(t, caughtUp)
	require.Empty(t, recs)

	require.NoError(t, c.Resume(all...))
	got = readToEnd(t, c)
	require.Len(t, got, 5+85)
	require.Equal(t, map[TopicPartition]int64{all[0]: 0, all[1]: 0}, c.Lag())
}

// A group member is caught up only once it owns its whole assignment: a
// partition another member has yet to give up keeps it waiting.
func TestPollToEndGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openTest(t, vfs.NewMem(), nil)
		ctx := context.Background()
		all := groupTopic(t, l, 2) // 100 records per partition
		a := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.Len(t, readToEnd(t, a), 200)
		require.Equal(t, all, a.Assignment())

		b := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
		type result struct {
			recs []Record
			err  error
		}
		done := make(chan result, 1)
		go func() {
			var out []Record
			for {
				recs, caughtUp, err := b.PollToEnd(ctx)
				out = append(out, recs...)
				if err != nil || caughtUp {
					done <- result{out, err}
					return
				}
			}
		}()
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("b caught up before it owned its partition: %d records, %v", len(r.recs), r.err)
		default:
		}
		require.Empty(t, b.Assignment(), "a still owns both partitions")

		// a's next Poll gives one partition up (committing its position,
		// the end); b takes it, finds nothing left after the commit, and
		// is caught up.
		recs, caughtUp, err := a.PollToEnd(ctx)
		require.NoError(t, err)
		require.Empty(t, recs)
		r := <-done
		require.NoError(t, r.err)
		require.Empty(t, r.recs, "a committed its position before giving the partition up")
		require.Len(t, b.Assignment(), 1)
		require.Len(t, a.Assignment(), 1)
		require.True(t, caughtUp, "a owns its new assignment and has read it to the end")
		require.Equal(t, map[TopicPartition]int64{b.Assignment()[0]: 0}, b.Lag())

		// Records appended to b's partition are b's to read to the end.
		fillTopic(t, l, "t", 10)
		got := readToEnd(t, b)
		require.Len(t, got, 10)
		require.Equal(t, b.Assignment()[0].Partition, got[0].Partition)
	})
}

func TestConsumerLag(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 3, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	fillTopic(t, l, "t", 100)
	all := []TopicPartition{{"t", 0}, {"t", 1}, {"t", 2}}

	// Committed offsets, where there are some, are where the first Poll
	// starts; elsewhere AutoOffsetReset says.
	committer := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: all[:1]})
	require.NoError(t, committer.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 60}))
	require.NoError(t, committer.Close())
	for _, tc := range []struct {
		reset OffsetReset
		want  map[TopicPartition]int64
	}{
		{ResetEarliest, map[TopicPartition]int64{all[0]: 40, all[1]: 100, all[2]: 100}},
		{ResetLatest, map[TopicPartition]int64{all[0]: 40, all[1]: 0, all[2]: 0}},
		{ResetNone, map[TopicPartition]int64{all[0]: 40, all[1]: -1, all[2]: -1}},
	} {
		c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: all, AutoOffsetReset: tc.reset})
		require.Equal(t, tc.want, c.Lag(), "%v", tc.reset)
		require.Equal(t, tc.want, c.Lag(), "%v: Lag sets no position", tc.reset)
		require.NoError(t, c.Close())
	}

	c := newTestConsumer(t, l, ConsumerConfig{Partitions: all, MaxPollRecords: 30})
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 30)
	lag := c.Lag()
	var behind int64
	for _, tp := range all {
		pos, err := c.Position(tp)
		require.NoError(t, err)
		require.Equal(t, 100-pos, lag[tp], "%v: high watermark - position", tp)
		behind += lag[tp]
	}
	require.Equal(t, int64(300-30), behind)

	require.NoError(t, c.Seek(all[0], 1000))
	require.NoError(t, c.Seek(all[1], 90))
	mustPartition(t, l, "t", 1).Append(ctx, []Record{{Value: []byte("one more")}})
	lag = c.Lag()
	require.Equal(t, int64(0), lag[all[0]], "a position past the end is not behind")
	require.Equal(t, int64(11), lag[all[1]])
	require.NoError(t, c.Close())
	require.Empty(t, c.Lag())
}
