package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/cluster"
	"github.com/commitlog-go/commitlog/memnet"
)

// clusterFixture is three stopped cluster nodes' directories: each
// node's Log in <base>/<node>/log and its Raft state in <base>/<node>/raft.
type clusterFixture struct {
	base string
	// down is the node stopped before the last records were produced, so
	// it is out of every ISR and lags by lagged records per partition.
	down   commitlog.NodeID
	lagged int64
	// meta is the partitions' state as the last live node's controller
	// had it when the cluster stopped.
	meta commitlog.TopicMetadata
}

func (f clusterFixture) logDir(n commitlog.NodeID) string {
	return filepath.Join(f.base, fmt.Sprint(n), "log")
}

func (f clusterFixture) raftDir(n commitlog.NodeID) string {
	return filepath.Join(f.base, fmt.Sprint(n), "raft")
}

// writeClusterFixture runs three nodes (Logs with RaftControllers on an
// in-memory network, in virtual time), creates topic "orders" with 2
// partitions and replication factor 3, produces 10 records per partition
// with AckAll, stops one node, waits for it to leave every ISR, produces
// 5 more per partition, and stops the others.
func writeClusterFixture(t *testing.T) clusterFixture {
	f := clusterFixture{base: t.TempDir(), lagged: 5}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		net := memnet.New(memnet.Config{Seed: 1, Faults: memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond}})
		defer net.Close()
		mux := cluster.NewMux(net)
		nodes := []commitlog.NodeID{0, 1, 2}
		ctrls := map[commitlog.NodeID]*cluster.RaftController{}
		logs := map[commitlog.NodeID]*commitlog.Log{}
		for _, n := range nodes {
			c, err := cluster.NewRaftController(cluster.RaftConfig{Node: n, Nodes: nodes, Dir: f.raftDir(n), Mux: mux, TickInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			ctrls[n] = c
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { // each Open waits for a quorum of controllers
				l, err := commitlog.Open(f.logDir(n), &commitlog.Options{NodeID: n, Controller: ctrls[n], Transport: mux,
					ReplicaLagTime: time.Second, ReplicaFetchMaxWait: 50 * time.Millisecond})
				require.NoError(t, err)
				mu.Lock()
				logs[n] = l
				mu.Unlock()
			})
		}
		wg.Wait()
		stop := func(n commitlog.NodeID) {
			require.NoError(t, logs[n].Close())
			require.NoError(t, ctrls[n].Close())
			delete(logs, n)
			delete(ctrls, n)
		}
		defer func() {
			for n := range logs {
				stop(n)
			}
		}()
		_, err := logs[0].CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 2, ReplicationFactor: 3, MinInSyncReplicas: 2})
		require.NoError(t, err)
		some := func() commitlog.NodeID {
			for _, n := range nodes {
				if logs[n] != nil {
					return n
				}
			}
			return commitlog.NoNode
		}
		until := func(what string, cond func(md commitlog.TopicMetadata) bool) {
			for range 3000 {
				if md, err := ctrls[some()].Describe("orders"); err == nil && len(md.Partitions) == 2 && cond(md) {
					return
				}
				time.Sleep(10 * time.Millisecond) // virtual time: the controllers' ticks
			}
			t.Fatalf("never: %s", what)
		}
		until("leaders with full ISRs", func(md commitlog.TopicMetadata) bool {
			for _, p := range md.Partitions {
				if p.Leader == commitlog.NoNode || len(p.ISR) != 3 || logs[p.Leader] == nil {
					return false
				}
			}
			return true
		})
		produce := func(n int) {
			for part := range int32(2) {
				for i := range n {
					r := &commitlog.Record{Topic: "orders", Partition: part, Value: fmt.Appendf(nil, "v%d", i)}
					for try := 0; ; try++ {
						md, err := ctrls[some()].Describe("orders")
						require.NoError(t, err)
						prod, err := logs[md.Partitions[part].Leader].NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll, Partitioner: commitlog.ManualPartitioner()})
						require.NoError(t, err)
						err = prod.ProduceSync(ctx, r)
						require.NoError(t, prod.Close())
						if err == nil {
							break
						}
						require.Less(t, try, 300, "producing to orders-%d: %v", part, err)
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		}
		produce(10)
		f.down = 2
		stop(f.down)
		until("the stopped node out of every ISR", func(md commitlog.TopicMetadata) bool {
			for _, p := range md.Partitions {
				if slices.Contains(p.ISR, f.down) || p.Leader == commitlog.NoNode {
					return false
				}
			}
			return true
		})
		produce(int(f.lagged))
		f.meta, err = ctrls[some()].Describe("orders")
		require.NoError(t, err)
	})
	return f
}

