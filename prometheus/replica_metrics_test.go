package clprom_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/memnet"
	clprom "github.com/commitlog-go/commitlog/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gatherText gathers reg, writes the text exposition and parses it back
// with the Prometheus text parser (no HTTP: the test runs in a synctest
// bubble, where a socket would keep virtual time from moving).
func gatherText(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// TestExporterReplicaMetrics: on a replicated Log the exporter shows each
// partition's leader, leader epoch, ISR and replica counts and
// under-replication, and, on the leader, each follower's lag; when a
// follower stops, the partition is reported under-replicated and below
// its MinInSyncReplicas.
func TestExporterReplicaMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		root := t.TempDir()
		net := memnet.New(memnet.Config{})
		defer net.Close()
		ctrl, err := commitlog.NewInProcessController(commitlog.InProcessControllerConfig{Nodes: []commitlog.NodeID{0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer ctrl.Close()
		exps := map[commitlog.NodeID]*clprom.Exporter{}
		regs := map[commitlog.NodeID]*prometheus.Registry{}
		logs := map[commitlog.NodeID]*commitlog.Log{}
		for id := range commitlog.NodeID(2) {
			exps[id] = clprom.New(clprom.Options{})
			regs[id] = prometheus.NewRegistry()
			regs[id].MustRegister(exps[id])
			l, err := commitlog.Open(filepath.Join(root, fmt.Sprint(id)), &commitlog.Options{
				NodeID: id, Controller: ctrl, Transport: net, Hooks: []commitlog.Hook{exps[id]},
				ReplicaFetchMaxWait: 10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if logs[id] != nil {
					logs[id].Close()
				}
			}()
			logs[id] = l
			exps[id].Attach(l)
		}
		if _, err := logs[0].CreateTopic(ctx, "orders", commitlog.TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 2}); err != nil {
			t.Fatal(err)
		}
		var lead commitlog.NodeID = commitlog.NoNode
		for range 1000 {
			if st, err := logs[0].ReplicaStatus("orders", 0); err == nil && st.Leader != commitlog.NoNode && len(st.ISR) == 2 {
				lead = st.Leader
				break
			}
			time.Sleep(time.Millisecond)
		}
		if lead == commitlog.NoNode {
			t.Fatal("no leader with a full ISR")
		}
		follower := 1 - lead
		prod, err := logs[lead].NewProducer(commitlog.ProducerConfig{Acks: commitlog.AckAll})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if err := prod.ProduceSync(ctx, &commitlog.Record{Topic: "orders", Value: []byte(strconv.Itoa(i))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.Close(); err != nil {
			t.Fatal(err)
		}
		tp := []string{"topic", "orders", "partition", "0"}
		fams := gatherText(t, regs[lead])
		expect(t, fams, float64(lead), "commitlog_partition_leader", tp...)
		expect(t, fams, 2, "commitlog_partition_in_sync_replicas", tp...)
		expect(t, fams, 2, "commitlog_partition_replicas", tp...)
		expect(t, fams, 0, "commitlog_partition_under_replicated", tp...)
		expect(t, fams, 0, "commitlog_partition_under_min_isr", tp...)
		epoch := value(t, fams, "commitlog_partition_leader_epoch", tp...)
		if epoch < 0 {
			t.Errorf("leader epoch %v", epoch)
		}
		// AckAll: every record is on the follower, which says so with
		// its next fetch.
		expect(t, fams, 0, "commitlog_replica_lag_records", append(tp, "replica", strconv.Itoa(int(follower)))...)
		if find(fams, "commitlog_replica_lag_records", append(tp, "replica", strconv.Itoa(int(lead)))...) == nil {
			t.Error("no lag of the leader's own replica")
		}
		// The follower's view: the same leader and epoch, no lags.
		ffams := gatherText(t, regs[follower])
		expect(t, ffams, float64(lead), "commitlog_partition_leader", tp...)
		expect(t, ffams, epoch, "commitlog_partition_leader_epoch", tp...)
		if ffams["commitlog_replica_lag_records"] != nil {
			t.Error("a follower reports replica lags")
		}

		if err := logs[follower].Close(); err != nil {
			t.Fatal(err)
		}
		logs[follower] = nil
		for range 1000 {
			if st, err := logs[lead].ReplicaStatus("orders", 0); err == nil && len(st.ISR) == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		fams = gatherText(t, regs[lead])
		expect(t, fams, 1, "commitlog_partition_in_sync_replicas", tp...)
		expect(t, fams, 1, "commitlog_partition_under_replicated", tp...)
		expect(t, fams, 1, "commitlog_partition_under_min_isr", tp...)
	})
}
