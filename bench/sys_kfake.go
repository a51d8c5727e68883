package main

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kfakeStore runs franz-go's fake Kafka broker with its data in the
// directory, on a loopback TCP port, and uses the franz-go client: async
// produce (the client forms its batches), Flush to wait for the
// acknowledgements, and a consumer from the start to read and tail.
type kfakeStore struct {
	cluster *kfake.Cluster
	client  *kgo.Client // producer
	seeds   []string
	durable bool
	errs    firstError // the first async produce error
}

func openKfake(_ context.Context, dir string, o storeOptions) (store, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, benchTopic), kfake.DataDir(dir)}
	if o.durable {
		opts = append(opts, kfake.SyncWrites()) // fsync every produced batch
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.DefaultProduceTopic(benchTopic),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &kfakeStore{cluster: c, client: cl, seeds: c.ListenAddrs(), durable: o.durable}, nil
}

// consumer returns a client consuming the topic from the start. (A client
// that consumes fetches in the background from its creation, so the
// producer is a separate client.)
func (s *kfakeStore) consumer() (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(s.seeds...),
		kgo.ConsumeTopics(benchTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
}

func (s *kfakeStore) promise(_ *kgo.Record, err error) {
	s.errs.set(err)
}

// appendBatch produces without waiting for the acknowledgements, except
// when durable: then it waits for the batch.
func (s *kfakeStore) appendBatch(ctx context.Context, recs []rec) error {
	for _, r := range recs {
		s.client.Produce(ctx, &kgo.Record{Key: r.key, Value: r.value}, s.promise)
	}
	if s.durable {
		return s.flush(ctx)
	}
	return s.errs.get()
}

func (s *kfakeStore) appendOne(ctx context.Context, r rec) error {
	return s.client.ProduceSync(ctx, &kgo.Record{Key: r.key, Value: r.value}).FirstErr()
}

func (s *kfakeStore) flush(ctx context.Context) error {
	if err := s.client.Flush(ctx); err != nil {
		return err
	}
	return s.errs.get()
}

func (s *kfakeStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	cl, err := s.consumer()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var got int64
	for got < n {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := fetches.Err0(); errors.Is(err, context.DeadlineExceeded) {
			break // nothing more to read
		} else if err != nil {
			return got, err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			fn(r.Value)
			got++
		})
	}
	return got, nil
}

func (s *kfakeStore) tail(ctx context.Context, ready func(), fn func([]byte)) error {
	cl, err := s.consumer()
	if err != nil {
		return err
	}
	defer cl.Close()
	ready()
	for {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			return err
		}
		fetches.EachRecord(func(r *kgo.Record) { fn(r.Value) })
	}
}

func (s *kfakeStore) close() error {
	s.client.Close()
	s.cluster.Close()
	return nil
}
