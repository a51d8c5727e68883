package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cases of this file make the same calls on a Log and on a Kafka
// cluster (kfake) where the two backends differ, and check each side's
// documented behaviour: one case per row of the table "What differs from
// a Log" in README.md (and the package documentation's section of that
// name).

// sides holds one backend's clients for a difference case.
type sides struct {
	name        string
	admin       commitlog.AdminClient
	newProducer func(commitlog.ProducerConfig) commitlog.ProducerClient
	newConsumer func(commitlog.ConsumerConfig) commitlog.ConsumerClient
}

// logSide returns a Log in a temporary directory (opened with opts) and
// its clients, closed at the end of the test.
func logSide(t *testing.T, opts *commitlog.Options) (*commitlog.Log, *sides) {
	t.Helper()
	l, err := commitlog.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, &sides{
		name:  "log",
		admin: l.Admin(),
		newProducer: func(cfg commitlog.ProducerConfig) commitlog.ProducerClient {
			p, err := l.NewProducer(cfg)
			if err != nil {
				t.Fatalf("NewProducer: %v", err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		},
		newConsumer: func(cfg commitlog.ConsumerConfig) commitlog.ConsumerClient {
			c, err := l.NewConsumer(cfg)
			if err != nil {
				t.Fatalf("NewConsumer: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
	}
}

// kafkaSide returns a kfake cluster (started with opts) and the kafka
// module's clients for it, closed at the end of the test.
func kafkaSide(t *testing.T, opts ...kfake.Opt) (*fake, *sides) {
	t.Helper()
	f := newFake(t, opts...)
	a, err := kafka.NewAdmin(f.config())
	if err != nil {
		t.Fatalf("NewAdmin: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return f, &sides{
		name:  "kafka",
		admin: a,
		newProducer: func(cfg commitlog.ProducerConfig) commitlog.ProducerClient {
			p, err := kafka.NewProducer(f.config(), cfg)
			if err != nil {
				t.Fatalf("NewProducer: %v", err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		},
		newConsumer: func(cfg commitlog.ConsumerConfig) commitlog.ConsumerClient {
			c, err := kafka.NewConsumer(f.config(), cfg)
			if err != nil {
				t.Fatalf("NewConsumer: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
	}
}

// topic creates name with n partitions (replicated 3 times on the
// cluster) and produces values to them round robin.
func (s *sides) topic(t *testing.T, ctx context.Context, name string, n int32, values ...string) {
	t.Helper()
	cfg := commitlog.TopicConfig{Partitions: n}
	if s.name == "kafka" {
		cfg.ReplicationFactor = 3
	}
	if err := s.admin.CreateTopic(ctx, name, cfg); err != nil {
		t.Fatalf("%s: CreateTopic: %v", s.name, err)
	}
	if len(values) == 0 {
		return
	}
	p := s.newProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner()})
	var recs []*commitlog.Record
	for i, v := range values {
		recs = append(recs, &commitlog.Record{Topic: name, Partition: int32(i) % n, Value: []byte(v)})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("%s: ProduceSync: %v", s.name, err)
	}
}

// pollN polls c until it has n records.
func pollN(t *testing.T, ctx context.Context, c commitlog.ConsumerClient, n int) []commitlog.Record {
	t.Helper()
	var got []commitlog.Record
	for len(got) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d of %d records: %v", len(got), n, err)
		}
		got = append(got, recs...)
	}
	return got
}

// TestDifferenceDurability: a Log acknowledges a record once it is
// fsynced (SyncAlways, the default); the Kafka producer asks for acks=all
// (the in-sync replicas have it, flushed on the brokers' schedule), and
// how many replicas that is, min.insync.replicas, is the topic's
// configuration, the cluster's default unless set.
func TestDifferenceDurability(t *testing.T) {
	ctx := testCtx(t)
	l, onLog := logSide(t, nil)
	onLog.topic(t, ctx, "d", 1)
	before := l.Stats().Fsync.Count
	if err := onLog.newProducer(commitlog.ProducerConfig{}).ProduceSync(ctx, &commitlog.Record{Topic: "d", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if after := l.Stats().Fsync.Count; after <= before {
		t.Fatalf("log: %d fsync rounds before the acknowledgement, %d after: want one more", before, after)
	}

	f, onKafka := kafkaSide(t)
	onKafka.topic(t, ctx, "d", 1)
	if err := onKafka.admin.CreateTopic(ctx, "d2", commitlog.TopicConfig{Partitions: 1, ReplicationFactor: 3, MinInSyncReplicas: 2}); err != nil {
		t.Fatal(err)
	}
	var acks atomic.Int32
	acks.Store(1)
	f.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		acks.Store(int32(req.(*kmsg.ProduceRequest).Acks))
		return nil, nil, false // observed, then handled by the cluster
	})
	if err := onKafka.newProducer(commitlog.ProducerConfig{}).ProduceSync(ctx, &commitlog.Record{Topic: "d", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if a := acks.Load(); a != -1 {
		t.Fatalf("kafka: the produce request asked for acks=%d, want -1 (all in-sync replicas)", a)
	}
	for topic, want := range map[string]int16{"d": 1, "d2": 2} {
		cfg, err := onKafka.admin.DescribeTopic(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MinInSyncReplicas != want {
			t.Fatalf("kafka: %s's MinInSyncReplicas: %d, want %d", topic, cfg.MinInSyncReplicas, want)
		}
	}
}

// TestDifferenceOffsetsLocation: a Log keeps committed offsets in its own
// directory (they survive a reopen); a Kafka cluster knows nothing of
// them: moving the group means setting its offsets there with
// ResetGroupOffsets and ExactOffset, after which a consumer of the group
// on Kafka resumes where the Log's left off.
func TestDifferenceOffsetsLocation(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	onLog := &sides{name: "log", admin: l.Admin()}
	onLog.newProducer = func(cfg commitlog.ProducerConfig) commitlog.ProducerClient {
		p, err := l.NewProducer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	values := names("v", 10)
	onLog.topic(t, ctx, "o", 2, values...)
	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "og", Topics: []string{"o"}, DisableAutoCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	recs := pollN(t, ctx, c, 4)
	if err := c.CommitRecords(ctx, recs[:4]...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = commitlog.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, err := l.DescribeGroup("og")
	if err != nil {
		t.Fatalf("log: DescribeGroup after a reopen: %v", err)
	}
	committed := map[commitlog.TopicPartition]int64{}
	for _, p := range d.Partitions {
		if p.Committed >= 0 {
			committed[p.TopicPartition] = p.Committed
		}
	}
	if len(committed) == 0 {
		t.Fatal("log: no committed offsets after a reopen")
	}

	_, onKafka := kafkaSide(t)
	onKafka.topic(t, ctx, "o", 2, values...) // the data copied, offset for offset
	if _, err := onKafka.admin.DescribeGroup(ctx, "og"); !errors.Is(err, commitlog.ErrUnknownGroup) {
		t.Fatalf("kafka: DescribeGroup of a group committed on a Log: %v, want ErrUnknownGroup", err)
	}
	for tp, off := range committed {
		if _, err := onKafka.admin.ResetGroupOffsets(ctx, "og", commitlog.ExactOffset(off), tp); err != nil {
			t.Fatalf("kafka: ResetGroupOffsets: %v", err)
		}
	}
	kc := onKafka.newConsumer(commitlog.ConsumerConfig{Group: "og", Topics: []string{"o"}})
	rest := pollN(t, ctx, kc, len(values)-4)
	for _, r := range rest {
		tp := commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if off, ok := committed[tp]; ok && r.Offset < off {
			t.Fatalf("kafka: read %v offset %d, below the offset %d moved from the Log", tp, r.Offset, off)
		}
	}
}

// TestDifferenceCommitAboveHighWatermark: a Log refuses a commit above
// the high watermark (*OffsetOutOfRangeError); Kafka accepts it.
func TestDifferenceCommitAboveHighWatermark(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "h", 1, "a", "b")
		c := s.newConsumer(commitlog.ConsumerConfig{Group: "hg", Topics: []string{"h"}, DisableAutoCommit: true})
		pollN(t, ctx, c, 2)
		err := c.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{{Topic: "h"}: 100})
		var oe *commitlog.OffsetOutOfRangeError
		switch s.name {
		case "log":
			if !errors.As(err, &oe) || !errors.Is(err, commitlog.ErrOffsetOutOfRange) {
				t.Fatalf("log: a commit above the high watermark: %v, want an *OffsetOutOfRangeError", err)
			}
		case "kafka":
			if err != nil {
				t.Fatalf("kafka: a commit above the high watermark: %v, want it accepted", err)
			}
			got, err := c.Committed(ctx)
			if err != nil || got[commitlog.TopicPartition{Topic: "h"}] != 100 {
				t.Fatalf("kafka: Committed: %v, %v, want 100", got, err)
			}
		}
	}
}

// TestDifferenceEvictionForNotPolling: a Log evicts a member that goes
// MaxPollInterval without a Poll (its next Poll returns a FencedError);
// on Kafka, MaxPollInterval is the rebalance timeout, and a member that
// does not poll for longer while no rebalance waits on it stays in its
// group (kgo heartbeats in the background). TestMemberSessionTimeout
// shows what evicts on Kafka: heartbeats missing for SessionTimeout.
func TestDifferenceEvictionForNotPolling(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	const maxPoll = 300 * time.Millisecond
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "e", 1, "a")
		c := s.newConsumer(commitlog.ConsumerConfig{Group: "eg", Topics: []string{"e"}, MaxPollInterval: maxPoll})
		pollN(t, ctx, c, 1)
		id := c.MemberID()
		time.Sleep(3 * maxPoll) // not polling
		p := s.newProducer(commitlog.ProducerConfig{})
		if err := p.ProduceSync(ctx, &commitlog.Record{Topic: "e", Value: []byte("b")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Poll(ctx)
		var fe *commitlog.FencedError
		switch s.name {
		case "log":
			if !errors.As(err, &fe) {
				t.Fatalf("log: Poll after %v without one: %v, want a *FencedError", 3*maxPoll, err)
			}
		case "kafka":
			if err != nil {
				t.Fatalf("kafka: Poll after %v without one: %v, want the record", 3*maxPoll, err)
			}
			if c.MemberID() != id {
				t.Fatalf("kafka: member %q became %q: it was evicted", id, c.MemberID())
			}
		}
	}
}

type ctxKey struct{}

// goroutineID returns the calling goroutine's id, from its stack trace.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// TestDifferenceCallbackGoroutine: a Log's consumer calls the rebalance
// callbacks on Poll's goroutine with Poll's context; the Kafka consumer
// calls them on kgo's group goroutine, while Poll waits, with kgo's
// context (not Poll's: a value in Poll's context is not in it).
func TestDifferenceCallbackGoroutine(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "cb", 1, "a")
		var (
			gotValue any
			gotID    string
			inPoll   atomic.Bool
			during   bool
		)
		c := s.newConsumer(commitlog.ConsumerConfig{Group: "cbg", Topics: []string{"cb"},
			OnAssigned: func(cctx context.Context, _ commitlog.ConsumerClient, _ []commitlog.TopicPartition) {
				gotValue, gotID, during = cctx.Value(ctxKey{}), goroutineID(), inPoll.Load()
			}})
		pctx := context.WithValue(ctx, ctxKey{}, "poll's")
		inPoll.Store(true)
		pollN(t, pctx, c, 1)
		inPoll.Store(false)
		if !during {
			t.Fatalf("%s: OnAssigned ran outside Poll", s.name)
		}
		sameGoroutine := gotID == goroutineID()
		switch s.name {
		case "log":
			if gotValue != "poll's" || !sameGoroutine {
				t.Fatalf("log: OnAssigned's context value %v, on Poll's goroutine: %v; want Poll's context and goroutine", gotValue, sameGoroutine)
			}
		case "kafka":
			if gotValue != nil || sameGoroutine {
				t.Fatalf("kafka: OnAssigned's context value %v, on Poll's goroutine: %v; want kgo's context and goroutine", gotValue, sameGoroutine)
			}
		}
	}
}

// TestDifferenceLagBeforeFetch: a Log's consumer knows each partition's
// lag as soon as it is assigned; the Kafka consumer reports -1 until a
// fetch has brought the partition's high watermark.
func TestDifferenceLagBeforeFetch(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	tp := commitlog.TopicPartition{Topic: "lag"}
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "lag", 1, "a", "b", "c")
		c := s.newConsumer(commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{tp}, MaxPollRecords: 1})
		lag := c.Lag()[tp]
		switch s.name {
		case "log":
			if lag != 3 {
				t.Fatalf("log: Lag before the first Poll: %d, want 3", lag)
			}
		case "kafka":
			if lag != -1 {
				t.Fatalf("kafka: Lag before the first Poll: %d, want -1", lag)
			}
		}
		pollN(t, ctx, c, 1)
		if lag := c.Lag()[tp]; lag != 2 {
			t.Fatalf("%s: Lag after a Poll of one record: %d, want 2", s.name, lag)
		}
	}
}

// TestDifferenceDescribeGroup: a Log's DescribeGroup reports the group's
// generation and when each offset was committed; Kafka's reports neither
// (Epoch -1, CommittedAt zero), and a member's Owned is its Assigned.
func TestDifferenceDescribeGroup(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "dg", 2, "a", "b")
		c := s.newConsumer(commitlog.ConsumerConfig{Group: "dgg", Topics: []string{"dg"}, DisableAutoCommit: true})
		if err := c.CommitRecords(ctx, pollN(t, ctx, c, 2)...); err != nil {
			t.Fatal(err)
		}
		d, err := s.admin.DescribeGroup(ctx, "dgg")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Members) != 1 || len(d.Partitions) != 2 {
			t.Fatalf("%s: DescribeGroup: %+v", s.name, d)
		}
		m, p := d.Members[0], d.Partitions[0]
		switch s.name {
		case "log":
			if d.Epoch <= 0 || p.CommittedAt.IsZero() {
				t.Fatalf("log: Epoch %d, CommittedAt %v: want the generation and the commit's time", d.Epoch, p.CommittedAt)
			}
		case "kafka":
			if d.Epoch != -1 || !p.CommittedAt.IsZero() || !slices.Equal(m.Owned, m.Assigned) {
				t.Fatalf("kafka: Epoch %d, CommittedAt %v, Owned %v of Assigned %v: want -1, zero, the same", d.Epoch, p.CommittedAt, m.Owned, m.Assigned)
			}
		}
	}
}

// TestDifferenceTopicDefaults: a topic's zero configuration fields take
// the Log's defaults on a Log (its own, or Options.TopicDefaults: here
// retention is an hour), and the cluster's on Kafka (kfake's
// segment.bytes is 100 MiB where a Log's is 1 GiB). Fields set are passed
// as topic configs and read back alike.
func TestDifferenceTopicDefaults(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, &commitlog.Options{TopicDefaults: commitlog.TopicConfig{Retention: time.Hour}})
	_, onKafka := kafkaSide(t)
	want := map[string]commitlog.TopicConfig{
		"log":   {SegmentBytes: 1 << 30, Retention: time.Hour},
		"kafka": {SegmentBytes: 100 << 20, Retention: 7 * 24 * time.Hour},
	}
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "zero", 1)
		if err := s.admin.CreateTopic(ctx, "set", commitlog.TopicConfig{Partitions: 1, ReplicationFactor: map[string]int16{"log": 0, "kafka": 3}[s.name],
			Retention: 2 * time.Hour, SegmentBytes: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		zero, err := s.admin.DescribeTopic(ctx, "zero")
		if err != nil {
			t.Fatal(err)
		}
		set, err := s.admin.DescribeTopic(ctx, "set")
		if err != nil {
			t.Fatal(err)
		}
		if w := want[s.name]; zero.SegmentBytes != w.SegmentBytes || zero.Retention != w.Retention {
			t.Fatalf("%s: defaults SegmentBytes %d, Retention %v; want %d, %v", s.name, zero.SegmentBytes, zero.Retention, w.SegmentBytes, w.Retention)
		}
		if set.SegmentBytes != 1<<20 || set.Retention != 2*time.Hour {
			t.Fatalf("%s: set SegmentBytes %d, Retention %v; want 1 MiB, 2h", s.name, set.SegmentBytes, set.Retention)
		}
	}
}

