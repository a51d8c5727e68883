package commitlog

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"
)

// Partitioner chooses partitions for the records a Producer sends to topics.
type Partitioner interface {
	// ForTopic returns the partitioner for one topic. A Producer calls it once per topic it produces to,
	// and then calls the result's Partition serially (never concurrently), so a TopicPartitioner may keep
	// unsynchronised state.
	ForTopic(topic string) TopicPartitioner
}

// TopicPartitioner chooses the partition of each record of one topic.
type TopicPartitioner interface {
	// Partition returns the partition for r, which must be in [0, n); n is the topic's partition count (>= 1).
	// The producer rejects a result outside that range: the record's promise gets an error matching
	// ErrUnknownPartition that names the partitioner's result. r must not be retained or modified.
	Partition(r *Record, n int32) int32
}

// stickyBatchBytes is how many bytes of records (counted by stickyRecordSize)
// a sticky partitioner sends to one partition before it moves to another. It
// matches the producer's default batch size, so keyless records fill whole
// batches instead of spreading into many small ones (Kafka KIP-794).
const stickyBatchBytes = 1 << 20

// stickyRecordOverhead is added to every record's size by the sticky
// partitioner, so that records with no key, value or headers still advance
// it to the next partition.
const stickyRecordOverhead = 16

// KeyHashPartitioner returns the default Partitioner. A record with a
// non-nil Key (an empty key is a key) goes to partition
// xxhash64(Key) % n, computed on uint64: the same key always lands on the
// same partition of a topic with n partitions, in every process and across
// releases of this package, because the mapping is part of the data layout
// (per-key order holds only within one partition). The mapping changes when
// the topic's partition count changes. Records with a nil Key are
// partitioned as by StickyPartitioner.
func KeyHashPartitioner() Partitioner { return keyHashPartitioner{} }

// Murmur2Partitioner returns a Partitioner that places keyed records exactly
// as Kafka's Java producer does: partition (murmur2(Key) & 0x7fffffff) % n,
// with Kafka's Utils.murmur2 and Utils.toPositive, so a key lands on the
// partition a Kafka producer would choose for a topic with the same
// partition count. Use it when data must line up with partitions written
// by Kafka clients, and from the start on a Log whose topics may move to
// a Kafka cluster (the module github.com/commitlog-go/commitlog/kafka,
// whose default partitioner this is): a key's partition is part of the
// data layout, and KeyHashPartitioner's differs. Records with a nil Key
// are partitioned as by StickyPartitioner; an empty non-nil key is a key.
func Murmur2Partitioner() Partitioner { return murmur2Partitioner{} }

// StickyPartitioner returns a Partitioner that ignores keys (Kafka's
// partitioner.ignore.keys=true) and partitions every record stickily, as
// Kafka's uniform sticky partitioner (KIP-794) does: records of a topic go
// to one partition until about 1 MiB of them (keys, values, headers and a
// small per-record overhead), the producer's default batch size, has gone
// to it, then to another partition chosen uniformly at random among the
// others. The first partition is also chosen at random. If the partition
// count drops to or below the current partition, a new one is chosen in
// range. Records with the same key are not kept together.
func StickyPartitioner() Partitioner { return stickyPartitioner{} }

// RoundRobinPartitioner returns a Partitioner that sends the i-th record
// (counting from 0) a Producer partitions for a topic to partition i % n,
// ignoring keys. Each ForTopic result keeps its own counter.
func RoundRobinPartitioner() Partitioner { return roundRobinPartitioner{} }

// ManualPartitioner returns a Partitioner that returns each record's
// Partition field unchanged, so the caller chooses every partition itself.
// The producer rejects a partition outside [0, n) with an error matching
// ErrUnknownPartition.
func ManualPartitioner() Partitioner { return manualPartitioner{} }

// PartitionerFunc adapts fn to a Partitioner: the TopicPartitioner that
// ForTopic(topic) returns calls fn(topic, r, n) for each record and returns
// its result, under the TopicPartitioner contract (fn for one topic is never
// called concurrently, must return a partition in [0, n), and must not
// retain or modify r). A result outside [0, n) fails the record with an
// error matching ErrUnknownPartition. fn must not be nil: NewProducer
// refuses a PartitionerFunc(nil) with a *ConfigError.
func PartitionerFunc(fn func(topic string, r *Record, n int32) int32) Partitioner {
	return funcPartitioner{fn: fn}
}

// The built-in TopicPartitioners return -1 for n < 1 (which a Producer
// never passes) rather than dividing by zero; the producer then rejects the
// result as out of range.

