package commitlog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/commitlog-go/commitlog/internal/compress"
)

// Topic is a named set of partitions with one configuration. A Topic is
// safe for concurrent use.
type Topic struct {
	log        *Log
	name       string
	cfg        TopicConfig
	partitions []*Partition
}

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// Config returns the topic's configuration with every default resolved.
func (t *Topic) Config() TopicConfig { return t.cfg }

// NumPartitions returns the number of partitions.
func (t *Topic) NumPartitions() int32 { return int32(len(t.partitions)) }

// Partition returns partition id, or an error matching ErrUnknownPartition
// when id is outside [0, NumPartitions()).
func (t *Topic) Partition(id int32) (*Partition, error) {
	if id < 0 || int(id) >= len(t.partitions) {
		return nil, fmt.Errorf("%w: %s has partitions [0, %d), not %d", ErrUnknownPartition, t.name, len(t.partitions), id)
	}
	if p := t.partitions[id]; p != nil {
		return p, nil
	}
	return nil, t.log.repl.notHosted(t.name, id)
}

// local returns the partitions this node holds: on a single-node Log,
// every partition.
func (t *Topic) local() []*Partition {
	ps := make([]*Partition, 0, len(t.partitions))
	for _, p := range t.partitions {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// hosted reports whether this node holds a replica of partition id: on a
// single-node Log, of every partition.
func (t *Topic) hosted(id int32) bool {
	return t.log.repl == nil || t.cfg.Replicas == nil || slices.Contains(t.cfg.Replicas[id], t.log.opts.NodeID)
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

	// ReplicationFactor is the number of replicas of each partition, on
	// as many nodes (Kafka's replication.factor). Above 1 it needs a
	// replicated Log (Options.Controller). Default 1: the partition lives
	// on one node, with no replication at all.
	ReplicationFactor int16

	// MinInSyncReplicas is the least number of in-sync replicas, leader
	// included, that must hold a batch before an AckAll append returns
	// (Kafka's min.insync.replicas): with fewer in sync, AckAll appends
	// fail with ErrNotEnoughReplicas and the high watermark stays where it
	// is. Default 1; at most ReplicationFactor.
	MinInSyncReplicas int16

	// UncleanLeaderElection lets a replica that is not in sync lead a
	// partition whose in-sync replicas are all down (Kafka's
	// unclean.leader.election.enable), trading data for availability: the
	// records only the in-sync replicas held are lost, even those AckAll
	// acknowledged, and their offsets are given to other records.
	// Consumers detect the reuse (see the package documentation on
	// replication). Default false: the partition stays offline until an
	// in-sync replica returns.
	UncleanLeaderElection bool

	// Replicas, when not nil, assigns each partition's replicas
	// explicitly: Replicas[p] lists partition p's nodes in order, the
	// first being its preferred leader. It needs ReplicationFactor nodes
	// per partition, all distinct and of the cluster. Default: the
	// controller spreads replicas and leaders over the nodes as Kafka's
	// rack-unaware assignment does.
	Replicas [][]NodeID
}

// CleanupPolicy is a topic's cleanup.policy.
type CleanupPolicy uint8

const (
	// CleanupDelete: old segments may be removed whole, by age or size.
	CleanupDelete CleanupPolicy = iota // delete
	// CleanupCompact: only the latest record of each key need be kept.
	CleanupCompact // compact
	// CleanupCompactDelete: both.
	CleanupCompactDelete // compact,delete
)

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
		add("Partitions: %d is outside [1, %d] (0: the default)", c.Partitions, maxPartitions)
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
		add("MinCleanableDirtyRatio: %v is outside (0, 1] (0: the default)", c.MinCleanableDirtyRatio)
	}
	if c.CleanupPolicy > CleanupCompactDelete {
		add("CleanupPolicy: unknown policy %d (use CleanupDelete, CleanupCompact or CleanupCompactDelete)", c.CleanupPolicy)
	}
	if c.ReplicationFactor < 0 {
		add("ReplicationFactor: %d is negative (0: the default)", c.ReplicationFactor)
	}
	if c.MinInSyncReplicas < 0 {
		add("MinInSyncReplicas: %d is negative (0: the default)", c.MinInSyncReplicas)
	}
	if c.ReplicationFactor > 0 && c.MinInSyncReplicas > c.ReplicationFactor {
		add("MinInSyncReplicas: %d is above ReplicationFactor %d: no append could ever be acknowledged by all of them", c.MinInSyncReplicas, c.ReplicationFactor)
	}
	if c.Replicas != nil {
		if c.Partitions > 0 && len(c.Replicas) != int(c.Partitions) {
			add("Replicas: %d partitions assigned, Partitions is %d", len(c.Replicas), c.Partitions)
		}
		for i, r := range c.Replicas {
			if c.ReplicationFactor > 0 && len(r) != int(c.ReplicationFactor) {
				add("Replicas[%d]: %d replicas, ReplicationFactor is %d", i, len(r), c.ReplicationFactor)
				continue
			}
			if len(r) == 0 {
				add("Replicas[%d]: no replica", i)
			}
			for j, n := range r {
				if n < 0 {
					add("Replicas[%d]: node %d is negative", i, n)
				} else if slices.Contains(r[:j], n) {
					add("Replicas[%d]: node %d is listed twice", i, n)
				}
			}
		}
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
	if c.Partitions == 0 && c.Replicas != nil {
		c.Partitions = int32(len(c.Replicas))
	}
	c.Partitions = int32(pick(int64(c.Partitions), int64(defaults.Partitions), defaultPartitions))
	if c.ReplicationFactor == 0 && len(c.Replicas) > 0 {
		c.ReplicationFactor = int16(len(c.Replicas[0]))
	}
	c.ReplicationFactor = int16(pick(int64(c.ReplicationFactor), int64(defaults.ReplicationFactor), 1))
	c.MinInSyncReplicas = int16(pick(int64(c.MinInSyncReplicas), int64(defaults.MinInSyncReplicas), 1))
	c.UncleanLeaderElection = c.UncleanLeaderElection || defaults.UncleanLeaderElection
	c.Replicas = cloneAssignment(c.Replicas)
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
	c.MinCleanableDirtyRatio = cmp.Or(c.MinCleanableDirtyRatio, defaultMinCleanableDirtyRatio)
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

// cloneAssignment returns a deep copy of a replica assignment.
func cloneAssignment(a [][]NodeID) [][]NodeID {
	if a == nil {
		return nil
	}
	c := make([][]NodeID, len(a))
	for i, r := range a {
		c[i] = slices.Clone(r)
	}
	return c
}

// PartitionFor returns the partition that KeyHashPartitioner, the
// default ProducerConfig.Partitioner, puts every record with key in:
// xxhash64(key) % NumPartitions(), for any non-nil key (an empty key is a
// key). A Producer configured with another partitioner may place keys
// elsewhere; ask it with Producer.PartitionFor.
//
// A nil key has no fixed partition: keyless records are spread stickily
// (KIP-794), so PartitionFor returns -1 and an error matching
// ErrInvalidArgument for it, unless the topic has a single partition,
// where every record lands: then the answer is 0 for any key.
func (t *Topic) PartitionFor(key []byte) (int32, error) {
	return partitionForKey(t.name, keyHashPlacer{}, key, t.NumPartitions())
}

// internal reports whether t is an internal topic (name starting with
// "__"), written only by the Log itself.
func (t *Topic) internal() bool { return strings.HasPrefix(t.name, "__") }

// refuseWrites returns an error for appends to an internal topic.
func (t *Topic) refuseWrites() error {
	if t.internal() {
		return fmt.Errorf("%w: topic %s is internal: only the Log writes to it", ErrInvalidArgument, t.name)
	}
	return nil
}

// maxTopicNameLength is Kafka's limit on topic names
// (org.apache.kafka.common.internals.Topic.MAX_NAME_LENGTH), which
// validateTopicName applies with the rest of Topic.validate's rules.
const maxTopicNameLength = 249

// ValidateTopicName returns a *TopicNameError if name breaks one of
// Kafka's rules: 1 to 249 characters of ASCII letters, digits, '.', '_' and
// '-', and neither "." nor "..". Names starting with "__" are reserved for
// internal topics and refused here too.
func ValidateTopicName(name string) error {
	return validateTopicName(name, false)
}

func validateTopicName(name string, internal bool) error {
	bad := func(rule string) error { return &TopicNameError{Name: name, Rule: rule} }
	switch {
	case name == "":
		return bad("it is empty")
	case name == "." || name == "..":
		return bad(`"." and ".." are not allowed`)
	case len(name) > maxTopicNameLength:
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", len(name), maxTopicNameLength))
	case !internal && strings.HasPrefix(name, "__"):
		return bad(`names starting with "__" are reserved for internal topics`)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad(fmt.Sprintf("character %q at position %d is not one of [a-zA-Z0-9._-]", c, i))
		}
	}
	return nil
}

// partitionDirName is Kafka's partition directory name, <topic>-<id>.
func partitionDirName(topic string, id int32) string {
	return topic + "-" + strconv.Itoa(int(id))
}

// parsePartitionDirName splits a partition directory name at its last '-'.
func parsePartitionDirName(name string) (topic string, id int32, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || n < 0 || strconv.Itoa(int(n)) != name[i+1:] {
		return "", 0, false
	}
	if validateTopicName(name[:i], true) != nil {
		return "", 0, false
	}
	return name[:i], int32(n), true
}

// Topic metadata is stored as <dir>/topics/<name>.json: one line of JSON,
// then a line "crc32c <8 hex digits>" over the JSON line's bytes. It is
// replaced atomically and is the commit point of CreateTopic and
// DeleteTopic: partition directories without it are leftovers of an
// interrupted create or delete, removed on Open.
const (
	topicsDir          = "topics"
	topicFileSuffix    = ".json"
	topicFormatVersion = 1
)

// topicFile is the persisted form of a topic.
type topicFile struct {
	Version            int    `json:"version"`
	Name               string `json:"name"`
	Partitions         int32  `json:"partitions"`
	SegmentBytes       int64  `json:"segment_bytes"`
	SegmentAgeMs       int64  `json:"segment_age_ms"`
	IndexIntervalBytes int32  `json:"index_interval_bytes"`
	SegmentIndexBytes  int32  `json:"segment_index_bytes"`
	MaxBatchBytes      int32  `json:"max_batch_bytes"`
	Compression        string `json:"compression"`
	CompressionLevel   int    `json:"compression_level"`
	LogAppendTime      bool   `json:"log_append_time,omitempty"`
	CleanupPolicy      string `json:"cleanup_policy,omitempty"`
	// RetentionMs is -1 for Forever. Absent (topics created before
	// retention existed) it reads as Forever: nothing is deleted that
	// was created without a retention.
	RetentionMs    *int64 `json:"retention_ms,omitempty"`
	RetentionBytes int64  `json:"retention_bytes,omitempty"`
	// Compaction settings; absent, they read as the defaults.
	DeleteRetentionMs      int64   `json:"delete_retention_ms,omitempty"`
	MinCompactionLagMs     int64   `json:"min_compaction_lag_ms,omitempty"`
	MaxCompactionLagMs     int64   `json:"max_compaction_lag_ms,omitempty"`
	MinCleanableDirtyRatio float64 `json:"min_cleanable_dirty_ratio,omitempty"`
	// Replication settings; absent, they read as one replica.
	ReplicationFactor     int16      `json:"replication_factor,omitempty"`
	MinInSyncReplicas     int16      `json:"min_insync_replicas,omitempty"`
	UncleanLeaderElection bool       `json:"unclean_leader_election,omitempty"`
	Replicas              [][]NodeID `json:"replicas,omitempty"`
}

// castagnoli is the CRC-32C table of the topic metadata and producer-ids
// files.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func marshalTopic(name string, c TopicConfig) []byte {
	age := int64(-1)
	if c.SegmentAge != Forever {
		age = c.SegmentAge.Milliseconds()
	}
	retention := int64(-1)
	if c.Retention != Forever {
		retention = c.Retention.Milliseconds()
	}
	line, err := json.Marshal(topicFile{
		RetentionMs:            &retention,
		DeleteRetentionMs:      durationMs(c.DeleteRetention),
		MinCompactionLagMs:     c.MinCompactionLag.Milliseconds(),
		MaxCompactionLagMs:     c.MaxCompactionLag.Milliseconds(),
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
		RetentionBytes:         c.RetentionBytes,
		Version:                topicFormatVersion,
		Name:                   name,
		Partitions:             c.Partitions,
		SegmentBytes:           c.SegmentBytes,
		SegmentAgeMs:           age,
		IndexIntervalBytes:     c.IndexIntervalBytes,
		SegmentIndexBytes:      c.SegmentIndexBytes,
		MaxBatchBytes:          c.MaxBatchBytes,
		Compression:            c.Compression.String(),
		CompressionLevel:       c.CompressionLevel,
		LogAppendTime:          c.LogAppendTime,
		CleanupPolicy:          c.CleanupPolicy.String(),
		ReplicationFactor:      c.ReplicationFactor,
		MinInSyncReplicas:      c.MinInSyncReplicas,
		UncleanLeaderElection:  c.UncleanLeaderElection,
		Replicas:               c.Replicas,
	})
	if err != nil {
		panic(err) // a struct of plain fields always marshals
	}
	return fmt.Appendf(line, "\ncrc32c %08x\n", crc32.Checksum(line, castagnoli))
}

