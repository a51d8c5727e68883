package commitlog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
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
		stats := c.partition(2, "t", 0).Stats()
		require.Equal(t, &commitlog.ReplicaState{Leader: 1, LeaderEpoch: st.LeaderEpoch, ISR: []commitlog.NodeID{1, 2, 3}, Replicas: []commitlog.NodeID{1, 2, 3}},
			stats.Replica, "a follower's stats show the partition state it heard")
		// Appends to a follower are refused, naming the leader.
		_, err = c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("x")}})
		var nl *commitlog.NotLeaderError
		require.ErrorAs(t, err, &nl)
		require.Equal(t, commitlog.NodeID(1), nl.Leader)
		require.False(t, nl.AfterAppend, "refused before appending")
		require.True(t, errors.Is(err, commitlog.ErrNotLeader))
		// So is DeleteRecords: followers take the leader's log start.
		_, err = c.partition(2, "t", 0).DeleteRecords(ctx, 2)
		require.ErrorAs(t, err, &nl)
		require.Equal(t, int64(0), c.partition(2, "t", 0).StartOffset())
		start, err := c.partition(1, "t", 0).DeleteRecords(ctx, 2)
		require.NoError(t, err)
		require.Equal(t, int64(2), start)
		settle(time.Second)
		require.Equal(t, int64(2), c.partition(2, "t", 0).StartOffset(), "the follower took the leader's log start")
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

// Producers on different nodes never share an id. A partition's
// idempotence state replicates with its data, so a producer on the node
// that leads after a failover meets the state of the old leader's
// producers: had it the same id, its first batch would be taken for a
// retry of theirs and acknowledged without being stored.
func TestProducerIDsAreUniqueAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{}, 1, 2, 3)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
		require.NoError(t, err)
		synctest.Wait()
		produce := func(id commitlog.NodeID, value string) int64 {
			prod, err := c.logs[id].NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
			require.NoError(t, err)
			defer prod.Close()
			require.NoError(t, prod.ProduceSync(ctx, &commitlog.Record{Topic: "t", Value: []byte(value)}))
			return prod.ProducerID()
		}
		first := produce(1, "a")
		settle(time.Second)
		c.stop(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		second := produce(2, "b")
		require.Equal(t, []string{"a", "b"}, values(t, c.partition(2, "t", 0)), "the second producer's record is stored")
		require.NotEqual(t, first, second)
		// The ids stay apart across a restart, on a node whose partitions
		// hold the other nodes' producers' state too.
		c.start(1)
		settle(5 * time.Second)
		require.NoError(t, c.logs[3].ElectPreferredLeaders(ctx, "t"))
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		third := produce(1, "c")
		require.NotContains(t, []int64{first, second}, third)
		settle(time.Second)
		require.Equal(t, []string{"a", "b", "c"}, values(t, c.partition(2, "t", 0)))
	})
}

// Unclean election, on request, trades acknowledged records for
// availability: with every in-sync replica down, an out-of-sync one
// leads, and the records only the lost replica held are gone, their
// offsets given to new records; the old leader, back, takes the new
// leader's log.
func TestUncleanElectionLosesWhatOnlyTheLostReplicaHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: time.Second}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 1,
			UncleanLeaderElection: true, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("both")}})
		require.NoError(t, err)
		// Node 2 falls out of sync (once there is something it lacks, it
		// leaves the ISR after the lag time); node 1 acknowledges alone.
		c.net.Isolate(2)
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("only-on-1")}})
		require.NoError(t, err, "AckAll with MinInSyncReplicas 1 and the ISR down to the leader")
		st, err := c.logs[1].ReplicaStatus("t", 0)
		require.NoError(t, err)
		require.Equal(t, []commitlog.NodeID{1}, st.ISR)
		stats := c.partition(1, "t", 0).Stats()
		require.True(t, stats.Replica.UnderReplicated)
		require.False(t, stats.Replica.UnderMinISR)
		c.stop(1)
		c.net.Heal()
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0), "unclean election: the out-of-sync replica leads")
		res, err := c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("new")}})
		require.NoError(t, err)
		require.Equal(t, int64(1), res.BaseOffset, "the lost record's offset is reused")
		c.start(1)
		settle(3 * time.Second)
		want := []string{"both", "new"}
		require.Equal(t, want, values(t, c.partition(2, "t", 0)))
		require.Equal(t, want, values(t, c.partition(1, "t", 0)), "the old leader took the new leader's log")
	})
}

