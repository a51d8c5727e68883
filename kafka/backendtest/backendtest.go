// Package backendtest is the conformance suite of commitlog's backends:
// the same cases, run against every implementation of
// commitlog.ProducerClient, ConsumerClient and AdminClient, check that a
// program sees the same behaviour whichever backend holds its records —
// the embedded Log, a Kafka cluster through the kafka module, or any
// other backend.
//
// A backend's test calls Run with a function that makes a fresh, empty
// backend for one case:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) *backendtest.Backend {
//			... // open a Log in t.TempDir(), or start a cluster
//			return &backendtest.Backend{Admin: ..., NewProducer: ..., NewConsumer: ...}
//		})
//	}
//
// The cases: produce and consume round trips with every codec; key
// placement under commitlog.Murmur2Partitioner (and a backend's default
// when it declares Murmur2Default) against franz-go's own murmur2; group
// members joining and leaving, rebalances only inside Poll, with
// commits that survive a restart of the backend; at-least-once
// processing with ProcessPartitions across a failure; and a concurrent
// workload whose history is checked for
// Jepsen's Kafka anomalies (no acknowledged record lost, order kept
// within a partition, no duplicates where none may be). Every wait is
// bounded by Backend.Timeout; nothing sleeps, but for the case checking
// that rebalances happen only inside Poll, which watches for a second
// that nothing happens outside it.
package backendtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
)

// Backend is one backend under test, fresh and empty. Every client a case
// makes it closes itself.
type Backend struct {
	// Admin returns an AdminClient of the backend. Required.
	Admin func() commitlog.AdminClient
	// NewProducer returns a producer configured by cfg. Required.
	NewProducer func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error)
	// NewConsumer returns a consumer configured by cfg. Required.
	NewConsumer func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error)
	// Restart stops the backend's storage and starts it again from what
	// it keeps (a Log closed and reopened; a cluster restarted over its
	// data directory). Every client has been closed when it is called,
	// and AdminClients made before it are not used after it. Nil: the
	// cases that need it are skipped.
	Restart func(t *testing.T)
	// Murmur2Default says the backend's default partitioner places keys
	// with Kafka's murmur2 (as Kafka's producers do).
	Murmur2Default bool
	// ReplicationFactor is the replication factor the cases create
	// topics with; 0 leaves it to the backend.
	ReplicationFactor int16
	// Timeout bounds each wait of a case (for records, for a group to
	// settle). Default 30s.
	Timeout time.Duration
}

// Run runs every case against backends made by newBackend, one per case,
// as subtests of t.
func Run(t *testing.T, newBackend func(t *testing.T) *Backend) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b *Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"KeyPlacement", testKeyPlacement},
		{"ProduceCopies", testProduceCopies},
		{"ProduceErrors", testProduceErrors},
		{"ConsumerControls", testConsumerControls},
		{"ResetNone", testResetNone},
		{"GroupMembership", testGroupMembership},
		{"AutoCommit", testAutoCommit},
		{"SeekInOnAssigned", testSeekInOnAssigned},
		{"RebalanceOnlyInPoll", testRebalanceOnlyInPoll},
		{"CommitsSurviveRestart", testCommitsSurviveRestart},
		{"ProcessPartitionsAtLeastOnce", testProcessPartitions},
		{"History", testHistory},
		{"AdminTopics", testAdminTopics},
		{"AdminGroups", testAdminGroups},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t)
			if b.Timeout == 0 {
				b.Timeout = 30 * time.Second
			}
			c.fn(t, b)
		})
	}
}

// ctx returns a context bounded by the backend's timeout.
func (b *Backend) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), b.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// admin returns an AdminClient closed at the end of the test.
func (b *Backend) admin(t *testing.T) commitlog.AdminClient {
	a := b.Admin()
	t.Cleanup(func() { a.Close() })
	return a
}

// createTopic creates a topic with n partitions and extra configuration.
func (b *Backend) createTopic(t *testing.T, name string, n int32, cfg commitlog.TopicConfig) {
	t.Helper()
	a := b.Admin()
	defer a.Close()
	cfg.Partitions = n
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = b.ReplicationFactor
	}
	if err := a.CreateTopic(b.ctx(t), name, cfg); err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
}

// producer returns a producer closed at the end of the test.
func (b *Backend) producer(t *testing.T, cfg commitlog.ProducerConfig) commitlog.ProducerClient {
	t.Helper()
	p, err := b.NewProducer(cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// consumer returns a consumer closed at the end of the test.
func (b *Backend) consumer(t *testing.T, cfg commitlog.ConsumerConfig) commitlog.ConsumerClient {
	t.Helper()
	c, err := b.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// produceValues produces one record per value to topic, keyed by key(i)
// (nil: no key), and returns them with their partitions and offsets.
func produceValues(t *testing.T, ctx context.Context, p commitlog.ProducerClient, topic string, values []string, key func(i int) []byte) []*commitlog.Record {
	t.Helper()
	recs := make([]*commitlog.Record, len(values))
	for i, v := range values {
		recs[i] = &commitlog.Record{Topic: topic, Value: []byte(v)}
		if key != nil {
			recs[i].Key = key(i)
		}
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
	return recs
}

// pollUntil polls c until done returns true for what was polled so far,
// and returns the records. It fails the test if ctx ends first.
func pollUntil(t *testing.T, ctx context.Context, c commitlog.ConsumerClient, done func([]commitlog.Record) bool) []commitlog.Record {
	t.Helper()
	var got []commitlog.Record
	for !done(got) {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(got), err)
		}
		got = append(got, recs...)
	}
	return got
}

// atLeast is a pollUntil condition: n records.
func atLeast(n int) func([]commitlog.Record) bool {
	return func(recs []commitlog.Record) bool { return len(recs) >= n }
}

// values returns the values of recs.
func values(recs []commitlog.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = string(recs[i].Value)
	}
	return out
}

// names returns n values "prefix-0" ... .
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// byPartition groups recs by partition, in the order given.
func byPartition(recs []commitlog.Record) map[commitlog.TopicPartition][]commitlog.Record {
	m := map[commitlog.TopicPartition][]commitlog.Record{}
	for _, r := range recs {
		tp := commitlog.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		m[tp] = append(m[tp], r)
	}
	return m
}

// requireOrdered fails unless each partition's records have increasing
// offsets.
func requireOrdered(t *testing.T, recs []commitlog.Record) {
	t.Helper()
	for tp, rs := range byPartition(recs) {
		if !slices.IsSortedFunc(rs, func(a, b commitlog.Record) int { return int(a.Offset - b.Offset) }) {
			t.Fatalf("%v: offsets out of order: %v", tp, offsets(rs))
		}
	}
}

func offsets(recs []commitlog.Record) []int64 {
	out := make([]int64, len(recs))
	for i := range recs {
		out[i] = recs[i].Offset
	}
	return out
}

// allPartitions returns topic's partitions 0..n-1.
func allPartitions(topic string, n int32) []commitlog.TopicPartition {
	tps := make([]commitlog.TopicPartition, n)
	for i := range tps {
		tps[i] = commitlog.TopicPartition{Topic: topic, Partition: int32(i)}
	}
	return tps
}
