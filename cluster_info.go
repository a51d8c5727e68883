package commitlog

import (
	"fmt"
	"maps"
	"slices"
)

// ClusterInfo is a replicated Log's view of its cluster: what
// Log.Cluster returns.
type ClusterInfo struct {
	// Node is this Log's node.
	Node NodeID
	// Nodes are the cluster's nodes and whether each is live (registered
	// and heartbeating), and ControllerLeader the node whose controller
	// leads the metadata (the Raft leader; NoNode when unknown or for a
	// controller without one), as the Log's controller reports them
	// (ClusterDescriber). Nil and NoNode when the controller does not
	// describe the cluster.
	Nodes            []NodeStatus
	ControllerLeader NodeID
	// Topics are every topic's partitions as the controller last told
	// this node: leaders, leader and partition epochs, in-sync replicas
	// and replicas, partitions in order, topics sorted by name. Config is
	// left zero (Topic.Config has the local topics').
	Topics []TopicMetadata
}

// NodeStatus is one node in ClusterInfo.
type NodeStatus struct {
	Node NodeID
	Live bool
}

// ClusterDescriber is implemented by Controllers that can say which
// nodes the cluster has, which are live and which one leads the
// controller quorum: InProcessController, and package cluster's
// RaftController. Log.Cluster uses it when Options.Controller has it.
type ClusterDescriber interface {
	// DescribeCluster returns the nodes, in ascending order, and the
	// controller leader (NoNode when there is none, or none known). It
	// never waits for the network.
	DescribeCluster() (nodes []NodeStatus, leader NodeID)
}

// Cluster returns the Log's view of its cluster: the nodes and the
// controller leader (when the controller describes them), and every
// topic's partition states as this node last heard them. It reads what
// the node holds in memory and never waits for the network or the disk.
//
// Errors: ErrInvalidArgument on a Log that is not replicated (no
// Options.Controller), ErrClosed.
func (l *Log) Cluster() (ClusterInfo, error) {
	if l.repl == nil {
		return ClusterInfo{}, fmt.Errorf("%w: Cluster: the Log is not replicated (no Options.Controller)", ErrInvalidArgument)
	}
	if l.isClosed() {
		return ClusterInfo{}, ErrClosed
	}
	info := ClusterInfo{Node: l.opts.NodeID, ControllerLeader: NoNode}
	if d, ok := l.repl.ctrl.(ClusterDescriber); ok {
		info.Nodes, info.ControllerLeader = d.DescribeCluster()
	}
	r := l.repl
	r.mu.Lock()
	byTopic := map[string][]PartitionMetadata{}
	for tp, pm := range r.meta {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], pm.clone())
	}
	r.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(byTopic)) {
		parts := byTopic[name]
		slices.SortFunc(parts, func(a, b PartitionMetadata) int { return int(a.Partition) - int(b.Partition) })
		info.Topics = append(info.Topics, TopicMetadata{Name: name, Partitions: parts})
	}
	return info, nil
}
