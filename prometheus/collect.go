package clprom

import (
	"strconv"

	"github.com/commitlog-go/commitlog"
	"github.com/prometheus/client_golang/prometheus"
)

// descs holds the description of every metric the Exporter exports.
type descs struct {
	// From the hooks, per partition.
	batches, records, bytes, fsyncRounds, fsyncFailures, rolls *prometheus.Desc
	retentionSegs, retentionBytes                              *prometheus.Desc
	compactions, compactedBytes, compactedRecords              *prometheus.Desc
	recoveries, recoveryScanned, recoveryCut, recoveryRemoved  *prometheus.Desc
	recoveryRebuilt                                            *prometheus.Desc
	// From the hooks, per group.
	rebalances, commits, commitFailures *prometheus.Desc
	// From Log.Stats.
	startOffset, highWatermark, endOffset, durableOffset, sizeBytes, segments *prometheus.Desc
	groupLag, groupMembers, groupGeneration                                   *prometheus.Desc
	fsyncSeconds, openSeconds                                                 *prometheus.Desc
	// From Log.Stats and Log.ReplicaStatus, on a replicated Log.
	leader, leaderEpoch, isrSize, replicas, underReplicated, underMinISR, replicaLag *prometheus.Desc
}

func newDescs(ns string, constLabels prometheus.Labels) descs {
	tp := []string{"topic", "partition"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, constLabels)
	}
	return descs{
		batches:          d("appended_batches_total", "Batches appended to the partition, as leader or follower.", tp...),
		records:          d("appended_records_total", "Records appended to the partition.", tp...),
		bytes:            d("appended_bytes_total", "Bytes appended to the partition, in the log's batch format.", tp...),
		fsyncRounds:      d("fsync_rounds_total", "Fsync rounds the partition ran.", tp...),
		fsyncFailures:    d("fsync_failures_total", "Fsync rounds of the partition that failed (and failed the partition).", tp...),
		rolls:            d("segment_rolls_total", "Segments sealed and replaced by a new active segment, by reason.", "topic", "partition", "reason"),
		retentionSegs:    d("retention_deleted_segments_total", "Segments retention deleted.", tp...),
		retentionBytes:   d("retention_deleted_bytes_total", "Bytes of the segments retention deleted.", tp...),
		compactions:      d("compaction_passes_total", "Compaction passes over the partition that completed.", tp...),
		compactedBytes:   d("compaction_reclaimed_bytes_total", "Bytes compaction reclaimed.", tp...),
		compactedRecords: d("compaction_removed_records_total", "Records compaction removed.", tp...),
		recoveries:       d("recoveries_total", "Times Open recovered the partition.", tp...),
		recoveryScanned:  d("recovery_scanned_bytes_total", "Bytes recovery checked batch by batch.", tp...),
		recoveryCut:      d("recovery_cut_bytes_total", "Bytes recovery cut off segment ends (torn or unacknowledged writes).", tp...),
		recoveryRemoved:  d("recovery_removed_segments_total", "Segments recovery removed.", tp...),
		recoveryRebuilt:  d("recovery_rebuilt_indexes_total", "Segments whose indexes recovery rebuilt.", tp...),
		rebalances:       d("group_rebalances_total", "Consumer group rebalances, by reason.", "group", "reason"),
		commits:          d("group_commits_total", "Consumer group offset commits, failed ones included.", "group"),
		commitFailures:   d("group_commit_failures_total", "Consumer group offset commits that failed.", "group"),
		startOffset:      d("partition_start_offset", "The partition's log start offset.", tp...),
		highWatermark:    d("partition_high_watermark", "The partition's high watermark.", tp...),
		endOffset:        d("partition_end_offset", "The partition's log end offset.", tp...),
		durableOffset:    d("partition_durable_offset", "The partition's durable offset: every record below it is on disk.", tp...),
		sizeBytes:        d("partition_size_bytes", "Size of the partition's data files.", tp...),
		segments:         d("partition_segments", "Number of the partition's segments.", tp...),
		groupLag:         d("group_lag_records", "Records of the partition below its high watermark that the group has not committed past.", "group", "topic", "partition"),
		groupMembers:     d("group_members", "Members of the consumer group.", "group"),
		groupGeneration:  d("group_generation", "The consumer group's generation.", "group"),
		fsyncSeconds:     d("fsync_duration_seconds", "Durations of the Log's fsync rounds since Open."),
		openSeconds:      d("open_duration_seconds", "How long Open took, recovery included."),
		leader:           d("partition_leader", "The node leading the partition as this node last heard from the controller; -1 while offline.", tp...),
		leaderEpoch:      d("partition_leader_epoch", "The partition's leader epoch as this node last heard it.", tp...),
		isrSize:          d("partition_in_sync_replicas", "Size of the partition's in-sync replica set.", tp...),
		replicas:         d("partition_replicas", "Number of the partition's replicas.", tp...),
		underReplicated:  d("partition_under_replicated", "1 when the in-sync replica set is smaller than the replica set (Kafka's UnderReplicatedPartitions).", tp...),
		underMinISR:      d("partition_under_min_isr", "1 when the in-sync replica set is smaller than MinInSyncReplicas, so AckAll appends fail.", tp...),
		replicaLag:       d("replica_lag_records", "On the partition's leader: the records a replica's acknowledged end is behind the leader's end.", "topic", "partition", "replica"),
	}
}

