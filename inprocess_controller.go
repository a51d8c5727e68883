package commitlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/commitlog-go/commitlog/internal/controller"
)

// InProcessController is a Controller for Logs in one process: the
// cluster's metadata lives in its memory, and every Log of the cluster is
// opened with it as Options.Controller. It elects, for each partition, the
// first live in-sync replica in assignment order; keeps a partition
// offline while none of its in-sync replicas is live (unless the topic
// allows unclean election); bumps the leader epoch on every change of
// leader and the partition epoch on every change of leader or in-sync
// set; and never shrinks an in-sync set to empty. A node is live from its
// Join until its leave, or until Isolate cuts its session.
//
// The metadata does not outlive the controller: a process that restarts
// its Logs must keep the controller (the usual case in tests and
// examples, which close and reopen Logs under one controller). A cluster
// spanning processes needs a consensus-replicated controller.
//
// Updates reach each node in order, on a goroutine per joined node that
// the controller owns; Close stops them.
type InProcessController struct {
	mu      sync.Mutex
	cluster *controller.Cluster
	members map[NodeID]*controllerMember
	configs map[string]TopicConfig // each topic's configuration
	closed  bool
}

// InProcessControllerConfig configures an InProcessController.
type InProcessControllerConfig struct {
	// Nodes lists the cluster's nodes: only these may join, and replicas
	// are assigned among them. Required.
	Nodes []NodeID
}

// member is a joined node: its pending updates and the goroutine that
// delivers them.
type controllerMember struct {
	c        *InProcessController
	apply    func(ClusterUpdate)
	queue    []ClusterUpdate
	isolated bool          // the session is cut: nothing is delivered
	wake     chan struct{} // one slot: the queue has something
	stop     chan struct{} // closed by leave or Close
	done     chan struct{} // closed when the goroutine has stopped
}

// NewInProcessController returns a controller for the nodes of
// cfg.Nodes, none of them live until it joins.
//
// Errors: *ConfigError for no nodes, a negative or repeated NodeID.
func NewInProcessController(cfg InProcessControllerConfig) (*InProcessController, error) {
	c, err := controller.New(convertIDs[controller.NodeID](cfg.Nodes))
	if err != nil {
		return nil, &ConfigError{Problems: []string{"Nodes: " + err.Error()}}
	}
	return &InProcessController{cluster: c, members: map[NodeID]*controllerMember{}, configs: map[string]TopicConfig{}}, nil
}

// Join implements Controller.
func (c *InProcessController) Join(ctx context.Context, node NodeID, apply func(ClusterUpdate)) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if !c.cluster.Known(controller.NodeID(node)) {
		return nil, fmt.Errorf("%w: node %d is not one of the cluster's nodes %v", ErrUnknownNode, node, c.cluster.Nodes())
	}
	if c.members[node] != nil {
		return nil, fmt.Errorf("%w: node %d has joined and not left: open each Log with its own NodeID", ErrNodeExists, node)
	}
	m := &controllerMember{c: c, apply: apply, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	c.members[node] = m
	changes, _ := c.cluster.NodeUp(controller.NodeID(node)) // known: cannot fail
	m.queue = append(m.queue, c.snapshotLocked())
	m.signal()
	c.publishLocked(changes, node)
	go m.run()
	return func() { c.leave(node, m) }, nil
}

// leave takes node out of the cluster: its partitions elect other
// leaders, and its delivery goroutine stops.
func (c *InProcessController) leave(node NodeID, m *controllerMember) {
	c.mu.Lock()
	if c.members[node] == m {
		delete(c.members, node)
		if !m.isolated {
			changes, _ := c.cluster.NodeDown(controller.NodeID(node))
			c.publishLocked(changes, NoNode)
		}
		close(m.stop)
	}
	c.mu.Unlock()
	<-m.done
}

// Isolate cuts node's session, as when it is partitioned away from the
// controller: the cluster treats it as down (the partitions it led elect
// other leaders; it leaves in-sync sets), updates to it are held back,
// and its calls fail with ErrControllerUnreachable. The node itself keeps
// running on what it last heard, as a partitioned node does. Reconnect
// ends it. Isolating a node that has not joined does nothing.
func (c *InProcessController) Isolate(node NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[node]
	if m == nil || m.isolated {
		return
	}
	changes, _ := c.cluster.NodeDown(controller.NodeID(node))
	m.isolated = true
	c.publishLocked(changes, NoNode)
}

