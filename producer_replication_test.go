package commitlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
	"github.com/stretchr/testify/require"
)

// promiseLog records the Producer's promises in the order they are
// called, with the leader's high watermark at the time.
type promiseLog struct {
	p *commitlog.Partition // the leader's replica

	mu    sync.Mutex
	calls []promiseCall
}

type promiseCall struct {
	value  string
	offset int64
	hw     int64
	err    error
}

func (pl *promiseLog) promise(r *commitlog.Record, err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.calls = append(pl.calls, promiseCall{string(r.Value), r.Offset, pl.p.HighWatermark(), err})
}

func (pl *promiseLog) get() []promiseCall {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return append([]promiseCall(nil), pl.calls...)
}

// pipelineCluster is three nodes with a topic of one partition led by
// node 1, the followers caught up, and a first record from prod committed;
// the leader's fetch responses to the followers then take a second each,
// so that every batch appended on the leader waits that long at least for
// its commitment.
func pipelineCluster(t *testing.T, opts commitlog.Options, cfg commitlog.ProducerConfig) (*testCluster, *commitlog.Producer, *promiseLog) {
	t.Helper()
	ctx := context.Background()
	c := newTestCluster(t, opts, 1, 2, 3)
	_, err := c.logs[1].CreateTopic(ctx, "t", commitlog.TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, Replicas: [][]commitlog.NodeID{{1, 2, 3}}})
	require.NoError(t, err)
	synctest.Wait()
	require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
	prod, err := c.logs[1].NewProducer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { prod.Close() })
	require.NoError(t, prod.ProduceSync(ctx, &commitlog.Record{Topic: "t", Value: []byte("w")}))
	settle(time.Second)
	for _, f := range []commitlog.NodeID{2, 3} {
		c.net.SetLinkFaults(1, f, memnet.Faults{MinDelay: time.Second, MaxDelay: time.Second})
	}
	return c, prod, &promiseLog{p: c.partition(1, "t", 0)}
}

// Under AckAll on a replicated partition the Producer appends a batch on
// the leader while the one before waits for the followers, and still
// reports each only once it is committed, in order. With MaxInFlight 1 it
// waits for each commitment before appending the next batch.
func TestProducerPipelinesOnReplicatedPartition(t *testing.T) {
	for _, inFlight := range []int{0, 1} {
		t.Run(fmt.Sprintf("MaxInFlight=%d", inFlight), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c, prod, pl := pipelineCluster(t, commitlog.Options{ReplicaLagTime: time.Minute}, commitlog.ProducerConfig{MaxInFlight: inFlight})
				leader := c.partition(1, "t", 0)
				base := leader.EndOffset()
				prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte("a")}, pl.promise)
				synctest.Wait()
				require.Equal(t, base+1, leader.EndOffset(), "a is appended on the leader")
				prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte("b")}, pl.promise)
				synctest.Wait()
				require.Empty(t, pl.get(), "a waits for the followers")
				require.LessOrEqual(t, leader.HighWatermark(), base, "a is not committed")
				if inFlight == 1 {
					require.Equal(t, base+1, leader.EndOffset(), "with MaxInFlight 1, b waits for a's commitment")
				} else {
					require.Equal(t, base+2, leader.EndOffset(), "b is appended while a waits for its commitment")
				}
				require.NoError(t, prod.Flush(ctx))
				got := pl.get()
				require.Len(t, got, 2)
				for i, call := range got {
					require.NoError(t, call.err)
					require.Equal(t, []string{"a", "b"}[i], call.value, "promises in order")
					require.Equal(t, base+int64(i), call.offset)
					require.Greater(t, call.hw, call.offset, "%s reported before it was committed", call.value)
				}
			})
		})
	}
}

