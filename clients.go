package commitlog

import (
	"context"
	"iter"
)

// ProducerClient is the producing surface a program uses, whichever
// backend holds its records: *Producer appends to a Log on local disk,
// and the Producer of the module github.com/commitlog-go/commitlog/kafka
// sends to an Apache Kafka cluster. A program written against
// ProducerClient (and ConsumerClient, AdminClient) moves from one to the
// other by changing how it makes its clients, not how it uses them.
//
// The names follow Kafka's own for these roles (a producer client, a
// consumer client, an admin client): Producer and Consumer are this
// package's concrete types, and the Client interfaces are what every
// backend's concrete types have in common.
//
// Every method has the contract of the *Producer method of the same name,
// which says what is called when, what is owned by whom, and which
// errors match which sentinels. What a backend cannot make the same (what
// an acknowledgement means for durability, for one) its documentation
// states.
//
// Implementations are safe for concurrent use.
type ProducerClient interface {
	// Produce sends r asynchronously; promise gets r and its outcome.
	Produce(ctx context.Context, r *Record, promise func(*Record, error))
	// TryProduce is Produce that fails with ErrMaxBuffered instead of
	// waiting for buffer space.
	TryProduce(ctx context.Context, r *Record, promise func(*Record, error))
	// ProduceSync sends recs and waits for all their outcomes.
	ProduceSync(ctx context.Context, recs ...*Record) error
	// Flush waits until every record produced before it has its outcome.
	Flush(ctx context.Context) error
	// Close sends what is buffered, waits for the promises and stops the
	// client's goroutines.
	Close() error
	// As fills target, a pointer to a type of the backend's own, with the
	// client's value of that type and reports whether it could (the
	// gocloud.dev pattern): the escape hatch to what the interface does
	// not cover. Each backend documents the types it fills.
	As(target any) bool
}

// ConsumerClient is the consuming surface a program uses, whichever
// backend holds its records: *Consumer reads a Log on local disk, and the
// Consumer of the module github.com/commitlog-go/commitlog/kafka reads an
// Apache Kafka cluster. Both are configured by a ConsumerConfig, whose
// rebalance callbacks receive the ConsumerClient they are called for.
//
// Every method has the contract of the *Consumer method of the same name;
// see ProducerClient for how backends document what differs.
// Implementations are safe for concurrent use.
type ConsumerClient interface {
	// Poll returns the next records of the assigned partitions.
	Poll(ctx context.Context) ([]Record, error)
	// Records iterates over the records, polling as needed.
	Records(ctx context.Context) iter.Seq2[Record, error]
	// Commit commits the positions of every assigned partition.
	Commit(ctx context.Context) error
	// CommitOffsets commits offsets: per partition, the next offset to
	// consume.
	CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error
	// CommitRecords commits the offset after each partition's last record
	// among recs.
	CommitRecords(ctx context.Context, recs ...Record) error
	// Committed returns the group's committed offsets for tps (nil: the
	// assigned partitions).
	Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error)
	// Seek sets the position of an assigned partition.
	Seek(tp TopicPartition, offset int64) error
	// Pause stops Poll from returning records of tps until Resume.
	Pause(tps ...TopicPartition) error
	// Resume undoes Pause.
	Resume(tps ...TopicPartition) error
	// Paused returns the paused partitions, sorted.
	Paused() []TopicPartition
	// Assignment returns the partitions the consumer reads now, sorted.
	Assignment() []TopicPartition
	// Lag returns how far behind the consumer is in each assigned
	// partition, from what it knows without waiting.
	Lag() map[TopicPartition]int64
	// ProcessPartitions polls and hands each partition's records to
	// handle on a goroutine of its own, committing only what handle has
	// processed.
	ProcessPartitions(ctx context.Context, handle PartitionHandler) error
	// MemberID returns the consumer's member id in its group, or ""
	// without membership.
	MemberID() string
	// Close commits (with auto-commit), leaves the group and stops the
	// consumer's goroutines.
	Close() error
	// As is the escape hatch to the backend's own types, as for
	// ProducerClient.
	As(target any) bool
}

// Compile-time checks that the concrete types implement the interfaces.
var (
	_ ProducerClient = (*Producer)(nil)
	_ ConsumerClient = (*Consumer)(nil)
)

// As fills target when it is a **Producer (with p) or a **Log (with the
// Log p writes to) and reports whether it did; other targets are left
// alone.
func (p *Producer) As(target any) bool {
	switch t := target.(type) {
	case **Producer:
		*t = p
	case **Log:
		*t = p.log
	default:
		return false
	}
	return true
}

// As fills target when it is a **Consumer (with c) or a **Log (with the
// Log c reads) and reports whether it did; other targets are left alone.
// A rebalance callback, which gets its consumer as a ConsumerClient,
// reaches the *Consumer this way.
func (c *Consumer) As(target any) bool {
	switch t := target.(type) {
	case **Consumer:
		*t = c
	case **Log:
		*t = c.log
	default:
		return false
	}
	return true
}
