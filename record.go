package commitlog

import (
	"bytes"
	"math"
	"time"

	"github.com/commitlog-go/commitlog/internal/group"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// Record is one record of a partition.
//
// Topic, Partition and Offset say where the record is. Every read (Read,
// Scan, Follow, Cursor, Consumer.Poll) sets them. Partition.Append ignores
// them: the records go to that partition, at the offsets it assigns.
// Producer.Produce needs Topic, and Partition only under
// ManualPartitioner (or a PartitionerFunc that reads it); it fills in
// Partition and Offset before it calls the record's promise.
//
// A nil Key or Value is Kafka's null and is distinct from an empty one; on a
// compacted topic a nil Value is a tombstone, and a nil Key is refused.
// Timestamp has millisecond precision on disk; a zero Timestamp given to
// Append or Produce means "now", and a topic with LogAppendTime replaces
// every timestamp with the time of the append.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Header is one record header. Kafka allows duplicate keys and keeps their
// order; a nil Value is a null header value. The Key must not be empty.
type Header struct {
	Key   string
	Value []byte
}

// Clone returns a deep copy of r whose slices share no memory with r. Use
// it to keep a record obtained from an iterator past the next iteration.
func (r *Record) Clone() Record {
	c := *r
	c.Key = cloneBytes(r.Key)
	c.Value = cloneBytes(r.Value)
	if r.Headers != nil {
		c.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i] = Header{Key: h.Key, Value: cloneBytes(h.Value)}
		}
	}
	return c
}

// Equal reports whether r and o have the same topic, partition, offset,
// key, value (null distinct from empty), headers and timestamp (compared at
// millisecond precision, as stored).
func (r *Record) Equal(o *Record) bool {
	if r.Topic != o.Topic || r.Partition != o.Partition || r.Offset != o.Offset ||
		r.Timestamp.UnixMilli() != o.Timestamp.UnixMilli() ||
		!nullableEqual(r.Key, o.Key) || !nullableEqual(r.Value, o.Value) ||
		len(r.Headers) != len(o.Headers) {
		return false
	}
	for i := range r.Headers {
		if r.Headers[i].Key != o.Headers[i].Key || !nullableEqual(r.Headers[i].Value, o.Headers[i].Value) {
			return false
		}
	}
	return true
}

func nullableEqual(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// AppendResult reports where an appended batch landed: BaseOffset and
// LastOffset are the offsets of its first and last records, and
// LogAppendTime the time the log stamped it with on a topic with
// TopicConfig.LogAppendTime (zero otherwise).
type AppendResult = storage.AppendResult

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic-partition", Kafka's usual spelling.
func (tp TopicPartition) String() string { return group.Partition(tp).String() }

// compareTopicPartitions orders by topic, then partition.
func compareTopicPartitions(a, b TopicPartition) int {
	return group.Compare(group.Partition(a), group.Partition(b))
}

// Timestamps are stored as Kafka's are: int64 milliseconds since 1970.
// maxTimestampSeconds is the last second whose milliseconds fit.
const maxTimestampSeconds = math.MaxInt64 / 1000

// recordTimestamp returns t in stored milliseconds, or a reason why it
// cannot be stored: before 1970 (Kafka's timestamps are not negative) or
// past the int64 milliseconds (year 292,278,994), where the conversion
// would overflow into another time.
func recordTimestamp(t time.Time) (int64, string) {
	switch {
	case t.Unix() < 0:
		return 0, "is before 1970"
	case afterLastMillisecond(t):
		return 0, "is past the last time int64 milliseconds hold (year 292278994)"
	}
	return t.UnixMilli(), ""
}

// lookupTimestamp returns t in milliseconds for a search by time,
// clamped below to math.MinInt64 (before every stored timestamp), and
// reports whether t lies after every time a record can hold.
func lookupTimestamp(t time.Time) (ms int64, afterAll bool) {
	switch sec := t.Unix(); {
	case afterLastMillisecond(t):
		return math.MaxInt64, true
	case sec < math.MinInt64/1000 || sec == math.MinInt64/1000 && t.Nanosecond() > 0:
		// Unix rounds toward -inf; any time in or before that second is
		// before every stored timestamp.
		return math.MinInt64, false
	}
	return t.UnixMilli(), false
}

// afterLastMillisecond reports whether t is past math.MaxInt64
// milliseconds since 1970, where UnixMilli overflows.
func afterLastMillisecond(t time.Time) bool {
	sec := t.Unix()
	return sec > maxTimestampSeconds || sec == maxTimestampSeconds && t.Nanosecond()/1e6 > math.MaxInt64%1000
}
