package commitlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestValidateTopicName(t *testing.T) {
	valid := []string{"a", "orders", "Orders.v2", "a_b-c.d", "0", strings.Repeat("x", 249), "..."}
	for _, name := range valid {
		require.NoError(t, ValidateTopicName(name), name)
	}
	invalid := map[string]string{
		"":                       "empty",
		".":                      `"." and ".."`,
		"..":                     `"." and ".."`,
		strings.Repeat("x", 250): "250 characters",
		"has space":              "character ' '",
		"slash/name":             "character '/'",
		"ünï":                    "not one of",
		"__consumer_offsets":     "reserved for internal topics",
		"colon:name":             "character ':'",
		"new\nline":              "character '\\n'",
	}
	for name, rule := range invalid {
		err := ValidateTopicName(name)
		var terr *TopicNameError
		require.ErrorAs(t, err, &terr, "%q", name)
		require.ErrorIs(t, err, ErrInvalidTopicName)
		require.Contains(t, terr.Rule, rule, "%q", name)
	}
}

func TestPartitionDirNames(t *testing.T) {
	for _, tc := range []struct {
		dir   string
		topic string
		id    int32
		ok    bool
	}{
		{"orders-0", "orders", 0, true},
		{"my-topic-12", "my-topic", 12, true},
		{"a-1-2", "a-1", 2, true},
		{"orders", "", 0, false},
		{"orders-", "", 0, false},
		{"orders-01", "", 0, false},
		{"orders--1", "orders-", 1, true},
		{"-3", "", 0, false},
		{"topics", "", 0, false},
	} {
		topic, id, ok := parsePartitionDirName(tc.dir)
		require.Equal(t, tc.ok, ok, tc.dir)
		if ok {
			require.Equal(t, tc.topic, topic)
			require.Equal(t, tc.id, id)
			require.Equal(t, tc.dir, partitionDirName(topic, id))
		}
	}
}

func TestTopicMetadataRoundTrip(t *testing.T) {
	cfg := TopicConfig{Partitions: 5, SegmentAge: Forever, Compression: CodecZstd, CompressionLevel: 7}.resolve(TopicConfig{})
	b := marshalTopic("orders", cfg)
	name, got, err := unmarshalTopic("/x/topics/orders.json", b)
	require.NoError(t, err)
	require.Equal(t, "orders", name)
	require.Equal(t, cfg, got)

	cfg.SegmentAge = 90 * time.Minute
	_, got, err = unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
	require.NoError(t, err)
	require.Equal(t, cfg, got)

	for _, policy := range []CleanupPolicy{CleanupDelete, CleanupCompact, CleanupCompactDelete} {
		cfg.CleanupPolicy, cfg.LogAppendTime = policy, policy != CleanupDelete
		_, got, err = unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
		require.NoError(t, err)
		require.Equal(t, cfg, got)
	}
	cfg.CleanupPolicy, cfg.LogAppendTime = CleanupDelete, false

	for _, r := range []struct {
		age   time.Duration
		bytes int64
	}{{Forever, 0}, {time.Hour, 1 << 30}, {7 * 24 * time.Hour, 0}} {
		cfg.Retention, cfg.RetentionBytes = r.age, r.bytes
		_, got, err = unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
		require.NoError(t, err)
		require.Equal(t, cfg, got)
	}
	cfg.Retention, cfg.RetentionBytes = 7*24*time.Hour, 0

	cfg.CleanupPolicy = CleanupCompact
	for _, c := range []struct {
		deleteRetention, minLag, maxLag time.Duration
		ratio                           float64
	}{{Forever, 0, 0, 0.5}, {time.Millisecond, time.Minute, time.Hour, 0.01}, {24 * time.Hour, 0, 7 * 24 * time.Hour, 1}} {
		cfg.DeleteRetention, cfg.MinCompactionLag, cfg.MaxCompactionLag, cfg.MinCleanableDirtyRatio = c.deleteRetention, c.minLag, c.maxLag, c.ratio
		_, got, err = unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
		require.NoError(t, err)
		require.Equal(t, cfg, got)
	}
	cfg.DeleteRetention = 300 * time.Microsecond
	_, got, err = unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
	require.NoError(t, err)
	require.Equal(t, time.Millisecond, got.DeleteRetention, "below a millisecond rounds up, not to the default")

	// A topic stored before retention existed keeps everything.
	line := []byte(`{"version":1,"name":"orders","partitions":1,"segment_bytes":1073741824,"segment_age_ms":-1,` +
		`"index_interval_bytes":4096,"segment_index_bytes":10485760,"max_batch_bytes":1048588,"compression":"none","compression_level":0}`)
	old := fmt.Appendf(line, "\ncrc32c %08x\n", crc32.Checksum(line, castagnoli))
	_, got, err = unmarshalTopic("/x/topics/orders.json", old)
	require.NoError(t, err)
	require.Equal(t, Forever, got.Retention)
	require.Equal(t, 24*time.Hour, got.DeleteRetention, "compaction settings read as the defaults")
	require.Equal(t, 0.5, got.MinCleanableDirtyRatio)

	_, _, err = unmarshalTopic("/x/topics/other.json", b)
	require.ErrorIs(t, err, ErrCorrupt, "the file name must match the topic")
	for i := range b {
		damaged := append([]byte(nil), b...)
		damaged[i] ^= 0x20
		_, _, err := unmarshalTopic("/x/topics/orders.json", damaged)
		require.ErrorIs(t, err, ErrCorrupt, "flip at %d", i)
	}
}

