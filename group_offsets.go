package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/commitlog-go/commitlog/internal/storage"
)

// Committed offsets live in the internal topic __consumer_offsets, in
// Kafka's record schema (GroupMetadataManager's offset commit key and
// value; OffsetCommitKey and OffsetCommitValue in Kafka's
// group-coordinator message definitions), so they are exactly as durable
// as the data and recovering them is replaying that topic:
//
//	key   (version 1): int16 version, string group, string topic, int32 partition
//	value (version 3): int16 version, int64 offset, int32 leader epoch,
//	                   string metadata, int64 commit timestamp (Unix ms)
//
// where a string is an int16 length and that many bytes. A nil value (a
// tombstone) deletes the offset. A group's offsets all go to partition
// abs(javaHashCode(group)) % partitions, as Kafka places them, so the
// order of one group's commits is the order of its records.
const offsetsTopicName = "__consumer_offsets"

const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	// offsetsSegmentBytes is the segment size of __consumer_offsets: small,
	// because its records are small and compaction keeps only the latest
	// per key.
	offsetsSegmentBytes = 16 << 20
)

// committedOffset is a group's committed offset for one partition: the
// offset of the next record to consume.
type committedOffset struct {
	Offset int64
	// LeaderEpoch is the leader epoch of the record before Offset, as
	// the committer read it, -1 when unknown (KIP-320: a consumer
	// starting from it can tell whether those records are still there).
	LeaderEpoch int32
	Metadata    string
	Time        time.Time // when it was committed
}

// offsetStore holds every group's committed offsets, materialised from
// __consumer_offsets. Writes go through the group coordinator, which
// decides whether a commit is allowed.
//
// On a replicated Log it holds only the groups this node coordinates:
// those of the partitions of __consumer_offsets it leads, loaded when it
// took their leadership (group_coordination.go).
type offsetStore struct {
	log *Log

	// createMu serializes the creation of the topic.
	createMu sync.Mutex
	// mu guards topic, groups and loaded.
	mu     sync.RWMutex
	topic  *Topic
	groups groupOffsets
	// loaded maps each partition of __consumer_offsets this replicated
	// node leads, and has replayed since, to the leader epoch it replayed
	// it at. Nil on a single-node Log.
	loaded map[int32]int32
}

// groupOffsets is committed offsets by group and partition.
type groupOffsets map[string]map[TopicPartition]committedOffset

func newOffsetStore(l *Log) *offsetStore {
	return &offsetStore{log: l, groups: groupOffsets{}}
}

// load replays __consumer_offsets, if it exists, into memory. It runs in
// Open, before the Log is shared. A replicated Log replays a partition
// only once it leads it.
func (s *offsetStore) load() error {
	t := s.log.topics[offsetsTopicName]
	if t == nil {
		return nil
	}
	s.setTopicLocked(t)
	if s.log.repl != nil {
		return nil
	}
	for _, p := range t.local() {
		if err := s.groups.replay(p, false); err != nil {
			return err
		}
	}
	return nil
}

// replay applies p's records to g, up to the high watermark, or up to
// the written end (toWritten), as a new leader replays what it holds.
func (g groupOffsets) replay(p *Partition, toWritten bool) error {
	c := p.newCursor(context.Background(), p.StartOffset(), false)
	c.toWritten = toWritten
	defer c.Close()
	for c.Next() {
		group, tp, ok, err := decodeOffsetKey(c.Key())
		if err == nil && ok {
			err = g.apply(group, tp, c.Value())
		}
		if err != nil {
			return &CorruptionError{Path: p.store.Dir(), Offset: c.Offset(), Reason: "committed-offset record: " + err.Error()}
		}
	}
	return c.Err()
}

// apply applies one decoded record. REQUIRES: the store's mu, or
// exclusive access.
func (g groupOffsets) apply(group string, tp TopicPartition, value []byte) error {
	if value == nil {
		g.forget(group, tp)
		return nil
	}
	c, err := decodeOffsetValue(value)
	if err != nil {
		return err
	}
	g.set(group, tp, c)
	return nil
}

func (g groupOffsets) set(group string, tp TopicPartition, c committedOffset) {
	offsets := g[group]
	if offsets == nil {
		offsets = map[TopicPartition]committedOffset{}
		g[group] = offsets
	}
	offsets[tp] = c
}

func (g groupOffsets) forget(group string, tp TopicPartition) {
	if offsets := g[group]; offsets != nil {
		delete(offsets, tp)
		if len(offsets) == 0 {
			delete(g, group)
		}
	}
}

