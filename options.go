package commitlog

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

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

func (s SyncPolicy) String() string {
	switch s {
	case SyncAlways:
		return "SyncAlways"
	case SyncInterval:
		return "SyncInterval"
	case SyncNever:
		return "SyncNever"
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(s))
}

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
	// offsets. A group's offsets live in partition
	// abs(javaHashCode(group)) % n, as in Kafka. It takes effect when the
	// topic is created, on the first commit; an existing topic keeps its
	// count. Default 4.
	OffsetsTopicPartitions int32

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

	// Logger receives notices about recovery (torn tails cut, indexes
	// rebuilt) and failures, as structured records whose attributes name
	// the topic, partition or file. Messages carry no "commitlog:"
	// prefix: to mark them, pass a logger made with Logger.With. Nil
	// discards them.
	Logger *slog.Logger

	// Repair lets Open repair kinds of damage that it otherwise refuses
	// with a *CorruptionError, knowing that the repair cannot bring back
	// what the damage lost; see RepairOptions. Default: no repairs.
	Repair RepairOptions

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
		problems = append(problems, fmt.Sprintf("OffsetsTopicPartitions: %d is outside [1, %d]", o.OffsetsTopicPartitions, maxPartitions))
	}
	if o.CompactionMapBytes != 0 && o.CompactionMapBytes < minCompactionMapBytes {
		problems = append(problems, fmt.Sprintf("CompactionMapBytes: %d is below the minimum %d", o.CompactionMapBytes, minCompactionMapBytes))
	}
	if o.CompactionDutyCycle < 0 || o.CompactionDutyCycle > 1 || math.IsNaN(o.CompactionDutyCycle) {
		problems = append(problems, fmt.Sprintf("CompactionDutyCycle: %v is outside (0, 1]", o.CompactionDutyCycle))
	}
	if o.CheckpointInterval < 0 {
		problems = append(problems, fmt.Sprintf("CheckpointInterval: %v is negative", o.CheckpointInterval))
	}
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
	if c.SyncInterval == 0 {
		c.SyncInterval = defaultSyncInterval
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = defaultCheckpointInterval
	}
	if c.ProducerIDExpiration == 0 {
		c.ProducerIDExpiration = defaultProducerIDExpiration
	}
	if c.CompactionDutyCycle == 0 {
		c.CompactionDutyCycle = defaultCompactionDutyCycle
	}
	if c.CompactionMapBytes == 0 {
		c.CompactionMapBytes = defaultCompactionMapBytes
	}
	if c.OffsetsTopicPartitions == 0 {
		c.OffsetsTopicPartitions = defaultOffsetsTopicPartitions
	}
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

