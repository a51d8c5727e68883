package cluster

import (
	"context"
	"os"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// TestReadMetadata: a stopped node's Raft directory reads back as the
// metadata its controller had applied — nodes, live nodes, topics with
// their leaders, epochs and ISRs — after a fencing changed ISRs, and
// reading leaves a torn tail in place.
func TestReadMetadata(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 3)
		ctx := context.Background()
		lead := tc.leader()
		require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("orders", 3, 3)))
		require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("audit", 1, 2)))
		down := (lead + 1) % 3
		tc.stop(down)
		tc.eventually("the stopped node leaves every ISR", func() bool {
			md, err := tc.ctrl[lead].Describe("orders")
			if err != nil {
				return false
			}
			for _, p := range md.Partitions {
				if len(p.ISR) != 2 {
					return false
				}
			}
			return true
		})
		live := (lead + 2) % 3
		tc.eventually("the other node applied the fencing", func() bool {
			a, _ := tc.ctrl[lead].Describe("orders")
			b, err := tc.ctrl[live].Describe("orders")
			return err == nil && samePartitionStates(a, b)
		})
		wantOrders, err := tc.ctrl[live].Describe("orders")
		require.NoError(t, err)
		wantAudit, err := tc.ctrl[live].Describe("audit")
		require.NoError(t, err)
		tc.stop(live)

		fs := tc.fs[live]
		md, err := readMetadata(fs, "raft")
		require.NoError(t, err)
		require.Equal(t, tc.nodes, md.Nodes)
		require.NotContains(t, md.Live, down)
		require.Contains(t, md.Live, lead)
		require.NotZero(t, md.Index)
		require.NotZero(t, md.Term)
		require.Len(t, md.Topics, 2)
		got, ok := md.Topic("orders")
		require.True(t, ok)
		require.Equal(t, wantOrders, got)
		got, ok = md.Topic("audit")
		require.True(t, ok)
		require.Equal(t, wantAudit, got)
		_, ok = md.Topic("nope")
		require.False(t, ok)

		// A torn tail is skipped and left as it is.
		f, err := fs.OpenReadWrite("raft/" + storageFile)
		require.NoError(t, err)
		size, err := f.Size()
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{0, 0, 1, 0, 9, 9}, size)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		again, err := readMetadata(fs, "raft")
		require.NoError(t, err)
		require.Equal(t, md, again)
		st, err := fs.Stat("raft/" + storageFile)
		require.NoError(t, err)
		require.Equal(t, size+6, st.Size())

		_, err = readMetadata(fs, "elsewhere")
		require.ErrorIs(t, err, os.ErrNotExist)

		// A damaged header is corruption, not an empty cluster.
		f, err = fs.OpenReadWrite("raft/" + storageFile)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("XX"), 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = readMetadata(fs, "raft")
		require.ErrorIs(t, err, ErrCorruptStorage)
	})
}

func samePartitionStates(a, b commitlog.TopicMetadata) bool {
	if len(a.Partitions) != len(b.Partitions) {
		return false
	}
	for i := range a.Partitions {
		p, q := a.Partitions[i], b.Partitions[i]
		if p.Leader != q.Leader || p.LeaderEpoch != q.LeaderEpoch || p.PartitionEpoch != q.PartitionEpoch || len(p.ISR) != len(q.ISR) {
			return false
		}
	}
	return true
}