// With unclean election off (the default), the partition stays offline
// rather than lose the record; it comes back with the last in-sync
// replica.
func TestCleanElectionWaitsForTheLastInSyncReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: time.Second}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		c.net.Isolate(2)
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("only-on-1")}})
		require.NoError(t, err)
		c.stop(1)
		c.net.Heal()
		synctest.Wait()
		require.Equal(t, commitlog.NoNode, c.leader("t", 0), "offline, not unclean")
		_, err = c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("x")}})
		require.ErrorIs(t, err, commitlog.ErrNotLeader)
		c.start(1)
		settle(3 * time.Second)
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		require.Equal(t, []string{"only-on-1"}, values(t, c.partition(2, "t", 0)), "node 2 caught up with the record")
	})
}

// Bad input is refused with typed errors and changes nothing.
func TestReplicationBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{}, 1, 2, 3)
		l := c.logs[1]
		_, err := l.CreateTopic(ctx, "rf", commitlog.TopicConfig{ReplicationFactor: 4})
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig, "replication factor above the node count")
		_, err = l.CreateTopic(ctx, "minisr", commitlog.TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 3})
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig, "MinInSyncReplicas above the replication factor")
		_, err = l.CreateTopic(ctx, "nodes", commitlog.TopicConfig{Replicas: [][]commitlog.NodeID{{1, 9}}})
		require.ErrorIs(t, err, commitlog.ErrUnknownNode)
		require.Empty(t, l.Topics())
		// A second Log with a NodeID already joined, and an unknown one.
		o := commitlog.Options{NodeID: 1, Controller: c.ctrl, Transport: c.net}
		commitlog.SetFS(&o, vfs.NewMem())
		_, err = commitlog.Open("/other", &o)
		require.ErrorIs(t, err, commitlog.ErrNodeExists)
		o.NodeID = 7
		_, err = commitlog.Open("/other", &o)
		require.ErrorIs(t, err, commitlog.ErrUnknownNode)
		// Options that do not fit together.
		_, err = commitlog.Open("/x", &commitlog.Options{Controller: c.ctrl})
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig)
		o.NodeID = 1 << 23 // no range of producer ids left for it
		_, err = commitlog.Open("/other", &o)
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig)
		// A single-node Log refuses replication.
		single, err := commitlog.Open(t.TempDir(), nil)
		require.NoError(t, err)
		defer single.Close()
		_, err = single.CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3})
		require.ErrorIs(t, err, commitlog.ErrInvalidConfig)
		_, err = single.ReplicaStatus("t", 0)
		require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	})
}

// KIP-101's divergence scenario on real Logs: the leader writes a record
// no follower has and stops; the follower, in sync, leads the next epoch
// and writes another record at the same offset. When the old leader
// returns it must not keep its record there: it truncates by epoch and
// takes the new leader's, so no two replicas hold different records at
// one offset.
func TestKIP101_DivergenceOnRestartedLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("m1")}})
		require.NoError(t, err)
		settle(time.Second)
		// m2 reaches only the leader's log (AckNone: not committed).
		c.net.Block(1, 2)
		res, err := c.partition(1, "t", 0).AppendIdempotent(ctx, 77, 0, commitlog.AckNone, []byte("m2"))
		require.NoError(t, err)
		require.Equal(t, int64(1), res.BaseOffset)
		c.stop(1)
		c.net.Heal()
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0), "the in-sync follower leads")
		res, err = c.partition(2, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("m3")}})
		require.NoError(t, err)
		require.Equal(t, int64(1), res.BaseOffset, "m3 takes the offset m2 had on the old leader")
		c.start(1)
		settle(3 * time.Second)
		want := []string{"m1", "m3"}
		require.Equal(t, want, values(t, c.partition(1, "t", 0)), "the old leader truncated m2 by epoch")
		require.Equal(t, want, values(t, c.partition(2, "t", 0)))
		require.Equal(t, [][2]int64{{0, 0}, {1, 1}}, c.partition(1, "t", 0).LeaderEpochs(), "epoch 0 from 0, epoch 1 from 1")
	})
}

// KIP-279's case, fast successive failovers, on real Logs: node 1 leads
// an epoch (2) that node 2 never heard of, node 2 one (1) that node 1
// never heard of, and node 2 leads again (3). When node 1 follows, the
// leader answers its latest epoch 2 with epoch 1, which node 1 does not
// know: it must cut back to the end of its own largest epoch below (0)
// and ask again, not keep its record where node 2 holds another.
func TestKIP279_FollowerTruncatesAgainForAnEpochItDoesNotKnow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{ReplicaLagTime: time.Second}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 1,
			UncleanLeaderElection: true, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("a")}})
		require.NoError(t, err)
		settle(time.Second)
		// Epoch 1: node 2 leads and writes b alone.
		c.stop(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		_, err = c.partition(2, "t", 0).AppendIdempotent(ctx, 80, 0, commitlog.AckNone, []byte("b"))
		require.NoError(t, err)
		settle(2 * time.Second) // node 1 leaves the ISR
		// Epoch 2: node 1 leads (unclean) and writes c alone, at b's offset.
		c.stop(2)
		c.start(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		res, err := c.partition(1, "t", 0).AppendIdempotent(ctx, 81, 0, commitlog.AckNone, []byte("c"))
		require.NoError(t, err)
		require.Equal(t, int64(1), res.BaseOffset)
		settle(2 * time.Second)
		// Epoch 3: node 2 leads again and writes d.
		c.stop(1)
		c.start(2)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		_, err = c.partition(2, "t", 0).AppendIdempotent(ctx, 82, 0, commitlog.AckNone, []byte("d"))
		require.NoError(t, err)
		epochs := c.partition(2, "t", 0).LeaderEpochs()
		require.Len(t, epochs, 3, "node 2 holds epochs 0, 1 and 3")
		c.start(1)
		settle(3 * time.Second)
		want := []string{"a", "b", "d"}
		require.Equal(t, want, values(t, c.partition(2, "t", 0)))
		require.Equal(t, want, values(t, c.partition(1, "t", 0)), "node 1 dropped c, which only it held, and took the leader's log")
		require.Equal(t, epochs, c.partition(1, "t", 0).LeaderEpochs())
	})
}

