package commitlog

import (
	"fmt"
	"path/filepath"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// RepairOptions lets Open repair damage that it otherwise refuses with a
// *CorruptionError, because the repair cannot restore what was lost. Each
// field names one kind of damage; a repair is logged at Warn with what it
// did. Leave them off unless an Open has failed and the error named the
// option: a repaired Log is readable, not whole.
type RepairOptions struct {
	// TopicMetadata recreates the metadata file of a topic whose
	// partition directories hold data but whose topics/<name>.json is
	// missing. The topic gets as many partitions as it has directories
	// (which must be numbered from 0 without gaps) and every other setting
	// from Options.TopicDefaults: the settings it was created with are
	// lost, its cleanup policy and retention included. Check them with
	// Topic.Config afterwards.
	TopicMetadata bool

	// Checkpoints rescans a partition whose checkpoint file is missing or
	// damaged from its first segment. The checkpoint records the log start
	// offset; without it the partition starts at its first segment's base
	// offset, so records that DeleteRecords (or retention inside that
	// segment) had removed are readable again.
	Checkpoints bool

	// ProducerIDs recreates a missing or damaged producer-ids file. The
	// next producer id is then taken above every id the partitions'
	// idempotence state remembers, so no remembered producer's id is
	// handed out again; ids of producers every partition has forgotten
	// (ProducerIDExpiration) may be.
	ProducerIDs bool
}

// orphanTopic is a topic whose partition directories exist without its
// metadata file.
type orphanTopic struct {
	name string
	ids  []int32 // partition numbers found, sorted
	data bool    // some partition holds data
}

// recreateTopicMetadata writes the metadata of an orphaned topic from the
// defaults, as Options.Repair.TopicMetadata asks. REQUIRES: Open, before
// the topics are loaded into partitions.
func (l *Log) recreateTopicMetadata(o *orphanTopic) (TopicConfig, error) {
	for i, id := range o.ids {
		if id != int32(i) {
			return TopicConfig{}, &CorruptionError{Path: filepath.Join(l.dir, partitionDirName(o.name, int32(i))), Offset: -1,
				Reason: fmt.Sprintf("topic %s has no metadata file, and its partition directories are not numbered from 0 without gaps (found %v): the metadata cannot be recreated", o.name, o.ids)}
		}
	}
	cfg := TopicConfig{Partitions: int32(len(o.ids))}.resolve(l.opts.TopicDefaults)
	if err := cfg.Validate(); err != nil {
		return TopicConfig{}, err
	}
	path := filepath.Join(l.dir, topicsDir, o.name+topicFileSuffix)
	if l.opts.ReadOnly {
		l.opts.Logger.Warn("recreated the metadata of a topic whose partition directories hold data, in memory only (read-only; Options.Repair.TopicMetadata); its settings are the defaults",
			"topic", o.name, "partitions", cfg.Partitions)
		return cfg, nil
	}
	if err := storage.WriteFileAtomic(l.fs, path, marshalTopic(o.name, cfg)); err != nil {
		return TopicConfig{}, fmt.Errorf("commitlog: recreate %s: %w", path, err)
	}
	l.opts.Logger.Warn("recreated the metadata of a topic whose partition directories hold data (Options.Repair.TopicMetadata); its settings are the defaults",
		"topic", o.name, "partitions", cfg.Partitions, "cleanup_policy", cfg.CleanupPolicy.String(), "retention", cfg.Retention.String())
	return cfg, nil
}
