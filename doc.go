// Package commitlog is Apache Kafka's partitioned commit log as an
// embeddable Go library: open a directory and get topics, partitions and
// durable, ordered, replayable records with Kafka's semantics, with no
// broker and no sockets.
//
// # Overview
//
// A Log is a directory. It holds topics; a topic has a fixed number of
// partitions; a partition is an append-only sequence of records numbered by
// offset from 0. On disk each partition is a directory of segments, each a
// data file of Kafka RecordBatch v2 batches (byte-identical to Kafka's, so
// Kafka's tools can read them) with a sparse offset index and time index:
//
//	<dir>/LOCK                          held while the Log is open
//	<dir>/topics/<topic>.json           topic configuration (checksummed)
//	<dir>/<topic>-<partition>/
//	    00000000000000000000.log        batches
//	    00000000000000000000.index      offset -> byte position, sparse
//	    00000000000000000000.timeindex  timestamp -> offset, sparse
//	    00000000000000000000.snapshot   idempotent producers' state (checksummed)
//	    checkpoint                      recovery point (checksummed)
//	<dir>/producer-ids                  producer ids handed out so far
//	<dir>/__consumer_offsets-<n>/       consumer groups' committed offsets
//
// While a SyncAlways Log is open, its active segments' .log files run up
// to 1 MiB past their data in zeros, space prepared so that durable
// appends overwrite blocks already allocated (see SyncAlways). Close
// trims them; after a crash, Open does. Under the other policies the
// files keep their exact size, but on Linux occupy up to 16 MiB more on
// disk while open: space reserved ahead of the data (see SyncNever).
//
// # Usage
//
//	l, err := commitlog.Open(dir, nil) // nil: defaults (SyncAlways)
//	if err != nil { ... }
//	defer l.Close()
//
//	t, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 4})
//	p, err := t.Partition(0)
//	res, err := p.Append(ctx, []commitlog.Record{{Key: k, Value: v}})
//	// res.BaseOffset .. res.LastOffset are the new records' offsets
//
//	recs, err := p.Read(ctx, 0, 1<<20) // owned copies; blocks until data exists
//	for r, err := range p.Scan(ctx, 0) { ... } // zero-copy, stops at the end
//	c := p.Cursor(ctx, 0) // the same, pulled: for c.Next() { c.Value() }; c.Err()
//
// # Producing
//
// Most programs write through a Producer rather than Partition.Append: it
// picks partitions (by a hash of the key, xxhash64 by default or Kafka's
// murmur2 for Kafka's placement; sticky; round-robin; manually; or by a
// function), batches records per partition, compresses each batch once,
// and reports each record through a promise:
//
//	prod, err := l.NewProducer(commitlog.ProducerConfig{}) // idempotent, AckAll
//	defer prod.Close()                                     // flushes
//	prod.Produce(ctx, &commitlog.Record{Topic: "orders", Key: k, Value: v},
//		func(r *commitlog.Record, err error) { ... })         // r.Partition, r.Offset
//	err = prod.ProduceSync(ctx, recs...)                    // waits for every record
//
// Batches need no linger to grow: a partition has one batch being appended
// at a time, and records produced meanwhile join the next one, so a busy
// producer makes large batches and an idle one sends each record at once.
// Producers are idempotent by default: each batch carries a producer id,
// never reused in the directory, and a per-partition sequence number, and
// the partition refuses gaps (ErrOutOfOrderSequence) and answers a
// repeated batch with its original offsets. That state survives restarts
// (see Producer). A topic with a compacting CleanupPolicy refuses records
// without a key; a topic with LogAppendTime stamps each batch with the
// time it is appended.
//
// # Consuming
//
// A Consumer reads partitions assigned to it manually
// (ConsumerConfig.Partitions) or as a member of a consumer group
// (ConsumerConfig.Group and Topics), whose in-process coordinator shares
// the topics' partitions among the members:
//
//	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
//	defer c.Close()                  // commits, calls OnRevoked, leaves the group at once
//	for {
//		recs, err := c.Poll(ctx) // blocks until records exist; records are the caller's
//		...                      // process them before the next Poll
//	}
//
// It follows Kafka: positions and committed offsets are the offset of the
// next record to read (CommitRecords adds the 1); auto-commit (every 5s,
// before partitions are revoked, and on Close) commits the positions of
// records returned by earlier Polls, so processing each Poll's records
// before the next gives at-least-once delivery. Committed offsets are
// records of the internal compacted topic __consumer_offsets, in Kafka's
// schema, as durable as data, and never ahead of durable data. Where this
// package differs from Kafka, on purpose: a new group starts at the
// partitions' start (ResetEarliest), not their end; a member is alive while
// it waits in Poll (there are no heartbeats) and evicted only when it stays
// out of Poll longer than MaxPollInterval; Close leaves at once; rebalances
// are cooperative by default and computed by the coordinator (KIP-848's
// model), and a member may commit only partitions it owns at that moment,
// so a stale member's commits fail with ErrFenced. Callbacks (OnAssigned,
// OnRevoked, OnLost) run inside Poll and Close. ProcessPartitions runs a
// goroutine per partition and commits only processed records. Group
// membership lives in memory; Log.ListGroups, DescribeGroup,
// ResetGroupOffsets and DeleteGroup administer groups.
//
// # Retention
//
// A topic keeps records for TopicConfig.Retention (7 days, as Kafka; use
// Forever to keep everything) and, with RetentionBytes, up to a size per
// partition. The Log's scheduler (and Log.EnforceRetention) deletes whole
// segments, oldest first, never the active segment nor one holding records
// at or above the high watermark; Partition.DeleteRecords moves a
// partition's start offset durably. Reads below the start fail with an
// *OffsetOutOfRangeError; a reader inside a deleted segment finishes its
// read. Retention ages a segment by the newest record timestamp in it: the
// time records were created, or the time they were appended for a topic
// with LogAppendTime.
//
// # Compaction
//
// A topic with CleanupPolicy CleanupCompact (or CleanupCompactDelete, which
// adds retention) keeps at least the latest record of each key, as
// Kafka's log compaction does: a changelog, or a key-value store's
// history. The Log's cleaner compacts a partition once the share of its
// bytes not yet compacted exceeds MinCleanableDirtyRatio (0.5), or once
// its oldest uncompacted record has waited MaxCompactionLag;
// Log.Compact compacts whatever is cleanable at once. The guarantees are
// Kafka's:
//
//   - Offsets never change. Removed records leave gaps; a read at a
//     removed offset returns the next record that remains.
//   - Order never changes, and the active segment (the one appends go to)
//     is never compacted, nor are records younger than MinCompactionLag:
//     a consumer that keeps up within that lag sees every record.
//   - A consumer reading from the start sees at least the latest record
//     of every key. A tombstone (a record with a nil Value) deletes its
//     key: it stays for DeleteRetention (24 hours) after the first
//     compaction that kept it, so consumers behind get to see it, and then
//     goes too.
//   - Records keep their timestamps, headers and batch codecs; a rewritten
//     batch keeps its producer id and sequence numbers, and idempotent
//     producers' state is unaffected.
//
// Compaction rewrites sealed segments into new files and swaps them in
// crash-safely: after a crash, Open finds either the old segments or the
// new ones. Readers inside a replaced segment finish their read. Memory is
// bounded by Options.CompactionMapBytes (32 MiB: 1.39 million distinct keys
// per pass; more keys take more passes). Records without a key are
// refused on compacted topics.
//
// # Durability
//
// Options.Sync chooses what an acknowledgement (Append returning nil)
// means. SyncAlways, the default: the batch and everything needed to find
// it — the data, a new segment's directory entry — are fsynced before
// Append returns, and readers see only durable records (the high
// watermark is the durable end). Concurrent appenders share fsyncs (group
// commit), so durability costs latency, not throughput. SyncInterval:
// acknowledged once written to the operating system, fsynced every
// Options.SyncInterval; a power failure loses at most that window.
// SyncNever: appends never wait for an fsync; the Log fsyncs in the
// background when it records checkpoints (every Options.CheckpointInterval)
// and on Close. Under every policy a process crash loses nothing
// acknowledged; the policies differ on power failure.
//
// A failed write or fsync is never retried as if nothing had happened:
// Linux may drop the data of a failed fsync and report success to the next
// one. The partition enters a failed state — every append returns a
// *DurabilityError (matching ErrDurability), reads keep working — until
// the Log is reopened, which re-derives the truth from disk. A full disk
// is different: the append returns ErrDiskFull, nothing of it is visible,
// and appends work again once there is space.
//
// Open recovers each partition. Every second (Options.CheckpointInterval)
// each partition records how far its data is on disk; Open trusts what
// lies below that point and checks every batch written after it, so
// restart time is bounded by the unflushed tail, not the log's size. A
// batch torn by a crash (nothing valid after it, or the zeros an interrupted
// write leaves) is cut, and the cut is logged: it was never acknowledged.
// Under SyncNever and SyncInterval the unsynced tail may span segments (a
// roll does not wait for the disk), and a torn segment above the recovery
// point is cut with the segments after it, logged at Warn. Damage anywhere
// else — a bad batch followed by valid data, a bad batch below the
// recovery point, under SyncAlways any damage in a segment that later
// segments follow (a roll fsyncs the segment it seals before the next one
// exists), a missing segment file — is never cut: Open fails with a
// *CorruptionError naming the file and byte position. So does damage to
// the files that hold durable promises: a partition's checkpoint (the log
// start offset that retention and DeleteRecords moved), a topic's metadata
// file (partition directories holding data without it are never removed),
// and the producer-ids file (ids must never be handed out twice).
// Options.Repair repairs each of these on request, saying what it could
// not restore. Indexes and producer-state snapshots are derived data,
// checked on open and rebuilt when they disagree with the data. Log.Check
// verifies everything, reading all the data.
//
// Open needs no space to reserve ahead (index space is reserved as
// entries need it), and on a full disk it skips the checkpoint a
// recovered partition would write; CreateTopic is all-or-nothing, on a
// full disk as on any failure.
//
// # Bad input
//
// Every misuse gets a typed error that says what was wrong; nothing
// panics on caller input and nothing already acknowledged is lost.
// Sentinels match with errors.Is, typed errors with errors.As:
//
//	call                       misuse                                   error
//	Open                       invalid Options                          *ConfigError (ErrInvalidConfig)
//	Open                       directory open in another Log            ErrLocked
//	Open                       damaged directory                        *CorruptionError (ErrCorrupt)
//	CreateTopic                invalid name                             *TopicNameError (ErrInvalidTopicName)
//	CreateTopic                name starting with "__"                  *TopicNameError (ErrInvalidTopicName)
//	CreateTopic                existing topic                           ErrTopicExists
//	CreateTopic                invalid TopicConfig                      *ConfigError (ErrInvalidConfig)
//	Topic                      unknown topic                            ErrUnknownTopic
//	DeleteTopic                unknown topic                            ErrUnknownTopic
//	DeleteTopic                internal topic                           ErrInvalidArgument
//	Topic.Partition            id outside [0, NumPartitions)            ErrUnknownPartition
//	Append                     no records                               ErrInvalidArgument
//	Append                     timestamp outside int64 ms since 1970    *TimestampError (ErrInvalidArgument)
//	Append                     header with an empty key                 ErrInvalidArgument
//	Append                     batch over MaxBatchBytes                 *RecordTooLargeError (ErrRecordTooLarge)
//	Append                     keyless record on a compacted topic      ErrInvalidArgument
//	Append                     internal topic                           ErrInvalidArgument
//	AppendIf                   end offset moved                         *ConflictError (ErrConflict)
//	AppendIf                   negative expected end                    ErrInvalidArgument
//	Read                       offset outside [start, end]              *OffsetOutOfRangeError (ErrOffsetOutOfRange)
//	Read                       maxBytes <= 0                            ErrInvalidArgument
//	Scan                       offset outside [start, end]              *OffsetOutOfRangeError (ErrOffsetOutOfRange)
//	DeleteRecords              negative offset                          ErrInvalidArgument
//	DeleteRecords              offset above the high watermark          *OffsetOutOfRangeError (ErrOffsetOutOfRange)
//	NewProducer                invalid ProducerConfig                   *ConfigError (ErrInvalidConfig)
//	Produce                    nil record                               ErrInvalidArgument
//	Produce                    unknown topic                            ErrUnknownTopic
//	Produce                    partition outside the topic              ErrUnknownPartition
//	Produce                    timestamp outside int64 ms since 1970    *TimestampError (ErrInvalidArgument)
//	TryProduce                 buffer full                              ErrMaxBuffered
//	Topic.PartitionFor         nil key, several partitions              ErrInvalidArgument
//	Producer.PartitionFor      partitioner that ignores keys            ErrInvalidArgument
//	Producer.PartitionFor      unknown topic                            ErrUnknownTopic
//	NewConsumer                invalid ConsumerConfig                   *ConfigError (ErrInvalidConfig)
//	NewConsumer                unknown topic                            ErrUnknownTopic
//	NewConsumer                balancer other than the group's          ErrInvalidConfig
//	Seek                       negative offset                          ErrInvalidArgument
//	Seek                       partition not assigned                   ErrInvalidArgument
//	Poll                       ResetNone without a committed offset     *OffsetOutOfRangeError (ErrOffsetOutOfRange)
//	Poll                       called from a rebalance callback         ErrInvalidArgument
//	CommitOffsets              offset above the high watermark          *OffsetOutOfRangeError (ErrOffsetOutOfRange)
//	CommitOffsets              partition the member does not own        *FencedError (ErrFenced)
//	CommitOffsets              no Group                                 ErrInvalidArgument
//	CommitOffsets              manual consumer of a group with members  ErrGroupNotEmpty
//	DescribeGroup              unknown group                            ErrUnknownGroup
//	ResetGroupOffsets          group with members                       ErrGroupNotEmpty
//	DeleteGroup                group with members                       ErrGroupNotEmpty
//	any call                   cancelled context                        the context's error
//	any call                   closed Log, Producer or Consumer         ErrClosed
//	Cursor.Next                Log closed meanwhile                     false, Err() ErrClosed
//	Append                     Close concurrently                       acknowledged, or ErrClosed
//	Poll                       Close concurrently                       ErrClosed
//	Produce                    Close concurrently                       promise: nil, or ErrClosed
//
// A second Close of a Log, Producer or Consumer is a no-op.
//
// # Concurrency
//
// Log, Topic, Partition, Producer and Consumer are safe for concurrent
// use. A Producer's promises run one at a time on a goroutine it owns,
// stopped by its Close; close Producers and Consumers before their Log.
// A Consumer's Polls run one at a time, and its rebalance callbacks run on
// the goroutine calling Poll or Close. Appends to one
// partition are serialized; reads never wait for appends and never block
// them. Read, Follow and any call with a context return promptly when the
// context ends.
//
// One rule decides which calls take a context: a call that may block — it
// does I/O (appends, fsyncs, commits, files created or removed) or waits
// for something that does (an acknowledgement, buffer space, records not
// appended yet, a lock held across I/O) — takes a context.Context as its
// first argument; a call that only reads what is kept in memory takes
// none and never waits for appends, fsyncs or commits: Log.Topic, Topics,
// ListGroups, DescribeGroup and Stats; Partition.Stats, StartOffset,
// HighWatermark and EndOffset; a Consumer's Position, Lag and Assignment;
// Topic.PartitionFor and Producer.PartitionFor. Constructors (Open,
// NewProducer, NewConsumer) and Close take none either. Two calls take a
// context without blocking, to keep the shape of the calls beside them as
// Kafka's clients do: Consumer.Committed (beside the commits) and
// Producer.TryProduce (beside Produce).
//
// A read that has gone through a MiB of a segment, with at least another
// MiB of it to go, checks batch CRCs up to 8 MiB ahead of itself on a
// goroutine of its own, so that on a second CPU the reader only decodes.
// The goroutine belongs to the read: it ends when the read leaves the
// segment, when a Scan or Follow loop ends (by break, return or panic),
// when a Cursor's Next returns false or it is closed, and when a Consumer
// is closed. It finds no error the reader would not:
// the reader checks for itself any batch the goroutine has not verified.
//
// # Memory
//
// Records returned by Read are owned by the caller. Records yielded by
// Scan and Follow, and a Cursor's Key, Value and Record, are decoded in
// place from a read-only mapping of the segment file: they are valid only
// until the next iteration (the Cursor's next Next); Record.Clone copies
// one. Records passed to Append
// are not retained. Produce copies a record's key, value and headers before
// it returns, but keeps the *Record until its promise has been called, to
// fill in its partition and offset. A Producer's memory is bounded by
// ProducerConfig.MaxBufferedBytes and MaxBufferedRecords. Records returned
// by Poll are owned by the caller and share one allocation per Poll; a
// Consumer's memory is bounded by MaxPollRecords and FetchMaxBytes, and an
// idle Consumer holds no segment data.
//
// # Replication
//
// A Log opened with Options.Controller and Options.Transport is one node
// of a cluster (Options.NodeID names it), and a topic's partitions can
// have replicas on several nodes (TopicConfig.ReplicationFactor). The
// model is Kafka's. Each partition has one leader, which accepts appends
// and stamps its leader epoch into every batch it writes; the other
// replicas, its followers, fetch from it and append its batches verbatim
// (offsets, epochs and CRCs as the leader wrote them). The in-sync
// replicas (ISR) are the leader and the followers that have caught up
// with it within Options.ReplicaLagTime. The high watermark, below which
// records are committed and visible to consumers, is the least end offset
// over the ISR, and it does not move while the ISR is smaller than
// TopicConfig.MinInSyncReplicas. A follower's high watermark is the
// leader's, capped at its own end; consumers on any node read below that
// node's high watermark.
//
// Leadership comes from the Controller: InProcessController for Logs in
// one process (tests, examples, a service that wants replicas on several
// disks), a consensus-replicated one for Logs in several. When a leader
// goes away, the controller elects the first live in-sync replica in
// assignment order, with a new leader epoch; with none live, the
// partition stays offline until one returns, unless the topic has
// UncleanLeaderElection (then records only the lost replicas held are
// gone, and offsets are reused for other records). Followers of a new
// leader truncate where their log diverges from the leader's, found by
// leader epoch (Kafka's KIP-101 and KIP-279: each replica keeps the
// leader-epoch-checkpoint file, the start offset of every epoch), never
// by high watermark. A node that restarts (its Log closed and reopened)
// truncates to the leader, catches up and rejoins the ISR. Followers take
// the leader's log start offset as their own (up to their high
// watermark), so records that retention or DeleteRecords removed on the
// leader are not readable on a follower either, nor come back when it
// leads. A follower whose log ends below the leader's log start (it was
// away while the leader deleted what it lacks) cannot fetch what is
// gone: it restarts its log empty at the leader's log start (Kafka's
// truncateFullyAndStartAt), or, when that start lies inside a batch, at
// the base of that batch, which the leader sends whole; then it catches
// up and rejoins the ISR. A crash during the restart leaves its log as it
// was or restarted, never a mix.
//
// Acknowledgements, for Producer (ProducerConfig.Acks) and Partition.Append
// (always AckAll) on the leader: AckAll returns once the batch is below
// the high watermark, so on every in-sync replica and at least
// MinInSyncReplicas of them; AckLeader once it is durable on the leader
// (per Options.Sync); AckNone once it is written on the leader. An AckAll
// append to a partition whose ISR is below MinInSyncReplicas fails with
// ErrNotEnoughReplicas before appending; one whose ISR shrank while it
// waited fails with ErrNotEnoughReplicasAfterAppend (the batch may still
// commit: retry with an idempotent producer, whose retried batch gets its
// original offsets on any leader, since the producers' state replicates
// with the data). A Partition.Append to a replica that does not lead
// fails with a *NotLeaderError naming the leader and its epoch: append
// there. One whose node lost the leadership after appending the batch,
// before it was committed, fails with a *NotLeaderError whose
// AfterAppend is set: as with ErrNotEnoughReplicasAfterAppend, the batch
// may yet be committed by the next leader. A Producer follows the leader itself: on a node that does not
// lead a partition, or holds no replica of it, it sends each batch to
// the leader over the Transport (ProduceRequest), which appends it as
// its own Producer would and answers once Acks is met; a lost answer, a
// leader change or a retriable refusal (not enough replicas, no leader
// yet) sends the same batch again, to the leader of the moment, for up
// to two minutes (Kafka's delivery.timeout.ms), after which the promise
// gets ErrLeaderUnreachable. The batch keeps its producer id and
// sequence numbers, so a retry of one already stored returns its
// original offsets instead of storing it twice. Forwarded batches go one
// at a time per partition (no MaxInFlight pipelining across nodes). A
// Producer under AckAll appends a partition's next batch on the leader
// while the previous ones wait for their commitment, up to
// ProducerConfig.MaxInFlight, and reports each once committed, in order;
// a failed commitment fails the batches appended after it too. Each
// node hands out producer ids from a range of its own (NodeID<<40 and
// up, where Kafka takes blocks from its controller), so producers on two
// nodes never share an id, and one on a new leader is never taken for
// an earlier producer on the old one.
//
// Durability, with unclean election off. Unlike Kafka, a follower under
// SyncAlways reports as its end only what it has fsynced, so AckAll means
// "on disk on at least MinInSyncReplicas nodes", and a power failure of
// every node loses nothing AckAll acknowledged:
//
//	acks       MinInSyncReplicas  acknowledged records survive...
//	AckNone    any                nothing is promised
//	AckLeader  any                the leader's failure only if a follower had copied them
//	AckAll     1                  any failure that leaves one replica that was in sync when they were acknowledged
//	AckAll     2 or more          any MinInSyncReplicas-1 node failures, power failures included (SyncAlways)
//
// Under SyncNever and SyncInterval replicas acknowledge what they have
// written, as Kafka's do: a power failure of every in-sync replica at
// once can lose acknowledged records.
//
// The Transport carries the replicas' fetch requests and responses, and
// the Producers' forwarded batches (Message). It may lose, delay, duplicate and reorder messages: every
// message is fenced by leader epoch, the follower's incarnation and a
// sequence number, and the protocol is correct anyway. It must deliver
// a message whole or not at all, to the node it is addressed to. The
// package memnet is an in-memory Transport connecting Logs in one process,
// with seeded faults and partitions, for tests and examples.
//
// Consumer groups on a replicated Log. __consumer_offsets is a replicated
// topic like any other (Options.OffsetsTopicReplicationFactor replicas,
// default 3 as in Kafka; created through the controller by the first
// group call of any node), and a group is coordinated by the node that
// leads the partition of it holding the group's offsets, as Kafka's
// FindCoordinator answers. Membership is in memory on that node, so a
// group's consumers run there: NewConsumer, Commit, Committed,
// DescribeGroup, ResetGroupOffsets and DeleteGroup on any other node fail
// with a *NotCoordinatorError naming the coordinator. Commits are
// acknowledged once committed on every in-sync replica (Kafka's
// offsets.commit.required.acks=-1), so when the coordinator goes away the
// new leader of the partition, which replays its replica before it
// answers, has every acknowledged commit. The members of the old
// coordinator are fenced (Poll returns ErrFenced, and then the
// *NotCoordinatorError of joining again), so their consumers move to the
// new coordinator, where the group resumes from its committed offsets.
// Consumers read their node's replicas: give a group's topics a replica
// on the coordinator (for example a replication factor equal to the node
// count); a partition assigned to a member on a node without a replica of
// it is not consumed there, and a warning is logged. ListGroups lists
// the groups this node coordinates.
//
// # Observability
//
// Three views of what a Log does, all in the root module, for exporters
// (a Prometheus one, say, lives in a module of its own) to build on:
//
//   - Options.Logger receives the notable events as structured slog
//     records: recovery (torn tails cut, indexes rebuilt, interrupted
//     work completed, a summary per partition and one for Open), rolls,
//     retention deletions and DeleteRecords, compaction passes,
//     truncations, consumer group rebalances, and failures (a partition
//     failing on a write or fsync error, background work erring). The
//     attribute keys are the same everywhere: "topic", "partition",
//     "offset", "segment" (a segment's base offset) and "group", where
//     they apply, and "err". Nothing is logged per record or per append
//     above Debug: a quiet log is a healthy one.
//   - Options.Hooks receive each event as it happens, as small structs
//     passed by value: every append (AppendHook), every fsync round with
//     its duration (SyncHook), rolls (RollHook), retention (RetentionHook),
//     compaction passes (CompactionHook), rebalances (RebalanceHook),
//     offset commits (CommitHook), and each partition's recovery at Open
//     (RecoveryHook). A hook implements the interfaces of the events it
//     wants; Open sorts them out once, so an event nobody observes costs a
//     length check, and one observed allocates nothing. Hooks are called
//     synchronously on the goroutine that did the work, with none of the
//     Log's locks held (see Hook for the exceptions), so they must be
//     fast and safe for concurrent use.
//   - Log.Stats returns a snapshot: each partition's offsets, size,
//     segments, retention and compaction state, and largest consumer lag
//     (PartitionStats); a histogram of fsync round durations since Open,
//     in fixed exponential buckets kept with atomics (LatencyHistogram);
//     what Open recovered (RecoveryStats); and each consumer group's lag,
//     committed offset against high watermark, per partition
//     (GroupStats). It reads what is in memory and never waits for I/O.
//
// # Caveats
//
// One Log per directory: a second Open fails with ErrLocked, though on
// AIX, Plan 9, js/wasm and wasip1 only within one process (see Open).
// Topic names follow Kafka's rules (ValidateTopicName); on a
// case-insensitive file system two names differing only in case collide.
// Each open segment holds three file descriptors (its data file and two
// indexes). On Unix its files are read through mmap, so it maps up to
// SegmentBytes of address space, and up to SegmentIndexBytes per index;
// elsewhere they are read through ReadAt. Directory fsync, on which the
// durability of new files rests, is not available on Windows (nor on the
// other systems that are not Unix).
package commitlog
