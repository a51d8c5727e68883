package commitlog_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/commitlog-go/commitlog"
)

// A Producer partitions records by key, batches them and reports each one
// through its promise; ProduceSync waits for the outcome.
func ExampleProducer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 3}); err != nil {
		log.Fatal(err)
	}

	prod, err := l.NewProducer(commitlog.ProducerConfig{}) // idempotent, AckAll, key-hash partitioning
	if err != nil {
		log.Fatal(err)
	}
	defer prod.Close()

	// Asynchronously: the promise runs once the record is durable.
	done := make(chan struct{})
	prod.Produce(ctx, &commitlog.Record{Topic: "orders", Key: []byte("order-1"), Value: []byte("created")},
		func(r *commitlog.Record, err error) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s %s at offset %d\n", r.Key, r.Value, r.Offset)
			close(done)
		})
	<-done

	// Synchronously: the records of one key land in one partition, in order.
	paid := &commitlog.Record{Topic: "orders", Key: []byte("order-1"), Value: []byte("paid")}
	shipped := &commitlog.Record{Topic: "orders", Key: []byte("order-1"), Value: []byte("shipped")}
	if err := prod.ProduceSync(ctx, paid, shipped); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same partition:", paid.Partition == shipped.Partition, "offsets", paid.Offset, shipped.Offset)
	// Output:
	// order-1 created at offset 0
	// same partition: true offsets 1 2
}

// A record whose topic is compacted must have a key; the promise says why
// a record was refused.
func ExampleProducer_ProduceSync_errors() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, _ := commitlog.Open(dir, nil)
	defer l.Close()
	l.CreateTopic(ctx, "profiles", commitlog.TopicConfig{CleanupPolicy: commitlog.CleanupCompact})
	prod, _ := l.NewProducer(commitlog.ProducerConfig{})
	defer prod.Close()

	err := prod.ProduceSync(ctx,
		&commitlog.Record{Topic: "profiles", Key: []byte("user-1"), Value: []byte("Ada")},
		&commitlog.Record{Topic: "profiles", Value: []byte("no key")},
		&commitlog.Record{Topic: "nope", Value: []byte("x")},
	)
	fmt.Println(err)
	// Output:
	// record 1: commitlog: invalid argument: a record for profiles-0 has no key, and the topic is compacted (compact): every record needs a key
	// record 2: commitlog: unknown topic: nope
}
