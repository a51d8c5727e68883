package commitlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
)

// benchCluster opens n replicated Logs in temporary directories on the
// in-memory network with no faults, and a topic of one partition with n
// replicas led by node 1. n = 1 is the same workload on one node without
// replication (a plain Log), the reference.
func benchCluster(b *testing.B, n int, sync commitlog.SyncPolicy) (*commitlog.Log, *commitlog.Partition) {
	b.Helper()
	ctx := context.Background()
	root := b.TempDir()
	if n == 1 {
		l, err := commitlog.Open(root, &commitlog.Options{Sync: sync})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		t, err := l.CreateTopic(ctx, "bench", commitlog.TopicConfig{})
		if err != nil {
			b.Fatal(err)
		}
		p, _ := t.Partition(0)
		return l, p
	}
	var ids []commitlog.NodeID
	for i := range n {
		ids = append(ids, commitlog.NodeID(i+1))
	}
	ctrl, err := commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: ids})
	if err != nil {
		b.Fatal(err)
	}
	net := memnet.New(memnet.Config{})
	logs := map[commitlog.NodeID]*commitlog.Log{}
	b.Cleanup(func() {
		for _, l := range logs {
			l.Close()
		}
		ctrl.Close()
		net.Close()
	})
	for _, id := range ids {
		l, err := commitlog.Open(filepath.Join(root, fmt.Sprint(id)), &commitlog.Options{Sync: sync, NodeID: id, Controller: ctrl, Transport: net})
		if err != nil {
			b.Fatal(err)
		}
		logs[id] = l
	}
	if _, err := logs[1].CreateTopic(ctx, "bench", commitlog.TopicConfig{
		ReplicationFactor: int16(n), MinInSyncReplicas: int16(min(n, 2)), Replicas: [][]commitlog.NodeID{ids},
	}); err != nil {
		b.Fatal(err)
	}
	// One record, then until every follower has it (a follower that
	// fetched before the leader knew it leads waits a fetch timeout):
	// the Log announces no such event, so poll its status.
	t, _ := logs[1].Topic("bench")
	p, _ := t.Partition(0)
	if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte("warm-up")}}); err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st, err := logs[1].ReplicaStatus("bench", 0)
		caughtUp := err == nil && len(st.Followers) == n
		for _, f := range st.Followers {
			caughtUp = caughtUp && f.EndOffset == st.EndOffset
		}
		if caughtUp {
			break
		}
		<-tick.C
	}
	return logs[1], p
}

// BenchmarkReplicatedProduce is the throughput of a Producer with AckAll
// under SyncNever, 100-byte records, on 3 replicas against 1.
func BenchmarkReplicatedProduce(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			l, _ := benchCluster(b, n, commitlog.SyncNever)
			benchReplicatedProduce(b, l)
		})
	}
}

func benchReplicatedProduce(b *testing.B, l *commitlog.Log) {
	ctx := context.Background()
	prod, err := l.NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	const batch = 10_000
	value := make([]byte, 100)
	recs := make([]commitlog.Record, batch)
	ptrs := make([]*commitlog.Record, batch)
	for i := range recs {
		recs[i] = commitlog.Record{Topic: "bench", Partition: 0, Value: value}
		ptrs[i] = &recs[i]
	}
	var failed error
	promise := func(_ *commitlog.Record, err error) {
		if err != nil && failed == nil {
			failed = err
		}
	}
	b.SetBytes(int64(batch * len(value)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for _, r := range ptrs {
			prod.Produce(ctx, r, promise)
		}
		if err := prod.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "records/s")
}

// BenchmarkReplicatedAppendLatency is the latency of one AckAll append of
// one 100-byte record at a time under SyncAlways, on 3 replicas against
// one durable local append: p50 and p99 are reported.
func BenchmarkReplicatedAppendLatency(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			_, p := benchCluster(b, n, commitlog.SyncAlways)
			ctx := context.Background()
			recs := []commitlog.Record{{Value: make([]byte, 100)}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := p.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
