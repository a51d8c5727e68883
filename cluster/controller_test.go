package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/commitlog-go/commitlog/memnet"
	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"
)

// updates records what a joined node heard, and folds it into the
// node's view of the metadata.
type updates struct {
	mu   sync.Mutex
	all  []commitlog.ClusterUpdate
	view map[string]commitlog.TopicMetadata
}

func (u *updates) apply(cu commitlog.ClusterUpdate) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.all = append(u.all, cu)
	if cu.Snapshot || u.view == nil {
		if cu.Snapshot {
			u.view = map[string]commitlog.TopicMetadata{}
		} else {
			u.view = map[string]commitlog.TopicMetadata{}
		}
	}
	for _, t := range cu.Topics {
		if t.Deleted {
			delete(u.view, t.Name)
		} else {
			u.view[t.Name] = t
		}
	}
}

func (u *updates) topic(name string) (commitlog.TopicMetadata, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.view[name]
	return t, ok
}

// testCluster is n RaftControllers on one memnet, each with its own
// MemFS, joined by a recorder standing in for the node's Log.
type testCluster struct {
	t     *testing.T
	net   *memnet.Network
	mux   *Mux
	nodes []commitlog.NodeID
	fs    map[commitlog.NodeID]*vfs.MemFS
	ctrl  map[commitlog.NodeID]*RaftController
	leave map[commitlog.NodeID]func()
	seen  map[commitlog.NodeID]*updates
	// snapshotEntries is the controllers' RaftConfig.SnapshotEntries.
	snapshotEntries int
}

func newTestCluster(t *testing.T, n int, faults memnet.Faults, seed int64) *testCluster {
	return newSnapshottingTestCluster(t, n, faults, seed, 0)
}

// newSnapshottingTestCluster is newTestCluster with the controllers'
// RaftConfig.SnapshotEntries.
func newSnapshottingTestCluster(t *testing.T, n int, faults memnet.Faults, seed int64, snapshotEntries int) *testCluster {
	net := memnet.New(memnet.Config{Seed: uint64(seed), Faults: faults, Encode: true})
	tc := &testCluster{t: t, net: net, mux: NewMux(net), fs: map[commitlog.NodeID]*vfs.MemFS{},
		ctrl: map[commitlog.NodeID]*RaftController{}, leave: map[commitlog.NodeID]func(){}, seen: map[commitlog.NodeID]*updates{},
		snapshotEntries: snapshotEntries}
	for i := range n {
		tc.nodes = append(tc.nodes, commitlog.NodeID(i))
	}
	for _, id := range tc.nodes {
		tc.fs[id] = vfs.NewMem()
		tc.start(id)
	}
	t.Cleanup(func() {
		for _, id := range tc.nodes {
			tc.stop(id)
		}
		net.Close()
	})
	// Every node registered before the test starts: a topic created
	// earlier would leave the unregistered ones out of its ISRs, which
	// only a Log's AlterISR (there is none here) brings them back into.
	tc.eventually("every node registered", func() bool {
		c := tc.ctrl[tc.leader()]
		for _, id := range tc.nodes {
			if !c.live(id) {
				return false
			}
		}
		return true
	})
	return tc
}

func (tc *testCluster) start(id commitlog.NodeID) {
	tc.startWith(id, false)
}

// startWith starts node id's controller, joining a running cluster when
// join is set, and joins it.
func (tc *testCluster) startWith(id commitlog.NodeID, join bool) {
	c, err := NewRaftController(RaftConfig{Node: id, Nodes: tc.nodes, Dir: "raft", FS: tc.fs[id], Mux: tc.mux,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: tc.snapshotEntries, Join: join})
	require.NoError(tc.t, err)
	tc.ctrl[id] = c
	u := &updates{}
	leave, err := c.Join(context.Background(), id, u.apply)
	require.NoError(tc.t, err)
	tc.leave[id], tc.seen[id] = leave, u
}

// stop leaves and closes node id's controller, as a node's Close does.
func (tc *testCluster) stop(id commitlog.NodeID) {
	if c := tc.ctrl[id]; c != nil {
		tc.leave[id]()
		require.NoError(tc.t, c.Close())
		delete(tc.ctrl, id)
	}
}

// leader waits for a Raft leader among the running controllers and
// returns its node.
func (tc *testCluster) leader() commitlog.NodeID {
	tc.t.Helper()
	for range 1000 {
		for id, c := range tc.ctrl {
			if c.status().RaftState == raft.StateLeader {
				return id
			}
		}
		advance()
	}
	tc.t.Fatal("no Raft leader")
	return commitlog.NoNode
}

// eventually waits, in virtual time, until cond holds.
func (tc *testCluster) eventually(what string, cond func() bool) {
	tc.t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		advance()
	}
	tc.t.Fatalf("never: %s", what)
}

