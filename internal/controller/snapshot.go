package controller

import (
	"encoding/json"
	"fmt"
	"slices"
)

// clusterImage is a Cluster as Encode writes it: fields in declaration
// order, node lists ascending and topics by name, so that two Clusters
// with the same state encode to the same bytes.
type clusterImage struct {
	Nodes  []NodeID `json:"nodes"`
	Live   []NodeID `json:"live"`
	Topics []*Topic `json:"topics"`
}

// Encode returns the cluster's state, deterministically encoded: what a
// replicated controller stores as its snapshot. Decode reads it back.
func (c *Cluster) Encode() ([]byte, error) {
	img := clusterImage{Nodes: c.nodes, Live: []NodeID{}, Topics: []*Topic{}}
	for _, n := range c.nodes {
		if c.live[n] {
			img.Live = append(img.Live, n)
		}
	}
	for _, name := range c.TopicNames() {
		img.Topics = append(img.Topics, c.topics[name])
	}
	b, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("controller: encode the cluster: %w", err)
	}
	return b, nil
}

// Decode returns the Cluster that Encode encoded as data.
//
// Errors: ErrInvalid when data does not decode, or decodes to a state no
// sequence of calls leads to (unknown nodes, a repeated topic, a
// partition with no replicas or an empty in-sync set).
func Decode(data []byte) (*Cluster, error) {
	var img clusterImage
	if err := json.Unmarshal(data, &img); err != nil {
		return nil, fmt.Errorf("%w: decode a cluster: %w", ErrInvalid, err)
	}
	c, err := New(img.Nodes)
	if err != nil {
		return nil, err
	}
	for _, n := range img.Live {
		if !c.Known(n) {
			return nil, fmt.Errorf("%w: decode a cluster: live node %d is not one of %v", ErrInvalid, n, c.nodes)
		}
		c.live[n] = true
	}
	for _, t := range img.Topics {
		if t == nil || c.topics[t.Name] != nil {
			return nil, fmt.Errorf("%w: decode a cluster: a missing or repeated topic", ErrInvalid)
		}
		for i, p := range t.Partitions {
			unknown := func(n NodeID) bool { return !c.Known(n) }
			if len(p.Replicas) == 0 || len(p.ISR) == 0 || slices.ContainsFunc(p.Replicas, unknown) ||
				slices.ContainsFunc(p.ISR, func(n NodeID) bool { return !slices.Contains(p.Replicas, n) }) ||
				(p.Leader != NoNode && !slices.Contains(p.Replicas, p.Leader)) {
				return nil, fmt.Errorf("%w: decode a cluster: topic %s partition %d: replicas %v, ISR %v, leader %d do not fit the nodes %v",
					ErrInvalid, t.Name, i, p.Replicas, p.ISR, p.Leader, c.nodes)
			}
		}
		c.topics[t.Name] = t
	}
	return c, nil
}
