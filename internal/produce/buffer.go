package produce

import (
	"context"
	"sync"
	"sync/atomic"
)

// buffer accounts the records reserved and not yet reported, within the
// limits, and keeps finished batches for reuse.
type buffer[R any] struct {
	maxBytes   int64
	maxRecords int64

	bytes   atomic.Int64
	records atomic.Int64
	// waiters counts Reserve calls waiting for space and Flush calls
	// waiting for batches to finish.
	waiters atomic.Int32
	spaceMu sync.Mutex
	space   chan struct{} // closed and replaced, while waiters > 0, when a batch finishes or space is released

	// free holds finished batches for reuse, newest last, with the memory
	// they keep (estimated) totalling freeBytes <= maxFreeBytes. Batches
	// beyond it go to batchPool. Unlike the pool, free survives garbage
	// collections, so that a busy producer does not grow fresh builder
	// buffers up to the batch size over and over.
	freeMu       sync.Mutex
	free         []*batch[R]
	freeBytes    int64
	maxFreeBytes int64
}

// batchPool holds batches for every Engine of the process, so that a new
// Engine starts with the grown buffers of closed ones. It holds the
// *batch[R] of whichever R the process uses (one, in practice: the
// producer's record); a batch of another instantiation found there is
// left to the garbage collector.
var batchPool sync.Pool

// getPooled returns a batch from batchPool, or a new one.
func getPooled[R any]() *batch[R] {
	if b, ok := batchPool.Get().(*batch[R]); ok {
		return b
	}
	return new(batch[R])
}

func (u *buffer[R]) init(maxBytes int64, maxRecords int) {
	u.maxBytes, u.maxRecords = maxBytes, int64(maxRecords)
	u.maxFreeBytes = maxBytes
	u.space = make(chan struct{})
}

// Buffered returns the bytes and records reserved and not yet released.
func (e *Engine[R]) Buffered() (bytes, records int64) {
	return e.bytes.Load(), e.records.Load()
}

// Reserve accounts size bytes and one record to the buffer. When they do
// not fit it fails with ErrFull, unless wait is set: then it waits for
// space until ctx ends (ctx.Err()) or Close starts (ErrClosed). A record
// always fits an empty buffer, however large. The caller gives the space
// back with Release, or by adding the record to a batch, whose report
// releases it.
func (e *Engine[R]) Reserve(ctx context.Context, size int64, wait bool) error {
	if e.tryReserve(size) {
		return nil
	}
	if !wait {
		return ErrFull
	}
	e.waiters.Add(1)
	defer e.waiters.Add(-1)
	for {
		space := e.spaceChan()
		if e.tryReserve(size) {
			return nil
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closing:
			return ErrClosed
		}
	}
}

// tryReserve accounts size bytes and one record if they fit. Each counter
// is changed only when the result fits (compare-and-swap), so a failed
// attempt never makes the buffer look fuller than it is to others; the one
// transient change, bytes taken back when the records limit is reached,
// can only fail others that would fail on the records limit too.
func (u *buffer[R]) tryReserve(size int64) bool {
	for {
		b := u.bytes.Load()
		if b+size > u.maxBytes && b != 0 {
			return false
		}
		if u.bytes.CompareAndSwap(b, b+size) {
			break
		}
	}
	for {
		n := u.records.Load()
		if n+1 > u.maxRecords && n != 0 {
			u.bytes.Add(-size)
			return false
		}
		if u.records.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release returns buffer space and wakes Reserve calls waiting for it, and
// Flush calls waiting for batches to finish.
func (e *Engine[R]) Release(size int64, records int) { e.release(size, records) }

func (u *buffer[R]) release(size int64, records int) {
	u.bytes.Add(-size)
	u.records.Add(int64(-records))
	if u.waiters.Load() > 0 {
		u.spaceMu.Lock()
		close(u.space)
		u.space = make(chan struct{})
		u.spaceMu.Unlock()
	}
}

// spaceChan returns the channel the next release closes.
func (u *buffer[R]) spaceChan() chan struct{} {
	u.spaceMu.Lock()
	ch := u.space
	u.spaceMu.Unlock()
	return ch
}

// getBatch returns a batch for reuse, or a new one.
func (u *buffer[R]) getBatch() *batch[R] {
	u.freeMu.Lock()
	if n := len(u.free); n > 0 {
		b := u.free[n-1]
		u.free[n-1] = nil
		u.free = u.free[:n-1]
		u.freeBytes -= b.retained
		u.freeMu.Unlock()
		return b
	}
	u.freeMu.Unlock()
	return getPooled[R]()
}

// putBatch keeps a finished, cleared batch for reuse: in free while it has
// room, else in batchPool.
func (u *buffer[R]) putBatch(b *batch[R]) {
	u.freeMu.Lock()
	if u.freeBytes+b.retained+u.bytes.Load() <= u.maxFreeBytes {
		u.free = append(u.free, b)
		u.freeBytes += b.retained
		u.freeMu.Unlock()
		return
	}
	u.freeMu.Unlock()
	batchPool.Put(b)
}

// dropFree hands the batches kept for reuse to batchPool, where the
// garbage collector may take them, and keeps none from now on.
func (u *buffer[R]) dropFree() {
	u.freeMu.Lock()
	free := u.free
	u.free, u.freeBytes, u.maxFreeBytes = nil, 0, 0
	u.freeMu.Unlock()
	for _, b := range free {
		batchPool.Put(b)
	}
}