type keyHashPartitioner struct{}

func (keyHashPartitioner) ForTopic(string) TopicPartitioner {
	return &keyHashTopicPartitioner{sticky: newSticky()}
}

type keyHashTopicPartitioner struct {
	keyHashPlacer
	sticky sticky
}

func (p *keyHashTopicPartitioner) Partition(r *Record, n int32) int32 {
	if n < 1 {
		return -1
	}
	if r.Key == nil {
		return p.sticky.partition(r, n)
	}
	return keyHashPartition(r.Key, n)
}

// keyHashPartition is KeyHashPartitioner's partition for a non-nil key
// among n >= 1 partitions.
func keyHashPartition(key []byte, n int32) int32 {
	return int32(xxhash.Sum64(key) % uint64(n))
}

// partitionWithoutState is implemented by the built-in partitioners: it
// returns the partition when the answer depends on no state of theirs (a
// keyed record under a key hash, a manual partition, a single partition),
// so that the producer may call it without serializing; ok is false when
// Partition must be called instead, serially.
type partitionWithoutState interface {
	partitionWithoutState(r *Record, n int32) (p int32, ok bool)
}

func (p *keyHashTopicPartitioner) partitionWithoutState(r *Record, n int32) (int32, bool) {
	if r.Key != nil && n >= 1 {
		return keyHashPartition(r.Key, n), true
	}
	return 0, n == 1
}

func (p *murmur2TopicPartitioner) partitionWithoutState(r *Record, n int32) (int32, bool) {
	if r.Key != nil && n >= 1 {
		return murmur2Partition(r.Key, n), true
	}
	return 0, n == 1
}

func (p *stickyTopicPartitioner) partitionWithoutState(_ *Record, n int32) (int32, bool) {
	return 0, n == 1
}

func (p *roundRobinTopicPartitioner) partitionWithoutState(_ *Record, n int32) (int32, bool) {
	return 0, n == 1
}

func (manualTopicPartitioner) partitionWithoutState(r *Record, _ int32) (int32, bool) {
	return r.Partition, true
}

// keyPlacer is implemented by the built-in TopicPartitioners, for
// PartitionFor. placeKey returns the partition every record with key goes
// to among n > 1 partitions, or -1 and the reason when the partitioner
// puts such records on no fixed partition. It reads no state.
type keyPlacer interface {
	placeKey(key []byte, n int32) (p int32, why string)
}

// partitionForKey is PartitionFor's answer under kp for a topic with n
// partitions: 0 when n is 1, where every record lands, else kp's
// placement of key, or an error matching ErrInvalidArgument saying why
// there is none.
func partitionForKey(topic string, kp keyPlacer, key []byte, n int32) (int32, error) {
	if n == 1 {
		return 0, nil
	}
	p, why := kp.placeKey(key, n)
	if why != "" {
		return -1, fmt.Errorf("%w: PartitionFor %s: %s", ErrInvalidArgument, topic, why)
	}
	return p, nil
}

// keylessSpread is why a record with a nil key has no fixed partition
// under the key-hash partitioners.
const keylessSpread = "a record with a nil key has no fixed partition: keyless records are spread stickily over the partitions (KIP-794)"

// keyHashPlacer places keys as KeyHashPartitioner does; it is embedded
// in keyHashTopicPartitioner, and has no state, so that Topic.PartitionFor
// uses it without allocating.
type keyHashPlacer struct{}

func (keyHashPlacer) placeKey(key []byte, n int32) (int32, string) {
	if key == nil {
		return -1, keylessSpread
	}
	return keyHashPartition(key, n), ""
}

// murmur2Placer places keys as Murmur2Partitioner does.
type murmur2Placer struct{}

func (murmur2Placer) placeKey(key []byte, n int32) (int32, string) {
	if key == nil {
		return -1, keylessSpread
	}
	return murmur2Partition(key, n), ""
}

func (*stickyTopicPartitioner) placeKey([]byte, int32) (int32, string) {
	return -1, "StickyPartitioner ignores keys: a key has no fixed partition"
}

func (*roundRobinTopicPartitioner) placeKey([]byte, int32) (int32, string) {
	return -1, "RoundRobinPartitioner ignores keys: a key has no fixed partition"
}

func (manualTopicPartitioner) placeKey([]byte, int32) (int32, string) {
	return -1, "ManualPartitioner takes each record's Partition field, not its key"
}

type murmur2Partitioner struct{}

func (murmur2Partitioner) ForTopic(string) TopicPartitioner {
	return &murmur2TopicPartitioner{sticky: newSticky()}
}

