package cluster

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// snapIndex returns the index of c's latest snapshot.
func (c *RaftController) snapshotIndex() (i uint64) {
	c.onLoop(func() { i = c.snapIndex })
	return i
}

// TestRaftControllerSnapshots: with a snapshot every few entries, the
// Raft log is compacted into snapshots of the metadata; a node that was
// down while the others compacted past its log catches up from the
// leader's snapshot, and its Log hears the whole metadata; a node
// restarted on its own snapshot has the same metadata; ReadMetadata reads
// a compacted directory.
func TestRaftControllerSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newSnapshottingTestCluster(t, 3, memnet.Faults{}, 4, 4)
		ctx := context.Background()
		lead := tc.leader()
		behind := (lead + 1) % 3
		tc.stop(behind)
		const topics = 20
		for i := range topics {
			require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec(fmt.Sprint("t", i), 2, 3)))
		}
		require.Greater(t, tc.ctrl[lead].snapshotIndex(), uint64(topics), "the leader compacted its log")
		first, _ := tc.ctrl[lead].store.mem.FirstIndex()
		require.Greater(t, first, uint64(topics), "the entries the stopped node lacks are gone")

		same := func(id commitlog.NodeID) bool {
			for i := range topics {
				name := fmt.Sprint("t", i)
				want, err := tc.ctrl[lead].Describe(name)
				if err != nil {
					return false
				}
				got, ok := tc.seen[id].topic(name)
				if !ok || !sameMetadata(want, got) {
					return false
				}
			}
			return true
		}
		tc.start(behind)
		tc.eventually("the restarted node's Log hears every topic", func() bool { return same(behind) })
		require.Greater(t, tc.ctrl[behind].snapshotIndex(), uint64(0), "it caught up from a snapshot")

		// Restarting on its own snapshot.
		other := (lead + 2) % 3
		tc.stop(other)
		tc.start(other)
		tc.eventually("the node restarted on its snapshot knows every topic", func() bool { return same(other) })
		require.NoError(t, tc.ctrl[other].CreateTopic(ctx, topicSpec("after", 1, 3)), "and proposes again")

		// ReadMetadata reads the compacted directory of a stopped node.
		want, err := tc.ctrl[lead].Describe("t7")
		require.NoError(t, err)
		tc.eventually("every node applied the last topic", func() bool {
			for _, id := range tc.nodes {
				if _, err := tc.ctrl[id].Describe("after"); err != nil {
					return false
				}
			}
			return true
		})
		tc.stop(other)
		md, err := readMetadata(tc.fs[other], "raft")
		require.NoError(t, err)
		got, ok := md.Topic("t7")
		require.True(t, ok)
		require.True(t, sameMetadata(want, got), "%v != %v", want, got)
		_, ok = md.Topic("after")
		require.True(t, ok)
		require.Len(t, md.Topics, topics+1)
	})
}

// sameMetadata compares two topics' partition states (the leader, epochs,
// ISR and replicas of each).
func sameMetadata(a, b commitlog.TopicMetadata) bool {
	if a.Name != b.Name || len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for i := range a.Partitions {
		p, q := a.Partitions[i], b.Partitions[i]
		if p.Leader != q.Leader || p.LeaderEpoch != q.LeaderEpoch || p.PartitionEpoch != q.PartitionEpoch ||
			fmt.Sprint(p.ISR) != fmt.Sprint(q.ISR) || fmt.Sprint(p.Replicas) != fmt.Sprint(q.Replicas) {
			return false
		}
	}
	return true
}
