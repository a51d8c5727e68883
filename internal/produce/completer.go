package produce

import (
	"sync"
	"unsafe"

	"github.com/commitlog-go/commitlog/internal/compress"
)

// completer reports outcomes, serially, on one goroutine: batches in the
// order senders hand them over (so per partition in the order they were
// started), and records that failed before entering a batch.
type completer[R any] struct {
	report   func(recs []Entry[R], res Result, err error)
	mu       sync.Mutex
	queue    []completion[R]
	spare    []completion[R]
	wake     chan struct{} // capacity 1
	stopping bool
	exited   bool
}

// completion is a finished batch, or a single record that failed before
// entering one.
type completion[R any] struct {
	b       *batch[R]
	r       R
	promise func(R, error)
	err     error
}

func (c *completer[R]) init(report func([]Entry[R], Result, error)) {
	c.report = report
	c.wake = make(chan struct{}, 1)
}

// push queues x; false once the completer has exited.
func (c *completer[R]) push(x completion[R]) bool {
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, x)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// batch queues a finished batch.
func (c *completer[R]) batch(b *batch[R]) {
	if !c.push(completion[R]{b: b}) {
		// Unreachable: Close stops the completer only after every sender
		// has finished.
		c.finish(b)
	}
}

// failed reports a record that never entered a batch. Once the completer
// is gone, the promise is called on the caller's goroutine.
func (c *completer[R]) failed(r R, promise func(R, error), err error) {
	if !c.push(completion[R]{r: r, promise: promise, err: err}) {
		promise(r, err)
	}
}

// stop makes run return once the queue is empty.
func (c *completer[R]) stop() {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *completer[R]) run() {
	for {
		c.mu.Lock()
		q := c.queue
		if len(q) == 0 {
			stopping := c.stopping
			c.exited = stopping
			c.mu.Unlock()
			if stopping {
				return
			}
			<-c.wake
			continue
		}
		// Swap in the spare buffer, so that pushes go on while q is
		// worked through; q becomes the spare after.
		c.queue, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		for i := range q {
			if q[i].b != nil {
				c.finish(q[i].b)
			} else {
				q[i].promise(q[i].r, q[i].err)
			}
			q[i] = completion[R]{}
		}
		c.mu.Lock()
		c.spare = q[:0]
		c.mu.Unlock()
	}
}

// finish reports a finished batch, releases its buffer space and recycles
// it.
func (c *completer[R]) finish(b *batch[R]) {
	p := b.p
	e := p.eng
	c.report(b.recs, b.res, b.err)
	p.finished.Store(b.seq)
	e.release(b.bytes, len(b.recs)) // wakes Flush too
	// Estimate the memory the batch keeps: the builder's buffer (twice,
	// when compressed: the output has one of its own) and the slices.
	kept := int64(b.b.Size())
	if p.cfg.Build.Codec != compress.None {
		kept *= 2
	}
	kept += int64(cap(b.recs)) * int64(unsafe.Sizeof(Entry[R]{}))
	clear(b.recs)
	*b = batch[R]{b: b.b, recs: b.recs[:0], retained: max(b.retained, kept)}
	e.putBatch(b)
}
