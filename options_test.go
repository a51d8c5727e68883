package commitlog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, (&Options{}).Validate(), "the zero value is valid")
	require.Error(t, (&Options{CompactionMapBytes: 1000}).Validate())
	require.Error(t, (&Options{CompactionDutyCycle: 1.5}).Validate())
	require.NoError(t, (&Options{CompactionDutyCycle: 1}).Validate())
	err := (&Options{Sync: 9, SyncInterval: -1, OffsetsTopicPartitions: -1, TopicDefaults: TopicConfig{Partitions: -1}}).Validate()
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 4, "%v", cerr.Problems)
	require.Contains(t, err.Error(), "TopicDefaults.Partitions")
}

func TestSyncPolicyString(t *testing.T) {
	require.Equal(t, "SyncAlways", SyncAlways.String())
	require.Equal(t, "SyncInterval", SyncInterval.String())
	require.Equal(t, "SyncNever", SyncNever.String())
	require.Equal(t, "SyncPolicy(9)", SyncPolicy(9).String())
}
