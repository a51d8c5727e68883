package commitlog_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// An unclean election takes back records a consumer has read: the
// consumer reports it (KIP-320) instead of serving the offsets' new
// records as if nothing happened, or skipping them.
func TestConsumerDetectsTruncationByUncleanElection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: time.Second}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 1,
			UncleanLeaderElection: true, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		p1 := c.partition(1, "t", 0)
		_, err = p1.Append(ctx, []commitlog.Record{{Value: []byte("both")}})
		require.NoError(t, err)
		c.net.Isolate(2)
		_, err = p1.Append(ctx, []commitlog.Record{{Value: []byte("only-on-1")}})
		require.NoError(t, err)

		tp := commitlog.TopicPartition{Topic: "t", Partition: 0}
		reset, err := c.logs[1].NewConsumer(commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{tp}})
		require.NoError(t, err)
		strict, err := c.logs[1].NewConsumer(commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{tp}, AutoOffsetReset: commitlog.ResetNone})
		require.NoError(t, err)
		require.NoError(t, strict.Seek(tp, 0))
		require.Equal(t, []string{"both", "only-on-1"}, pollN(t, reset, 2))
		require.Equal(t, []string{"both", "only-on-1"}, pollN(t, strict, 2))

		// Node 1 is cut off from the controller and node 2: node 2, out of
		// sync, is elected uncleanly and reuses offset 1.
		c.ctrl.Isolate(1)
		c.net.Heal()
		c.net.Isolate(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		_, err = c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("new")}})
		require.NoError(t, err)
		// Node 1 comes back, truncates to the new leader and takes its
		// record at offset 1.
		c.net.Heal()
		c.ctrl.Reconnect(1)
		settle(3 * time.Second)
		require.Equal(t, []string{"both", "new"}, values(t, p1))

		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = reset.Poll(pctx)
		var trunc *commitlog.LogTruncationError
		require.ErrorAs(t, err, &trunc)
		require.Equal(t, commitlog.LogTruncationError{Topic: "t", Partition: 0, Offset: 2, Epoch: trunc.Epoch, DivergingOffset: 1, Reset: true}, *trunc)
		require.GreaterOrEqual(t, trunc.Epoch, int32(0))
		require.ErrorIs(t, err, commitlog.ErrLogTruncated)
		require.Equal(t, []string{"new"}, pollN(t, reset, 1), "the consumer reads on from the divergence: the record now at offset 1")
		pos, err := reset.Position(tp)
		require.NoError(t, err)
		require.Equal(t, int64(2), pos)

		// Under ResetNone the position stays, and Poll fails until a Seek.
		for range 2 {
			_, err = strict.Poll(pctx)
			require.ErrorAs(t, err, &trunc)
			require.False(t, trunc.Reset)
			require.Equal(t, int64(1), trunc.DivergingOffset)
		}
		require.NoError(t, strict.Seek(tp, trunc.DivergingOffset))
		require.Equal(t, []string{"new"}, pollN(t, strict, 1))
		require.NoError(t, reset.Close())
		require.NoError(t, strict.Close())
	})
}