func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.batches, d.records, d.bytes, d.fsyncRounds, d.fsyncFailures, d.rolls,
		d.retentionSegs, d.retentionBytes, d.compactions, d.compactedBytes, d.compactedRecords,
		d.recoveries, d.recoveryScanned, d.recoveryCut, d.recoveryRemoved, d.recoveryRebuilt,
		d.rebalances, d.commits, d.commitFailures,
		d.startOffset, d.highWatermark, d.endOffset, d.durableOffset, d.sizeBytes, d.segments,
		d.groupLag, d.groupMembers, d.groupGeneration, d.fsyncSeconds, d.openSeconds,
		d.leader, d.leaderEpoch, d.isrSize, d.replicas, d.underReplicated, d.underMinISR, d.replicaLag}
}

// Describe sends the descriptions of every metric the Exporter exports.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.d.all() {
		ch <- d
	}
}

// Collect sends the counters the hooks observed, and, with a Log
// attached, the gauges and fsync histogram of its Stats. It is called
// by the registry's Gather, concurrently with the hooks: each counter is
// read atomically.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	d := &e.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	for k, c := range e.parts.all() {
		t, p := k.topic, c.label
		counter(d.batches, c.batches.Load(), t, p)
		counter(d.records, c.records.Load(), t, p)
		counter(d.bytes, c.bytes.Load(), t, p)
		counter(d.fsyncRounds, c.fsyncRounds.Load(), t, p)
		counter(d.fsyncFailures, c.fsyncFailures.Load(), t, p)
		for i := range c.rolls {
			counter(d.rolls, c.rolls[i].Load(), t, p, string(rollReasons[i]))
		}
		counter(d.retentionSegs, c.retentionSegs.Load(), t, p)
		counter(d.retentionBytes, c.retentionBytes.Load(), t, p)
		counter(d.compactions, c.compactions.Load(), t, p)
		counter(d.compactedBytes, c.compactedBytes.Load(), t, p)
		counter(d.compactedRecords, c.compactedRecords.Load(), t, p)
		counter(d.recoveries, c.recoveries.Load(), t, p)
		counter(d.recoveryScanned, c.recoveryScanned.Load(), t, p)
		counter(d.recoveryCut, c.recoveryCut.Load(), t, p)
		counter(d.recoveryRemoved, c.recoveryRemoved.Load(), t, p)
		counter(d.recoveryRebuilt, c.recoveryRebuilt.Load(), t, p)
	}
	for g, c := range e.groups.all() {
		for i := range c.rebalances {
			counter(d.rebalances, c.rebalances[i].Load(), g, string(rebalanceReasons[i]))
		}
		counter(d.commits, c.commits.Load(), g)
		counter(d.commitFailures, c.commitFailures.Load(), g)
	}
	l := e.log.Load()
	if l == nil {
		return
	}
	st := l.Stats()
	for _, ps := range st.Partitions {
		t, p := ps.Topic, strconv.FormatInt(int64(ps.Partition), 10)
		gauge(d.startOffset, float64(ps.StartOffset), t, p)
		gauge(d.highWatermark, float64(ps.HighWatermark), t, p)
		gauge(d.endOffset, float64(ps.EndOffset), t, p)
		gauge(d.durableOffset, float64(ps.DurableOffset), t, p)
		gauge(d.sizeBytes, float64(ps.Bytes), t, p)
		gauge(d.segments, float64(ps.Segments), t, p)
		if r := ps.Replica; r != nil {
			gauge(d.leader, float64(r.Leader), t, p)
			gauge(d.leaderEpoch, float64(r.LeaderEpoch), t, p)
			gauge(d.isrSize, float64(len(r.ISR)), t, p)
			gauge(d.replicas, float64(len(r.Replicas)), t, p)
			gauge(d.underReplicated, bool01(r.UnderReplicated), t, p)
			gauge(d.underMinISR, bool01(r.UnderMinISR), t, p)
			if rs, err := l.ReplicaStatus(ps.Topic, ps.Partition); err == nil {
				for _, f := range rs.Followers {
					if f.EndOffset >= 0 { // -1: not heard from yet
						gauge(d.replicaLag, float64(f.Lag), t, p, strconv.FormatInt(int64(f.Node), 10))
					}
				}
			}
		}
	}
	for _, gs := range st.Groups {
		gauge(d.groupMembers, float64(gs.Members), gs.Group)
		gauge(d.groupGeneration, float64(gs.Generation), gs.Group)
		for _, pl := range gs.Partitions {
			if pl.Lag < 0 {
				continue // unknown: no commit, or the topic is gone
			}
			gauge(d.groupLag, float64(pl.Lag), gs.Group, pl.Topic, strconv.FormatInt(int64(pl.Partition), 10))
		}
	}
	ch <- fsyncHistogram(d.fsyncSeconds, st.Fsync)
	gauge(d.openSeconds, st.Recovery.Duration.Seconds())
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fsyncHistogram turns a LatencyHistogram's per-bucket counts into a
// Prometheus histogram's cumulative ones, the last bucket being +Inf.
func fsyncHistogram(desc *prometheus.Desc, h commitlog.LatencyHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(desc, h.Count, h.Sum.Seconds(), buckets)
}
