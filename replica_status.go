package commitlog

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/commitlog-go/commitlog/internal/replica"
)

// ReplicaRole is what a node's replica of a partition does.
type ReplicaRole uint8

const (
	// RoleNone: the partition state has not reached the node yet.
	RoleNone ReplicaRole = iota
	// RoleLeader: the replica accepts appends and followers fetch from it.
	RoleLeader
	// RoleFollower: the replica fetches from the leader.
	RoleFollower
	// RoleOffline: no in-sync replica is live, so nobody leads.
	RoleOffline
)

func (r ReplicaRole) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	case RoleOffline:
		return "offline"
	}
	return "none"
}

// ReplicaStatus is one partition's replication as a node sees it.
type ReplicaStatus struct {
	Topic     string
	Partition int32
	// Node is the node answering, and Role what its replica does.
	Node NodeID
	Role ReplicaRole
	// Leader, LeaderEpoch, PartitionEpoch and ISR are the partition state
	// the node last heard from the controller.
	Leader         NodeID
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []NodeID
	// Replicas are the partition's replicas in assignment order (the
	// first is the preferred leader).
	Replicas []NodeID
	// HighWatermark and EndOffset are this node's.
	HighWatermark, EndOffset int64
	// Followers is, on the leader, each replica's progress as the leader
	// knows it, in assignment order; nil elsewhere.
	Followers []ReplicaProgress
}

// ReplicaProgress is a replica's progress as its leader sees it.
type ReplicaProgress struct {
	Node NodeID
	// InSync says the replica is in the in-sync replica set.
	InSync bool
	// EndOffset is the end offset the replica last acknowledged (what it
	// has on disk under SyncAlways), -1 while unknown; Lag is the
	// leader's end offset minus it.
	EndOffset, Lag int64
	// LastCaughtUp is when the replica last had everything the leader
	// had (Kafka's lastCaughtUpTime); zero while unknown.
	LastCaughtUp time.Time
}

// ReplicaStatus returns this node's view of a partition's replication.
// It never waits for I/O.
//
// Errors: ErrUnknownTopic, ErrUnknownPartition, *NotLeaderError for a
// partition this node holds no replica of, ErrInvalidArgument on a Log
// that is not replicated, ErrClosed.
func (l *Log) ReplicaStatus(topic string, partition int32) (ReplicaStatus, error) {
	if l.repl == nil {
		return ReplicaStatus{}, fmt.Errorf("%w: ReplicaStatus: the Log is not replicated (no Options.Controller)", ErrInvalidArgument)
	}
	t, err := l.Topic(topic)
	if err != nil {
		return ReplicaStatus{}, err
	}
	p, err := t.Partition(partition)
	if err != nil {
		return ReplicaStatus{}, err
	}
	return p.repl.status(), nil
}

// ElectPreferredLeaders asks the controller to move the leadership of the
// topic's partitions (all when none are given) back to their preferred
// replicas, where those are live and in sync, as Kafka's preferred leader
// election does. It returns once the controller has decided; the nodes
// take over as the news reaches them.
//
// Errors: ErrPreferredLeaderNotAvailable naming the partitions that
// could not move, ErrUnknownTopic, ErrUnknownPartition,
// ErrInvalidArgument on a Log that is not replicated,
// ErrControllerUnreachable, the context's error.
func (l *Log) ElectPreferredLeaders(ctx context.Context, topic string, partitions ...int32) error {
	if l.repl == nil {
		return fmt.Errorf("%w: ElectPreferredLeaders: the Log is not replicated (no Options.Controller)", ErrInvalidArgument)
	}
	return l.repl.ctrl.ElectPreferredLeaders(ctx, topic, partitions...)
}

// status returns the replica's view.
func (rp *replicaPartition) status() ReplicaStatus {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	st := ReplicaStatus{
		Topic: rp.p.topic.name, Partition: rp.p.id, Node: rp.r.node,
		Leader: rp.md.Leader, LeaderEpoch: rp.md.LeaderEpoch, PartitionEpoch: rp.md.PartitionEpoch,
		ISR: slices.Clone(rp.md.ISR), Replicas: slices.Clone(rp.md.Replicas),
		HighWatermark: rp.p.store.HighWatermark(), EndOffset: rp.p.store.EndOffset(),
	}
	switch rp.m.Role() {
	case replica.Leader:
		st.Role = RoleLeader
		for _, r := range rp.m.Status(rp.now()).Replicas {
			st.Followers = append(st.Followers, ReplicaProgress{Node: NodeID(r.Node), InSync: r.InISR,
				EndOffset: r.LEO, Lag: r.Lag, LastCaughtUp: r.LastCaughtUp})
		}
	case replica.Follower:
		st.Role = RoleFollower
	case replica.Offline:
		st.Role = RoleOffline
	}
	return st
}
