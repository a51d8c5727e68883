package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// replicatedMinInSync is the MinInSyncReplicas of the replicated runs'
// topic: an AckAll append is refused unless two replicas are in sync.
const replicatedMinInSync = 2

// clusterReadyTimeout bounds the wait for a new cluster's leader and
// in-sync replicas, in both replicated systems.
const clusterReadyTimeout = 30 * time.Second

// commitlogCluster is o.replicas Logs in one process, node i in
// dir/node-i, joined by the in-memory network and an InProcessController,
// with the harness's topic replicated on all of them and led by node 1. It
// produces through a Producer with AckAll on the leader's Log, so an
// append is acknowledged once it is below the high watermark: on every
// in-sync replica, and on disk on them under SyncAlways.
type commitlogCluster struct {
	net  *memnet.Network
	ctrl *commitlog.InProcessController
	logs []*commitlog.Log // by node, node 1 (the leader) first; nil once closed
	part *commitlog.Partition
	prod *commitlog.Producer
	pool sync.Pool  // *commitlog.Record, owned by the Producer until its promise
	errs firstError // the first error a promise reported
}

func openCommitlogCluster(ctx context.Context, dir string, o storeOptions) (store, error) {
	if o.replicas < replicatedMinInSync {
		return nil, fmt.Errorf("a replicated commitlog needs at least %d replicas, not %d", replicatedMinInSync, o.replicas)
	}
	policy := commitlog.SyncNever
	if o.durable {
		policy = commitlog.SyncAlways
	}
	ids := make([]commitlog.NodeID, o.replicas)
	for i := range ids {
		ids[i] = commitlog.NodeID(i + 1)
	}
	ctrl, err := commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: ids})
	if err != nil {
		return nil, err
	}
	c := &commitlogCluster{net: memnet.New(memnet.Config{}), ctrl: ctrl,
		pool: sync.Pool{New: func() any { return new(commitlog.Record) }}}
	for _, id := range ids {
		l, err := commitlog.Open(filepath.Join(dir, fmt.Sprintf("node-%d", id)), &commitlog.Options{
			Sync: policy, NodeID: id, Controller: ctrl, Transport: c.net,
		})
		if err != nil {
			c.close()
			return nil, err
		}
		c.logs = append(c.logs, l)
	}
	fail := func(err error) (store, error) {
		c.close()
		return nil, err
	}
	t, err := c.logs[0].CreateTopic(ctx, benchTopic, commitlog.TopicConfig{
		Partitions: 1, ReplicationFactor: int16(o.replicas), MinInSyncReplicas: replicatedMinInSync,
		Replicas: [][]commitlog.NodeID{ids},
	})
	if err != nil {
		return fail(err)
	}
	if c.part, err = t.Partition(0); err != nil {
		return fail(err)
	}
	if err := c.waitReady(ctx); err != nil {
		return fail(err)
	}
	if c.prod, err = c.logs[0].NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll}); err != nil {
		return fail(err)
	}
	return c, nil
}

// waitReady waits until node 1 leads the partition with every replica in
// sync and known to it: until a follower's first fetch reaches the
// leader as leader, the leader does not know where it is, and a follower
// that fetched before the leader knew it leads waits a fetch timeout.
// The Log announces none of this, so its status is polled.
func (c *commitlogCluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	var st commitlog.ReplicaStatus
	var err error
	for {
		st, err = c.logs[0].ReplicaStatus(benchTopic, 0)
		ready := err == nil && st.Role == commitlog.RoleLeader && len(st.ISR) == len(c.logs) && len(st.Followers) == len(c.logs)
		for _, f := range st.Followers {
			ready = ready && f.InSync && f.EndOffset == st.EndOffset
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not ready in %v: %+v (%v)", clusterReadyTimeout, st, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (c *commitlogCluster) promise(r *commitlog.Record, err error) {
	c.errs.set(err)
	*r = commitlog.Record{}
	c.pool.Put(r)
}

// appendBatch produces the records and waits for their acknowledgements,
// as the replicated NATS store does: one batch of the harness in flight.
func (c *commitlogCluster) appendBatch(ctx context.Context, recs []rec) error {
	for _, r := range recs {
		cr := c.pool.Get().(*commitlog.Record)
		cr.Topic, cr.Key, cr.Value = benchTopic, r.key, r.value
		c.prod.Produce(ctx, cr, c.promise)
	}
	return c.flush(ctx)
}

func (c *commitlogCluster) appendOne(ctx context.Context, r rec) error {
	return c.prod.ProduceSync(ctx, &commitlog.Record{Topic: benchTopic, Key: r.key, Value: r.value})
}

func (c *commitlogCluster) flush(ctx context.Context) error {
	if err := c.prod.Flush(ctx); err != nil {
		return err
	}
	return c.errs.get()
}

// read reads the leader's replica through a Cursor, as commitlogStore
// does.
func (c *commitlogCluster) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	var got int64
	cur := c.part.Cursor(ctx, c.part.StartOffset())
	defer cur.Close()
	for got < n && cur.Next() {
		fn(cur.Value())
		got++
	}
	return got, cur.Err()
}

// replicaRecords returns the end offset of each node's replica, node 1
// first: the records it holds, the log starting at 0.
func (c *commitlogCluster) replicaRecords(context.Context) ([]int64, error) {
	ends := make([]int64, len(c.logs))
	for i, l := range c.logs {
		st, err := l.ReplicaStatus(benchTopic, 0)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		ends[i] = st.EndOffset
	}
	return ends, nil
}

// holdingAcknowledged counts the nodes whose replica reaches the leader's
// high watermark, below which every acknowledged record is.
func (c *commitlogCluster) holdingAcknowledged(context.Context) (int, error) {
	st, err := c.logs[0].ReplicaStatus(benchTopic, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, l := range c.logs {
		f, err := l.ReplicaStatus(benchTopic, 0)
		if err != nil {
			return 0, fmt.Errorf("node %d: %w", i+1, err)
		}
		if f.EndOffset >= st.HighWatermark {
			n++
		}
	}
	return n, nil
}

func (c *commitlogCluster) close() error {
	var errs []error
	if c.prod != nil {
		errs = append(errs, c.prod.Close())
	}
	for _, l := range c.logs {
		errs = append(errs, l.Close())
	}
	c.logs = nil
	errs = append(errs, c.ctrl.Close())
	c.net.Close()
	return errors.Join(errs...)
}