// unmarshalTopic decodes the topic file at path. Every error is a
// *CorruptionError naming path, whose message quotes at most
// errorQuoteMax bytes of the file. It allocates at most topicAllocPerByte
// times len(b) plus topicAllocFixed bytes.
func unmarshalTopic(path string, b []byte) (string, TopicConfig, error) {
	bad := func(reason string) error {
		return &CorruptionError{Path: path, Offset: -1, Reason: "topic metadata " + reason}
	}
	line, trailer, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return "", TopicConfig{}, bad("has no checksum line")
	}
	if want := fmt.Sprintf("crc32c %08x\n", crc32.Checksum(line, castagnoli)); string(trailer) != want {
		return "", TopicConfig{}, bad(fmt.Sprintf("fails its checksum (want %q, found %s)", want, quotePrefix(trailer)))
	}
	var f topicFile
	if err := json.Unmarshal(line, &f); err != nil {
		return "", TopicConfig{}, bad("is not valid JSON: " + err.Error())
	}
	if f.Version != topicFormatVersion {
		return "", TopicConfig{}, bad(fmt.Sprintf("has unknown version %d", f.Version))
	}
	if err := validateTopicName(f.Name, true); err != nil {
		return "", TopicConfig{}, bad("names an invalid topic " + quotePrefix([]byte(f.Name)))
	}
	codec, err := compress.ParseCodec(f.Compression)
	if err != nil {
		return "", TopicConfig{}, bad("names unknown compression " + quotePrefix([]byte(f.Compression)))
	}
	policy := CleanupDelete
	if f.CleanupPolicy != "" {
		if policy, err = parseCleanupPolicy(f.CleanupPolicy); err != nil {
			return "", TopicConfig{}, bad("names unknown cleanup policy " + quotePrefix([]byte(f.CleanupPolicy)))
		}
	}
	for _, ms := range []int64{f.SegmentAgeMs, f.DeleteRetentionMs, f.MinCompactionLagMs, f.MaxCompactionLagMs, retentionMs(f.RetentionMs)} {
		if ms > maxDurationMs {
			return "", TopicConfig{}, bad(fmt.Sprintf("holds a duration of %d ms, longer than any configuration can be", ms))
		}
	}
	c := TopicConfig{
		LogAppendTime:      f.LogAppendTime,
		CleanupPolicy:      policy,
		Partitions:         f.Partitions,
		SegmentBytes:       f.SegmentBytes,
		SegmentAge:         time.Duration(f.SegmentAgeMs) * time.Millisecond,
		IndexIntervalBytes: f.IndexIntervalBytes,
		SegmentIndexBytes:  f.SegmentIndexBytes,
		MaxBatchBytes:      f.MaxBatchBytes,
		Compression:        Codec(codec),
		CompressionLevel:   f.CompressionLevel,
	}
	if f.SegmentAgeMs < 0 {
		c.SegmentAge = Forever
	}
	c.Retention, c.RetentionBytes = Forever, f.RetentionBytes
	if f.RetentionMs != nil && *f.RetentionMs >= 0 {
		c.Retention = time.Duration(*f.RetentionMs) * time.Millisecond
	}
	c.DeleteRetention = defaultDeleteRetention
	if f.DeleteRetentionMs != 0 {
		c.DeleteRetention = msDuration(f.DeleteRetentionMs)
	}
	c.MinCompactionLag = msDuration(f.MinCompactionLagMs)
	c.MaxCompactionLag = msDuration(f.MaxCompactionLagMs)
	c.MinCleanableDirtyRatio = f.MinCleanableDirtyRatio
	c.MinCleanableDirtyRatio = cmp.Or(c.MinCleanableDirtyRatio, defaultMinCleanableDirtyRatio)
	c.ReplicationFactor = max(f.ReplicationFactor, 1)
	c.MinInSyncReplicas = max(f.MinInSyncReplicas, 1)
	c.UncleanLeaderElection = f.UncleanLeaderElection
	c.Replicas = f.Replicas
	if err := c.Validate(); err != nil || c.Partitions <= 0 || c.SegmentBytes <= 0 || c.MaxBatchBytes <= 0 || c.SegmentIndexBytes <= 0 {
		return "", TopicConfig{}, bad(fmt.Sprintf("holds an invalid configuration (%v)", err))
	}
	if filepath.Base(path) != f.Name+topicFileSuffix {
		return "", TopicConfig{}, bad(fmt.Sprintf("names topic %q, not the one its file name says", f.Name))
	}
	return f.Name, c, nil
}

