package commitlog

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

// updates records what a node hears from its controller.
type updates chan ClusterUpdate

func (u updates) apply(cu ClusterUpdate) { u <- cu }

// next returns the next update, which must have arrived already (the
// tests run in a synctest bubble and wait for deliveries first).
func (u updates) next(t *testing.T) ClusterUpdate {
	t.Helper()
	synctest.Wait()
	select {
	case cu := <-u:
		return cu
	default:
		t.Fatal("no update delivered")
		return ClusterUpdate{}
	}
}

func (u updates) none(t *testing.T) {
	t.Helper()
	synctest.Wait()
	select {
	case cu := <-u:
		t.Fatalf("unexpected update %+v", cu)
	default:
	}
}

func newTestController(t *testing.T, nodes ...NodeID) *InProcessController {
	t.Helper()
	c, err := NewInProcessController(InProcessControllerConfig{Nodes: nodes})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func join(t *testing.T, c *InProcessController, node NodeID) (updates, func()) {
	t.Helper()
	u := make(updates, 100)
	leave, err := c.Join(context.Background(), node, u.apply)
	require.NoError(t, err)
	return u, leave
}

func TestInProcessControllerConfig(t *testing.T) {
	for _, nodes := range [][]NodeID{nil, {1, 1}, {-2}} {
		_, err := NewInProcessController(InProcessControllerConfig{Nodes: nodes})
		require.ErrorIs(t, err, ErrInvalidConfig, "%v", nodes)
	}
}

func TestInProcessControllerJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestController(t, 1, 2, 3)
		u1, _ := join(t, c, 1)
		require.Equal(t, ClusterUpdate{Snapshot: true}, u1.next(t), "an empty cluster's snapshot")

		_, err := c.Join(ctx, 1, func(ClusterUpdate) {})
		require.ErrorIs(t, err, ErrNodeExists)
		_, err = c.Join(ctx, 9, func(ClusterUpdate) {})
		require.ErrorIs(t, err, ErrUnknownNode)

		cfg := TopicConfig{Partitions: 1, ReplicationFactor: 3, Replicas: [][]NodeID{{2, 1, 3}}}.resolve(TopicConfig{})
		require.NoError(t, c.CreateTopic(ctx, TopicSpec{Name: "t", Config: cfg}))
		cu := u1.next(t)
		require.False(t, cu.Snapshot)
		require.Len(t, cu.Topics, 1)
		require.Equal(t, cfg, cu.Topics[0].Config)
		// Only node 1 is live: it leads, alone in sync.
		require.Equal(t, PartitionMetadata{Partition: 0, Replicas: []NodeID{2, 1, 3}, Leader: 1, ISR: []NodeID{1}}, cu.Topics[0].Partitions[0])

		// Node 2 joins: it hears the snapshot, node 1 hears nothing (no
		// partition is offline, so nothing changes).
		u2, leave2 := join(t, c, 2)
		snap := u2.next(t)
		require.True(t, snap.Snapshot)
		require.Equal(t, cu.Topics, snap.Topics)
		u1.none(t)

		// Node 2 leaves: nothing changes, as it is not in sync.
		leave2()
		u1.none(t)
		md, err := c.Describe("t")
		require.NoError(t, err)
		require.Equal(t, NodeID(1), md.Partitions[0].Leader)
	})
}

func TestInProcessControllerFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestController(t, 1, 2, 3)
		u1, leave1 := join(t, c, 1)
		u2, _ := join(t, c, 2)
		u3, _ := join(t, c, 3)
		for _, u := range []updates{u1, u2, u3} {
			u.next(t) // snapshots
		}
		cfg := TopicConfig{Partitions: 1, ReplicationFactor: 3, Replicas: [][]NodeID{{1, 2, 3}}}.resolve(TopicConfig{})
		require.NoError(t, c.CreateTopic(ctx, TopicSpec{Name: "t", Config: cfg}))
		for _, u := range []updates{u1, u2, u3} {
			require.Equal(t, NodeID(1), u.next(t).Topics[0].Partitions[0].Leader)
		}
		leave1()
		for _, u := range []updates{u2, u3} {
			p := u.next(t).Topics[0].Partitions[0]
			require.Equal(t, PartitionMetadata{Replicas: []NodeID{1, 2, 3}, Leader: 2, LeaderEpoch: 1, ISR: []NodeID{2, 3}, PartitionEpoch: 1}, p)
		}
		u1.none(t)

		// The new leader's ISR change, fenced by its epochs.
		err := c.AlterISR(ctx, AlterISRRequest{Topic: "t", Leader: 2, LeaderEpoch: 0, PartitionEpoch: 0, ISR: []NodeID{2}})
		require.ErrorIs(t, err, ErrFencedEpoch)
		require.NoError(t, c.AlterISR(ctx, AlterISRRequest{Topic: "t", Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, ISR: []NodeID{2}}))
		require.Equal(t, []NodeID{2}, u3.next(t).Topics[0].Partitions[0].ISR)
		u2.next(t)

		// Isolating the leader: the partition is offline (3 is out of sync),
		// the isolated node hears nothing and its calls fail.
		c.Isolate(2)
		require.Equal(t, NoNode, u3.next(t).Topics[0].Partitions[0].Leader)
		u2.none(t)
		err = c.AlterISR(ctx, AlterISRRequest{Topic: "t", Leader: 2, LeaderEpoch: 2, PartitionEpoch: 2, ISR: []NodeID{2, 3}})
		require.ErrorIs(t, err, ErrControllerUnreachable)
		c.Reconnect(2)
		snap := u2.next(t)
		require.True(t, snap.Snapshot)
		require.Equal(t, PartitionMetadata{Replicas: []NodeID{1, 2, 3}, Leader: 2, LeaderEpoch: 3, ISR: []NodeID{2}, PartitionEpoch: 4}, snap.Topics[0].Partitions[0])
		require.Equal(t, NodeID(2), u3.next(t).Topics[0].Partitions[0].Leader)
	})
}

func TestInProcessControllerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestController(t, 1, 2)
		err := c.CreateTopic(ctx, TopicSpec{Name: "t", Config: TopicConfig{ReplicationFactor: 3}.resolve(TopicConfig{})})
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, "replication factor 3 is outside [1, 2]")
		err = c.CreateTopic(ctx, TopicSpec{Name: "t", Config: TopicConfig{Replicas: [][]NodeID{{1, 7}}}.resolve(TopicConfig{})})
		require.ErrorIs(t, err, ErrUnknownNode)
		require.ErrorIs(t, c.DeleteTopic(ctx, "t"), ErrUnknownTopic)
		require.ErrorIs(t, c.ElectPreferredLeaders(ctx, "t"), ErrUnknownTopic)
		require.NoError(t, c.CreateTopic(ctx, TopicSpec{Name: "t", Config: TopicConfig{}.resolve(TopicConfig{})}))
		require.ErrorIs(t, c.CreateTopic(ctx, TopicSpec{Name: "t", Config: TopicConfig{}.resolve(TopicConfig{})}), ErrTopicExists)
		require.ErrorIs(t, c.ElectPreferredLeaders(ctx, "t"), ErrPreferredLeaderNotAvailable, "no node is live")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, c.DeleteTopic(cctx, "t"), context.Canceled)
		require.NoError(t, c.Close())
		require.ErrorIs(t, c.DeleteTopic(ctx, "t"), ErrClosed)
		_, err = c.Join(ctx, 1, func(ClusterUpdate) {})
		require.ErrorIs(t, err, ErrClosed)
	})
}

// Close stops every delivery goroutine (the bubble ends only when all its
// goroutines have).
func TestInProcessControllerCloseStopsDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestController(t, 1, 2)
		join(t, c, 1)
		_, leave := join(t, c, 2)
		leave()
		leave() // a second leave does nothing
		require.NoError(t, c.Close())
	})
}
