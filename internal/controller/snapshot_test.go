package controller

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEncodeDecode: a cluster with live and dead nodes and topics after
// leader changes decodes to the same state, and encodes to the same
// bytes again; damaged images are refused.
func TestEncodeDecode(t *testing.T) {
	c, err := New([]NodeID{2, 0, 1})
	require.NoError(t, err)
	for _, n := range []NodeID{0, 1, 2} {
		_, err := c.NodeUp(n)
		require.NoError(t, err)
	}
	_, err = c.CreateTopic(TopicSpec{Name: "orders", Config: []byte(`{"x":1}`), Partitions: 3, ReplicationFactor: 3})
	require.NoError(t, err)
	_, err = c.CreateTopic(TopicSpec{Name: "audit", Partitions: 1, ReplicationFactor: 2, Unclean: true})
	require.NoError(t, err)
	_, err = c.NodeDown(1)
	require.NoError(t, err)

	data, err := c.Encode()
	require.NoError(t, err)
	d, err := Decode(data)
	require.NoError(t, err)
	require.Equal(t, c.Nodes(), d.Nodes())
	for _, n := range c.Nodes() {
		require.Equal(t, c.Live(n), d.Live(n), "node %d", n)
	}
	require.Equal(t, c.TopicNames(), d.TopicNames())
	for _, name := range c.TopicNames() {
		require.Equal(t, c.Topic(name), d.Topic(name))
	}
	again, err := d.Encode()
	require.NoError(t, err)
	require.Equal(t, data, again)

	// The decoded cluster goes on like the original.
	ch1, err1 := c.NodeUp(1)
	ch2, err2 := d.NodeUp(1)
	require.Equal(t, err1, err2)
	require.Equal(t, ch1, ch2)
	require.Equal(t, c.Topic("orders"), d.Topic("orders"))

	for _, bad := range []string{
		`{`,
		`{"nodes":[],"live":[],"topics":[]}`,
		`{"nodes":[0],"live":[3],"topics":[]}`,
		`{"nodes":[0],"live":[],"topics":[{"Name":"t","Partitions":[{"Replicas":[0],"Leader":0,"ISR":[]}]}]}`,
		`{"nodes":[0],"live":[],"topics":[{"Name":"t","Partitions":[{"Replicas":[5],"Leader":5,"ISR":[5]}]}]}`,
		`{"nodes":[0],"live":[],"topics":[{"Name":"t","Partitions":[]},{"Name":"t","Partitions":[]}]}`,
	} {
		_, err := Decode([]byte(bad))
		require.ErrorIs(t, err, ErrInvalid, "%s", bad)
	}
}
