package controller

import (
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrNodeExists: AddNode of a node that is one of the cluster's.
	ErrNodeExists = errors.New("node already in the cluster")
	// ErrNodeHoldsReplicas: RemoveNode of a node assigned replicas.
	ErrNodeHoldsReplicas = errors.New("node holds replicas")
)

// AddNode makes node one of the cluster's nodes, not live until NodeUp:
// new topics may assign it replicas once it is live or named in an
// assignment; existing partitions keep their replicas.
//
// Errors: ErrInvalid for a negative node, ErrNodeExists.
func (c *Cluster) AddNode(node NodeID) error {
	if node < 0 {
		return fmt.Errorf("%w: node id %d is negative", ErrInvalid, node)
	}
	i, found := slices.BinarySearch(c.nodes, node)
	if found {
		return fmt.Errorf("%w: node %d", ErrNodeExists, node)
	}
	c.nodes = slices.Insert(c.nodes, i, node)
	return nil
}

// RemoveNode removes node from the cluster. A node that holds replicas
// cannot be removed: the topics it holds replicas of must be deleted (or
// their partitions moved, when reassignment exists) first, as Kafka
// requires of a broker being decommissioned; nor can the last node.
//
// Errors: ErrUnknownNode, ErrNodeHoldsReplicas naming its topics,
// ErrInvalid for the last node.
func (c *Cluster) RemoveNode(node NodeID) error {
	i, found := slices.BinarySearch(c.nodes, node)
	if !found {
		return fmt.Errorf("%w: node %d is not one of the cluster's nodes %v", ErrUnknownNode, node, c.nodes)
	}
	if len(c.nodes) == 1 {
		return fmt.Errorf("%w: node %d is the cluster's last node", ErrInvalid, node)
	}
	var held []string
	for _, name := range c.TopicNames() {
		if slices.ContainsFunc(c.topics[name].Partitions, func(p Partition) bool { return slices.Contains(p.Replicas, node) }) {
			held = append(held, name)
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: node %d holds replicas of %v: delete those topics first", ErrNodeHoldsReplicas, node, held)
	}
	c.nodes = slices.Delete(c.nodes, i, i+1)
	delete(c.live, node)
	return nil
}
