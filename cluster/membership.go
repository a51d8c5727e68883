package cluster

import (
	"context"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/commitlog-go/commitlog"
)

// Membership changes go through Raft's configuration changes, one node
// at a time (Raft's simple protocol): the command, encoded as any other,
// is the change's context, and every node applies both together — the
// metadata's node set and Raft's voters — or, when the metadata refuses
// the command, neither (Raft is given a change of node 0, which it
// ignores, as etcd does for a rejected change).
//
// A node added starts with RaftConfig.Join: it waits for the leader,
// which sends it a snapshot, since every node snapshots as it applies an
// AddNode. A node removed stops being a voter: quorums count without it;
// its controller should be closed.

// AddNode adds node to the cluster: a Raft voter from the moment the
// change is applied, and a node the metadata knows, not live until its
// Log joins. Start the node's controller with RaftConfig.Join, and make
// its address known to the Transport (before or after; Raft retries).
// The quorum grows with it: with the node not yet running, one fewer of
// the others may fail.
//
// AddNode returns once the change is applied on this node.
//
// Errors: ErrInvalidArgument for a node already in the cluster or a
// negative one, ErrControllerUnreachable, the context's error.
func (c *RaftController) AddNode(ctx context.Context, node commitlog.NodeID) error {
	if node < 0 {
		return fmt.Errorf("%w: AddNode: node %d is negative", commitlog.ErrInvalidArgument, node)
	}
	return c.do(ctx, command{Op: opAddNode, Node: node})
}

// RemoveNode removes node from the cluster: it stops being a voter and a
// node replicas may be assigned to. A node that holds replicas is
// refused (delete its topics first: partition reassignment does not
// exist yet), as is the last node.
//
// RemoveNode returns once the change is applied on this node.
//
// Errors: commitlog.ErrUnknownNode, ErrInvalidArgument for a node that
// holds replicas (naming the topics) or the last node,
// ErrControllerUnreachable, the context's error.
func (c *RaftController) RemoveNode(ctx context.Context, node commitlog.NodeID) error {
	return c.do(ctx, command{Op: opRemoveNode, Node: node})
}

// membershipChange returns the Raft configuration change proposing cmd,
// encoded as data, or nil when cmd is not a membership command.
func membershipChange(cmd command, data []byte) *pb.ConfChangeV2 {
	var t pb.ConfChangeType
	switch cmd.Op {
	case opAddNode:
		t = pb.ConfChangeType_ConfChangeAddNode
	case opRemoveNode:
		t = pb.ConfChangeType_ConfChangeRemoveNode
	default:
		return nil
	}
	return &pb.ConfChangeV2{
		Changes: []*pb.ConfChangeSingle{{Type: t.Enum(), NodeId: proto.Uint64(uint64(max(cmd.Node, 0)) + 1)}},
		Context: data,
	}
}

// rejectedChange is what Raft applies for a change the metadata refused:
// a change of node 0, which Raft ignores.
var rejectedChange = &pb.ConfChangeV2{
	Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(0)}},
}
