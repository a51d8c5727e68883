package commitlog

import (
	"context"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// checkRange returns an *OffsetOutOfRangeError unless start <= from <= end.
func (p *Partition) checkRange(from int64) error {
	start, end := p.StartOffset(), p.EndOffset()
	if from < start || from > end {
		return &OffsetOutOfRangeError{Topic: p.topic.name, Partition: p.id, Offset: from, Start: start, End: end}
	}
	return nil
}

// waitAbove blocks until the high watermark is above from, and returns it.
func (p *Partition) waitAbove(ctx context.Context, from int64) (*storage.Position, error) {
	for {
		if hw := p.store.HighWatermarkPosition(); hw.Offset() > from {
			return hw, nil
		}
		ch := p.hwChanged()
		if hw := p.store.HighWatermarkPosition(); hw.Offset() > from {
			return hw, nil
		}
		select {
		case <-ch:
		case <-p.store.Done():
			return nil, p.store.ClosedErr()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Read returns records from offset from on, at least one batch and then as
// many whole batches as fit in maxBytes (encoded size). If no record at or
// above from is visible yet, it blocks until one is or ctx ends.
//
// The records and their slices are owned by the caller. Errors:
// *OffsetOutOfRangeError when from is outside [StartOffset, EndOffset],
// ErrInvalidArgument for maxBytes <= 0, *CorruptionError, ErrClosed, or the
// context's error.
func (p *Partition) Read(ctx context.Context, from int64, maxBytes int) ([]Record, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("%w: Read: maxBytes %d must be positive", ErrInvalidArgument, maxBytes)
	}
	for {
		if err := p.checkRange(from); err != nil {
			return nil, err
		}
		hw, err := p.waitAbove(ctx, from)
		if err != nil {
			return nil, err
		}
		recs, err := p.readCopy(from, maxBytes, hw)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		// Every record up to the high watermark was below from (possible
		// only where offsets have gaps): wait for more.
		from = max(from, hw.Offset())
	}
}

// readCopy reads batches from from under hw into records owned by the
// caller, copied into a recordArena.
func (p *Partition) readCopy(from int64, maxBytes int, hw *storage.Position) ([]Record, error) {
	r, err := p.store.NewReader(from, hw)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var (
		recs   []Record
		arena  recordArena
		it     record.Iter
		budget = maxBytes
	)
	for len(recs) == 0 || budget > 0 {
		b, h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 && len(b) > budget {
			break
		}
		budget -= len(b)
		if h.Control() {
			continue
		}
		if err := it.Reset(b, storage.MaxDecompressedBatch); err != nil {
			return nil, r.Corrupt(len(b), h, err)
		}
		if h.Codec() == compress.None {
			// Room for this batch and what the budget still allows, up
			// to what is left in the segment (the bytes of records are
			// fewer than their batches'), so that small batches share a
			// chunk instead of starting one each.
			arena.reserve(int64(len(b)) + min(int64(max(budget, 0)), r.Remaining()))
		}
		for it.Next() {
			rr := it.Record()
			if rr.Offset < from {
				continue
			}
			recs = append(recs, arena.copyRecord(p.topic.name, p.id, rr))
		}
		if err := it.Err(); err != nil {
			return nil, r.Corrupt(len(b), h, err)
		}
	}
	return recs, nil
}

// Scan iterates over the records from offset from up to the high watermark
// as it was when the iteration started, then stops.
//
// Records are decoded without copying: a record's Key, Value and header
// values are valid only until the next iteration (use Record.Clone to keep
// one). An error ends the iteration: *OffsetOutOfRangeError when from is
// outside [StartOffset, EndOffset], *CorruptionError, ErrClosed, or the
// context's error. A segment being read stays open until the iteration
// moves past it or ends, even across Close. Cursor is the same read,
// pulled one record at a time.
func (p *Partition) Scan(ctx context.Context, from int64) iter.Seq2[Record, error] {
	return p.scan(ctx, from, false)
}

// Follow is Scan that does not stop at the high watermark: once it has
// yielded everything visible, it waits for more records until ctx ends
// (then it yields the context's error) or the Log is closed (ErrClosed).
func (p *Partition) Follow(ctx context.Context, from int64) iter.Seq2[Record, error] {
	return p.scan(ctx, from, true)
}

func (p *Partition) scan(ctx context.Context, from int64, follow bool) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		c := p.newCursor(ctx, from, follow)
		// Also when the loop body panics: the cursor holds a segment
		// reference and may run a goroutine checking ahead.
		defer c.Close()
		// c.Next and c.Record, inlined into a loop over a local Record:
		// through the calls, Scan took 10% longer per record.
		rec, lastTS := c.rec, c.lastTS
		for c.it.Next() || c.advance() {
			rr := c.it.Record()
			rec.Offset, rec.Key, rec.Value = rr.Offset, rr.Key, rr.Value
			if rr.Timestamp != lastTS {
				lastTS, rec.Timestamp = rr.Timestamp, time.UnixMilli(rr.Timestamp)
			}
			rec.Headers = nil
			if len(rr.Headers) > 0 {
				rec.Headers = c.setHeaders(rr.Headers)
			}
			if !yield(rec, nil) {
				return
			}
		}
		if err := c.Err(); err != nil {
			yield(Record{}, err)
		}
	}
}

// OffsetForTime returns the offset of the first visible record whose
// timestamp is at or after ts. When there is none yet it returns the high
// watermark: the offset at which such a record would appear.
//
// Errors: *CorruptionError, ErrClosed.
func (p *Partition) OffsetForTime(ts time.Time) (int64, error) {
	if err := p.store.ErrIfClosed(); err != nil {
		return 0, err
	}
	target, afterAll := lookupTimestamp(ts)
	if afterAll {
		return p.HighWatermark(), nil
	}
	return p.store.OffsetForTimestamp(target)
}
