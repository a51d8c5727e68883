package cluster

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/controller"
)

// commandVersion is the version of the command encoding: the first byte
// of every Raft entry this package proposes. A change of a command's
// fields or meaning comes with a new version.
const commandVersion = 1

// The operations a command carries out on the metadata.
const (
	opCreateTopic    = "create_topic"
	opDeleteTopic    = "delete_topic"
	opAlterISR       = "alter_isr"
	opElectPreferred = "elect_preferred"
	opNodeUp         = "node_up"
	opNodeDown       = "node_down"
	// The membership commands travel in Raft configuration changes'
	// contexts (membership.go), applied with the change.
	opAddNode    = "add_node"
	opRemoveNode = "remove_node"
)

// command is one change of the cluster's metadata, as a Raft entry:
// commandVersion, then the command's JSON encoding (encoding/json writes
// struct fields in declaration order, so the encoding is deterministic).
// From and Seq name the proposal: a node proposes one command at a time
// and numbers them increasingly, so that a proposal Raft commits twice
// (a retry after a lost forward) is applied once.
type command struct {
	From       commitlog.NodeID           `json:"from"`
	Seq        uint64                     `json:"seq"`
	Op         string                     `json:"op"`
	Topic      string                     `json:"topic,omitempty"`
	Config     *commitlog.TopicConfig     `json:"config,omitempty"`
	Partitions []int32                    `json:"partitions,omitempty"`
	ISR        *commitlog.AlterISRRequest `json:"isr,omitempty"`
	Node       commitlog.NodeID           `json:"node,omitempty"`
}

func encodeCommand(c command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode a %s command: %w", c.Op, err)
	}
	return append([]byte{commandVersion}, b...), nil
}

// decodeCommand decodes an entry's data. It never panics.
func decodeCommand(data []byte) (command, error) {
	if len(data) == 0 || data[0] != commandVersion {
		return command{}, fmt.Errorf("cluster: a command entry of an unknown version (first byte of %d)", len(data))
	}
	var c command
	if err := json.Unmarshal(data[1:], &c); err != nil {
		return command{}, fmt.Errorf("cluster: decode a command: %w", err)
	}
	return c, nil
}

// metadata is the replicated state machine: internal/controller.Cluster
// fed with committed commands, in commit order, on every node alike.
// Not safe for concurrent use.
type metadata struct {
	cluster *controller.Cluster
	lastSeq map[commitlog.NodeID]uint64 // the last command applied from each proposer
}

func newMetadata(nodes []commitlog.NodeID) (*metadata, error) {
	c, err := controller.New(convertIDs[controller.NodeID](nodes))
	if err != nil {
		return nil, err
	}
	return &metadata{cluster: c, lastSeq: map[commitlog.NodeID]uint64{}}, nil
}

// apply carries out c, returning what changed and the error the
// proposer's call returns. A duplicate (a From and Seq not above the
// last applied from From) changes nothing and reports dup.
func (m *metadata) apply(c command) (changes []controller.Change, dup bool, err error) {
	if c.Seq <= m.lastSeq[c.From] {
		return nil, true, nil
	}
	m.lastSeq[c.From] = c.Seq
	var ch controller.Change
	switch c.Op {
	case opCreateTopic:
		if c.Config == nil {
			return nil, false, fmt.Errorf("%w: cluster: a create_topic command without a configuration", commitlog.ErrInvalidArgument)
		}
		cfg := *c.Config
		var enc []byte
		if enc, err = json.Marshal(cfg); err != nil {
			return nil, false, err
		}
		ch, err = m.cluster.CreateTopic(controller.TopicSpec{
			Name: c.Topic, Config: enc, Partitions: cfg.Partitions, ReplicationFactor: int(cfg.ReplicationFactor),
			Assignment: assignment(cfg.Replicas), Unclean: cfg.UncleanLeaderElection,
		})
	case opDeleteTopic:
		ch, err = m.cluster.DeleteTopic(c.Topic)
	case opAlterISR:
		if c.ISR == nil {
			return nil, false, fmt.Errorf("%w: cluster: an alter_isr command without a request", commitlog.ErrInvalidArgument)
		}
		r := c.ISR
		ch, err = m.cluster.AlterISR(controller.AlterISRRequest{
			Topic: r.Topic, Partition: r.Partition, Leader: controller.NodeID(r.Leader),
			LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, ISR: convertIDs[controller.NodeID](r.ISR),
		})
	case opElectPreferred:
		ch, err = m.cluster.ElectPreferred(c.Topic, c.Partitions)
	case opNodeUp:
		changes, err = m.cluster.NodeUp(controller.NodeID(c.Node))
		return changes, false, mapError(err)
	case opNodeDown:
		changes, err = m.cluster.NodeDown(controller.NodeID(c.Node))
		return changes, false, mapError(err)
	case opAddNode:
		return nil, false, mapError(m.cluster.AddNode(controller.NodeID(c.Node)))
	case opRemoveNode:
		return nil, false, mapError(m.cluster.RemoveNode(controller.NodeID(c.Node)))
	default:
		return nil, false, fmt.Errorf("%w: cluster: unknown command %q", commitlog.ErrInvalidArgument, c.Op)
	}
	return []controller.Change{ch}, false, mapError(err)
}

