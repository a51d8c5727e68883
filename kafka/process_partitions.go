package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/commitlog-go/commitlog"
)

// ProcessPartitions polls and hands each partition's records to handle on
// a goroutine of its own, with the contract of
// commitlog.Consumer.ProcessPartitions: partitions are processed in
// parallel and each in order; only offsets of records handle has returned
// from are committed (every AutoCommitInterval unless DisableAutoCommit,
// before partitions are revoked, and when it returns), so a crash or a
// rebalance never skips an unprocessed record. A partition has at most
// one Poll's records in flight (it is paused meanwhile); before a
// partition is revoked its goroutine finishes, then its processed offset
// is committed, then OnRevoked runs; a lost partition's goroutine is
// stopped and nothing is committed for it; when ProcessPartitions
// returns, every goroutine has stopped, the processed offsets are
// committed, and positions are moved back to the first unprocessed
// record.
//
// It returns when ctx ends (its error), the consumer is closed
// (commitlog.ErrClosed), Poll fails with anything but ErrFenced, or a
// handler fails (its error, naming the partition). It uses Pause and
// Resume itself; do not call them meanwhile. Only one ProcessPartitions
// may run per Consumer.
func (c *Consumer) ProcessPartitions(ctx context.Context, handle commitlog.PartitionHandler) error {
	if handle == nil {
		return fmt.Errorf("%w: ProcessPartitions: nil handler", commitlog.ErrInvalidArgument)
	}
	if !c.procMu.TryLock() {
		return fmt.Errorf("%w: ProcessPartitions is already running on this consumer", commitlog.ErrInvalidArgument)
	}
	defer c.procMu.Unlock()
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr := &processor{c: c, handle: handle, ctx: pctx, cancel: cancel,
		workers: map[commitlog.TopicPartition]*partitionWorker{}, marks: map[commitlog.TopicPartition]int64{}}
	c.mu.Lock()
	c.proc = pr
	c.mu.Unlock()

	var err error
	for {
		var recs []commitlog.Record
		recs, err = c.Poll(pctx)
		if errors.Is(err, commitlog.ErrFenced) && pctx.Err() == nil {
			continue // the lost partitions' goroutines are stopped; the client rejoins
		}
		if err != nil {
			break
		}
		for len(recs) > 0 {
			n := 1
			for n < len(recs) && recs[n].Partition == recs[0].Partition && recs[n].Topic == recs[0].Topic {
				n++
			}
			pr.dispatch(recs[:n:n])
			recs = recs[n:]
		}
	}
	ferr := pr.finish()
	if cause := context.Cause(pctx); pr.failed.Load() != nil {
		err = *pr.failed.Load()
	} else if cause != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if errors.Is(ferr, commitlog.ErrClosed) || errors.Is(err, commitlog.ErrClosed) {
		ferr = nil
	}
	return errors.Join(err, ferr)
}

// processor is the state of one ProcessPartitions run.
type processor struct {
	c      *Consumer
	handle commitlog.PartitionHandler
	ctx    context.Context
	cancel context.CancelCauseFunc
	failed atomic.Pointer[error]

	mu      sync.Mutex
	workers map[commitlog.TopicPartition]*partitionWorker
	marks   map[commitlog.TopicPartition]int64 // processed offsets of stopped workers
}

// partitionWorker is the goroutine processing one partition.
type partitionWorker struct {
	tp    commitlog.TopicPartition
	ch    chan []commitlog.Record // capacity 1: the partition is paused while it works
	done  chan struct{}
	mark  atomic.Int64 // the offset after the last processed record; -1 none
	first int64        // the first offset handed to it
}

