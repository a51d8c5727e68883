package commitlog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/commitlog-go/commitlog/internal/group"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// Sentinel errors. Every error returned by this package that belongs to one
// of these classes matches it with errors.Is, and typed errors below carry
// the details (use errors.As).
var (
	// ErrClosed is returned by calls on a Log (and its topics, partitions
	// and cursors), a Producer or a Consumer made after its Close, and by
	// calls in flight that Close interrupts.
	ErrClosed = storage.ErrClosed
	// ErrUnknownTopic is returned when a topic does not exist.
	ErrUnknownTopic = errors.New("commitlog: unknown topic")
	// ErrUnknownPartition is returned for a partition number outside
	// [0, NumPartitions) of its topic.
	ErrUnknownPartition = errors.New("commitlog: unknown partition")
	// ErrTopicExists is returned by CreateTopic when the topic exists.
	ErrTopicExists = errors.New("commitlog: topic already exists")
	// ErrInvalidTopicName is returned for a name that breaks Kafka's topic
	// naming rules; the *TopicNameError says which rule.
	ErrInvalidTopicName = errors.New("commitlog: invalid topic name")
	// ErrInvalidConfig is returned for an invalid Options, TopicConfig,
	// ProducerConfig or ConsumerConfig, whose *ConfigError lists every
	// problem, and by NewConsumer for a Balancer other than the one the
	// group's members use.
	ErrInvalidConfig = errors.New("commitlog: invalid configuration")
	// ErrInvalidArgument is returned for other invalid arguments, such as an
	// empty batch or a negative offset.
	ErrInvalidArgument = storage.ErrInvalidArgument
	// ErrOffsetOutOfRange is returned for an offset outside what the call
	// allows: a read outside the partition's [start, end] range,
	// DeleteRecords or a commit above the high watermark, or a Poll under
	// ResetNone without a committed offset. The *OffsetOutOfRangeError
	// carries the range.
	ErrOffsetOutOfRange = storage.ErrOffsetOutOfRange
	// ErrRecordTooLarge is returned for a batch or record larger than the
	// topic allows; the *RecordTooLargeError says how large it was.
	ErrRecordTooLarge = storage.ErrRecordTooLarge
	// ErrConflict is returned by AppendIf when the partition's end offset is
	// not the expected one; the *ConflictError carries the actual end.
	ErrConflict = storage.ErrConflict
	// ErrCorrupt is returned when stored data fails its checksum or
	// structure checks; the *CorruptionError names the file and position.
	ErrCorrupt = storage.ErrCorrupt
	// ErrDiskFull is returned when a write failed for lack of space. Nothing
	// of a failed append is visible and earlier data is intact; appends
	// succeed again once space is freed.
	ErrDiskFull = storage.ErrDiskFull
	// ErrDurability is returned when a write or fsync failed. The partition
	// stops accepting appends (reads keep working), because after a failed
	// fsync the operating system may have dropped the data: reopen the Log
	// to re-derive what is on disk.
	ErrDurability = storage.ErrDurability
	// ErrLocked is returned by Open when another Log has the directory
	// open: in this process, or in another one on the systems where Open
	// says its lock excludes other processes.
	ErrLocked = errors.New("commitlog: directory locked by another Log")
	// ErrReadOnly is returned, in a *ReadOnlyError, for a call that would
	// write to a Log opened with Options.ReadOnly, and by a read-only Open
	// of a directory that only a read-write Open can recover.
	ErrReadOnly = storage.ErrReadOnly
	// ErrMaxBuffered is returned by Producer.TryProduce when the producer's
	// buffer is full (ProducerConfig.MaxBufferedBytes or
	// MaxBufferedRecords); Produce would have waited.
	ErrMaxBuffered = errors.New("commitlog: producer buffer full")
	// ErrOutOfOrderSequence is returned for a batch of an idempotent
	// producer whose sequence number does not follow the last one the
	// partition holds from that producer: a batch in between is missing.
	// The *SequenceError carries the numbers.
	ErrOutOfOrderSequence = storage.ErrOutOfOrderSequence
	// ErrProducerFenced is returned for a batch of an idempotent producer
	// whose epoch is older than one the partition has already seen for
	// the same producer id: a newer instance has taken over that id.
	ErrProducerFenced = storage.ErrProducerFenced
	// ErrFenced is returned to a consumer-group member acting on what it
	// no longer owns: it was evicted for not polling within
	// MaxPollInterval, replaced by a consumer with the same InstanceID, or
	// tried to commit a partition that is not assigned to it. The
	// *FencedError says which. After an eviction, the next Poll rejoins.
	ErrFenced = group.ErrFenced
	// ErrGroupNotEmpty is returned by group administration that needs the
	// group to have no members (resetting or deleting its offsets, or a
	// manually assigned consumer committing for it): close the group's
	// consumers first.
	ErrGroupNotEmpty = group.ErrGroupNotEmpty
	// ErrUnknownGroup is returned for a consumer group that has neither
	// members nor committed offsets.
	ErrUnknownGroup = errors.New("commitlog: unknown consumer group")
)

