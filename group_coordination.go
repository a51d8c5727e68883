package commitlog

import (
	"errors"
	"fmt"
	"maps"
)

// On a replicated Log, a consumer group is coordinated by one node: the
// leader of the __consumer_offsets partition that holds the group's
// offsets, as in Kafka (FindCoordinator answers with that partition's
// leader). Membership stays in memory on that node, as on a single-node
// Log; committed offsets replicate with the topic, and a commit is
// acknowledged once it is committed on every in-sync replica (Kafka's
// offsets.commit.required.acks=-1).
//
// A node takes a group's coordination over when it becomes the leader of
// its offsets partition: it replays what its replica holds, up to the
// written end (every commit acknowledged by an earlier leader is there,
// since the new leader was in the in-sync set), and only then answers
// for the group. It gives the coordination up when the leadership moves
// on: the groups' members are fenced (they learn it on their next Poll,
// and joining again tells them where the coordinator is now), and their
// offsets are dropped from memory. The commit lock orders both against
// commits, so a commit is checked against the coordination it lands in.

// offsetsLeadershipChanged takes over or gives up the coordination of
// the groups of one partition of __consumer_offsets, after rp, its
// replica here, applied the controller's new state. It runs in the
// node's metadata loop.
func (gc *coordinator) offsetsLeadershipChanged(rp *replicaPartition) {
	p := rp.p
	epoch, leads := rp.leadership()
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	s := gc.offsets
	s.mu.Lock()
	if s.topic == nil {
		s.setTopicLocked(p.topic)
	}
	loadedEpoch, loaded := s.loaded[p.id]
	s.mu.Unlock()
	if loaded && (!leads || loadedEpoch != epoch) {
		gc.resignLocked(p.id, fmt.Sprintf("node %d no longer coordinates the group: the leadership of %s-%d moved (leader epoch %d)",
			gc.log.repl.node, offsetsTopicName, p.id, epoch))
	}
	if !leads || (loaded && loadedEpoch == epoch) {
		return
	}
	replayed := groupOffsets{}
	if err := replayed.replay(p, true); err != nil {
		gc.log.opts.Logger.Error("replaying committed offsets as their new coordinator failed: the partition's groups are not coordinated here",
			"topic", offsetsTopicName, "partition", p.id, "leader_epoch", epoch, "err", err)
		return
	}
	n := p.topic.NumPartitions()
	s.mu.Lock()
	maps.DeleteFunc(s.groups, func(group string, _ map[TopicPartition]committedOffset) bool {
		return offsetsPartitionFor(group, n) == p.id
	})
	maps.Copy(s.groups, replayed)
	s.loaded[p.id] = epoch
	s.mu.Unlock()
}

// resignLocked gives up the coordination of the groups of partition id
// of __consumer_offsets: their members are fenced with reason and their
// offsets leave memory. REQUIRES: commitMu.
func (gc *coordinator) resignLocked(id int32, reason string) {
	s := gc.offsets
	s.mu.Lock()
	n := s.topic.NumPartitions()
	resigned := func(group string) bool { return offsetsPartitionFor(group, n) == id }
	maps.DeleteFunc(s.groups, func(group string, _ map[TopicPartition]committedOffset) bool { return resigned(group) })
	delete(s.loaded, id)
	s.mu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Resign(resigned, reason)
}

// checkCoordinatorLocked returns nil if this node coordinates group, and
// a *NotCoordinatorError otherwise. A single-node Log coordinates every
// group; a replicated one those whose partition of __consumer_offsets it
// leads and has replayed, and every group while the topic is unknown
// here (nothing is committed anywhere yet: reads find nothing, and
// writes create the topic first). REQUIRES: s.mu, read or write.
func (s *offsetStore) checkCoordinatorLocked(group string) error {
	if s.log.repl == nil || s.topic == nil {
		return nil
	}
	id := offsetsPartitionFor(group, s.topic.NumPartitions())
	if _, ok := s.loaded[id]; ok {
		return nil
	}
	return &NotCoordinatorError{Group: group, Node: s.log.repl.node, OffsetsPartition: id,
		Coordinator: s.log.repl.leaderOf(TopicPartition{offsetsTopicName, id})}
}

// checkCoordinator is checkCoordinatorLocked taking s.mu.
func (s *offsetStore) checkCoordinator(group string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkCoordinatorLocked(group)
}

// coordinatorError returns err, from a write to group's offsets, with a
// *NotLeaderError of __consumer_offsets (the leadership moved while the
// commit waited) reported as the *NotCoordinatorError it means.
func (s *offsetStore) coordinatorError(group string, err error) error {
	var nle *NotLeaderError
	if !errors.As(err, &nle) || nle.Topic != offsetsTopicName {
		return err
	}
	return fmt.Errorf("%w (%w)", &NotCoordinatorError{Group: group, Node: nle.Node, OffsetsPartition: nle.Partition, Coordinator: nle.Leader}, err)
}