// A follower that missed several leader epochs catches up across them:
// node 1 leads epochs in a row (its controller session cut and restored)
// writing records node 2 never fetched, then both restart; node 2's fetch
// names epoch 0, which the leader's log continues past, and it copies the
// rest. (KIP-279's truncation across epochs is played out on the state
// machine in internal/replica.)
func TestFollowerCatchesUpAcrossEpochs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newTestCluster(t, commitlog.Options{}, 1, 2)
		_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 2, Replicas: [][]commitlog.NodeID{{1, 2}}})
		require.NoError(t, err)
		synctest.Wait()
		_, err = c.partition(1, "t", 0).Append(ctx, []commitlog.Record{{Value: []byte("a")}})
		require.NoError(t, err)
		settle(time.Second)
		// Node 1 leads epoch 0 and then a later one, writing b and c alone.
		c.net.Block(1, 2)
		_, err = c.partition(1, "t", 0).AppendIdempotent(ctx, 78, 0, commitlog.AckNone, []byte("b"))
		require.NoError(t, err)
		c.stop(2) // node 1 alone: it keeps leading, at a new partition epoch
		synctest.Wait()
		c.ctrl.Isolate(1)
		c.ctrl.Reconnect(1) // a new leader epoch for node 1
		synctest.Wait()
		_, err = c.partition(1, "t", 0).AppendIdempotent(ctx, 78, 1, commitlog.AckNone, []byte("c"))
		require.NoError(t, err)
		require.Len(t, c.partition(1, "t", 0).LeaderEpochs(), 2, "node 1 wrote in two epochs")
		c.stop(1)
		c.net.Heal()
		c.start(2)
		c.start(1)
		settle(3 * time.Second)
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		want := []string{"a", "b", "c"}
		require.Equal(t, want, values(t, c.partition(2, "t", 0)), "node 2 caught up across the epochs it missed")
	})
}

// offsetValue is a record as the reset test compares them.
type offsetValue struct {
	Offset int64
	Value  string
}

// messageLog is a slog handler keeping the messages logged at Info and
// above.
type messageLog struct {
	mu   sync.Mutex
	msgs []string
}

func (m *messageLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (m *messageLog) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, r.Message)
	return nil
}
func (m *messageLog) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messageLog) WithGroup(string) slog.Handler      { return m }

// count returns how many messages starting with prefix were logged.
func (m *messageLog) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.msgs {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// recordsFromStart returns every record visible in p from its log start.
func recordsFromStart(t *testing.T, p *commitlog.Partition) []offsetValue {
	t.Helper()
	var out []offsetValue
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		out = append(out, offsetValue{r.Offset, string(r.Value)})
	}
	return out
}