// TopicConfig configures a topic. Every zero field takes its value from
// Options.TopicDefaults, and failing that from the default documented on the
// field. The resolved configuration is stored with the topic when it is
// created, so later changes to the defaults do not alter existing topics.
type TopicConfig struct {
	// Partitions is the number of partitions, fixed at creation. Default 1.
	Partitions int32

	// SegmentBytes is the size at which the active segment is rolled
	// (Kafka's segment.bytes). A single batch larger than this is refused.
	// Default 1 GiB; minimum 4 KiB; maximum 2 GiB - 1.
	SegmentBytes int64

	// SegmentAge rolls the active segment once it is this old, measured on
	// the Log's clock from the segment's first append, even if no further
	// append arrives (Kafka's segment.ms, plus an idle timer). Default 7
	// days; Forever disables age-based rolling.
	SegmentAge time.Duration

	// IndexIntervalBytes is the number of bytes appended between two entries
	// of the sparse offset and time indexes (Kafka's index.interval.bytes).
	// Default 4096.
	IndexIntervalBytes int32

	// SegmentIndexBytes is the largest size of each index file; a segment
	// rolls when an index fills (Kafka's segment.index.bytes). Disk space
	// is reserved as entries need it, 4 KiB to 1 MiB ahead of them, not
	// up front. Default 10 MiB; minimum 1 KiB.
	SegmentIndexBytes int32

	// MaxBatchBytes is the largest batch, after compression, that an append
	// may add (Kafka's max.message.bytes). Default 1 MiB + 12 bytes.
	MaxBatchBytes int32

	// Compression is the codec Partition.Append uses to compress batches.
	// Any codec other than CodecNone is also pinned for Producers: they
	// compress this topic's batches with it (and CompressionLevel) whatever
	// their own ProducerConfig.Compression says. Default CodecNone, which
	// leaves the choice to each Producer.
	Compression Codec

	// CompressionLevel is the codec's level; 0 is the codec's default.
	CompressionLevel int

	// LogAppendTime makes the log stamp every batch with the time it is
	// appended, on the Log's clock, as its timestamp (Kafka's
	// message.timestamp.type=LogAppendTime); records then read back with
	// that time. Default false: records keep the time they were created
	// with (CreateTime).
	LogAppendTime bool

	// CleanupPolicy declares what may happen to old records (Kafka's
	// cleanup.policy); it is stored with the topic. Default CleanupDelete.
	// A topic with CleanupCompact or CleanupCompactDelete refuses records
	// without a key, since compaction keeps the latest record per key and
	// a keyless record could never be superseded. Retention (Retention,
	// RetentionBytes) applies under CleanupDelete and
	// CleanupCompactDelete; compaction (see Log.Compact) under
	// CleanupCompact and CleanupCompactDelete.
	CleanupPolicy CleanupPolicy

	// DeleteRetention is how long compaction keeps a tombstone (a record
	// with a key and a nil Value) after the first cleaning that kept it
	// (Kafka's delete.retention.ms), so that consumers reading behind get
	// to see the delete. Default 24 hours; Forever keeps tombstones.
	DeleteRetention time.Duration

	// MinCompactionLag is how long a record stays uncompacted after its
	// timestamp (Kafka's min.compaction.lag.ms): a consumer that keeps up
	// within this lag sees every record. Default 0.
	MinCompactionLag time.Duration

	// MaxCompactionLag bounds how long a record can stay uncompacted
	// (Kafka's max.compaction.lag.ms): past it, the Log's cleaner compacts
	// the partition whatever its dirty ratio, and rolls an active segment
	// this old so that its records become cleanable. Default 0: no bound.
	MaxCompactionLag time.Duration

	// MinCleanableDirtyRatio is the share of a partition's bytes that must
	// be uncompacted (dirty) before the Log's cleaner compacts it (Kafka's
	// min.cleanable.dirty.ratio). Default 0.5; at most 1.
	MinCleanableDirtyRatio float64

	// Retention is how long records are kept (Kafka's retention.ms): a
	// whole segment is deleted once the newest timestamp in it is older
	// than this, on the Log's clock. Default 7 days; Forever keeps
	// everything.
	Retention time.Duration

	// RetentionBytes bounds each partition's size (Kafka's
	// retention.bytes): whole segments are deleted, oldest first, while
	// the partition without them would still hold at least this many
	// bytes. Default 0: no bound.
	RetentionBytes int64
}

// CleanupPolicy is a topic's cleanup.policy.
type CleanupPolicy uint8

const (
	// CleanupDelete: old segments may be removed whole, by age or size.
	CleanupDelete CleanupPolicy = iota
	// CleanupCompact: only the latest record of each key need be kept.
	CleanupCompact
	// CleanupCompactDelete: both.
	CleanupCompactDelete
)

func (c CleanupPolicy) String() string {
	switch c {
	case CleanupDelete:
		return "delete"
	case CleanupCompact:
		return "compact"
	case CleanupCompactDelete:
		return "compact,delete"
	}
	return fmt.Sprintf("CleanupPolicy(%d)", uint8(c))
}

// compacted reports whether records are compacted by key.
func (c CleanupPolicy) compacted() bool { return c == CleanupCompact || c == CleanupCompactDelete }

// parseCleanupPolicy is the inverse of CleanupPolicy.String.
func parseCleanupPolicy(s string) (CleanupPolicy, error) {
	for c := CleanupDelete; c <= CleanupCompactDelete; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown cleanup policy %q", s)
}

