package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Producer state is what makes an idempotent producer's retries
// exactly-once: for every producer id a partition remembers the producer's
// epoch and its last producerStateBatches batches, so that a resent batch
// is recognised and answered with its original offsets instead of being
// appended twice, and a batch that skips sequence numbers is refused
// (Kafka's ProducerStateManager, reference §5.6).
//
// The state is rebuilt on Open from a snapshot file plus the batches that
// follow it in the log. A snapshot "<offset>.snapshot" (offset as 20
// decimal digits) holds the state after applying every batch below offset.
// It is written atomically (WriteFileAtomic) and protected by a CRC-32C;
// big-endian:
//
//	magic "CLPS" | version u16 = 1 | offset i64 | entries u32
//	entries × (sorted by pid, ascending, each pid once):
//	    pid i64 | epoch i16 | lastAppend i64 (Unix ms) | n u8 (≤ 5)
//	    n × (oldest first):
//	        firstSeq i32 | lastSeq i32 | baseOffset i64 | lastOffsetDelta i32
//	crc32c u32 (over every preceding byte)
//
// The encoding of a state is unique (entries sorted, no padding, nothing
// after the CRC), so decoding and re-encoding reproduces the input exactly.
// A missing or damaged snapshot only costs a longer scan of the log.
const (
	producerSnapshotMagic   = "CLPS"
	producerSnapshotVersion = 1
	ProducerSnapshotSuffix  = ".snapshot"

	// producerSnapshotHeader is magic, version, offset and entry count.
	producerSnapshotHeader = 4 + 2 + 8 + 4
	// producerSnapshotMinSize is an empty snapshot: header and CRC.
	producerSnapshotMinSize = producerSnapshotHeader + 4
	// producerSnapshotEntry is an entry without its batches: pid, epoch,
	// lastAppend, n.
	producerSnapshotEntry = 8 + 2 + 8 + 1
	// producerSnapshotBatch is one batch: firstSeq, lastSeq, baseOffset,
	// lastOffsetDelta.
	producerSnapshotBatch = 4 + 4 + 8 + 4
)

// producerSnapshotAllocPerByte bounds what decodeProducerSnapshot
// allocates per byte of snapshot (see there).
const producerSnapshotAllocPerByte = 12

// producerStateBatches is how many of a producer's most recent batches a
// partition remembers (Kafka's NUM_BATCHES_TO_RETAIN): a producer with at
// most that many requests in flight can have every one of them retried and
// deduplicated.
const producerStateBatches = 5

// producerBatch describes one appended batch of an idempotent producer.
type producerBatch struct {
	firstSeq, lastSeq int32
	baseOffset        int64
	lastOffsetDelta   int32
}

// lastOffset returns the offset of the batch's last record.
func (b producerBatch) lastOffset() int64 { return b.baseOffset + int64(b.lastOffsetDelta) }

// producerEntry is what a partition knows about one producer id.
type producerEntry struct {
	epoch      int16
	batches    [producerStateBatches]producerBatch // oldest first; the first n are valid
	n          int
	lastAppend int64 // log-clock time of the last append, Unix ms, for expiry
}

// last returns the entry's most recent batch; ok is false when it has none.
func (e *producerEntry) last() (b producerBatch, ok bool) {
	if e.n == 0 {
		return b, false
	}
	return e.batches[e.n-1], true
}

// producerStates maps producer ids to their entries. Not safe for
// concurrent use (the partition's append lock guards it).
type producerStates struct {
	entries map[int64]*producerEntry
	changes uint64 // incremented on every update/expire that changed something; the caller snapshots when it moved
}

func newProducerStates() *producerStates {
	return &producerStates{entries: make(map[int64]*producerEntry)}
}

