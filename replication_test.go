package commitlog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
	"github.com/stretchr/testify/require"
)

// testCluster is a replicated cluster of Logs on in-memory file systems,
// for tests that run in a synctest bubble.
type testCluster struct {
	t    *testing.T
	net  *memnet.Network
	ctrl *commitlog.InProcessController
	fs   map[commitlog.NodeID]*vfs.MemFS
	logs map[commitlog.NodeID]*commitlog.Log
	opts commitlog.Options
}

func newTestCluster(t *testing.T, opts commitlog.Options, ids ...commitlog.NodeID) *testCluster {
	t.Helper()
	ctrl, err := commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: ids})
	require.NoError(t, err)
	c := &testCluster{t: t, net: memnet.New(memnet.Config{Seed: 1, Faults: memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond}}),
		ctrl: ctrl, fs: map[commitlog.NodeID]*vfs.MemFS{}, logs: map[commitlog.NodeID]*commitlog.Log{}, opts: opts}
	for _, id := range ids {
		c.fs[id] = vfs.NewMem()
		c.start(id)
	}
	t.Cleanup(func() {
		for _, l := range c.logs {
			l.Close()
		}
		ctrl.Close()
		c.net.Close()
	})
	return c
}

func (c *testCluster) start(id commitlog.NodeID) *commitlog.Log {
	c.t.Helper()
	o := c.opts
	o.NodeID, o.Controller, o.Transport = id, c.ctrl, c.net
	commitlog.SetFS(&o, c.fs[id])
	l, err := commitlog.Open("/node", &o)
	require.NoError(c.t, err)
	c.logs[id] = l
	return l
}

func (c *testCluster) stop(id commitlog.NodeID) {
	c.t.Helper()
	require.NoError(c.t, c.logs[id].Close())
	delete(c.logs, id)
}

func (c *testCluster) partition(id commitlog.NodeID, topic string, part int32) *commitlog.Partition {
	c.t.Helper()
	t, err := c.logs[id].Topic(topic)
	require.NoError(c.t, err)
	p, err := t.Partition(part)
	require.NoError(c.t, err)
	return p
}

func (c *testCluster) leader(topic string, part int32) commitlog.NodeID {
	c.t.Helper()
	md, err := c.ctrl.Describe(topic)
	require.NoError(c.t, err)
	return md.Partitions[part].Leader
}

// settle lets virtual time pass until every goroutine is idle.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func values(t *testing.T, p *commitlog.Partition) []string {
	t.Helper()
	var out []string
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		out = append(out, string(r.Value))
	}
	return out
}

func TestReplicatedAppendReachesFollowers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{}, 1, 2, 3)
		_, err := c.logs[2].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		p := c.partition(1, "t", 0)
		for i := range 5 {
			res, err := p.Append(ctx, []commitlog.Record{{Value: fmt.Appendf(nil, "v%d", i)}})
			require.NoError(t, err)
			require.Equal(t, int64(i), res.BaseOffset)
		}
		settle(time.Second)
		want := []string{"v0", "v1", "v2", "v3", "v4"}
		for _, id := range []commitlog.NodeID{1, 2, 3} {
			require.Equal(t, want, values(t, c.partition(id, "t", 0)), "node %d", id)
		}
		st, err := c.logs[1].ReplicaStatus("t", 0)
		require.NoError(t, err)
		require.Equal(t, commitlog.RoleLeader, st.Role)
		require.Equal(t, []commitlog.NodeID{1, 2, 3}, st.ISR)
		// Appends to a follower are refused, naming the leader.
		_, err = c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("x")}})
		var nl *commitlog.NotLeaderError
		require.ErrorAs(t, err, &nl)
		require.Equal(t, commitlog.NodeID(1), nl.Leader)
		require.True(t, errors.Is(err, commitlog.ErrNotLeader))
	})
}

// A leader stopped: a follower takes over with every acknowledged record,
// takes appends, and the old leader rejoins when it restarts: it
// truncates what only it held, catches up and re-enters the ISR.
func TestReplicatedFailoverAndRejoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: 2 * time.Second}, 1, 2, 3)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
		require.NoError(t, err)
		synctest.Wait()
		var want []string
		for i := range 5 {
			v := fmt.Sprintf("a%d", i)
			_, err := c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte(v)}})
			require.NoError(t, err)
			want = append(want, v)
		}
		c.stop(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		for i := range 5 {
			v := fmt.Sprintf("b%d", i)
			_, err := c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte(v)}})
			require.NoError(t, err, "append %d on the new leader", i)
			want = append(want, v)
			settle(time.Second)
		}
		require.Equal(t, want, values(t, c.partition(2, "t", 0)))
		c.start(1)
		settle(5 * time.Second)
		st, err := c.logs[2].ReplicaStatus("t", 0)
		require.NoError(t, err)
		require.Equal(t, []commitlog.NodeID{1, 2, 3}, st.ISR, "the restarted node rejoins the ISR")
		for _, id := range []commitlog.NodeID{1, 2, 3} {
			require.Equal(t, want, values(t, c.partition(id, "t", 0)), "node %d", id)
		}
		// Preferred leader election moves leadership back to node 1.
		require.NoError(t, c.logs[3].ElectPreferredLeaders(ctx, "t"))
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("c0")}})
		require.NoError(t, err)
	})
}
