// Package storage is the storage engine of a commitlog partition: Kafka's
// partition log on local disk, as one type, PartitionLog, doing I/O only
// through internal/vfs and knowing nothing of the public API above it.
//
// A PartitionLog owns one partition directory:
//
//	<base>.log               segment data: RecordBatch v2 batches, back to back
//	<base>.index             sparse offset index (kafka.log.OffsetIndex's format)
//	<base>.timeindex         sparse time index (kafka.log.TimeIndex's format)
//	checkpoint               recovery point, log start offset, cleaner point
//	<offset>.snapshot        idempotent producers' state through offset
//	leader-epoch-checkpoint  leader epochs: where each one's batches start
//
// and in memory the segment list, the offsets (log start, high watermark,
// durable end, written end), the producers' state and the leader epochs.
// Its interface is small: Open recovers the directory; AppendBatch
// appends a batch the caller built and SyncTo, Flush and Checkpoint make
// it durable (group commit: one fsync round covers every appender
// waiting); NewReader reads checked batches below a high watermark,
// OffsetForTimestamp looks up by time; RollIfAged, EnforceRetention,
// DeleteRecords and Compact do the background work the owner schedules;
// Check verifies everything; Close and Shut release the files.
// inspect.go holds read-only views for tests and tools.
//
// For replication (Kafka's leader and follower paths): appends stamp a
// leader epoch (AppendOptions.LeaderEpoch) and AssignLeaderEpoch records
// a new leader's, with LatestEpoch, EpochStartOffset and
// EndOffsetForEpoch answering about them (partition_epochs.go);
// AppendAsFollower appends a leader's batches verbatim
// (follower_append.go); on a Replicated log SetHighWatermark sets the
// high watermark, and WrittenPosition bounds a reader serving followers
// (replicated_hw.go); TruncateTo cuts a diverged tail (truncate.go), and
// ResetTo restarts the log empty at an offset, for a follower whose
// leader's log starts past its end (reset.go).
//
// Concurrency: every method is safe for concurrent use. Appends, rolls
// and failure are serialized by the append lock; an fsync round,
// checkpoint and close by a one-slot semaphore taken before it. Readers
// take no lock: they load the immutable segment list and high watermark
// and hold a reference on the segment they are in, so its files stay
// open and mapped until the last reader lets go, across retention,
// compaction and close. The owner hears of every move of the high
// watermark through Config.OnHighWatermark, called under the append lock.
//
// Errors are this package's sentinels and typed errors (errors.go), which
// the root package re-exports under the same names: a caller sees one
// set, matched with errors.Is and errors.As. A failed write or fsync puts
// the partition into a failed state (*DurabilityError) in which it refuses
// appends until reopened; a write refused for lack of space (ErrDiskFull)
// removes what it wrote and leaves the partition usable.
package storage
