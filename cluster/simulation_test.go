package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
	"go.etcd.io/raft/v3"
)

// The seeded simulation: three Logs under RaftControllers on a memnet
// that drops, duplicates, reorders and delays messages, while nodes are
// killed (half the time the Raft leader's) as by a power failure, their
// Logs' and Raft directories left in crash states of the in-memory file
// system, restarted, and cut off from the others by network
// partitions; clients produce throughout. Afterwards the network heals,
// every node runs, and the history is checked:
//
//	(a) no acknowledged loss: every acknowledged record is in the
//	    partition's final log, in the order of acknowledgement;
//	(b) prefix-consistent logs: every node's log is the same;
//	(c) at most one leader per leader epoch, and one record per partition
//	    epoch, over every update any node heard;
//	(d) no split brain: a leader cut off from the others acknowledges
//	    nothing more than ReplicaLagTime after the cut.
//
// A leader cut off from the quorum that kept acknowledging would show as
// (a): the records it acknowledged alone are lost when another leads.
//
// COMMITLOG_RAFT_SIM_SEEDS sets how many seeds run (default 100);
// COMMITLOG_RAFT_SIM_SEED runs one alone: the command a failure prints.

const defaultRaftSimSeeds = 100

func TestRaftSimulation(t *testing.T) {
	var seeds []uint64
	if s := os.Getenv("COMMITLOG_RAFT_SIM_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COMMITLOG_RAFT_SIM_SEED=%q: %v", s, err)
		}
		seeds = append(seeds, seed)
	} else {
		n := defaultRaftSimSeeds
		if s := os.Getenv("COMMITLOG_RAFT_SIM_SEEDS"); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil {
				t.Fatalf("COMMITLOG_RAFT_SIM_SEEDS=%q: %v", s, err)
			}
		}
		if testing.Short() {
			n = min(n, 10)
		}
		for i := range n {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("replay: COMMITLOG_RAFT_SIM_SEED=%d go test -run 'TestRaftSimulation' -count=1 ./cluster", seed)
				}
			}()
			synctest.Test(t, func(t *testing.T) { runRaftSimulation(t, seed) })
		})
	}
}