// TestDifferenceReservedNames: a Log reserves topic names starting with
// "__" for itself (a *TopicNameError); Kafka creates them.
func TestDifferenceReservedNames(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	var ne *commitlog.TopicNameError
	if err := onLog.admin.CreateTopic(ctx, "__mine", commitlog.TopicConfig{}); !errors.As(err, &ne) || !errors.Is(err, commitlog.ErrInvalidTopicName) {
		t.Fatalf("log: CreateTopic(__mine): %v, want a *TopicNameError", err)
	}
	if err := onKafka.admin.CreateTopic(ctx, "__mine", commitlog.TopicConfig{Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatalf("kafka: CreateTopic(__mine): %v", err)
	}
	if _, err := onKafka.admin.DescribeTopic(ctx, "__mine"); err != nil {
		t.Fatalf("kafka: DescribeTopic(__mine): %v", err)
	}
}

// TestDifferenceAddPartitions: a Log's topic keeps the partition count it
// was created with (CreateTopic again: ErrTopicExists); Kafka adds
// partitions to a live topic (kadm's CreatePartitions, through As), and
// keyed records then land by murmur2 modulo the new count.
func TestDifferenceAddPartitions(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	for _, s := range []*sides{onLog, onKafka} {
		s.topic(t, ctx, "grow", 2)
	}
	if err := onLog.admin.CreateTopic(ctx, "grow", commitlog.TopicConfig{Partitions: 4}); !errors.Is(err, commitlog.ErrTopicExists) {
		t.Fatalf("log: CreateTopic of a live topic with more partitions: %v, want ErrTopicExists", err)
	}
	var adm *kadm.Client
	if !onKafka.admin.As(&adm) {
		t.Fatal("kafka: the Admin's As does not fill a *kadm.Client")
	}
	resp, err := adm.CreatePartitions(ctx, 2, "grow")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("kafka: CreatePartitions: %v", err)
	}
	for _, c := range []struct {
		s    *sides
		want int32
	}{{onLog, 2}, {onKafka, 4}} {
		cfg, err := c.s.admin.DescribeTopic(ctx, "grow")
		if err != nil || cfg.Partitions != c.want {
			t.Fatalf("%s: DescribeTopic: %d partitions, %v; want %d", c.s.name, cfg.Partitions, err, c.want)
		}
	}
	p := onKafka.newProducer(commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	var seen [4]bool
	for i := range 40 {
		r := &commitlog.Record{Topic: "grow", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("x")}
		if err := p.ProduceSync(ctx, r); err != nil {
			t.Fatal(err)
		}
		seen[r.Partition] = true
	}
	if !seen[2] && !seen[3] {
		t.Fatalf("kafka: no keyed record in the added partitions: %v", seen)
	}
}

// TestDifferenceDefaultPartitioner: with no Partitioner set, a Log places
// keys with xxhash (KeyHashPartitioner) and the Kafka producer with
// murmur2, as Kafka's clients do; with Murmur2Partitioner set, both place
// every key alike.
func TestDifferenceDefaultPartitioner(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	_, onKafka := kafkaSide(t)
	placement := func(s *sides, topic string, part commitlog.Partitioner) []int32 {
		s.topic(t, ctx, topic, 8)
		p := s.newProducer(commitlog.ProducerConfig{Partitioner: part})
		var out []int32
		for i := range 32 {
			r := &commitlog.Record{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i), Value: []byte("x")}
			if err := p.ProduceSync(ctx, r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Partition)
		}
		return out
	}
	logDefault, kafkaDefault := placement(onLog, "dflt", nil), placement(onKafka, "dflt", nil)
	logMurmur2, kafkaMurmur2 := placement(onLog, "m2", commitlog.Murmur2Partitioner()), placement(onKafka, "m2", commitlog.Murmur2Partitioner())
	if !slices.Equal(logMurmur2, kafkaMurmur2) || !slices.Equal(kafkaDefault, kafkaMurmur2) {
		t.Fatalf("murmur2 placement: log %v, kafka %v, kafka's default %v: want the same", logMurmur2, kafkaMurmur2, kafkaDefault)
	}
	if slices.Equal(logDefault, kafkaDefault) {
		t.Fatalf("the Log's default placed 32 keys as murmur2 does: %v", logDefault)
	}
}

