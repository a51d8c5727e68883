package commitlog

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestGroupAdminDescribeListResetDelete(t *testing.T) {
	clock := newClock()
	opts := testOptions(vfs.NewMem())
	opts.now = clock.Now
	l := openTest(t, nil, opts)
	all := groupTopic(t, l, 3)
	require.Empty(t, l.ListGroups())
	_, err := l.DescribeGroup("g")
	require.ErrorIs(t, err, ErrUnknownGroup)

	a := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true, MaxPollRecords: 1})
	pollN(t, a, 1)
	require.NoError(t, a.CommitOffsets(context.Background(), map[TopicPartition]int64{all[0]: 40, all[1]: 100}))
	require.Equal(t, []string{"g"}, l.ListGroups())

	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, "g", d.Name)
	require.Equal(t, GroupStable, d.State)
	require.Equal(t, "cooperative-sticky", d.Balancer)
	require.Len(t, d.Members, 1)
	require.Equal(t, a.MemberID(), d.Members[0].ID)
	require.Equal(t, all, d.Members[0].Assigned)
	require.Equal(t, all, d.Members[0].Owned)
	require.Equal(t, []PartitionLag{
		{TopicPartition: all[0], Committed: 40, CommittedAt: time.UnixMilli(clock.Now().UnixMilli()), HighWatermark: 100, Lag: 60, Owner: a.MemberID()},
		{TopicPartition: all[1], Committed: 100, CommittedAt: time.UnixMilli(clock.Now().UnixMilli()), HighWatermark: 100, Lag: 0, Owner: a.MemberID()},
		{TopicPartition: all[2], Committed: -1, HighWatermark: 100, Lag: -1, Owner: a.MemberID()},
	}, d.Partitions)

	// Resets and deletion are refused while the group has members.
	_, err = l.ResetGroupOffsets(context.Background(), "g", EarliestOffset())
	require.ErrorIs(t, err, ErrGroupNotEmpty)
	require.ErrorIs(t, l.DeleteGroup(context.Background(), "g"), ErrGroupNotEmpty)
	require.NoError(t, a.Close())

	d, err = l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, GroupEmpty, d.State)
	require.Empty(t, d.Members)

	got, err := l.ResetGroupOffsets(context.Background(), "g", EarliestOffset())
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{all[0]: 0, all[1]: 0}, got)
	got, err = l.ResetGroupOffsets(context.Background(), "g", LatestOffset(), all[2])
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{all[2]: 100}, got)
	got, err = l.ResetGroupOffsets(context.Background(), "g", ExactOffset(1000), all[0])
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{all[0]: 100}, got, "clamped to the high watermark")
	got, err = l.ResetGroupOffsets(context.Background(), "g", ExactOffset(7), all[0])
	require.NoError(t, err)
	require.Equal(t, int64(7), got[all[0]])
	p := mustPartition(t, l, "t", 1)
	_, err = p.Append(context.Background(), []Record{{Value: []byte("later"), Timestamp: clock.Now().Add(time.Hour)}})
	require.NoError(t, err)
	got, err = l.ResetGroupOffsets(context.Background(), "g", OffsetAtTime(clock.Now().Add(time.Minute)), all[1])
	require.NoError(t, err)
	require.Equal(t, int64(100), got[all[1]])
	_, err = l.ResetGroupOffsets(context.Background(), "g", EarliestOffset(), TopicPartition{"t", 9})
	require.ErrorIs(t, err, ErrUnknownPartition)
	_, err = l.ResetGroupOffsets(context.Background(), "empty", EarliestOffset())
	require.ErrorIs(t, err, ErrUnknownGroup)

	// A new member starts from the reset offsets.
	b := newTestConsumer(t, l, ConsumerConfig{Group: "g", Topics: []string{"t"}})
	for _, tp := range all {
		pos, err := waitPosition(t, b, tp)
		require.NoError(t, err)
		require.Equal(t, map[int32]int64{0: 7, 1: 100, 2: 100}[tp.Partition], pos)
	}
	require.NoError(t, b.Close())

	require.NoError(t, l.DeleteGroup(context.Background(), "g"))
	require.Empty(t, l.ListGroups())
	require.ErrorIs(t, l.DeleteGroup(context.Background(), "g"), ErrUnknownGroup)

	// Deletion is durable.
	require.NoError(t, l.Close())
	l = openTest(t, nil, opts)
	require.Empty(t, l.ListGroups())
}

