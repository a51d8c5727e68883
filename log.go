package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog/internal/metrics"
	"github.com/commitlog-go/commitlog/internal/storage"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Log is a directory of topics. Open one with Open and Close it when done.
// A Log is safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	fs   vfs.FS
	lock io.Closer

	// adminMu serializes topic creation and deletion and Close.
	//
	// Lock order, everywhere: adminMu, then the group coordinator's
	// commitMu, then its mu, then mu here, then a partition's locks
	// (its storage.PartitionLog's: syncSem, then the append lock mu,
	// then the waiters' waitMu). So a commit that needs
	// __consumer_offsets creates it before it takes commitMu, and
	// DeleteTopic may take commitMu to forget the topic's offsets.
	adminMu sync.Mutex
	// mu guards topics and closed for lookups.
	mu     sync.RWMutex
	topics map[string]*Topic
	closed bool

	// pidMu guards the block of producer ids being handed out
	// [pidNext, pidLimit) (see newProducerID). pidFloor is above every id
	// the partitions remembered at Open.
	pidMu             sync.Mutex
	pidNext, pidLimit int64
	pidFloor          int64

	// offsets holds consumer groups' committed offsets and groups is the
	// consumer-group coordinator.
	offsets *offsetStore
	groups  *coordinator

	// repl is the node's replication, nil on a single-node Log (see
	// replication.go).
	repl *replicator

	// hooks are Options.Hooks split by interface (hooks.go);
	// syncLatency counts every partition's fsync rounds, and recovery
	// sums what Open recovered (written only by Open) (stats.go).
	hooks       hookSet
	syncLatency metrics.Histogram
	recovery    RecoveryStats

	// The deleter removes the files of segments retention deleted (see
	// retention.go). delMu guards the queue and closed flag; delIdle is
	// signalled when the queue has been worked off.
	delMu      sync.Mutex
	delQueue   []func()
	delPending int // queued or being worked on
	delClosed  bool
	delWake    chan struct{}
	delIdle    *sync.Cond

	// cleanWake wakes the cleaner goroutine, which compacts the
	// partitions that are due (see compaction.go).
	cleanWake chan struct{}

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the scheduler goroutine
}

const lockFileName = "LOCK"

// Open opens the Log in dir, creating the directory if needed, and
// recovers every partition (see the package documentation on durability).
// opts may be nil for defaults; Open copies it and never modifies it.
//
// Only one Log may have a directory open at a time. A second Open of it in
// this process returns an error matching ErrLocked, and so does one in
// another process on Unix systems other than AIX (the lock is flock(2) on
// dir/LOCK) and on Windows (LockFileEx). On AIX, Plan 9, js/wasm and wasip1
// the lock holds only within the process: Open cannot tell that another
// process has the directory open, so the application must make sure none
// does.
//
// Open cuts only the torn tail an interrupted write leaves past the last
// checkpoint (and logs the cut), and rebuilds indexes and producer-state
// snapshots that disagree with the data. Any other damage makes it fail
// with a *CorruptionError (matching ErrCorrupt) naming the file and
// position; Options.Repair repairs some kinds of it on request.
//
// With Options.ReadOnly, Open writes nothing (see ReadOnly): the directory
// and its lock file must exist.
//
// Errors: *ConfigError for invalid opts, ErrLocked, *CorruptionError,
// *ReadOnlyError (read-only, for a directory only a read-write Open can
// recover), or a file-system error (matching os.ErrNotExist, read-only,
// for a missing directory or lock file).
func Open(dir string, opts *Options) (*Log, error) {
	if opts != nil {
		if err := opts.Validate(); err != nil {
			return nil, err
		}
	}
	o := opts.withDefaults()
	if o.ReadOnly {
		o.fs = vfs.ReadOnly(o.fs)
	}
	start := o.now()
	fs := o.fs
	if o.ReadOnly {
		if _, err := fs.Stat(dir); err != nil {
			return nil, annotate(err, "open %s read-only", dir)
		}
	} else if err := storage.MkdirAllDurable(fs, dir); err != nil {
		return nil, annotate(err, "open %s", dir)
	}
	lockPath := filepath.Join(dir, lockFileName)
	lock, err := fs.Lock(lockPath)
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("%w: %s: %w", ErrLocked, dir, err)
		}
		if o.ReadOnly && isNotExist(err) {
			return nil, fmt.Errorf("commitlog: open %s read-only: %s is missing: not a Log's directory, or one never opened read-write (a read-only Open creates nothing): %w",
				dir, lockPath, err)
		}
		return nil, fmt.Errorf("commitlog: lock %s: %w", dir, err)
	}
	l := &Log{dir: dir, opts: o, fs: fs, lock: lock, topics: map[string]*Topic{},
		delWake: make(chan struct{}, 1), cleanWake: make(chan struct{}, 1)}
	l.delIdle = sync.NewCond(&l.delMu)
	l.hooks = newHookSet(o.Hooks)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.offsets = newOffsetStore(l)
	l.groups = newCoordinator(l, l.offsets)
	if o.Controller != nil {
		l.repl = newReplicator(l)
	}
	err = l.load()
	if err == nil {
		err = l.loadProducerIDs()
	}
	if err == nil {
		err = l.offsets.load()
	}
	if err == nil {
		// Offsets of topics deleted by an interrupted DeleteTopic.
		var held heldEvents
		err = l.offsets.forgetTopics(l.ctx, func(t string) bool { return l.topics[t] == nil }, &held)
		held.report()
	}
	if err == nil && l.repl != nil {
		if err = l.repl.start(l.ctx); err != nil {
			l.repl.stop()
		}
	}
	if err != nil {
		l.closeTopics()
		lock.Close()
		return nil, err
	}
	l.recovery.Duration = o.now().Sub(start)
	l.logOpened()
	if !o.ReadOnly {
		l.wg.Go(l.runScheduler)
		l.wg.Go(l.runDeleter)
		l.wg.Go(l.runCleaner)
	}
	return l, nil
}

