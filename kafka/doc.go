// Package kafka runs commitlog's producing, consuming and administration
// interfaces on an Apache Kafka cluster, through franz-go (kgo and kadm):
// a service that starts on the embedded Log and outgrows one machine
// moves to Kafka without rewriting its code, configured with broker
// addresses instead of a directory.
//
// # Usage
//
// The program holds commitlog.ProducerClient, ConsumerClient and
// AdminClient, and only the lines that make them depend on the backend:
//
//	var (
//		prod commitlog.ProducerClient
//		cons commitlog.ConsumerClient
//		adm  commitlog.AdminClient
//	)
//	pcfg := commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()}
//	ccfg := commitlog.ConsumerConfig{Group: "billing", Topics: []string{"orders"}}
//	if brokers != "" {
//		kc := kafka.Config{SeedBrokers: strings.Split(brokers, ",")}
//		prod, err = kafka.NewProducer(kc, pcfg)
//		cons, err = kafka.NewConsumer(kc, ccfg)
//		adm, err = kafka.NewAdmin(kc)
//	} else {
//		l, err := commitlog.Open(dir, nil)
//		prod, err = l.NewProducer(pcfg)
//		cons, err = l.NewConsumer(ccfg)
//		adm = l.Admin()
//	}
//
// Everything else — Produce and its promises, ProduceSync, Poll, commits,
// rebalance callbacks, ProcessPartitions, Seek, Pause, Lag, CreateTopic,
// DescribeGroup, ResetGroupOffsets — is the same calls with the same
// contracts, and the errors match the same commitlog sentinels with
// errors.Is. Each client's As reaches the franz-go client under it
// (**kgo.Client; the Consumer and Admin also **kadm.Client) for what the
// interfaces do not cover.
//
// # Partitioning: plan the move before the first record
//
// A key's partition is part of the data layout: per-key order holds only
// within a partition, and a compacted topic keeps a key's latest record
// only where the key always lands. Kafka's producers (Java, librdkafka
// with the Java-compatible setting, franz-go) place a keyed record in
// murmur2(key) mod the partition count, and this package's default
// partitioner (a nil ProducerConfig.Partitioner) does the same. The
// Log's default, commitlog.KeyHashPartitioner, uses xxhash64 instead: a
// Log whose data may move to Kafka (copied by a mirror, or read next to
// what Kafka clients write) should be produced to with
// commitlog.Murmur2Partitioner from the start, so that every key is
// already in the partition Kafka's clients will put it in. A Partitioner
// set explicitly is used as it is, on both backends: with
// KeyHashPartitioner a Kafka topic gets the Log's placement, which other
// Kafka clients do not share.
//
// Changing a topic's partition count moves keys on both backends (the
// modulo changes); Kafka allows adding partitions to a live topic, which a
// Log does not.
//
// # Configuration
//
// Config says how to reach the cluster; the ProducerConfig and
// ConsumerConfig fields map to kgo options as below. A field with no
// Kafka counterpart is ignored where its default behaviour is what Kafka
// does anyway, and refused (a *commitlog.ConfigError from the
// constructor) where a set value could not be honoured.
//
//	ProducerConfig        kgo
//	Partitioner           RecordPartitioner: nil → StickyKeyPartitioner(nil) (murmur2, Kafka's default);
//	                      set → the commitlog partitioner, asked for every record
//	BatchBytes            ProducerBatchMaxBytes (0: kgo's default, ~1 MB)
//	Linger                ProducerLinger (0 kept: kgo's own default is 10ms); above 1 minute refused by kgo
//	MaxBufferedBytes      MaxBufferedBytes (default 64 MiB, as on a Log)
//	MaxBufferedRecords    MaxBufferedRecords (default 1,000,000, as on a Log)
//	Compression, Level    ProducerBatchCompression(codec.WithLevel(level))
//	Acks                  RequiredAcks: AckAll → AllISRAcks, AckLeader → LeaderAck, AckNone → NoAck
//	DisableIdempotence    DisableIdempotentWrite; idempotence with AckLeader or AckNone is refused
//	                      (Kafka's idempotent producer needs acks=all)
//	MaxInFlight           with idempotence: ignored (kgo keeps up to 5 requests per broker in flight,
//	                      order kept by sequence numbers); without: MaxProduceRequestsInflightPerBroker,
//	                      default 1, which keeps a partition's order across retries
//	Config.DeliveryTimeout  bounds Producer.Close's wait
//
//	ConsumerConfig        kgo
//	Group, Topics         ConsumerGroup, ConsumeTopics
//	Partitions            ConsumePartitions, starting at the Group's committed offsets (kadm) if Group is set
//	InstanceID            InstanceID (static membership)
//	Balancer              Balancers: Range/RoundRobin/Sticky/CooperativeSticky → kgo's own (same protocol
//	                      names, so a group may mix Kafka clients); another → an adapter calling its Balance
//	MaxPollRecords        PollRecords' limit
//	FetchMaxBytes         FetchMaxBytes per fetch request, and the per-Poll bound applied by the Consumer
//	FetchMinBytes         FetchMinBytes
//	FetchMaxWait          FetchMaxWait
//	AutoOffsetReset       ConsumeResetOffset: Earliest → AtStart, Latest → AtEnd, None → NoResetOffset, with
//	                      partitions without a committed offset held back until a Seek (as on a Log)
//	DisableAutoCommit,    the Consumer's own commits, with a Log consumer's rules (kgo's autocommit is
//	AutoCommitInterval    disabled: it would commit at other moments)
//	MaxPollInterval       RebalanceTimeout (Kafka's max.poll.interval.ms is sent as the rebalance timeout)
//	SessionTimeout        SessionTimeout (for every member, not only static ones; same default, 45s)
//	OnAssigned/Revoked/Lost  OnPartitionsAssigned/Revoked/Lost, with BlockRebalanceOnPoll
//	Config.Logger         WithLogger (an adapter of *slog.Logger)
//
// # Errors
//
// Kafka's error codes with a commitlog counterpart come back as an
// *Error, which matches both (errors.Is(err, commitlog.ErrNotLeader) and
// errors.Is(err, kerr.NotLeaderForPartition)):
//
//	NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH  ErrNotLeader
//	NOT_ENOUGH_REPLICAS                                ErrNotEnoughReplicas
//	NOT_ENOUGH_REPLICAS_AFTER_APPEND                   ErrNotEnoughReplicasAfterAppend
//	OFFSET_OUT_OF_RANGE                                ErrOffsetOutOfRange
//	UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID       ErrUnknownTopic
//	TOPIC_ALREADY_EXISTS                               ErrTopicExists
//	INVALID_TOPIC_EXCEPTION                            ErrInvalidTopicName
//	MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE           ErrRecordTooLarge
//	CORRUPT_MESSAGE                                    ErrCorrupt
//	KAFKA_STORAGE_ERROR                                ErrDurability
//	NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
//	COORDINATOR_LOAD_IN_PROGRESS                       ErrNotCoordinator
//	OUT_OF_ORDER_SEQUENCE_NUMBER                       ErrOutOfOrderSequence
//	INVALID_PRODUCER_EPOCH, PRODUCER_FENCED            ErrProducerFenced
//	ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//	FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS          ErrFenced (a *commitlog.FencedError from commits)
//	NON_EMPTY_GROUP                                    ErrGroupNotEmpty
//	GROUP_ID_NOT_FOUND                                 ErrUnknownGroup
//	INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS,
//	INVALID_CONFIG, INVALID_REPLICA_ASSIGNMENT,
//	INVALID_REQUIRED_ACKS, POLICY_VIOLATION            ErrInvalidConfig
//	INVALID_TIMESTAMP, INVALID_RECORD, INVALID_GROUP_ID  ErrInvalidArgument
//	PREFERRED_LEADER_NOT_AVAILABLE                     ErrPreferredLeaderNotAvailable
//	kgo.ErrClientClosed                                ErrClosed
//	kgo.ErrMaxBuffered                                 ErrMaxBuffered
//
// Other errors (REQUEST_TIMED_OUT once retries are exhausted,
// authorization failures, kgo.ErrRecordRetries) are returned as kgo gave
// them, with what failed in front. A commit refused because the member
// was fenced returns a *commitlog.FencedError, as on a Log; a partition's
// choice out of range, ErrUnknownPartition.
//
// # What differs from a Log
//
// Durability. A Log acknowledges a record once it is fsynced (under
// SyncAlways). Kafka acknowledges an AckAll record once the in-sync
// replicas have it in memory, at least the topic's min.insync.replicas of
// them; brokers fsync on their own schedule (log.flush.*), so durability
// comes from replication: a record is lost only if every in-sync replica
// fails before flushing. Consumers see records up to the high watermark,
// replicated but not necessarily on any disk. Set min.insync.replicas
// (TopicConfig.MinInSyncReplicas) above 1 with replication factor 3 for
// the guarantee AckAll gives on a replicated Log.
//
// Retries. A Log's producer does not retry: its errors are the disk's.
// The Kafka producer retries what a retry can cure (a moved leader, a
// request timeout, a broker gone) until the record is acknowledged, with
// idempotence keeping the partition's order and storing no duplicate; its
// promises get only errors no retry cures. kgo's per-record delivery
// timeout (kgo.RecordDeliveryTimeout) counts from the record's Timestamp
// and is not set (see Config.DeliveryTimeout). Producer.Close waits for
// the cluster at most Config.DeliveryTimeout, then fails what is not
// acknowledged with ErrClosed; a Log's waits for its disk. Kafka's
// idempotent producer needs acks=all: NewProducer refuses AckLeader and
// AckNone unless DisableIdempotence is set, which a Log's does not.
//
// Offsets. Committed offsets live in the cluster's __consumer_offsets
// (replicated, acks=all), not in the Log's directory: moving a group from
// a Log to Kafka means resetting its offsets there (AdminClient's
// ResetGroupOffsets with ExactOffset), and offsets of the two are only
// comparable if the data was copied offset for offset. Kafka accepts a
// commit above the high watermark, which a Log refuses.
//
// Groups. Rebalances happen only inside Poll and Close (kgo's
// BlockRebalanceOnPoll), as on a Log, but the callbacks run on kgo's group
// goroutine while Poll waits, not on Poll's own goroutine, and get kgo's
// context (ended when the client closes) rather than Poll's. A member is
// evicted for not polling only when a rebalance waits on it longer than
// the group's rebalance timeout (the largest MaxPollInterval of its
// members), and for missing heartbeats (which kgo sends in the
// background) after SessionTimeout — not, as on a Log, for going
// MaxPollInterval without a Poll. Either way an evicted member's next
// Poll returns a *commitlog.FencedError after OnLost (never OnRevoked,
// even where kgo learns of the eviction only as it rejoins), as on a Log,
// and kgo rejoins under a new member id. Lag reports -1 for
// a partition until a fetch has reported its high watermark (a Log knows
// it at once). DescribeGroup cannot report a group's generation (Epoch
// is -1), commit times (CommittedAt is zero) or what a member owns apart
// from its assignment (Owned is Assigned).
//
// Topics. Retention, compaction and segment settings are the cluster's
// business: CreateTopic passes the non-zero TopicConfig fields as topic
// configs (segment.bytes, segment.ms, index.interval.bytes,
// segment.index.bytes, max.message.bytes, compression.type and
// compression.<codec>.level, message.timestamp.type, cleanup.policy,
// delete.retention.ms, min.compaction.lag.ms, max.compaction.lag.ms,
// min.cleanable.dirty.ratio, retention.ms, retention.bytes,
// min.insync.replicas, unclean.leader.election.enable) and leaves zero
// fields to the cluster's defaults, where a Log applies its own;
// DescribeTopic reads them back. Kafka does not reserve names starting
// with "__" for itself as a Log does, and adds partitions to a live topic
// (kadm's CreatePartitions, through the Admin's As), which a Log cannot.
//
// The README of this module tables these differences, each with the test
// that shows it.
//
// # Mirroring
//
// A Mirror copies topics from one cluster to another, MirrorMaker 2's
// job, with both sides reached through the client interfaces: Log→Kafka
// (the move to Kafka, or a copy kept in a data center), Kafka→Log (a
// local replica to read from), Log→Log and Kafka→Kafka. Records keep their
// partition numbers, keys, values, headers and timestamps, and get
// headers naming their origin and source offset; the copy resumes after
// a crash with nothing lost and nothing twice, and the source's group
// offsets are translated into the target's, so a consumer group moves
// over where it stopped:
//
//	src := kafka.LogEndpoint("local", l)
//	dst, err := kafka.KafkaEndpoint("prod", kafka.Config{SeedBrokers: brokers})
//	m, err := kafka.NewMirror(kafka.MirrorConfig{
//		Source: src, Target: dst, Topics: []string{"orders"},
//		Producer: commitlog.ProducerConfig{Compression: commitlog.CodecZstd, Linger: 5 * time.Millisecond},
//	})
//	err = m.Run(ctx) // until ctx ends
//
// See Mirror for how it is exactly once and what it assumes.
package kafka
