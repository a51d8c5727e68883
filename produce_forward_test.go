package commitlog_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// leaderValues returns the values of tp's log on its current leader.
func leaderValues(t *testing.T, c *testCluster, topic string, part int32) []string {
	t.Helper()
	return values(t, c.partition(c.leader(topic, part), topic, part))
}

// TestProducerForwardsToTheLeader: a Producer on any node, also one
// that holds no replica of a partition, produces to every partition,
// under each Acks: the batches go to the partitions' leaders, the
// promises report the leader's offsets, and each record is stored once.
func TestProducerForwardsToTheLeader(t *testing.T) {
	for _, acks := range []commitlog.Acks{commitlog.AckAll, commitlog.AckLeader, commitlog.AckNone} {
		t.Run(fmt.Sprint("acks=", acks), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c := newTestCluster(t, commitlog.Options{}, 1, 2, 3)
				// Two replicas of each partition among three nodes: node 3
				// holds none of partition 0, and leads none.
				_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{Partitions: 3, ReplicationFactor: 2,
					Replicas: [][]commitlog.NodeID{{1, 2}, {2, 1}, {1, 3}}})
				require.NoError(t, err)
				synctest.Wait()
				prod, err := c.logs[3].NewProducer(commitlog.ProducerConfig{Acks: acks, Partitioner: commitlog.ManualPartitioner()})
				require.NoError(t, err)
				defer prod.Close()
				want := map[int32][]string{}
				for i := range 30 {
					part := int32(i % 3)
					v := fmt.Sprint("v", i)
					r := &commitlog.Record{Topic: "t", Partition: part, Value: []byte(v)}
					require.NoError(t, prod.ProduceSync(ctx, r), "record %d", i)
					require.Equal(t, int64(len(want[part])), r.Offset, "the leader's offset")
					want[part] = append(want[part], v)
				}
				settle(time.Second)
				for part := range int32(3) {
					require.Equal(t, want[part], leaderValues(t, c, "t", part), "partition %d", part)
				}
			})
		})
	}
}

// TestProducerFollowsTheLeaderAcrossFailover: a Producer on a follower
// produces through the leader while the leader changes (the leader's
// node stops, then comes back and leads again) and while the network
// drops, duplicates and reorders messages: every acknowledged record is
// in the final log once, in the order acknowledged; the batches whose
// answers were lost and that were sent again are not stored twice.
func TestProducerFollowsTheLeaderAcrossFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// A fetch the network drops is sent again after ReplicaFetchMaxWait
		// and a second: ReplicaLagTime is well above that, so that only a
		// stopped node leaves the in-sync set.
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: 5 * time.Second, ReplicaFetchMaxWait: 50 * time.Millisecond}, 1, 2, 3)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2,
			Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		c.net.SetFaults(memnet.Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.2, MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
		prod, err := c.logs[3].NewProducer(commitlog.ProducerConfig{})
		require.NoError(t, err)
		defer prod.Close()
		var acked []string
		produce := func(n int) {
			for range n {
				v := fmt.Sprint("v", len(acked))
				// A leader on this node refuses outright while a follower
				// the faults slowed is out of the in-sync set (nothing is
				// appended then): send it again once it is back.
				for try := 0; ; try++ {
					err := prod.ProduceSync(ctx, &commitlog.Record{Topic: "t", Value: []byte(v)})
					if err == nil {
						break
					}
					require.ErrorIs(t, err, commitlog.ErrNotEnoughReplicas, v)
					require.NotErrorIs(t, err, commitlog.ErrNotEnoughReplicasAfterAppend, v)
					require.Less(t, try, 100, v)
					settle(100 * time.Millisecond)
				}
				acked = append(acked, v)
			}
		}
		produce(20)
		c.stop(1) // the leader's node
		produce(20)
		c.start(1)
		settle(5 * time.Second)
		require.NoError(t, c.logs[1].ElectPreferredLeaders(ctx, "t"))
		settle(time.Second)
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		produce(20)
		c.net.SetFaults(memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
		settle(5 * time.Second)
		for id := range c.logs {
			got := values(t, c.partition(id, "t", 0))
			require.Equal(t, acked, got, "node %d: every acknowledged record once, in order", id)
		}
		require.True(t, slices.Equal(acked, leaderValues(t, c, "t", 0)))
	})
}

// TestProduceErrorsRoundTrip: every append error a leader can meet
// crosses the wire as a ProduceError and comes back matching the same
// sentinel (a *NotLeaderError naming the leader for ErrNotLeader).
func TestProduceErrorsRoundTrip(t *testing.T) {
	for _, sentinel := range []error{
		commitlog.ErrNotEnoughReplicas, commitlog.ErrNotEnoughReplicasAfterAppend, commitlog.ErrRecordTooLarge,
		commitlog.ErrOutOfOrderSequence, commitlog.ErrProducerFenced, commitlog.ErrCorrupt, commitlog.ErrUnknownPartition,
		commitlog.ErrDiskFull, commitlog.ErrDurability, commitlog.ErrInvalidArgument,
	} {
		got := commitlog.ProduceErrorRoundTrip(fmt.Errorf("wrapped: %w", sentinel), 4)
		require.ErrorIs(t, got, sentinel)
		require.Contains(t, got.Error(), "leader node 4")
	}
	nl := &commitlog.NotLeaderError{Topic: "t", Partition: 1, Node: 4, Leader: 2, LeaderEpoch: 7}
	var back *commitlog.NotLeaderError
	require.ErrorAs(t, commitlog.ProduceErrorRoundTrip(nl, 4), &back)
	require.Equal(t, commitlog.NodeID(2), back.Leader)
	require.Equal(t, int32(7), back.LeaderEpoch)
	require.ErrorIs(t, commitlog.ProduceErrorRoundTrip(fmt.Errorf("something else"), 4), commitlog.ErrLeaderUnreachable)
	require.NoError(t, commitlog.ProduceErrorRoundTrip(nil, 4))
}
