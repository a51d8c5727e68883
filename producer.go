package commitlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/produce"
	"github.com/commitlog-go/commitlog/internal/record"
)

// Producer sends records to the topics of one Log, in batches, as Kafka's
// producer does. Create one with Log.NewProducer; it is safe for
// concurrent use, and one Producer per Log is usually all a program needs.
//
// Records are encoded into a batch per partition as they are produced.
// While a partition's previous batch is being appended, new records join
// the next batch, so batches grow by themselves under load and a lone
// record goes out at once (see ProducerConfig.Linger and BatchBytes). Each
// batch is encoded once, compressed once, and appended as it is. A
// partition has at most one batch being appended at a time, so records of
// one partition are appended in the order they were produced.
//
// Pipelining. On a replicated Log under AckAll a batch is committed only
// once the followers have fetched it, a round trip after its append on
// the leader. The Producer does not wait for that to append the
// partition's next batch: up to ProducerConfig.MaxInFlight batches of a
// partition may be appended on the leader and awaiting their commitment
// at once (Kafka's max.in.flight.requests.per.connection), and each
// batch's promises are still called only once it is committed, in the
// partition's order.
//
// Promises. Every record passed to Produce gets exactly one call of its
// promise, with the record and nil or the error that kept it out of the
// log. Promises are called one at a time, never concurrently, from a
// goroutine the Producer owns, and for the records of one partition in
// the order they were produced. A promise must not block for long: it
// holds up every later promise, and the buffer space of its batch is
// released only after it returns, so a promise that calls Produce and
// waits for buffer space can deadlock; call TryProduce from promises.
//
// Failures after the append. On a replicated Log a batch appended on the
// leader can still fail its acknowledgement: *NotLeaderError when the
// leader lost the partition meanwhile, ErrNotEnoughReplicasAfterAppend
// when the in-sync set shrank below MinInSyncReplicas, ErrClosed. Its
// records' promises get that error, and so do those of every later batch
// of the partition that was appended while it waited (they follow it in
// the log, so they are not committed either), in order after it. These
// errors are ambiguous: the records are in the leader's log and may still
// be committed, or be truncated by the next leader. No promise reports a
// record as sent under AckAll before it is below the high watermark.
//
// Ownership. Produce copies the record's Key, Value and Headers into the
// batch before it returns, so the caller may reuse those buffers at once.
// The *Record itself belongs to the Producer until its promise is called:
// the Producer fills in Partition, Offset and (if zero) Timestamp.
//
// Memory. Records wait in their batches, encoded, within
// ProducerConfig.MaxBufferedBytes and MaxBufferedRecords. The buffers of
// finished batches are kept for the next ones while they fit in
// MaxBufferedBytes together with the records buffered (as Kafka's producer
// keeps its buffer.memory), so that a busy producer does not regrow them;
// the rest, and all of them after Close, are left to the garbage collector.
//
// Idempotence. Unless ProducerConfig.DisableIdempotence is set, the Producer
// gets a producer id from the Log, never handed out before in the same
// directory, and numbers the records of each partition: every batch
// carries the id, epoch 0 and the sequence of its first record. The
// partition keeps the last five batches of each producer (in memory, in
// snapshots next to its segments, and rebuilt from the log on recovery),
// appends a batch only if it follows the previous one, and answers a
// repeated batch with the offsets it got the first time instead of
// appending it again (see ErrOutOfOrderSequence). A batch that fails
// without being appended does not consume sequence numbers, so the next
// batch still follows. A batch appended whose acknowledgement failed (see
// above) leaves the sequence in doubt, as the log may keep or lose it and
// the batches after it: the partition's next batch then starts a new
// producer epoch at sequence 0, which the partition accepts whatever it
// kept (Kafka's epoch bump, KIP-360), so the Producer never takes a new
// batch for a repeat of a failed one nor refuses it as out of order. A
// partition that has used up the epochs (32767 such failures) goes on
// with a new producer id.
//
// The Producer does not retry: it appends to the partitions of its own
// Log, and the errors they can return (ErrDiskFull, ErrDurability,
// ErrClosed, and on a replicated Log the leader and in-sync set errors)
// are for the caller to act on. A record whose promise got an error may
// be produced again; it then lands after records produced meanwhile, and,
// after an ambiguous error, possibly twice.
type Producer struct {
	log *Log
	cfg ProducerConfig
	pid int64 // record.NoProducerID without idempotence

	// eng batches, buffers, sends and reports the records: the
	// accumulators, the buffer limits, linger, the partitions' senders and
	// the completer calling promises. Close closes it.
	eng *produce.Engine[*Record]

	topics   atomic.Pointer[producerTopics]
	topicsMu sync.Mutex // serializes adding to topics
}

