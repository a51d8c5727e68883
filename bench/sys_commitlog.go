package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
)

const benchTopic = "bench"

// openBenchTopic opens the Log in dir with the sync policy the run asks
// for, and the one-partition topic the harness uses, creating it if needed.
func openBenchTopic(ctx context.Context, dir string, o storeOptions) (*commitlog.Log, *commitlog.Topic, error) {
	return openBenchTopicHooked(ctx, dir, o, nil)
}

// openBenchTopicHooked is openBenchTopic for a Log observed by hooks.
func openBenchTopicHooked(ctx context.Context, dir string, o storeOptions, hooks []commitlog.Hook) (*commitlog.Log, *commitlog.Topic, error) {
	opts := &commitlog.Options{Sync: commitlog.SyncNever, Hooks: hooks}
	if o.durable {
		opts.Sync = commitlog.SyncAlways
	}
	l, err := commitlog.Open(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	t, err := l.Topic(benchTopic)
	if errors.Is(err, commitlog.ErrUnknownTopic) {
		// W2's batches of 1,000 × 1 KiB are over Kafka's default batch
		// limit of 1 MiB; raise it, as its error says to.
		t, err = l.CreateTopic(ctx, benchTopic, commitlog.TopicConfig{Partitions: 1, MaxBatchBytes: 4 << 20})
	}
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, t, nil
}

// commitlogStore uses the partition API.
type commitlogStore struct {
	log   *commitlog.Log
	part  *commitlog.Partition
	batch []commitlog.Record
}

func openCommitlog(ctx context.Context, dir string, o storeOptions) (store, error) {
	s, err := openCommitlogStore(ctx, dir, o, nil)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openCommitlogStore opens the partition-API store on a Log observed by
// hooks (none: nil).
func openCommitlogStore(ctx context.Context, dir string, o storeOptions, hooks []commitlog.Hook) (*commitlogStore, error) {
	l, t, err := openBenchTopicHooked(ctx, dir, o, hooks)
	if err != nil {
		return nil, err
	}
	p, err := t.Partition(0)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &commitlogStore{log: l, part: p}, nil
}

func (s *commitlogStore) appendBatch(ctx context.Context, recs []rec) error {
	if cap(s.batch) < len(recs) {
		s.batch = make([]commitlog.Record, len(recs))
	}
	s.batch = s.batch[:len(recs)]
	for i := range recs {
		// Field by field: see recordSource.fill.
		s.batch[i].Key, s.batch[i].Value = recs[i].key, recs[i].value
	}
	_, err := s.part.Append(ctx, s.batch)
	return err
}

func (s *commitlogStore) appendOne(ctx context.Context, r rec) error {
	one := [1]commitlog.Record{{Key: r.key, Value: r.value}}
	_, err := s.part.Append(ctx, one[:])
	return err
}

func (s *commitlogStore) flush(context.Context) error { return nil }

// read uses a Cursor, the zero-copy pull reader, as the peers read
// through their cursors and iterators.
func (s *commitlogStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	var got int64
	c := s.part.Cursor(ctx, s.part.StartOffset())
	defer c.Close()
	for got < n && c.Next() {
		fn(c.Value())
		got++
	}
	return got, c.Err()
}

func (s *commitlogStore) tail(ctx context.Context, ready func(), fn func([]byte)) error {
	ready()
	for r, err := range s.part.Follow(ctx, s.part.EndOffset()) {
		if err != nil {
			return err
		}
		fn(r.Value)
	}
	return nil
}

func (s *commitlogStore) close() error { return s.log.Close() }

// commitlogClient uses the Producer and Consumer.
type commitlogClient struct {
	log     *commitlog.Log
	prod    *commitlog.Producer
	pool    sync.Pool  // *commitlog.Record, owned by the Producer until its promise
	errs    firstError // the first error a promise reported
	codec   commitlog.Codec
	durable bool
}

func openCommitlogClient(ctx context.Context, dir string, o storeOptions) (store, error) {
	l, _, err := openBenchTopic(ctx, dir, o)
	if err != nil {
		return nil, err
	}
	c := &commitlogClient{log: l, durable: o.durable, pool: sync.Pool{New: func() any { return new(commitlog.Record) }}}
	switch o.codec {
	case "":
	case "lz4":
		c.codec = commitlog.CodecLZ4
	case "zstd":
		c.codec = commitlog.CodecZstd
	default:
		l.Close()
		return nil, fmt.Errorf("unknown codec %q", o.codec)
	}
	if c.prod, err = l.NewProducer(commitlog.ProducerConfig{Compression: c.codec}); err != nil {
		l.Close()
		return nil, err
	}
	return c, nil
}

func (c *commitlogClient) promise(r *commitlog.Record, err error) {
	c.errs.set(err)
	*r = commitlog.Record{}
	c.pool.Put(r)
}

// appendBatch produces the records without waiting (except when durable:
// then it waits for them): the Producer forms its own batches. flush waits
// for the acknowledgements.
func (c *commitlogClient) appendBatch(ctx context.Context, recs []rec) error {
	for _, r := range recs {
		cr := c.pool.Get().(*commitlog.Record)
		cr.Topic, cr.Key, cr.Value = benchTopic, r.key, r.value
		c.prod.Produce(ctx, cr, c.promise)
	}
	if c.durable {
		return c.flush(ctx)
	}
	return c.errs.get()
}

func (c *commitlogClient) appendOne(ctx context.Context, r rec) error {
	return c.prod.ProduceSync(ctx, &commitlog.Record{Topic: benchTopic, Key: r.key, Value: r.value})
}

func (c *commitlogClient) flush(ctx context.Context) error {
	if err := c.prod.Flush(ctx); err != nil {
		return err
	}
	return c.errs.get()
}

func (c *commitlogClient) consumer(reset commitlog.OffsetReset) (*commitlog.Consumer, error) {
	return c.log.NewConsumer(commitlog.ConsumerConfig{
		Partitions:      []commitlog.TopicPartition{{Topic: benchTopic, Partition: 0}},
		AutoOffsetReset: reset,
	})
}

func (c *commitlogClient) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	cons, err := c.consumer(commitlog.ResetEarliest)
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	var got int64
	for got < n {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		recs, err := cons.Poll(pctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break // nothing more to read
		}
		if err != nil {
			return got, err
		}
		for _, r := range recs {
			fn(r.Value)
		}
		got += int64(len(recs))
	}
	return got, nil
}

func (c *commitlogClient) tail(ctx context.Context, ready func(), fn func([]byte)) error {
	cons, err := c.consumer(commitlog.ResetLatest)
	if err != nil {
		return err
	}
	defer cons.Close()
	ready()
	for {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			fn(r.Value)
		}
	}
}

func (c *commitlogClient) close() error {
	return errors.Join(c.prod.Close(), c.log.Close())
}
