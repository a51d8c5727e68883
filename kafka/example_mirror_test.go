package kafka_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A Mirror copies a Log's topic to a Kafka cluster (here an in-process
// fake one), partition for partition, while it runs.
func ExampleMirror() {
	dir, err := os.MkdirTemp("", "mirror-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	ctx := context.Background()

	if _, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	prod, err := l.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	if err != nil {
		log.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &commitlog.Record{Topic: "orders", Key: []byte("alice"), Value: []byte("book")}); err != nil {
		log.Fatal(err)
	}

	remote, err := kafka.KafkaEndpoint("remote", kafka.Config{SeedBrokers: cluster.ListenAddrs()})
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Admin.Close()
	// Run would create the topic on the target with the source's partition
	// count and configuration; the consumer below needs it before.
	if err := remote.Admin.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	m, err := kafka.NewMirror(kafka.MirrorConfig{
		Source: kafka.LogEndpoint("local", l), Target: remote,
		Topics:   []string{"orders"},
		Producer: commitlog.ProducerConfig{Compression: commitlog.CodecZstd},
	})
	if err != nil {
		log.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()

	// A Kafka consumer of the target sees the record once it is copied.
	cons, err := remote.NewConsumer(commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}}})
	if err != nil {
		log.Fatal(err)
	}
	defer cons.Close()
	recs, err := cons.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		var origin string
		for _, h := range r.Headers {
			if h.Key == kafka.MirrorOriginHeader {
				origin = string(h.Value)
			}
		}
		fmt.Printf("%s=%s from %s\n", r.Key, r.Value, origin)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// alice=book from local
}
