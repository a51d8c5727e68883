package clprom_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog"
	clprom "github.com/commitlog-go/commitlog/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// recorder is a second hook beside the exporter: the truth the
// exporter's figures are checked against.
type recorder struct {
	mu         sync.Mutex
	appendB    map[string]int // by topic/partition
	syncs      map[string]int
	rolls      []commitlog.RollInfo
	retentions []commitlog.RetentionInfo
}

func tpName(t string, p int32) string { return t + "/" + string(rune('0'+p)) }

func (r *recorder) OnAppend(i commitlog.AppendInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.appendB[tpName(i.Topic, i.Partition)] += i.Bytes
}

func (r *recorder) OnSync(i commitlog.SyncInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs[tpName(i.Topic, i.Partition)]++
}

func (r *recorder) OnRoll(i commitlog.RollInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rolls = append(r.rolls, i)
}

func (r *recorder) OnRetention(i commitlog.RetentionInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retentions = append(r.retentions, i)
}

// scrape gathers reg through promhttp on an httptest server and parses
// the text exposition.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// find returns the metric of family name whose labels include want, or
// nil.
func find(fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if got[want[i]] != want[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the value of a counter or gauge, failing the test when
// it is missing.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := find(fams, name, labels...)
	if m == nil {
		t.Fatalf("%s%v: missing", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v: neither counter nor gauge", name, labels)
	return 0
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got := value(t, fams, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestExporterMetrics(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	exp := clprom.New(clprom.Options{})
	rec := &recorder{appendB: map[string]int{}, syncs: map[string]int{}}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(exp); err != nil {
		t.Fatal(err)
	}
	l, err := commitlog.Open(dir, &commitlog.Options{Sync: commitlog.SyncAlways, Hooks: []commitlog.Hook{exp, rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	exp.Attach(l)

	_, err = l.CreateTopic(ctx, "t", commitlog.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPartition(t, l, "t", 0)
	const appends, perAppend = 20, 2
	for range appends {
		if _, err := p.Append(ctx, []commitlog.Record{{Value: make([]byte, 500)}, {Value: make([]byte, 500)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.EnforceRetention(ctx, "t"); err != nil {
		t.Fatal(err)
	}

	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	for got := int64(0); ; {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 && recs[len(recs)-1].Offset == appends*perAppend-1 {
			break
		}
		got += int64(len(recs))
	}
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Caught up: a lag of 0 is a series too.
	expect(t, scrape(t, reg), 0, "commitlog_group_lag_records", "group", "g", "topic", "t", "partition", "0")
	if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte("x")}, {Value: []byte("y")}, {Value: []byte("z")}}); err != nil {
		t.Fatal(err)
	}

	// A second member joins and leaves: two more rebalances.
	c2, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, reg)
	tp := []string{"topic", "t", "partition", "0"}
	rec.mu.Lock()
	appendedBytes, syncRounds := rec.appendB["t/0"], 0
	for _, n := range rec.syncs {
		syncRounds += n
	}
	var rolls, retSegs int
	var retBytes, start int64
	for _, r := range rec.rolls {
		if r.Topic == "t" && r.Reason == commitlog.RollSize {
			rolls++
		}
	}
	for _, r := range rec.retentions {
		retSegs += r.Segments
		retBytes += r.Bytes
		start = r.StartOffset
	}
	rec.mu.Unlock()
	if rolls < 2 || retSegs < 1 {
		t.Fatalf("the test must roll (%d) and delete segments (%d)", rolls, retSegs)
	}

	expect(t, fams, appends+1, "commitlog_appended_batches_total", tp...)
	expect(t, fams, appends*perAppend+3, "commitlog_appended_records_total", tp...)
	expect(t, fams, float64(appendedBytes), "commitlog_appended_bytes_total", tp...)
	expect(t, fams, float64(rolls), "commitlog_segment_rolls_total", append(tp, "reason", "size")...)
	expect(t, fams, 0, "commitlog_segment_rolls_total", append(tp, "reason", "age")...)
	expect(t, fams, float64(retSegs), "commitlog_retention_deleted_segments_total", tp...)
	expect(t, fams, float64(retBytes), "commitlog_retention_deleted_bytes_total", tp...)
	expect(t, fams, 0, "commitlog_fsync_failures_total", tp...)
	expect(t, fams, 2, "commitlog_group_rebalances_total", "group", "g", "reason", "join")
	expect(t, fams, 1, "commitlog_group_rebalances_total", "group", "g", "reason", "leave")
	expect(t, fams, 0, "commitlog_group_rebalances_total", "group", "g", "reason", "evicted")
	expect(t, fams, 1, "commitlog_group_commits_total", "group", "g")
	expect(t, fams, 0, "commitlog_group_commit_failures_total", "group", "g")

	expect(t, fams, float64(start), "commitlog_partition_start_offset", tp...)
	expect(t, fams, appends*perAppend+3, "commitlog_partition_high_watermark", tp...)
	expect(t, fams, appends*perAppend+3, "commitlog_partition_end_offset", tp...)
	expect(t, fams, appends*perAppend+3, "commitlog_partition_durable_offset", tp...)
	expect(t, fams, float64(p.Stats().Segments), "commitlog_partition_segments", tp...)
	expect(t, fams, 3, "commitlog_group_lag_records", "group", "g", "topic", "t", "partition", "0")
	expect(t, fams, 1, "commitlog_group_members", "group", "g")
	expect(t, fams, 3, "commitlog_group_generation", "group", "g")

	// The histogram counts every fsync round the SyncHook saw, each once.
	h := find(fams, "commitlog_fsync_duration_seconds")
	if h == nil || h.Histogram == nil {
		t.Fatal("commitlog_fsync_duration_seconds: missing or not a histogram")
	}
	var rounds float64
	for _, m := range fams["commitlog_fsync_rounds_total"].GetMetric() {
		rounds += m.GetCounter().GetValue()
	}
	if got := h.GetHistogram().GetSampleCount(); got != uint64(syncRounds) || rounds != float64(syncRounds) || syncRounds == 0 {
		t.Errorf("fsync rounds: histogram %d, counters %v, hook %d", got, rounds, syncRounds)
	}
	bs := h.GetHistogram().GetBucket()
	if len(bs) == 0 || bs[len(bs)-1].GetCumulativeCount() > uint64(syncRounds) {
		t.Errorf("fsync buckets %v", bs)
	}
	if last := bs[len(bs)-1]; last.GetUpperBound() != math.Inf(1) || last.GetCumulativeCount() != uint64(syncRounds) {
		t.Errorf("fsync +Inf bucket %v, want %d rounds", last, syncRounds)
	}
	for i := 1; i < len(bs)-1; i++ {
		if bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() || bs[i].GetUpperBound() != 2*bs[i-1].GetUpperBound() {
			t.Errorf("fsync buckets not cumulative with doubling bounds at %d: %v", i, bs)
		}
	}

	// A reopen recovers the partition.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = commitlog.Open(dir, &commitlog.Options{Sync: commitlog.SyncAlways, Hooks: []commitlog.Hook{exp}})
	if err != nil {
		t.Fatal(err)
	}
	exp.Attach(l)
	p = mustPartition(t, l, "t", 0)
	if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, reg)
	expect(t, fams, 1, "commitlog_recoveries_total", tp...)
	expect(t, fams, 0, "commitlog_recovery_cut_bytes_total", tp...)
	expect(t, fams, appends+2, "commitlog_appended_batches_total", tp...)         // counters outlive the Log
	expect(t, fams, appends*perAppend+4, "commitlog_partition_end_offset", tp...) // the new Log's
	if v := value(t, fams, "commitlog_open_duration_seconds"); v <= 0 {
		t.Errorf("commitlog_open_duration_seconds = %v, want > 0", v)
	}
}

// TestExporterAppendPathAllocatesNothing checks the hooks on the append
// path (OnAppend, and OnSync under SyncAlways) allocate nothing once the
// partition has been seen.
func TestExporterAppendPathAllocatesNothing(t *testing.T) {
	exp := clprom.New(clprom.Options{})
	a := commitlog.AppendInfo{Topic: "orders", Partition: 3, Batches: 1, Records: 10, Bytes: 1000}
	s := commitlog.SyncInfo{Topic: "orders", Partition: 3, Files: 1}
	exp.OnAppend(a)
	if n := testing.AllocsPerRun(1000, func() { exp.OnAppend(a); exp.OnSync(s) }); n != 0 {
		t.Errorf("OnAppend+OnSync: %v allocations per call, want 0", n)
	}
	c := commitlog.CommitInfo{Group: "g", Partitions: 1}
	exp.OnCommit(c)
	if n := testing.AllocsPerRun(1000, func() { exp.OnCommit(c) }); n != 0 {
		t.Errorf("OnCommit: %v allocations per call, want 0", n)
	}
}

func BenchmarkOnAppend(b *testing.B) {
	exp := clprom.New(clprom.Options{})
	a := commitlog.AppendInfo{Topic: "orders", Partition: 3, Batches: 1, Records: 10, Bytes: 1000}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			exp.OnAppend(a)
		}
	})
}

func mustPartition(t *testing.T, l *commitlog.Log, topic string, id int32) *commitlog.Partition {
	t.Helper()
	tp, err := l.Topic(topic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tp.Partition(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExporterNamespaceAndConstLabels checks Options name and label
// every metric, and that an Exporter with no Log attached exports its
// counters alone.
func TestExporterNamespaceAndConstLabels(t *testing.T) {
	exp := clprom.New(clprom.Options{Namespace: "orders", ConstLabels: prometheus.Labels{"log": "east"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exp)
	exp.OnAppend(commitlog.AppendInfo{Topic: "t", Partition: 2, Batches: 1, Records: 4, Bytes: 90})
	fams := scrape(t, reg)
	expect(t, fams, 4, "orders_appended_records_total", "topic", "t", "partition", "2", "log", "east")
	for name, f := range fams {
		if !strings.HasPrefix(name, "orders_") {
			t.Errorf("%s: not in the namespace", name)
		}
		for _, m := range f.GetMetric() {
			if find(map[string]*dto.MetricFamily{name: {Metric: []*dto.Metric{m}}}, name, "log", "east") == nil {
				t.Errorf("%s: lacks the const label", name)
			}
		}
	}
	if fams["orders_partition_end_offset"] != nil || fams["orders_fsync_duration_seconds"] != nil {
		t.Error("Stats metrics exported with no Log attached")
	}
}
