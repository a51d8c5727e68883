package produce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
)

// Errors of Reserve. The caller translates them into its own.
var (
	// ErrFull: the buffer is full and Reserve was told not to wait.
	ErrFull = errors.New("produce: buffer full")
	// ErrClosed: Close has started.
	ErrClosed = errors.New("produce: closed")
)

// Config is what an Engine needs from its owner. Encode and Report are
// required; the rest have defaults.
type Config[R any] struct {
	// Linger is how long an open batch may wait for more records before
	// it is sent. 0: a batch is sent as soon as its partition's previous
	// one is done.
	Linger time.Duration

	// MaxBufferedBytes and MaxBufferedRecords bound what Reserve accounts:
	// records reserved and not yet reported. Both must be positive.
	MaxBufferedBytes   int64
	MaxBufferedRecords int

	// Idempotent numbers the batches of each partition: before each Send
	// the batch's base sequence is set to the partition's next sequence,
	// which advances by the batch's records when Send succeeds (and only
	// then, so a failed batch consumes no sequence numbers). When the
	// acknowledgement of a stored batch fails (an Ack's error), what the
	// log keeps of it and of the batches stored after it is unknown, so no
	// sequence number is sure to follow: the partition's next batch starts
	// a new producer epoch at sequence 0, which the log accepts whatever
	// it kept (Kafka's epoch bump for an unresolved sequence, KIP-360).
	// The epochs start at PartitionConfig.Build.ProducerEpoch; past
	// math.MaxInt16 the partition takes a new producer id from
	// NewProducerID, at epoch 0.
	Idempotent bool

	// NewProducerID returns a producer id never used before, for a
	// partition whose producer epochs are exhausted (see Idempotent). When
	// it is nil or fails, the batch fails with an error saying so, and the
	// next one tries again.
	NewProducerID func() (int64, error)

	// MaxInFlight bounds, per partition, the batches sent and not yet
	// handed to the completer because they, or a batch before them, await
	// their acknowledgement (Sink.Send returned an Ack): the partition's
	// sender waits for room before sending one more. 0 is read as 1. It
	// does not matter to a Sink that never returns an Ack.
	MaxInFlight int

	// Now is the clock of linger times. Default time.Now.
	Now func() time.Time
	// AfterFunc starts a linger timer that calls f after d on a goroutine
	// of its own, as time.AfterFunc does (the default).
	AfterFunc func(d time.Duration, f func()) Timer

	// Encode appends r to the batch b, and returns scratch, which it may
	// use for r's headers (scratch[:0] is free; it is the partition's, and
	// Encode runs under the partition's mutex). It must not block.
	Encode func(b *record.Builder, r R, scratch []record.RecordHeader) []record.RecordHeader

	// Report hands over the outcome of one batch: the records in the order
	// they were added and the result of its Send, or the error that kept
	// the batch out. It must call every entry's Promise. Report runs on the
	// Engine's completer goroutine, serially with every other Report and
	// failed promise (Fail), batches of one partition in the order they
	// were started. recs is the Engine's: it must not be kept.
	Report func(recs []Entry[R], res Result, err error)
}

// Timer is a linger timer: Stop reports whether it stopped the timer before
// it fired, as time.Timer's does.
type Timer interface{ Stop() bool }

// Entry is a record of a batch and its promise.
type Entry[R any] struct {
	Record  R
	Promise func(R, error)
}

// Result is what a Sink reports of a sent batch.
type Result struct {
	Base       int64     // offset of the first record
	Last       int64     // offset of the last record
	AppendTime time.Time // the append time the log gave the records, or zero
	// Remote says another node stored the batch (it was forwarded to the
	// partition's leader), which saw to what follows it.
	Remote bool
}

// Ack waits for the acknowledgement of a batch that Sink.Send stored: it
// returns nil once the batch is acknowledged, or the error that says it is
// not (the batch may still be kept: the error is ambiguous).
type Ack func() error

// Sink sends the batches of one partition. Send is called from one
// goroutine at a time, the partition's sender, and returns before the
// next Send; Sent and the Acks it returned may run on the partition's
// acker goroutine meanwhile.
type Sink interface {
	// Send builds the batch from b (b.Build, possibly after changing its
	// compression) and sends it. It returns when the batch is stored and
	// acknowledged, or has failed, with a nil Ack; or, to pipeline, once
	// the batch is stored and has its offsets but its acknowledgement is
	// still to come, with an Ack that waits for it. b's producer id, epoch
	// and base sequence are already set. The Engine calls an Ack at most
	// once, after Send has returned, in the order the batches were sent;
	// it does not call the Ack of a batch sent before an earlier batch's
	// Ack failed (see Partition), nor, hence, any when Send failed.
	Send(b *record.Builder) (Result, Ack, error)
	// Sent is called after a successful batch's outcome has been handed to
	// Report (and possibly reported already), with Send's result: the
	// place for work that must follow the batch without holding up its
	// promises. It runs on the sender, or on the acker for a batch that
	// waited for its acknowledgement there, possibly while Send runs for
	// a later batch.
	Sent(res Result)
}