// A follower away while the leader's log start moves past its end
// (DeleteRecords, here inside a batch) cannot catch up by fetching what
// it lacks: on its return it restarts its log at the leader's log start
// (Kafka's truncateFullyAndStartAt), restarts it again at the base of the
// batch holding that start, which the leader sends whole, and catches
// up. Every replica then holds exactly the leader's records from the
// leader's log start on, starts there, and is in the ISR.
func TestFollowerResetsToTheLeaderLogStart(t *testing.T) {
	for _, sync := range []commitlog.SyncPolicy{commitlog.SyncAlways, commitlog.SyncNever} {
		t.Run(sync.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				logs := &messageLog{}
				c := newTestCluster(t, commitlog.Options{ReplicaLagTime: 2 * time.Second, Sync: sync, Logger: slog.New(logs)}, 1, 2, 3)
				_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
				require.NoError(t, err)
				synctest.Wait()
				batch := func(tag string, n int) {
					t.Helper()
					recs := make([]commitlog.Record, n)
					for i := range recs {
						recs[i].Value = fmt.Appendf(nil, "%s%d", tag, i)
					}
					_, err := c.partition(1, "t", 0).Append(ctx, recs)
					require.NoError(t, err)
				}
				batch("a", 3) // [0, 3) on every node
				settle(time.Second)
				require.Equal(t, int64(3), c.partition(3, "t", 0).EndOffset())
				c.stop(3)
				for _, tag := range []string{"b", "c", "d", "e"} {
					batch(tag, 5) // [3, 8), [8, 13), [13, 18), [18, 23)
				}
				st, err := c.logs[1].ReplicaStatus("t", 0)
				require.NoError(t, err)
				require.Equal(t, []commitlog.NodeID{1, 2}, st.ISR, "the stopped follower left the ISR")
				// The log start moves inside the batch [13, 18), past
				// everything node 3 holds.
				start, err := c.partition(1, "t", 0).DeleteRecords(ctx, 15)
				require.NoError(t, err)
				require.Equal(t, int64(15), start)
				c.start(3)
				settle(5 * time.Second)
				require.Equal(t, 1, logs.count("restarting the log empty at the leader's log start"), "node 3 reset to the leader's start")
				require.Equal(t, 1, logs.count("restarting the empty log at the base offset of the leader's batch"), "and then to the base of the batch holding it")
				batch("f", 2) // [23, 25): it follows the leader after the reset
				settle(3 * time.Second)

				st, err = c.logs[1].ReplicaStatus("t", 0)
				require.NoError(t, err)
				require.Equal(t, []commitlog.NodeID{1, 2, 3}, st.ISR, "the reset follower rejoined the ISR")
				for _, f := range st.Followers {
					require.True(t, f.InSync, "node %d", f.Node)
					require.Equal(t, int64(25), f.EndOffset, "node %d", f.Node)
				}
				want := recordsFromStart(t, c.partition(1, "t", 0))
				require.Equal(t, offsetValue{15, "d2"}, want[0])
				require.Len(t, want, 10)
				for _, id := range []commitlog.NodeID{3, 2, 1} {
					p := c.partition(id, "t", 0)
					require.Equal(t, int64(15), p.StartOffset(), "node %d starts at the leader's log start", id)
					require.Equal(t, int64(25), p.EndOffset(), "node %d", id)
					require.Equal(t, want, recordsFromStart(t, p), "node %d holds the leader's records from its start", id)
					_, err := p.Read(ctx, 14, 1<<20)
					require.ErrorIs(t, err, commitlog.ErrOffsetOutOfRange, "node %d: below the start", id)
					require.NoError(t, c.logs[id].Check(ctx), "node %d", id)
				}
				// Its log, reset and caught up, survives a restart.
				c.stop(3)
				c.start(3)
				settle(3 * time.Second)
				require.Equal(t, int64(15), c.partition(3, "t", 0).StartOffset())
				require.Equal(t, want, recordsFromStart(t, c.partition(3, "t", 0)))
			})
		})
	}
}

// gateFS is a file system whose MkdirAll of a directory ending with
// suffix waits, once, until release is closed, after closing reached.
type gateFS struct {
	vfs.FS
	suffix           string
	reached, release chan struct{}
	once             sync.Once
}

func (g *gateFS) MkdirAll(dir string, perm os.FileMode) error {
	if strings.HasSuffix(dir, g.suffix) {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
	return g.FS.MkdirAll(dir, perm)
}

// TestCloseWhileTheControllerCreatesTopics: a Log closes while its
// replicator is creating a topic the controller announced, its
// partitions attached after Close began shutting the others down. Close
// returns, with no fetcher left running: before the fix, those
// partitions started fetchers Close never stopped, and it waited for
// them for good (a deadlock the bubble reports).
func TestCloseWhileTheControllerCreatesTopics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCluster(t, commitlog.Options{}, 0, 1)
		gate := &gateFS{FS: c.fs[1], suffix: "blockme-0", reached: make(chan struct{}), release: make(chan struct{})}
		c.stop(1)
		o := c.opts
		o.NodeID, o.Controller, o.Transport = 1, c.ctrl, c.net
		commitlog.SetFS(&o, gate)
		l1, err := commitlog.Open("/node", &o)
		require.NoError(t, err)

		created := make(chan error, 1)
		go func() {
			_, err := c.logs[0].CreateTopic(context.Background(), "blockme", commitlog.TopicConfig{Partitions: 4, ReplicationFactor: 2})
			created <- err
		}()
		<-gate.reached // node 1's replicator is creating the topic
		closed := make(chan error, 1)
		go func() { closed <- l1.Close() }()
		synctest.Wait() // Close waits for the replicator
		close(gate.release)
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(time.Minute): // virtual time: the bubble's clock
			t.Fatal("Close did not return: a fetcher outlived the replicator's stop")
		}
		require.NoError(t, <-created)
	})
}
