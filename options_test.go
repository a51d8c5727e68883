package commitlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
	require.Error(t, (&Options{CompactionMapBytes: 1000}).Validate())
	require.Error(t, (&Options{CompactionDutyCycle: 1.5}).Validate())
	require.NoError(t, (&Options{CompactionDutyCycle: 1}).Validate())
}

func TestSyncPolicyString(t *testing.T) {
	require.Equal(t, "SyncAlways", SyncAlways.String())
	require.Equal(t, "SyncInterval", SyncInterval.String())
	require.Equal(t, "SyncNever", SyncNever.String())
	require.Equal(t, "SyncPolicy(9)", SyncPolicy(9).String())
}
