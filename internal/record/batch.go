package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/commitlog-go/commitlog/internal/compress"
)

// Format constants. They are part of the on-disk format and must not change.
const (
	// HeaderSize is the size of the fixed batch header
	// (Kafka's RECORD_BATCH_OVERHEAD).
	HeaderSize = 61
	// LogOverhead is the size of baseOffset and batchLength, the bytes that
	// batchLength does not count (Kafka's LOG_OVERHEAD).
	LogOverhead = 12
	// Magic is the batch format version this package reads and writes.
	Magic = 2

	// NoTimestamp marks an absent timestamp.
	NoTimestamp = -1
	// NoProducerID is the producer id of a non-idempotent batch.
	NoProducerID = -1
	// NoSequence is the base sequence of a non-idempotent batch.
	NoSequence = -1
	// NoEpoch is the producer epoch of a non-idempotent batch and the
	// partition leader epoch of a batch not yet appended.
	NoEpoch = -1

	// AttrCodecMask selects the compression codec bits of the attributes.
	AttrCodecMask = 0x07
	// AttrLogAppendTime is set when maxTimestamp is the log append time.
	AttrLogAppendTime = 0x08
	// AttrTransactional is set on batches written in a transaction.
	AttrTransactional = 0x10
	// AttrControl is set on control batches (transaction markers).
	AttrControl = 0x20
	// AttrDeleteHorizon is set when baseTimestamp holds the delete horizon.
	AttrDeleteHorizon = 0x40
)

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// maxBatchSize is the largest size batchLength can describe.
const maxBatchSize int64 = math.MaxInt32 + LogOverhead

// Errors returned by this package, always wrapped with context: test for them
// with errors.Is.
var (
	// ErrCorrupt reports inconsistent bytes: a CRC mismatch, bad lengths,
	// bad varints, inconsistent counts.
	ErrCorrupt = errors.New("record: corrupt batch")
	// ErrTruncated reports fewer bytes than the batch declares, which is what
	// a torn write at the tail of a log looks like.
	ErrTruncated = errors.New("record: truncated batch")
	// ErrTooLarge reports a declared size (batch or decompressed records)
	// above the caller's limit, or a batch too large to encode.
	ErrTooLarge = errors.New("record: batch too large")
	// ErrEmptyBatch is returned by Builder.Build when no record was
	// appended: a built batch always holds at least one record.
	ErrEmptyBatch = errors.New("record: empty batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the fixed 61-byte batch header, decoded.
type Header struct {
	BaseOffset           int64  // offset of the first record
	BatchLength          int32  // bytes after the batchLength field
	PartitionLeaderEpoch int32  // NoEpoch until the log assigns one
	Magic                int8   // format version, always 2
	CRC                  uint32 // CRC-32C of bytes [21, end)
	Attributes           int16  // codec and flag bits, see the Attr constants
	LastOffsetDelta      int32  // last record's offset - BaseOffset
	BaseTimestamp        int64  // ms; first record's timestamp (or delete horizon)
	MaxTimestamp         int64  // ms; max record timestamp, or the append time
	ProducerID           int64  // NoProducerID when not idempotent
	ProducerEpoch        int16  // NoEpoch when not idempotent
	BaseSequence         int32  // NoSequence when not idempotent
	RecordCount          int32  // number of records in the batch
}

// Size returns the size of the whole batch in bytes: BatchLength +
// LogOverhead.
func (h *Header) Size() int { return int(h.BatchLength) + LogOverhead }

// LastOffset returns the offset of the batch's last record: BaseOffset +
// LastOffsetDelta. It is preserved by compaction even if that record is gone.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset returns the offset following the batch: LastOffset() + 1.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec returns the compression codec of the records.
func (h *Header) Codec() compress.Codec { return compress.Codec(h.Attributes & AttrCodecMask) }

// LogAppendTime reports whether MaxTimestamp is the log append time, which
// then is every record's timestamp.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch was written in a transaction.
func (h *Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch holds control records (transaction
// markers) rather than user records.
func (h *Header) Control() bool { return h.Attributes&AttrControl != 0 }

// HasDeleteHorizon reports whether BaseTimestamp holds the delete horizon set
// by the log cleaner (attribute bit 6).
func (h *Header) HasDeleteHorizon() bool { return h.Attributes&AttrDeleteHorizon != 0 }

// ParseHeader decodes the batch header at the start of b. b may hold just the
// header or more. It checks that
//
//   - len(b) >= HeaderSize, else the error wraps ErrTruncated;
//   - magic is 2, else ErrCorrupt naming the magic;
//   - HeaderSize <= Size() (else ErrCorrupt) and Size() <= maxSize (else
//     ErrTooLarge);
//   - LastOffsetDelta >= 0, RecordCount >= 0 and the codec id is valid
//     (0..4), else ErrCorrupt.
//
// It does not check the CRC nor that b holds the whole batch. On error the
// returned Header holds whatever was decoded, for diagnostics only. It
// allocates nothing unless it fails.
func ParseHeader(b []byte, maxSize int) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	b = b[:HeaderSize]
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[offRecordCount:]))

	if h.Magic != Magic {
		return h, fmt.Errorf("%w: magic %d at offset %d, only magic %d is supported", ErrCorrupt, h.Magic, h.BaseOffset, Magic)
	}
	// int64: Size() could overflow a 32-bit int.
	size := int64(h.BatchLength) + LogOverhead
	if size < HeaderSize {
		return h, fmt.Errorf("%w: batchLength %d at offset %d is below the header size", ErrCorrupt, h.BatchLength, h.BaseOffset)
	}
	if size > int64(maxSize) {
		return h, fmt.Errorf("%w: batch at offset %d is %d bytes, limit %d", ErrTooLarge, h.BaseOffset, size, maxSize)
	}
	if h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: negative lastOffsetDelta %d at offset %d", ErrCorrupt, h.LastOffsetDelta, h.BaseOffset)
	}
	if h.RecordCount < 0 {
		return h, fmt.Errorf("%w: negative record count %d at offset %d", ErrCorrupt, h.RecordCount, h.BaseOffset)
	}
	if c := h.Codec(); !c.Valid() {
		return h, fmt.Errorf("%w: invalid compression codec id %d at offset %d", ErrCorrupt, uint8(c), h.BaseOffset)
	}
	return h, nil
}