// Reconnect restores the session Isolate cut: the node is live again
// and hears the cluster's current metadata as a snapshot.
func (c *InProcessController) Reconnect(node NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[node]
	if m == nil || !m.isolated {
		return
	}
	m.isolated = false
	changes, _ := c.cluster.NodeUp(controller.NodeID(node))
	m.queue = []ClusterUpdate{c.snapshotLocked()}
	m.signal()
	c.publishLocked(changes, node)
}

// Close stops delivering updates to every node. Logs still open keep the
// metadata they last heard; their calls fail with ErrClosed.
func (c *InProcessController) Close() error {
	c.mu.Lock()
	c.closed = true
	members := c.members
	c.members = map[NodeID]*controllerMember{}
	for _, m := range members {
		close(m.stop)
	}
	c.mu.Unlock()
	for _, m := range members {
		<-m.done
	}
	return nil
}

// CreateTopic implements Controller.
func (c *InProcessController) CreateTopic(ctx context.Context, spec TopicSpec) error {
	cfg := spec.Config
	return c.change(ctx, NoNode, func(cl *controller.Cluster) ([]controller.Change, error) {
		ch, err := cl.CreateTopic(controller.TopicSpec{
			Name:              spec.Name,
			Config:            marshalTopic(spec.Name, cfg),
			Partitions:        cfg.Partitions,
			ReplicationFactor: int(cfg.ReplicationFactor),
			Assignment:        controllerAssignment(cfg.Replicas),
			Unclean:           cfg.UncleanLeaderElection,
		})
		if err == nil {
			c.configs[spec.Name] = cfg
		}
		return []controller.Change{ch}, err
	})
}

// DeleteTopic implements Controller.
func (c *InProcessController) DeleteTopic(ctx context.Context, name string) error {
	return c.change(ctx, NoNode, func(cl *controller.Cluster) ([]controller.Change, error) {
		ch, err := cl.DeleteTopic(name)
		delete(c.configs, name)
		return []controller.Change{ch}, err
	})
}

// AlterISR implements Controller.
func (c *InProcessController) AlterISR(ctx context.Context, req AlterISRRequest) error {
	return c.change(ctx, req.Leader, func(cl *controller.Cluster) ([]controller.Change, error) {
		ch, err := cl.AlterISR(controller.AlterISRRequest{
			Topic: req.Topic, Partition: req.Partition, Leader: controller.NodeID(req.Leader),
			LeaderEpoch: req.LeaderEpoch, PartitionEpoch: req.PartitionEpoch, ISR: convertIDs[controller.NodeID](req.ISR),
		})
		return []controller.Change{ch}, err
	})
}

// ElectPreferredLeaders implements Controller.
func (c *InProcessController) ElectPreferredLeaders(ctx context.Context, topic string, partitions ...int32) error {
	return c.change(ctx, NoNode, func(cl *controller.Cluster) ([]controller.Change, error) {
		ch, err := cl.ElectPreferred(topic, partitions)
		return []controller.Change{ch}, err
	})
}

// Describe returns the controller's record of a topic.
//
// Errors: ErrUnknownTopic.
func (c *InProcessController) Describe(topic string) (TopicMetadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.cluster.Topic(topic)
	if t == nil {
		return TopicMetadata{}, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	return c.topicMetadata(t), nil
}

// change applies f to the cluster and tells every node what it changed.
// from is the node calling, NoNode for an operator: an isolated node's
// calls fail.
func (c *InProcessController) change(ctx context.Context, from NodeID, f func(*controller.Cluster) ([]controller.Change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if m := c.members[from]; m != nil && m.isolated {
		return fmt.Errorf("%w: node %d's session is cut", ErrControllerUnreachable, from)
	}
	changes, err := f(c.cluster)
	c.publishLocked(changes, NoNode)
	return controllerError(err)
}

// publishLocked queues an update with the topics changes touched for
// every member that is not isolated, except skip. REQUIRES: c.mu.
func (c *InProcessController) publishLocked(changes []controller.Change, skip NodeID) {
	var u ClusterUpdate
	for _, ch := range changes {
		switch {
		case ch.Topic == "":
		case ch.Deleted:
			u.Topics = append(u.Topics, TopicMetadata{Name: ch.Topic, Deleted: true})
		case len(ch.Partitions) > 0 || ch.Created:
			u.Topics = append(u.Topics, c.topicMetadata(c.cluster.Topic(ch.Topic)))
		}
	}
	if len(u.Topics) == 0 {
		return
	}
	for id, m := range c.members {
		if id == skip || m.isolated {
			continue
		}
		m.queue = append(m.queue, cloneUpdate(u))
		m.signal()
	}
}

// snapshotLocked returns every topic as a snapshot update. REQUIRES: c.mu.
func (c *InProcessController) snapshotLocked() ClusterUpdate {
	u := ClusterUpdate{Snapshot: true}
	for _, name := range c.cluster.TopicNames() {
		u.Topics = append(u.Topics, c.topicMetadata(c.cluster.Topic(name)))
	}
	return u
}

func (m *controllerMember) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run delivers the member's updates in order until stop.
func (m *controllerMember) run() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		for {
			u, ok := m.next()
			if !ok {
				break
			}
			select {
			case <-m.stop:
				return
			default:
			}
			m.apply(u)
		}
	}
}

