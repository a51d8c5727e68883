package kafka_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newMirrorFake starts a one-broker kfake cluster in memory and returns
// the Config of its clients.
func newMirrorFake(t testing.TB) kafka.Config {
	t.Helper()
	_, kc := newMirrorCluster(t)
	return kc
}

func newMirrorCluster(t testing.TB) (*kfake.Cluster, kafka.Config) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, kafka.Config{
		SeedBrokers: c.ListenAddrs(),
		Options: []kgo.Opt{
			kgo.MetadataMinAge(10 * time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		},
	}
}

func kafkaEndpoint(t testing.TB, name string, kc kafka.Config) kafka.Endpoint {
	t.Helper()
	e, err := kafka.KafkaEndpoint(name, kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Admin.Close() })
	return e
}

func openLog(t testing.TB) *commitlog.Log {
	t.Helper()
	l, err := commitlog.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newMirror(t testing.TB, cfg kafka.MirrorConfig) *kafka.Mirror {
	t.Helper()
	m, err := kafka.NewMirror(cfg)
	if err != nil {
		t.Fatalf("NewMirror: %v", err)
	}
	return m
}

// startMirror runs m until the test calls the returned stop, which
// returns Run's error; alive ends when Run returns.
func startMirror(ctx context.Context, m *kafka.Mirror) (alive context.Context, stop func() error) {
	rctx, cancel := context.WithCancel(ctx)
	alive, dead := context.WithCancel(ctx)
	var err error
	go func() {
		err = m.Run(rctx)
		dead()
	}()
	return alive, func() error {
		cancel()
		<-alive.Done()
		return err
	}
}

// waitRunning is waitAll while the mirror runs: if Run returns first,
// its error.
func waitRunning(t testing.TB, alive context.Context, stop func() error, m *kafka.Mirror, topic string, last map[int32]int64) {
	t.Helper()
	if err := waitAll(alive, m, topic, last); err != nil {
		t.Fatalf("waiting for the copy: %v; Run: %v", err, stop())
	}
}

// genRecords returns n records for topic spread over parts partitions:
// keys (some nil), values, headers (duplicate keys, null values) and
// timestamps from 2001 on, the i-th carrying seq+i.
func genRecords(rng *rand.Rand, topic string, parts int32, seq, n int) []*commitlog.Record {
	base := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*commitlog.Record, n)
	for i := range n {
		k := seq + i
		r := &commitlog.Record{
			Topic:     topic,
			Partition: rng.Int32N(parts),
			Value:     fmt.Appendf(nil, "v%d-%s", k, bytes.Repeat([]byte{'x'}, rng.IntN(100))),
			Timestamp: base.Add(time.Duration(k) * time.Second),
			Headers:   []commitlog.Header{{Key: "seq", Value: []byte(strconv.Itoa(k))}},
		}
		if k%7 != 0 {
			r.Key = fmt.Appendf(nil, "k%d", k%50)
		}
		if k%5 == 0 {
			r.Headers = append(r.Headers, commitlog.Header{Key: "seq", Value: nil}, commitlog.Header{Key: "h", Value: []byte{}})
		}
		out[i] = r
	}
	return out
}

// readAll returns every record of topic on e, per partition, in order,
// up to the high watermarks of the moment it starts.
func readAll(t testing.TB, ctx context.Context, e kafka.Endpoint, topic string) [][]commitlog.Record {
	t.Helper()
	cfg, err := e.Admin.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopic %s on %s: %v", topic, e.Name, err)
	}
	starts, ends, err := kafka.EndpointOffsets(ctx, e, topic, cfg.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]commitlog.Record, cfg.Partitions)
	var tps []commitlog.TopicPartition
	left := map[int32]bool{}
	for p := range cfg.Partitions {
		tps = append(tps, commitlog.TopicPartition{Topic: topic, Partition: p})
		if starts[p] < ends[p] {
			left[p] = true
		}
	}
	if len(left) == 0 {
		return out
	}
	c, err := e.NewConsumer(commitlog.ConsumerConfig{Partitions: tps, AutoOffsetReset: commitlog.ResetEarliest})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; len(left) > 0; i++ {
		if i > 100_000 {
			t.Fatal("readAll: too many polls")
		}
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("readAll %s on %s: %v (partitions left %v)", topic, e.Name, err, left)
		}
		for _, r := range recs {
			if r.Offset >= ends[r.Partition] {
				continue
			}
			out[r.Partition] = append(out[r.Partition], r)
			if r.Offset+1 >= ends[r.Partition] {
				delete(left, r.Partition)
			}
		}
	}
	return out
}

func headerOf(r commitlog.Record, key string) []byte {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value
		}
	}
	return nil
}

