package cluster

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"

	"github.com/commitlog-go/commitlog"
)

// TestLogClusterUnderRaft: Log.Cluster on nodes under RaftControllers
// names the Raft leader as the controller leader, every node live, and
// the partitions as the controller decided them; after the Raft
// leader's node stops, the others name the new leader and the stopped
// node as not live.
func TestLogClusterUnderRaft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := newLogCluster(t)
		_, err := lc.logs[1].CreateTopic(context.Background(), "t", commitlog.TopicConfig{ReplicationFactor: 3})
		require.NoError(t, err)
		raftLeader := func() commitlog.NodeID {
			for id, c := range lc.ctrl {
				if c.status().RaftState == raft.StateLeader {
					return id
				}
			}
			return commitlog.NoNode
		}
		lc.eventually("every node live, the topic everywhere, one Raft leader", func() bool {
			lead := raftLeader()
			for _, id := range lc.nodes {
				info, err := lc.logs[id].Cluster()
				if err != nil || info.ControllerLeader != lead || len(info.Topics) != 1 || len(info.Nodes) != 3 {
					return false
				}
				for _, n := range info.Nodes {
					if !n.Live {
						return false
					}
				}
			}
			return lead != commitlog.NoNode
		})
		md, err := lc.ctrl[0].Describe("t")
		require.NoError(t, err)
		info, err := lc.logs[2].Cluster()
		require.NoError(t, err)
		require.Equal(t, md.Partitions, info.Topics[0].Partitions)

		old := raftLeader()
		lc.stop(old)
		lc.eventually("a new controller leader, the old node not live", func() bool {
			for _, id := range lc.nodes {
				if id == old {
					continue
				}
				info, err := lc.logs[id].Cluster()
				if err != nil || info.ControllerLeader == old || info.ControllerLeader == commitlog.NoNode || info.Nodes[old].Live {
					return false
				}
			}
			return true
		})
	})
}
