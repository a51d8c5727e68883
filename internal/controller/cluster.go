package controller

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
)

// NodeID names a node of the cluster.
type NodeID int32

// NoNode is the leader of an offline partition.
const NoNode NodeID = -1

// Partition is the controller's record of one partition.
type Partition struct {
	Replicas       []NodeID // assignment order; Replicas[0] is the preferred leader
	Leader         NodeID   // NoNode: offline
	LeaderEpoch    int32
	ISR            []NodeID // in assignment order; never empty
	PartitionEpoch int32
}

func (p Partition) clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	return p
}

// Topic is the controller's record of one topic. Config is the owner's
// encoding of the topic's configuration, which the controller only keeps.
type Topic struct {
	Name       string
	Config     []byte
	Unclean    bool // unclean leader election allowed
	Partitions []Partition
}

// Clone returns a deep copy of t.
func (t *Topic) Clone() *Topic {
	c := *t
	c.Config = slices.Clone(t.Config)
	c.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		c.Partitions[i] = p.clone()
	}
	return &c
}

// Change says what one call changed: a topic created or deleted, or the
// partitions of one topic whose records changed.
type Change struct {
	Topic      string
	Created    bool
	Deleted    bool
	Partitions []int32
}

// Cluster is the metadata of one cluster: its nodes, which are live, and
// its topics.
type Cluster struct {
	nodes  []NodeID // ascending
	live   map[NodeID]bool
	topics map[string]*Topic
}

// New returns a cluster of nodes, none of them live yet.
//
// Errors: ErrInvalid for no nodes, a negative or repeated NodeID.
func New(nodes []NodeID) (*Cluster, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: a cluster needs at least one node", ErrInvalid)
	}
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	for i, n := range sorted {
		if n < 0 {
			return nil, fmt.Errorf("%w: node id %d is negative", ErrInvalid, n)
		}
		if i > 0 && sorted[i-1] == n {
			return nil, fmt.Errorf("%w: node id %d is listed twice", ErrInvalid, n)
		}
	}
	return &Cluster{nodes: sorted, live: map[NodeID]bool{}, topics: map[string]*Topic{}}, nil
}

// Nodes returns the cluster's nodes in ascending order (a copy).
func (c *Cluster) Nodes() []NodeID { return slices.Clone(c.nodes) }

// Live reports whether node is live.
func (c *Cluster) Live(node NodeID) bool { return c.live[node] }

// Known reports whether node is one of the cluster's nodes.
func (c *Cluster) Known(node NodeID) bool {
	_, ok := slices.BinarySearch(c.nodes, node)
	return ok
}

// Topic returns a copy of the named topic's record, or nil.
func (c *Cluster) Topic(name string) *Topic {
	t := c.topics[name]
	if t == nil {
		return nil
	}
	return t.Clone()
}

// TopicNames returns the names of the topics, sorted.
func (c *Cluster) TopicNames() []string {
	return slices.Sorted(maps.Keys(c.topics))
}

// TopicSpec asks for a topic.
type TopicSpec struct {
	Name              string
	Config            []byte
	Partitions        int32
	ReplicationFactor int
	// Assignment, when not nil, gives each partition's replicas in order,
	// instead of the controller's assignment.
	Assignment [][]NodeID
	Unclean    bool
}

