package commitlog

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// A topic on disk is its metadata file topics/<name>.json (see topic.go)
// and its partition directories <name>-<id>. The metadata file is the
// commit point of both CreateTopic and DeleteTopic:
//
//   - CreateTopic first makes every partition directory, with its first
//     (empty) segment and its checkpoint, durable, and then writes the
//     metadata file. Partition directories without metadata that hold no
//     data are what an interrupted create leaves, and are removed.
//   - DeleteTopic renames the metadata file to topics/<name>.del (the
//     commit point), removes the partition directories and then the
//     marker. Open finishes a deletion whose marker it finds, and
//     CreateTopic finishes one of the same name before it starts.
//
// So partition directories that hold data without metadata are damage:
// the metadata file was lost. Open refuses them with a *CorruptionError
// (Options.Repair.TopicMetadata recreates the file), never dropping the
// data. Every name fits in 255 bytes, the common file-name limit: a topic
// name has at most 249 characters, partition numbers at most five digits
// (maxPartitions), and the temporary file of an atomic replacement
// replaces the name's extension (writeFileAtomic).
const topicDeletedSuffix = ".del"

// topicFilePath is the metadata file of topic name.
func (l *Log) topicFilePath(name string) string {
	return filepath.Join(l.dir, topicsDir, name+topicFileSuffix)
}

// topicDeletedPath is the marker of an unfinished deletion of topic name.
func (l *Log) topicDeletedPath(name string) string {
	return filepath.Join(l.dir, topicsDir, name+topicDeletedSuffix)
}

// load reads the topic metadata, finishes interrupted creations and
// deletions, and opens every partition.
func (l *Log) load() error {
	tdir := filepath.Join(l.dir, topicsDir)
	ro := l.opts.ReadOnly
	if !ro {
		if err := storage.MkdirAllDurable(l.fs, tdir); err != nil {
			return err
		}
	}
	names, err := l.fs.List(tdir)
	if ro && isNotExist(err) {
		names, err = nil, nil // no topic was ever created
	}
	if err != nil {
		return err
	}
	var deleted []string
	for _, n := range names {
		path := filepath.Join(tdir, n)
		switch {
		case strings.HasSuffix(n, storage.TmpSuffix):
			if ro {
				continue // ignored, in memory
			}
			if err := l.fs.Remove(path); err != nil {
				return err
			}
		case strings.HasSuffix(n, topicDeletedSuffix):
			deleted = append(deleted, strings.TrimSuffix(n, topicDeletedSuffix))
		case strings.HasSuffix(n, topicFileSuffix):
			b, err := storage.ReadFile(l.fs, path)
			if errors.Is(err, storage.ErrFileTooLarge) {
				return &CorruptionError{Path: path, Offset: -1, Reason: "topic metadata " + err.Error()}
			}
			if err != nil {
				return fmt.Errorf("commitlog: read %s: %w", path, err)
			}
			name, cfg, err := unmarshalTopic(path, b)
			if err != nil {
				return err
			}
			l.topics[name] = &Topic{log: l, name: name, cfg: cfg}
		}
	}
	gone := map[string]bool{} // deletions left unfinished, read-only
	for _, name := range deleted {
		if l.topics[name] != nil {
			// CreateTopic finishes a deletion before it writes the new
			// topic's metadata: this marker outlived its work.
			if ro {
				continue
			}
			if err := l.fs.Remove(l.topicDeletedPath(name)); err != nil {
				return err
			}
			continue
		}
		if ro {
			// The topic is deleted: its directories are ignored.
			gone[name] = true
			continue
		}
		l.opts.Logger.Info("finishing an interrupted topic deletion", "topic", name)
		if err := l.finishDeletion(name); err != nil {
			return err
		}
	}
	if err := l.loadOrphans(gone); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(l.topics)) {
		t := l.topics[name]
		for id := int32(0); id < t.cfg.Partitions; id++ {
			if !t.hosted(id) {
				t.partitions = append(t.partitions, nil)
				continue
			}
			dir := filepath.Join(l.dir, partitionDirName(name, id))
			if _, err := l.fs.Stat(dir); err != nil {
				if isNotExist(err) {
					return &CorruptionError{Path: dir, Offset: -1, Reason: "partition directory of topic " + name + " is missing"}
				}
				return err
			}
			p, err := openPartition(l, t, id, false)
			if err != nil {
				return err
			}
			t.partitions = append(t.partitions, p)
		}
	}
	return nil
}