// Forever disables an age limit such as TopicConfig.SegmentAge or
// Retention.
const Forever time.Duration = -1

const (
	defaultPartitions             = 1
	defaultSegmentBytes           = 1 << 30
	defaultSegmentAge             = 7 * 24 * time.Hour
	defaultRetention              = 7 * 24 * time.Hour
	defaultDeleteRetention        = 24 * time.Hour
	defaultMinCleanableDirtyRatio = 0.5
	defaultIndexIntervalBytes     = 4096
	defaultSegmentIndexBytes      = 10 << 20
	defaultMaxBatchBytes          = 1<<20 + 12
	minSegmentBytes               = 4096
	minSegmentIndexBytes          = 1024
	maxPartitions                 = 100_000
)

// Validate reports every problem with c in one *ConfigError. Zero fields
// are valid: they mean "use the default".
func (c *TopicConfig) Validate() error {
	if p := c.problems(""); len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func (c *TopicConfig) problems(prefix string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, prefix+fmt.Sprintf(format, args...)) }
	if c.Partitions < 0 || c.Partitions > maxPartitions {
		add("Partitions: %d is outside [1, %d]", c.Partitions, maxPartitions)
	}
	if c.SegmentBytes != 0 && (c.SegmentBytes < minSegmentBytes || c.SegmentBytes > math.MaxInt32) {
		add("SegmentBytes: %d is outside [%d, %d] (index positions are 32-bit, as in Kafka)", c.SegmentBytes, minSegmentBytes, math.MaxInt32)
	}
	if c.Retention < 0 && c.Retention != Forever {
		add("Retention: %v is negative (use Forever to keep everything)", c.Retention)
	}
	if c.RetentionBytes < 0 {
		add("RetentionBytes: %d is negative (0 means no bound)", c.RetentionBytes)
	}
	if c.SegmentAge < 0 && c.SegmentAge != Forever {
		add("SegmentAge: %v is negative (use Forever to disable)", c.SegmentAge)
	}
	if c.IndexIntervalBytes < 0 {
		add("IndexIntervalBytes: %d is negative", c.IndexIntervalBytes)
	}
	if c.SegmentIndexBytes != 0 && c.SegmentIndexBytes < minSegmentIndexBytes {
		add("SegmentIndexBytes: %d is below the minimum %d", c.SegmentIndexBytes, minSegmentIndexBytes)
	}
	if c.MaxBatchBytes < 0 {
		add("MaxBatchBytes: %d is negative", c.MaxBatchBytes)
	}
	if c.MaxBatchBytes > 0 && c.SegmentBytes > 0 && int64(c.MaxBatchBytes) > c.SegmentBytes {
		add("MaxBatchBytes: %d is larger than SegmentBytes %d", c.MaxBatchBytes, c.SegmentBytes)
	}
	if c.DeleteRetention < 0 && c.DeleteRetention != Forever {
		add("DeleteRetention: %v is negative (use Forever to keep tombstones)", c.DeleteRetention)
	}
	if c.MinCompactionLag < 0 {
		add("MinCompactionLag: %v is negative", c.MinCompactionLag)
	}
	if c.MaxCompactionLag < 0 {
		add("MaxCompactionLag: %v is negative (0 means no bound)", c.MaxCompactionLag)
	}
	if c.MaxCompactionLag > 0 && c.MaxCompactionLag < c.MinCompactionLag {
		add("MaxCompactionLag: %v is below MinCompactionLag %v", c.MaxCompactionLag, c.MinCompactionLag)
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 || math.IsNaN(c.MinCleanableDirtyRatio) {
		add("MinCleanableDirtyRatio: %v is outside (0, 1]", c.MinCleanableDirtyRatio)
	}
	if c.CleanupPolicy > CleanupCompactDelete {
		add("CleanupPolicy: unknown policy %d (use CleanupDelete, CleanupCompact or CleanupCompactDelete)", c.CleanupPolicy)
	}
	if !compress.Codec(c.Compression).Valid() {
		add("Compression: unknown codec %d", c.Compression)
	} else if !compress.ValidLevel(compress.Codec(c.Compression), c.CompressionLevel) {
		add("CompressionLevel: %d is not valid for %v", c.CompressionLevel, c.Compression)
	}
	return p
}