// Allocation bound of unmarshalTopic (see there). Measured at most 23
// bytes per byte of file, for encoding/json decoding an unknown field
// whose long name is invalid UTF-8 (it folds the name for a
// case-insensitive match); 2 to 5 for long strings in known fields.
const (
	topicAllocPerByte = 32
	topicAllocFixed   = 16 << 10
)

// maxDurationMs is the longest duration in milliseconds a time.Duration
// holds: a topic file holding more was not written by marshalTopic.
const maxDurationMs = math.MaxInt64 / int64(time.Millisecond)

// retentionMs is the retention_ms field of a topic file, -1 when absent.
func retentionMs(ms *int64) int64 {
	if ms == nil {
		return -1
	}
	return *ms
}

// errorQuoteMax is how many bytes of a damaged file an error message
// quotes at most.
const errorQuoteMax = 64

// quotePrefix returns b quoted, cut to its first errorQuoteMax bytes
// (marked with "..." after the quotes when cut).
func quotePrefix(b []byte) string {
	if len(b) > errorQuoteMax {
		return strconv.Quote(string(b[:errorQuoteMax])) + "..."
	}
	return strconv.Quote(string(b))
}

// durationMs is d in whole milliseconds for the topic file: Forever is -1,
// and a positive duration below a millisecond is rounded up to one, so
// that it does not read back as zero (the default).
func durationMs(d time.Duration) int64 {
	if d == Forever {
		return -1
	}
	if d > 0 && d < time.Millisecond {
		return 1
	}
	return d.Milliseconds()
}

// msDuration is the inverse of durationMs.
func msDuration(ms int64) time.Duration {
	if ms < 0 {
		return Forever
	}
	return time.Duration(ms) * time.Millisecond
}
