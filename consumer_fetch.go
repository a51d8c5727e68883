package commitlog

import (
	"errors"
	"io"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// pollBuffer collects the records of one Poll into a recordArena, so a
// Poll costs a few allocations whatever the number of records; the
// records are the caller's.
type pollBuffer struct {
	recs  []Record
	arena recordArena
	bytes int // keys, values and headers collected
}

// reserve makes room in the arena for the keys and values this Poll will
// still copy, estimated when it starts reading the uncompressed batch h
// (from offset from on): the records it can still take (the capacity Poll
// gave recs: what is visible, up to MaxPollRecords), sized like h's
// records, but never more than limit, the encoded bytes left up to the
// high watermark in the segment being read (which bound them), nor than
// maxBytes in all.
func (b *pollBuffer) reserve(h *record.Header, from int64, maxRecords, maxBytes int, limit int64) {
	count := int64(h.RecordCount)
	if count <= 0 || h.Codec() != compress.None {
		return
	}
	left := int64(cap(b.recs) - len(b.recs))
	if left <= 0 {
		left = min(h.LastOffset()-from+1, int64(maxRecords-len(b.recs)))
	}
	b.arena.reserve(min(int64(h.Size())*left/count, limit, int64(maxBytes-b.bytes)))
}

// add copies rr, a record of tp.
func (b *pollBuffer) add(tp *TopicPartition, rr *record.Record, size int) {
	b.recs = append(b.recs, b.arena.copyRecord(tp.Topic, tp.Partition, rr))
	b.bytes += size
}

// recordSize is what a record counts against FetchMaxBytes.
func recordSize(rr *record.Record) int {
	n := len(rr.Key) + len(rr.Value)
	for _, h := range rr.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// fetchCursor reads one partition for a consumer from its position on. It
// keeps its place inside a batch across Polls, so a batch larger than one
// Poll is checked and decoded once; while it is inside a batch or has
// records left below the high watermark it holds a reference to the
// segment it reads. An idle consumer, caught up, holds nothing.
type fetchCursor struct {
	r       *storage.Reader // nil when none is open
	it      record.Iter
	inBatch bool
	header  record.Header // of the batch being returned
	pending record.Record // a record that did not fit the last Poll
	hasPend bool
}

// close releases what the cursor holds. The position is the consumer's.
func (f *fetchCursor) close() {
	if f.r != nil {
		f.r.Close()
		f.r = nil
	}
	f.inBatch, f.hasPend = false, false
}

// fill adds records of cp from its position on to b, until b holds
// maxRecords records or maxBytes bytes (but at least one record) or cp has
// nothing more visible, and advances cp's position. Errors: an
// *OffsetOutOfRangeError when the position is outside the partition's
// range, *CorruptionError, ErrClosed or ErrUnknownTopic.
func (f *fetchCursor) fill(cp *consumedPartition, b *pollBuffer, maxRecords, maxBytes int) error {
	p := cp.p
	if f.inBatch {
		b.reserve(&f.header, cp.pos, maxRecords, maxBytes, int64(f.header.Size())+f.r.Remaining())
	}
	for len(b.recs) < maxRecords {
		if f.inBatch {
			var rr *record.Record
			switch {
			case f.hasPend:
				rr = &f.pending
			case f.it.Next():
				rr = f.it.Record()
			default:
				if err := f.it.Err(); err != nil {
					err = f.r.Corrupt(int(f.header.Size()), &f.header, err)
					f.close()
					return err
				}
				f.inBatch = false
				cp.pos = max(cp.pos, f.header.NextOffset())
				continue
			}
			if rr.Offset < cp.pos {
				f.hasPend = false
				continue
			}
			size := recordSize(rr)
			if len(b.recs) > 0 && b.bytes+size > maxBytes {
				if !f.hasPend {
					f.pending, f.hasPend = *rr, true
				}
				return nil
			}
			f.hasPend = false
			b.add(&cp.tp, rr, size)
			cp.pos, cp.epoch = rr.Offset+1, f.header.PartitionLeaderEpoch
			if b.bytes >= maxBytes {
				return nil
			}
			continue
		}
		if f.r == nil {
			hw := p.store.HighWatermarkPosition()
			if err := p.checkRange(cp.pos); err != nil {
				return err
			}
			if cp.pos >= hw.Offset() {
				return nil
			}
			r, err := p.store.NewReader(cp.pos, hw)
			if err != nil {
				return err
			}
			f.r = r
		}
		batch, h, err := f.r.Next()
		if errors.Is(err, storage.ErrLogTruncated) {
			// A replica's log was cut under the reader: the next Poll
			// checks the position against the log as it is now.
			f.close()
			return nil
		}
		if err == io.EOF {
			// Everything below the reader's high watermark is read; a
			// new reader sees what was appended since.
			cp.pos = max(cp.pos, f.r.HighWatermark())
			f.r.Close()
			f.r = nil
			// Caught up: hold nothing of what was read (the last batch
			// may sit in the reader's buffer). The decompression buffer
			// stays for the next batch: it is bounded by the batch size.
			f.it.Release()
			f.pending = record.Record{}
			if p.HighWatermark() > cp.pos {
				continue
			}
			return nil
		}
		if err != nil {
			f.close()
			return err
		}
		if h.Control() {
			cp.pos = max(cp.pos, h.NextOffset())
			continue
		}
		if err := f.it.Reset(batch, storage.MaxDecompressedBatch); err != nil {
			err = f.r.Corrupt(len(batch), h, err)
			f.close()
			return err
		}
		f.header, f.inBatch = *h, true
		b.reserve(h, cp.pos, maxRecords, maxBytes, int64(len(batch))+f.r.Remaining())
	}
	return nil
}