func runRaftSimulation(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	faults := memnet.Faults{Drop: 0.05, Duplicate: 0.05, Reorder: 0.1, MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	epochs := &epochChecker{}
	// Snapshots every few entries, so that restarted and cut-off nodes
	// catch up from the leader's snapshot as often as from its log.
	lc := newFaultyLogCluster(t, seed, faults, epochs, 2+int(seed%7))
	ctx := context.Background()
	lc.eventually("the topic created", func() bool {
		_, err := lc.logs[0].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2})
		return err == nil || errorsIsExists(err)
	})

	var acked []string
	// hist is the history histcheck checks at the end: every append, its
	// outcome, and the final log. Each append is a producer of its own (a
	// client's single call), so that only acknowledged records' order is
	// compared.
	hist := histcheck.NewRecorder(histcheck.Config{})
	histPart := histcheck.Partition{Topic: "t", ID: 0}
	// isolated says since when each node has been cut off from the
	// others: a leader cut off from the quorum must stop acknowledging
	// within ReplicaLagTime (it cannot shrink its ISR without the
	// controller, and its followers cannot fetch), so an append at it
	// that succeeds later is split brain.
	isolated := map[commitlog.NodeID]time.Time{}
	lagTime := lc.logOptions(0).ReplicaLagTime
	next := 0
	produce := func() {
		id := lc.nodes[rng.IntN(len(lc.nodes))]
		if lc.logs[id] == nil {
			return
		}
		md, err := lc.ctrl[id].Describe("t")
		if err != nil || lc.logs[md.Partitions[0].Leader] == nil {
			return
		}
		v := fmt.Sprint("v", next)
		next++
		// Up to three times ReplicaLagTime: long enough for a cut-off
		// leader that kept acknowledging to be seen doing so.
		actx, cancel := context.WithTimeout(ctx, time.Duration(300+rng.IntN(2700))*time.Millisecond)
		defer cancel()
		lead := md.Partitions[0].Leader
		res, err := lc.appendAtCtx(actx, lead, "t", v)
		recordSend(hist.Send(fmt.Sprint("client", next), histPart, v), res, err)
		if err == nil {
			acked = append(acked, v)
			if since, ok := isolated[lead]; ok && time.Since(since) > lagTime {
				t.Errorf("split brain: node %d acknowledged %s %v after it was cut off, more than ReplicaLagTime %v",
					lead, v, time.Since(since), lagTime)
			}
		}
	}
	for range 25 {
		switch r := rng.IntN(10); {
		case r < 5:
			for range 1 + rng.IntN(3) {
				produce()
			}
		case r < 7: // kill a node, the Raft leader's every other time, leaving its Raft state in a crash state
			id := lc.nodes[rng.IntN(len(lc.nodes))]
			if rng.IntN(2) == 0 {
				for n, c := range lc.ctrl {
					if c.status().RaftState == raft.StateLeader {
						id = n
					}
				}
			}
			if lc.logs[id] != nil && len(lc.logs) == len(lc.nodes) {
				lc.crash(id, rng)
			}
		case r < 8: // restart the stopped nodes (healed first: Open waits for a quorum)
			lc.net.Heal()
			clear(isolated)
			for _, id := range lc.nodes {
				if lc.logs[id] == nil {
					lc.start(id)
				}
			}
		case r < 9: // cut a node off
			id := lc.nodes[rng.IntN(len(lc.nodes))]
			lc.net.Isolate(id)
			if _, ok := isolated[id]; !ok {
				isolated[id] = time.Now()
			}
		default:
			lc.net.Heal()
			clear(isolated)
		}
		for range 1 + rng.IntN(30) {
			advance()
		}
	}

	// Heal, run everything, and let the cluster settle.
	lc.net.Heal()
	clear(isolated)
	lc.net.SetFaults(memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
	for _, id := range lc.nodes {
		if lc.logs[id] == nil {
			lc.start(id)
		}
	}
	lc.eventually("a leader and a full ISR", func() bool {
		p, ok := lc.describe(0, "t")
		return ok && p.Leader != commitlog.NoNode && len(p.ISR) == 3
	})
	produce()
	var logs [][]string
	lc.eventually("every node's log the same", func() bool {
		logs = logs[:0]
		for _, id := range lc.nodes {
			logs = append(logs, lc.values(id, "t"))
		}
		return slices.Equal(logs[0], logs[1]) && slices.Equal(logs[0], logs[2])
	})
	if !isSubsequence(acked, logs[0]) {
		t.Fatalf("acknowledged records lost or reordered:\nacknowledged %v\nfinal log    %v", acked, logs[0])
	}
	for _, id := range lc.nodes {
		tp, err := lc.logs[id].Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		p, err := tp.Partition(0)
		if err != nil {
			t.Fatal(err)
		}
		var reads []histcheck.Read
		for r, err := range p.Scan(ctx, p.StartOffset()) {
			if err != nil {
				t.Fatal(err)
			}
			reads = append(reads, histcheck.Read{Partition: histPart, Offset: r.Offset, Value: string(r.Value)})
		}
		hist.Final(histPart, p.StartOffset(), p.EndOffset(), reads)
	}
	if err := hist.Check(histcheck.Options{RequireSeen: true}).Err(); err != nil {
		t.Fatalf("history: %v", err)
	}
	if err := epochs.err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range lc.nodes {
		if lc.ctrl[id].snapshotIndex() == 0 {
			t.Errorf("node %d never snapshotted: the simulation did not exercise snapshots", id)
		}
	}
}

// crash kills node id as a power failure would: its links are cut, so
// that nothing it does from now on reaches the others; both its
// directories (the Log's and the Raft state's) are replaced by crash
// states of this moment (what was fsynced, some of the rest, torn
// writes); the abandoned Log and controller are closed, their last
// writes going to the discarded file systems; and the links come back,
// for the node's next start.
func (lc *logCluster) crash(id commitlog.NodeID, rng *rand.Rand) {
	for _, n := range lc.nodes {
		if n != id {
			lc.net.Block(id, n)
			lc.net.Block(n, id)
		}
	}
	raftFS := lc.fs[id].CrashClone(vfs.CrashOptions{Seed: int64(rng.Uint64() >> 1), KeepUnsynced: rng.Float64(), Tear: true})
	logFS := lc.lfs[id].CrashClone(vfs.CrashOptions{Seed: int64(rng.Uint64() >> 1), KeepUnsynced: rng.Float64(), Tear: true})
	lc.stop(id)
	lc.fs[id], lc.lfs[id] = raftFS, logFS
	for _, n := range lc.nodes {
		if n != id {
			lc.net.Unblock(id, n)
			lc.net.Unblock(n, id)
		}
	}
}

