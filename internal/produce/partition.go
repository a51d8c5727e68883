package produce

import (
	"fmt"
	"math"
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
//
// Pipelining. A batch whose Send returned an Ack is stored but not yet
// acknowledged: the sender goes on to the next batch while the
// partition's acker goroutine waits for the Ack, with at most
// Config.MaxInFlight batches in flight. The acker hands batches to the
// completer in the order they were sent, each once its own Ack has
// returned, so promises keep the partition's order and none is called
// before its batch is acknowledged. When an Ack fails, its batch is
// reported with the Ack's error, and so is every later batch that was
// stored before the acker saw the failure: they follow the failed one in
// the log, so they are not acknowledged either (their Acks are not
// called). Batches sent after that are acknowledged on their own, in the
// new producer epoch Config.Idempotent describes.
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

	// flightMu guards the pipelining state, apart from mu so that the
	// acker never contends with Add. Lock order: mu, then flightMu.
	flightMu sync.Mutex
	// inflight holds the batches sent and not yet handed to the completer
	// because they, or a batch before them, await their acknowledgement:
	// oldest first, at most eng.cfg.MaxInFlight. The acker runs while it
	// is not empty. inflightN is its length, which the sender reads
	// without flightMu: only the sender adds to inflight, so when it reads
	// 0 nothing is in flight, and a batch acknowledged at Send goes
	// straight to the completer.
	inflight  []*batch[R]
	inflightN atomic.Int32
	acking    bool          // an acker goroutine runs for this partition
	slotWait  bool          // the sender waits for room in inflight
	slot      chan struct{} // capacity 1: the acker wakes the waiting sender
	// gen counts the failed acknowledgements of the partition; every batch
	// is stamped with it before it is sent, so a batch whose stamp is
	// behind was stored before the failure genErr was seen. It changes
	// under flightMu, together with genErr; the sender reads it without.
	gen    atomic.Uint64
	genErr error
	// ackFn runs ack as a goroutine counted in eng.senders.
	ackFn func()

	// The producer id, epoch and sequence number of the next batch, and
	// the gen its epoch started at. Only the running sender touches them.
	pid     int64
	epoch   int16
	nextSeq int32
	seqGen  uint64
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

	gen uint64 // Partition.gen when the batch was taken to be sent
	ack Ack    // while in flight: the acknowledgement to wait for, if any
	res Result // outcome
	err error
}

// NewPartition returns a partition whose batches go to s. The Engine's
// Flush and Close cover it from now on.
func (e *Engine[R]) NewPartition(cfg PartitionConfig, s Sink) *Partition[R] {
	p := &Partition[R]{eng: e, cfg: cfg, sink: s, slot: make(chan struct{}, 1),
		pid: cfg.Build.ProducerID, epoch: cfg.Build.ProducerEpoch}
	p.sendFn = func() {
		defer e.senders.Done()
		p.send()
	}
	p.ackFn = func() {
		defer e.senders.Done()
		p.ack()
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
// ready, waiting for room while MaxInFlight batches are in flight. It runs
// on a goroutine counted in eng.senders.
func (p *Partition[R]) send() {
	limit := int32(p.eng.cfg.MaxInFlight)
	for {
		p.mu.Lock()
		if p.inflightN.Load() >= limit && (len(p.ready) > 0 || p.open.sendable()) {
			p.mu.Unlock()
			p.waitForRoom()
			continue
		}
		b := p.next()
		p.mu.Unlock()
		if b == nil {
			return
		}
		p.deliver(b)
	}
}

// waitForRoom returns once fewer than MaxInFlight batches are in flight.
func (p *Partition[R]) waitForRoom() {
	p.flightMu.Lock()
	if len(p.inflight) < p.eng.cfg.MaxInFlight {
		p.flightMu.Unlock()
		return
	}
	p.slotWait = true
	p.flightMu.Unlock()
	<-p.slot
}

// deliver sends one batch through the sink and hands it to the completer,
// or, while it or an earlier batch awaits acknowledgement, to the acker.
func (p *Partition[R]) deliver(b *batch[R]) {
	e := p.eng
	b.gen = p.gen.Load()
	if e.cfg.Idempotent {
		if err := p.stamp(b); err != nil {
			b.res, b.err = Result{Base: -1}, err
			p.handOver(b)
			return
		}
	}
	res, ack, err := p.sink.Send(&b.b)
	if err == nil && e.cfg.Idempotent {
		p.nextSeq = record.NextSequence(p.nextSeq, int32(len(b.recs)))
	}
	if err != nil {
		ack = nil
	}
	b.res, b.err, b.ack = res, err, ack
	p.handOver(b)
}

// stamp sets the batch's producer id, epoch and base sequence, starting a
// new epoch (or taking a new producer id) first when an acknowledgement
// failed since the current one started. Only the sender calls it.
func (p *Partition[R]) stamp(b *batch[R]) error {
	if b.gen != p.seqGen {
		if p.epoch < math.MaxInt16 {
			p.epoch++
		} else {
			newID := p.eng.cfg.NewProducerID
			if newID == nil {
				return fmt.Errorf("produce: producer %d has used every epoch on this partition and no new producer id can be had", p.pid)
			}
			pid, err := newID()
			if err != nil {
				return fmt.Errorf("produce: producer %d has used every epoch on this partition; a new producer id: %w", p.pid, err)
			}
			p.pid, p.epoch = pid, 0
		}
		p.nextSeq, p.seqGen = 0, b.gen
	}
	b.b.SetProducer(p.pid, p.epoch, p.nextSeq)
	return nil
}

// handOver gives a sent batch to the completer, when nothing is in flight
// and it needs no acknowledgement, or else to the acker, which it starts
// if none runs. Only the sender calls it.
func (p *Partition[R]) handOver(b *batch[R]) {
	if b.ack == nil && p.inflightN.Load() == 0 {
		res, err := b.res, b.err
		p.eng.done.batch(b) // b is the completer's from here
		if err == nil {
			p.sink.Sent(res)
		}
		return
	}
	p.flightMu.Lock()
	p.inflight = append(p.inflight, b)
	p.inflightN.Store(int32(len(p.inflight)))
	start := !p.acking
	p.acking = true
	p.flightMu.Unlock()
	if start {
		p.eng.senders.Add(1)
		go p.ackFn()
	}
}

// ack waits for the acknowledgements of the batches in flight, oldest
// first, and hands each to the completer, until none is left. It runs on a
// goroutine counted in eng.senders.
func (p *Partition[R]) ack() {
	e := p.eng
	p.flightMu.Lock()
	for len(p.inflight) > 0 {
		b := p.inflight[0]
		gen, genErr := p.gen.Load(), p.genErr
		p.flightMu.Unlock()
		ack := b.ack
		b.ack = nil
		if ack != nil {
			if b.gen != gen {
				// Stored after a batch whose acknowledgement failed.
				b.err = genErr
			} else if err := ack(); err != nil {
				b.err = err
				p.flightMu.Lock()
				p.genErr = err
				p.gen.Add(1)
				p.flightMu.Unlock()
			}
		}
		res, err := b.res, b.err
		e.done.batch(b) // b is the completer's from here
		if err == nil {
			p.sink.Sent(res)
		}
		p.flightMu.Lock()
		n := len(p.inflight)
		copy(p.inflight, p.inflight[1:])
		p.inflight[n-1] = nil
		p.inflight = p.inflight[:n-1]
		p.inflightN.Store(int32(n - 1))
		if p.slotWait {
			p.slotWait = false
			p.slot <- struct{}{}
		}
	}
	p.acking = false
	p.flightMu.Unlock()
}
