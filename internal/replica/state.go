package replica

import (
	"fmt"
	"slices"
)

// NodeID names a node holding replicas.
type NodeID int32

// NoNode is the NodeID of no node: State.Leader of an offline partition.
const NoNode NodeID = -1

// NoEpoch is the leader epoch of nothing: none known, none assigned, or
// (in EndOffsetForEpoch answers) none at or below the one asked for. It is
// storage's NoEpoch and Kafka's UNDEFINED_EPOCH.
const NoEpoch int32 = -1

// State is the controller's record of a partition (Kafka's LeaderAndIsr
// with the replica assignment). The controller bumps LeaderEpoch on every
// leader change and PartitionEpoch on every change of leader, ISR or
// assignment, which orders its updates (Update rejects stale ones).
//
// A valid State has at least one replica, no duplicate or negative nodes,
// an ISR within Replicas, non-negative epochs, and a Leader that is
// NoNode or a member of the ISR (the ISR always holds the leader).
type State struct {
	Replicas       []NodeID // assignment order; Replicas[0] is the preferred leader
	Leader         NodeID   // NoNode: offline
	LeaderEpoch    int32    // bumped on every leader change
	ISR            []NodeID // committed ISR
	PartitionEpoch int32    // bumped on every change of leader, ISR or assignment
}

// clone returns a copy of s sharing no slices with it.
func (s State) clone() State {
	s.Replicas = slices.Clone(s.Replicas)
	s.ISR = slices.Clone(s.ISR)
	return s
}

// equal reports whether s and o say the same.
func (s State) equal(o State) bool {
	return s.Leader == o.Leader && s.LeaderEpoch == o.LeaderEpoch && s.PartitionEpoch == o.PartitionEpoch &&
		slices.Equal(s.Replicas, o.Replicas) && slices.Equal(s.ISR, o.ISR)
}

// validate returns an ErrInvalidState error saying what is wrong with s.
func (s State) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidState, fmt.Sprintf(format, args...))
	}
	if len(s.Replicas) == 0 {
		return bad("no replicas")
	}
	if s.LeaderEpoch < 0 || s.PartitionEpoch < 0 {
		return bad("negative epoch (leader epoch %d, partition epoch %d)", s.LeaderEpoch, s.PartitionEpoch)
	}
	for i, id := range s.Replicas {
		if id < 0 {
			return bad("replica %d is not a node", id)
		}
		if slices.Contains(s.Replicas[:i], id) {
			return bad("node %d assigned twice", id)
		}
	}
	for i, id := range s.ISR {
		if !slices.Contains(s.Replicas, id) {
			return bad("ISR member %d is not a replica %v", id, s.Replicas)
		}
		if slices.Contains(s.ISR[:i], id) {
			return bad("node %d twice in the ISR", id)
		}
	}
	if s.Leader != NoNode && !slices.Contains(s.ISR, s.Leader) {
		return bad("leader %d is not in the ISR %v", s.Leader, s.ISR)
	}
	return nil
}

// inISR reports whether id is in the committed ISR.
func (s State) inISR(id NodeID) bool { return slices.Contains(s.ISR, id) }

// Role is what a replica is for its partition in the State it last
// applied.
type Role uint8

const (
	// Offline: the partition has no leader (or no State was applied yet);
	// the replica neither leads nor fetches.
	Offline Role = iota
	// Follower: another replica leads; this one fetches from it.
	Follower
	// Leader: this replica takes appends and answers followers' fetches.
	Leader
	// NotReplica: this node is not in the partition's assignment.
	NotReplica
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case Offline:
		return "offline"
	case Follower:
		return "follower"
	case Leader:
		return "leader"
	case NotReplica:
		return "not-replica"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// roleOf returns the role of node self in s.
func roleOf(s State, self NodeID) Role {
	switch {
	case !slices.Contains(s.Replicas, self):
		return NotReplica
	case s.Leader == NoNode:
		return Offline
	case s.Leader == self:
		return Leader
	}
	return Follower
}
