package record

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/commitlog-go/commitlog/internal/compress"
)

// retainAttrs are the attribute bits a rebuilt batch keeps from the original
// (bits 7-15 are written as 0, as the Builder writes them).
const retainAttrs = AttrCodecMask | AttrLogAppendTime | AttrTransactional | AttrControl | AttrDeleteHorizon

// Retainer rebuilds one batch keeping a subset of its records, as Kafka's log
// cleaner does (MemoryRecords.filterTo, buildRetainedRecordsInto): Reset with
// the original batch's header, iterate the batch with an Iter and Keep the
// records to retain, in order, then Build.
//
// The rebuilt batch keeps the original's base offset, partition leader epoch,
// lastOffsetDelta (even if the last record was dropped, so that the next
// batch still starts at NextOffset), maxTimestamp, producer id, epoch and
// base sequence, and its codec, timestamp type, transactional and control
// bits. Kept records keep their offset deltas, so offsets have gaps where
// records were dropped, and decode to the same offset, timestamp, key, value
// and headers as before.
//
// Reuse a Retainer with Reset: it keeps its buffers, so steady-state
// rebuilding allocates nothing per record, and nothing per batch once its
// buffers have grown (compression aside, which pools its encoders). The zero
// Retainer is ready for Reset. A Retainer is not safe for concurrent use.
type Retainer struct {
	// hdr is the original header, as given to Reset.
	hdr Header
	// baseTS is the rebuilt batch's baseTimestamp; attrs its attributes.
	baseTS int64
	attrs  int16
	// verbatim is set when baseTS is the original's: kept records are then
	// copied byte for byte.
	verbatim bool
	// buf holds HeaderSize reserved bytes, then the kept records. An
	// uncompressed batch is built in place in buf.
	buf []byte
	// out holds the last compressed batch.
	out   []byte
	count int
	// lastDelta is the offset delta of the last kept record, -1 before the
	// first.
	lastDelta int32
	// err is sticky: the first Keep that failed.
	err   error
	ready bool
}

// Reset discards the records kept so far and starts rebuilding the batch
// whose header is h, as ParseHeader or Iter.Header returns it; h is copied.
//
// deleteHorizon >= 0 sets attribute bit 6 (AttrDeleteHorizon) and makes
// deleteHorizon the rebuilt batch's baseTimestamp (KIP-534): kept records
// are then re-encoded with their timestamp deltas relative to it, so that
// they decode to the same timestamps. deleteHorizon < 0 keeps h's
// baseTimestamp, and its delete horizon bit if set, and kept records are
// copied verbatim.
func (r *Retainer) Reset(h *Header, deleteHorizon int64) {
	r.hdr = *h
	r.attrs = h.Attributes & retainAttrs
	r.baseTS = h.BaseTimestamp
	if deleteHorizon >= 0 {
		r.attrs |= AttrDeleteHorizon
		r.baseTS = deleteHorizon
	}
	r.verbatim = r.baseTS == h.BaseTimestamp
	if cap(r.buf) < HeaderSize {
		r.buf = make([]byte, HeaderSize, 4<<10)
	}
	r.buf = r.buf[:HeaderSize]
	r.count = 0
	r.lastDelta = -1
	r.err = nil
	r.ready = true
}

// Keep adds the current record of it (the one it.Record returns) to the
// rebuilt batch. it must be iterating the batch given to Reset, and records
// must be kept in iteration order, each at most once.
//
// The record is copied verbatim (it.RawRecord) when the baseTimestamp is
// unchanged, and otherwise re-encoded exactly as the Builder encodes records
// (record attributes 0, minimal varints) with the same offset delta and a
// timestamp delta relative to the new baseTimestamp. The timestamp kept is
// the one encoded in the record (the original baseTimestamp plus its delta),
// which is what it decodes to, except in a LogAppendTime batch where every
// record decodes to maxTimestamp whatever its delta.
//
// A record that cannot be kept is not; the error is remembered and returned
// by Build, and later Keeps are ignored until Reset. The errors are: Keep
// before Reset, an Iter without a current record or iterating another batch
// (header different from Reset's), an offset delta not above the last kept
// one (wraps ErrCorrupt: the batch was not validated, or a record was kept
// twice), and a batch that would exceed the format's size (ErrTooLarge).
func (r *Retainer) Keep(it *Iter) {
	if r.err != nil {
		return
	}
	if !r.ready {
		r.err = errors.New("record: retain: Keep before Reset")
		return
	}
	raw := it.RawRecord()
	if raw == nil {
		r.err = errors.New("record: retain: Keep with an Iter that has no current record")
		return
	}
	if it.hdr != r.hdr {
		r.err = fmt.Errorf("record: retain: Keep with an Iter on the batch at offset %d, not the one given to Reset (offset %d)",
			it.hdr.BaseOffset, r.hdr.BaseOffset)
		return
	}
	if it.offsetDelta <= r.lastDelta {
		r.err = fmt.Errorf("%w: batch at offset %d: kept offset delta %d does not follow %d",
			ErrCorrupt, r.hdr.BaseOffset, it.offsetDelta, r.lastDelta)
		return
	}
	if r.verbatim {
		if total := int64(len(r.buf)) + int64(len(raw)); total > maxBatchSize {
			r.err = r.tooLarge(total)
			return
		}
		r.buf = append(r.buf, raw...)
	} else {
		rec := it.Record()
		// Wraps like Kafka's long arithmetic; decoding wraps back.
		tsDelta := r.hdr.BaseTimestamp + it.tsDelta - r.baseTS
		body, ok := recordBodySize(it.offsetDelta, tsDelta, rec.Key, rec.Value, rec.Headers)
		total := int64(len(r.buf)) + int64(varintLen(body)) + body
		if !ok || total > maxBatchSize {
			r.err = r.tooLarge(total)
			return
		}
		r.buf = appendRecord(r.buf, body, it.offsetDelta, tsDelta, rec.Key, rec.Value, rec.Headers)
	}
	r.lastDelta = it.offsetDelta
	r.count++
}