// next takes the member's next update, unless it is isolated.
func (m *controllerMember) next() (ClusterUpdate, bool) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.isolated || len(m.queue) == 0 {
		return ClusterUpdate{}, false
	}
	u := m.queue[0]
	m.queue[0] = ClusterUpdate{}
	m.queue = m.queue[1:]
	return u, true
}

// topicMetadata returns t's record with its configuration. REQUIRES: c.mu.
func (c *InProcessController) topicMetadata(t *controller.Topic) TopicMetadata {
	cfg := c.configs[t.Name]
	cfg.Replicas = cloneAssignment(cfg.Replicas)
	md := TopicMetadata{Name: t.Name, Config: cfg, Partitions: make([]PartitionMetadata, len(t.Partitions))}
	for i, p := range t.Partitions {
		md.Partitions[i] = PartitionMetadata{
			Partition: int32(i), Replicas: convertIDs[NodeID](p.Replicas), Leader: NodeID(p.Leader),
			LeaderEpoch: p.LeaderEpoch, ISR: convertIDs[NodeID](p.ISR), PartitionEpoch: p.PartitionEpoch,
		}
	}
	return md
}

func cloneUpdate(u ClusterUpdate) ClusterUpdate {
	c := ClusterUpdate{Snapshot: u.Snapshot, Topics: make([]TopicMetadata, len(u.Topics))}
	for i, t := range u.Topics {
		t.Config.Replicas = cloneAssignment(t.Config.Replicas)
		ps := make([]PartitionMetadata, len(t.Partitions))
		for j, p := range t.Partitions {
			ps[j] = p.clone()
		}
		t.Partitions = ps
		c.Topics[i] = t
	}
	return c
}

// controllerError maps the controller's errors to the package's.
func controllerError(err error) error {
	for _, m := range []struct{ from, to error }{
		{controller.ErrInvalid, ErrInvalidConfig},
		{controller.ErrUnknownNode, ErrUnknownNode},
		{controller.ErrTopicExists, ErrTopicExists},
		{controller.ErrUnknownTopic, ErrUnknownTopic},
		{controller.ErrUnknownPartition, ErrUnknownPartition},
		{controller.ErrFenced, ErrFencedEpoch},
		{controller.ErrIneligibleReplica, ErrInvalidArgument},
		{controller.ErrPreferredUnavailable, ErrPreferredLeaderNotAvailable},
	} {
		if errors.Is(err, m.from) {
			if m.to == ErrInvalidConfig {
				return &ConfigError{Problems: []string{err.Error()}}
			}
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

// convertIDs converts node ids between the packages' NodeID types.
func convertIDs[To, From ~int32](ids []From) []To {
	out := make([]To, len(ids))
	for i, id := range ids {
		out[i] = To(id)
	}
	return out
}

func controllerAssignment(a [][]NodeID) [][]controller.NodeID {
	if a == nil {
		return nil
	}
	out := make([][]controller.NodeID, len(a))
	for i, r := range a {
		out[i] = convertIDs[controller.NodeID](r)
	}
	return out
}

var _ Controller = (*InProcessController)(nil)

// DescribeCluster implements ClusterDescriber: the nodes and which are
// live. There is no quorum, so no controller leader: NoNode.
func (c *InProcessController) DescribeCluster() ([]NodeStatus, NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []NodeStatus
	for _, n := range c.cluster.Nodes() {
		out = append(out, NodeStatus{Node: NodeID(n), Live: c.cluster.Live(n)})
	}
	return out, NoNode
}