// A leader change while batches wait for their commitment fails the
// first with *NotLeaderError and the ones appended after it too, in
// order, none reported as sent. Once the node leads again the Producer
// goes on: its next batch starts a new producer epoch, so it is stored
// although the log lost the sequence numbers the failed batches used.
func TestProducerLeaderChangeFailsTheBatchesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, prod, pl := pipelineCluster(t, commitlog.Options{ReplicaLagTime: time.Minute}, commitlog.ProducerConfig{})
		leader := c.partition(1, "t", 0)
		base := leader.EndOffset()
		for _, v := range []string{"a", "b", "c"} {
			prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte(v)}, pl.promise)
			synctest.Wait() // one batch each
		}
		require.Equal(t, base+3, leader.EndOffset())
		require.Empty(t, pl.get())

		// Node 1 loses its controller session: node 2 takes over, and node
		// 1, back, learns that it follows now.
		c.ctrl.Isolate(1)
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(2), c.leader("t", 0))
		c.ctrl.Reconnect(1)
		synctest.Wait()
		got := pl.get()
		require.Len(t, got, 3)
		for i, call := range got {
			require.Equal(t, []string{"a", "b", "c"}[i], call.value, "promises in order")
			require.ErrorIs(t, call.err, commitlog.ErrNotLeader, "%s", call.value)
			var nl *commitlog.NotLeaderError
			require.ErrorAs(t, call.err, &nl)
			require.True(t, nl.AfterAppend, "%s was appended before the leadership moved: its fate is unknown", call.value)
			require.Contains(t, call.err.Error(), "after appending")
			require.Equal(t, int64(-1), call.offset)
		}

		// Node 1 catches up with node 2 (losing a, b and c, which only it
		// held) and leads again.
		for _, f := range []commitlog.NodeID{2, 3} {
			c.net.SetLinkFaults(1, f, memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
		}
		settle(5 * time.Second)
		require.Equal(t, []string{"w"}, values(t, leader))
		require.NoError(t, c.logs[1].ElectPreferredLeaders(ctx, "t"))
		synctest.Wait()
		require.Equal(t, commitlog.NodeID(1), c.leader("t", 0))
		prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte("d")}, pl.promise)
		require.NoError(t, prod.Flush(ctx))
		got = pl.get()
		require.Len(t, got, 4)
		d := got[3]
		require.NoError(t, d.err, "the batch after the failed ones is accepted in a new producer epoch")
		require.Greater(t, d.hw, d.offset)
		require.Equal(t, []string{"w", "d"}, values(t, leader))
	})
}

// A batch whose commitment failed with ErrNotEnoughReplicasAfterAppend
// stays in the leader's log and is committed once the followers are back.
// The next record the Producer sends is stored at an offset of its own,
// not taken for a repeat of the failed batch (which a producer that had
// reused the failed batch's sequence numbers would have been told).
func TestProducerBatchAfterAmbiguousFailureIsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, prod, pl := pipelineCluster(t, commitlog.Options{ReplicaLagTime: 2 * time.Second}, commitlog.ProducerConfig{})
		leader := c.partition(1, "t", 0)
		for _, f := range []commitlog.NodeID{2, 3} {
			c.net.Block(1, f)
		}
		prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte("a")}, pl.promise)
		settle(10 * time.Second) // the in-sync set shrinks to the leader alone
		got := pl.get()
		require.Len(t, got, 1)
		require.ErrorIs(t, got[0].err, commitlog.ErrNotEnoughReplicasAfterAppend)

		for _, f := range []commitlog.NodeID{2, 3} {
			c.net.Unblock(1, f)
			c.net.SetLinkFaults(1, f, memnet.Faults{MinDelay: time.Millisecond, MaxDelay: time.Millisecond})
		}
		settle(10 * time.Second) // the followers catch up and rejoin
		require.Equal(t, []string{"w", "a"}, values(t, leader), "a stayed in the log")
		prod.Produce(ctx, &commitlog.Record{Topic: "t", Value: []byte("b")}, pl.promise)
		require.NoError(t, prod.Flush(ctx))
		got = pl.get()
		require.Len(t, got, 2)
		require.NoError(t, got[1].err)
		require.Equal(t, []string{"w", "a", "b"}, values(t, leader))
		require.Equal(t, int64(2), got[1].offset, "b is reported where it is stored")
	})
}