// Engine batches the records of one producer: per-partition accumulators,
// the buffer limits, linger, one sender per partition with a batch to send,
// one acker per partition with batches awaiting acknowledgement, and the
// completer goroutine that reports outcomes. An Engine is safe for
// concurrent use. Its goroutines (completer, senders, ackers, linger
// timers) are stopped by Close.
type Engine[R any] struct {
	cfg Config[R]

	// closed is set by Close before it flushes. Add checks it again while
	// it holds the partition's mutex, and flush takes every partition's
	// mutex after, so that no record is added after Close has started
	// flushing without Close waiting for it.
	closed  atomic.Bool
	closeMu sync.Mutex    // serializes Close
	closing chan struct{} // closed by Close: wakes Reserve waiting for space

	partsMu sync.Mutex // serializes adding to parts
	parts   atomic.Pointer[[]*Partition[R]]

	buffer[R]

	flushing atomic.Int32 // > 0 while Flush or Close wants lingering batches sent

	senders sync.WaitGroup // partition senders, ackers and linger timers in flight
	done    completer[R]
	wg      sync.WaitGroup // the completer goroutine
}

// New returns an Engine and starts its completer goroutine; Close stops it.
func New[R any](cfg Config[R]) *Engine[R] {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = afterFunc
	}
	cfg.MaxInFlight = max(cfg.MaxInFlight, 1)
	e := &Engine[R]{cfg: cfg, closing: make(chan struct{})}
	e.buffer.init(cfg.MaxBufferedBytes, cfg.MaxBufferedRecords)
	e.parts.Store(new([]*Partition[R]))
	e.done.init(cfg.Report)
	e.wg.Go(e.done.run)
	return e
}

func afterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Closed reports whether Close has started.
func (e *Engine[R]) Closed() bool { return e.closed.Load() }

// Fail reports a record that never entered a batch: promise(r, err) is
// called on the completer goroutine, in order with the batches handed
// over before; once the Engine is closed, on the caller's goroutine.
func (e *Engine[R]) Fail(r R, promise func(R, error), err error) {
	e.done.failed(r, promise, err)
}

// Flush sends every batch now, lingering or not, and waits until every
// record added before the call has been reported, or ctx ends. With a
// context that has ended already, Flush still sends the batches and
// returns the context's error whenever any was waited for. Flush does not
// check Closed.
func (e *Engine[R]) Flush(ctx context.Context) error {
	e.flushing.Add(1)
	defer e.flushing.Add(-1)
	// The batches of a partition finish in the order they were started, so
	// waiting for the last one started waits for all.
	type wait struct {
		p   *Partition[R]
		seq uint64
	}
	var buf [8]wait
	waits := buf[:0]
	for _, p := range *e.parts.Load() {
		p.mu.Lock()
		seq := p.created
		start := false
		if p.finished.Load() < seq {
			waits = append(waits, wait{p, seq})
			// The open batch goes now, lingering or not: closed into the
			// ready queue, it is sent whether or not Flush is still
			// running when the sender gets to it.
			if p.open != nil && len(p.open.recs) > 0 {
				p.closeOpen()
			}
			if !p.sending && len(p.ready) > 0 {
				p.sending, start = true, true
			}
		}
		p.mu.Unlock()
		if start {
			p.startSender()
		}
	}
	if len(waits) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		// Ended already: the batches are sent all the same, and the
		// answer does not depend on whether they happen to finish first.
		return err
	}
	e.waiters.Add(1)
	defer e.waiters.Add(-1)
	for _, w := range waits {
		for w.p.finished.Load() < w.seq {
			ch := e.spaceChan()
			if w.p.finished.Load() >= w.seq {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Close refuses further records (Add fails, Reserve returns ErrClosed),
// sends every batch, waits until all are reported, and stops the Engine's
// goroutines. It is idempotent.
func (e *Engine[R]) Close() {
	e.closeMu.Lock()
	if e.closed.Load() {
		e.closeMu.Unlock()
		return
	}
	e.closed.Store(true)
	close(e.closing)
	e.closeMu.Unlock()

	_ = e.Flush(context.Background()) // fails only with its context
	// Stop linger timers that did not fire: Flush sent their batches.
	for _, p := range *e.parts.Load() {
		p.mu.Lock()
		if p.timer != nil && p.timer.Stop() {
			p.timer = nil
			e.senders.Done()
		}
		p.mu.Unlock()
	}
	e.senders.Wait()
	e.done.stop()
	e.wg.Wait()
	e.dropFree()
}