// resolve fills every zero field of c from defaults, then from the
// built-in defaults.
func (c TopicConfig) resolve(defaults TopicConfig) TopicConfig {
	pick := func(v, d, builtin int64) int64 {
		if v != 0 {
			return v
		}
		if d != 0 {
			return d
		}
		return builtin
	}
	c.Partitions = int32(pick(int64(c.Partitions), int64(defaults.Partitions), defaultPartitions))
	c.SegmentBytes = pick(c.SegmentBytes, defaults.SegmentBytes, defaultSegmentBytes)
	c.SegmentAge = time.Duration(pick(int64(c.SegmentAge), int64(defaults.SegmentAge), int64(defaultSegmentAge)))
	c.Retention = time.Duration(pick(int64(c.Retention), int64(defaults.Retention), int64(defaultRetention)))
	c.RetentionBytes = pick(c.RetentionBytes, defaults.RetentionBytes, 0)
	c.DeleteRetention = time.Duration(pick(int64(c.DeleteRetention), int64(defaults.DeleteRetention), int64(defaultDeleteRetention)))
	c.MinCompactionLag = time.Duration(pick(int64(c.MinCompactionLag), int64(defaults.MinCompactionLag), 0))
	c.MaxCompactionLag = time.Duration(pick(int64(c.MaxCompactionLag), int64(defaults.MaxCompactionLag), 0))
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = defaults.MinCleanableDirtyRatio
	}
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = defaultMinCleanableDirtyRatio
	}
	c.IndexIntervalBytes = int32(pick(int64(c.IndexIntervalBytes), int64(defaults.IndexIntervalBytes), defaultIndexIntervalBytes))
	c.SegmentIndexBytes = int32(pick(int64(c.SegmentIndexBytes), int64(defaults.SegmentIndexBytes), defaultSegmentIndexBytes))
	c.MaxBatchBytes = int32(pick(int64(c.MaxBatchBytes), int64(defaults.MaxBatchBytes), defaultMaxBatchBytes))
	if int64(c.MaxBatchBytes) > c.SegmentBytes {
		c.MaxBatchBytes = int32(min(c.SegmentBytes, int64(^uint32(0)>>1)))
	}
	if c.Compression == CodecNone && c.CompressionLevel == 0 {
		c.Compression = defaults.Compression
		c.CompressionLevel = defaults.CompressionLevel
	}
	c.LogAppendTime = c.LogAppendTime || defaults.LogAppendTime
	if c.CleanupPolicy == CleanupDelete {
		c.CleanupPolicy = defaults.CleanupPolicy
	}
	return c
}

// Acks says when a Producer reports a record as sent.
type Acks uint8

const (
	// AckAll reports a record once it is acknowledged under the Log's
	// durability contract: under SyncAlways, once it is fsynced; with
	// replicas, once every in-sync replica has it. This is the default.
	AckAll Acks = iota
	// AckLeader reports a record once the partition's leader has it under
	// its durability contract. On a single Log it is the same as AckAll;
	// the two differ once partitions have replicas.
	AckLeader
	// AckNone reports a record as soon as its batch is written to the
	// partition, before the fsync SyncAlways would wait for. Offsets are
	// filled in, but a power failure can lose records reported as sent.
	AckNone
)

func (a Acks) String() string {
	switch a {
	case AckAll:
		return "AckAll"
	case AckLeader:
		return "AckLeader"
	case AckNone:
		return "AckNone"
	}
	return fmt.Sprintf("Acks(%d)", uint8(a))
}