type murmur2TopicPartitioner struct {
	murmur2Placer
	sticky sticky
}

func (p *murmur2TopicPartitioner) Partition(r *Record, n int32) int32 {
	if n < 1 {
		return -1
	}
	if r.Key == nil {
		return p.sticky.partition(r, n)
	}
	return murmur2Partition(r.Key, n)
}

// murmur2Partition is Kafka's BuiltInPartitioner.partitionForKey:
// Utils.toPositive(Utils.murmur2(key)) % n. toPositive masks the sign bit;
// it is not abs.
func murmur2Partition(key []byte, n int32) int32 {
	return (murmur2(key) & 0x7fffffff) % n
}

type stickyPartitioner struct{}

func (stickyPartitioner) ForTopic(string) TopicPartitioner {
	return &stickyTopicPartitioner{sticky: newSticky()}
}

type stickyTopicPartitioner struct {
	sticky sticky
}

func (p *stickyTopicPartitioner) Partition(r *Record, n int32) int32 {
	if n < 1 {
		return -1
	}
	return p.sticky.partition(r, n)
}

type roundRobinPartitioner struct{}

func (roundRobinPartitioner) ForTopic(string) TopicPartitioner {
	return &roundRobinTopicPartitioner{}
}

type roundRobinTopicPartitioner struct {
	next uint64
}

func (p *roundRobinTopicPartitioner) Partition(_ *Record, n int32) int32 {
	if n < 1 {
		return -1
	}
	i := p.next
	p.next++
	return int32(i % uint64(n))
}

type manualPartitioner struct{}

func (manualPartitioner) ForTopic(string) TopicPartitioner { return manualTopicPartitioner{} }

type manualTopicPartitioner struct{}

func (manualTopicPartitioner) Partition(r *Record, _ int32) int32 { return r.Partition }

type funcPartitioner struct {
	fn func(topic string, r *Record, n int32) int32
}

func (f funcPartitioner) ForTopic(topic string) TopicPartitioner {
	return funcTopicPartitioner{topic: topic, fn: f.fn}
}

type funcTopicPartitioner struct {
	topic string
	fn    func(topic string, r *Record, n int32) int32
}

func (f funcTopicPartitioner) Partition(r *Record, n int32) int32 { return f.fn(f.topic, r, n) }

// sticky is the uniform sticky partitioning state of one topic (KIP-794):
// the current partition and how many bytes of records went to it. It is
// not safe for concurrent use; a TopicPartitioner is called serially.
type sticky struct {
	rng   *rand.Rand
	cur   int32 // current partition; -1 before the first record
	bytes int64 // stickyRecordSize of the records sent to cur so far
}

func newSticky() sticky {
	return sticky{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), cur: -1}
}

// partition returns the partition for r among n >= 1 partitions. It keeps
// the current partition until at least stickyBatchBytes have gone to it,
// then moves to one of the other n-1 partitions chosen uniformly at random.
// It chooses afresh, among all n, for the first record and when the current
// partition is no longer below n.
func (s *sticky) partition(r *Record, n int32) int32 {
	switch {
	case s.cur < 0 || s.cur >= n:
		s.cur = s.rng.Int32N(n)
		s.bytes = 0
	case s.bytes >= stickyBatchBytes:
		if n > 1 {
			next := s.rng.Int32N(n - 1)
			if next >= s.cur {
				next++
			}
			s.cur = next
		}
		s.bytes = 0
	}
	s.bytes += stickyRecordSize(r)
	return s.cur
}

// stickyRecordSize is the size the sticky partitioner counts for r: its key,
// value, header keys and header values plus stickyRecordOverhead.
func stickyRecordSize(r *Record) int64 {
	size := int64(stickyRecordOverhead + len(r.Key) + len(r.Value))
	for i := range r.Headers {
		size += int64(len(r.Headers[i].Key) + len(r.Headers[i].Value))
	}
	return size
}

// murmur2 is Kafka's Utils.murmur2: 32-bit MurmurHash2 with seed 0x9747b28c,
// little-endian 4-byte blocks and Kafka's tail and finalisation steps,
// computed on uint32 (Java's >>> is the unsigned shift) and returned as
// Java's signed int.
func murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	length := len(data)
	h := uint32(seed) ^ uint32(length)
	blocks := length &^ 3
	for i := 0; i < blocks; i += 4 {
		k := binary.LittleEndian.Uint32(data[i : i+4])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch length & 3 {
	case 3:
		h ^= uint32(data[blocks+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[blocks+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[blocks])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