// check decides what to do with an incoming batch of producer pid (pid >=
// 0) with the given epoch and sequence range (lastSeq is computed by the
// caller with NextSequence(firstSeq, lastOffsetDelta)), following Kafka's
// ProducerAppendInfo.checkProducerEpoch and checkSequence:
//
//   - no entry for pid (never seen, or expired): any sequence is accepted;
//   - epoch older than the entry's: fenced (a *SequenceError with Epoch <
//     LastEpoch, matching ErrProducerFenced);
//   - epoch newer than the entry's: firstSeq must be 0, a new epoch starts
//     its sequences afresh;
//   - same epoch: exactly the (firstSeq, lastSeq) of a remembered batch is a
//     duplicate, returned with isDup true (the caller answers with dup's
//     offsets and appends nothing); otherwise firstSeq must follow the last
//     batch's lastSeq (wrapping from math.MaxInt32 to 0). An entry without
//     batches accepts any sequence of its epoch.
//
// A refused batch gets a *SequenceError with ProducerID, Epoch, LastEpoch,
// FirstSeq and Expected set (Expected is 0 for a new epoch, and for a
// fenced batch the sequence the entry's own epoch expects next); the caller
// fills in Topic and Partition. check changes nothing.
func (s *producerStates) check(pid int64, epoch int16, firstSeq, lastSeq int32) (dup producerBatch, isDup bool, err error) {
	e, ok := s.entries[pid]
	if !ok {
		return dup, false, nil
	}
	var expected int32
	last, hasLast := e.last()
	if hasLast {
		expected = NextSequence(last.lastSeq, 1)
	}
	switch {
	case epoch < e.epoch:
		return dup, false, &SequenceError{ProducerID: pid, Epoch: epoch, LastEpoch: e.epoch, FirstSeq: firstSeq, Expected: expected}
	case epoch > e.epoch:
		if firstSeq != 0 {
			return dup, false, &SequenceError{ProducerID: pid, Epoch: epoch, LastEpoch: e.epoch, FirstSeq: firstSeq, Expected: 0}
		}
		return dup, false, nil
	}
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true, nil
		}
	}
	if hasLast && firstSeq != expected {
		return dup, false, &SequenceError{ProducerID: pid, Epoch: epoch, LastEpoch: e.epoch, FirstSeq: firstSeq, Expected: expected}
	}
	return dup, false, nil
}