// committed returns group's committed offset for tp.
//
// Errors: *NotCoordinatorError on a replicated Log that does not
// coordinate group.
func (s *offsetStore) committed(group string, tp TopicPartition) (committedOffset, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkCoordinatorLocked(group); err != nil {
		return committedOffset{}, false, err
	}
	c, ok := s.groups[group][tp]
	return c, ok, nil
}

// groupOffsets returns a copy of every committed offset of group.
//
// Errors: *NotCoordinatorError, as committed.
func (s *offsetStore) groupOffsets(group string) (map[TopicPartition]committedOffset, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkCoordinatorLocked(group); err != nil {
		return nil, err
	}
	return maps.Clone(s.groups[group]), nil
}

// maxLag returns the largest lag, hw less the committed offset, among
// the groups with a committed offset for tp, or 0 if none has one.
func (s *offsetStore) maxLag(tp TopicPartition, hw int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var lag int64
	for _, offsets := range s.groups {
		if c, ok := offsets[tp]; ok {
			lag = max(lag, hw-c.Offset)
		}
	}
	return lag
}

// groupNames returns the groups with committed offsets.
func (s *offsetStore) groupNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Collect(maps.Keys(s.groups))
}

// offsetWrite is one entry of a commit: an offset, or (delete) a tombstone.
type offsetWrite struct {
	tp     TopicPartition
	offset int64
	epoch  int32 // the leader epoch of the record before offset, -1 if unknown
	delete bool
}

// write appends one batch with writes for group and applies it to memory,
// without waiting for acknowledgement; the caller then calls wait with
// the returned partition, target and leader epoch. The group coordinator
// calls it with its commit lock held, so the order in which commits are
// checked, written and applied is one order. On a replicated Log the
// batch is appended as AckAll appends (refused while the partition's
// in-sync set is below its MinInSyncReplicas), at the leader epoch this
// node took the group's coordination at.
//
// The topic must exist (ensureTopic, called before commitMu is taken):
// write never creates it, since creating a topic takes the Log's adminMu,
// which comes before commitMu.
//
// The events of the append (for the Log's hooks) are added to held, for
// the caller to report once it has released commitMu.
//
// Errors: *NotCoordinatorError, and the append's.
func (s *offsetStore) write(ctx context.Context, group string, writes []offsetWrite, held *heldEvents) (*Partition, int64, int32, error) {
	s.mu.RLock()
	t := s.topic
	err := s.checkCoordinatorLocked(group)
	var epoch int32 = -1
	if t != nil && s.loaded != nil {
		epoch = s.loaded[offsetsPartitionFor(group, t.NumPartitions())]
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, 0, 0, err
	}
	if t == nil {
		// Offsets exist only once the topic does, so forgetting some finds
		// it; a commit created it first.
		return nil, 0, 0, fmt.Errorf("commitlog: %s does not exist", offsetsTopicName)
	}
	p, err := t.Partition(offsetsPartitionFor(group, t.NumPartitions()))
	if err != nil {
		return nil, 0, 0, err
	}
	now := s.log.opts.now()
	recs := make([]Record, len(writes))
	for i, w := range writes {
		recs[i] = Record{Key: encodeOffsetKey(group, w.tp), Timestamp: now}
		if !w.delete {
			recs[i].Value = encodeOffsetValue(w.offset, w.epoch, "", now)
		}
	}
	bb := builderPool.Get().(*batchBuilder)
	defer builderPool.Put(bb)
	batch, aside, err := p.build(bb, recs)
	if err != nil {
		return nil, 0, 0, err
	}
	acks := AckLeader
	if s.log.repl != nil {
		acks = AckAll
	}
	d := new(storage.Deferred)
	*held = append(*held, heldEvent{p, d})
	res, err := p.appendBuilt(ctx, batch, aside, appendOptions{Expected: -1, NoWait: true, Defer: d}, acks)
	if err != nil {
		return nil, 0, 0, err
	}
	s.mu.Lock()
	for _, w := range writes {
		if w.delete {
			s.groups.forget(group, w.tp)
		} else {
			s.groups.set(group, w.tp, committedOffset{Offset: w.offset, LeaderEpoch: w.epoch, Time: time.UnixMilli(now.UnixMilli())})
		}
	}
	s.mu.Unlock()
	return p, res.LastOffset + 1, epoch, nil
}

