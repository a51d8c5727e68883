package commitlog

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// The String methods of the package's enums are generated. CleanupPolicy's
// strings (Kafka's cleanup.policy values, stored in topic files) come from
// its constants' line comments, GroupState's are its names without
// "Group"; the others print their constants' names.
//go:generate go run golang.org/x/tools/cmd/stringer@v0.53.0 -type=SyncPolicy,CleanupPolicy,Acks,OffsetReset,GroupState -linecomment -trimprefix=Group -output=enum_string.go

// SyncPolicy says when an append is acknowledged.
type SyncPolicy uint8

const (
	// SyncAlways acknowledges an append only after its bytes, and any file
	// or directory entry needed to find them, have been fsynced. Concurrent
	// appenders share one write and one fsync (group commit): batches of up
	// to 64 KiB wait in memory for the next fsync round, which writes them
	// together. The active segment's file is filled with zeros up to 1 MiB
	// ahead of its data (Kafka's log.preallocate), so that appends
	// overwrite blocks the file system has already allocated and each
	// fsync writes data but no metadata; this space is trimmed off when
	// the segment rolls or the Log closes, and cut by recovery after a
	// crash. It also keeps a full disk failing the append that meets it
	// with ErrDiskFull, never a batch already assigned offsets. Consumers
	// see a record only once it is durable. This is the default.
	SyncAlways SyncPolicy = iota
	// SyncInterval acknowledges an append once it is written to the
	// operating system, and fsyncs every Options.SyncInterval. A power
	// failure can lose up to that interval of acknowledged appends; a
	// process crash loses nothing. As under SyncNever, the active
	// segment reserves disk space ahead of its data.
	SyncInterval
	// SyncNever acknowledges an append once it is written to the operating
	// system and never makes an append wait for an fsync. The Log still
	// fsyncs in the background each time it records recovery checkpoints
	// (every Options.CheckpointInterval) and on Close, so a power failure
	// can lose what was written since the last of those; a process crash
	// loses nothing.
	//
	// Under SyncInterval and SyncNever, the active segment has the file
	// system reserve space ahead of its data (fallocate with
	// FALLOC_FL_KEEP_SIZE on Linux; nothing elsewhere): as much again as
	// the segment holds, from 64 KiB up to 16 MiB, never past
	// SegmentBytes. Writes into reserved space skip block allocation,
	// which made 1 MiB appends about 40% faster on ext4. The file's size
	// stays the end of its data; the space is given back when the segment
	// rolls or the Log closes, and by the next Close after a crash. While
	// the disk is full, appends that fit in reserved space still succeed.
	SyncNever
)

// Codec is a compression codec, with Kafka's codec numbering.
type Codec uint8

const (
	CodecNone   Codec = Codec(compress.None)
	CodecGzip   Codec = Codec(compress.Gzip)
	CodecSnappy Codec = Codec(compress.Snappy)
	CodecLZ4    Codec = Codec(compress.LZ4)
	CodecZstd   Codec = Codec(compress.Zstd)
)

func (c Codec) String() string { return compress.Codec(c).String() }

