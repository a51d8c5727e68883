// Package clprom exports a commitlog.Log's metrics to Prometheus.
//
// An Exporter is both a commitlog hook and a prometheus.Collector. Give
// it to commitlog.Open in Options.Hooks (so it sees recovery, which
// happens inside Open), register it, and Attach the Log:
//
//	exp := clprom.New(clprom.Options{})
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(exp)
//	l, err := commitlog.Open(dir, &commitlog.Options{Hooks: []commitlog.Hook{exp}})
//	if err != nil { ... }
//	exp.Attach(l)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Where each metric comes from
//
// Counters (_total) are counted by the hooks as the events happen: each
// hook call adds to atomics kept per partition or per group, created the
// first time one is seen, and allocates nothing after that. They count
// every Log the Exporter was a hook of, so they survive a reopen. Gauges
// and the fsync histogram are read from the attached Log's Log.Stats at
// each scrape: they describe that Log now (or since its Open). The fsync
// durations are taken from LogStats.Fsync only, not observed by OnSync,
// so no round is counted twice; its bucket bounds are the
// LatencyHistogram's fixed doubling ones, 8µs to 8.39s.
//
// # Metrics
//
// Every name starts with Options.Namespace ("commitlog" by default). The
// only labels are topic, partition, replica, group and reason, so the number of
// series is bounded by the partitions and groups of the Log: internal
// topics (__consumer_offsets) are included, records and keys never are.
//
//	name                                 type       labels                   source
//	appended_batches_total               counter    topic, partition         AppendHook (Batches)
//	appended_records_total               counter    topic, partition         AppendHook (Records)
//	appended_bytes_total                 counter    topic, partition         AppendHook (Bytes, batch format)
//	fsync_rounds_total                   counter    topic, partition         SyncHook
//	fsync_failures_total                 counter    topic, partition         SyncHook (Err != nil)
//	segment_rolls_total                  counter    topic, partition, reason RollHook (size, index, age, retention, other)
//	retention_deleted_segments_total     counter    topic, partition         RetentionHook (Segments)
//	retention_deleted_bytes_total        counter    topic, partition         RetentionHook (Bytes)
//	compaction_passes_total              counter    topic, partition         CompactionHook
//	compaction_reclaimed_bytes_total     counter    topic, partition         CompactionHook (BytesBefore-BytesAfter)
//	compaction_removed_records_total     counter    topic, partition         CompactionHook (RecordsRemoved)
//	recoveries_total                     counter    topic, partition         RecoveryHook
//	recovery_scanned_bytes_total         counter    topic, partition         RecoveryHook (BytesScanned)
//	recovery_cut_bytes_total             counter    topic, partition         RecoveryHook (BytesCut)
//	recovery_removed_segments_total      counter    topic, partition         RecoveryHook (SegmentsRemoved)
//	recovery_rebuilt_indexes_total       counter    topic, partition         RecoveryHook (IndexesRebuilt)
//	group_rebalances_total               counter    group, reason            RebalanceHook (join, leave, evicted, topic-created, topic-deleted, other)
//	group_commits_total                  counter    group                    CommitHook (failed ones included)
//	group_commit_failures_total          counter    group                    CommitHook (Err != nil)
//	partition_start_offset               gauge      topic, partition         Stats (StartOffset)
//	partition_high_watermark             gauge      topic, partition         Stats (HighWatermark)
//	partition_end_offset                 gauge      topic, partition         Stats (EndOffset)
//	partition_durable_offset             gauge      topic, partition         Stats (DurableOffset)
//	partition_size_bytes                 gauge      topic, partition         Stats (Bytes)
//	partition_segments                   gauge      topic, partition         Stats (Segments)
//	group_lag_records                    gauge      group, topic, partition  Stats (GroupStats, known lags only)
//	group_members                        gauge      group                    Stats (GroupStats.Members)
//	group_generation                     gauge      group                    Stats (GroupStats.Generation)
//	fsync_duration_seconds               histogram  (none)                   Stats (LogStats.Fsync)
//	open_duration_seconds                gauge      (none)                   Stats (RecoveryStats.Duration)
//	partition_leader                     gauge      topic, partition         Stats (ReplicaState.Leader; -1 offline)
//	partition_leader_epoch               gauge      topic, partition         Stats (ReplicaState.LeaderEpoch)
//	partition_in_sync_replicas           gauge      topic, partition         Stats (len(ReplicaState.ISR))
//	partition_replicas                   gauge      topic, partition         Stats (len(ReplicaState.Replicas))
//	partition_under_replicated           gauge      topic, partition         Stats (ReplicaState.UnderReplicated, 0/1)
//	partition_under_min_isr              gauge      topic, partition         Stats (ReplicaState.UnderMinISR, 0/1)
//	replica_lag_records                  gauge      topic, partition, replica  ReplicaStatus on the leader (ReplicaProgress.Lag)
//
// The partition_leader to replica_lag_records series exist only on a
// replicated Log, for partitions whose state the node has heard;
// replica_lag_records only on the partition's leader, for replicas that
// have fetched since it took over.
//
// The reason "other" counts a roll or rebalance reason this package does
// not know yet (one added to commitlog later); it stays 0 otherwise.
// Per-partition counters appear once the partition's first event is
// seen; reason series appear, at 0, with their partition or group.
//
// # Cost
//
// On the append path (OnAppend, and OnSync under SyncAlways) a known
// partition costs a lock-free map lookup and a few atomic adds, no
// allocation. A scrape calls Log.Stats, which takes no lock appends wait
// for, and builds one constant metric per series.
package clprom