// update returns the ClusterUpdate telling a node what changes changed.
func (m *metadata) update(changes []controller.Change) commitlog.ClusterUpdate {
	var u commitlog.ClusterUpdate
	for _, ch := range changes {
		switch {
		case ch.Topic == "":
		case ch.Deleted:
			u.Topics = append(u.Topics, commitlog.TopicMetadata{Name: ch.Topic, Deleted: true})
		case len(ch.Partitions) > 0 || ch.Created:
			if t := m.cluster.Topic(ch.Topic); t != nil {
				u.Topics = append(u.Topics, topicMetadata(t))
			}
		}
	}
	return u
}

// snapshot returns every topic as a Snapshot update.
func (m *metadata) snapshot() commitlog.ClusterUpdate {
	u := commitlog.ClusterUpdate{Snapshot: true}
	for _, name := range m.cluster.TopicNames() {
		u.Topics = append(u.Topics, topicMetadata(m.cluster.Topic(name)))
	}
	return u
}

// topic returns the named topic's record, or false.
func (m *metadata) topic(name string) (commitlog.TopicMetadata, bool) {
	t := m.cluster.Topic(name)
	if t == nil {
		return commitlog.TopicMetadata{}, false
	}
	return topicMetadata(t), true
}

func topicMetadata(t *controller.Topic) commitlog.TopicMetadata {
	var cfg commitlog.TopicConfig
	_ = json.Unmarshal(t.Config, &cfg) // this package's own encoding
	md := commitlog.TopicMetadata{Name: t.Name, Config: cfg, Partitions: make([]commitlog.PartitionMetadata, len(t.Partitions))}
	for i, p := range t.Partitions {
		md.Partitions[i] = commitlog.PartitionMetadata{
			Partition: int32(i), Replicas: convertIDs[commitlog.NodeID](p.Replicas), Leader: commitlog.NodeID(p.Leader),
			LeaderEpoch: p.LeaderEpoch, ISR: convertIDs[commitlog.NodeID](p.ISR), PartitionEpoch: p.PartitionEpoch,
		}
	}
	return md
}

// mapError maps internal/controller's errors to commitlog's, as the
// Controller contract names them.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{controller.ErrInvalid, commitlog.ErrInvalidConfig},
		{controller.ErrUnknownNode, commitlog.ErrUnknownNode},
		{controller.ErrTopicExists, commitlog.ErrTopicExists},
		{controller.ErrUnknownTopic, commitlog.ErrUnknownTopic},
		{controller.ErrUnknownPartition, commitlog.ErrUnknownPartition},
		{controller.ErrFenced, commitlog.ErrFencedEpoch},
		{controller.ErrIneligibleReplica, commitlog.ErrInvalidArgument},
		{controller.ErrPreferredUnavailable, commitlog.ErrPreferredLeaderNotAvailable},
		{controller.ErrNodeExists, commitlog.ErrInvalidArgument},
		{controller.ErrNodeHoldsReplicas, commitlog.ErrInvalidArgument},
	} {
		if errors.Is(err, m.from) {
			if m.to == commitlog.ErrInvalidConfig {
				return &commitlog.ConfigError{Problems: []string{err.Error()}}
			}
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

func convertIDs[To, From ~int32](ids []From) []To {
	out := make([]To, len(ids))
	for i, id := range ids {
		out[i] = To(id)
	}
	return out
}

func assignment(a [][]commitlog.NodeID) [][]controller.NodeID {
	if a == nil {
		return nil
	}
	out := make([][]controller.NodeID, len(a))
	for i, r := range a {
		out[i] = convertIDs[controller.NodeID](r)
	}
	return out
}
