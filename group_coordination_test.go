package commitlog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

const offsetsTopic = "__consumer_offsets"

// pollN polls c until it has returned n records, and returns their
// values.
func pollN(t *testing.T, c *commitlog.Consumer, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	for len(out) < n {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
	}
	return out
}

// groupCluster is three nodes with topic t (2 partitions on every node,
// 10 records each) and __consumer_offsets (1 partition, 3 replicas),
// and the node that coordinates groups.
func groupCluster(t *testing.T) (*testCluster, commitlog.NodeID) {
	ctx := context.Background()
	c := newTestCluster(t, commitlog.Options{OffsetsTopicPartitions: 1}, 1, 2, 3)
	_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{Partitions: 2, ReplicationFactor: 3, MinInSyncReplicas: 2,
		Replicas: [][]commitlog.NodeID{{1, 2, 3}, {1, 2, 3}}})
	require.NoError(t, err)
	synctest.Wait()
	for part := range int32(2) {
		p := c.partition(1, "t", part)
		for i := range 10 {
			_, err := p.Append(ctx, []commitlog.Record{{Value: fmt.Appendf(nil, "p%d-%d", part, i)}})
			require.NoError(t, err)
		}
	}
	// The first group call of any node creates __consumer_offsets; the
	// node that leads its partition coordinates every group.
	probe, err := c.logs[2].NewConsumer(commitlog.ConsumerConfig{Group: "probe", Topics: []string{"t"}})
	if err == nil {
		require.NoError(t, probe.Close())
	} else {
		require.ErrorIs(t, err, commitlog.ErrNotCoordinator)
	}
	settle(time.Second)
	md, err := c.ctrl.Describe(offsetsTopic)
	require.NoError(t, err)
	require.Len(t, md.Partitions, 1)
	require.Len(t, md.Partitions[0].Replicas, 3, "OffsetsTopicReplicationFactor defaults to 3")
	return c, md.Partitions[0].Leader
}

func otherNode(not ...commitlog.NodeID) commitlog.NodeID {
	for id := commitlog.NodeID(1); ; id++ {
		if !slices.Contains(not, id) {
			return id
		}
	}
}

func TestReplicatedGroupRunsOnlyOnItsCoordinator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, coord := groupCluster(t)
		other := otherNode(coord)
		_, err := c.logs[other].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}})
		var nce *commitlog.NotCoordinatorError
		require.ErrorAs(t, err, &nce)
		require.Equal(t, commitlog.NotCoordinatorError{Group: "g", Node: other, OffsetsPartition: 0, Coordinator: coord}, *nce)
		require.ErrorContains(t, err, fmt.Sprintf("node %d does", coord))

		// A consumer without membership that commits for the group is
		// refused elsewhere too, and so are the admin calls.
		m, err := c.logs[other].NewConsumer(commitlog.ConsumerConfig{Group: "g", Partitions: []commitlog.TopicPartition{{Topic: "t", Partition: 0}}})
		require.NoError(t, err)
		require.ErrorIs(t, m.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{{Topic: "t", Partition: 0}: 3}), commitlog.ErrNotCoordinator)
		_, err = m.Committed(ctx)
		require.ErrorIs(t, err, commitlog.ErrNotCoordinator)
		require.NoError(t, m.Close())
		_, err = c.logs[other].DescribeGroup("g")
		require.ErrorIs(t, err, commitlog.ErrNotCoordinator)
		require.ErrorIs(t, c.logs[other].DeleteGroup(ctx, "g"), commitlog.ErrNotCoordinator)

		g, err := c.logs[coord].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.NoError(t, err)
		require.Len(t, pollN(t, g, 20), 20)
		require.NoError(t, g.Commit(ctx))
		d, err := c.logs[coord].DescribeGroup("g")
		require.NoError(t, err)
		require.Len(t, d.Members, 1)
		for _, pl := range d.Partitions {
			require.Equal(t, int64(10), pl.Committed, "%v", pl.TopicPartition)
		}
		require.NoError(t, g.Close())
	})
}