// producerTopics indexes a Producer's topics. It is never modified:
// adding a topic stores a new one.
type producerTopics struct {
	m map[string]*producerTopic
	// few lists the topics while there are at most fewTopics: comparing a
	// few names, which are usually the very strings the last lookup
	// compared, is cheaper than hashing one.
	few []*producerTopic
}

const fewTopics = 4

// producerTopic is a Producer's view of one topic.
type producerTopic struct {
	name      string
	t         *Topic
	mu        sync.Mutex // serializes the partitioner
	part      TopicPartitioner
	stateless partitionWithoutState // part, if a built-in partitioner; else nil
	parts     []*produce.Partition[*Record]
	maxRecord int // the largest record (upper bound of its encoded size) a batch can hold
	codec     compress.Codec
}

// partitionSink builds the batches of one partition and appends them to
// it, for the engine's sender of the partition.
type partitionSink struct {
	prod  *Producer
	topic *producerTopic
	id    int32
	p     *Partition // nil when this node holds no replica of it
}

// Acks says when a Producer reports a record as sent.
type Acks uint8

const (
	// AckAll reports a record once the Log acknowledges its append under
	// Options.Sync: under SyncAlways, the default, once it is fsynced;
	// under SyncInterval and SyncNever, once it is written to the
	// operating system. On a replicated Log it also waits until the
	// record is below the high watermark: on every in-sync replica, and
	// at least MinInSyncReplicas of them (under SyncAlways, on their
	// disks), as Kafka's acks=all. This is the default.
	AckAll Acks = iota
	// AckLeader reports a record once the partition's leader acknowledges
	// it under Options.Sync, before followers have it (Kafka's acks=1).
	// On a single-node Log, where the partition's one copy is its leader,
	// it is AckAll.
	AckLeader
	// AckNone reports a record as soon as its batch is written to the
	// partition (on a replicated Log, to its leader), before the fsync
	// SyncAlways would wait for. Offsets are filled in, but a power
	// failure can lose records reported as sent.
	AckNone
)

// ProducerConfig configures a Producer. The zero value is a good default:
// idempotent, AckAll, key-hash partitioning, no linger, 1 MiB batches, 5
// batches in flight per partition.
type ProducerConfig struct {
	// Partitioner chooses each record's partition. Default
	// KeyHashPartitioner(): keyed records by the xxhash64 of their key,
	// keyless ones sticky. Producer.PartitionFor tells where it puts a
	// key.
	Partitioner Partitioner

	// BatchBytes is the size, before compression, at which a partition's
	// batch is closed and a new one started (Kafka's batch.size). A record
	// larger than this gets a batch of its own. It is capped by each
	// topic's MaxBatchBytes. Default 1 MiB.
	BatchBytes int32

	// Linger is how long a batch may wait for more records before it is
	// sent (Kafka's linger.ms). Default 0: a batch is sent as soon as the
	// previous batch of its partition is done, so batches grow by
	// themselves while the log is busy and a lone record is not delayed.
	Linger time.Duration

	// MaxBufferedBytes bounds the memory of records produced but not yet
	// reported, counted by their encoded size. Produce blocks and
	// TryProduce fails with ErrMaxBuffered while it is reached. A single
	// record larger than the whole buffer is still accepted, alone.
	// Default 64 MiB.
	MaxBufferedBytes int64

	// MaxBufferedRecords bounds the number of records produced but not
	// yet reported, as MaxBufferedBytes bounds their bytes. Default
	// 1,000,000.
	MaxBufferedRecords int

	// Compression is the codec batches are compressed with, unless the
	// topic pins one (TopicConfig.Compression). Default CodecNone.
	Compression Codec

	// CompressionLevel is the codec's level; 0 is the codec's default.
	CompressionLevel int

	// Acks says when a record is reported as sent. Default AckAll.
	Acks Acks

	// MaxInFlight is how many batches of one partition may be appended on
	// its leader and awaiting their acknowledgement at once, on a
	// replicated Log under AckAll (Kafka's
	// max.in.flight.requests.per.connection, per partition): the next
	// batch is appended as soon as the previous one is on the leader,
	// while the followers fetch it. Order and promises are as the Producer
	// describes whatever the value. 1 appends a batch only once the one
	// before is committed: fewer, larger batches, a round trip apart, and
	// a failed acknowledgement fails one batch only. Elsewhere (a Log
	// without replication, AckLeader, AckNone) a batch is acknowledged
	// when its append returns and MaxInFlight has no effect. Default 5.
	MaxInFlight int

	// DisableIdempotence turns off producer ids and sequence numbers. By
	// default every batch carries the producer's id, epoch and sequence,
	// and each partition refuses duplicates and gaps (see Producer).
	DisableIdempotence bool
}