func offsetHeader(t testing.TB, r commitlog.Record) int64 {
	t.Helper()
	v := headerOf(r, kafka.MirrorOffsetHeader)
	if len(v) != 8 {
		t.Fatalf("record %s-%d@%d: offset header %q", r.Topic, r.Partition, r.Offset, v)
	}
	return int64(binary.BigEndian.Uint64(v))
}

// checkCopy fails unless got is src copied by a mirror from the cluster
// named source: same partition, key, value, timestamp and headers, plus
// the mirror's.
func checkCopy(t testing.TB, src, got commitlog.Record, origin, source string) {
	t.Helper()
	where := fmt.Sprintf("%s-%d: source offset %d, target offset %d", src.Topic, src.Partition, src.Offset, got.Offset)
	if got.Partition != src.Partition {
		t.Fatalf("%s: partition %d", where, got.Partition)
	}
	if !bytes.Equal(got.Key, src.Key) || (got.Key == nil) != (src.Key == nil) {
		t.Fatalf("%s: key %q, want %q", where, got.Key, src.Key)
	}
	if !bytes.Equal(got.Value, src.Value) {
		t.Fatalf("%s: value %q, want %q", where, got.Value, src.Value)
	}
	if !got.Timestamp.Equal(src.Timestamp) {
		t.Fatalf("%s: timestamp %v, want %v", where, got.Timestamp, src.Timestamp)
	}
	var user []commitlog.Header
	for _, h := range src.Headers {
		if h.Key != kafka.MirrorOriginHeader && h.Key != kafka.MirrorSourceHeader && h.Key != kafka.MirrorOffsetHeader {
			user = append(user, h)
		}
	}
	if len(got.Headers) != len(user)+3 {
		t.Fatalf("%s: headers %q, want %q and the mirror's", where, got.Headers, user)
	}
	for i, h := range user {
		g := got.Headers[i]
		if g.Key != h.Key || !bytes.Equal(g.Value, h.Value) || (g.Value == nil) != (h.Value == nil) {
			t.Fatalf("%s: header %d is %q=%q, want %q=%q", where, i, g.Key, g.Value, h.Key, h.Value)
		}
	}
	if o := headerOf(got, kafka.MirrorOriginHeader); string(o) != origin {
		t.Fatalf("%s: origin %q, want %q", where, o, origin)
	}
	if s := headerOf(got, kafka.MirrorSourceHeader); string(s) != source {
		t.Fatalf("%s: source %q, want %q", where, s, source)
	}
	if o := offsetHeader(t, got); o != src.Offset {
		t.Fatalf("%s: offset header %d", where, o)
	}
}

// waitAll waits until m has copied every record up to last (per
// partition of topic).
func waitAll(ctx context.Context, m *kafka.Mirror, topic string, last map[int32]int64) error {
	for p, o := range last {
		if err := kafka.WaitMirrorCopied(ctx, m, commitlog.TopicPartition{Topic: topic, Partition: p}, o); err != nil {
			return err
		}
	}
	return nil
}

// produceAll produces recs and returns the largest offset per partition.
func produceAll(t testing.TB, ctx context.Context, p commitlog.ProducerClient, recs []*commitlog.Record, last map[int32]int64) {
	t.Helper()
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	for _, r := range recs {
		if o, ok := last[r.Partition]; !ok || r.Offset > o {
			last[r.Partition] = r.Offset
		}
	}
}

func createTopic2(t testing.TB, ctx context.Context, e kafka.Endpoint, name string, cfg commitlog.TopicConfig) {
	t.Helper()
	if err := e.Admin.CreateTopic(ctx, name, cfg); err != nil {
		t.Fatalf("CreateTopic %s on %s: %v", name, e.Name, err)
	}
}

// TestMirrorRoundTrip copies a topic, compressed, Log→Kafka,
// Kafka→Log, Log→Log and Kafka→Kafka, and compares record by record.
func TestMirrorRoundTrip(t *testing.T) {
	side := func(t *testing.T, kind, name string) kafka.Endpoint {
		if kind == "Log" {
			return kafka.LogEndpoint(name, openLog(t))
		}
		return kafkaEndpoint(t, name, newMirrorFake(t))
	}
	for _, c := range [][2]string{{"Log", "Kafka"}, {"Kafka", "Log"}, {"Log", "Log"}, {"Kafka", "Kafka"}} {
		t.Run(c[0]+"To"+c[1], func(t *testing.T) {
			mirrorRoundTrip(t, side(t, c[0], "local"), side(t, c[1], "remote"))
		})
	}
}

