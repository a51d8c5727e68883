package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/testfs"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
)

// logCluster is three Logs, each with a RaftController, on one memnet:
// the Logs' data and the Raft state on MemFS, one of each per node.
type logCluster struct {
	t     *testing.T
	net   *memnet.Network
	mux   *Mux
	nodes []commitlog.NodeID
	fs    map[commitlog.NodeID]*vfs.MemFS // the Raft state's
	lfs   map[commitlog.NodeID]*vfs.MemFS // the Log's
	ctrl  map[commitlog.NodeID]*RaftController
	logs  map[commitlog.NodeID]*commitlog.Log
	// epochs, when set, sees every update each Log hears.
	epochs *epochChecker
	// snapshotEntries is the controllers' RaftConfig.SnapshotEntries.
	snapshotEntries int
}

func newLogCluster(t *testing.T) *logCluster {
	return newFaultyLogCluster(t, 3, memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond}, nil, 0)
}

func newFaultyLogCluster(t *testing.T, seed uint64, faults memnet.Faults, epochs *epochChecker, snapshotEntries int) *logCluster {
	net := memnet.New(memnet.Config{Seed: seed, Faults: faults})
	lc := &logCluster{t: t, net: net, mux: NewMux(net), nodes: []commitlog.NodeID{0, 1, 2},
		fs: map[commitlog.NodeID]*vfs.MemFS{}, lfs: map[commitlog.NodeID]*vfs.MemFS{}, ctrl: map[commitlog.NodeID]*RaftController{}, logs: map[commitlog.NodeID]*commitlog.Log{},
		epochs: epochs, snapshotEntries: snapshotEntries}
	for _, id := range lc.nodes {
		lc.fs[id] = vfs.NewMem()
		lc.lfs[id] = vfs.NewMem()
		lc.startController(id)
	}
	// The Logs open together: each Open waits for a quorum of controllers.
	var wg sync.WaitGroup
	logs := make([]*commitlog.Log, len(lc.nodes))
	for i, id := range lc.nodes {
		wg.Go(func() {
			l, err := commitlog.Open("/log", lc.logOptions(id))
			if err == nil {
				logs[i] = l
			}
		})
	}
	wg.Wait()
	for i, id := range lc.nodes {
		require.NotNil(t, logs[i], "node %d's Log did not open", id)
		lc.logs[id] = logs[i]
	}
	t.Cleanup(func() {
		for _, id := range lc.nodes {
			lc.stop(id)
		}
		net.Close()
	})
	return lc
}

// start starts node id: its controller, then its Log, whose Open waits
// until the controller quorum has registered the node.
func (lc *logCluster) start(id commitlog.NodeID) {
	lc.startController(id)
	lc.openLog(id)
}

func (lc *logCluster) startController(id commitlog.NodeID) {
	c, err := NewRaftController(RaftConfig{Node: id, Nodes: lc.nodes, Dir: "raft", FS: lc.fs[id], Mux: lc.mux, TickInterval: 10 * time.Millisecond,
		SnapshotEntries: lc.snapshotEntries})
	require.NoError(lc.t, err)
	lc.ctrl[id] = c
}

func (lc *logCluster) logOptions(id commitlog.NodeID) *commitlog.Options {
	var ctrl commitlog.Controller = lc.ctrl[id]
	if lc.epochs != nil {
		ctrl = recordingController{RaftController: lc.ctrl[id], node: id, epochs: lc.epochs}
	}
	o := &commitlog.Options{NodeID: id, Controller: ctrl, Transport: lc.mux,
		ReplicaLagTime: time.Second, ReplicaFetchMaxWait: 50 * time.Millisecond}
	testfs.SetOptionsFS(o, lc.lfs[id])
	return o
}

func (lc *logCluster) openLog(id commitlog.NodeID) {
	l, err := commitlog.Open("/log", lc.logOptions(id))
	require.NoError(lc.t, err)
	lc.logs[id] = l
}

// stop closes node id: its Log (which leaves the controller), then its
// controller.
func (lc *logCluster) stop(id commitlog.NodeID) {
	if l := lc.logs[id]; l != nil {
		require.NoError(lc.t, l.Close())
		require.NoError(lc.t, lc.ctrl[id].Close())
		delete(lc.logs, id)
		delete(lc.ctrl, id)
	}
}

func (lc *logCluster) eventually(what string, cond func() bool) {
	lc.t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		advance()
	}
	lc.t.Fatalf("never: %s", what)
}

// describe returns partition 0 of topic as node id's controller has it.
func (lc *logCluster) describe(id commitlog.NodeID, topic string) (commitlog.PartitionMetadata, bool) {
	md, err := lc.ctrl[id].Describe(topic)
	if err != nil {
		return commitlog.PartitionMetadata{}, false
	}
	return md.Partitions[0], true
}