// topicDecodeAlloc bounds what unmarshalTopic allocates for b (see its doc
// comment).
func topicDecodeAlloc(b []byte) uint64 { return topicAllocPerByte*uint64(len(b)) + topicAllocFixed }

// FuzzTopicConfig feeds arbitrary bytes to unmarshalTopic, as they are and
// with their first line followed by its correct checksum line, so that the
// fuzzer reaches the JSON decoding and the validation behind the checksum.
// The file name is the one the JSON names, when it names one. Nothing may
// panic or allocate more than topicDecodeAlloc; every error is a
// *CorruptionError; what decodes has a valid topic name and configuration,
// re-marshals (marshalTopic) to a file that decodes to the same name and
// configuration, and that file is what marshalTopic makes of it again.
func FuzzTopicConfig(f *testing.F) {
	mem, _ := fuzzLog(f, 0)
	real, err := mem.ReadFile(filepath.Join(testDir, topicsDir, "f"+topicFileSuffix))
	require.NoError(f, err)
	f.Add(real)
	f.Add(marshalTopic("orders", TopicConfig{Partitions: 5, SegmentAge: Forever, Compression: CodecZstd, CompressionLevel: 7}.resolve(TopicConfig{})))
	f.Add(marshalTopic("compacted", TopicConfig{CleanupPolicy: CleanupCompact, LogAppendTime: true, Retention: time.Hour,
		RetentionBytes: 1 << 30, DeleteRetention: Forever, MinCompactionLag: time.Minute, MaxCompactionLag: time.Hour,
		MinCleanableDirtyRatio: 0.25}.resolve(TopicConfig{})))
	f.Add(marshalTopic(offsetsTopicName, TopicConfig{Partitions: 4, SegmentBytes: offsetsSegmentBytes, CleanupPolicy: CleanupCompact}.resolve(TopicConfig{})))
	// Written before retention and compaction existed.
	f.Add([]byte(`{"version":1,"name":"orders","partitions":1,"segment_bytes":1073741824,"segment_age_ms":-1,` +
		`"index_interval_bytes":4096,"segment_index_bytes":10485760,"max_batch_bytes":1048588,"compression":"none","compression_level":0}`))
	f.Add([]byte{})
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		line, _, _ := bytes.Cut(data, []byte("\n"))
		withSum := fmt.Appendf(append([]byte(nil), line...), "\ncrc32c %08x\n", crc32.Checksum(line, castagnoli))
		var named struct{ Name *string }
		path := filepath.Join(testDir, topicsDir, "f"+topicFileSuffix)
		if json.Unmarshal(line, &named) == nil && named.Name != nil && !strings.ContainsAny(*named.Name, "/\x00") {
			path = filepath.Join(testDir, topicsDir, *named.Name+topicFileSuffix)
		}
		for _, in := range [][]byte{data, withSum} {
			var (
				name string
				cfg  TopicConfig
				err  error
			)
			alloctest.Check(t, topicDecodeAlloc(in), nil, func() { name, cfg, err = unmarshalTopic(path, in) })
			if err != nil {
				var ce *CorruptionError
				require.ErrorAs(t, err, &ce)
				require.ErrorIs(t, err, ErrCorrupt)
				require.Equal(t, path, ce.Path)
				continue
			}
			require.NoError(t, validateTopicName(name, true), "accepted topic name %q", name)
			require.NoError(t, cfg.Validate(), "accepted an invalid configuration")
			enc := marshalTopic(name, cfg)
			name2, cfg2, err := unmarshalTopic(path, enc)
			require.NoError(t, err, "a decoded topic re-marshals to a valid file")
			require.Equal(t, name, name2)
			require.Equal(t, cfg, cfg2, "a decoded configuration round-trips")
			require.Equal(t, string(enc), string(marshalTopic(name2, cfg2)))
		}
	})
}