// ProducerConfig configures a Producer. The zero value is a good default:
// idempotent, AckAll, key-hash partitioning, no linger, 1 MiB batches.
type ProducerConfig struct {
	// Partitioner chooses each record's partition. Default
	// KeyHashPartitioner(): keyed records by the xxhash64 of their key,
	// keyless ones sticky.
	Partitioner Partitioner

	// BatchBytes is the size, before compression, at which a partition's
	// batch is closed and a new one started (Kafka's batch.size). A record
	// larger than this gets a batch of its own. It is capped by each
	// topic's MaxBatchBytes. Default 1 MiB.
	BatchBytes int32

	// Linger is how long a batch may wait for more records before it is
	// sent (Kafka's linger.ms). Default 0: a batch is sent as soon as the
	// previous batch of its partition is done, so batches grow by
	// themselves while the log is busy and a lone record is not delayed.
	Linger time.Duration

	// MaxBufferedBytes bounds the memory of records produced but not yet
	// reported, counted by their encoded size. Produce blocks and
	// TryProduce fails with ErrMaxBuffered while it is reached. A single
	// record larger than the whole buffer is still accepted, alone.
	// Default 64 MiB.
	MaxBufferedBytes int64

	// MaxBufferedRecords bounds the number of records produced but not
	// yet reported, as MaxBufferedBytes bounds their bytes. Default
	// 1,000,000.
	MaxBufferedRecords int

	// Compression is the codec batches are compressed with, unless the
	// topic pins one (TopicConfig.Compression). Default CodecNone.
	Compression Codec

	// CompressionLevel is the codec's level; 0 is the codec's default.
	CompressionLevel int

	// Acks says when a record is reported as sent. Default AckAll.
	Acks Acks

	// DisableIdempotence turns off producer ids and sequence numbers. By
	// default every batch carries the producer's id, epoch and sequence,
	// and each partition refuses duplicates and gaps (see Producer).
	DisableIdempotence bool
}

const (
	defaultBatchBytes         = 1 << 20
	defaultMaxBufferedBytes   = 64 << 20
	defaultMaxBufferedRecords = 1_000_000
)

// Validate reports every problem with c in one *ConfigError.
func (c *ProducerConfig) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c.BatchBytes < 0 {
		add("BatchBytes: %d is negative", c.BatchBytes)
	}
	if c.Linger < 0 {
		add("Linger: %v is negative", c.Linger)
	}
	if c.MaxBufferedBytes < 0 {
		add("MaxBufferedBytes: %d is negative", c.MaxBufferedBytes)
	}
	if c.MaxBufferedRecords < 0 {
		add("MaxBufferedRecords: %d is negative", c.MaxBufferedRecords)
	}
	if !compress.Codec(c.Compression).Valid() {
		add("Compression: unknown codec %d", c.Compression)
	} else if !compress.ValidLevel(compress.Codec(c.Compression), c.CompressionLevel) {
		add("CompressionLevel: %d is not valid for %v", c.CompressionLevel, c.Compression)
	}
	if c.Acks > AckNone {
		add("Acks: unknown value %d (use AckAll, AckLeader or AckNone)", c.Acks)
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// withDefaults returns a copy of c with every zero field set.
func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.Partitioner == nil {
		c.Partitioner = KeyHashPartitioner()
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = defaultBatchBytes
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = defaultMaxBufferedBytes
	}
	if c.MaxBufferedRecords == 0 {
		c.MaxBufferedRecords = defaultMaxBufferedRecords
	}
	return c
}

// OffsetReset says where a consumer starts reading a partition that has no
// committed offset, or whose position is outside the partition's range
// (Kafka's auto.offset.reset).
type OffsetReset uint8

const (
	// ResetEarliest starts at the partition's start offset. This is the
	// default — unlike Kafka's "latest" — because a log embedded in an
	// application is usually read for its history (event sourcing), and
	// a new group silently skipping records is the surprise users report.
	ResetEarliest OffsetReset = iota
	// ResetLatest starts at the high watermark: only records appended
	// from then on are read.
	ResetLatest
	// ResetNone makes Poll return an *OffsetOutOfRangeError for the
	// partition instead; Seek to a valid offset to go on.
	ResetNone
)

