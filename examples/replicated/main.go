// Command replicated runs three replicated Logs in one process, joined by
// the in-memory network (memnet) and an in-process controller: it
// produces with AckAll, kills the leader (closes its Log), watches a
// follower take over with every acknowledged record intact, restarts the
// old leader and watches it catch up and rejoin the in-sync replicas.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// cluster is the three nodes: their directories and open Logs.
type cluster struct {
	root  string
	net   *memnet.Network
	ctrl  *commitlog.InProcessController
	nodes map[commitlog.NodeID]*commitlog.Log
}

func (c *cluster) open(id commitlog.NodeID) error {
	l, err := commitlog.Open(filepath.Join(c.root, fmt.Sprintf("node-%d", id)), &commitlog.Options{
		NodeID: id, Controller: c.ctrl, Transport: c.net,
	})
	if err != nil {
		return err
	}
	c.nodes[id] = l
	return nil
}

func run() error {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "commitlog-replicated-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	ids := []commitlog.NodeID{1, 2, 3}
	ctrl, err := commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: ids})
	if err != nil {
		return err
	}
	defer ctrl.Close()
	c := &cluster{root: root, net: memnet.New(memnet.Config{}), ctrl: ctrl, nodes: map[commitlog.NodeID]*commitlog.Log{}}
	defer c.net.Close()
	for _, id := range ids {
		if err := c.open(id); err != nil {
			return err
		}
	}
	defer func() {
		for _, l := range c.nodes {
			l.Close()
		}
	}()

	// One partition, a replica on each node; AckAll needs two in sync.
	if _, err := c.nodes[1].CreateTopic(ctx, "payments", commitlog.TopicConfig{
		ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}},
	}); err != nil {
		return err
	}
	leader, err := c.waitLeader(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Printf("created payments: replicas on nodes %v, node %d leads\n", ids, leader)

	if err := c.produce(ctx, leader, 0, 5); err != nil {
		return err
	}
	fmt.Printf("produced payment-0..4 to node %d with AckAll: on disk on every in-sync node\n", leader)

	// Kill the leader.
	if err := c.nodes[leader].Close(); err != nil {
		return err
	}
	delete(c.nodes, leader)
	old := leader
	fmt.Printf("closed node %d (the leader)\n", old)
	if leader, err = c.waitLeader(ctx, old); err != nil {
		return err
	}
	st, err := c.nodes[leader].ReplicaStatus("payments", 0)
	if err != nil {
		return err
	}
	fmt.Printf("node %d took over at leader epoch %d, in-sync replicas %v\n", leader, st.LeaderEpoch, st.ISR)

	if err := c.produce(ctx, leader, 5, 10); err != nil {
		return err
	}
	got, err := c.read(ctx, leader)
	if err != nil {
		return err
	}
	fmt.Printf("node %d holds %d payments, none lost: %v\n", leader, len(got), got)

	// Restart the old leader: it truncates to the new leader's log where
	// they differ, catches up, and rejoins the in-sync replicas.
	if err := c.open(old); err != nil {
		return err
	}
	if err := c.waitInSync(ctx, leader, old); err != nil {
		return err
	}
	again, err := c.read(ctx, old)
	if err != nil {
		return err
	}
	st, _ = c.nodes[leader].ReplicaStatus("payments", 0)
	fmt.Printf("node %d rejoined: in-sync replicas %v, and it holds the same %d payments: %v\n", old, st.ISR, len(again), slices.Equal(got, again))

	// Leadership back to the preferred replica, node 1.
	if err := c.nodes[leader].ElectPreferredLeaders(ctx, "payments"); err != nil {
		return err
	}
	if leader, err = c.waitLeader(ctx, leader); err != nil {
		return err
	}
	fmt.Printf("preferred leader election: node %d leads again\n", leader)
	return nil
}

// produce appends payment-from..to-1 to the partition on node id.
func (c *cluster) produce(ctx context.Context, id commitlog.NodeID, from, to int) error {
	t, err := c.nodes[id].Topic("payments")
	if err != nil {
		return err
	}
	p, err := t.Partition(0)
	if err != nil {
		return err
	}
	for i := from; i < to; i++ {
		if _, err := p.Append(ctx, []commitlog.Record{{Value: fmt.Appendf(nil, "payment-%d", i)}}); err != nil {
			return err
		}
	}
	return nil
}

// read returns every committed record's value on node id.
func (c *cluster) read(ctx context.Context, id commitlog.NodeID) ([]string, error) {
	t, err := c.nodes[id].Topic("payments")
	if err != nil {
		return nil, err
	}
	p, err := t.Partition(0)
	if err != nil {
		return nil, err
	}
	var values []string
	for r, err := range p.Scan(ctx, 0) {
		if err != nil {
			return nil, err
		}
		values = append(values, string(r.Value))
	}
	return values, nil
}

// waitLeader waits until a node other than not leads the partition and
// returns it.
func (c *cluster) waitLeader(ctx context.Context, not commitlog.NodeID) (commitlog.NodeID, error) {
	var leader commitlog.NodeID
	err := poll(ctx, func() bool {
		for id, l := range c.nodes {
			if st, err := l.ReplicaStatus("payments", 0); err == nil && st.Role == commitlog.RoleLeader && id != not {
				leader = id
				return true
			}
		}
		return false
	})
	return leader, err
}

// waitInSync waits until node id is in the in-sync replicas of leader's
// partition, with all of its records.
func (c *cluster) waitInSync(ctx context.Context, leader, id commitlog.NodeID) error {
	return poll(ctx, func() bool {
		st, err := c.nodes[leader].ReplicaStatus("payments", 0)
		if err != nil || !slices.Contains(st.ISR, id) {
			return false
		}
		f, err := c.nodes[id].ReplicaStatus("payments", 0)
		return err == nil && f.HighWatermark == st.HighWatermark
	})
}

// poll checks cond every 10ms for up to 30 s.
func poll(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited too long: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