const (
	defaultBatchBytes         = 1 << 20
	defaultMaxBufferedBytes   = 64 << 20
	defaultMaxBufferedRecords = 1_000_000
	defaultMaxInFlight        = 5
)

// Validate reports every problem with c in one *ConfigError.
func (c *ProducerConfig) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c.BatchBytes < 0 {
		add("BatchBytes: %d is negative", c.BatchBytes)
	}
	if c.Linger < 0 {
		add("Linger: %v is negative", c.Linger)
	}
	if c.MaxBufferedBytes < 0 {
		add("MaxBufferedBytes: %d is negative", c.MaxBufferedBytes)
	}
	if c.MaxBufferedRecords < 0 {
		add("MaxBufferedRecords: %d is negative", c.MaxBufferedRecords)
	}
	if c.MaxInFlight < 0 {
		add("MaxInFlight: %d is negative (0 for the default of %d, 1 for one batch at a time)", c.MaxInFlight, defaultMaxInFlight)
	}
	if !compress.Codec(c.Compression).Valid() {
		add("Compression: unknown codec %d", c.Compression)
	} else if !compress.ValidLevel(compress.Codec(c.Compression), c.CompressionLevel) {
		add("CompressionLevel: %d is not valid for %v", c.CompressionLevel, c.Compression)
	}
	if c.Acks > AckNone {
		add("Acks: unknown value %d (use AckAll, AckLeader or AckNone)", c.Acks)
	}
	if fp, ok := c.Partitioner.(funcPartitioner); ok && fp.fn == nil {
		add("Partitioner: PartitionerFunc(nil): the function is nil")
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// withDefaults returns a copy of c with every zero field set.
func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.Partitioner == nil {
		c.Partitioner = KeyHashPartitioner()
	}
	c.BatchBytes = cmp.Or(c.BatchBytes, defaultBatchBytes)
	c.MaxBufferedBytes = cmp.Or(c.MaxBufferedBytes, defaultMaxBufferedBytes)
	c.MaxBufferedRecords = cmp.Or(c.MaxBufferedRecords, defaultMaxBufferedRecords)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, defaultMaxInFlight)
	return c
}

// NewProducer returns a Producer writing to this Log. It fails with a
// *ConfigError for an invalid cfg, ErrClosed after Close, or the error of
// allocating a producer id.
func (l *Log) NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := l.refuseReadOnly("NewProducer"); err != nil {
		return nil, err
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	p := &Producer{
		log: l,
		cfg: cfg.withDefaults(),
		pid: record.NoProducerID,
	}
	if !cfg.DisableIdempotence {
		pid, err := l.newProducerID()
		if err != nil {
			return nil, err
		}
		p.pid = pid
	}
	p.topics.Store(&producerTopics{m: map[string]*producerTopic{}})
	p.eng = produce.New(produce.Config[*Record]{
		Linger:             p.cfg.Linger,
		MaxBufferedBytes:   p.cfg.MaxBufferedBytes,
		MaxBufferedRecords: p.cfg.MaxBufferedRecords,
		Idempotent:         p.pid >= 0,
		NewProducerID:      l.newProducerID,
		MaxInFlight:        p.cfg.MaxInFlight,
		Now:                l.opts.now,
		Encode:             encodeRecord,
		Report:             reportBatch,
	})
	return p, nil
}