// update records an appended batch of producer pid, made at appendTime
// (Unix ms). It is used both after a checked append and when replaying the
// log on recovery, where nothing is validated: the log is the truth. An
// epoch different from the entry's — newer after check, and whatever the
// log holds on replay — replaces the entry's batches, since sequences start
// afresh with every epoch (Kafka's maybeUpdateProducerEpoch). Only the last
// producerStateBatches batches are kept.
func (s *producerStates) update(pid int64, epoch int16, b producerBatch, appendTime int64) {
	e, ok := s.entries[pid]
	if !ok {
		e = &producerEntry{epoch: epoch}
		s.entries[pid] = e
	}
	if e.epoch != epoch {
		e.epoch = epoch
		e.n = 0
		e.batches = [producerStateBatches]producerBatch{}
	}
	if e.n == producerStateBatches {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
	e.lastAppend = appendTime
	s.changes++
}

// expire removes the entries whose lastAppend is older than now-maxIdle
// (both Unix ms, maxIdle >= 0) and returns how many it removed. A producer
// that appends again after its entry expired is accepted with any sequence.
func (s *producerStates) expire(now, maxIdle int64) int {
	if maxIdle > 0 && now < math.MinInt64+maxIdle {
		return 0 // the cutoff lies before the earliest representable time
	}
	cutoff := now - maxIdle
	removed := 0
	for pid, e := range s.entries {
		if e.lastAppend < cutoff {
			delete(s.entries, pid)
			removed++
		}
	}
	if removed > 0 {
		s.changes++
	}
	return removed
}

// clone returns a deep copy (the caller snapshots a copy taken under its
// lock and encodes it outside).
func (s *producerStates) clone() *producerStates {
	c := &producerStates{entries: make(map[int64]*producerEntry, len(s.entries)), changes: s.changes}
	for pid, e := range s.entries {
		ce := *e
		c.entries[pid] = &ce
	}
	return c
}

// len returns the number of producer ids with an entry.
func (s *producerStates) len() int { return len(s.entries) }

// NextSequence returns seq advanced by n: record.NextSequence, the wrap
// rule of the batch format.
func NextSequence(seq int32, n int32) int32 { return record.NextSequence(seq, n) }

// encodeProducerSnapshot encodes s as the state after applying every batch
// below offset, in the format described at the top of this file.
func encodeProducerSnapshot(offset int64, s *producerStates) []byte {
	pids := slices.Sorted(maps.Keys(s.entries))
	size := producerSnapshotMinSize
	for _, pid := range pids {
		size += producerSnapshotEntry + s.entries[pid].n*producerSnapshotBatch
	}
	b := make([]byte, 0, size)
	b = append(b, producerSnapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, producerSnapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(pids)))
	for _, pid := range pids {
		e := s.entries[pid]
		b = binary.BigEndian.AppendUint64(b, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastAppend))
		b = append(b, uint8(e.n))
		for _, x := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(x.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(x.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(x.baseOffset))
			b = binary.BigEndian.AppendUint32(b, uint32(x.lastOffsetDelta))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeProducerSnapshot verifies and decodes a snapshot made by
// encodeProducerSnapshot. Any damage — size, magic, CRC, version, counts
// that do not match the length, trailing bytes, or fields no encoded state
// can hold (a negative offset or pid, pids out of order, more than
// producerStateBatches batches, a batch at or past offset or overlapping
// the one before it) — returns an error matching ErrCorrupt that says what
// is wrong. It allocates no more than the length of b justifies: at most
// producerSnapshotAllocPerByte bytes per byte of b, plus 1 KiB (an entry,
// 19 bytes at least, takes a producerEntry of 144 bytes and its share of
// the map; measured at most 9.5 bytes per byte).
func decodeProducerSnapshot(b []byte) (offset int64, s *producerStates, err error) {
	if len(b) < producerSnapshotMinSize {
		return 0, nil, producerSnapshotError("size %d, want at least %d", len(b), producerSnapshotMinSize)
	}
	if string(b[:4]) != producerSnapshotMagic {
		return 0, nil, producerSnapshotError("bad magic %q", b[:4])
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(b)-4:]); got != want {
		return 0, nil, producerSnapshotError("crc32c %08x, stored %08x", got, want)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != producerSnapshotVersion {
		return 0, nil, producerSnapshotError("unknown version %d", v)
	}
	offset = int64(binary.BigEndian.Uint64(b[6:]))
	if offset < 0 {
		return 0, nil, producerSnapshotError("negative offset %d", offset)
	}
	count := binary.BigEndian.Uint32(b[14:])
	rest := body[producerSnapshotHeader:]
	if uint64(count)*producerSnapshotEntry > uint64(len(rest)) {
		return 0, nil, producerSnapshotError("%d entries do not fit in %d bytes", count, len(rest))
	}
	s = &producerStates{entries: make(map[int64]*producerEntry, count)}
	prev := int64(-1)
	for i := range count {
		if len(rest) < producerSnapshotEntry {
			return 0, nil, producerSnapshotError("entry %d of %d truncated", i, count)
		}
		pid := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{
			epoch:      int16(binary.BigEndian.Uint16(rest[8:])),
			lastAppend: int64(binary.BigEndian.Uint64(rest[10:])),
			n:          int(rest[18]),
		}
		rest = rest[producerSnapshotEntry:]
		switch {
		case pid < 0:
			return 0, nil, producerSnapshotError("entry %d: negative producer id %d", i, pid)
		case pid <= prev:
			return 0, nil, producerSnapshotError("entry %d: producer id %d does not follow %d", i, pid, prev)
		case e.n > producerStateBatches:
			return 0, nil, producerSnapshotError("entry %d (producer %d): %d batches, at most %d are kept", i, pid, e.n, producerStateBatches)
		case len(rest) < e.n*producerSnapshotBatch:
			return 0, nil, producerSnapshotError("entry %d (producer %d): %d batches truncated", i, pid, e.n)
		}
		prev = pid
		for j := range e.n {
			x := producerBatch{
				firstSeq:        int32(binary.BigEndian.Uint32(rest)),
				lastSeq:         int32(binary.BigEndian.Uint32(rest[4:])),
				baseOffset:      int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffsetDelta: int32(binary.BigEndian.Uint32(rest[16:])),
			}
			rest = rest[producerSnapshotBatch:]
			// Tested in this order, nothing overflows: baseOffset is in
			// [0, offset), so offset-baseOffset is positive.
			if x.baseOffset < 0 || x.lastOffsetDelta < 0 || x.baseOffset >= offset || int64(x.lastOffsetDelta) >= offset-x.baseOffset {
				return 0, nil, producerSnapshotError("entry %d (producer %d) batch %d: offsets [%d, %d+%d] outside [0, %d)",
					i, pid, j, x.baseOffset, x.baseOffset, x.lastOffsetDelta, offset)
			}
			if j > 0 && x.baseOffset <= e.batches[j-1].lastOffset() {
				return 0, nil, producerSnapshotError("entry %d (producer %d) batch %d: base offset %d not after the previous batch's last offset %d",
					i, pid, j, x.baseOffset, e.batches[j-1].lastOffset())
			}
			e.batches[j] = x
		}
		s.entries[pid] = e
	}
	if len(rest) != 0 {
		return 0, nil, producerSnapshotError("%d trailing bytes after %d entries", len(rest), count)
	}
	return offset, s, nil
}

// producerSnapshotError returns an error matching ErrCorrupt for a damaged
// producer snapshot; the caller adds the file's path.
func producerSnapshotError(format string, args ...any) error {
	return fmt.Errorf("%w: producer state snapshot: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// SnapshotFileName returns the name of the producer snapshot at offset.
func SnapshotFileName(offset int64) string {
	return fmt.Sprintf("%020d%s", offset, ProducerSnapshotSuffix)
}

// ParseSnapshotFileName returns the offset of a producer snapshot file
// name; ok is false for any name SnapshotFileName does not return.
func ParseSnapshotFileName(name string) (offset int64, ok bool) {
	digits, ok := strings.CutSuffix(name, ProducerSnapshotSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false // ParseInt would accept a sign
		}
	}
	offset, err := strconv.ParseInt(digits, 10, 64)
	return offset, err == nil
}