// Options configures a Log. The zero value (and a nil *Options) is a good
// default: SyncAlways, recovery checkpoints every second.
type Options struct {
	// Sync says when appends are acknowledged. Default SyncAlways.
	Sync SyncPolicy

	// SyncInterval is the fsync period under SyncInterval. Default 100ms.
	SyncInterval time.Duration

	// CheckpointInterval is how often each partition with new durable data
	// records its recovery point, the offset below which data is known to be
	// on disk. After an unclean stop, Open scans only the data written since
	// the last checkpoint, so this bounds restart time. Each checkpoint costs
	// two fsyncs per changed partition. Default 1s.
	CheckpointInterval time.Duration

	// ProducerIDExpiration is how long a partition remembers an idempotent
	// producer that has not appended (Kafka's producer.id.expiration.ms):
	// after it, a retried batch of that producer is no longer recognised
	// as a duplicate. Idleness is measured from the producer's last append,
	// or after a restart from its last batch's timestamp. Default 24h.
	ProducerIDExpiration time.Duration

	// OffsetsTopicPartitions is the number of partitions of the internal
	// topic __consumer_offsets, which holds consumer groups' committed
	// offsets. A group's offsets live in partition abs(h) % n, h being
	// Java's String.hashCode of the group name, as in Kafka. It takes
	// effect when the topic is created, on the first commit; an existing
	// topic keeps its count. Default 4.
	OffsetsTopicPartitions int32

	// OffsetsTopicReplicationFactor is the replication factor of
	// __consumer_offsets on a replicated Log (Kafka's
	// offsets.topic.replication.factor); a single-node Log ignores it.
	// Commits wait for every in-sync replica (AckAll), so an acknowledged
	// commit survives the loss of its coordinator. Like OffsetsTopicPartitions
	// it takes effect when the topic is created, on the first group call
	// of any node. Default 3, as in Kafka: a cluster of fewer nodes must
	// set it (creating the topic fails with an error saying so).
	OffsetsTopicReplicationFactor int16

	// CompactionMapBytes bounds the memory of one compaction's key map,
	// the offset of the latest record of each key, at 24 bytes per key
	// (Kafka's log.cleaner.dedupe.buffer.size). A partition with more
	// distinct keys in its uncompacted part than fit is compacted in
	// several passes. Default 32 MiB (1.39 million keys per pass);
	// minimum 1 MiB.
	CompactionMapBytes int64

	// CompactionDutyCycle is the share of the time a compaction pass
	// works while appends are running: after each slice of work it rests
	// long enough to keep to this share, leaving the CPU to appends. A
	// pass with nothing appended meanwhile runs flat out. On a 2-CPU
	// machine a pass running flat out costs concurrent appends a third of
	// their throughput; at the default 0.15, less than a tenth. Default
	// 0.15; 1 never rests.
	CompactionDutyCycle float64

	// TopicDefaults supplies the value of every TopicConfig field that
	// CreateTopic is given as zero.
	TopicDefaults TopicConfig

	// Logger receives the Log's notable events as structured records:
	// recovery (torn tails cut, indexes rebuilt, interrupted work
	// completed), rolls, retention deletions, compaction passes,
	// truncations, consumer group rebalances, and failures (a partition
	// failing, a background task erring). Attributes use the same keys
	// everywhere: "topic", "partition", "offset", "segment" (a segment's
	// base offset) and "group", where they apply; "err" for an error.
	// Nothing is logged per record or per append above Debug. Messages
	// carry no "commitlog:" prefix: to mark them, pass a logger made with
	// Logger.With. Nil discards them.
	Logger *slog.Logger

	// ReadOnly opens the Log without writing anything to its directory,
	// for tools and for reading a copy. Open takes the directory's lock as
	// a read-write Open does (so it fails with ErrLocked while another Log
	// has the directory open, and keeps writers out while it is open), but
	// never creates the lock file nor the directory: both must exist. It
	// recovers as usual, keeping in memory what recovery would write: a
	// torn tail is cut in memory, indexes are rebuilt in memory, leftovers
	// of interrupted work are ignored, and no checkpoint is written. A
	// directory in a state that only a writing recovery completes (an
	// interrupted compaction swap past its commit point, truncation or
	// reset, or a partition without segment files) is refused with a
	// *ReadOnlyError naming the file. Every call that would write
	// (CreateTopic, DeleteTopic, appends, NewProducer, commits, offset
	// resets, DeleteRecords, retention, compaction) fails with a
	// *ReadOnlyError, and so does NewConsumer for a consumer that would
	// auto-commit; reads, Check (whose index rebuilds stay in memory),
	// Stats and group descriptions work. Not with Controller. Default
	// false.
	ReadOnly bool

	// Hooks observe the Log's events — appends, fsync rounds, rolls,
	// retention, compaction, rebalances, commits, recovery — for metrics
	// and tracing: each is a value implementing one or more of the hook
	// interfaces (see Hook, which says where and how they are called).
	// Open checks that each implements at least one. Default none.
	Hooks []Hook

	// Repair lets Open repair kinds of damage that it otherwise refuses
	// with a *CorruptionError, knowing that the repair cannot bring back
	// what the damage lost; see RepairOptions. Default: no repairs.
	Repair RepairOptions

	// NodeID names this Log in a replicated cluster: unique among its
	// nodes, kept across restarts, from 0 to 8388607 (each node hands
	// out idempotent producers' ids from a range of its own, NodeID<<40
	// and up). Used only with Controller set.
	NodeID NodeID

	// Controller, when set, makes the Log a node of a replicated cluster
	// (see the package documentation on replication): it joins the
	// controller at Open, creates and deletes topics through it, and
	// keeps the replicas the controller assigns it. Transport must be set
	// too. Nil: a single-node Log, with no replication.
	Controller Controller

	// Transport carries replication messages between the cluster's
	// nodes. Required with Controller.
	Transport Transport

	// ReplicaLagTime is how long a follower may go without catching up
	// with its leader's end before the leader takes it out of the in-sync
	// replica set (Kafka's replica.lag.time.max.ms), measured on the Log's
	// clock. Default 30s.
	ReplicaLagTime time.Duration

	// ReplicaFetchMaxWait is how long a leader holds a follower's fetch
	// that finds nothing new, waiting for data (Kafka's
	// replica.fetch.wait.max.ms). Default 500ms.
	ReplicaFetchMaxWait time.Duration

	// ReplicaFetchMaxBytes bounds the batches one fetch response carries
	// (Kafka's replica.fetch.max.bytes); a first batch larger than it is
	// carried all the same. Default 1 MiB.
	ReplicaFetchMaxBytes int32

	// fs replaces the operating system's file system (tests).
	fs vfs.FS
	// now replaces time.Now (tests).
	now func() time.Time
}

const (
	defaultSyncInterval           = 100 * time.Millisecond
	defaultCheckpointInterval     = time.Second
	defaultProducerIDExpiration   = 24 * time.Hour
	defaultOffsetsTopicPartitions = 4
	defaultOffsetsTopicRF         = 3
	defaultCompactionMapBytes     = 32 << 20
	defaultCompactionDutyCycle    = 0.15
	minCompactionMapBytes         = 1 << 20
)

