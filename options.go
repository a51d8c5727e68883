package commitlog

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// SyncPolicy says when an append is acknowledged.
type SyncPolicy uint8

const (
	// SyncAlways acknowledges an append only after its bytes, and any file
	// or directory entry needed to find them, have been fsynced. Concurrent
	// appenders share one fsync (group commit). Consumers see a record only
	// once it is durable. This is the default.
	SyncAlways SyncPolicy = iota
	// SyncInterval acknowledges an append once it is written to the
	// operating system, and fsyncs every Options.SyncInterval. A power
	// failure can lose up to that interval of acknowledged appends; a
	// process crash loses nothing.
	SyncInterval
	// SyncNever acknowledges an append once it is written to the operating
	// system and never makes an append wait for an fsync. The Log still
	// fsyncs in the background each time it records recovery checkpoints
	// (every Options.CheckpointInterval) and on Close, so a power failure
	// can lose what was written since the last of those; a process crash
	// loses nothing.
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

	// TopicDefaults supplies the value of every TopicConfig field that
	// CreateTopic is given as zero.
	TopicDefaults TopicConfig

	// Logger receives notices about recovery (torn tails cut, indexes
	// rebuilt) and failures. Nil discards them.
	Logger *slog.Logger

	// fs replaces the operating system's file system (tests).
	fs vfs.FS
	// now replaces time.Now (tests).
	now func() time.Time
}

const (
	defaultSyncInterval       = 100 * time.Millisecond
	defaultCheckpointInterval = time.Second
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

	// SegmentIndexBytes is the preallocated size of each index file; a
	// segment rolls when an index fills (Kafka's segment.index.bytes).
	// Default 10 MiB; minimum 1 KiB.
	SegmentIndexBytes int32

	// MaxBatchBytes is the largest batch, after compression, that an append
	// may add (Kafka's max.message.bytes). Default 1 MiB + 12 bytes.
	MaxBatchBytes int32

	// Compression is the codec Partition.Append uses to compress batches.
	// Default CodecNone.
	Compression Codec

	// CompressionLevel is the codec's level; 0 is the codec's default.
	CompressionLevel int
}

// Forever disables an age limit such as TopicConfig.SegmentAge.
const Forever time.Duration = -1

const (
	defaultPartitions         = 1
	defaultSegmentBytes       = 1 << 30
	defaultSegmentAge         = 7 * 24 * time.Hour
	defaultIndexIntervalBytes = 4096
	defaultSegmentIndexBytes  = 10 << 20
	defaultMaxBatchBytes      = 1<<20 + 12
	minSegmentBytes           = 4096
	minSegmentIndexBytes      = 1024
	maxPartitions             = 100_000
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
	return c
}