func (r OffsetReset) String() string {
	switch r {
	case ResetEarliest:
		return "ResetEarliest"
	case ResetLatest:
		return "ResetLatest"
	case ResetNone:
		return "ResetNone"
	}
	return fmt.Sprintf("OffsetReset(%d)", uint8(r))
}

// ConsumerConfig configures a Consumer. Set either Group and Topics (the
// group's coordinator assigns the topics' partitions among the group's
// members) or Partitions (manual assignment; with Group set too, the
// consumer reads and commits that group's offsets, which Kafka allows only
// while the group has no members). Every other zero field is a good
// default.
type ConsumerConfig struct {
	// Group is the consumer group: its committed offsets are where the
	// consumer starts, and with Topics, its members share the partitions.
	Group string

	// Topics are the topics to subscribe to as a member of Group. They
	// must exist.
	Topics []string

	// Partitions are the partitions to read, assigned manually, without
	// group membership. They must exist.
	Partitions []TopicPartition

	// InstanceID makes the member static (Kafka's group.instance.id): when
	// it closes, its partitions stay reserved for it for SessionTimeout,
	// and a consumer with the same InstanceID that joins within that time
	// takes them back without a rebalance. Only with Topics.
	InstanceID string

	// Balancer assigns the group's partitions. All members of a group must
	// use the same one. Default CooperativeStickyBalancer().
	Balancer Balancer

	// MaxPollRecords bounds the records one Poll returns. Default 500.
	MaxPollRecords int

	// FetchMaxBytes bounds the bytes (keys, values and headers, after
	// decompression) one Poll returns, except that a Poll always returns
	// at least one record when one is available. Default 50 MiB.
	FetchMaxBytes int

	// FetchMinBytes is how many bytes Poll waits for, up to FetchMaxWait,
	// once it has some records. Default 1: return as soon as any exist.
	FetchMinBytes int

	// FetchMaxWait bounds how long Poll waits for FetchMinBytes once it
	// has at least one record. Default 500ms.
	FetchMaxWait time.Duration

	// AutoOffsetReset says where to start without a committed offset or
	// when the position is out of range. Default ResetEarliest.
	AutoOffsetReset OffsetReset

	// DisableAutoCommit turns off automatic commits. By default, every
	// AutoCommitInterval, Poll commits the positions of the records
	// returned by earlier Polls before it fetches more; the consumer also
	// commits them before its partitions are revoked and on Close.
	DisableAutoCommit bool

	// AutoCommitInterval is the period of automatic commits. Default 5s.
	AutoCommitInterval time.Duration

	// MaxPollInterval is how long a group member may go without calling
	// Poll (time spent waiting inside Poll does not count; time in
	// rebalance callbacks does) before the coordinator evicts it and moves
	// its partitions. The member learns it on its next call: OnLost, then
	// ErrFenced. Default 5 minutes.
	MaxPollInterval time.Duration

	// SessionTimeout is how long a closed static member's partitions stay
	// reserved for its InstanceID. Default 45s.
	SessionTimeout time.Duration

	// OnAssigned is called with the partitions the member has gained, from
	// Poll, before any of their records is returned. The slice is the
	// callback's to keep. Callbacks are called serially, from the
	// goroutine calling Poll or Close, with that Poll's context (Close:
	// context.Background()), which may have ended already: a commit that
	// must happen needs a context of its own. They may call Commit, CommitOffsets,
	// Committed, Seek, Position, Pause, Resume and Assignment, but not
	// Poll or Close (which return an error there), and they must not wait
	// for another goroutine that is itself waiting for this consumer's
	// Poll to return: that deadlocks.
	OnAssigned func(ctx context.Context, c *Consumer, gained []TopicPartition)

	// OnRevoked is called with partitions the member is about to give up,
	// from Poll or Close, before any other member can be given them: the
	// last chance to commit their offsets (with auto-commit, positions are
	// committed just before it). The slice is the callback's to keep.
	OnRevoked func(ctx context.Context, c *Consumer, revoked []TopicPartition)

	// OnLost is called with partitions the member has already lost (it was
	// evicted or fenced), from Poll or Close: another member may own them,
	// so their offsets must not be committed (commits fail with ErrFenced).
	// The slice is the callback's to keep.
	OnLost func(ctx context.Context, c *Consumer, lost []TopicPartition)
}

