package commitlog

import (
	"fmt"
	"time"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// Hook is a value that observes a Log's events: anything implementing one
// or more of the hook interfaces below (AppendHook, SyncHook, RollHook,
// RetentionHook, CompactionHook, RebalanceHook, CommitHook,
// RecoveryHook). Give hooks to Open in Options.Hooks. Open finds which
// interfaces each implements, once: the Log calls a hook only for those,
// and an event no hook observes costs nothing but a length check. A new
// kind of event comes as a new interface, never as a new method of an
// existing one, so hooks written today keep compiling.
//
// Every hook method is called synchronously, on the goroutine that did
// the work (an appender's, an fsync round's leader, the Log's scheduler
// or cleaner, a consumer's Poll or Close, the group coordinator's
// liveness timer, Open's), after the work and, but for the cases below,
// with none of the Log's locks held, so a hook may call the Log's methods
// (Stats, DescribeGroup, even Append or a Consumer's commit) without
// deadlocking. The exceptions, and what a hook must therefore not call:
//
//   - Events caused by CreateTopic, DeleteTopic and Close (the new
//     partitions' first fsync rounds, the deletion of the topic's
//     committed offsets, Close's last fsync rounds) are reported while
//     the lock serializing those three is held: a hook must not call
//     CreateTopic, DeleteTopic or Close. (Close also waits for the
//     Log's goroutines, some of which call hooks.)
//   - On a replicated Log, a follower's appends of its leader's batches,
//     its truncations and log restarts, and the rolls and fsync rounds
//     they cause, are reported while the partition's replica lock is
//     held (it serializes them with changes of role), which
//     Log.ReplicaStatus takes: a hook must not call ReplicaStatus.
//
// A hook runs on the path of the work it observes — an
// append waits for OnAppend, every appender in an fsync round for
// OnSync — so it must be fast: count, or hand the event to a goroutine
// of its own, and never block or do I/O. Hooks are called from many
// goroutines at once, for different partitions and for the same one, so
// they must be safe for concurrent use. A hook must not panic: the panic
// unwinds the Log's goroutine that called it. The info structs are passed
// by value and hold nothing the Log reuses: a hook may keep them. With
// several hooks, each event goes to them in the order of Options.Hooks.
type Hook any

// AppendHook observes appends: every batch a partition writes, on a
// leader (Partition.Append, AppendIf, a Producer's batches, the Log's
// own commits to __consumer_offsets) and on a follower (batches
// replicated from the leader, Follower set).
//
// OnAppend is called on the appending goroutine once the batch is
// written and has its offsets, and before the append waits for its
// acknowledgement: under SyncAlways for the fsync round that makes it
// durable (reported to SyncHook), on a replicated partition under AckAll
// for the in-sync replicas. An append whose acknowledgement then fails
// has been reported all the same, with the offsets it was written at. A
// retried batch of an idempotent producer that the partition recognises
// as a duplicate writes nothing and is not reported.
type AppendHook interface{ OnAppend(AppendInfo) }

// AppendInfo describes one append.
type AppendInfo struct {
	Topic     string
	Partition int32
	// BaseOffset is the offset of the first record written, LastOffset
	// that of the last.
	BaseOffset, LastOffset int64
	// Batches is the number of batches written (1 on a leader; a
	// follower appends what one fetch brought), Records their records
	// and Bytes their size in the log, in Kafka's batch format (records
	// compressed, headers included).
	Batches, Records, Bytes int
	// Follower says the batches were replicated from the partition's
	// leader.
	Follower bool
}

// SyncHook observes fsync rounds: the fsyncs that make a partition's
// writes durable, shared by every append waiting for them under
// SyncAlways (group commit), and those of flushes under SyncInterval, of
// checkpoints and of Close.
//
// OnSync is called once per round that fsynced anything, successful or
// not, by the goroutine that ran it (an appender leading the round, or
// the Log's scheduler), after the round, before the appenders it covered
// are released.
type SyncHook interface{ OnSync(SyncInfo) }

// SyncInfo describes one fsync round.
type SyncInfo struct {
	Topic     string
	Partition int32
	// Duration is the time from before the round's first fsync to after
	// its last, on the Log's clock: what the appenders it covers waited
	// for the disk. LogStats.Fsync counts the same durations.
	Duration time.Duration
	// Files is the number of fsyncs the round ran: data files, the index
	// files of segments sealed since the last round, and the partition's
	// directory when files were created.
	Files int
	// DurableOffset is the partition's durable end after the round
	// (Partition.DurableOffset): every record below it is on disk.
	DurableOffset int64
	// Err is the error that failed the round, and with it the partition
	// (a *DurabilityError; see the package documentation on durability);
	// nil for a round that succeeded.
	Err error
}

// RollHook observes rolls: a partition sealing its active segment and
// starting a new one. OnRoll is called once the new segment is in place,
// on the goroutine that rolled: an appender whose batch did not fit, or
// the Log's scheduler (a segment reaching SegmentAge, retention rolling
// an expired segment).
type RollHook interface{ OnRoll(RollInfo) }

// RollReason says why a segment rolled.
type RollReason string

const (
	// RollSize: the next batch would take the segment past
	// TopicConfig.SegmentBytes.
	RollSize RollReason = "size"
	// RollIndex: one of the segment's indexes is full
	// (TopicConfig.SegmentIndexBytes), or the next batch's offsets are
	// more than 2^31-1 past the segment's base.
	RollIndex RollReason = "index"
	// RollAge: the segment reached TopicConfig.SegmentAge (or, on a
	// compacted topic, a shorter MaxCompactionLag), at an append or at
	// the scheduler's idle check.
	RollAge RollReason = "age"
	// RollRetention: retention rolled the active segment, all of whose
	// records had expired, so that it could be deleted.
	RollRetention RollReason = "retention"
)

// RollInfo describes one roll.
type RollInfo struct {
	Topic     string
	Partition int32
	// Segment is the base offset of the new active segment (the offset
	// its first record will get), and Sealed the base offset of the
	// segment it replaces as active, whose data file holds SealedBytes.
	Segment, Sealed int64
	SealedBytes     int64
	Reason          RollReason
}

// RetentionHook observes retention: a retention pass deleting a
// partition's oldest segments (time or size limits, or segments wholly
// below a start offset DeleteRecords moved). OnRetention is called once
// per pass that deleted segments, once the new log start offset is
// durable, on the goroutine running the pass: the Log's scheduler, or
// the caller of Log.EnforceRetention. The files are removed afterwards,
// in the background.
type RetentionHook interface{ OnRetention(RetentionInfo) }

// RetentionInfo describes the segments one retention pass deleted from a
// partition.
type RetentionInfo struct {
	Topic     string
	Partition int32
	// Segments and Bytes count the deleted segments and their data.
	Segments int
	Bytes    int64
	// StartOffset is the partition's log start offset after the pass.
	StartOffset int64
}

// CompactionHook observes compaction. OnCompaction is called once per
// compaction pass over a partition that ran to its end (a pass that
// fails is logged, not reported), on the goroutine that ran it: the
// Log's cleaner, or the caller of Log.Compact. A pass that found nothing
// to change is reported too, with zero counts.
type CompactionHook interface{ OnCompaction(CompactionInfo) }

// CompactionInfo describes one compaction pass over a partition.
type CompactionInfo struct {
	Topic     string
	Partition int32
	// Duration is how long the pass took, on the Log's clock.
	Duration time.Duration
	// Segments is the number of segments the pass replaced and
	// NewSegments the number it wrote in their place (small segments
	// merge); BytesBefore and BytesAfter are their sizes. Segments in
	// which nothing changed are left alone, and not counted.
	Segments, NewSegments   int
	BytesBefore, BytesAfter int64
	// RecordsRemoved counts the records the pass removed: superseded by
	// a later record of their key, tombstones past DeleteRetention, and
	// records below the log start.
	RecordsRemoved int64
	// CleanerOffset is where the part of the partition not yet compacted
	// starts after the pass.
	CleanerOffset int64
}

// RebalanceHook observes consumer group rebalances: the coordinator
// giving a group a new generation and computing its assignment, as
// members join, leave or are evicted, or the group's topics are created
// or deleted. OnRebalance is called once per rebalance, after the
// coordinator has released its locks: on the goroutine of the call that
// rebalanced (NewConsumer, Consumer.Close, CreateTopic, DeleteTopic) or
// of the coordinator's liveness timer (an eviction), or, when another
// rebalance's hook is running at that moment, on that one's goroutine
// after it. Calls are serial, in the order the rebalances happened, so a
// group's generations arrive in increasing order. The members take
// their partitions afterwards, each in its own Poll (OnAssigned,
// OnRevoked).
type RebalanceHook interface{ OnRebalance(RebalanceInfo) }

// RebalanceReason says why a group rebalanced.
type RebalanceReason string

const (
	// RebalanceJoin: a member joined (NewConsumer), or a static member
	// rejoined with a different subscription.
	RebalanceJoin RebalanceReason = "join"
	// RebalanceLeave: a member left (Consumer.Close).
	RebalanceLeave RebalanceReason = "leave"
	// RebalanceEvicted: a member stayed out of Poll past its
	// MaxPollInterval, or a departed static member's SessionTimeout
	// passed, and it was removed.
	RebalanceEvicted RebalanceReason = "evicted"
	// RebalanceTopicCreated: a topic the group subscribes to was created
	// (again, after being deleted while subscribed).
	RebalanceTopicCreated RebalanceReason = "topic-created"
	// RebalanceTopicDeleted: a topic the group subscribes to was
	// deleted.
	RebalanceTopicDeleted RebalanceReason = "topic-deleted"
)

// RebalanceInfo describes one rebalance of a consumer group.
type RebalanceInfo struct {
	Group string
	// Generation is the group's new generation (its epoch), increasing
	// with every rebalance; DescribeGroup reports it too.
	Generation int32
	// Members is the number of members after the rebalance, and
	// Partitions the number of partitions assigned among them.
	Members, Partitions int
	Reason              RebalanceReason
}

// CommitHook observes consumer group offset commits: Consumer.Commit,
// CommitRecords, CommitOffsets, auto-commit, the commits before
// partitions are revoked and on Close, and ProcessPartitions' commits.
// OnCommit is called once per commit of one or more offsets, once it is
// acknowledged (durable, and on a replicated Log committed on the
// in-sync replicas) or has failed, on the committing goroutine (the
// caller's, or inside Poll or Close for auto-commit).
type CommitHook interface{ OnCommit(CommitInfo) }

// CommitInfo describes one offset commit.
type CommitInfo struct {
	Group string
	// Partitions is the number of partitions whose offsets the commit
	// carried.
	Partitions int
	// Duration is how long the commit took, on the Log's clock: its
	// checks, the fsync of data below the committed offsets where that
	// was needed, and the write to __consumer_offsets until
	// acknowledged.
	Duration time.Duration
	// Err is why the commit failed (*FencedError for a member that no
	// longer owns a partition, say); nil for an acknowledged commit.
	Err error
}

// RecoveryHook observes recovery. OnRecovery is called once for each
// partition Open recovers, after it, on the goroutine calling Open (the
// Log does not exist yet: the hook must not wait for it). Partitions
// created later (CreateTopic, or replicas a controller assigns) are not
// recovered and not reported. LogStats.Recovery sums the figures.
type RecoveryHook interface{ OnRecovery(RecoveryInfo) }

// RecoveryInfo describes the recovery of one partition by Open.
type RecoveryInfo struct {
	Topic     string
	Partition int32
	// Duration is how long opening the partition took, on the Log's
	// clock.
	Duration time.Duration
	// Segments is the number of segments the partition has;
	// SegmentsScanned how many of them had every batch checked (those
	// past the checkpoint's recovery point: after a clean Close, only
	// the last one, from where it ended), and BytesScanned the data
	// checked so.
	Segments, SegmentsScanned int
	BytesScanned              int64
	// FromCheckpoint says recovery resumed from the partition's
	// checkpoint, trusting what lay below its recovery point; false when
	// every segment had to be scanned.
	FromCheckpoint bool
	// BytesCut is the data cut off the ends of segments: batches torn by
	// an interrupted write, never acknowledged, and zeros past the last
	// batch (space prepared ahead for durable appends). SegmentsRemoved
	// counts segments removed: those following a torn one, and those
	// below the log start an interrupted retention pass left.
	BytesCut        int64
	SegmentsRemoved int
	// IndexesRebuilt counts segments whose indexes disagreed with the
	// data and were rebuilt from it.
	IndexesRebuilt int
	// Completed counts the interrupted operations recovery finished or
	// rolled back: compaction swaps, a truncation, a reset.
	Completed int
}

// hookSet is Options.Hooks split by the interfaces each implements, as
// Open finds them. A nil or empty slice: no hook observes that event.
type hookSet struct {
	appends     []AppendHook
	syncs       []SyncHook
	rolls       []RollHook
	retentions  []RetentionHook
	compactions []CompactionHook
	rebalances  []RebalanceHook
	commits     []CommitHook
	recoveries  []RecoveryHook
}

// newHookSet splits hooks by interface, in their order.
func newHookSet(hooks []Hook) hookSet {
	var s hookSet
	for _, h := range hooks {
		if x, ok := h.(AppendHook); ok {
			s.appends = append(s.appends, x)
		}
		if x, ok := h.(SyncHook); ok {
			s.syncs = append(s.syncs, x)
		}
		if x, ok := h.(RollHook); ok {
			s.rolls = append(s.rolls, x)
		}
		if x, ok := h.(RetentionHook); ok {
			s.retentions = append(s.retentions, x)
		}
		if x, ok := h.(CompactionHook); ok {
			s.compactions = append(s.compactions, x)
		}
		if x, ok := h.(RebalanceHook); ok {
			s.rebalances = append(s.rebalances, x)
		}
		if x, ok := h.(CommitHook); ok {
			s.commits = append(s.commits, x)
		}
		if x, ok := h.(RecoveryHook); ok {
			s.recoveries = append(s.recoveries, x)
		}
	}
	return s
}

// implementsAnyHook reports whether h implements a hook interface.
func implementsAnyHook(h Hook) bool {
	switch h.(type) {
	case AppendHook, SyncHook, RollHook, RetentionHook, CompactionHook, RebalanceHook, CommitHook, RecoveryHook:
		return true
	}
	return false
}

// hookProblems returns what is wrong with hooks, for Options.Validate.
func hookProblems(hooks []Hook) []string {
	var problems []string
	for i, h := range hooks {
		switch {
		case h == nil:
			problems = append(problems, fmt.Sprintf("Hooks[%d]: nil", i))
		case !implementsAnyHook(h):
			problems = append(problems, fmt.Sprintf("Hooks[%d]: %T implements none of the hook interfaces (AppendHook, SyncHook, RollHook, RetentionHook, CompactionHook, RebalanceHook, CommitHook, RecoveryHook)", i, h))
		}
	}
	return problems
}

// storageEvents returns the storage engine's event callbacks for
// partition id of topic, each nil when no hook observes that event.
func (s *hookSet) storageEvents(topic string, id int32) storage.Events {
	var ev storage.Events
	if hs := s.appends; len(hs) > 0 {
		ev.Append = func(e storage.AppendEvent) {
			info := AppendInfo{Topic: topic, Partition: id, BaseOffset: e.BaseOffset, LastOffset: e.LastOffset,
				Batches: e.Batches, Records: e.Records, Bytes: e.Bytes, Follower: e.Follower}
			for _, h := range hs {
				h.OnAppend(info)
			}
		}
	}
	if hs := s.syncs; len(hs) > 0 {
		ev.Sync = func(e storage.SyncEvent) {
			info := SyncInfo{Topic: topic, Partition: id, Duration: e.Duration, Files: e.Files, DurableOffset: e.DurableOffset, Err: e.Err}
			for _, h := range hs {
				h.OnSync(info)
			}
		}
	}
	if hs := s.rolls; len(hs) > 0 {
		ev.Roll = func(e storage.RollEvent) {
			info := RollInfo{Topic: topic, Partition: id, Segment: e.Segment, Sealed: e.Sealed, SealedBytes: e.SealedBytes,
				Reason: RollReason(e.Reason.String())}
			for _, h := range hs {
				h.OnRoll(info)
			}
		}
	}
	if hs := s.retentions; len(hs) > 0 {
		ev.Retention = func(e storage.RetentionEvent) {
			info := RetentionInfo{Topic: topic, Partition: id, Segments: e.Segments, Bytes: e.Bytes, StartOffset: e.StartOffset}
			for _, h := range hs {
				h.OnRetention(info)
			}
		}
	}
	if hs := s.compactions; len(hs) > 0 {
		ev.Compaction = func(e storage.CompactionEvent) {
			info := CompactionInfo{Topic: topic, Partition: id, Duration: e.Duration, Segments: e.Segments, NewSegments: e.NewSegments,
				BytesBefore: e.BytesBefore, BytesAfter: e.BytesAfter, RecordsRemoved: e.RecordsRemoved, CleanerOffset: e.CleanerOffset}
			for _, h := range hs {
				h.OnCompaction(info)
			}
		}
	}
	return ev
}

// recoveryInfo is the public form of what opening partition id of topic
// recovered.
func recoveryInfo(topic string, id int32, r storage.RecoveryStats) RecoveryInfo {
	return RecoveryInfo{Topic: topic, Partition: id, Duration: r.Duration, Segments: r.Segments, SegmentsScanned: r.SegmentsScanned,
		BytesScanned: r.BytesScanned, FromCheckpoint: r.FromCheckpoint, BytesCut: r.BytesCut, SegmentsRemoved: r.SegmentsRemoved,
		IndexesRebuilt: r.IndexesRebuilt, Completed: r.Completed}
}