func TestReplicatedGroupOffsetsSurviveTheCoordinator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, coord := groupCluster(t)
		g, err := c.logs[coord].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}, MaxPollRecords: 4})
		require.NoError(t, err)
		got := pollN(t, g, 8)
		committed := map[commitlog.TopicPartition]int64{}
		for tp, off := range positions(t, g) {
			committed[tp] = off
		}
		require.NoError(t, g.CommitOffsets(ctx, committed))
		require.NoError(t, g.Close())

		// The coordinator goes down: the new leader of the offsets
		// partition coordinates the group, with every acknowledged commit.
		c.stop(coord)
		settle(time.Second)
		next := c.leader(offsetsTopic, 0)
		require.NotEqual(t, coord, next)
		require.NotEqual(t, commitlog.NoNode, next)
		g2, err := c.logs[next].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.NoError(t, err)
		have, err := g2.Committed(ctx, tps("t", 0, 1)...)
		require.NoError(t, err)
		require.Equal(t, committed, have)
		rest := pollN(t, g2, 20-len(got))
		require.ElementsMatch(t, allValues(), append(got, rest...), "the group resumes where it committed: nothing skipped, nothing again")
		require.NoError(t, g2.Commit(ctx))

		// The old coordinator comes back and takes its preferred
		// leadership back: the member on the interim coordinator is
		// fenced, and can neither commit nor join there any more.
		c.start(coord)
		settle(5 * time.Second)
		require.NoError(t, c.logs[coord].ElectPreferredLeaders(ctx, offsetsTopic))
		settle(time.Second)
		if c.leader(offsetsTopic, 0) != coord {
			t.Fatalf("preferred leader election left %s-0 on node %d; want node %d", offsetsTopic, c.leader(offsetsTopic, 0), coord)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = g2.Poll(pctx)
		cancel()
		require.ErrorIs(t, err, commitlog.ErrFenced)
		pctx, cancel = context.WithTimeout(ctx, time.Second)
		_, err = g2.Poll(pctx)
		cancel()
		require.ErrorIs(t, err, commitlog.ErrNotCoordinator, "joining again is refused where the group no longer is")
		require.NoError(t, g2.Close())
		g3, err := c.logs[coord].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.NoError(t, err)
		have, err = g3.Committed(ctx, tps("t", 0, 1)...)
		require.NoError(t, err)
		require.Equal(t, map[commitlog.TopicPartition]int64{{Topic: "t", Partition: 0}: 10, {Topic: "t", Partition: 1}: 10}, have,
			"the returning coordinator replays the commits made while it was away")
		require.NoError(t, g3.Close())
	})
}

func TestReplicatedOffsetsTopicNeedsEnoughNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, commitlog.Options{}, 1, 2)
		_, err := c.logs[1].CreateTopic(context.Background(), "t", commitlog.TopicConfig{ReplicationFactor: 2})
		require.NoError(t, err)
		_, err = c.logs[1].NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}})
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig)
		require.ErrorContains(t, err, "OffsetsTopicReplicationFactor")
		var nce *commitlog.NotCoordinatorError
		require.False(t, errors.As(err, &nce))
	})
}

// positions returns the consumer's position in each partition it owns.
func positions(t *testing.T, c *commitlog.Consumer) map[commitlog.TopicPartition]int64 {
	t.Helper()
	out := map[commitlog.TopicPartition]int64{}
	for _, tp := range c.Assignment() {
		pos, err := c.Position(tp)
		require.NoError(t, err)
		out[tp] = pos
	}
	return out
}

func tps(topic string, parts ...int32) []commitlog.TopicPartition {
	out := make([]commitlog.TopicPartition, len(parts))
	for i, p := range parts {
		out[i] = commitlog.TopicPartition{Topic: topic, Partition: p}
	}
	return out
}

func allValues() []string {
	var out []string
	for part := range 2 {
		for i := range 10 {
			out = append(out, fmt.Sprintf("p%d-%d", part, i))
		}
	}
	return out
}