// allPartitions returns topic's partitions 0..n-1.
func allPartitions(topic string, n int32) []commitlog.TopicPartition {
	tps := make([]commitlog.TopicPartition, n)
	for i := range tps {
		tps[i] = commitlog.TopicPartition{Topic: topic, Partition: int32(i)}
	}
	return tps
}

// names returns n values "prefix-0" ... .
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestDifferenceEvictionRebalanceTimeout: on Kafka, a member that stops
// polling is evicted once a rebalance has waited on it for the group's
// rebalance timeout (the members' largest MaxPollInterval), not for being
// outside Poll as such (TestDifferenceEvictionForNotPolling): the other
// member takes every partition, and the evicted one learns it as on a
// Log, whatever the balancer: its next Poll runs OnLost (never OnRevoked)
// and returns a FencedError, its commits of what it held are refused, and
// it rejoins under a new member id.
func TestDifferenceEvictionRebalanceTimeout(t *testing.T) {
	for _, bal := range []commitlog.Balancer{commitlog.RangeBalancer(), commitlog.CooperativeStickyBalancer()} {
		t.Run(bal.Name(), func(t *testing.T) { testEvictionRebalanceTimeout(t, bal) })
	}
}

func testEvictionRebalanceTimeout(t *testing.T, bal commitlog.Balancer) {
	ctx := testCtx(t)
	_, onKafka := kafkaSide(t)
	const n, maxPoll = 4, 300 * time.Millisecond
	onKafka.topic(t, ctx, "rt", n, names("v", n)...)
	var (
		mu    sync.Mutex
		calls []string
	)
	record := func(name string) func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition) {
		return func(_ context.Context, _ commitlog.ConsumerClient, tps []commitlog.TopicPartition) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, fmt.Sprintf("%s%v", name, tps))
		}
	}
	cfg := commitlog.ConsumerConfig{Group: "rtg", Topics: []string{"rt"}, MaxPollInterval: maxPoll, Balancer: bal, DisableAutoCommit: true}
	acfg := cfg
	acfg.OnAssigned, acfg.OnRevoked, acfg.OnLost = record("OnAssigned"), record("OnRevoked"), record("OnLost")
	a := onKafka.newConsumer(acfg)
	held := pollN(t, ctx, a, n)
	aID := a.MemberID()

	// A stops polling; B joins, and the rebalance waits on A.
	bHasAll := make(chan struct{})
	var once atomic.Bool
	bcfg := cfg
	bcfg.OnAssigned = func(_ context.Context, c commitlog.ConsumerClient, _ []commitlog.TopicPartition) {
		if len(c.Assignment()) == n && !once.Swap(true) {
			close(bHasAll)
		}
	}
	b := onKafka.newConsumer(bcfg)
	bctx, stopB := context.WithCancel(ctx)
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		for bctx.Err() == nil {
			b.Poll(bctx)
		}
	}()
	defer func() { stopB(); <-bDone }()

	start := time.Now()
	select {
	case <-bHasAll:
	case <-ctx.Done():
		t.Fatalf("B never owned every partition: %v", b.Assignment())
	}
	if waited := time.Since(start); waited < maxPoll {
		t.Fatalf("B had every partition after %v, before the rebalance timeout %v", waited, maxPoll)
	}
	_, err := a.Poll(ctx)
	var fe *commitlog.FencedError
	if !errors.As(err, &fe) || fe.Group != "rtg" {
		t.Fatalf("A's Poll after its eviction: %v, want a *FencedError", err)
	}
	mu.Lock()
	// (kgo may have rejoined already: an OnAssigned may follow.)
	if len(calls) < 2 || calls[1] != fmt.Sprintf("OnLost%v", allPartitions("rt", n)) ||
		slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "OnRevoked") }) {
		t.Fatalf("A's callbacks: %v, want OnAssigned, then OnLost of every partition, and no OnRevoked", calls)
	}
	mu.Unlock()
	if err := a.CommitRecords(ctx, held...); !errors.As(err, &fe) {
		t.Fatalf("A's commit of what it had before its eviction: %v, want a *FencedError", err)
	}
	for len(a.Assignment()) == 0 {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err := a.Poll(pctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("A's Poll after the FencedError: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("A never rejoined")
		}
	}
	if id := a.MemberID(); id == aID {
		t.Fatalf("A is still member %q", id)
	}
}