func mirrorRoundTrip(t *testing.T, src, dst kafka.Endpoint) {
	ctx := testCtx(t)
	createTopic2(t, ctx, src, "orders", commitlog.TopicConfig{Partitions: 3, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	last := map[int32]int64{}
	produceAll(t, ctx, prod, genRecords(rng, "orders", 3, 0, 600), last)

	m := newMirror(t, kafka.MirrorConfig{
		Source: src, Target: dst, Topics: []string{"orders"},
		Producer: commitlog.ProducerConfig{Compression: commitlog.CodecZstd, Linger: 5 * time.Millisecond},
	})
	alive, stop := startMirror(ctx, m)
	// Records produced while the mirror runs are copied too.
	produceAll(t, ctx, prod, genRecords(rng, "orders", 3, 600, 400), last)
	waitRunning(t, alive, stop, m, "orders", last)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	cfg, err := dst.Admin.DescribeTopic(ctx, "orders")
	if err != nil || cfg.Partitions != 3 {
		t.Fatalf("target topic: %+v, %v", cfg, err)
	}
	want, got := readAll(t, ctx, src, "orders"), readAll(t, ctx, dst, "orders")
	n := 0
	for p := range want {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records copied, want %d", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			checkCopy(t, want[p][i], got[p][i], "local", "local")
			n++
		}
	}
	st := m.Stats()
	if st.Records != int64(n) || st.Skipped != 0 || st.Syncs == 0 {
		t.Fatalf("Stats %+v, want %d records", st, n)
	}
	if len(st.Lag) != 3 {
		t.Fatalf("Stats.Lag %v", st.Lag)
	}
	// A second mirror of the same name has nothing left to copy.
	m2 := newMirror(t, kafka.MirrorConfig{Source: src, Target: dst, Topics: []string{"orders"}})
	alive, stop = startMirror(ctx, m2)
	waitRunning(t, alive, stop, m2, "orders", last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := m2.Stats(); st.Records != 0 {
		t.Fatalf("a resumed mirror copied %d records again", st.Records)
	}
	// The progress is committed to the source group of the mirror's name.
	d, err := src.Admin.DescribeGroup(ctx, m.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range d.Partitions {
		if pl.Committed != last[pl.Partition]+1 {
			t.Fatalf("progress of %v committed at %d, want %d", pl.TopicPartition, pl.Committed, last[pl.Partition]+1)
		}
	}
}

// TestMirrorCrash crashes the mirror at random points while records are
// produced to the source, and checks that the target ends up with every
// source record exactly once, in order.
func TestMirrorCrash(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("COMMITLOG_MIRROR_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("COMMITLOG_MIRROR_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with COMMITLOG_MIRROR_SEED=%d)", seed, seed)
	for _, dir := range []string{"LogToKafka", "KafkaToLog"} {
		t.Run(dir, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("replay with COMMITLOG_MIRROR_SEED=%d", seed)
				}
			}()
			mirrorCrash(t, seed, dir == "LogToKafka")
		})
	}
}

func mirrorCrash(t *testing.T, seed int64, fromLog bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	logE := kafka.LogEndpoint("L", openLog(t))
	kafE := kafkaEndpoint(t, "K", newMirrorFake(t))
	src, dst := logE, kafE
	if !fromLog {
		src, dst = kafE, logE
	}
	const topic = "events"
	createTopic2(t, ctx, src, topic, commitlog.TopicConfig{Partitions: 3, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cfg := kafka.MirrorConfig{
		Source: src, Target: dst, Topics: []string{topic},
		CheckpointInterval: 10 * time.Millisecond,
		Producer:           commitlog.ProducerConfig{Compression: commitlog.CodecLZ4, Linger: time.Millisecond},
	}
	points := []string{"produced", "acked", "synced", "resume"}
	limits := map[string]int{"produced": 150, "acked": 4, "synced": 3, "resume": 40}
	last := map[int32]int64{}
	seq := 0
	var m *kafka.Mirror
	crashes := map[string]int{}
	for i := range 30 {
		if m == nil || rng.IntN(2) == 0 {
			m = newMirror(t, cfg) // a new process; otherwise the same Mirror runs again
		}
		point := points[rng.IntN(len(points))]
		at := 1 + rng.IntN(limits[point])
		var mu sync.Mutex
		hits := map[string]int{}
		var crashedAt string
		kafka.SetMirrorCrashAt(m, func(p string) bool {
			mu.Lock()
			defer mu.Unlock()
			hits[p]++
			if crashedAt == "" && (p == point && hits[p] == at || p == "produced" && hits[p] == 400) {
				crashedAt = p
				return true
			}
			return false
		})
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(rctx) }()
		n := 50 + rng.IntN(150)
		produceAll(t, ctx, prod, genRecords(rng, topic, 3, seq, n), last)
		seq += n
		caught := make(chan struct{})
		wctx, wstop := context.WithCancel(ctx)
		snapshot := map[int32]int64{}
		for p, o := range last {
			snapshot[p] = o
		}
		mm := m
		go func() {
			if waitAll(wctx, mm, topic, snapshot) == nil {
				close(caught)
			}
		}()
		select {
		case err = <-done:
		case <-caught:
			stop()
			err = <-done
		}
		wstop()
		stop()
		switch {
		case errors.Is(err, kafka.ErrMirrorCrash):
			mu.Lock()
			crashes[crashedAt]++
			mu.Unlock()
		case err != nil:
			t.Fatalf("run %d: %v", i, err)
		}
	}
	t.Logf("crashes per point: %v", crashes)
	m = newMirror(t, cfg)
	alive, stop := startMirror(ctx, m)
	produceAll(t, ctx, prod, genRecords(rng, topic, 3, seq, 100), last)
	waitRunning(t, alive, stop, m, topic, last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, ctx, src, topic), readAll(t, ctx, dst, topic)
	for p := range want {
		for i := range min(len(want[p]), len(got[p])) {
			checkCopy(t, want[p][i], got[p][i], src.Name, src.Name)
		}
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records on the target, %d on the source", p, len(got[p]), len(want[p]))
		}
	}
}

