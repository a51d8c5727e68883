package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const natsSubject = "bench"

// natsStore runs nats-server with JetStream in the process and reaches it
// through the in-process connection: a stream on a file store, async
// publishes whose acknowledgements are awaited per batch, and an ordered
// consumer to read and tail. Messages have no keys.
type natsStore struct {
	srv  *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	errs firstError // the first async publish error
	// readOpts are the options of read's pull requests.
	readOpts []jetstream.PullMessagesOpt
}

func openNATS(ctx context.Context, dir string, o storeOptions) (store, error) {
	srv, err := server.NewServer(&server.Options{
		JetStream:  true,
		StoreDir:   dir,
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: o.durable, // fsync every write before the acknowledgement
	})
	if err != nil {
		return nil, err
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats-server did not become ready")
	}
	s := &natsStore{srv: srv}
	if s.nc, err = nats.Connect(srv.ClientURL(), nats.InProcessServer(srv)); err != nil {
		srv.Shutdown()
		return nil, err
	}
	s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		s.errs.set(err)
	}))
	if err == nil {
		_, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: "bench", Subjects: []string{natsSubject}, Storage: jetstream.FileStorage,
		})
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *natsStore) appendBatch(ctx context.Context, recs []rec) error {
	for _, r := range recs {
		if _, err := s.js.PublishAsync(natsSubject, r.value); err != nil {
			return err
		}
	}
	return s.flush(ctx)
}

func (s *natsStore) appendOne(ctx context.Context, r rec) error {
	_, err := s.js.Publish(ctx, natsSubject, r.value)
	return err
}

func (s *natsStore) flush(ctx context.Context) error {
	select {
	case <-s.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.errs.get()
}

func (s *natsStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	cons, err := s.js.OrderedConsumer(ctx, "bench", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(s.readOpts...)
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	var got int64
	for got < n {
		msg, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
		if errors.Is(err, nats.ErrTimeout) {
			break // nothing more to read
		}
		if err != nil {
			return got, fmt.Errorf("after %d messages: %w", got, err)
		}
		fn(msg.Data())
		got++
	}
	return got, nil
}

func (s *natsStore) tail(ctx context.Context, ready func(), fn func([]byte)) error {
	cons, err := s.js.OrderedConsumer(ctx, "bench", jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { fn(msg.Data()) })
	if err != nil {
		return err
	}
	ready()
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	return ctx.Err()
}

func (s *natsStore) close() error {
	if s.nc != nil {
		s.nc.Close()
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	return nil
}
