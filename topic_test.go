package commitlog

import (
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

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