// forgetTopics deletes, durably, every group's committed offsets for the
// topics gone reports as deleted, so that a topic created later under the
// same name does not inherit them. The caller serializes it with commits.
//
// On a replicated Log it deletes those of the groups this node
// coordinates, and does not wait for the deletions to be committed: it
// runs as the node applies the controller's metadata, which a wait for
// the followers could stall.
//
// Like write, it adds the events of its appends to held. A read-only Log
// forgets them in memory only.
func (s *offsetStore) forgetTopics(ctx context.Context, gone func(topic string) bool, held *heldEvents) error {
	if s.log.opts.ReadOnly {
		s.mu.Lock()
		defer s.mu.Unlock()
		for group, offsets := range s.groups {
			for tp := range offsets {
				if gone(tp.Topic) {
					s.groups.forget(group, tp)
				}
			}
		}
		return nil
	}
	s.mu.RLock()
	byGroup := map[string][]offsetWrite{}
	for group, offsets := range s.groups {
		for tp := range offsets {
			if gone(tp.Topic) {
				byGroup[group] = append(byGroup[group], offsetWrite{tp: tp, delete: true})
			}
		}
	}
	s.mu.RUnlock()
	for _, group := range slices.Sorted(maps.Keys(byGroup)) {
		writes := byGroup[group]
		slices.SortFunc(writes, func(a, b offsetWrite) int { return compareTopicPartitions(a.tp, b.tp) })
		p, target, epoch, err := s.write(ctx, group, writes, held)
		if err == nil && s.log.repl == nil {
			err = s.wait(ctx, p, target, epoch)
		}
		if err != nil {
			return fmt.Errorf("commitlog: delete committed offsets of group %q for deleted topics: %w", group, err)
		}
	}
	return nil
}

// heldEvents are the events of appends to __consumer_offsets made under
// the coordinator's commitMu, to be reported to the Log's hooks once it
// is released, so that a hook may commit (report).
type heldEvents []heldEvent

type heldEvent struct {
	p *Partition
	d *storage.Deferred
}

// report reports the events held.
func (h heldEvents) report() {
	for _, e := range h {
		e.p.store.Report(e.d)
	}
}

// wait returns once a write ending below target in p, appended at leader
// epoch epoch, is acknowledged under the Log's durability contract and,
// on a replicated Log, committed.
func (s *offsetStore) wait(ctx context.Context, p *Partition, target int64, epoch int32) error {
	return p.acknowledgeAt(ctx, target, epoch)
}

// ensureTopic returns __consumer_offsets, creating it on first use. On a
// replicated Log it is created through the controller with
// Options.OffsetsTopicReplicationFactor replicas, or, when another node
// created it first, awaited until this node has it.
func (s *offsetStore) ensureTopic(ctx context.Context) (*Topic, error) {
	if t := s.currentTopic(); t != nil {
		return t, nil
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if t := s.currentTopic(); t != nil {
		return t, nil
	}
	cfg := TopicConfig{
		Partitions:    s.log.opts.OffsetsTopicPartitions,
		SegmentBytes:  offsetsSegmentBytes,
		CleanupPolicy: CleanupCompact,
	}
	if s.log.repl != nil {
		cfg.ReplicationFactor = s.log.opts.OffsetsTopicReplicationFactor
	}
	t, err := s.log.createTopic(ctx, offsetsTopicName, cfg)
	if errors.Is(err, ErrTopicExists) && s.log.repl != nil {
		t, err = s.log.repl.awaitTopic(ctx, offsetsTopicName)
	}
	var ce *ConfigError
	if errors.As(err, &ce) && s.log.repl != nil {
		return nil, fmt.Errorf("commitlog: create %s with %d replicas (Options.OffsetsTopicReplicationFactor; at most the cluster's node count): %w",
			offsetsTopicName, cfg.ReplicationFactor, err)
	}
	if err != nil {
		return nil, fmt.Errorf("commitlog: create %s: %w", offsetsTopicName, err)
	}
	s.mu.Lock()
	if s.topic == nil {
		s.setTopicLocked(t)
	}
	t = s.topic
	s.mu.Unlock()
	return t, nil
}

// currentTopic returns __consumer_offsets, nil until it is known here.
func (s *offsetStore) currentTopic() *Topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.topic
}

// setTopicLocked records t as __consumer_offsets. REQUIRES: s.mu.
func (s *offsetStore) setTopicLocked(t *Topic) {
	s.topic = t
	if s.log.repl != nil && s.loaded == nil {
		s.loaded = map[int32]int32{}
	}
}

// offsetsPartitionFor is Kafka's GroupMetadataManager.partitionFor:
// Utils.abs(group.hashCode()) % n, with Java's String.hashCode over UTF-16
// code units and Utils.abs mapping MinInt32 to 0.
func offsetsPartitionFor(group string, n int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	switch {
	case h == -1<<31:
		h = 0
	case h < 0:
		h = -h
	}
	return h % n
}