// advance moves the bubble's virtual clock on by one controller tick and
// lets every goroutine run until all are blocked: the ticks are what make
// Raft elect and time sessions out.
func advance() {
	time.Sleep(10 * time.Millisecond)
	synctest.Wait()
}

func topicSpec(name string, partitions int32, rf int16) commitlog.TopicSpec {
	return commitlog.TopicSpec{Name: name, Config: commitlog.TopicConfig{Partitions: partitions, ReplicationFactor: rf}}
}

// TestRaftControllerReplicatesMetadata: a topic created through any node
// reaches every node with the same record; the errors of the state
// machine come back to the caller.
func TestRaftControllerReplicatesMetadata(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 1)
		lead := tc.leader()
		follower := (lead + 1) % 3
		ctx := context.Background()
		require.NoError(t, tc.ctrl[follower].CreateTopic(ctx, topicSpec("orders", 3, 3)))
		require.ErrorIs(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("orders", 3, 3)), commitlog.ErrTopicExists)
		var cfgErr *commitlog.ConfigError
		require.ErrorAs(t, tc.ctrl[follower].CreateTopic(ctx, topicSpec("big", 1, 4)), &cfgErr)
		tc.eventually("every node knows orders", func() bool {
			for _, id := range tc.nodes {
				if _, ok := tc.seen[id].topic("orders"); !ok {
					return false
				}
			}
			return true
		})
		want, _ := tc.seen[0].topic("orders")
		for _, id := range tc.nodes {
			got, _ := tc.seen[id].topic("orders")
			require.Equal(t, want, got, "node %d", id)
		}
		require.Len(t, want.Partitions, 3)
		for _, p := range want.Partitions {
			require.Len(t, p.ISR, 3, "every node was live at creation")
		}
		require.ErrorIs(t, tc.ctrl[lead].DeleteTopic(ctx, "nope"), commitlog.ErrUnknownTopic)
		require.NoError(t, tc.ctrl[lead].DeleteTopic(ctx, "orders"))
		tc.eventually("every node forgot orders", func() bool {
			for _, id := range tc.nodes {
				if _, ok := tc.seen[id].topic("orders"); ok {
					return false
				}
			}
			return true
		})
	})
}

// TestRaftControllerLeaderCrash: the Raft leader's node crashes (its
// controller stops, its directory is left in a crash state); the others
// elect a new leader, which fences the dead node after the session
// timeout, moving the partitions it led and shrinking their in-sync
// sets; metadata changes continue; the node restarts from its crash
// state and rejoins: it is live again and its view matches the others.
func TestRaftControllerLeaderCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 2)
		ctx := context.Background()
		lead := tc.leader()
		require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("orders", 3, 3)))

		// Crash: no leave, the controller just stops; the disk keeps what
		// was synced, with some of the rest.
		require.NoError(t, tc.ctrl[lead].Close())
		delete(tc.ctrl, lead)
		tc.fs[lead] = tc.fs[lead].CrashClone(vfs.CrashOptions{Seed: 7, KeepUnsynced: 0.5, Tear: true})

		newLead := tc.leader()
		require.NotEqual(t, lead, newLead)
		tc.eventually("the crashed node leads nothing and left every ISR", func() bool {
			md, ok := tc.seen[newLead].topic("orders")
			if !ok {
				return false
			}
			for _, p := range md.Partitions {
				if p.Leader == lead || p.Leader == commitlog.NoNode || len(p.ISR) != 2 {
					return false
				}
			}
			return true
		})
		require.NoError(t, tc.ctrl[newLead].CreateTopic(ctx, topicSpec("payments", 2, 2)))

		tc.start(lead)
		tc.eventually("the restarted node hears the metadata", func() bool {
			tc.seen[lead].mu.Lock()
			defer tc.seen[lead].mu.Unlock()
			return len(tc.seen[lead].all) > 0
		})
		// Its first update is current (it replayed its log before telling
		// its Log anything): a snapshot with the topic created while it was
		// down.
		tc.seen[lead].mu.Lock()
		first := tc.seen[lead].all[0]
		tc.seen[lead].mu.Unlock()
		require.True(t, first.Snapshot)
		require.Len(t, first.Topics, 2, "the first update is stale: %v", first)
		tc.eventually("the restarted node is back in the ISRs", func() bool {
			return tc.ctrl[newLead].live(lead)
		})
		tc.eventually("the restarted node's view matches", func() bool {
			for _, name := range []string{"orders", "payments"} {
				a, okA := tc.seen[lead].topic(name)
				b, okB := tc.seen[newLead].topic(name)
				if !okA || !okB || fmt.Sprint(a) != fmt.Sprint(b) {
					return false
				}
			}
			return true
		})
	})
}