// openPartition opens and recovers partition id of t, whose directory
// exists. creating says the partition is new, made by CreateTopic: its
// first checkpoint must be written (an existing partition opens without a
// new one when there is no space for it).
func openPartition(l *Log, t *Topic, id int32, creating bool) (*Partition, error) {
	p := &Partition{topic: t, id: id, log: l, cfg: t.cfg}
	store, err := storage.Open(l.storageConfig(t, id, p.wakeAll), creating)
	if err != nil {
		return nil, annotate(err, "open %s-%d", t.name, id)
	}
	p.store = store
	if !creating {
		l.recovered(t.name, id, store.Recovery())
	}
	if l.repl != nil {
		l.repl.attach(p)
	}
	return p, nil
}

// storageConfig is what partition id of topic t needs of the Log and the
// topic's configuration; wake is the partition's waiters' notification.
func (l *Log) storageConfig(t *Topic, id int32, wake func() bool) storage.Config {
	c := t.cfg
	return storage.Config{
		FS:        l.fs,
		Dir:       filepath.Join(l.dir, partitionDirName(t.name, id)),
		Topic:     t.name,
		Partition: id,

		SegmentBytes:       c.SegmentBytes,
		SegmentAge:         c.SegmentAge,
		IndexIntervalBytes: c.IndexIntervalBytes,
		SegmentIndexBytes:  c.SegmentIndexBytes,
		MaxBatchBytes:      c.MaxBatchBytes,
		LogAppendTime:      c.LogAppendTime,

		Compacted:              c.CleanupPolicy.compacted(),
		RetentionDeletes:       c.CleanupPolicy != CleanupCompact,
		DeleteRetention:        c.DeleteRetention,
		MinCompactionLag:       c.MinCompactionLag,
		MaxCompactionLag:       c.MaxCompactionLag,
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
		Retention:              c.Retention,
		RetentionBytes:         c.RetentionBytes,

		SyncAlways:           l.opts.Sync == SyncAlways,
		ProducerIDExpiration: l.opts.ProducerIDExpiration,
		CompactionMapBytes:   l.opts.CompactionMapBytes,
		CompactionDutyCycle:  l.opts.CompactionDutyCycle,
		RepairCheckpoints:    l.opts.Repair.Checkpoints,
		ReadOnly:             l.opts.ReadOnly,

		Now:    l.opts.now,
		Logger: l.opts.Logger,

		Replicated: l.repl != nil,

		OnHighWatermark: wake,
		Discard:         l.deleteLater,
		AppendedEnds:    l.appendedEnds,
		Closing:         l.ctx.Done(),
		Events:          l.hooks.storageEvents(t.name, id),
		SyncLatency:     &l.syncLatency,
	}
}

// Dir returns the Log's directory.
func (l *Log) Dir() string { return l.dir }

