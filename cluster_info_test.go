package commitlog_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
)

// TestLogCluster: a replicated Log's Cluster shows its node, the
// controller's nodes and their liveness, and every topic's partition
// states as the controller decided them; a node that leaves shows as not
// live; a Log that is not replicated, or closed, refuses.
func TestLogCluster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, commitlog.Options{}, 0, 1, 2)
		ctx := context.Background()
		_, err := c.logs[0].CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 3, ReplicationFactor: 2})
		require.NoError(t, err)
		_, err = c.logs[0].CreateTopic(ctx, "audit", commitlog.TopicConfig{ReplicationFactor: 3})
		require.NoError(t, err)
		settle(100 * time.Millisecond)

		want, err := c.ctrl.Describe("orders")
		require.NoError(t, err)
		for id := range commitlog.NodeID(3) {
			info, err := c.logs[id].Cluster()
			require.NoError(t, err)
			require.Equal(t, id, info.Node)
			require.Equal(t, []commitlog.NodeStatus{{Node: 0, Live: true}, {Node: 1, Live: true}, {Node: 2, Live: true}}, info.Nodes)
			require.Equal(t, commitlog.NoNode, info.ControllerLeader, "an InProcessController has no quorum leader")
			require.Len(t, info.Topics, 2)
			require.Equal(t, "audit", info.Topics[0].Name)
			require.Equal(t, "orders", info.Topics[1].Name)
			require.Equal(t, want.Partitions, info.Topics[1].Partitions, "node %d", id)
		}

		c.stop(2)
		settle(100 * time.Millisecond)
		info, err := c.logs[0].Cluster()
		require.NoError(t, err)
		require.Equal(t, commitlog.NodeStatus{Node: 2, Live: false}, info.Nodes[2])
		for _, p := range info.Topics[0].Partitions {
			require.NotContains(t, p.ISR, commitlog.NodeID(2))
		}

		l := c.logs[1]
		c.stop(1)
		_, err = l.Cluster()
		require.ErrorIs(t, err, commitlog.ErrClosed)
	})
	single, err := commitlog.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer single.Close()
	_, err = single.Cluster()
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
}