var errOffsetRecord = errors.New("malformed")

func appendKafkaString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// encodeOffsetKey encodes an offset-commit key. The group and topic are at
// most 32767 bytes (ConsumerConfig.Validate and topic naming ensure it).
func encodeOffsetKey(group string, tp TopicPartition) []byte {
	b := make([]byte, 0, 2+2+len(group)+2+len(tp.Topic)+4)
	b = binary.BigEndian.AppendUint16(b, offsetKeyVersion)
	b = appendKafkaString(b, group)
	b = appendKafkaString(b, tp.Topic)
	return binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
}

// encodeOffsetValue encodes an offset-commit value; epoch is -1 when
// unknown.
func encodeOffsetValue(offset int64, epoch int32, metadata string, at time.Time) []byte {
	b := make([]byte, 0, 2+8+4+2+len(metadata)+8)
	b = binary.BigEndian.AppendUint16(b, offsetValueVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(epoch))
	b = appendKafkaString(b, metadata)
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixMilli()))
}

// offsetReader decodes Kafka's big-endian primitives, remembering the
// first error.
type offsetReader struct {
	b   []byte
	err error
}

// take returns the next n bytes. Past the end it records the error and
// returns zeros, without allocating: n may be a string length read from
// the record, and the caller's result is discarded with the error.
func (r *offsetReader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		if r.err == nil {
			r.err = fmt.Errorf("%w: %d bytes short", errOffsetRecord, n-len(r.b))
		}
		r.b = nil
		var zeros [8]byte // the fixed-width fields take at most 8
		return zeros[:min(n, len(zeros))]
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *offsetReader) int16() int16 { return int16(binary.BigEndian.Uint16(r.take(2))) }
func (r *offsetReader) int32() int32 { return int32(binary.BigEndian.Uint32(r.take(4))) }
func (r *offsetReader) int64() int64 { return int64(binary.BigEndian.Uint64(r.take(8))) }

func (r *offsetReader) string() string {
	n := r.int16()
	if n < 0 {
		if r.err == nil {
			r.err = fmt.Errorf("%w: negative string length %d", errOffsetRecord, n)
		}
		return ""
	}
	return string(r.take(int(n)))
}

func (r *offsetReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", errOffsetRecord, len(r.b))
	}
	return r.err
}

// offsetDecodeErrorAlloc bounds what decodeOffsetKey and decodeOffsetValue
// allocate beyond the strings they return: an error.
const offsetDecodeErrorAlloc = 1 << 10

// decodeOffsetKey decodes a key of __consumer_offsets. ok is false for
// Kafka's group-metadata keys (version 2), which carry no offset. Like
// decodeOffsetValue, it allocates at most len(b) bytes for the strings it
// returns, plus offsetDecodeErrorAlloc.
func decodeOffsetKey(b []byte) (group string, tp TopicPartition, ok bool, err error) {
	r := offsetReader{b: b}
	switch v := r.int16(); {
	case r.err != nil:
		return "", tp, false, fmt.Errorf("key: %w", r.err)
	case v == 2:
		return "", tp, false, nil
	case v != 0 && v != 1:
		return "", tp, false, fmt.Errorf("key: %w: unknown version %d", errOffsetRecord, v)
	}
	group = r.string()
	tp.Topic = r.string()
	tp.Partition = r.int32()
	if err := r.done(); err != nil {
		return "", tp, false, fmt.Errorf("key: %w", err)
	}
	return group, tp, true, nil
}

// decodeOffsetValue decodes the value versions Kafka has written before
// its flexible version 4: 0 and 2 (offset, metadata, commit time), 1 (the
// same plus an expiry time) and 3 (with a leader epoch).
func decodeOffsetValue(b []byte) (committedOffset, error) {
	r := offsetReader{b: b}
	v := r.int16()
	if r.err == nil && (v < 0 || v > 3) {
		return committedOffset{}, fmt.Errorf("value: %w: unknown version %d", errOffsetRecord, v)
	}
	c := committedOffset{LeaderEpoch: -1}
	c.Offset = r.int64()
	if v == 3 {
		c.LeaderEpoch = r.int32()
	}
	c.Metadata = r.string()
	c.Time = time.UnixMilli(r.int64())
	if v == 1 {
		r.int64() // expiry time
	}
	if err := r.done(); err != nil {
		return committedOffset{}, fmt.Errorf("value: %w", err)
	}
	return c, nil
}
