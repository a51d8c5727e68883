package kafka_test

import (
	"context"
	"errors"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProduceBufferWait checks the contexts of Produce: one ending while
// Produce waits for buffer space fails that record, and one ending after
// Produce returned fails nothing.
func TestProduceBufferWait(t *testing.T) {
	ctx := testCtx(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	p, err := kafka.NewProducer(kafka.Config{SeedBrokers: c.ListenAddrs()}, commitlog.ProducerConfig{MaxBufferedRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pctx, cancel := context.WithCancel(ctx)
	first, second := make(chan error, 1), make(chan error, 1)
	p.Produce(pctx, &commitlog.Record{Topic: "t", Value: []byte("a")}, func(_ *commitlog.Record, err error) { first <- err })
	go p.Produce(pctx, &commitlog.Record{Topic: "t", Value: []byte("b")}, func(_ *commitlog.Record, err error) { second <- err })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("a record waiting for buffer space when its context ended: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("a record whose context ended after Produce returned: %v", err)
	}
}