// TestDifferenceIdempotentAcks: a Log's idempotent producer takes any
// Acks; Kafka's idempotent producer needs acks=all, so NewProducer
// refuses AckLeader and AckNone unless DisableIdempotence is set.
func TestDifferenceIdempotentAcks(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	f, _ := kafkaSide(t)
	onLog.topic(t, ctx, "ia", 1)
	for _, acks := range []commitlog.Acks{commitlog.AckLeader, commitlog.AckNone} {
		p := onLog.newProducer(commitlog.ProducerConfig{Acks: acks})
		if err := p.ProduceSync(ctx, &commitlog.Record{Topic: "ia", Value: []byte("x")}); err != nil {
			t.Fatalf("log: an idempotent producer with Acks %v: %v", acks, err)
		}
		var ce *commitlog.ConfigError
		if _, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Acks: acks}); !errors.As(err, &ce) {
			t.Fatalf("kafka: NewProducer, idempotent with Acks %v: %v, want a *ConfigError", acks, err)
		}
		p2, err := kafka.NewProducer(f.config(), commitlog.ProducerConfig{Acks: acks, DisableIdempotence: true})
		if err != nil {
			t.Fatalf("kafka: NewProducer with Acks %v, not idempotent: %v", acks, err)
		}
		p2.Close()
	}
}