// ProducerID returns the producer id the Producer's batches carry, or -1
// when idempotence is disabled. A partition that has used up its producer
// epochs goes on under a new id (see Producer).
func (p *Producer) ProducerID() int64 { return p.pid }

// Produce adds r to the batch of its partition and returns; promise (which
// may be nil) is called once r is appended and acknowledged as
// ProducerConfig.Acks says, or has failed. Produce blocks only while the
// buffer is full (MaxBufferedBytes, MaxBufferedRecords); if ctx ends
// first, promise gets ctx's error. See Producer for the promise and
// ownership rules.
//
// Errors passed to promise: ErrUnknownTopic, ErrUnknownPartition (from a
// partitioner), ErrInvalidArgument (a keyless record on a compacted topic,
// an empty header key, a timestamp before 1970), *RecordTooLargeError,
// ErrClosed, and the append errors of Partition.Append. Every error names
// the record's topic, and its partition once known.
func (p *Producer) Produce(ctx context.Context, r *Record, promise func(*Record, error)) {
	p.produce(ctx, r, promise, true)
}

// TryProduce is Produce, except that when the buffer is full it does not
// wait: promise gets ErrMaxBuffered at once.
func (p *Producer) TryProduce(ctx context.Context, r *Record, promise func(*Record, error)) {
	p.produce(ctx, r, promise, false)
}

func (p *Producer) produce(ctx context.Context, r *Record, promise func(*Record, error), wait bool) {
	if promise == nil {
		promise = ignorePromise
	}
	if r == nil {
		p.fail(nil, promise, fmt.Errorf("%w: Produce: nil record", ErrInvalidArgument))
		return
	}
	if err := ctx.Err(); err != nil {
		p.fail(r, promise, err)
		return
	}
	if p.eng.Closed() {
		p.fail(r, promise, ErrClosed)
		return
	}
	pt, err := p.topic(r.Topic)
	if err != nil {
		p.fail(r, promise, err)
		return
	}
	n := pt.partition(r)
	if err := pt.checkPartition(n); err != nil {
		p.fail(r, promise, err)
		return
	}
	r.Partition = n
	size, err := pt.check(r)
	if err != nil {
		p.fail(r, promise, err)
		return
	}
	if err := p.eng.Reserve(ctx, size, wait); err != nil {
		switch err {
		case produce.ErrFull:
			err = ErrMaxBuffered
		case produce.ErrClosed:
			err = ErrClosed
		}
		p.fail(r, promise, fmt.Errorf("produce to %s-%d: %w", r.Topic, n, err))
		return
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = p.log.opts.now()
	}
	if !pt.parts[n].Add(r, promise, size) {
		p.eng.Release(size, 1)
		p.fail(r, promise, ErrClosed)
	}
}

func ignorePromise(*Record, error) {}

// fail reports a record that never entered a batch.
func (p *Producer) fail(r *Record, promise func(*Record, error), err error) {
	if r != nil {
		r.Offset = -1
	}
	p.eng.Fail(r, promise, err)
}

// topic returns the Producer's state for the named topic.
func (p *Producer) topic(name string) (*producerTopic, error) {
	if pt := p.topics.Load().lookup(name); pt != nil {
		return pt, nil
	}
	t, err := p.log.Topic(name)
	if err != nil {
		return nil, err
	}
	if err := t.refuseWrites(); err != nil {
		return nil, err
	}
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	old := p.topics.Load()
	if pt := old.lookup(name); pt != nil {
		return pt, nil
	}
	pt := &producerTopic{name: name, t: t, part: p.cfg.Partitioner.ForTopic(name)}
	pt.stateless, _ = pt.part.(partitionWithoutState)
	cfg := t.Config()
	pt.maxRecord = int(cfg.MaxBatchBytes) - record.HeaderSize
	codec, level := p.cfg.Compression, p.cfg.CompressionLevel
	if cfg.Compression != CodecNone {
		codec, level = cfg.Compression, cfg.CompressionLevel
	}
	pt.codec = compress.Codec(codec)
	pc := produce.PartitionConfig{
		BatchBytes: int(min(p.cfg.BatchBytes, cfg.MaxBatchBytes)),
		Build: record.BuildOptions{
			Codec:         pt.codec,
			Level:         level,
			ProducerID:    record.NoProducerID,
			ProducerEpoch: record.NoEpoch,
			BaseSequence:  record.NoSequence,
		},
	}
	if p.pid >= 0 {
		pc.Build.ProducerID, pc.Build.ProducerEpoch, pc.Build.BaseSequence = p.pid, 0, 0
	}
	pt.parts = make([]*produce.Partition[*Record], len(t.partitions))
	for i, part := range t.partitions {
		pt.parts[i] = p.eng.NewPartition(pc, &partitionSink{prod: p, topic: pt, id: int32(i), p: part})
	}
	m := make(map[string]*producerTopic, len(old.m)+1)
	for k, v := range old.m {
		m[k] = v
	}
	m[name] = pt
	ts := &producerTopics{m: m}
	if len(m) <= fewTopics {
		ts.few = append(append(make([]*producerTopic, 0, len(m)), old.few...), pt)
	}
	p.topics.Store(ts)
	return pt, nil
}