// waitPosition polls until tp is assigned to c, then returns its position.
func waitPosition(t *testing.T, c *Consumer, tp TopicPartition) (int64, error) {
	t.Helper()
	for {
		if pos, err := c.Position(tp); err == nil {
			return pos, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a Poll with an ended context only does group work
		c.reconcile(ctx)
	}
}

func TestDeletedTopicTakesItsCommittedOffsets(t *testing.T) {
	fs := vfs.NewMem()
	l := openTest(t, fs, nil)
	groupTopic(t, l, 2)
	_, err := l.CreateTopic(context.Background(), "u", TopicConfig{})
	require.NoError(t, err)
	fillTopic(t, l, "u", 10)
	c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}, {"t", 1}, {"u", 0}}})
	pollN(t, c, 210)
	require.NoError(t, c.Close())
	require.NoError(t, l.DeleteTopic(context.Background(), "t"))
	_, err = l.CreateTopic(context.Background(), "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	d, err := l.DescribeGroup("g")
	require.NoError(t, err)
	require.Equal(t, []PartitionLag{{TopicPartition: TopicPartition{"u", 0}, Committed: 10, CommittedAt: d.Partitions[0].CommittedAt,
		HighWatermark: 10}}, d.Partitions, "a re-created topic does not inherit the old one's offsets")

	// Interrupted: the topic's metadata is gone but its offsets are not.
	// Open finishes the job, durably.
	c = newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"t", 0}}})
	require.NoError(t, c.CommitOffsets(context.Background(), map[TopicPartition]int64{{"t", 0}: 0}))
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())
	require.NoError(t, fs.Remove(testDir+"/topics/t.json"))
	for range 2 {
		l = openTest(t, fs, nil)
		d, err = l.DescribeGroup("g")
		require.NoError(t, err)
		require.Len(t, d.Partitions, 1)
		require.Equal(t, "u", d.Partitions[0].Topic)
		require.NoError(t, l.Close())
	}
}

// ResetGroupOffsets and DeleteGroup block until their commit is durable;
// they return the context's error, wrapped, when it ends first: at once
// for an ended context, and while they wait for an fsync.
func TestGroupAdminHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var holdSyncs atomic.Bool
		release := make(chan struct{})
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if op == vfs.OpSync && holdSyncs.Load() && strings.Contains(path, offsetsTopicName) {
				<-release // the disk holds up the fsyncs of committed offsets
			}
			return nil
		})
		l := openTest(t, vfs.WithInjector(vfs.NewMem(), inj, vfs.InjectOptions{}), nil)
		all := groupTopic(t, l, 2)
		ctx := context.Background()
		c := newTestConsumer(t, l, ConsumerConfig{Group: "g", Partitions: all})
		require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 10, all[1]: 20}))
		committed := func() map[TopicPartition]int64 {
			d, err := l.DescribeGroup("g")
			require.NoError(t, err)
			out := map[TopicPartition]int64{}
			for _, pl := range d.Partitions {
				out[pl.TopicPartition] = pl.Committed
			}
			return out
		}

		ended, cancel := context.WithCancel(ctx)
		cancel()
		_, err := l.ResetGroupOffsets(ended, "g", EarliestOffset())
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, `reset offsets of group "g"`)
		err = l.DeleteGroup(ended, "g")
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, `delete group "g"`)
		require.Equal(t, map[TopicPartition]int64{all[0]: 10, all[1]: 20}, committed(), "an ended context changes nothing")

		// A commit leads an fsync round that the disk holds up; the admin
		// calls behind it wait for that round, and give up when their
		// context ends.
		holdSyncs.Store(true)
		commitDone := make(chan error, 1)
		go func() { commitDone <- c.CommitOffsets(ctx, map[TopicPartition]int64{all[0]: 30}) }()
		synctest.Wait()
		for _, tc := range []struct {
			name string
			call func(context.Context) error
		}{
			{"ResetGroupOffsets", func(ctx context.Context) error {
				_, err := l.ResetGroupOffsets(ctx, "g", ExactOffset(5), all[1])
				return err
			}},
			{"DeleteGroup", func(ctx context.Context) error { return l.DeleteGroup(ctx, "g") }},
		} {
			name, call := tc.name, tc.call
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- call(cctx) }()
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("%s returned before its commit was durable: %v", name, err)
			default:
			}
			cancel()
			err := <-done
			require.ErrorIs(t, err, context.Canceled, name)
			require.ErrorContains(t, err, `group "g"`, name)
		}
		close(release)
		require.NoError(t, <-commitDone)
		// The deletion was written before its context ended: it stands,
		// as the documentation warns.
		require.Empty(t, l.ListGroups())
	})
}