// TestRaftControllerSyncFailure: a node whose Raft state fails to fsync
// stops taking part (it may not send what it could not make durable):
// its calls fail with ErrControllerUnreachable, while the other two
// carry on.
func TestRaftControllerSyncFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := memnet.New(memnet.Config{Seed: 4})
		defer net.Close()
		mux := NewMux(net)
		nodes := []commitlog.NodeID{0, 1, 2}
		var failing sync.Mutex
		fail := false
		ctrls := map[commitlog.NodeID]*RaftController{}
		for _, id := range nodes {
			var fs vfs.FS = vfs.NewMem()
			if id == 2 {
				fs = vfs.WithInjector(fs, vfs.InjectorFunc(func(op vfs.Op, _ string) error {
					failing.Lock()
					defer failing.Unlock()
					if fail && op == vfs.OpSync {
						return vfs.ErrInjected
					}
					return nil
				}), vfs.InjectOptions{})
			}
			c, err := NewRaftController(RaftConfig{Node: id, Nodes: nodes, Dir: "raft", FS: fs, Mux: mux, TickInterval: 10 * time.Millisecond})
			require.NoError(t, err)
			defer c.Close()
			ctrls[id] = c
			_, err = c.Join(context.Background(), id, func(commitlog.ClusterUpdate) {})
			require.NoError(t, err)
		}
		ctx := context.Background()
		require.NoError(t, ctrls[2].CreateTopic(ctx, topicSpec("a", 1, 3)))
		failing.Lock()
		fail = true
		failing.Unlock()
		err := ctrls[2].CreateTopic(ctx, topicSpec("b", 1, 3))
		require.ErrorIs(t, err, commitlog.ErrControllerUnreachable)
		require.ErrorIs(t, err, vfs.ErrInjected)
		require.ErrorIs(t, ctrls[2].DeleteTopic(ctx, "a"), commitlog.ErrControllerUnreachable, "and every call after")
		require.NoError(t, ctrls[0].CreateTopic(ctx, topicSpec("c", 1, 2)), "the other two are a quorum")
	})
}

// TestRaftControllerSessionTimeout: a node cut off from the others stops
// heartbeating to the Raft leader, which fences it after the session
// timeout (it leaves every in-sync set, its leaderships move); once the
// network heals, the node finds itself down in the metadata, registers
// again and is live.
func TestRaftControllerSessionTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 5)
		ctx := context.Background()
		lead := tc.leader()
		require.NoError(t, tc.ctrl[lead].CreateTopic(ctx, topicSpec("orders", 3, 3)))
		cut := (lead + 1) % 3
		tc.net.Isolate(cut)
		start := time.Now()
		tc.eventually("the cut node fenced", func() bool { return !tc.ctrl[lead].live(cut) })
		session := 30 * 10 * time.Millisecond // the default: 30 ticks
		require.GreaterOrEqual(t, time.Since(start), session, "fenced before its session expired")
		md, err := tc.ctrl[lead].Describe("orders")
		require.NoError(t, err)
		for _, p := range md.Partitions {
			require.NotEqual(t, cut, p.Leader)
			require.NotContains(t, p.ISR, cut)
		}
		tc.net.Heal()
		tc.eventually("the node live again", func() bool { return tc.ctrl[tc.leader()].live(cut) })
	})
}

// TestRaftControllerFencesAFailedLeaderASessionAfterItsLastMessage: the
// Raft leader cut off (as by a kill) is fenced by the leader elected
// after it one session after its last message, not one session after
// that election: the election overlaps the session.
func TestRaftControllerFencesAFailedLeaderASessionAfterItsLastMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newTestCluster(t, 3, memnet.Faults{}, 5)
		ctx := context.Background()
		old := tc.leader()
		require.NoError(t, tc.ctrl[old].CreateTopic(ctx, topicSpec("orders", 3, 3)))
		tc.net.Isolate(old)
		start := time.Now()
		var lead commitlog.NodeID
		tc.eventually("the old leader fenced by a new one", func() bool {
			for id, c := range tc.ctrl {
				if id != old && c.status().RaftState == raft.StateLeader && !c.live(old) {
					lead = id
					return true
				}
			}
			return false
		})
		session, election := 30*10*time.Millisecond, 10*10*time.Millisecond // the defaults, 10ms ticks
		took := time.Since(start)
		require.GreaterOrEqual(t, took, session, "fenced before its session expired")
		require.Less(t, took, session+election, "fenced a session after the new leader's election")
		md, err := tc.ctrl[lead].Describe("orders")
		require.NoError(t, err)
		for _, p := range md.Partitions {
			require.NotEqual(t, old, p.Leader)
		}
		tc.net.Heal()
		tc.eventually("the old leader live again", func() bool { return tc.ctrl[tc.leader()].live(old) })
	})
}