func (lc *logCluster) appendAt(id commitlog.NodeID, topic string, value string) error {
	tp, err := lc.logs[id].Topic(topic)
	if err != nil {
		return err
	}
	p, err := tp.Partition(0)
	if err != nil {
		return err
	}
	_, err = p.Append(context.Background(), []commitlog.Record{{Value: []byte(value)}})
	return err
}

func (lc *logCluster) values(id commitlog.NodeID, topic string) []string {
	tp, err := lc.logs[id].Topic(topic)
	require.NoError(lc.t, err)
	p, err := tp.Partition(0)
	require.NoError(lc.t, err)
	var out []string
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(lc.t, err)
		out = append(out, string(r.Value))
	}
	return out
}

// TestRaftControllerLogs: three Logs under RaftControllers replicate a
// topic; the Raft leader's node is killed; the controller re-elects, the
// partition's leadership moves to a survivor, and producing (acks all,
// two in-sync replicas required) continues; the node restarts from a
// crash state of its Raft directory, rejoins the in-sync set and holds
// every acknowledged record.
func TestRaftControllerLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := newLogCluster(t)
		ctx := context.Background()
		_, err := lc.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2})
		require.NoError(t, err)
		lc.eventually("a leader with a full ISR", func() bool {
			p, ok := lc.describe(0, "t")
			return ok && p.Leader != commitlog.NoNode && len(p.ISR) == 3
		})
		var acked []string
		produce := func(n int) {
			for range n {
				v := fmt.Sprint("v", len(acked))
				lc.eventually("an acknowledged append of "+v, func() bool {
					p, ok := lc.describe(lc.someNode(), "t")
					if !ok || lc.logs[p.Leader] == nil {
						return false
					}
					return lc.appendAt(p.Leader, "t", v) == nil
				})
				acked = append(acked, v)
			}
		}
		produce(5)

		var raftLead commitlog.NodeID = commitlog.NoNode
		lc.eventually("a Raft leader", func() bool {
			for id, c := range lc.ctrl {
				if c.status().RaftState == raft.StateLeader {
					raftLead = id
					return true
				}
			}
			return false
		})
		lc.stop(raftLead)
		lc.fs[raftLead] = lc.fs[raftLead].CrashClone(vfs.CrashOptions{Seed: 11, KeepUnsynced: 0.5, Tear: true})

		lc.eventually("the partition led by a survivor, the dead node out of the ISR", func() bool {
			p, ok := lc.describe(lc.someNode(), "t")
			return ok && p.Leader != raftLead && p.Leader != commitlog.NoNode && !slices.Contains(p.ISR, raftLead)
		})
		produce(5)

		lc.start(raftLead)
		lc.eventually("the restarted node back in the ISR", func() bool {
			p, ok := lc.describe(raftLead, "t")
			return ok && len(p.ISR) == 3
		})
		produce(2)
		lc.eventually("every node holds every acknowledged record", func() bool {
			for _, id := range lc.nodes {
				if !slices.Equal(acked, lc.values(id, "t")) {
					return false
				}
			}
			return true
		})
	})
}

// someNode returns a running node.
func (lc *logCluster) someNode() commitlog.NodeID {
	for _, id := range lc.nodes {
		if lc.logs[id] != nil {
			return id
		}
	}
	return commitlog.NoNode
}

// TestRaftControllerNoSplitBrain: a partition leader cut off from every
// other node (the controller quorum among them) stops acknowledging
// acks-all appends at once: its followers do not fetch, and it cannot
// shrink the in-sync set without the controller, so the high watermark
// stays put. Its appends time out, the others elect a new leader, and
// after the heal no acknowledged record is missing.
func TestRaftControllerNoSplitBrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := newLogCluster(t)
		ctx := context.Background()
		_, err := lc.logs[0].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2})
		require.NoError(t, err)
		var p commitlog.PartitionMetadata
		lc.eventually("a leader with a full ISR", func() bool {
			var ok bool
			p, ok = lc.describe(0, "t")
			return ok && p.Leader != commitlog.NoNode && len(p.ISR) == 3
		})
		old := p.Leader
		require.NoError(t, lc.appendAt(old, "t", "before"))
		lc.net.Isolate(old)
		cut := time.Now()
		for i := range 30 {
			actx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err := lc.appendAtCtx(actx, old, "t", fmt.Sprint("cut", i))
			cancel()
			require.Error(t, err, "append %d acknowledged %v after the cut, by a leader cut off from the quorum", i, time.Since(cut))
		}
		survivor := (old + 1) % 3
		lc.eventually("a new leader among the others", func() bool {
			q, ok := lc.describe(survivor, "t")
			return ok && q.Leader != old && q.Leader != commitlog.NoNode
		})
		q, _ := lc.describe(survivor, "t")
		require.NoError(t, lc.appendAt(q.Leader, "t", "after"))
		lc.net.Heal()
		lc.eventually("every node holds before and after, in order", func() bool {
			for _, id := range lc.nodes {
				if !isSubsequence([]string{"before", "after"}, lc.values(id, "t")) {
					return false
				}
			}
			return true
		})
	})
}
