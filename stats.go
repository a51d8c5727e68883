package commitlog

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/commitlog-go/commitlog/internal/metrics"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// LogStats is a snapshot of a Log's statistics (Log.Stats), for metrics
// exporters and operators: the figures of every partition, the fsync
// latency histogram, what Open recovered, and the consumer groups' lag.
// Each figure is read atomically; the snapshot as a whole is not one
// instant (a partition appended to meanwhile may show it in one field and
// not yet in another).
type LogStats struct {
	// Partitions holds every partition this Log holds, internal topics'
	// included, sorted by topic and partition.
	Partitions []PartitionStats
	// Fsync counts the fsync rounds of every partition since Open (see
	// SyncInfo.Duration), by duration.
	Fsync LatencyHistogram
	// Recovery sums what Open recovered.
	Recovery RecoveryStats
	// Groups holds the consumer groups this Log coordinates (those
	// ListGroups lists) with their lag, sorted by name.
	Groups []GroupStats
}

// LatencyHistogram counts durations in fixed buckets whose bounds double:
// 8 µs, 16 µs, 32 µs, ... 8.39 s, and one more for longer ones. The
// bounds never change, so histograms of different Logs and times can be
// added bucket by bucket, and a Prometheus histogram built from
// cumulative sums of Counts.
type LatencyHistogram struct {
	// Bounds holds the upper bound (inclusive) of each bucket but the
	// last: Counts[i] counts the durations in (Bounds[i-1], Bounds[i]],
	// and Counts[len(Bounds)] those above the last bound. The counts are
	// per bucket, not cumulative.
	Bounds []time.Duration
	Counts []uint64
	// Count is the sum of Counts, and Sum the sum of the durations.
	Count uint64
	Sum   time.Duration
}

// latencyHistogram returns the public form of a histogram's snapshot.
func latencyHistogram(s metrics.Snapshot) LatencyHistogram {
	h := LatencyHistogram{Bounds: make([]time.Duration, metrics.Bounds), Counts: slices.Clone(s.Counts[:]), Count: s.Count, Sum: s.Sum}
	for i := range h.Bounds {
		h.Bounds[i] = metrics.Bound(i)
	}
	return h
}

// RecoveryStats sums what Open did to recover the Log's partitions: the
// totals of the RecoveryInfo each partition's recovery reported, where
// each figure is described.
type RecoveryStats struct {
	// Duration is the time Open took as a whole, on the Log's clock, and
	// Partitions the number of partitions it recovered.
	Duration   time.Duration
	Partitions int
	// Segments, SegmentsScanned and BytesScanned: the segments the
	// partitions have, those whose batches were checked one by one, and
	// the data checked so.
	Segments, SegmentsScanned int
	BytesScanned              int64
	// BytesCut, SegmentsRemoved, IndexesRebuilt and Completed: what was
	// repaired, as RecoveryInfo counts it.
	BytesCut                        int64
	SegmentsRemoved, IndexesRebuilt int
	Completed                       int
	// FromCheckpoint counts the partitions whose recovery resumed from
	// their checkpoint.
	FromCheckpoint int
}

// recovered adds what opening partition id of topic recovered to the
// Log's figures, logs it and reports it to the RecoveryHooks. It runs in
// Open, before the Log is shared.
func (l *Log) recovered(topic string, id int32, r storage.RecoveryStats) {
	s := &l.recovery
	s.Partitions++
	s.Segments += r.Segments
	s.SegmentsScanned += r.SegmentsScanned
	s.BytesScanned += r.BytesScanned
	s.BytesCut += r.BytesCut
	s.SegmentsRemoved += r.SegmentsRemoved
	s.IndexesRebuilt += r.IndexesRebuilt
	s.Completed += r.Completed
	if r.FromCheckpoint {
		s.FromCheckpoint++
	}
	// A partition closed cleanly has nothing to scan: Debug. One with an
	// unflushed tail, or damage, is worth a line of its own.
	lvl := slog.LevelDebug
	if r.BytesScanned > 0 || r.BytesCut > 0 || r.SegmentsRemoved > 0 || r.IndexesRebuilt > 0 || r.Completed > 0 {
		lvl = slog.LevelInfo
	}
	l.opts.Logger.Log(context.Background(), lvl, "recovered partition", "topic", topic, "partition", id,
		"segments", r.Segments, "segments_scanned", r.SegmentsScanned, "bytes_scanned", r.BytesScanned,
		"from_checkpoint", r.FromCheckpoint, "bytes_cut", r.BytesCut, "segments_removed", r.SegmentsRemoved,
		"indexes_rebuilt", r.IndexesRebuilt, "completed", r.Completed, "duration", r.Duration)
	if hs := l.hooks.recoveries; len(hs) > 0 {
		info := recoveryInfo(topic, id, r)
		for _, h := range hs {
			h.OnRecovery(info)
		}
	}
}

