package produce

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
)

// PartitionConfig is a partition's batch settings.
type PartitionConfig struct {
	// BatchBytes is the size (record.Builder.Size) at which a batch is
	// closed and the next one started. A record larger than it gets a batch
	// of its own.
	BatchBytes int
	// Build starts every batch (record.Builder.Reset). Its BaseSequence is
	// overwritten before each Send when the Engine is idempotent.
	Build record.BuildOptions
}

// Partition accumulates and sends the batches of one partition: records
// are added to the open batch; a batch closes at BatchBytes and goes once
// it may (at once, or after Linger, or when flushing), one batch of the
// partition at a time, so batches are sent in the order they were started.
type Partition[R any] struct {
	eng  *Engine[R]
	cfg  PartitionConfig
	sink Sink

	mu      sync.Mutex
	open    *batch[R]   // the batch records are added to; nil when none
	ready   []*batch[R] // closed batches not yet sent, oldest first
	sending bool        // a sender goroutine runs for this partition
	timer   Timer       // linger timer of the open batch
	headers []record.RecordHeader
	// created counts the batches started so far; the n-th has seq n.
	created uint64
	// finished is the seq of the last batch whose records have all been
	// reported: batches of a partition finish in seq order. Flush waits
	// for it to reach created.
	finished atomic.Uint64
	// sendFn runs send as a goroutine counted in eng.senders, made once so
	// that starting a sender allocates nothing.
	sendFn func()

	// nextSeq is the sequence number of the next batch. Only the running
	// sender touches it.
	nextSeq int32
}

// batch is one batch in the making, and then its outcome.
type batch[R any] struct {
	p        *Partition[R]
	b        record.Builder
	recs     []Entry[R]
	bytes    int64     // buffer bytes accounted to the records
	started  time.Time // when the first record was added (Linger)
	lingered bool      // the linger timer fired
	seq      uint64    // the batch's number in its partition, from 1 (Partition.created)
	retained int64     // estimated memory the batch's buffers keep, for buffer.free

	res Result // outcome
	err error
}

// NewPartition returns a partition whose batches go to s. The Engine's
// Flush and Close cover it from now on.
func (e *Engine[R]) NewPartition(cfg PartitionConfig, s Sink) *Partition[R] {
	p := &Partition[R]{eng: e, cfg: cfg, sink: s}
	p.sendFn = func() {
		defer e.senders.Done()
		p.send()
	}
	e.partsMu.Lock()
	old := *e.parts.Load()
	parts := make([]*Partition[R], len(old), len(old)+1)
	copy(parts, old)
	parts = append(parts, p)
	e.parts.Store(&parts)
	e.partsMu.Unlock()
	return p
}

// Add appends r, whose buffer space of size bytes the caller reserved, to
// the open batch (closing that batch first when r would make it larger
// than BatchBytes), and starts the partition's sender if the batch may go.
// promise is called with r once its batch is reported (see
// Config.Report). Add reports false, and keeps neither r nor the space,
// once Close has started; the caller then releases the space.
func (p *Partition[R]) Add(r R, promise func(R, error), size int64) bool {
	added, start := p.add(r, promise, size)
	if start {
		p.startSender()
	}
	return added
}

func (p *Partition[R]) add(r R, promise func(R, error), size int64) (added, startSender bool) {
	e := p.eng
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.closed.Load() {
		return false, false
	}
	b := p.open
	if b != nil && b.b.Size()+int(size) > p.cfg.BatchBytes {
		p.closeOpen()
		b = nil
	}
	if b == nil {
		b = e.getBatch()
		b.p = p
		b.b.Reset(p.cfg.Build)
		p.created++
		b.seq = p.created
		b.started = time.Time{}
		if e.cfg.Linger > 0 {
			b.started = e.cfg.Now()
		}
		p.open = b
	}
	p.headers = e.cfg.Encode(&b.b, r, p.headers[:0])
	b.recs = append(b.recs, Entry[R]{r, promise})
	b.bytes += size
	if b.b.Size() >= p.cfg.BatchBytes {
		p.closeOpen()
	}
	if p.sending {
		return true, false
	}
	if len(p.ready) > 0 || p.open.sendable() {
		p.sending = true
		return true, true
	}
	if p.timer == nil {
		p.armLinger()
	}
	return true, false
}

// closeOpen moves the open batch to the ready queue. REQUIRES: p.mu.
func (p *Partition[R]) closeOpen() {
	if b := p.detachOpen(); b != nil {
		p.ready = append(p.ready, b)
	}
}

// detachOpen removes and returns the open batch, stopping its linger
// timer. REQUIRES: p.mu.
func (p *Partition[R]) detachOpen() *batch[R] {
	b := p.open
	p.open = nil
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
		p.eng.senders.Done() // the timer's hold on senders
	}
	return b
}

// sendable reports whether the open batch b may go now: without Linger
// always; with it once the linger time has passed, or while flushing.
// REQUIRES: p.mu.
func (b *batch[R]) sendable() bool {
	if b == nil || len(b.recs) == 0 {
		return false
	}
	e := b.p.eng
	return e.cfg.Linger == 0 || b.lingered || e.flushing.Load() > 0 ||
		e.cfg.Now().Sub(b.started) >= e.cfg.Linger
}

// armLinger starts the linger timer of the open batch. The timer holds a
// count on senders so that Close waits for it or stops it. REQUIRES: p.mu.
func (p *Partition[R]) armLinger() {
	e := p.eng
	b := p.open
	e.senders.Add(1)
	wait := e.cfg.Linger - e.cfg.Now().Sub(b.started)
	p.timer = e.cfg.AfterFunc(max(wait, 0), func() {
		p.mu.Lock()
		if p.open != b || p.timer == nil {
			p.mu.Unlock()
			return // detachOpen stopped it too late and released its count
		}
		p.timer = nil
		b.lingered = true
		start := !p.sending
		p.sending = true
		p.mu.Unlock()
		if start {
			p.send()
		}
		e.senders.Done()
	})
}

// next takes the next batch to send, or returns nil (and stops sending)
// when there is none. REQUIRES: p.mu.
func (p *Partition[R]) next() *batch[R] {
	if n := len(p.ready); n > 0 {
		b := p.ready[0]
		copy(p.ready, p.ready[1:])
		p.ready[n-1] = nil
		p.ready = p.ready[:n-1]
		return b
	}
	if p.open.sendable() {
		return p.detachOpen()
	}
	if p.open != nil && p.timer == nil {
		p.armLinger()
	}
	p.sending = false
	return nil
}

// startSender runs send on a new goroutine counted in eng.senders.
// REQUIRES: the caller set p.sending.
func (p *Partition[R]) startSender() {
	p.eng.senders.Add(1)
	go p.sendFn()
}

// send sends the partition's batches one after the other until none is
// ready. It runs on a goroutine counted in eng.senders.
func (p *Partition[R]) send() {
	for {
		p.mu.Lock()
		b := p.next()
		p.mu.Unlock()
		if b == nil {
			return
		}
		p.deliver(b)
	}
}

// deliver sends one batch through the sink and hands it to the completer.
func (p *Partition[R]) deliver(b *batch[R]) {
	e := p.eng
	if e.cfg.Idempotent {
		b.b.SetBaseSequence(p.nextSeq)
	}
	res, err := p.sink.Send(&b.b)
	if err == nil && e.cfg.Idempotent {
		p.nextSeq = record.NextSequence(p.nextSeq, int32(len(b.recs)))
	}
	b.res, b.err = res, err
	e.done.batch(b) // b is the completer's from here
	if err == nil {
		p.sink.Sent(res)
	}
}
