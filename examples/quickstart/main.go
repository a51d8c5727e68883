// Command quickstart shows the main job of commitlog: it opens a log in a
// temporary directory, creates a topic, produces records (partitioned by
// key) and appends a batch to one partition, reads them back, closes and
// reopens the log, and reads them again.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/commitlog-go/commitlog"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "commitlog-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	l, err := commitlog.Open(dir, nil) // defaults: every append is fsynced before it returns
	if err != nil {
		return err
	}
	t, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 3})
	if err != nil {
		return err
	}
	fmt.Printf("created topic %q with %d partitions in %s\n", t.Name(), t.NumPartitions(), dir)

	// A Producer partitions by key, batches, and reports where each record
	// landed once it is durable.
	prod, err := l.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		return err
	}
	events := []*commitlog.Record{
		{Topic: "orders", Key: []byte("order-7"), Value: []byte("created")},
		{Topic: "orders", Key: []byte("order-8"), Value: []byte("created")},
		{Topic: "orders", Key: []byte("order-7"), Value: []byte("paid")},
	}
	if err := prod.ProduceSync(ctx, events...); err != nil {
		return err
	}
	for _, r := range events {
		fmt.Printf("produced key=%s value=%s to partition %d offset %d\n", r.Key, r.Value, r.Partition, r.Offset)
	}
	if err := prod.Close(); err != nil {
		return err
	}

	// Partition.Append writes one batch to a partition you choose.
	p, err := t.Partition(0)
	if err != nil {
		return err
	}
	batch := []commitlog.Record{
		{Key: []byte("order-1"), Value: []byte(`{"item":"book","qty":1}`)},
		{Key: []byte("order-2"), Value: []byte(`{"item":"pen","qty":3}`)},
		{Key: []byte("order-1"), Value: []byte(`{"item":"book","qty":2}`),
			Headers: []commitlog.Header{{Key: "source", Value: []byte("web")}}},
	}
	res, err := p.Append(ctx, batch)
	if err != nil {
		return err
	}
	fmt.Printf("appended %d records to partition 0 at offsets %d..%d (durable up to %d)\n",
		len(batch), res.BaseOffset, res.LastOffset, p.DurableOffset())

	recs, err := p.Read(ctx, 0, 1<<20)
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Printf("  read offset %d key=%s value=%s\n", r.Offset, r.Key, r.Value)
	}

	if err := l.Close(); err != nil {
		return err
	}
	fmt.Println("closed the log; reopening")

	l, err = commitlog.Open(dir, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	t, err = l.Topic("orders")
	if err != nil {
		return err
	}
	p, _ = t.Partition(0)
	fmt.Printf("reopened: topics %v, partition 0 holds offsets [%d, %d)\n", l.Topics(), p.StartOffset(), p.EndOffset())
	for r, err := range p.Scan(ctx, 0) {
		if err != nil {
			return err
		}
		fmt.Printf("  scanned offset %d key=%s value=%s\n", r.Offset, r.Key, r.Value)
	}
	if err := l.Check(ctx); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	fmt.Println("check passed")
	return nil
}
