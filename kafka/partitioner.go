package kafka

import (
	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partitioner returns the kgo partitioner for p: Kafka's default, murmur2
// for keyed records and sticky for keyless ones (kgo.StickyKeyPartitioner,
// which places keys as commitlog.Murmur2Partitioner does), when p is nil;
// kgo.ManualPartitioner for commitlog.ManualPartitioner(); otherwise p
// itself, asked for every record.
func partitioner(p commitlog.Partitioner) kgo.Partitioner {
	switch p {
	case nil:
		return kgo.StickyKeyPartitioner(nil)
	case commitlog.ManualPartitioner():
		// kgo's own: each record's Partition, without converting the
		// record for the commitlog partitioner (a choice out of range
		// fails the same way).
		return kgo.ManualPartitioner()
	}
	return partitionerAdapter{p}
}

// partitionerAdapter runs a commitlog.Partitioner as a kgo.Partitioner.
// kgo calls a topic's partitioner serially, as the
// commitlog.TopicPartitioner contract requires.
type partitionerAdapter struct{ p commitlog.Partitioner }

func (a partitionerAdapter) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitionerAdapter{topic: topic, tp: a.p.ForTopic(topic)}
}

type topicPartitionerAdapter struct {
	topic string
	tp    commitlog.TopicPartitioner
	r     commitlog.Record // reused: Partition must not retain it
}

// RequiresConsistency is true: a record goes where the partitioner says,
// as on a Log, even while that partition has no leader (it then waits, or
// fails with its delivery timeout) rather than being moved elsewhere.
func (*topicPartitionerAdapter) RequiresConsistency(*kgo.Record) bool { return true }

// Partition returns the commitlog partitioner's choice. A choice outside
// [0, n) — which a Log's producer refuses with ErrUnknownPartition — is
// passed on, and kgo fails the record.
func (a *topicPartitionerAdapter) Partition(r *kgo.Record, n int) int {
	a.r = commitlog.Record{Topic: a.topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		a.r.Headers = make([]commitlog.Header, len(r.Headers))
		for i, h := range r.Headers {
			a.r.Headers[i] = commitlog.Header{Key: h.Key, Value: h.Value}
		}
	}
	p := a.tp.Partition(&a.r, int32(n))
	a.r = commitlog.Record{}
	return int(p)
}