// Validate reports every problem with o in one *ConfigError.
func (o *Options) Validate() error {
	var problems []string
	if o.Sync > SyncNever {
		problems = append(problems, fmt.Sprintf("Sync: unknown policy %d (use SyncAlways, SyncInterval or SyncNever)", o.Sync))
	}
	if o.SyncInterval < 0 {
		problems = append(problems, fmt.Sprintf("SyncInterval: %v is negative", o.SyncInterval))
	}
	if o.ProducerIDExpiration < 0 {
		problems = append(problems, fmt.Sprintf("ProducerIDExpiration: %v is negative", o.ProducerIDExpiration))
	}
	if o.OffsetsTopicPartitions < 0 || o.OffsetsTopicPartitions > maxPartitions {
		problems = append(problems, fmt.Sprintf("OffsetsTopicPartitions: %d is outside [1, %d] (0: the default)", o.OffsetsTopicPartitions, maxPartitions))
	}
	if o.OffsetsTopicReplicationFactor < 0 {
		problems = append(problems, fmt.Sprintf("OffsetsTopicReplicationFactor: %d is negative (0: the default)", o.OffsetsTopicReplicationFactor))
	}
	if o.CompactionMapBytes != 0 && o.CompactionMapBytes < minCompactionMapBytes {
		problems = append(problems, fmt.Sprintf("CompactionMapBytes: %d is below the minimum %d", o.CompactionMapBytes, minCompactionMapBytes))
	}
	if o.CompactionDutyCycle < 0 || o.CompactionDutyCycle > 1 || math.IsNaN(o.CompactionDutyCycle) {
		problems = append(problems, fmt.Sprintf("CompactionDutyCycle: %v is outside (0, 1] (0: the default)", o.CompactionDutyCycle))
	}
	if o.CheckpointInterval < 0 {
		problems = append(problems, fmt.Sprintf("CheckpointInterval: %v is negative", o.CheckpointInterval))
	}
	if o.Controller != nil && o.Transport == nil {
		problems = append(problems, "Transport: a replicated Log (Controller set) needs a Transport to reach the other nodes")
	}
	if o.ReadOnly && o.Controller != nil {
		problems = append(problems, "ReadOnly: a replicated Log (Controller set) writes what its leaders send; open a node's directory read-only without Controller and Transport")
	}
	if o.Controller == nil && o.Transport != nil {
		problems = append(problems, "Controller: a Transport without a Controller does nothing: set both for a replicated Log, or neither")
	}
	if o.Controller != nil && o.NodeID < 0 {
		problems = append(problems, fmt.Sprintf("NodeID: %d is negative", o.NodeID))
	}
	if o.Controller != nil && o.NodeID > maxReplicatedNodeID {
		problems = append(problems, fmt.Sprintf("NodeID: %d is above %d: each node hands out producer ids from a range of its own, and larger ids have none", o.NodeID, maxReplicatedNodeID))
	}
	if o.ReplicaLagTime < 0 {
		problems = append(problems, fmt.Sprintf("ReplicaLagTime: %v is negative", o.ReplicaLagTime))
	}
	if o.ReplicaFetchMaxWait < 0 {
		problems = append(problems, fmt.Sprintf("ReplicaFetchMaxWait: %v is negative", o.ReplicaFetchMaxWait))
	}
	if o.ReplicaFetchMaxBytes < 0 {
		problems = append(problems, fmt.Sprintf("ReplicaFetchMaxBytes: %d is negative", o.ReplicaFetchMaxBytes))
	}
	problems = append(problems, hookProblems(o.Hooks)...)
	problems = append(problems, o.TopicDefaults.problems("TopicDefaults.")...)
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}

// withDefaults returns a copy of o (nil allowed) with every zero field set.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	c.SyncInterval = cmp.Or(c.SyncInterval, defaultSyncInterval)
	c.CheckpointInterval = cmp.Or(c.CheckpointInterval, defaultCheckpointInterval)
	c.ProducerIDExpiration = cmp.Or(c.ProducerIDExpiration, defaultProducerIDExpiration)
	c.CompactionDutyCycle = cmp.Or(c.CompactionDutyCycle, defaultCompactionDutyCycle)
	c.CompactionMapBytes = cmp.Or(c.CompactionMapBytes, defaultCompactionMapBytes)
	c.OffsetsTopicPartitions = cmp.Or(c.OffsetsTopicPartitions, defaultOffsetsTopicPartitions)
	c.OffsetsTopicReplicationFactor = cmp.Or(c.OffsetsTopicReplicationFactor, defaultOffsetsTopicRF)
	c.ReplicaLagTime = cmp.Or(c.ReplicaLagTime, defaultReplicaLagTime)
	c.ReplicaFetchMaxWait = cmp.Or(c.ReplicaFetchMaxWait, defaultReplicaFetchMaxWait)
	c.ReplicaFetchMaxBytes = cmp.Or(c.ReplicaFetchMaxBytes, defaultReplicaFetchBytes)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.fs == nil {
		c.fs = vfs.Default
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}