// loadOrphans deals with the partition directories that no topic's
// metadata accounts for: left by an interrupted CreateTopic when they hold
// no data (removed; read-only, ignored), damage otherwise. Those of the
// topics in gone, deleted by an unfinished deletion, are ignored.
func (l *Log) loadOrphans(gone map[string]bool) error {
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return err
	}
	orphans := map[string]*orphanTopic{}
	var empty []string // directories to remove
	for _, e := range entries {
		topic, id, ok := parsePartitionDirName(e)
		if !ok || gone[topic] {
			continue
		}
		t := l.topics[topic]
		if t != nil && id < t.cfg.Partitions {
			continue
		}
		dir := filepath.Join(l.dir, e)
		names, err := l.fs.List(dir)
		if err != nil {
			return err
		}
		held, err := storage.PartitionHoldsData(l.fs, dir, names)
		if err != nil {
			return err
		}
		switch {
		case t != nil && held:
			return &CorruptionError{Path: dir, Offset: -1,
				Reason: fmt.Sprintf("partition directory holds data, but topic %s has %d partitions: restore the topic's metadata from a backup, or remove the directory if its data is not wanted", topic, t.cfg.Partitions)}
		case t != nil:
			empty = append(empty, e)
		default:
			o := orphans[topic]
			if o == nil {
				o = &orphanTopic{name: topic}
				orphans[topic] = o
			}
			o.ids = append(o.ids, id)
			o.data = o.data || held
		}
	}
	for _, name := range slices.Sorted(maps.Keys(orphans)) {
		o := orphans[name]
		slices.Sort(o.ids)
		if !o.data {
			for _, id := range o.ids {
				empty = append(empty, partitionDirName(name, id))
			}
			continue
		}
		if !l.opts.Repair.TopicMetadata {
			return &CorruptionError{Path: l.topicFilePath(name), Offset: -1,
				Reason: fmt.Sprintf("topic metadata file is missing, but %d partition directories of topic %s hold data", len(o.ids), name),
				Remedy: "restore the file from a backup, or open with Options.Repair.TopicMetadata to recreate it with the default settings"}
		}
		cfg, err := l.recreateTopicMetadata(o)
		if err != nil {
			return err
		}
		l.topics[name] = &Topic{log: l, name: name, cfg: cfg}
	}
	if l.opts.ReadOnly {
		return nil // the empty directories are ignored
	}
	for _, e := range empty {
		topic, id, _ := parsePartitionDirName(e)
		l.opts.Logger.Warn("removing an empty partition directory left by an interrupted topic creation", "topic", topic, "partition", id, "dir", e)
		if err := l.fs.RemoveAll(filepath.Join(l.dir, e)); err != nil {
			return err
		}
	}
	if len(empty) > 0 {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

// finishDeletion removes every partition directory of topic name and
// then its deletion marker, durably.
func (l *Log) finishDeletion(name string) error {
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if topic, _, ok := parsePartitionDirName(e); ok && topic == name {
			if err := l.fs.RemoveAll(filepath.Join(l.dir, e)); err != nil {
				return err
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	if err := l.fs.Remove(l.topicDeletedPath(name)); err != nil && !isNotExist(err) {
		return err
	}
	return l.fs.SyncDir(filepath.Join(l.dir, topicsDir))
}

// prepareTopic makes t's partition directories and opens its partitions,
// each with its first segment and checkpoint durable, before the metadata
// file (the commit point) is written. REQUIRES: adminMu.
func (l *Log) prepareTopic(t *Topic) error {
	if _, err := l.fs.Stat(l.topicDeletedPath(t.name)); err == nil {
		if err := l.finishDeletion(t.name); err != nil {
			return err
		}
	} else if !isNotExist(err) {
		return err
	}
	for id := int32(0); id < t.cfg.Partitions; id++ {
		if !t.hosted(id) {
			continue
		}
		dir := filepath.Join(l.dir, partitionDirName(t.name, id))
		if err := l.fs.RemoveAll(dir); err != nil {
			return err
		}
		if err := l.fs.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	for id := int32(0); id < t.cfg.Partitions; id++ {
		if !t.hosted(id) {
			t.partitions = append(t.partitions, nil)
			continue
		}
		p, err := openPartition(l, t, id, true)
		if err != nil {
			return err
		}
		t.partitions = append(t.partitions, p)
	}
	return nil
}

// abandonTopic undoes a CreateTopic that failed: it releases the
// partitions prepareTopic opened and removes everything of t from disk,
// metadata file first. If the removal fails too, what remains is what an
// interrupted create leaves, which Open removes. REQUIRES: adminMu.
func (l *Log) abandonTopic(t *Topic) error {
	for _, p := range t.partitions {
		if p != nil {
			if l.repl != nil {
				l.repl.detach(p)
			}
			p.shut(ErrClosed)
		}
	}
	t.partitions = nil
	var errs []error
	if err := l.fs.Remove(l.topicFilePath(t.name)); err == nil {
		errs = append(errs, l.fs.SyncDir(filepath.Join(l.dir, topicsDir)))
	} else if !isNotExist(err) {
		errs = append(errs, err)
	}
	for id := int32(0); id < t.cfg.Partitions; id++ {
		errs = append(errs, l.fs.RemoveAll(filepath.Join(l.dir, partitionDirName(t.name, id))))
	}
	errs = append(errs, l.fs.SyncDir(l.dir))
	return errors.Join(errs...)
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