// FencedError reports why a consumer-group member was fenced. It matches
// ErrFenced.
type FencedError = group.FencedError

// SequenceError reports a batch of an idempotent producer that the
// partition refused because its sequence numbers do not follow, or its
// epoch is older than, the producer's last batch in the partition. It
// matches ErrOutOfOrderSequence or, when Epoch < LastEpoch,
// ErrProducerFenced. Nothing of the batch was appended.
type SequenceError = storage.SequenceError

// OffsetOutOfRangeError reports an offset outside the range [Start, End]
// that the call accepts, or (Offset -1) a consumer with ResetNone and no
// committed offset. Start is the partition's start offset. For a read, End
// is the partition's end offset (the offset the next appended record will
// get); for DeleteRecords, a commit and the ResetNone case, it is the high
// watermark.
type OffsetOutOfRangeError = storage.OffsetOutOfRangeError

// CorruptionError reports stored data that failed verification. Path is the
// file (or the partition directory, when the damage is no single file's),
// FilePosition the byte position of the damaged batch or entry in it, and
// Offset the first record offset affected (-1 when unknown).
type CorruptionError = storage.CorruptionError

// ReadOnlyError reports a call refused because the Log was opened with
// Options.ReadOnly (Op names it), or a read-only Open refused because the
// file at Path records a state that only a read-write Open completes
// (Reason says which). It matches ErrReadOnly. Nothing was changed.
type ReadOnlyError = storage.ReadOnlyError

// ConflictError is returned by AppendIf when the partition's end offset is
// not the one the caller expected. Nothing was appended.
type ConflictError = storage.ConflictError

// ConfigError lists every problem found in a configuration.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "commitlog: invalid configuration: " + strings.Join(e.Problems, "; ")
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// TopicNameError reports which of Kafka's naming rules a topic name breaks.
type TopicNameError struct {
	Name string
	Rule string
}

func (e *TopicNameError) Error() string {
	return fmt.Sprintf("commitlog: invalid topic name %q: %s", e.Name, e.Rule)
}

// Is reports whether target is ErrInvalidTopicName.
func (e *TopicNameError) Is(target error) bool { return target == ErrInvalidTopicName }

// RecordTooLargeError reports a batch or record over the topic's limit.
// Index is the position of the offending record in the caller's slice, or
// -1 when Size is that of a whole batch: the batch an Append would write,
// or the batch of its own a record given to Produce would need.
type RecordTooLargeError = storage.RecordTooLargeError

// TimestampError reports a record whose timestamp cannot be stored:
// Kafka's timestamps are int64 milliseconds since 1970, so times before
// 1970 and after the year 292,278,994 are refused rather than changed. It
// matches ErrInvalidArgument. Index is the record's position in the
// caller's slice (-1 when the record came alone, as through Produce).
// Nothing of the batch was appended.
type TimestampError = storage.TimestampError

// DurabilityError reports the write or fsync failure that put a partition
// into its failed state. Appends return it until the Log is reopened.
type DurabilityError = storage.DurabilityError

// annotate returns err with where it happened (format and args) in front,
// still matching what err matches, and with one "commitlog: " prefix
// however many layers add theirs.
func annotate(err error, format string, args ...any) error {
	return &annotatedError{where: fmt.Sprintf(format, args...), err: err}
}

type annotatedError struct {
	where string
	err   error
}

func (e *annotatedError) Error() string {
	return "commitlog: " + e.where + ": " + strings.TrimPrefix(e.err.Error(), "commitlog: ")
}

func (e *annotatedError) Unwrap() error { return e.err }