// lookup returns the named topic, or nil.
func (ts *producerTopics) lookup(name string) *producerTopic {
	if len(ts.m) <= fewTopics {
		for _, pt := range ts.few {
			if pt.name == name {
				return pt
			}
		}
		return nil
	}
	return ts.m[name]
}

// partition returns the partition the topic's partitioner chooses for r,
// calling it serially as the TopicPartitioner contract says, unless it is
// a built-in one whose answer for r depends on no state of its own.
func (pt *producerTopic) partition(r *Record) int32 {
	n := int32(len(pt.parts))
	if pt.stateless != nil {
		if i, ok := pt.stateless.partitionWithoutState(r, n); ok {
			return i
		}
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.part.Partition(r, n)
}

// checkPartition returns an error matching ErrUnknownPartition when n,
// the partitioner's choice, is not a partition of the topic.
func (pt *producerTopic) checkPartition(n int32) error {
	if n < 0 || int(n) >= len(pt.parts) {
		return fmt.Errorf("%w: the partitioner chose partition %d for a record of %s, which has partitions [0, %d)",
			ErrUnknownPartition, n, pt.name, len(pt.parts))
	}
	return nil
}

// PartitionFor returns the partition the Producer's partitioner puts a
// record of topic with key in, so that a caller can find where a key
// lives (to read it back, or to route work by partition) without
// building a partitioner: Produce puts every record of topic with that
// key there.
//
// With KeyHashPartitioner (the default) or Murmur2Partitioner the answer
// is the key's hash modulo the partition count, for any non-nil key (an
// empty key is a key). A nil key has no fixed partition under them —
// keyless records are spread stickily (KIP-794) — and neither has any key
// under StickyPartitioner and RoundRobinPartitioner, which ignore keys,
// nor under ManualPartitioner, where the record's Partition field
// decides: PartitionFor then returns -1 and an error matching
// ErrInvalidArgument that says why. A topic with a single partition
// answers 0 whatever the partitioner and key, since every record appended
// to it lands there.
//
// A Partitioner of your own is asked: PartitionFor calls its
// TopicPartitioner's Partition (serially with Produce's calls, as its
// contract says) with a Record holding only Topic and Key, so the answer
// is right for partitioners that decide by topic and key. A result
// outside the topic's partitions is an error matching
// ErrUnknownPartition.
//
// Other errors: ErrUnknownTopic, ErrInvalidArgument for an internal topic
// (only the Log writes to those), ErrClosed once Close has started.
func (p *Producer) PartitionFor(topic string, key []byte) (int32, error) {
	if p.eng.Closed() {
		return -1, ErrClosed
	}
	pt, err := p.topic(topic)
	if err != nil {
		return -1, err
	}
	n := int32(len(pt.parts))
	if kp, ok := pt.part.(keyPlacer); ok {
		return partitionForKey(topic, kp, key, n)
	}
	if n == 1 {
		return 0, nil
	}
	part := pt.partition(&Record{Topic: topic, Key: key})
	if err := pt.checkPartition(part); err != nil {
		return -1, err
	}
	return part, nil
}

// check validates r for the topic and returns the upper bound of its
// encoded size, which the buffer accounts and the batch limits use.
func (pt *producerTopic) check(r *Record) (int64, error) {
	cfg := &pt.t.cfg
	if r.Key == nil && cfg.CleanupPolicy.compacted() {
		return 0, fmt.Errorf("%w: a record for %s-%d has no key, and the topic is compacted (%v): every record needs a key",
			ErrInvalidArgument, r.Topic, r.Partition, cfg.CleanupPolicy)
	}
	if !r.Timestamp.IsZero() {
		if _, bad := recordTimestamp(r.Timestamp); bad != "" {
			return 0, &TimestampError{Topic: r.Topic, Partition: r.Partition, Index: -1, Timestamp: r.Timestamp, Reason: bad}
		}
	}
	// Upper bound of the encoded record, as Kafka's producer checks it:
	// length, attributes, timestamp and offset deltas, key, value, header
	// count, headers.
	size := int64(5+1+10+5+5+5+5) + int64(len(r.Key)) + int64(len(r.Value))
	for _, h := range r.Headers {
		if h.Key == "" {
			return 0, fmt.Errorf("%w: a record for %s-%d has a header with an empty key", ErrInvalidArgument, r.Topic, r.Partition)
		}
		size += int64(5+5) + int64(len(h.Key)) + int64(len(h.Value))
	}
	if size > int64(pt.maxRecord) {
		return 0, &RecordTooLargeError{Topic: r.Topic, Partition: r.Partition, Index: -1, Size: int(min(size+record.HeaderSize, 1<<62)), Max: int(cfg.MaxBatchBytes)}
	}
	return size, nil
}

// encodeRecord appends r to a batch, for the engine: its headers go
// through hs, the partition's scratch.
func encodeRecord(b *record.Builder, r *Record, hs []record.RecordHeader) []record.RecordHeader {
	for _, h := range r.Headers {
		// The builder only reads the key: no copy is needed.
		hs = append(hs, record.RecordHeader{Key: unsafe.Slice(unsafe.StringData(h.Key), len(h.Key)), Value: h.Value})
	}
	b.Append(r.Timestamp.UnixMilli(), r.Key, r.Value, hs)
	return hs
}

// reportBatch fills in the records of a finished batch and calls their
// promises, on the engine's completer goroutine.
func reportBatch(recs []produce.Entry[*Record], res produce.Result, err error) {
	for i, e := range recs {
		r := e.Record
		if err == nil {
			r.Offset = res.Base + int64(i)
			if !res.AppendTime.IsZero() {
				r.Timestamp = res.AppendTime
			}
		} else {
			r.Offset = -1
		}
		e.Promise(r, err)
	}
}

// Send builds one batch and appends it to the partition. On a replicated
// partition under AckAll it returns once the batch is appended on the
// leader, with the Ack that waits for its commitment, so that the next
// batch can be appended meanwhile (ProducerConfig.MaxInFlight); otherwise
// it returns once the batch is acknowledged.
func (s *partitionSink) Send(b *record.Builder) (produce.Result, produce.Ack, error) {
	r := s.prod.log.repl
	if s.p == nil && r == nil {
		_, err := s.topic.t.Partition(s.id)
		return produce.Result{Base: -1}, nil, err
	}
	ctx := context.Background() // appends are bounded by the disk and the replicas' lag time, not by a caller
	batch, err := b.Build()
	if err == nil && len(batch) > int(s.topic.t.cfg.MaxBatchBytes) && s.topic.codec != compress.None {
		// Compression made it larger than the topic allows (incompressible
		// data): the same records uncompressed fit, by construction.
		b.SetCompression(compress.None, 0)
		batch, err = b.Build()
	}
	if err != nil {
		return produce.Result{Base: -1}, nil, fmt.Errorf("produce to %s-%d: encode batch: %w", s.topic.name, s.id, err)
	}
	acks := s.prod.cfg.Acks
	o := appendOptions{Expected: -1, NoWait: acks == AckNone}
	if s.p == nil {
		return s.forward(ctx, batch, o, acks)
	}
	// A NotLeaderError (matched with Is: taking its address would cost
	// every batch an allocation) sends the batch to the leader.
	if rp := s.p.repl; rp != nil && acks == AckAll {
		res, epoch, err := rp.appendLocal(ctx, batch, o, acks)
		if errors.Is(err, ErrNotLeader) {
			return s.forward(ctx, batch, o, acks)
		}
		if err != nil {
			return produceResult(res), nil, err
		}
		end := res.LastOffset + 1
		return produceResult(res), func() error { return rp.awaitAck(ctx, end, epoch, acks) }, nil
	}
	res, err := s.p.appendBatchAcks(ctx, batch, o, acks)
	if r != nil && errors.Is(err, ErrNotLeader) {
		return s.forward(ctx, batch, o, acks)
	}
	return produceResult(res), nil, err
}

// forward sends the batch to the partition's leader on another node
// (produce_forward.go), or appends it here if this node leads by then.
func (s *partitionSink) forward(ctx context.Context, batch []byte, o appendOptions, acks Acks) (produce.Result, produce.Ack, error) {
	local := func() (AppendResult, error) {
		if s.p == nil {
			return AppendResult{}, s.prod.log.repl.notHosted(s.topic.name, s.id)
		}
		return s.p.appendBatchAcks(ctx, batch, o, acks)
	}
	res, err := s.prod.log.repl.forward(TopicPartition{s.topic.name, s.id}, acks, batch, local)
	out := produceResult(res)
	out.Remote = true
	return out, nil, err
}

func produceResult(res AppendResult) produce.Result {
	return produce.Result{Base: res.BaseOffset, Last: res.LastOffset, AppendTime: res.LogAppendTime}
}

// Sent follows a batch reported under AckNone with its fsync, so that
// consumers (who see only durable records under SyncAlways) get the
// records.
func (s *partitionSink) Sent(res produce.Result) {
	if s.prod.cfg.Acks != AckNone || res.Remote || s.p == nil {
		return // a leader elsewhere syncs a forwarded batch itself
	}
	if err := s.p.acknowledge(context.Background(), res.Last+1, appendOptions{}); err != nil {
		s.prod.log.opts.Logger.Warn("fsync after an AckNone produce failed", "topic", s.p.topic.name, "partition", s.p.id, "err", err)
	}
}

// Flush sends every buffered record now, lingering or not, and waits until
// every record produced before the call has had its promise called, or ctx
// ends. With a context that has ended already, Flush still sends the
// records and returns the context's error whenever any was waited for.
//
// Errors: ErrClosed once Close has started, the context's error.
func (p *Producer) Flush(ctx context.Context) error {
	if p.eng.Closed() {
		return ErrClosed
	}
	return p.eng.Flush(ctx)
}

// ProduceSync produces recs and waits until every one is appended and
// acknowledged or has failed. On return each record's Partition and Offset
// are filled in (Offset -1 for a failed record). The error joins the
// errors of all failed records, each naming the record's index in recs; it
// matches every sentinel involved with errors.Is.
//
// ctx bounds waiting for buffer space and for the acknowledgements. If it
// ends first, ProduceSync returns its error at once; records already
// buffered may still be appended, and they remain the Producer's until
// their outcome is known (Flush waits for it).
func (p *Producer) ProduceSync(ctx context.Context, recs ...*Record) error {
	if len(recs) == 0 {
		return nil
	}
	s := &syncProduce{recs: recs, done: make(chan struct{})}
	s.remaining.Store(int64(len(recs)))
	promise := s.promise
	for _, r := range recs {
		p.Produce(ctx, r, promise)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("ProduceSync: %w; records already buffered may still be appended", ctx.Err())
	}
	return errors.Join(s.errs...)
}

// syncProduce collects the outcomes of one ProduceSync call.
type syncProduce struct {
	recs      []*Record
	remaining atomic.Int64
	errs      []error // appended by promises, which run serially
	done      chan struct{}
}

func (s *syncProduce) promise(r *Record, err error) {
	if err != nil {
		i := 0
		for i < len(s.recs) && s.recs[i] != r {
			i++
		}
		s.errs = append(s.errs, fmt.Errorf("record %d: %w", i, err))
	}
	if s.remaining.Add(-1) == 0 {
		close(s.done)
	}
}

// Close sends every buffered record, waits for all promises, and stops the
// Producer's goroutines. Records produced after Close has started get
// ErrClosed, as does everything after it. Close is idempotent; later calls
// return nil. Close takes no context: what it waits for, the appends of
// the records already produced and their promises, is bounded by the disk
// and the promises, not by a caller.
func (p *Producer) Close() error {
	p.eng.Close()
	return nil
}
