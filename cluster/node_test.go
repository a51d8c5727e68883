package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
)

// loopbackAddrs returns n loopback addresses with ports free a moment
// ago: the address book of a cluster whose nodes must know each other's
// addresses before they start.
func loopbackAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		out = append(out, ln.Addr().String())
		require.NoError(t, ln.Close())
	}
	return out
}

// nodeCluster is three Nodes on loopback.
type nodeCluster struct {
	t     *testing.T
	dir   string
	peers map[commitlog.NodeID]string
	nodes map[commitlog.NodeID]*Node
}

func (nc *nodeCluster) config(id commitlog.NodeID) NodeConfig {
	return NodeConfig{ID: id, Dir: filepath.Join(nc.dir, fmt.Sprint("node", id)), Peers: nc.peers,
		Options: &commitlog.Options{ReplicaLagTime: 2 * time.Second, ReplicaFetchMaxWait: 20 * time.Millisecond},
		Raft:    RaftConfig{TickInterval: 10 * time.Millisecond},
		TCP:     TCPConfig{ReconnectBackoff: 10 * time.Millisecond, MaxReconnectBackoff: 100 * time.Millisecond}}
}

// open opens the given nodes together: each OpenNode waits for a quorum.
func (nc *nodeCluster) open(ids ...commitlog.NodeID) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			n, err := OpenNode(nc.config(id))
			require.NoError(nc.t, err, "node %d", id)
			mu.Lock()
			nc.nodes[id] = n
			mu.Unlock()
		})
	}
	wg.Wait()
}

func (nc *nodeCluster) close(id commitlog.NodeID) {
	require.NoError(nc.t, nc.nodes[id].Close())
	delete(nc.nodes, id)
}

// produce writes values with AckAll through the node leading t-0,
// following the leader as it moves.
func (nc *nodeCluster) produce(values ...string) {
	ctx := context.Background()
	for _, v := range values {
		eventuallyTCP(nc.t, "an acknowledged "+v, func() bool {
			for _, n := range nc.nodes {
				info, err := n.Log().Cluster()
				if err != nil || len(info.Topics) == 0 {
					continue
				}
				lead := nc.nodes[info.Topics[0].Partitions[0].Leader]
				if lead == nil {
					continue
				}
				prod, err := lead.Log().NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
				require.NoError(nc.t, err)
				err = prod.ProduceSync(ctx, &commitlog.Record{Topic: "t", Value: []byte(v)})
				require.NoError(nc.t, prod.Close())
				return err == nil
			}
			return false
		})
	}
}

// TestNodesOnLoopback: three Nodes (Log, RaftController and
// TCPTransport each) in this process on loopback; a replicated topic;
// AckAll records through the leader; the leader's node closed, the
// others elect, producing goes on; the node reopens from its directory,
// rejoins the in-sync set and holds every acknowledged record, as the
// others do; Log.Cluster names the Raft leader and the live nodes.
func TestNodesOnLoopback(t *testing.T) {
	checkNoTCPGoroutines(t)
	addrs := loopbackAddrs(t, 3)
	nc := &nodeCluster{t: t, dir: t.TempDir(), peers: map[commitlog.NodeID]string{0: addrs[0], 1: addrs[1], 2: addrs[2]},
		nodes: map[commitlog.NodeID]*Node{}}
	nc.open(0, 1, 2)
	defer func() {
		for id := range nc.nodes {
			nc.close(id)
		}
	}()
	for id, n := range nc.nodes {
		require.Equal(t, addrs[id], n.Addr().String())
		require.Equal(t, id, n.ID())
	}
	_, err := nc.nodes[0].Log().CreateTopic(context.Background(), "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2})
	require.NoError(t, err)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint("a", i))
	}
	nc.produce(want...)

	var lead commitlog.NodeID
	eventuallyTCP(t, "every node names one controller leader, all nodes live", func() bool {
		lead = commitlog.NoNode
		for _, n := range nc.nodes {
			info, err := n.Log().Cluster()
			if err != nil || info.ControllerLeader == commitlog.NoNode || (lead != commitlog.NoNode && info.ControllerLeader != lead) ||
				slices.ContainsFunc(info.Nodes, func(s commitlog.NodeStatus) bool { return !s.Live }) || len(info.Nodes) != 3 {
				return false
			}
			lead = info.ControllerLeader
		}
		return true
	})
	info, err := nc.nodes[0].Log().Cluster()
	require.NoError(t, err)
	partLead := info.Topics[0].Partitions[0].Leader

	// A follower's Partition.Append names the leader and its address.
	fp, err := nc.nodes[(partLead+1)%3].Log().Topic("t")
	require.NoError(t, err)
	p0, err := fp.Partition(0)
	require.NoError(t, err)
	_, err = p0.Append(context.Background(), []commitlog.Record{{Value: []byte("x")}})
	var nl *commitlog.NotLeaderError
	require.ErrorAs(t, err, &nl)
	require.Equal(t, partLead, nl.Leader)
	require.Equal(t, addrs[partLead], nl.LeaderAddr)
	require.Contains(t, err.Error(), addrs[partLead])

	// A Producer on a follower's node sends its batches to the leader.
	follower := nc.nodes[(partLead+1)%3]
	fprod, err := follower.Log().NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
	require.NoError(t, err)
	for i := range 10 {
		v := fmt.Sprint("f", i)
		r := &commitlog.Record{Topic: "t", Value: []byte(v)}
		require.NoError(t, fprod.ProduceSync(context.Background(), r), "through the follower, node %d", follower.ID())
		require.Equal(t, int64(len(want)), r.Offset)
		want = append(want, v)
	}
	require.NoError(t, fprod.Close())
	nc.close(partLead)
	var more []string
	for i := range 20 {
		more = append(more, fmt.Sprint("b", i))
	}
	nc.produce(more...)
	want = append(want, more...)

	nc.open(partLead)
	eventuallyTCP(t, "the reopened node back in the ISR", func() bool {
		for _, n := range nc.nodes {
			info, err := n.Log().Cluster()
			if err != nil || len(info.Topics) == 0 || len(info.Topics[0].Partitions[0].ISR) != 3 {
				return false
			}
		}
		return true
	})
	eventuallyTCP(t, "every node holds every acknowledged record", func() bool {
		for _, n := range nc.nodes {
			tp, err := n.Log().Topic("t")
			if err != nil {
				return false
			}
			p, err := tp.Partition(0)
			if err != nil {
				return false
			}
			var got []string
			for r, err := range p.Scan(context.Background(), p.StartOffset()) {
				if err != nil {
					return false
				}
				got = append(got, string(r.Value))
			}
			if !slices.Equal(got, want) {
				return false
			}
		}
		return true
	})
	n := nc.nodes[partLead]
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	delete(nc.nodes, partLead)
}

// TestOpenNodeRefusesConfig: the mistakes OpenNode refuses, with nothing
// left running.
func TestOpenNodeRefusesConfig(t *testing.T) {
	checkNoTCPGoroutines(t)
	var cfgErr *commitlog.ConfigError
	_, err := OpenNode(NodeConfig{ID: -1})
	require.ErrorAs(t, err, &cfgErr)
	require.Len(t, cfgErr.Problems, 3, "%v", cfgErr.Problems)
	_, err = OpenNode(NodeConfig{ID: 0, Dir: t.TempDir(), Peers: map[commitlog.NodeID]string{0: "127.0.0.1:0"},
		Raft: RaftConfig{SnapshotEntries: -1}})
	require.True(t, errors.As(err, &cfgErr), "a bad controller setting: %v", err)
}