// CreateTopic creates a topic and returns it. Each zero field of cfg takes
// its value from Options.TopicDefaults, or failing that from the default
// documented on the field; the result is stored with the topic. The topic
// is durable when CreateTopic returns. On failure nothing of the topic is
// left (or, if removing what it made fails too, the next Open removes it).
//
// Errors: *TopicNameError (also for names starting with "__", which are
// reserved for internal topics), *ConfigError, ErrTopicExists, ErrClosed,
// the context's error, or a file-system error (matching ErrDiskFull when
// the disk is full).
func (l *Log) CreateTopic(ctx context.Context, name string, cfg TopicConfig) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	return l.createTopic(ctx, name, cfg)
}

func (l *Log) createTopic(ctx context.Context, name string, cfg TopicConfig) (*Topic, error) {
	if err := l.refuseReadOnly("CreateTopic " + name); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.resolve(l.opts.TopicDefaults)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if l.repl != nil {
		return l.repl.createTopic(ctx, name, cfg)
	}
	if cfg.ReplicationFactor > 1 || cfg.Replicas != nil {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf(
			"ReplicationFactor: %d replicas (or an explicit Replicas assignment) need a replicated Log: open it with Options.Controller and Options.Transport",
			cfg.ReplicationFactor)}}
	}
	return l.createLocalTopic(ctx, name, cfg)
}