const (
	defaultMaxPollRecords     = 500
	defaultFetchMaxBytes      = 50 << 20
	defaultFetchMinBytes      = 1
	defaultFetchMaxWait       = 500 * time.Millisecond
	defaultAutoCommitInterval = 5 * time.Second
	defaultMaxPollInterval    = 5 * time.Minute
	defaultSessionTimeout     = 45 * time.Second
)

// Validate reports every problem with c in one *ConfigError.
func (c *ConsumerConfig) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	switch {
	case len(c.Topics) > 0 && len(c.Partitions) > 0:
		add("Topics and Partitions: set one (subscribe with a group, or assign partitions manually), not both")
	case len(c.Topics) == 0 && len(c.Partitions) == 0:
		add("Topics and Partitions: both empty; set Group and Topics to subscribe, or Partitions to assign manually")
	case len(c.Topics) > 0 && c.Group == "":
		add("Group: required with Topics (a subscription needs a group)")
	}
	if c.Group != "" && !utf8.ValidString(c.Group) {
		add("Group: %q is not valid UTF-8", c.Group)
	}
	if len(c.Group) > maxGroupNameLength {
		add("Group: %d bytes long; the limit is %d", len(c.Group), maxGroupNameLength)
	}
	if c.InstanceID != "" && len(c.Topics) == 0 {
		add("InstanceID: static membership needs Group and Topics")
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if seen[t] {
			add("Topics: %q listed twice", t)
		}
		seen[t] = true
	}
	seenTP := map[TopicPartition]bool{}
	for _, tp := range c.Partitions {
		if seenTP[tp] {
			add("Partitions: %v listed twice", tp)
		}
		seenTP[tp] = true
		if tp.Partition < 0 {
			add("Partitions: %v has a negative partition", tp)
		}
	}
	for name, v := range map[string]int{"MaxPollRecords": c.MaxPollRecords, "FetchMaxBytes": c.FetchMaxBytes, "FetchMinBytes": c.FetchMinBytes} {
		if v < 0 {
			add("%s: %d is negative", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"FetchMaxWait": c.FetchMaxWait, "AutoCommitInterval": c.AutoCommitInterval,
		"MaxPollInterval": c.MaxPollInterval, "SessionTimeout": c.SessionTimeout} {
		if v < 0 {
			add("%s: %v is negative", name, v)
		}
	}
	if c.AutoOffsetReset > ResetNone {
		add("AutoOffsetReset: unknown value %d (use ResetEarliest, ResetLatest or ResetNone)", c.AutoOffsetReset)
	}
	if len(p) > 0 {
		slices.Sort(p) // map iteration above is unordered
		return &ConfigError{Problems: p}
	}
	return nil
}

// maxGroupNameLength bounds a group name, which is stored in every
// committed-offset record's key (a Kafka string: int16 length).
const maxGroupNameLength = 1 << 15

// withDefaults returns a copy of c with every zero field set and its
// slices copied.
func (c ConsumerConfig) withDefaults() ConsumerConfig {
	c.Topics = slices.Clone(c.Topics)
	slices.Sort(c.Topics)
	c.Partitions = slices.Clone(c.Partitions)
	if c.Balancer == nil {
		c.Balancer = CooperativeStickyBalancer()
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = defaultMaxPollRecords
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = defaultFetchMaxBytes
	}
	if c.FetchMinBytes == 0 {
		c.FetchMinBytes = defaultFetchMinBytes
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = defaultFetchMaxWait
	}
	if c.AutoCommitInterval == 0 {
		c.AutoCommitInterval = defaultAutoCommitInterval
	}
	if c.MaxPollInterval == 0 {
		c.MaxPollInterval = defaultMaxPollInterval
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = defaultSessionTimeout
	}
	return c
}