// Errors of replication (see the package documentation on replication).
var (
	// ErrNotLeader is returned for an append to a replica that does not
	// lead its partition, on this node: the *NotLeaderError names the
	// leader to go to, if there is one.
	ErrNotLeader = errors.New("commitlog: not the partition leader")
	// ErrNotEnoughReplicas is returned by an AckAll append refused before
	// appending because the partition's in-sync replica set is smaller
	// than its MinInSyncReplicas: nothing was appended.
	ErrNotEnoughReplicas = errors.New("commitlog: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend is returned by an AckAll append that
	// was appended on the leader, but whose in-sync replica set shrank
	// below MinInSyncReplicas before the batch was committed. The batch
	// may yet be committed: retry with an idempotent producer to learn
	// its fate without duplicating it.
	ErrNotEnoughReplicasAfterAppend = errors.New("commitlog: not enough in-sync replicas after append")
	// ErrUnknownNode is returned for a NodeID that is not one of the
	// cluster's nodes.
	ErrUnknownNode = errors.New("commitlog: unknown node")
	// ErrNodeExists is returned by Controller.Join for a node that has
	// joined and not left: two Logs were opened with one NodeID.
	ErrNodeExists = errors.New("commitlog: node already joined")
	// ErrFencedEpoch is returned for a replication or controller request
	// carrying a leader or partition epoch older than the current one: it
	// was delayed past a change of leadership, and is refused.
	ErrFencedEpoch = errors.New("commitlog: stale leader or partition epoch")
	// ErrControllerUnreachable is returned when a node cannot reach the
	// controller (its session was lost): retry once it is back.
	ErrControllerUnreachable = errors.New("commitlog: controller unreachable")
	// ErrLeaderUnreachable is returned by a Producer whose batch, sent to
	// the partition's leader on another node, got no answer, or found no
	// leader, for two minutes (Kafka's delivery.timeout.ms): the batch
	// may or may not be in the log; an idempotent producer's retry keeps
	// it from being there twice.
	ErrLeaderUnreachable = errors.New("commitlog: partition leader unreachable")
	// ErrPreferredLeaderNotAvailable is returned by preferred leader
	// election for partitions whose preferred replica is not live or not
	// in sync.
	ErrPreferredLeaderNotAvailable = errors.New("commitlog: preferred leader not available")
	// ErrNotCoordinator is returned, on a replicated Log, for a consumer
	// group call on a node that does not coordinate the group: the
	// *NotCoordinatorError names the node that does, if one does.
	ErrNotCoordinator = errors.New("commitlog: not the group's coordinator")
)

// NotCoordinatorError says that this node does not coordinate a consumer
// group and which node does (Kafka's NOT_COORDINATOR, answered with the
// coordinator FindCoordinator would give). A group's coordinator is the
// leader of the __consumer_offsets partition holding its offsets. It
// matches ErrNotCoordinator.
type NotCoordinatorError struct {
	Group string
	// Node is the node the error comes from.
	Node NodeID
	// OffsetsPartition is the __consumer_offsets partition of the group.
	OffsetsPartition int32
	// Coordinator is the node that coordinates the group, NoNode while
	// its offsets partition has no leader or this node has not yet
	// finished taking the coordination over.
	Coordinator NodeID
}

func (e *NotCoordinatorError) Error() string {
	if e.Coordinator == NoNode || e.Coordinator == e.Node {
		return fmt.Sprintf("commitlog: group %q: node %d does not coordinate it, and no node does yet (%s-%d has no leader, or its leader is loading it); retry",
			e.Group, e.Node, offsetsTopicName, e.OffsetsPartition)
	}
	return fmt.Sprintf("commitlog: group %q: node %d does not coordinate it; node %d does (it leads %s-%d): run the group's consumers there",
		e.Group, e.Node, e.Coordinator, offsetsTopicName, e.OffsetsPartition)
}

func (e *NotCoordinatorError) Is(target error) bool { return target == ErrNotCoordinator }

// NotLeaderError says that a replica on this node does not lead its
// partition, and which node does (Kafka's NOT_LEADER_OR_FOLLOWER with the
// leader hint of KIP-951). It matches ErrNotLeader.
type NotLeaderError struct {
	Topic     string
	Partition int32
	// Node is the node the error comes from.
	Node NodeID
	// Leader is the partition's leader as this node knows it, NoNode when
	// the partition is offline (no in-sync replica is live) or this node
	// holds no replica of it; LeaderEpoch is its epoch.
	Leader      NodeID
	LeaderEpoch int32
	// LeaderAddr is where the leader listens, when the Log's Transport
	// knows (it implements PeerAddresser, as package cluster's
	// TCPTransport does); "" otherwise.
	LeaderAddr string
	// AfterAppend says the batch was appended on this node, which then
	// lost the leadership before the batch was committed: like
	// ErrNotEnoughReplicasAfterAppend, the outcome is unknown (a follower
	// that had copied it may commit it as the next leader). Retry with an
	// idempotent producer to learn its fate without a duplicate. Without
	// AfterAppend, nothing was appended.
	AfterAppend bool
}

func (e *NotLeaderError) Error() string {
	if e.Leader == NoNode && e.AfterAppend {
		return fmt.Sprintf("commitlog: %s-%d: node %d lost the leadership after appending the batch, before it was committed (its fate is the next leader's); no node leads it yet (epoch %d)",
			e.Topic, e.Partition, e.Node, e.LeaderEpoch)
	}
	if e.Leader == NoNode {
		return fmt.Sprintf("commitlog: %s-%d: node %d does not lead it, and no node does (offline, or no replica here: epoch %d); retry once a replica leads it",
			e.Topic, e.Partition, e.Node, e.LeaderEpoch)
	}
	at := ""
	if e.LeaderAddr != "" {
		at = " (at " + e.LeaderAddr + ")"
	}
	if e.AfterAppend {
		return fmt.Sprintf("commitlog: %s-%d: node %d lost the leadership after appending the batch, before it was committed (its fate is the new leader's); node %d%s leads, at leader epoch %d",
			e.Topic, e.Partition, e.Node, e.Leader, at, e.LeaderEpoch)
	}
	return fmt.Sprintf("commitlog: %s-%d: node %d does not lead it; node %d%s does, at leader epoch %d: append there",
		e.Topic, e.Partition, e.Node, e.Leader, at, e.LeaderEpoch)
}

// PeerAddresser is implemented by Transports that know where nodes
// listen: a *NotLeaderError then names the leader's address too.
type PeerAddresser interface {
	// PeerAddr returns node's address, or "" when unknown.
	PeerAddr(node NodeID) string
}

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