func errorsIsExists(err error) bool { return err != nil && isErr(err, commitlog.ErrTopicExists) }

func (lc *logCluster) appendAtCtx(ctx context.Context, id commitlog.NodeID, topic, value string) (commitlog.AppendResult, error) {
	tp, err := lc.logs[id].Topic(topic)
	if err != nil {
		return commitlog.AppendResult{}, err
	}
	p, err := tp.Partition(0)
	if err != nil {
		return commitlog.AppendResult{}, err
	}
	return p.Append(ctx, []commitlog.Record{{Value: []byte(value)}})
}

// recordSend records an append's outcome in the history: acknowledged
// (durable: SyncAlways and AckAll) at its offset, refused before
// anything was written (not the leader, too few in-sync replicas), or
// unknown (a timeout, the leadership or too few in-sync replicas lost
// after the append, a node closing under it).
func recordSend(s *histcheck.Send, res commitlog.AppendResult, err error) {
	var nl *commitlog.NotLeaderError
	switch {
	case err == nil:
		s.Ok(res.BaseOffset)
	case errors.As(err, &nl) && !nl.AfterAppend && !errors.Is(err, commitlog.ErrClosed),
		errors.Is(err, commitlog.ErrNotEnoughReplicas) && !errors.Is(err, commitlog.ErrNotEnoughReplicasAfterAppend),
		errors.Is(err, commitlog.ErrUnknownTopic):
		s.Fail()
	default:
		s.Unknown()
	}
}

// isSubsequence reports whether sub's elements appear in all, in order.
func isSubsequence(sub, all []string) bool {
	i := 0
	for _, v := range all {
		if i < len(sub) && sub[i] == v {
			i++
		}
	}
	return i == len(sub)
}

// recordingController is a node's RaftController with every update its
// Log hears shown to an epochChecker.
type recordingController struct {
	*RaftController
	node   commitlog.NodeID
	epochs *epochChecker
}

func (r recordingController) Join(ctx context.Context, node commitlog.NodeID, apply func(commitlog.ClusterUpdate)) (func(), error) {
	return r.RaftController.Join(ctx, node, func(u commitlog.ClusterUpdate) {
		r.epochs.note(r.node, u)
		apply(u)
	})
}

// epochChecker checks (c): one leader per leader epoch and one record
// per partition epoch, over every update of every node.
type epochChecker struct {
	mu       sync.Mutex
	leaders  map[string]commitlog.NodeID // topic/partition/leader epoch
	records  map[string]string           // topic/partition/partition epoch
	problems []string
}

func (e *epochChecker) note(node commitlog.NodeID, u commitlog.ClusterUpdate) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leaders == nil {
		e.leaders, e.records = map[string]commitlog.NodeID{}, map[string]string{}
	}
	for _, t := range u.Topics {
		for _, p := range t.Partitions {
			lk := fmt.Sprintf("%s/%d/%d", t.Name, p.Partition, p.LeaderEpoch)
			if l, ok := e.leaders[lk]; ok && l != p.Leader {
				e.problems = append(e.problems, fmt.Sprintf("node %d heard leader %d for %s (leader epoch), another node %d", node, p.Leader, lk, l))
			}
			e.leaders[lk] = p.Leader
			pk := fmt.Sprintf("%s/%d/%d", t.Name, p.Partition, p.PartitionEpoch)
			rec := fmt.Sprint(p)
			if r, ok := e.records[pk]; ok && r != rec {
				e.problems = append(e.problems, fmt.Sprintf("node %d heard %s for %s (partition epoch), another %s", node, rec, pk, r))
			}
			e.records[pk] = rec
		}
	}
}

func (e *epochChecker) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.problems) > 0 {
		return fmt.Errorf("epoch anomalies: %v", e.problems)
	}
	return nil
}

func isErr(err, target error) bool { return errors.Is(err, target) }