// A damaged topic file's error quotes only a little of it: a torn or
// overwritten file can hold up to a MiB of anything.
func TestTopicMetadataErrorQuotesLittle(t *testing.T) {
	b := marshalTopic("orders", TopicConfig{}.resolve(TopicConfig{}))
	line, _, _ := bytes.Cut(b, []byte("\n"))
	withSum := func(line []byte) []byte {
		return fmt.Appendf(line, "\ncrc32c %08x\n", crc32.Checksum(line, castagnoli))
	}
	for _, damaged := range [][]byte{
		append(append(append([]byte(nil), line...), '\n'), bytes.Repeat([]byte{0xff}, 100_000)...),
		withSum(fmt.Appendf(nil, `{"version":1,"name":%q}`, strings.Repeat("x", 100_000))),
		withSum(fmt.Appendf(nil, `{"version":1,"name":"orders","compression":%q}`, strings.Repeat("z", 100_000))),
		withSum(fmt.Appendf(nil, `{"version":1,"name":"orders","compression":"none","cleanup_policy":%q}`, strings.Repeat("z", 100_000))),
	} {
		_, _, err := unmarshalTopic("/x/topics/orders.json", damaged)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Less(t, len(err.Error()), 1000, "%.200s", err)
	}
}

func TestTopicConfigDefaults(t *testing.T) {
	c := TopicConfig{}.resolve(TopicConfig{})
	require.Equal(t, TopicConfig{
		Partitions:             1,
		SegmentBytes:           1 << 30,
		SegmentAge:             7 * 24 * time.Hour,
		IndexIntervalBytes:     4096,
		SegmentIndexBytes:      10 << 20,
		MaxBatchBytes:          1<<20 + 12,
		Retention:              7 * 24 * time.Hour,
		DeleteRetention:        24 * time.Hour,
		MinCleanableDirtyRatio: 0.5,
		ReplicationFactor:      1,
		MinInSyncReplicas:      1,
	}, c)

	// Log-wide defaults fill what the topic leaves zero.
	c = TopicConfig{Partitions: 4}.resolve(TopicConfig{Partitions: 9, SegmentBytes: 1 << 20, Compression: CodecLZ4})
	require.Equal(t, int32(4), c.Partitions)
	require.Equal(t, int64(1<<20), c.SegmentBytes)
	require.Equal(t, CodecLZ4, c.Compression)

	// MaxBatchBytes never exceeds the segment size.
	c = TopicConfig{SegmentBytes: 8192}.resolve(TopicConfig{})
	require.Equal(t, int32(8192), c.MaxBatchBytes)
}