// CreateTopic records a new topic. Each partition's in-sync set is its
// live replicas (all of them empty, so any may lead), led by the first
// in assignment order; a partition with no live replica starts offline
// with every replica in its in-sync set.
//
// Errors: ErrTopicExists; ErrInvalid for a partition count below 1, a
// replication factor below 1 or above the number of nodes, or an
// assignment that is not Partitions lists of ReplicationFactor distinct
// known nodes.
func (c *Cluster) CreateTopic(spec TopicSpec) (Change, error) {
	if c.topics[spec.Name] != nil {
		return Change{}, fmt.Errorf("%w: %s", ErrTopicExists, spec.Name)
	}
	if spec.Partitions < 1 {
		return Change{}, fmt.Errorf("%w: topic %s: %d partitions; it needs at least 1", ErrInvalid, spec.Name, spec.Partitions)
	}
	rf := spec.ReplicationFactor
	if rf < 1 || rf > len(c.nodes) {
		return Change{}, fmt.Errorf("%w: topic %s: replication factor %d is outside [1, %d], the cluster's node count",
			ErrInvalid, spec.Name, rf, len(c.nodes))
	}
	assignment := spec.Assignment
	if assignment == nil {
		assignment = c.assign(spec.Name, spec.Partitions, rf)
	} else if err := c.checkAssignment(spec, assignment); err != nil {
		return Change{}, err
	}
	t := &Topic{Name: spec.Name, Config: slices.Clone(spec.Config), Unclean: spec.Unclean,
		Partitions: make([]Partition, spec.Partitions)}
	for i, replicas := range assignment {
		p := Partition{Replicas: slices.Clone(replicas), Leader: NoNode}
		for _, r := range replicas {
			if c.live[r] {
				p.ISR = append(p.ISR, r)
			}
		}
		if len(p.ISR) == 0 {
			p.ISR = slices.Clone(replicas)
		} else {
			p.Leader = p.ISR[0]
		}
		t.Partitions[i] = p
	}
	c.topics[spec.Name] = t
	return Change{Topic: spec.Name, Created: true, Partitions: allPartitions(t)}, nil
}

func (c *Cluster) checkAssignment(spec TopicSpec, a [][]NodeID) error {
	if len(a) != int(spec.Partitions) {
		return fmt.Errorf("%w: topic %s: the assignment lists %d partitions, the topic has %d", ErrInvalid, spec.Name, len(a), spec.Partitions)
	}
	for p, replicas := range a {
		if len(replicas) != spec.ReplicationFactor {
			return fmt.Errorf("%w: topic %s partition %d: %d replicas assigned, the replication factor is %d",
				ErrInvalid, spec.Name, p, len(replicas), spec.ReplicationFactor)
		}
		for i, r := range replicas {
			if !c.Known(r) {
				return fmt.Errorf("%w: topic %s partition %d: node %d is not one of the cluster's nodes %v", ErrUnknownNode, spec.Name, p, r, c.nodes)
			}
			if slices.Contains(replicas[:i], r) {
				return fmt.Errorf("%w: topic %s partition %d: node %d is assigned twice", ErrInvalid, spec.Name, p, r)
			}
		}
	}
	return nil
}

// assign is Kafka's rack-unaware replica assignment
// (AdminUtils.assignReplicasToBrokersRackUnaware), with the random start
// replaced by one derived from the topic name.
func (c *Cluster) assign(name string, partitions int32, rf int) [][]NodeID {
	n := len(c.nodes)
	h := fnv.New32a()
	h.Write([]byte(name))
	start := int(h.Sum32() % uint32(n))
	shift := start
	out := make([][]NodeID, partitions)
	for p := range int(partitions) {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []NodeID{c.nodes[first]}
		for j := range rf - 1 {
			replicas = append(replicas, c.nodes[(first+1+(shift+j)%(n-1))%n])
		}
		out[p] = replicas
	}
	return out
}

