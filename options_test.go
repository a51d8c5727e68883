package commitlog

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, (&Options{}).Validate(), "the zero value is valid")
	require.Error(t, (&Options{CompactionMapBytes: 1000}).Validate())
	require.Error(t, (&Options{CompactionDutyCycle: 1.5}).Validate())
	require.NoError(t, (&Options{CompactionDutyCycle: 1}).Validate())
	require.ErrorContains(t, (&Options{OffsetsTopicReplicationFactor: -1}).Validate(), "OffsetsTopicReplicationFactor")
	err := (&Options{Sync: 9, SyncInterval: -1, OffsetsTopicPartitions: -1, TopicDefaults: TopicConfig{Partitions: -1}}).Validate()
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 4, "%v", cerr.Problems)
	require.Contains(t, err.Error(), "TopicDefaults.Partitions")
}

// The enums' String methods are generated (enum_string.go); what they
// print is user-visible, and CleanupPolicy's strings are stored in topic
// files, so they must not change.
func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got  fmt.Stringer
		want string
	}{
		{SyncAlways, "SyncAlways"}, {SyncInterval, "SyncInterval"}, {SyncNever, "SyncNever"}, {SyncPolicy(9), "SyncPolicy(9)"},
		{CleanupDelete, "delete"}, {CleanupCompact, "compact"}, {CleanupCompactDelete, "compact,delete"}, {CleanupPolicy(3), "CleanupPolicy(3)"},
		{AckAll, "AckAll"}, {AckLeader, "AckLeader"}, {AckNone, "AckNone"}, {Acks(200), "Acks(200)"},
		{ResetEarliest, "ResetEarliest"}, {ResetLatest, "ResetLatest"}, {ResetNone, "ResetNone"}, {OffsetReset(3), "OffsetReset(3)"},
		{GroupEmpty, "Empty"}, {GroupStable, "Stable"}, {GroupReconciling, "Reconciling"}, {GroupState(255), "GroupState(255)"},
		{CodecNone, "none"}, {CodecGzip, "gzip"}, {CodecSnappy, "snappy"}, {CodecLZ4, "lz4"}, {CodecZstd, "zstd"},
	} {
		require.Equal(t, tc.want, tc.got.String())
	}
	for c := CleanupDelete; c <= CleanupCompactDelete; c++ {
		got, err := parseCleanupPolicy(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	_, err := parseCleanupPolicy(CleanupPolicy(3).String())
	require.Error(t, err)
}