func TestTopicConfigValidate(t *testing.T) {
	require.NoError(t, (&TopicConfig{}).Validate(), "the zero value is valid")
	err := (&TopicConfig{
		Partitions:         -1,
		SegmentBytes:       100,
		SegmentAge:         -5,
		IndexIntervalBytes: -1,
		SegmentIndexBytes:  10,
		MaxBatchBytes:      -1,
		Compression:        9,
		Retention:          -2,
		RetentionBytes:     -1,
	}).Validate()
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Len(t, cerr.Problems, 9, "%v", cerr.Problems)
	require.NoError(t, (&TopicConfig{Retention: Forever}).Validate())
	require.Error(t, (&TopicConfig{Compression: CodecGzip, CompressionLevel: 42}).Validate())
	require.Error(t, (&TopicConfig{SegmentBytes: 1 << 31}).Validate(), "positions in the index are 32-bit")
	require.NoError(t, (&TopicConfig{SegmentAge: Forever}).Validate())

	err = (&TopicConfig{
		DeleteRetention:        -2,
		MinCompactionLag:       -1,
		MaxCompactionLag:       -1,
		MinCleanableDirtyRatio: 1.5,
	}).Validate()
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 4, "%v", cerr.Problems)
	require.Error(t, (&TopicConfig{MinCompactionLag: time.Hour, MaxCompactionLag: time.Minute}).Validate(), "max below min")
	require.NoError(t, (&TopicConfig{DeleteRetention: Forever, MinCleanableDirtyRatio: 1}).Validate())

	// Replication settings.
	err = (&TopicConfig{
		ReplicationFactor: -1,
		MinInSyncReplicas: -1,
	}).Validate()
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 2, "%v", cerr.Problems)
	require.ErrorContains(t, (&TopicConfig{ReplicationFactor: 2, MinInSyncReplicas: 3}).Validate(), "MinInSyncReplicas: 3 is above ReplicationFactor 2")
	err = (&TopicConfig{Partitions: 2, ReplicationFactor: 2, Replicas: [][]NodeID{{1, 1}, {1, 2, 3}, {-1}}}).Validate()
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, []string{
		"Replicas: 3 partitions assigned, Partitions is 2",
		"Replicas[0]: node 1 is listed twice",
		"Replicas[1]: 3 replicas, ReplicationFactor is 2",
		"Replicas[2]: 1 replicas, ReplicationFactor is 2",
	}, cerr.Problems)
	require.NoError(t, (&TopicConfig{Replicas: [][]NodeID{{1, 2}, {2, 1}}}).Validate())
	c := TopicConfig{Replicas: [][]NodeID{{1, 2}, {2, 1}}}.resolve(TopicConfig{})
	require.Equal(t, int32(2), c.Partitions, "the assignment gives the partition count")
	require.Equal(t, int16(2), c.ReplicationFactor, "and the replication factor")
}

// The replication settings survive the topic file.
func TestTopicFileReplication(t *testing.T) {
	cfg := TopicConfig{ReplicationFactor: 3, MinInSyncReplicas: 2, UncleanLeaderElection: true,
		Replicas: [][]NodeID{{1, 2, 3}, {2, 3, 1}}}.resolve(TopicConfig{})
	name, got, err := unmarshalTopic("/x/topics/orders.json", marshalTopic("orders", cfg))
	require.NoError(t, err)
	require.Equal(t, "orders", name)
	require.Equal(t, cfg, got)
}

func TestTopicPartitionFor(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	topic, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 100, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	// The literals of TestKeyHashPartitionerPinned: part of the data layout.
	for key, want := range map[string]int32{"": 21, "a": 55, "key0": 27, "user-42": 69, "\x00\xff": 81} {
		got, err := topic.PartitionFor([]byte(key))
		require.NoError(t, err)
		require.Equal(t, want, got, "key %q", key)
	}
	key := []byte("user-42")
	require.Zero(t, testing.AllocsPerRun(100, func() { topic.PartitionFor(key) }))
	got, err := topic.PartitionFor(nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
	require.ErrorContains(t, err, "PartitionFor t: a record with a nil key has no fixed partition")
	require.Equal(t, int32(-1), got)

	// Where a default Producer puts keyed records.
	prod, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err)
	defer prod.Close()
	for i := range 200 {
		r := &Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", i)}
		require.NoError(t, prod.ProduceSync(ctx, r))
		want, err := topic.PartitionFor(r.Key)
		require.NoError(t, err)
		require.Equal(t, want, r.Partition, "key %q", r.Key)
	}

	single, err := l.CreateTopic(ctx, "single", TopicConfig{SegmentIndexBytes: 1024})
	require.NoError(t, err)
	for _, key := range [][]byte{nil, {}, []byte("a")} {
		got, err := single.PartitionFor(key)
		require.NoError(t, err)
		require.Equal(t, int32(0), got, "every record of a one-partition topic lands on 0")
	}
}