// DeleteTopic forgets a topic.
//
// Errors: ErrUnknownTopic.
func (c *Cluster) DeleteTopic(name string) (Change, error) {
	if c.topics[name] == nil {
		return Change{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	delete(c.topics, name)
	return Change{Topic: name, Deleted: true}, nil
}

// NodeUp marks node live: an offline partition whose in-sync set holds
// it elects it (or, where unclean election is allowed, any offline
// partition it is a replica of).
//
// Errors: ErrUnknownNode.
func (c *Cluster) NodeUp(node NodeID) ([]Change, error) {
	if !c.Known(node) {
		return nil, fmt.Errorf("%w: node %d is not one of the cluster's nodes %v", ErrUnknownNode, node, c.nodes)
	}
	if c.live[node] {
		return nil, nil
	}
	c.live[node] = true
	return c.each(func(t *Topic, p *Partition) bool {
		if p.Leader != NoNode || !slices.Contains(p.Replicas, node) {
			return false
		}
		leader, isr := c.candidate(t, p)
		if leader == NoNode {
			return false
		}
		p.Leader, p.ISR = leader, isr
		p.LeaderEpoch++
		p.PartitionEpoch++
		return true
	}), nil
}

// NodeDown marks node not live (stopped, or fenced for losing its
// session): it leaves every in-sync set it is in but the last member of,
// and the partitions it led elect another leader or go offline.
//
// Errors: ErrUnknownNode.
func (c *Cluster) NodeDown(node NodeID) ([]Change, error) {
	if !c.Known(node) {
		return nil, fmt.Errorf("%w: node %d is not one of the cluster's nodes %v", ErrUnknownNode, node, c.nodes)
	}
	if !c.live[node] {
		return nil, nil
	}
	delete(c.live, node)
	return c.each(func(t *Topic, p *Partition) bool {
		inISR := len(p.ISR) > 1 && slices.Contains(p.ISR, node)
		if !inISR && p.Leader != node {
			return false
		}
		if inISR {
			p.ISR = slices.DeleteFunc(p.ISR, func(r NodeID) bool { return r == node })
		}
		if p.Leader == node {
			leader, isr := c.candidate(t, p)
			p.Leader = leader
			if leader != NoNode {
				p.ISR = isr
			}
			p.LeaderEpoch++
		}
		p.PartitionEpoch++
		return true
	}), nil
}

// candidate returns the replica that should lead p, which has no live
// leader, and the in-sync set it leads with (see the package doc); NoNode
// when none may.
func (c *Cluster) candidate(t *Topic, p *Partition) (NodeID, []NodeID) {
	for _, r := range p.Replicas {
		if c.live[r] && slices.Contains(p.ISR, r) {
			return r, p.ISR
		}
	}
	if t.Unclean {
		for _, r := range p.Replicas {
			if c.live[r] {
				return r, []NodeID{r}
			}
		}
	}
	return NoNode, nil
}

// AlterISRRequest is a leader asking to change its partition's in-sync
// set, fenced by the epochs it leads under.
type AlterISRRequest struct {
	Topic          string
	Partition      int32
	Leader         NodeID
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []NodeID
}

// AlterISR applies a leader's in-sync set change.
//
// Errors: ErrUnknownTopic, ErrUnknownPartition; ErrFenced when the
// request's leader or epochs are not the partition's current ones (a
// stale or delayed request: the partition moved on); ErrInvalid for an
// in-sync set that does not hold the leader, holds a node twice or one
// that is not a replica; ErrIneligibleReplica for adding a node that is
// not live.
func (c *Cluster) AlterISR(r AlterISRRequest) (Change, error) {
	t, p, err := c.partition(r.Topic, r.Partition)
	if err != nil {
		return Change{}, err
	}
	if r.Leader != p.Leader || r.LeaderEpoch != p.LeaderEpoch || r.PartitionEpoch != p.PartitionEpoch {
		return Change{}, fmt.Errorf("%w: %s-%d: the request comes from leader %d at leader epoch %d, partition epoch %d; the partition is at leader %d, epochs %d and %d",
			ErrFenced, r.Topic, r.Partition, r.Leader, r.LeaderEpoch, r.PartitionEpoch, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	}
	if !slices.Contains(r.ISR, p.Leader) {
		return Change{}, fmt.Errorf("%w: %s-%d: in-sync set %v leaves out the leader %d", ErrInvalid, r.Topic, r.Partition, r.ISR, p.Leader)
	}
	for i, n := range r.ISR {
		if !slices.Contains(p.Replicas, n) {
			return Change{}, fmt.Errorf("%w: %s-%d: node %d is not a replica (replicas %v)", ErrInvalid, r.Topic, r.Partition, n, p.Replicas)
		}
		if slices.Contains(r.ISR[:i], n) {
			return Change{}, fmt.Errorf("%w: %s-%d: node %d is listed twice in %v", ErrInvalid, r.Topic, r.Partition, n, r.ISR)
		}
		if !slices.Contains(p.ISR, n) && !c.live[n] {
			return Change{}, fmt.Errorf("%w: %s-%d: node %d is not live", ErrIneligibleReplica, r.Topic, r.Partition, n)
		}
	}
	isr := make([]NodeID, 0, len(r.ISR))
	for _, n := range p.Replicas {
		if slices.Contains(r.ISR, n) {
			isr = append(isr, n)
		}
	}
	// An unchanged set is committed too, with a new partition epoch: a
	// leader unsure whether an earlier proposal of its was committed
	// learns the truth from the answer.
	p.ISR = isr
	p.PartitionEpoch++
	return Change{Topic: t.Name, Partitions: []int32{r.Partition}}, nil
}

// ElectPreferred moves the leadership of each of the topic's partitions
// (all of them when partitions is empty) to its preferred replica, the
// first in assignment order, where that replica is live, in the in-sync
// set and not leading already (Kafka's preferred leader election).
//
// Errors: ErrUnknownTopic, ErrUnknownPartition, and ErrPreferredUnavailable
// naming the partitions whose preferred replica could not lead; the
// others are moved all the same.
func (c *Cluster) ElectPreferred(topic string, partitions []int32) (Change, error) {
	t := c.topics[topic]
	if t == nil {
		return Change{}, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if len(partitions) == 0 {
		partitions = allPartitions(t)
	}
	change := Change{Topic: topic}
	var unavailable []int32
	for _, id := range partitions {
		if id < 0 || int(id) >= len(t.Partitions) {
			return change, fmt.Errorf("%w: %s has partitions [0, %d), not %d", ErrUnknownPartition, topic, len(t.Partitions), id)
		}
		p := &t.Partitions[id]
		pref := p.Replicas[0]
		switch {
		case p.Leader == pref:
		case c.live[pref] && slices.Contains(p.ISR, pref):
			p.Leader = pref
			p.LeaderEpoch++
			p.PartitionEpoch++
			change.Partitions = append(change.Partitions, id)
		default:
			unavailable = append(unavailable, id)
		}
	}
	if len(unavailable) > 0 {
		return change, fmt.Errorf("%w: %s partitions %v: the preferred replica is not live or not in sync",
			ErrPreferredUnavailable, topic, unavailable)
	}
	return change, nil
}

func (c *Cluster) partition(topic string, id int32) (*Topic, *Partition, error) {
	t := c.topics[topic]
	if t == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if id < 0 || int(id) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%w: %s has partitions [0, %d), not %d", ErrUnknownPartition, topic, len(t.Partitions), id)
	}
	return t, &t.Partitions[id], nil
}

// each calls f on every partition, topics in name order, and returns the
// changes of those for which it reports a change.
func (c *Cluster) each(f func(*Topic, *Partition) bool) []Change {
	var changes []Change
	for _, name := range c.TopicNames() {
		t := c.topics[name]
		var ids []int32
		for i := range t.Partitions {
			if f(t, &t.Partitions[i]) {
				ids = append(ids, int32(i))
			}
		}
		if ids != nil {
			changes = append(changes, Change{Topic: name, Partitions: ids})
		}
	}
	return changes
}

func allPartitions(t *Topic) []int32 {
	ids := make([]int32, len(t.Partitions))
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

var (
	// ErrInvalid: a request the controller cannot carry out as asked.
	ErrInvalid = errors.New("invalid request")
	// ErrUnknownNode: a node id that is not one of the cluster's.
	ErrUnknownNode = errors.New("unknown node")
	// ErrTopicExists: CreateTopic of a topic that exists.
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownTopic: a topic that does not exist.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrUnknownPartition: a partition the topic does not have.
	ErrUnknownPartition = errors.New("unknown partition")
	// ErrFenced: an in-sync set change from a leader or epoch that is no
	// longer current.
	ErrFenced = errors.New("stale leader or partition epoch")
	// ErrIneligibleReplica: adding a replica that is not live to an
	// in-sync set.
	ErrIneligibleReplica = errors.New("ineligible replica")
	// ErrPreferredUnavailable: a preferred replica that cannot lead.
	ErrPreferredUnavailable = errors.New("preferred leader not available")
)
