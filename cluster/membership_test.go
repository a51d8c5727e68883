package cluster

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
)

// voters returns the Raft voters of c's configuration, as nodes.
func (c *RaftController) voters() (out []commitlog.NodeID) {
	c.onLoop(func() {
		for id := range c.rn.Status().Config.Voters.IDs() {
			out = append(out, commitlog.NodeID(id-1))
		}
	})
	return out
}

// TestRaftControllerMembership: a node added through Raft's
// configuration changes starts with Join, catches up from a snapshot
// (its Log hears the topics created before it), registers, and takes
// replicas of new topics; it cannot be removed while it holds replicas;
// once removed, quorums count without it: with it and one more node
// stopped, the remaining two still commit. Membership mistakes are
// refused and change neither the metadata nor Raft's voters.
func TestRaftControllerMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 5)
		ctx := context.Background()
		lead := tc.leader()
		require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("before", 2, 3)))

		const added commitlog.NodeID = 3
		require.NoError(t, tc.ctrl[(lead+1)%3].AddNode(ctx, added))
		require.ErrorIs(t, tc.ctrl[lead].AddNode(ctx, added), commitlog.ErrInvalidArgument)
		require.ErrorIs(t, tc.ctrl[lead].AddNode(ctx, -2), commitlog.ErrInvalidArgument)
		tc.nodes = append(tc.nodes, added)
		tc.fs[added] = vfs.NewMem()
		tc.startWith(added, true)
		tc.eventually("the new node's Log hears the earlier topic", func() bool {
			_, ok := tc.seen[added].topic("before")
			return ok
		})
		tc.eventually("the new node is a voter everywhere and live", func() bool {
			for _, id := range tc.nodes {
				if len(tc.ctrl[id].voters()) != 4 || !tc.ctrl[id].live(added) {
					return false
				}
			}
			return true
		})
		require.NoError(t, tc.ctrl[added].CreateTopic(ctx, topicSpec("wide", 1, 4)), "proposed by the new node")
		wide, err := tc.ctrl[lead].Describe("wide")
		require.NoError(t, err)
		require.Contains(t, wide.Partitions[0].Replicas, added)
		require.Len(t, wide.Partitions[0].ISR, 4)

		err = tc.ctrl[lead].RemoveNode(ctx, added)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
		require.ErrorContains(t, err, "wide")
		require.Len(t, tc.ctrl[lead].voters(), 4, "a refused removal leaves the voters")
		require.ErrorIs(t, tc.ctrl[lead].RemoveNode(ctx, 9), commitlog.ErrUnknownNode)
		require.NoError(t, tc.ctrl[lead].DeleteTopic(ctx, "wide"))
		require.NoError(t, tc.ctrl[lead].RemoveNode(ctx, added))
		tc.stop(added)
		tc.eventually("every remaining node has three voters", func() bool {
			for _, id := range tc.nodes[:3] {
				if len(tc.ctrl[id].voters()) != 3 {
					return false
				}
			}
			return true
		})

		// Two of three voters are a quorum; two of four would not be.
		down := (lead + 1) % 3
		tc.stop(down)
		rest := []commitlog.NodeID{lead, (lead + 2) % 3}
		require.NoError(t, tc.ctrl[rest[1]].CreateTopic(ctx, topicSpec("after", 1, 2)))
		tc.eventually("a Raft leader among the two", func() bool {
			return tc.ctrl[rest[0]].status().RaftState == raft.StateLeader || tc.ctrl[rest[1]].status().RaftState == raft.StateLeader
		})
		md, err := readMetadataOf(tc, rest[0])
		require.NoError(t, err)
		require.Equal(t, []commitlog.NodeID{0, 1, 2}, md.Nodes)
	})
}

// readMetadataOf stops node id and reads its Raft directory.
func readMetadataOf(tc *testCluster, id commitlog.NodeID) (*Metadata, error) {
	tc.stop(id)
	return readMetadata(tc.fs[id], "raft")
}
