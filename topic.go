package commitlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
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
	return t.partitions[id], nil
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

// Topic names follow Kafka's rules (kafka-semantics.md; Kafka's Topic.validate).
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
	if c.MinCleanableDirtyRatio == 0 {
		c.MinCleanableDirtyRatio = defaultMinCleanableDirtyRatio
	}
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