// TestDifferenceProducerClose: a Log's Producer.Close waits until every
// buffered record is on disk; the Kafka Producer's waits at most
// Config.DeliveryTimeout for the cluster, then fails the records not
// acknowledged with ErrClosed and returns an error (here every produce is
// answered with a retriable error, so none is).
func TestDifferenceProducerClose(t *testing.T) {
	ctx := testCtx(t)
	_, onLog := logSide(t, nil)
	onLog.topic(t, ctx, "pc", 1)
	f, onKafka := kafkaSide(t)
	onKafka.topic(t, ctx, "pc", 1)
	f.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.c.KeepControl()
		return produceRefused(req, kerr.RequestTimedOut.Code), nil, true
	})
	kc := f.config()
	kc.DeliveryTimeout = 300 * time.Millisecond
	kp, err := kafka.NewProducer(kc, commitlog.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	lp := onLog.newProducer(commitlog.ProducerConfig{})
	for _, c := range []struct {
		name string
		p    commitlog.ProducerClient
	}{{"log", lp}, {"kafka", kp}} {
		results := make(chan error, 1)
		c.p.Produce(ctx, &commitlog.Record{Topic: "pc", Value: []byte("x")}, func(_ *commitlog.Record, err error) { results <- err })
		start := time.Now()
		closeErr := c.p.Close()
		took, err := time.Since(start), <-results
		switch c.name {
		case "log":
			if closeErr != nil || err != nil {
				t.Fatalf("log: Close: %v; the record: %v; want both nil", closeErr, err)
			}
		case "kafka":
			if closeErr == nil || !errors.Is(err, commitlog.ErrClosed) || took > 10*kc.DeliveryTimeout {
				t.Fatalf("kafka: Close after %v: %v; the record: %v; want an error and ErrClosed within about %v", took, closeErr, err, kc.DeliveryTimeout)
			}
		}
	}
}