func (r *Retainer) tooLarge(total int64) error {
	return fmt.Errorf("%w: batch at offset %d: keeping record %d makes it %d bytes, the format allows %d",
		ErrTooLarge, r.hdr.BaseOffset, r.count, total, maxBatchSize)
}

// appendRecord appends one record with the given body size (as
// recordBodySize computes it), exactly as Builder.Append encodes it.
// Builder.Append keeps its own copy inline: calling this costs its hot
// loop about 5% (BenchmarkBuild/none).
func appendRecord(buf []byte, body int64, offsetDelta int32, tsDelta int64, key, value []byte, headers []RecordHeader) []byte {
	buf = binary.AppendVarint(buf, body)
	buf = append(buf, 0) // record attributes: unused
	buf = binary.AppendVarint(buf, tsDelta)
	buf = binary.AppendVarint(buf, int64(offsetDelta))
	buf = appendBytesField(buf, key)
	buf = appendBytesField(buf, value)
	buf = binary.AppendVarint(buf, int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		buf = binary.AppendVarint(buf, int64(len(h.Key)))
		buf = append(buf, h.Key...)
		buf = appendBytesField(buf, h.Value)
	}
	return buf
}

// Count returns the number of records kept since Reset.
func (r *Retainer) Count() int { return r.count }

// Build finishes the rebuilt batch and returns it: the original header (see
// Retainer) with baseTimestamp and bit 6 as Reset decided, recordCount
// Count(), the kept records compressed with the original codec at its
// default level when it is not None, and the CRC. The batch passes Validate:
// offset deltas strictly increase within [0, lastOffsetDelta], with gaps.
//
// The returned slice is owned by the Retainer and valid until the next Reset
// or Build. Build does not reset the Retainer.
//
// Errors: ErrEmptyBatch if no record was kept (callers drop the batch, or
// replace a run of such batches with AppendFiller); the error remembered by
// Keep; an invalid codec in the header given to Reset (wraps
// compress.ErrUnknownCodec); a compression failure, wrapped; ErrTooLarge if
// compression makes the batch exceed what batchLength can describe.
func (r *Retainer) Build() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.count == 0 {
		return nil, ErrEmptyBatch
	}
	c := r.hdr.Codec()
	if !c.Valid() {
		return nil, fmt.Errorf("record: retain: batch at offset %d: %w: %s", r.hdr.BaseOffset, compress.ErrUnknownCodec, c)
	}
	batch := r.buf
	if c != compress.None {
		if cap(r.out) < HeaderSize {
			r.out = make([]byte, HeaderSize, HeaderSize+len(r.buf)/2)
		}
		out, err := compress.Compress(r.out[:HeaderSize], c, 0, r.buf[HeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("record: retain: batch at offset %d: %w", r.hdr.BaseOffset, err)
		}
		r.out = out
		if int64(len(out)) > maxBatchSize {
			return nil, fmt.Errorf("%w: batch at offset %d: %s-compressed it is %d bytes, the format allows %d",
				ErrTooLarge, r.hdr.BaseOffset, c, len(out), maxBatchSize)
		}
		batch = out
	}
	h := r.hdr
	h.BatchLength = int32(len(batch) - LogOverhead)
	h.Magic = Magic
	h.Attributes = r.attrs
	h.BaseTimestamp = r.baseTS
	h.RecordCount = int32(r.count)
	putHeader(batch, &h)
	SetCRC(batch, ComputeCRC(batch))
	return batch, nil
}

// AppendFiller appends to dst an empty batch standing for offsets
// [baseOffset, lastOffset] and returns the extended slice. Compaction uses it
// in place of a run of batches whose records were all removed, so that batch
// offsets stay contiguous: each batch starts at the previous one's
// NextOffset.
//
// The batch has recordCount 0 and no record bytes, codec None and no other
// attribute bit, producer id NoProducerID, producer epoch NoEpoch, base
// sequence NoSequence, baseTimestamp and maxTimestamp maxTimestamp,
// lastOffsetDelta lastOffset - baseOffset, partition leader epoch
// leaderEpoch, and a valid CRC; it is HeaderSize bytes long and passes
// Validate. The caller guarantees 0 <= lastOffset - baseOffset <=
// math.MaxInt32 (no overflow in the subtraction); AppendFiller does not check.
func AppendFiller(dst []byte, baseOffset, lastOffset, maxTimestamp int64, leaderEpoch int32) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...) // the compiler extends dst without allocating a temporary
	h := Header{
		BaseOffset:           baseOffset,
		BatchLength:          HeaderSize - LogOverhead,
		PartitionLeaderEpoch: leaderEpoch,
		Magic:                Magic,
		LastOffsetDelta:      int32(lastOffset - baseOffset),
		BaseTimestamp:        maxTimestamp,
		MaxTimestamp:         maxTimestamp,
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoEpoch,
		BaseSequence:         NoSequence,
	}
	batch := dst[start:]
	putHeader(batch, &h)
	SetCRC(batch, ComputeCRC(batch))
	return dst
}