// dispatch hands recs, all of one partition, to its worker.
func (pr *processor) dispatch(recs []commitlog.Record) {
	tp := commitlog.TopicPartition{Topic: recs[0].Topic, Partition: recs[0].Partition}
	pr.mu.Lock()
	w := pr.workers[tp]
	if w == nil {
		w = &partitionWorker{tp: tp, ch: make(chan []commitlog.Record, 1), done: make(chan struct{}), first: recs[0].Offset}
		w.mark.Store(-1)
		pr.workers[tp] = w
		go pr.run(w)
	}
	pr.mu.Unlock()
	_ = pr.c.setPaused([]commitlog.TopicPartition{tp}, true) // tp was just polled: it is assigned
	w.ch <- recs
}

// run is a worker's goroutine: it ends when its channel closes.
func (pr *processor) run(w *partitionWorker) {
	defer close(w.done)
	for recs := range w.ch {
		if pr.ctx.Err() != nil {
			continue // stopping: leave the records unprocessed
		}
		if err := pr.handle(pr.ctx, w.tp, recs); err != nil {
			err = fmt.Errorf("commitlog: kafka: ProcessPartitions: handler for %v: %w", w.tp, err)
			pr.failed.CompareAndSwap(nil, &err)
			pr.cancel(err)
			continue
		}
		w.mark.Store(recs[len(recs)-1].Offset + 1)
		_ = pr.c.setPaused([]commitlog.TopicPartition{w.tp}, false) // fails only if revoked meanwhile
	}
}

// stop stops the workers of tps and waits for them; their processed
// offsets stay in marks.
func (pr *processor) stop(tps []commitlog.TopicPartition) {
	pr.mu.Lock()
	var ws []*partitionWorker
	for _, tp := range tps {
		if w := pr.workers[tp]; w != nil {
			ws = append(ws, w)
			delete(pr.workers, tp)
		}
	}
	pr.mu.Unlock()
	for _, w := range ws {
		close(w.ch)
	}
	for _, w := range ws {
		<-w.done
		pr.mu.Lock()
		if m := w.mark.Load(); m >= 0 {
			pr.marks[w.tp] = m
		} else {
			delete(pr.marks, w.tp)
		}
		pr.mu.Unlock()
	}
}

// forget drops the marks of tps (lost partitions: never committed).
func (pr *processor) forget(tps []commitlog.TopicPartition) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, tp := range tps {
		delete(pr.marks, tp)
	}
}

// processed returns the processed offset of each of tps (nil: all) that
// has one.
func (pr *processor) processed(tps []commitlog.TopicPartition) map[commitlog.TopicPartition]int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := map[commitlog.TopicPartition]int64{}
	for tp, m := range pr.marks {
		if tps == nil || slices.Contains(tps, tp) {
			out[tp] = m
		}
	}
	for tp, w := range pr.workers {
		if m := w.mark.Load(); m >= 0 && (tps == nil || slices.Contains(tps, tp)) {
			out[tp] = m
		}
	}
	return out
}

// finish stops every worker, commits the processed offsets, moves
// positions back to the first unprocessed records, resumes the partitions
// it paused and detaches from the consumer.
func (pr *processor) finish() error {
	c := pr.c
	pr.mu.Lock()
	firsts := map[commitlog.TopicPartition]int64{}
	for tp, w := range pr.workers {
		firsts[tp] = w.first
	}
	tps := slices.Collect(maps.Keys(pr.workers))
	pr.mu.Unlock()
	pr.stop(tps)

	var err error
	if c.cfg.Group != "" {
		err = c.commitPositions(context.Background(), nil)
	}
	marks := pr.processed(nil)
	c.mu.Lock()
	c.proc = nil
	var resume []commitlog.TopicPartition
	for tp, first := range firsts {
		ps := c.parts[tp]
		if ps == nil {
			continue
		}
		back := first
		if m, ok := marks[tp]; ok {
			back = m
		}
		if ps.pos > back {
			c.seekLocked(tp, ps, back)
		}
		if ps.paused {
			resume = append(resume, tp)
		}
	}
	c.mu.Unlock()
	_ = c.setPaused(resume, false) // assigned: checked under mu just now
	return err
}
