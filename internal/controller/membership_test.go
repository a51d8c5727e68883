package controller

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAddRemoveNode: an added node is known but not live, takes
// replicas of new topics once up, and cannot be removed while it holds
// any; unknown, repeated and last nodes are refused.
func TestAddRemoveNode(t *testing.T) {
	c, err := New([]NodeID{0, 1})
	require.NoError(t, err)
	require.ErrorIs(t, c.AddNode(1), ErrNodeExists)
	require.ErrorIs(t, c.AddNode(-1), ErrInvalid)
	require.NoError(t, c.AddNode(5))
	require.Equal(t, []NodeID{0, 1, 5}, c.Nodes())
	require.False(t, c.Live(5))
	for _, n := range c.Nodes() {
		_, err := c.NodeUp(n)
		require.NoError(t, err)
	}
	_, err = c.CreateTopic(TopicSpec{Name: "wide", Partitions: 3, ReplicationFactor: 3})
	require.NoError(t, err)
	for _, p := range c.Topic("wide").Partitions {
		require.Contains(t, p.Replicas, NodeID(5))
	}
	require.ErrorIs(t, c.RemoveNode(5), ErrNodeHoldsReplicas)
	require.ErrorIs(t, c.RemoveNode(7), ErrUnknownNode)
	_, err = c.DeleteTopic("wide")
	require.NoError(t, err)
	require.NoError(t, c.RemoveNode(5))
	require.Equal(t, []NodeID{0, 1}, c.Nodes())
	require.False(t, c.Live(5))
	require.NoError(t, c.RemoveNode(0))
	require.ErrorIs(t, c.RemoveNode(1), ErrInvalid)
}
