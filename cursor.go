package commitlog

import (
	"context"
	"io"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// Cursor reads a partition's records in offset order, one at a time and
// without copying: the pull form of Scan, in the manner of bufio.Scanner
// and sql.Rows. Scan hands each record to the loop body as a Record value;
// a Cursor decodes a record only into its own state, and Offset, Key and
// Value read it from there, so a loop that needs no more than those pays
// for nothing else (on 100-byte records, about a quarter less time per
// record than Scan; see BenchmarkCursor).
//
//	c := p.Cursor(ctx, from)
//	defer c.Close()
//	for c.Next() {
//		handle(c.Offset(), c.Value())
//	}
//	if err := c.Err(); err != nil { ... }
//
// A Cursor stops at the high watermark as it was at the first Next, as
// Scan does. Batches are checked (CRC, offset order) before any of their
// records is returned; the context is checked before each batch.
//
// Errors, from Err once Next has returned false: *OffsetOutOfRangeError
// when from is outside [StartOffset, EndOffset] at the first Next,
// *CorruptionError, ErrClosed (the Log was closed before the cursor
// entered a segment), ErrUnknownTopic (the topic was deleted), or the
// context's error.
//
// A Cursor holds the segment it is in open, even across Log.Close, until
// it moves past it, Next returns false or Close is called: call Close when
// leaving a loop early. A Cursor is not safe for concurrent use.
type Cursor struct {
	it     record.Iter // the batch being read; its current record is the cursor's
	p      *Partition
	ctx    context.Context
	follow bool
	// toWritten reads up to the written end rather than the high
	// watermark: what a new leader of __consumer_offsets replays.
	toWritten bool
	// from is the lowest offset still wanted: records below it in the
	// first batch read, and control batches, are skipped.
	from int64
	// r reads batches up to its high watermark; nil before the first
	// batch and after the last.
	r *storage.Reader
	// inBatch says that it holds the batch r returned last (r.header).
	inBatch       bool
	started, done bool
	err           error
	// rec is what Record returns; lastTS is rec.Timestamp in Unix ms (the
	// records of a batch mostly share a timestamp, converted once).
	rec     Record
	lastTS  int64
	headers []Header // rec.Headers when the record has headers, reused
}

// Cursor returns a Cursor over the records from offset from up to the high
// watermark as it is at the first Next. Nothing is read, and no error is
// reported, before the first Next.
func (p *Partition) Cursor(ctx context.Context, from int64) *Cursor {
	return p.newCursor(ctx, from, false)
}

// newCursor returns a Cursor; one that follows does not stop at the high
// watermark but waits for more records (Follow).
func (p *Partition) newCursor(ctx context.Context, from int64, follow bool) *Cursor {
	return &Cursor{
		p: p, ctx: ctx, from: from, follow: follow,
		rec: Record{Topic: p.topic.name, Partition: p.id, Timestamp: time.UnixMilli(0)},
	}
}

// Next moves to the next record and reports whether there is one. It
// returns false at the high watermark, on an error (see Err), and after
// Close; it then has released what the cursor held. Once the Log closes
// (or the topic is deleted), Next returns the rest of the batch it is in
// and then false, with Err reporting ErrClosed (or ErrUnknownTopic). A Cursor that follows
// (the one behind Follow) blocks in Next until a record arrives, ctx ends
// or the Log closes.
func (c *Cursor) Next() bool {
	if c.it.Next() {
		return true
	}
	return c.advance()
}

// Offset returns the current record's offset. Offset, Key and Value are
// valid after Next returned true, and zero otherwise.
func (c *Cursor) Offset() int64 { return c.it.Record().Offset }

// Key returns the current record's key (nil for a null key). It points
// into the segment's mapping or the cursor's buffers: valid until the next
// Next or Close. Copy it, or use Record().Clone(), to keep it.
func (c *Cursor) Key() []byte { return c.it.Record().Key }

// Value returns the current record's value (nil for a null value), valid
// as Key is.
func (c *Cursor) Value() []byte { return c.it.Record().Value }

// Record returns the current record whole, or nil when there is none
// (before the first Next, and once Next has returned false). The Record
// and its Headers slice belong to the cursor and are overwritten by the
// next call; its Key, Value and header values are valid until the next
// Next or Close.
func (c *Cursor) Record() *Record {
	if !c.inBatch {
		return nil
	}
	rr, r := c.it.Record(), &c.rec
	r.Offset, r.Key, r.Value = rr.Offset, rr.Key, rr.Value
	if rr.Timestamp != c.lastTS {
		c.lastTS, r.Timestamp = rr.Timestamp, time.UnixMilli(rr.Timestamp)
	}
	r.Headers = nil
	if len(rr.Headers) > 0 {
		r.Headers = c.setHeaders(rr.Headers)
	}
	return r
}

// setHeaders converts a record's headers into the cursor's reused slice
// and returns it.
func (c *Cursor) setHeaders(hs []record.RecordHeader) []Header {
	c.headers = c.headers[:0]
	for _, h := range hs {
		c.headers = append(c.headers, Header{Key: string(h.Key), Value: h.Value})
	}
	return c.headers
}

// Err returns the error that ended the iteration, or nil if it ended at
// the high watermark, was closed, or has not ended.
func (c *Cursor) Err() error { return c.err }

// Close releases the segment the cursor holds; Next then returns false.
// Close may be called more than once, and after Next returned false.
func (c *Cursor) Close() { c.finish() }

// advance moves to the first wanted record of the next batch that has one,
// entering segments and (when following) waiting for the high watermark
// to rise as needed.
func (c *Cursor) advance() bool {
	for !c.done {
		if c.inBatch {
			// The batch's records are all returned, or one failed.
			c.inBatch = false
			h := c.r.Header()
			if err := c.it.Err(); err != nil {
				return c.fail(c.r.Corrupt(int(h.Size()), h, err))
			}
			c.from = max(c.from, h.NextOffset())
		}
		if c.r == nil && !c.open() {
			return false
		}
		if err := c.ctx.Err(); err != nil {
			return c.fail(err)
		}
		if err := c.p.store.ErrIfClosed(); err != nil {
			return c.fail(err)
		}
		b, h, err := c.r.Next()
		if err == io.EOF {
			if !c.follow {
				return c.finish() // stop at the high watermark the cursor started with
			}
			c.from = max(c.from, c.r.HighWatermark())
			c.r.Close()
			c.r = nil
			continue
		}
		if err != nil {
			return c.fail(err)
		}
		if h.Control() {
			c.from = max(c.from, h.NextOffset())
			continue
		}
		if err := c.it.Reset(b, storage.MaxDecompressedBatch); err != nil {
			return c.fail(c.r.Corrupt(len(b), h, err))
		}
		c.inBatch = true
		for c.it.Next() {
			if c.it.Record().Offset >= c.from {
				return true
			}
		}
	}
	return false
}

// open starts reading at c.from: on the first call it checks that from is
// in range; it takes the high watermark, waiting for it to pass from when
// following, and positions a batch reader. It reports false when the
// cursor is finished.
func (c *Cursor) open() bool {
	if !c.started {
		c.started = true
		if err := c.p.checkRange(c.from); err != nil {
			return c.fail(err)
		}
	}
	if err := c.ctx.Err(); err != nil {
		return c.fail(err)
	}
	hw := c.p.store.HighWatermarkPosition()
	if c.toWritten {
		hw = c.p.store.WrittenPosition()
	}
	if hw.Offset() <= c.from {
		if !c.follow {
			return c.finish()
		}
		var err error
		if hw, err = c.p.waitAbove(c.ctx, c.from); err != nil {
			return c.fail(err)
		}
	}
	r, err := c.p.store.NewReader(c.from, hw)
	if err != nil {
		return c.fail(err)
	}
	c.r = r
	return true
}

// fail ends the iteration with err.
func (c *Cursor) fail(err error) bool {
	c.err = err
	return c.finish()
}

// finish ends the iteration: it releases the reader and forgets the batch,
// which may lie in a mapping the release lets go. It returns false, for
// Next to return.
func (c *Cursor) finish() bool {
	c.done, c.inBatch = true, false
	if c.r != nil {
		c.r.Close()
		c.r = nil
	}
	c.it = record.Iter{}
	return false
}