// logOpened logs the end of Open with the recovery's totals.
func (l *Log) logOpened() {
	s := l.recovery
	l.opts.Logger.Info("opened log", "dir", l.dir, "partitions", s.Partitions, "segments", s.Segments,
		"segments_scanned", s.SegmentsScanned, "bytes_scanned", s.BytesScanned, "bytes_cut", s.BytesCut,
		"segments_removed", s.SegmentsRemoved, "indexes_rebuilt", s.IndexesRebuilt, "completed", s.Completed,
		"duration", s.Duration)
}

// GroupStats is a consumer group's lag in LogStats.
type GroupStats struct {
	Group string
	State GroupState
	// Generation is the group's epoch, bumped by every rebalance (0
	// without members), and Members its number of members.
	Generation int32
	Members    int
	// Lag is the sum of the known lags of Partitions: the records of
	// the group's partitions below their high watermarks that the group
	// has not committed past.
	Lag int64
	// Partitions holds every partition the group has a committed offset
	// for or a member is assigned, sorted, as DescribeGroup reports
	// them.
	Partitions []PartitionLag
}

// PartitionStats describes a partition at one moment.
type PartitionStats struct {
	Topic     string
	Partition int32
	// StartOffset, HighWatermark, EndOffset and DurableOffset are as the
	// methods of the same names return them.
	StartOffset, HighWatermark, EndOffset, DurableOffset int64
	// ConsumerLag is the largest lag (the high watermark less the
	// committed offset) among the consumer groups this Log coordinates
	// that have committed an offset for the partition; 0 when none has.
	ConsumerLag int64
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
	hw := p.HighWatermark()
	return PartitionStats{
		Topic: p.topic.name, Partition: p.id,
		StartOffset: p.StartOffset(), HighWatermark: hw, EndOffset: p.EndOffset(), DurableOffset: p.DurableOffset(),
		ConsumerLag: p.log.offsets.maxLag(TopicPartition{p.topic.name, p.id}, hw),
		Bytes:       s.Bytes, Segments: s.Segments,
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

// Stats returns a snapshot of the Log's statistics: every partition's,
// internal topics' included, the fsync latency histogram, what Open
// recovered, and the lag of the consumer groups it coordinates. Like
// Partition.Stats it reads what the Log keeps in memory, takes no lock
// that appends, reads, fsync rounds or commits wait for, and never waits
// for I/O, so it takes no context. After Close it still answers, without
// the groups.
func (l *Log) Stats() LogStats {
	parts := l.allPartitions()
	st := LogStats{
		Partitions: make([]PartitionStats, 0, len(parts)),
		Fsync:      latencyHistogram(l.syncLatency.Snapshot()),
		Recovery:   l.recovery,
	}
	for _, p := range parts {
		st.Partitions = append(st.Partitions, p.Stats())
	}
	slices.SortFunc(st.Partitions, func(a, b PartitionStats) int {
		return compareTopicPartitions(TopicPartition{a.Topic, a.Partition}, TopicPartition{b.Topic, b.Partition})
	})
	for _, name := range l.ListGroups() {
		d, err := l.DescribeGroup(name)
		if err != nil {
			continue // closed meanwhile, or no longer coordinated here
		}
		g := GroupStats{Group: name, State: d.State, Generation: d.Epoch, Members: len(d.Members), Partitions: d.Partitions}
		for _, pl := range d.Partitions {
			g.Lag += max(pl.Lag, 0)
		}
		st.Groups = append(st.Groups, g)
	}
	return st
}