// TestTopicsDescribeShowsReplication: offline, topics describe and stats
// show each partition's leader, leader epoch, partition epoch, ISR and
// replicas from the node's Raft directory, and the replicas' lag from
// their directories; without the leader's directory a lag is unknown.
func TestTopicsDescribeShowsReplication(t *testing.T) {
	f := writeClusterFixture(t)
	live := (f.down + 1) % 3
	args := []string{"--metadata", f.raftDir(live)}
	for n := range commitlog.NodeID(3) {
		args = append(args, "--replica-dir", fmt.Sprintf("%d=%s", n, f.logDir(n)))
	}

	var out []topicDescription
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", append([]string{"topics", "describe", "-d", f.logDir(live), "orders", "--json"}, args...)...)), &out))
	require.Len(t, out, 1)
	require.Len(t, out[0].Partitions, 2)
	for i, p := range out[0].Partitions {
		want := f.meta.Partitions[i]
		require.NotNil(t, p.Leader, "partition %d", i)
		require.Equal(t, int32(want.Leader), *p.Leader)
		require.Equal(t, want.LeaderEpoch, *p.LeaderEpoch)
		require.Equal(t, want.PartitionEpoch, *p.PartitionEpoch)
		require.Equal(t, convertNodes(want.ISR), p.ISR)
		require.Equal(t, convertNodes(want.Replicas), p.Replicas)
		require.NotContains(t, p.ISR, int32(f.down))
		require.Len(t, p.ReplicaLag, 3)
		for _, r := range p.ReplicaLag {
			require.NotNil(t, r.Lag)
			wantLag := int64(0)
			if r.Node == int32(f.down) {
				wantLag = f.lagged
			}
			require.Equal(t, wantLag, *r.Lag, "partition %d, node %d", i, r.Node)
		}
	}

	text := mustRun(t, "", append([]string{"stats", "-d", f.logDir(live)}, args...)...)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	require.Regexp(t, `TOPIC\s+PARTITION\s+START\s+HIGH-WATERMARK\s+END\s+SEGMENTS\s+BYTES\s+LEADER\s+EPOCH\s+ISR\s+REPLICAS\s+LAG`, lines[1])
	for i, p := range out[0].Partitions {
		require.Regexp(t, fmt.Sprintf(`^orders\s+%d\s.*\s%d\s+%d\s+%s\s+%s\s+%s$`, i, *p.Leader, *p.LeaderEpoch,
			nodesString(p.ISR), nodesString(p.Replicas), lagString(p.ReplicaLag)), lines[2+i])
		require.Contains(t, lines[2+i], fmt.Sprintf("%d:%d", f.down, f.lagged))
	}

	// Without the leader's directory, lags are unknown, and each given
	// replica's end offset is still shown.
	leader := commitlog.NodeID(*out[0].Partitions[0].Leader)
	other := (leader + 1) % 3
	var partial []topicDescription
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "topics", "describe", "-d", f.logDir(live), "orders", "--json",
		"--metadata", f.raftDir(live), "--replica-dir", fmt.Sprintf("%d=%s", other, f.logDir(other)))), &partial))
	r := partial[0].Partitions[0].ReplicaLag
	require.Len(t, r, 1)
	require.Equal(t, int32(other), r[0].Node)
	require.Nil(t, r[0].Lag)
	require.Positive(t, r[0].EndOffset)

	// Without --metadata the offline directory knows no leader.
	var plain []topicDescription
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "topics", "describe", "-d", f.logDir(live), "orders", "--json")), &plain))
	require.Nil(t, plain[0].Partitions[0].Leader)
}

// TestReplicationFlagErrors: the replication flags' mistakes are usage
// errors that say what to give.
func TestReplicationFlagErrors(t *testing.T) {
	dir := writeFixture(t, 4)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--replica-dir", "1=" + dir}, "--replica-dir needs --metadata"},
		{[]string{"--metadata", filepath.Join(dir, "nope")}, "no Raft state there"},
	} {
		r := runCLI(t, "", append([]string{"stats", "-d", dir}, c.args...)...)
		require.NotEqual(t, 0, r.code, "%v", c.args)
		require.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}
