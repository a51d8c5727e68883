package commitlog

import (
	"slices"
	"time"
)

// PartitionStats describes a partition at one moment.
type PartitionStats struct {
	Topic     string
	Partition int32
	// StartOffset, HighWatermark and EndOffset are as the methods of the
	// same names return them.
	StartOffset, HighWatermark, EndOffset int64
	// Bytes is the size of the partition's data files, and Segments
	// their number.
	Bytes    int64
	Segments int
	// LastRetention is when a retention pass last looked at the
	// partition (zero: not since Open), and RetentionDeleted how many
	// segments retention has deleted since Open.
	LastRetention    time.Time
	RetentionDeleted int64
	// DirtyRatio is, for a compacted topic, the share of the bytes of the
	// compactable segments that are not compacted yet (what
	// MinCleanableDirtyRatio is compared with), and LastCleaning when a
	// compaction pass last ran (zero: not since Open).
	DirtyRatio   float64
	LastCleaning time.Time
	// Replica is, on a replicated Log, the partition's state as this node
	// last heard it from the controller: its leader (NoNode while
	// offline), leader epoch, in-sync replicas and replicas, and whether
	// this node leads it. Log.ReplicaStatus adds the followers' progress
	// as the leader sees it. Nil on a single-node Log.
	Replica *ReplicaState
}

// ReplicaState is a replicated partition's state in PartitionStats.
type ReplicaState struct {
	Leader      NodeID
	LeaderEpoch int32
	ISR         []NodeID
	Replicas    []NodeID
	// UnderReplicated says the in-sync set is smaller than the replica
	// set (Kafka's UnderReplicatedPartitions); UnderMinISR that it is
	// smaller than the topic's MinInSyncReplicas, so AckAll appends fail.
	UnderReplicated, UnderMinISR bool
}

// Stats returns the partition's statistics. It reads counters the
// partition keeps in memory: it takes no lock that appends or reads wait
// for and never waits for I/O, so it takes no context (see Concurrency in
// the package documentation).
func (p *Partition) Stats() PartitionStats {
	s := p.store.Stats()
	return PartitionStats{
		Topic: p.topic.name, Partition: p.id,
		StartOffset: p.StartOffset(), HighWatermark: p.HighWatermark(), EndOffset: p.EndOffset(),
		Bytes: s.Bytes, Segments: s.Segments,
		LastRetention: s.LastRetention, RetentionDeleted: s.RetentionDeleted,
		DirtyRatio: s.DirtyRatio, LastCleaning: s.LastCleaning,
		Replica: p.replicaState(),
	}
}

// replicaState returns the partition state of a replica, nil on a
// single-node Log or before the controller's first word on it.
func (p *Partition) replicaState() *ReplicaState {
	if p.repl == nil {
		return nil
	}
	md := p.repl.state.Load()
	if md == nil {
		return nil
	}
	return &ReplicaState{
		Leader: md.Leader, LeaderEpoch: md.LeaderEpoch,
		ISR: slices.Clone(md.ISR), Replicas: slices.Clone(md.Replicas),
		UnderReplicated: len(md.ISR) < len(md.Replicas),
		UnderMinISR:     len(md.ISR) < int(p.cfg.MinInSyncReplicas),
	}
}

// Stats returns the statistics of every partition of every topic,
// internal ones included, sorted by topic and partition. Like
// Partition.Stats it never waits for I/O and takes no context.
func (l *Log) Stats() []PartitionStats {
	parts := l.allPartitions()
	out := make([]PartitionStats, 0, len(parts))
	for _, p := range parts {
		out = append(out, p.Stats())
	}
	slices.SortFunc(out, func(a, b PartitionStats) int {
		return compareTopicPartitions(TopicPartition{a.Topic, a.Partition}, TopicPartition{b.Topic, b.Partition})
	})
	return out
}
