package kafka

import (
	"math"
	"strconv"
	"time"

	"github.com/commitlog-go/commitlog"
)

// Kafka's topic configuration keys, for the commitlog.TopicConfig fields
// that have one.
const (
	keySegmentBytes        = "segment.bytes"
	keySegmentMs           = "segment.ms"
	keyIndexInterval       = "index.interval.bytes"
	keySegmentIndexBytes   = "segment.index.bytes"
	keyMaxMessageBytes     = "max.message.bytes"
	keyCompressionType     = "compression.type"
	keyTimestampType       = "message.timestamp.type"
	keyCleanupPolicy       = "cleanup.policy"
	keyDeleteRetentionMs   = "delete.retention.ms"
	keyMinCompactionLagMs  = "min.compaction.lag.ms"
	keyMaxCompactionLagMs  = "max.compaction.lag.ms"
	keyMinCleanableRatio   = "min.cleanable.dirty.ratio"
	keyRetentionMs         = "retention.ms"
	keyRetentionBytes      = "retention.bytes"
	keyMinInsyncReplicas   = "min.insync.replicas"
	keyUncleanLeaderElect  = "unclean.leader.election.enable"
	logAppendTime          = "LogAppendTime"
	kafkaForeverMs         = math.MaxInt64 // segment.ms and delete.retention.ms have no -1
	compressionLevelSuffix = ".level"      // compression.gzip.level etc. (KIP-390)
)

// codecNames are Kafka's compression.type values.
var codecNames = map[commitlog.Codec]string{
	commitlog.CodecGzip:   "gzip",
	commitlog.CodecSnappy: "snappy",
	commitlog.CodecLZ4:    "lz4",
	commitlog.CodecZstd:   "zstd",
}

// topicConfigs returns the Kafka configuration for the non-zero fields of
// cfg; zero fields are left to the cluster's defaults.
func topicConfigs(cfg *commitlog.TopicConfig) map[string]*string {
	m := map[string]*string{}
	set := func(k, v string) { m[k] = &v }
	setInt := func(k string, v int64) {
		if v != 0 {
			set(k, strconv.FormatInt(v, 10))
		}
	}
	setMs := func(k string, d time.Duration, forever int64) {
		switch {
		case d == commitlog.Forever:
			set(k, strconv.FormatInt(forever, 10))
		case d != 0:
			set(k, strconv.FormatInt(d.Milliseconds(), 10))
		}
	}
	setInt(keySegmentBytes, cfg.SegmentBytes)
	setMs(keySegmentMs, cfg.SegmentAge, kafkaForeverMs)
	setInt(keyIndexInterval, int64(cfg.IndexIntervalBytes))
	setInt(keySegmentIndexBytes, int64(cfg.SegmentIndexBytes))
	setInt(keyMaxMessageBytes, int64(cfg.MaxBatchBytes))
	if name, ok := codecNames[cfg.Compression]; ok {
		set(keyCompressionType, name)
		if cfg.CompressionLevel != 0 {
			set("compression."+name+compressionLevelSuffix, strconv.Itoa(cfg.CompressionLevel))
		}
	}
	if cfg.LogAppendTime {
		set(keyTimestampType, logAppendTime)
	}
	if cfg.CleanupPolicy != commitlog.CleanupDelete {
		set(keyCleanupPolicy, cfg.CleanupPolicy.String())
	}
	setMs(keyDeleteRetentionMs, cfg.DeleteRetention, kafkaForeverMs)
	setMs(keyMinCompactionLagMs, cfg.MinCompactionLag, kafkaForeverMs)
	setMs(keyMaxCompactionLagMs, cfg.MaxCompactionLag, kafkaForeverMs)
	if cfg.MinCleanableDirtyRatio != 0 {
		set(keyMinCleanableRatio, strconv.FormatFloat(cfg.MinCleanableDirtyRatio, 'g', -1, 64))
	}
	setMs(keyRetentionMs, cfg.Retention, -1)
	setInt(keyRetentionBytes, cfg.RetentionBytes)
	setInt(keyMinInsyncReplicas, int64(cfg.MinInSyncReplicas))
	if cfg.UncleanLeaderElection {
		set(keyUncleanLeaderElect, "true")
	}
	return m
}

// applyTopicConfig sets the field of cfg that Kafka's key k configures to
// v, and ignores keys without a field and values it cannot parse.
func applyTopicConfig(cfg *commitlog.TopicConfig, k, v string) {
	i, ierr := strconv.ParseInt(v, 10, 64)
	ms := func(forever int64) time.Duration {
		if i == forever || i < 0 || i > math.MaxInt64/int64(time.Millisecond) {
			return commitlog.Forever
		}
		return time.Duration(i) * time.Millisecond
	}
	switch k {
	case keySegmentBytes:
		if ierr == nil {
			cfg.SegmentBytes = i
		}
	case keySegmentMs:
		if ierr == nil {
			cfg.SegmentAge = ms(kafkaForeverMs)
		}
	case keyIndexInterval:
		if ierr == nil {
			cfg.IndexIntervalBytes = int32(i)
		}
	case keySegmentIndexBytes:
		if ierr == nil {
			cfg.SegmentIndexBytes = int32(i)
		}
	case keyMaxMessageBytes:
		if ierr == nil {
			cfg.MaxBatchBytes = int32(i)
		}
	case keyCompressionType:
		for c, name := range codecNames {
			if name == v {
				cfg.Compression = c
			}
		}
	case keyTimestampType:
		cfg.LogAppendTime = v == logAppendTime
	case keyCleanupPolicy:
		for _, p := range []commitlog.CleanupPolicy{commitlog.CleanupDelete, commitlog.CleanupCompact, commitlog.CleanupCompactDelete} {
			if p.String() == v || (p == commitlog.CleanupCompactDelete && v == "delete,compact") {
				cfg.CleanupPolicy = p
			}
		}
	case keyDeleteRetentionMs:
		if ierr == nil {
			cfg.DeleteRetention = ms(kafkaForeverMs)
		}
	case keyMinCompactionLagMs:
		if ierr == nil {
			cfg.MinCompactionLag = ms(kafkaForeverMs)
		}
	case keyMaxCompactionLagMs:
		if ierr == nil && i != kafkaForeverMs {
			cfg.MaxCompactionLag = ms(kafkaForeverMs)
		}
	case keyMinCleanableRatio:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			cfg.MinCleanableDirtyRatio = f
		}
	case keyRetentionMs:
		if ierr == nil {
			cfg.Retention = ms(-1)
		}
	case keyRetentionBytes:
		if ierr == nil && i > 0 {
			cfg.RetentionBytes = i
		}
	case keyMinInsyncReplicas:
		if ierr == nil {
			cfg.MinInSyncReplicas = int16(i)
		}
	case keyUncleanLeaderElect:
		cfg.UncleanLeaderElection = v == "true"
	}
}

// applyCompressionLevel sets cfg.CompressionLevel from the
// compression.<codec>.level key of cfg's codec, once the codec is known.
func applyCompressionLevel(cfg *commitlog.TopicConfig, configs map[string]string) {
	name, ok := codecNames[cfg.Compression]
	if !ok {
		return
	}
	if v, ok := configs["compression."+name+compressionLevelSuffix]; ok {
		if l, err := strconv.Atoi(v); err == nil {
			cfg.CompressionLevel = l
		}
	}
}