// putHeader encodes h into b[:HeaderSize].
func putHeader(b []byte, h *Header) {
	b = b[:HeaderSize]
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	binary.BigEndian.PutUint32(b[offCRC:], h.CRC)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(h.RecordCount))
}

// ComputeCRC returns the CRC-32C of batch[21:], the value the crc field must
// hold. batch must be one whole batch; a batch shorter than the CRC offset
// returns 0.
func ComputeCRC(batch []byte) uint32 {
	if len(batch) < offAttributes {
		return 0
	}
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// SetCRC sets the CRC field of batch, which must hold at least a header, to
// crc: the value ComputeCRC returns once every byte it covers is final.
func SetCRC(batch []byte, crc uint32) { binary.BigEndian.PutUint32(batch[offCRC:offCRC+4], crc) }

// CheckCRC verifies the CRC of batch, which must be exactly one whole batch
// (len(batch) == Size()). A batch shorter than its header or than its
// declared size returns an error wrapping ErrTruncated; a longer one, or a
// CRC mismatch, an error wrapping ErrCorrupt that gives both values. It
// allocates nothing unless it fails.
func CheckCRC(batch []byte) error {
	if len(batch) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, a batch header needs %d", ErrTruncated, len(batch), HeaderSize)
	}
	size := int64(int32(binary.BigEndian.Uint32(batch[offBatchLength:]))) + LogOverhead
	switch {
	case size < HeaderSize:
		return fmt.Errorf("%w: batchLength %d is below the header size", ErrCorrupt, size-LogOverhead)
	case size > int64(len(batch)):
		return fmt.Errorf("%w: batch declares %d bytes, %d present", ErrTruncated, size, len(batch))
	case size < int64(len(batch)):
		return fmt.Errorf("%w: batch declares %d bytes but %d were given", ErrCorrupt, size, len(batch))
	}
	want := binary.BigEndian.Uint32(batch[offCRC:])
	if got := ComputeCRC(batch); got != want {
		base := int64(binary.BigEndian.Uint64(batch[offBaseOffset:]))
		return fmt.Errorf("%w: CRC mismatch at offset %d: header %#08x, computed %#08x", ErrCorrupt, base, want, got)
	}
	return nil
}

// SetBaseOffset stores off as the batch's base offset (bytes 0..7). The CRC
// does not cover them, so it stays valid. batch must hold at least the batch
// header; it is modified in place.
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:offBaseOffset+8], uint64(off))
}

// SetPartitionLeaderEpoch stores epoch as the batch's partition leader epoch
// (bytes 12..15). The CRC does not cover them, so it stays valid. batch must
// hold at least the batch header; it is modified in place.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:offLeaderEpoch+4], uint32(epoch))
}

// SetLogAppendTime marks batch as using LogAppendTime, stores ts (ms) as its
// max timestamp, and recomputes the CRC, which covers both. This is what a
// log does on append to a topic with message.timestamp.type=LogAppendTime.
// batch must be one whole batch (it is modified in place); the cost is one
// CRC pass over it.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:offAttributes+2]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:offMaxTimestamp+8], uint64(ts))
	SetCRC(batch, ComputeCRC(batch))
}
