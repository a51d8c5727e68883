package commitlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// PartitionHandler processes records of one partition, in offset order.
// It is called on the partition's own goroutine, never concurrently for
// one partition. recs are the handler's. An error stops
// ProcessPartitions; the records of a failed call count as unprocessed.
type PartitionHandler func(ctx context.Context, tp TopicPartition, recs []Record) error

// ProcessPartitions polls and hands each partition's records to handle on
// a goroutine of its own, so partitions are processed in parallel and each
// in order — the pattern users most often build by hand, and most often
// get wrong at rebalances. It commits only offsets of records handle has
// returned from (every AutoCommitInterval unless DisableAutoCommit, before
// partitions are revoked, and when it returns), so a crash or a rebalance
// never skips an unprocessed record:
//
//   - A partition has at most one Poll's records in flight: it is paused
//     while its goroutine works and resumed when it is done, so memory stays
//     bounded by MaxPollRecords and FetchMaxBytes per partition.
//   - Before a partition is revoked, its goroutine finishes the records it
//     has, then the processed offset is committed, then OnRevoked runs. The
//     wait counts against MaxPollInterval, as callbacks do.
//   - A lost partition's goroutine is stopped and waited for; nothing is
//     committed for it.
//   - When ProcessPartitions returns, every goroutine has stopped, the
//     processed offsets are committed, and positions are moved back to the
//     first unprocessed record, so a later Poll misses nothing.
//
// It returns when ctx ends (the context's error), the consumer is closed
// (ErrClosed), Poll fails with anything but ErrFenced (after an eviction
// it rejoins and goes on), or a handler fails (its error, naming the
// partition). It uses Pause and Resume itself; do not call them meanwhile.
// Only one ProcessPartitions may run per Consumer.
func (c *Consumer) ProcessPartitions(ctx context.Context, handle PartitionHandler) error {
	if handle == nil {
		return fmt.Errorf("%w: ProcessPartitions: nil handler", ErrInvalidArgument)
	}
	if !c.procMu.TryLock() {
		return fmt.Errorf("%w: ProcessPartitions is already running on this consumer", ErrInvalidArgument)
	}
	defer c.procMu.Unlock()
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr := &processor{c: c, handle: handle, ctx: pctx, cancel: cancel,
		workers: map[TopicPartition]*partitionWorker{}, marks: map[TopicPartition]int64{}}
	c.mu.Lock()
	c.proc = pr
	c.mu.Unlock()

	var err error
	for {
		var recs []Record
		recs, err = c.Poll(pctx)
		if errors.Is(err, ErrFenced) && pctx.Err() == nil {
			continue // the lost partitions' goroutines are stopped; rejoin
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
	if errors.Is(ferr, ErrClosed) || errors.Is(err, ErrClosed) {
		ferr = nil
	}
	return errors.Join(err, ferr)
}

// processor is the state of one ProcessPartitions run.
type processor struct {
	c      *Consumer
	handle PartitionHandler
	ctx    context.Context
	cancel context.CancelCauseFunc
	failed atomic.Pointer[error]

	mu      sync.Mutex
	workers map[TopicPartition]*partitionWorker
	marks   map[TopicPartition]int64 // processed offsets of stopped workers
}

// partitionWorker is the goroutine processing one partition.
type partitionWorker struct {
	tp    TopicPartition
	ch    chan []Record // capacity 1: the partition is paused while it works
	done  chan struct{}
	mark  atomic.Int64 // the offset after the last processed record; -1 none
	first int64        // the first offset handed to it
}

// dispatch hands recs, all of one partition, to its worker.
func (pr *processor) dispatch(recs []Record) {
	tp := TopicPartition{recs[0].Topic, recs[0].Partition}
	pr.mu.Lock()
	w := pr.workers[tp]
	if w == nil {
		w = &partitionWorker{tp: tp, ch: make(chan []Record, 1), done: make(chan struct{}), first: recs[0].Offset}
		w.mark.Store(-1)
		pr.workers[tp] = w
		go pr.run(w)
	}
	pr.mu.Unlock()
	pr.c.setPaused([]TopicPartition{tp}, true) //nolint:errcheck // tp was just polled: it is assigned
	w.ch <- recs
}

// run is a worker's goroutine: it ends when its channel closes or a
// handler fails.
func (pr *processor) run(w *partitionWorker) {
	defer close(w.done)
	for recs := range w.ch {
		if pr.ctx.Err() != nil {
			continue // stopping: leave the records unprocessed
		}
		if err := pr.handle(pr.ctx, w.tp, recs); err != nil {
			err = fmt.Errorf("commitlog: ProcessPartitions: handler for %v: %w", w.tp, err)
			pr.failed.CompareAndSwap(nil, &err)
			pr.cancel(err)
			continue
		}
		w.mark.Store(recs[len(recs)-1].Offset + 1)
		_ = pr.c.setPaused([]TopicPartition{w.tp}, false) // fails only if revoked meanwhile
	}
}

// stop stops the workers of tps and waits for them; their processed
// offsets stay in marks.
func (pr *processor) stop(tps []TopicPartition) {
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
func (pr *processor) forget(tps []TopicPartition) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, tp := range tps {
		delete(pr.marks, tp)
	}
}

// processed returns the processed offset of each of tps (nil: all) that
// has one.
func (pr *processor) processed(tps []TopicPartition) map[TopicPartition]int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := map[TopicPartition]int64{}
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
	firsts := map[TopicPartition]int64{}
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
	for tp, first := range firsts {
		cp := c.parts[tp]
		if cp == nil {
			continue
		}
		back := first
		if m, ok := marks[tp]; ok {
			back = m
		}
		if cp.pos > back {
			cp.cur.close()
			cp.pos, cp.epoch = back, noLeaderEpoch
		}
		cp.paused = false
	}
	c.mu.Unlock()
	return err
}
