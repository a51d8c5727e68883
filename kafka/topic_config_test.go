package kafka

import (
	"reflect"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
)

func TestTopicConfigRoundTrip(t *testing.T) {
	for _, cfg := range []commitlog.TopicConfig{
		{},
		{
			SegmentBytes: 1 << 20, SegmentAge: time.Hour, IndexIntervalBytes: 8192, SegmentIndexBytes: 1 << 20,
			MaxBatchBytes: 3 << 20, Compression: commitlog.CodecGzip, CompressionLevel: 5, LogAppendTime: true,
			CleanupPolicy: commitlog.CleanupCompactDelete, DeleteRetention: 2 * time.Hour, MinCompactionLag: time.Minute,
			MaxCompactionLag: 3 * time.Hour, MinCleanableDirtyRatio: 0.25, Retention: 48 * time.Hour,
			RetentionBytes: 1 << 30, MinInSyncReplicas: 2, UncleanLeaderElection: true,
		},
		{SegmentAge: commitlog.Forever, DeleteRetention: commitlog.Forever, Retention: commitlog.Forever, CleanupPolicy: commitlog.CleanupCompact},
	} {
		configs := topicConfigs(&cfg)
		var got commitlog.TopicConfig
		set := map[string]string{}
		for k, v := range configs {
			applyTopicConfig(&got, k, *v)
			set[k] = *v
		}
		applyCompressionLevel(&got, set)
		if !reflect.DeepEqual(got, cfg) {
			t.Fatalf("round trip through %v:\n got  %+v\n want %+v", set, got, cfg)
		}
	}
	if n := len(topicConfigs(&commitlog.TopicConfig{})); n != 0 {
		t.Fatalf("a zero TopicConfig sets %d configs; zero fields are the cluster's defaults", n)
	}
	m := topicConfigs(&commitlog.TopicConfig{Retention: commitlog.Forever, SegmentAge: commitlog.Forever})
	if *m[keyRetentionMs] != "-1" || *m[keySegmentMs] != "9223372036854775807" {
		t.Fatalf("Forever: retention.ms %s, segment.ms %s", *m[keyRetentionMs], *m[keySegmentMs])
	}
	// Kafka's defaults for what a Log calls "no bound".
	var got commitlog.TopicConfig
	applyTopicConfig(&got, keyRetentionBytes, "-1")
	applyTopicConfig(&got, keyMaxCompactionLagMs, "9223372036854775807")
	applyTopicConfig(&got, "no.such.key", "1")
	applyTopicConfig(&got, keySegmentBytes, "not a number")
	if !reflect.DeepEqual(got, commitlog.TopicConfig{}) {
		t.Fatalf("defaults and junk: %+v", got)
	}
}
