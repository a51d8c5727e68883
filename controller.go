package commitlog

import (
	"context"
	"slices"
)

// Controller is the seam between a replicated Log and whatever decides
// the cluster's metadata: which nodes hold each partition's replicas,
// which one leads it under which leader epoch, and which are in sync. A
// Log with Options.Controller set joins it at Open and leaves it at
// Close, creates and deletes topics through it, and carries out what it
// decides: a node becomes leader or follower of a partition only when
// the controller says so, and its leader changes the in-sync replica set
// only through AlterISR. InProcessController implements it for Logs in
// one process; a consensus-replicated controller can implement it for
// Logs in several.
//
// Every method is safe for concurrent use; the ones taking a context
// block at most until it is done.
type Controller interface {
	// Join registers node as live and starts calling apply with the
	// cluster's metadata: first a ClusterUpdate with Snapshot set holding
	// every topic, then one for each change, in the order the changes
	// happened, one at a time, until leave is called (after leave returns
	// apply is not called again). apply must not block: it queues the
	// update and returns. The update and its slices belong to apply. The
	// node's going down is what leave says, so that the partitions it led
	// elect another leader.
	//
	// Errors: ErrUnknownNode for a node that is not one of the cluster's,
	// ErrNodeExists when node has joined and not left, the context's error.
	Join(ctx context.Context, node NodeID, apply func(ClusterUpdate)) (leave func(), err error)

	// CreateTopic records a topic and assigns its partitions' replicas
	// (spec.Replicas, or the controller's assignment when nil).
	//
	// Errors: ErrTopicExists, *ConfigError for a replication factor
	// above the number of nodes or an assignment that does not fit,
	// ErrUnknownNode, ErrControllerUnreachable, the context's error.
	CreateTopic(ctx context.Context, spec TopicSpec) error

	// DeleteTopic forgets a topic; every node deletes its replicas.
	//
	// Errors: ErrUnknownTopic, ErrControllerUnreachable, the context's
	// error.
	DeleteTopic(ctx context.Context, name string) error

	// AlterISR asks to change a partition's in-sync replica set, on
	// behalf of its leader, fenced by the leader and partition epochs the
	// leader holds. The change takes effect when the leader hears of it
	// through its update function, with a higher partition epoch.
	//
	// Errors: ErrFencedEpoch when the request's leader or epochs are not
	// the partition's current ones, ErrInvalidArgument for a set that
	// leaves out the leader or holds a node that is not a replica or not
	// live, ErrUnknownTopic, ErrUnknownPartition,
	// ErrControllerUnreachable, the context's error.
	AlterISR(ctx context.Context, req AlterISRRequest) error

	// ElectPreferredLeaders moves the leadership of the topic's given
	// partitions (all when none are given) back to their preferred
	// replicas, the first in assignment order, where that replica is live
	// and in sync.
	//
	// Errors: ErrPreferredLeaderNotAvailable naming the partitions that
	// could not be moved (the others are), ErrUnknownTopic,
	// ErrUnknownPartition, ErrControllerUnreachable, the context's error.
	ElectPreferredLeaders(ctx context.Context, topic string, partitions ...int32) error
}

// TopicSpec is a request to create a replicated topic: its resolved
// configuration (whose ReplicationFactor and Partitions say how many
// replicas of how many partitions) and, optionally, each partition's
// replicas in order (TopicConfig.Replicas).
type TopicSpec struct {
	Name   string
	Config TopicConfig
}

// ClusterUpdate is the controller telling a node about the cluster's
// metadata. A Snapshot holds every topic and replaces what the node knew;
// otherwise Topics holds the topics that changed, each with all its
// partitions, or with Deleted set.
type ClusterUpdate struct {
	Snapshot bool
	Topics   []TopicMetadata
}

// TopicMetadata is the controller's record of one topic.
type TopicMetadata struct {
	Name       string
	Config     TopicConfig
	Deleted    bool
	Partitions []PartitionMetadata
}

// PartitionMetadata is the controller's record of one partition: Kafka's
// partition registration (replicas, leader, leader epoch, in-sync
// replicas, partition epoch).
type PartitionMetadata struct {
	Partition int32
	// Replicas lists the nodes holding the partition, in assignment
	// order; the first is the preferred leader.
	Replicas []NodeID
	// Leader is the node accepting appends, NoNode while the partition
	// is offline (no in-sync replica is live).
	Leader NodeID
	// LeaderEpoch rises with every change of leader; the leader stamps it
	// into every batch it appends.
	LeaderEpoch int32
	// ISR is the in-sync replica set, in assignment order, never empty.
	ISR []NodeID
	// PartitionEpoch rises with every change of leader or ISR.
	PartitionEpoch int32
}

// clone returns a deep copy of m.
func (m PartitionMetadata) clone() PartitionMetadata {
	m.Replicas = slices.Clone(m.Replicas)
	m.ISR = slices.Clone(m.ISR)
	return m
}

// AlterISRRequest is a partition leader asking the controller for a new
// in-sync replica set.
type AlterISRRequest struct {
	Topic          string
	Partition      int32
	Leader         NodeID
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []NodeID
}