// TestMirrorTranslate commits source groups at offsets inside and around
// the source's gaps (compaction, DeleteRecords, records skipped as coming
// from the target) and checks where the checkpointed target groups
// resume.
func TestMirrorTranslate(t *testing.T) {
	t.Run("LogToKafka", func(t *testing.T) {
		l := openLog(t)
		src := kafka.LogEndpoint("local", l)
		dst := kafkaEndpoint(t, "remote", newMirrorFake(t))
		mirrorTranslate(t, src, dst, commitlog.TopicConfig{SegmentBytes: 4096, IndexIntervalBytes: 256, SegmentIndexBytes: 1024, MaxBatchBytes: 4096},
			func(ctx context.Context) {
				if err := l.Compact(ctx, "compacted"); err != nil {
					t.Fatal(err)
				}
				tt, _ := l.Topic("trimmed")
				p0, _ := tt.Partition(0)
				if _, err := p0.DeleteRecords(ctx, 30); err != nil {
					t.Fatal(err)
				}
			})
	})
	t.Run("KafkaToLog", func(t *testing.T) {
		c, kc := newMirrorCluster(t)
		src := kafkaEndpoint(t, "local", kc)
		dst := kafka.LogEndpoint("remote", openLog(t))
		mirrorTranslate(t, src, dst, commitlog.TopicConfig{}, func(ctx context.Context) {
			c.Compact()
			var adm *kadm.Client
			if !src.Admin.As(&adm) {
				t.Fatal("no kadm client")
			}
			os := kadm.Offsets{}
			os.Add(kadm.Offset{Topic: "trimmed", Partition: 0, At: 30})
			if _, err := adm.DeleteRecords(ctx, os); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// mirrorTranslate is TestMirrorTranslate from src to dst: compacted, a
// topic configured as compacted says (with compaction on), is compacted
// and partition 0 of trimmed starts at 30 after gap.
func mirrorTranslate(t *testing.T, src, dst kafka.Endpoint, compacted commitlog.TopicConfig, gap func(context.Context)) {
	ctx := testCtx(t)
	compacted.Partitions, compacted.CleanupPolicy = 1, commitlog.CleanupCompact
	compacted.Retention, compacted.DeleteRetention = commitlog.Forever, time.Hour
	createTopic2(t, ctx, src, "compacted", compacted)
	createTopic2(t, ctx, src, "trimmed", commitlog.TopicConfig{Partitions: 2, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 30 {
		// Batches of 10, which segments of 4 KiB hold a few of.
		var recs []*commitlog.Record
		for j := range 10 {
			k := i*10 + j
			key := fmt.Appendf(nil, "k%d", k%7) // superseded, but for the last 7
			if k%5 == 0 {
				key = fmt.Appendf(nil, "u%d", k) // kept
			}
			recs = append(recs, &commitlog.Record{Topic: "compacted", Key: key, Value: fmt.Appendf(nil, "v%d-%s", k, bytes.Repeat([]byte{'x'}, 80))})
		}
		if err := prod.ProduceSync(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*commitlog.Record
	for i := range 200 {
		r := &commitlog.Record{Topic: "trimmed", Partition: int32(i % 2), Value: fmt.Appendf(nil, "t%d", i)}
		if i%10 >= 7 {
			// Came from the target through another mirror: skipped.
			r.Headers = []commitlog.Header{{Key: kafka.MirrorOriginHeader, Value: []byte("remote")}}
		}
		recs = append(recs, r)
	}
	if err := prod.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	gap(ctx)
	source := map[string][][]commitlog.Record{
		"compacted": readAll(t, ctx, src, "compacted"),
		"trimmed":   readAll(t, ctx, src, "trimmed"),
	}
	gaps := 0
	for i, r := range source["compacted"][0] {
		if i > 0 && r.Offset != source["compacted"][0][i-1].Offset+1 {
			gaps++
		}
	}
	if gaps == 0 || source["trimmed"][0][0].Offset != 30 {
		t.Fatalf("the source has no gaps to translate across (%d compaction gaps, trimmed starts at %d)", gaps, source["trimmed"][0][0].Offset)
	}

	// Groups committed at every offset of a few ranges, and past the end.
	type commit struct {
		tp commitlog.TopicPartition
		n  int64
	}
	var commits []commit
	hw := map[commitlog.TopicPartition]int64{}
	for topic, parts := range source {
		for p, rs := range parts {
			tp := commitlog.TopicPartition{Topic: topic, Partition: int32(p)}
			hw[tp] = rs[len(rs)-1].Offset + 1
			for n := int64(0); n <= hw[tp]; n += 1 + int64(n%3) {
				commits = append(commits, commit{tp, n})
			}
		}
	}
	var groups []string
	for i, c := range commits {
		g := fmt.Sprintf("g%d", i)
		groups = append(groups, g)
		if _, err := src.Admin.ResetGroupOffsets(ctx, g, commitlog.ExactOffset(c.n), c.tp); err != nil {
			t.Fatalf("commit %v at %d: %v", c.tp, c.n, err)
		}
	}
	m := newMirror(t, kafka.MirrorConfig{
		Source: src, Target: dst, Topics: []string{"compacted", "trimmed"},
		Groups: groups, CheckpointInterval: time.Hour,
	})
	alive, stop := startMirror(ctx, m)
	for tp, h := range hw {
		// The last copied record of tp.
		rs := source[tp.Topic][tp.Partition]
		for i := len(rs) - 1; i >= 0; i-- {
			if headerOf(rs[i], kafka.MirrorOriginHeader) == nil {
				if err := kafka.WaitMirrorCopied(alive, m, tp, rs[i].Offset); err != nil {
					t.Fatalf("%v; Run: %v", err, stop())
				}
				break
			}
		}
		_ = h
	}
	if err := m.Checkpoint(ctx); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	target := map[string][][]commitlog.Record{
		"compacted": readAll(t, ctx, dst, "compacted"),
		"trimmed":   readAll(t, ctx, dst, "trimmed"),
	}
	skipped := 0
	for _, parts := range source {
		for _, rs := range parts {
			for _, r := range rs {
				if headerOf(r, kafka.MirrorOriginHeader) != nil {
					skipped++
				}
			}
		}
	}
	if st := m.Stats(); st.Skipped != int64(skipped) || skipped == 0 {
		t.Fatalf("%d records skipped, want %d", st.Skipped, skipped)
	}
	for i, c := range commits {
		g := groups[i]
		d, err := dst.Admin.DescribeGroup(ctx, g)
		if err != nil {
			t.Fatalf("group %s (source %v at %d): %v", g, c.tp, c.n, err)
		}
		var got int64 = -1
		for _, pl := range d.Partitions {
			if pl.TopicPartition == c.tp {
				got = pl.Committed
			}
		}
		if tr, ok := m.Translate(c.tp, c.n); !ok || tr != got {
			t.Fatalf("Translate(%v, %d) = %d, %v; the group was set to %d", c.tp, c.n, tr, ok, got)
		}
		// The first copied source record at or after n.
		var next *commitlog.Record
		for _, r := range source[c.tp.Topic][c.tp.Partition] {
			if r.Offset >= c.n && headerOf(r, kafka.MirrorOriginHeader) == nil {
				next = &r
				break
			}
		}
		tr := target[c.tp.Topic][c.tp.Partition]
		if next == nil {
			if want := tr[len(tr)-1].Offset + 1; got != want {
				t.Fatalf("group at %v %d, past the last copied record: target offset %d, want %d", c.tp, c.n, got, want)
			}
			continue
		}
		var at *commitlog.Record
		for _, r := range tr {
			if r.Offset == got {
				at = &r
			}
		}
		if at == nil {
			t.Fatalf("group at %v %d: target offset %d holds no record", c.tp, c.n, got)
		}
		if offsetHeader(t, *at) != next.Offset || !bytes.Equal(at.Value, next.Value) || !bytes.Equal(at.Key, next.Key) {
			t.Fatalf("group at %v %d resumes on the target at %d, source offset %d; want source offset %d", c.tp, c.n, got, offsetHeader(t, *at), next.Offset)
		}
	}
	// Only forward: a source group moved back is not moved back on the target.
	g := groups[len(groups)-1]
	c := commits[len(commits)-1]
	before, _ := m.Translate(c.tp, c.n)
	if _, err := src.Admin.ResetGroupOffsets(ctx, g, commitlog.EarliestOffset(), c.tp); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := dst.Admin.DescribeGroup(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range d.Partitions {
		if pl.TopicPartition == c.tp && pl.Committed != before {
			t.Fatalf("group %s moved back on the target to %d", g, pl.Committed)
		}
	}
}

// TestMirrorBothWays mirrors a topic A→B and B→A at once while both sides
// are produced to: each side ends with its records and the other's, each
// once.
func TestMirrorBothWays(t *testing.T) {
	ctx := testCtx(t)
	a := kafka.LogEndpoint("A", openLog(t))
	b := kafkaEndpoint(t, "B", newMirrorFake(t))
	const topic = "events"
	createTopic2(t, ctx, a, topic, commitlog.TopicConfig{Partitions: 2, Retention: commitlog.Forever})
	createTopic2(t, ctx, b, topic, commitlog.TopicConfig{Partitions: 2, Retention: commitlog.Forever})
	pcfg := commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()}
	pa, err := a.NewProducer(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := b.NewProducer(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	ab := newMirror(t, kafka.MirrorConfig{Source: a, Target: b, Topics: []string{topic}, CheckpointInterval: 20 * time.Millisecond})
	ba := newMirror(t, kafka.MirrorConfig{Source: b, Target: a, Topics: []string{topic}, CheckpointInterval: 20 * time.Millisecond})
	aliveAB, stopAB := startMirror(ctx, ab)
	aliveBA, stopBA := startMirror(ctx, ba)
	lastA, lastB := map[int32]int64{}, map[int32]int64{}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10 {
		ra := genRecords(rng, topic, 2, i*20, 20)
		rb := genRecords(rng, topic, 2, 1000+i*20, 20)
		var wg sync.WaitGroup
		wg.Go(func() { produceAll(t, ctx, pa, ra, lastA) })
		wg.Go(func() { produceAll(t, ctx, pb, rb, lastB) })
		wg.Wait()
	}
	waitRunning(t, aliveAB, stopAB, ab, topic, lastA)
	waitRunning(t, aliveBA, stopBA, ba, topic, lastB)
	if err := errors.Join(stopAB(), stopBA()); err != nil {
		t.Fatal(err)
	}
	for _, side := range []kafka.Endpoint{a, b} {
		seen := map[string]string{}
		for _, part := range readAll(t, ctx, side, topic) {
			for _, r := range part {
				seq := string(r.Headers[0].Value)
				origin := string(headerOf(r, kafka.MirrorOriginHeader))
				if prev, dup := seen[seq]; dup {
					t.Fatalf("%s holds record %s twice (origins %q, %q)", side.Name, seq, prev, origin)
				}
				seen[seq] = origin
				if origin == side.Name {
					t.Fatalf("%s holds its own record %s back from the other side", side.Name, seq)
				}
			}
		}
		if len(seen) != 400 {
			t.Fatalf("%s holds %d records, want 400", side.Name, len(seen))
		}
	}
	if ab.Stats().Skipped == 0 || ba.Stats().Skipped == 0 {
		t.Fatalf("no records skipped: A→B %+v, B→A %+v", ab.Stats(), ba.Stats())
	}
}

// TestMirrorConfigErrors checks what NewMirror and Run refuse.
func TestMirrorConfigErrors(t *testing.T) {
	ctx := testCtx(t)
	a := kafka.LogEndpoint("A", openLog(t))
	b := kafka.LogEndpoint("B", openLog(t))
	for name, cfg := range map[string]kafka.MirrorConfig{
		"no source name": {Source: kafka.Endpoint{Admin: a.Admin, NewProducer: a.NewProducer, NewConsumer: a.NewConsumer}, Target: b, Topics: []string{"t"}},
		"no target name": {Source: a, Target: kafka.Endpoint{Admin: b.Admin, NewProducer: b.NewProducer, NewConsumer: b.NewConsumer}, Topics: []string{"t"}},
		"same names":     {Source: a, Target: kafka.LogEndpoint("A", openLog(t)), Topics: []string{"t"}},
		"no topics":      {Source: a, Target: b},
		"no clients":     {Source: kafka.Endpoint{Name: "A"}, Target: kafka.Endpoint{Name: "B"}, Topics: []string{"t"}},
		"bad name":       {Name: "a b", Source: a, Target: b, Topics: []string{"t"}},
		"topic twice":    {Source: a, Target: b, Topics: []string{"t", "t"}},
		"bad producer":   {Source: a, Target: b, Topics: []string{"t"}, Producer: commitlog.ProducerConfig{Linger: -1}},
	} {
		_, err := kafka.NewMirror(cfg)
		var ce *commitlog.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, commitlog.ErrInvalidConfig) {
			t.Errorf("%s: NewMirror: %v, want a *commitlog.ConfigError", name, err)
		}
	}
	createTopic2(t, ctx, a, "t", commitlog.TopicConfig{Partitions: 3, Retention: commitlog.Forever})
	createTopic2(t, ctx, b, "t", commitlog.TopicConfig{Partitions: 2, Retention: commitlog.Forever})
	m := newMirror(t, kafka.MirrorConfig{Source: a, Target: b, Topics: []string{"t"}})
	err := m.Run(ctx)
	var ce *commitlog.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Run with 3 source and 2 target partitions: %v, want a *commitlog.ConfigError", err)
	}
	t.Log(err)
	m = newMirror(t, kafka.MirrorConfig{Source: a, Target: b, Topics: []string{"missing"}})
	if err := m.Run(ctx); !errors.Is(err, commitlog.ErrUnknownTopic) {
		t.Fatalf("Run with a topic missing on the source: %v", err)
	}
}

// TestMirrorCheckpointActiveGroup checks that a group with members on
// the target keeps its own offsets, and gets the translated ones once it
// is empty.
func TestMirrorCheckpointActiveGroup(t *testing.T) {
	ctx := testCtx(t)
	src := kafka.LogEndpoint("A", openLog(t))
	dstLog := openLog(t)
	dst := kafka.LogEndpoint("B", dstLog)
	createTopic2(t, ctx, src, "t", commitlog.TopicConfig{Partitions: 1, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	last := map[int32]int64{}
	produceAll(t, ctx, prod, genRecords(rand.New(rand.NewPCG(5, 6)), "t", 1, 0, 50), last)
	tp := commitlog.TopicPartition{Topic: "t"}
	if _, err := src.Admin.ResetGroupOffsets(ctx, "g", commitlog.ExactOffset(20), tp); err != nil {
		t.Fatal(err)
	}
	m := newMirror(t, kafka.MirrorConfig{Source: src, Target: dst, Topics: []string{"t"}, CheckpointInterval: time.Hour})
	alive, stop := startMirror(ctx, m)
	waitRunning(t, alive, stop, m, "t", last)

	member, err := dst.NewConsumer(commitlog.ConsumerConfig{Group: "g", Topics: []string{"t"}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.Poll(ctx); err != nil { // joins, and gets records
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := dst.Admin.DescribeGroup(ctx, "g"); err != nil || len(d.Members) != 1 || d.Partitions[0].Committed != -1 {
		t.Fatalf("an active target group's offsets were set: %+v, %v", d, err)
	}
	if err := member.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	want, ok := m.Translate(tp, 20)
	if d, err := dst.Admin.DescribeGroup(ctx, "g"); err != nil || !ok || d.Partitions[0].Committed != want || m.Stats().Checkpoints != 1 {
		t.Fatalf("the empty target group: %+v, %v; want offset %d (%v)", d, err, want, ok)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorKeepsOrigin copies records that came through another mirror
// (from C): they keep their origin, and get this mirror's source and
// offset headers in place of C's. It also checks that one Run at a time
// runs.
func TestMirrorKeepsOrigin(t *testing.T) {
	ctx := testCtx(t)
	src := kafka.LogEndpoint("A", openLog(t))
	dst := kafka.LogEndpoint("B", openLog(t))
	createTopic2(t, ctx, src, "t", commitlog.TopicConfig{Partitions: 1, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cOffset := make([]byte, 8)
	binary.BigEndian.PutUint64(cOffset, 12345)
	recs := []*commitlog.Record{
		{Topic: "t", Value: []byte("own")},
		{Topic: "t", Value: []byte("from C"), Headers: []commitlog.Header{
			{Key: "user", Value: []byte("u")},
			{Key: kafka.MirrorOriginHeader, Value: []byte("C")},
			{Key: kafka.MirrorSourceHeader, Value: []byte("C")},
			{Key: kafka.MirrorOffsetHeader, Value: cOffset},
		}},
	}
	last := map[int32]int64{}
	produceAll(t, ctx, prod, recs, last)
	m := newMirror(t, kafka.MirrorConfig{Source: src, Target: dst, Topics: []string{"t"}})
	alive, stop := startMirror(ctx, m)
	waitRunning(t, alive, stop, m, "t", last)
	if err := m.Run(ctx); !errors.Is(err, commitlog.ErrInvalidArgument) {
		t.Fatalf("a second Run while one runs: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, ctx, src, "t")[0], readAll(t, ctx, dst, "t")[0]
	if len(got) != 2 {
		t.Fatalf("%d records copied", len(got))
	}
	checkCopy(t, want[0], got[0], "A", "A")
	checkCopy(t, want[1], got[1], "C", "A")
}

// TestMirrorTargetFails has the target refuse every produce for good: Run
// ends with the error, and a new Run, once the target accepts records
// again, copies the rest without loss or duplicates.
func TestMirrorTargetFails(t *testing.T) {
	ctx := testCtx(t)
	src := kafka.LogEndpoint("A", openLog(t))
	c, kc := newMirrorCluster(t)
	dst := kafkaEndpoint(t, "B", kc)
	createTopic2(t, ctx, src, "t", commitlog.TopicConfig{Partitions: 2, Retention: commitlog.Forever})
	prod, err := src.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var refuse atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		return produceRefused(req, kerr.MessageTooLarge.Code), nil, true
	})
	rng := rand.New(rand.NewPCG(8, 9))
	last := map[int32]int64{}
	produceAll(t, ctx, prod, genRecords(rng, "t", 2, 0, 100), last)
	cfg := kafka.MirrorConfig{Source: src, Target: dst, Topics: []string{"t"}, CheckpointInterval: 10 * time.Millisecond}
	m := newMirror(t, cfg)
	alive, stop := startMirror(ctx, m)
	waitRunning(t, alive, stop, m, "t", last)
	refuse.Store(true)
	produceAll(t, ctx, prod, genRecords(rng, "t", 2, 100, 100), last)
	<-alive.Done()
	if err := stop(); !errors.Is(err, commitlog.ErrRecordTooLarge) {
		t.Fatalf("Run with the target refusing records: %v", err)
	}
	refuse.Store(false)
	produceAll(t, ctx, prod, genRecords(rng, "t", 2, 200, 50), last)
	m = newMirror(t, cfg)
	alive, stop = startMirror(ctx, m)
	waitRunning(t, alive, stop, m, "t", last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, ctx, src, "t"), readAll(t, ctx, dst, "t")
	for p := range want {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("partition %d: %d records on the target, %d on the source", p, len(got[p]), len(want[p]))
		}
		for i := range want[p] {
			checkCopy(t, want[p][i], got[p][i], "A", "A")
		}
	}
}

// TestMirrorForeignTargetRecords has another producer write to the
// target topic while the mirror copies into it, with a restart between:
// the copied records are the source's, once each and in order, among the
// others; and translated group offsets neither skip nor reread a copied
// record.
func TestMirrorForeignTargetRecords(t *testing.T) {
	ctx := testCtx(t)
	src := kafka.LogEndpoint("A", openLog(t))
	dst := kafkaEndpoint(t, "B", newMirrorFake(t))
	createTopic2(t, ctx, src, "t", commitlog.TopicConfig{Partitions: 1, Retention: commitlog.Forever})
	createTopic2(t, ctx, dst, "t", commitlog.TopicConfig{Partitions: 1})
	sp, err := src.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	fp, err := dst.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	rng := rand.New(rand.NewPCG(10, 11))
	last := map[int32]int64{}
	cfg := kafka.MirrorConfig{Source: src, Target: dst, Topics: []string{"t"}, Groups: []string{}, CheckpointInterval: 5 * time.Millisecond}
	for round := range 3 {
		m := newMirror(t, cfg)
		alive, stop := startMirror(ctx, m)
		for i := range 5 {
			seq := round*100 + i*20
			produceAll(t, ctx, sp, genRecords(rng, "t", 1, seq, 20), last)
			produceAll(t, ctx, fp, genRecords(rng, "t", 1, 10_000+seq, 5), map[int32]int64{})
		}
		waitRunning(t, alive, stop, m, "t", last)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if round < 2 {
			continue
		}
		want, got := readAll(t, ctx, src, "t")[0], readAll(t, ctx, dst, "t")[0]
		var copied []commitlog.Record
		for _, r := range got {
			if headerOf(r, kafka.MirrorSourceHeader) != nil {
				copied = append(copied, r)
			}
		}
		if len(copied) != len(want) || len(got) != len(want)+75 {
			t.Fatalf("%d records copied of %d; %d on the target", len(copied), len(want), len(got))
		}
		for i := range want {
			checkCopy(t, want[i], copied[i], "A", "A")
		}
		tp := commitlog.TopicPartition{Topic: "t"}
		for n := want[0].Offset; n <= want[len(want)-1].Offset+1; n++ {
			d, ok := m.Translate(tp, n)
			if !ok {
				t.Fatalf("Translate(%d) not ok", n)
			}
			for _, r := range copied {
				if s := offsetHeader(t, r); s < n && r.Offset >= d || s >= n && r.Offset < d {
					t.Fatalf("Translate(%d) = %d, but the copy of source offset %d is at %d", n, d, s, r.Offset)
				}
			}
		}
	}
}