// createLocalTopic creates the topic's files and the partitions this node
// holds, with cfg resolved and valid.
func (l *Log) createLocalTopic(ctx context.Context, name string, cfg TopicConfig) (*Topic, error) {
	defer l.groups.deliverRebalances() // once adminMu is released
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	closed, exists := l.closed, l.topics[name] != nil
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if exists {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	// Partition directories and partitions first, then the metadata
	// file: the commit point (see topic_files.go).
	t := &Topic{log: l, name: name, cfg: cfg}
	err := l.prepareTopic(t)
	if err == nil {
		err = storage.WriteFileAtomic(l.fs, l.topicFilePath(name), marshalTopic(name, cfg))
	}
	if err != nil {
		err = fmt.Errorf("commitlog: create topic %s: %w", name, err)
		if uerr := l.abandonTopic(t); uerr != nil {
			err = fmt.Errorf("%w (and removing what it made failed too: %w; the next Open removes it)", err, uerr)
		}
		return nil, storage.DiskFull(err)
	}
	l.mu.Lock()
	l.topics[name] = t
	l.mu.Unlock()
	if l.groups != nil {
		l.groups.topicCreated(name)
	}
	return t, nil
}

// Topic returns the named topic, internal ones included, or an error
// matching ErrUnknownTopic (ErrClosed after Close).
func (l *Log) Topic(name string) (*Topic, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	t := l.topics[name]
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	return t, nil
}

// isClosed reports whether Close has been called.
func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// partition returns the partition tp names.
func (l *Log) partition(tp TopicPartition) (*Partition, error) {
	t, err := l.Topic(tp.Topic)
	if err != nil {
		return nil, err
	}
	return t.Partition(tp.Partition)
}

// Topics returns the names of the topics, sorted. Internal topics (names
// starting with "__", such as __consumer_offsets) are not listed; see
// InternalTopics.
func (l *Log) Topics() []string { return l.topicNames(false) }

// InternalTopics returns the names of the internal topics that exist,
// sorted: __consumer_offsets once a consumer group has committed. They can
// be read like any topic, but only the Log writes to them.
func (l *Log) InternalTopics() []string { return l.topicNames(true) }

func (l *Log) topicNames(internal bool) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	names := make([]string, 0, len(l.topics))
	for n := range l.topics {
		if strings.HasPrefix(n, "__") == internal {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// DeleteTopic deletes a topic and all its data, and consumer groups'
// committed offsets for it (as Kafka does), so a topic created later under
// the same name starts afresh. The deletion is durable when DeleteTopic
// returns. Handles to the topic's partitions fail with ErrUnknownTopic
// afterwards, and group members lose its partitions (OnLost).
//
// Errors: ErrUnknownTopic, ErrInvalidArgument for an internal topic,
// ErrClosed, the context's error, or a file-system error (matching
// ErrDiskFull when the disk is full).
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if strings.HasPrefix(name, "__") {
		return fmt.Errorf("%w: topic %s is internal and cannot be deleted", ErrInvalidArgument, name)
	}
	if err := l.refuseReadOnly("DeleteTopic " + name); err != nil {
		return err
	}
	if l.repl != nil {
		return l.repl.deleteTopic(ctx, name)
	}
	return l.deleteLocalTopic(ctx, name)
}

// deleteLocalTopic deletes the topic's files and partitions on this node.
func (l *Log) deleteLocalTopic(ctx context.Context, name string) error {
	defer l.groups.deliverRebalances() // once adminMu is released
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	t := l.topics[name]
	if t == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	// The commit point: the metadata file becomes the deletion marker
	// (see topic_files.go). Until it is renamed the topic stays whole.
	if err := l.fs.Rename(l.topicFilePath(name), l.topicDeletedPath(name)); err != nil {
		l.mu.Unlock()
		return storage.DiskFull(fmt.Errorf("commitlog: delete topic %s: %w", name, err))
	}
	delete(l.topics, name)
	l.mu.Unlock()
	for _, p := range t.partitions {
		if p == nil {
			continue
		}
		if l.repl != nil {
			l.repl.detach(p)
		}
		p.shut(fmt.Errorf("%w: %s was deleted", ErrUnknownTopic, name))
	}
	l.groups.topicDeleted(name)
	if err := l.fs.SyncDir(filepath.Join(l.dir, topicsDir)); err != nil {
		return storage.DiskFull(fmt.Errorf("commitlog: delete topic %s: %w", name, err))
	}
	if err := l.finishDeletion(name); err != nil {
		return storage.DiskFull(fmt.Errorf("commitlog: delete topic %s (Open finishes the deletion): %w", name, err))
	}
	// Committed offsets go last; if this is interrupted, Open finishes it.
	return storage.DiskFull(l.groups.forgetTopic(ctx, name))
}

// Close flushes every partition, writes checkpoints so that the next Open
// needs no recovery scan, stops the Log's goroutines and releases the
// directory. It is idempotent. Calls that can fail return ErrClosed once
// Close has been called; calls in flight finish or fail with ErrClosed.
// An iterator still running keeps the segment it reads open until it
// ends.
func (l *Log) Close() error {
	if l.repl != nil {
		// Before adminMu: the replicator's metadata loop may be waiting
		// for it.
		l.repl.stop()
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.groups.close()
	l.cancel()
	l.wg.Wait()
	err := l.closeTopics()
	return errors.Join(err, l.lock.Close())
}

func (l *Log) closeTopics() error {
	var errs []error
	for _, t := range l.topics {
		for _, p := range t.partitions {
			if p != nil {
				errs = append(errs, storage.DiskFull(p.close()))
			}
		}
	}
	return errors.Join(errs...)
}

// partitions returns every partition of every topic.
func (l *Log) allPartitions() []*Partition {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var ps []*Partition
	for _, t := range l.topics {
		for _, p := range t.partitions {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// runScheduler is the Log's one background goroutine: it fsyncs under
// SyncInterval, writes recovery checkpoints, enforces retention, and rolls
// segments that have reached their age even when no append arrives.
func (l *Log) runScheduler() {
	period := l.opts.CheckpointInterval
	if l.opts.Sync == SyncInterval {
		period = min(period, l.opts.SyncInterval)
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	lastCheckpoint := time.Now()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-ticker.C:
		}
		checkpoint := time.Since(lastCheckpoint) >= l.opts.CheckpointInterval
		if checkpoint {
			lastCheckpoint = time.Now()
		}
		l.tick(checkpoint)
	}
}

// tick runs one round of background work over every partition.
func (l *Log) tick(checkpoint bool) {
	now := l.opts.now()
	for _, p := range l.allPartitions() {
		if err := p.store.RollIfAged(now); err != nil {
			l.opts.Logger.Warn("age-based roll failed", "topic", p.topic.name, "partition", p.id, "err", err)
		}
		var err error
		switch {
		case checkpoint:
			p.store.ExpireProducers(now.UnixMilli())
			err = p.store.EnforceRetention(l.ctx, now)
			if err == nil {
				err = p.store.Checkpoint(l.ctx)
			}
			if p.cfg.CleanupPolicy.compacted() {
				select {
				case l.cleanWake <- struct{}{}:
				default:
				}
			}
		case l.opts.Sync == SyncInterval:
			err = p.store.Flush(l.ctx)
		}
		if err != nil && l.ctx.Err() == nil && !errors.Is(err, ErrDurability) && !errors.Is(err, ErrClosed) {
			l.opts.Logger.Warn("background flush failed", "topic", p.topic.name, "partition", p.id, "err", err)
		}
	}
}

func timeFromMillis(ms int64) time.Time { return time.UnixMilli(ms) }
