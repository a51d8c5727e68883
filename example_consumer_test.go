package commitlog_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/commitlog-go/commitlog"
)

// A Consumer in a group reads from the group's committed offsets on, and
// commits what it has processed; the next member of the group resumes
// there.
func ExampleConsumer() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic(ctx, "events", commitlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	p, _ := l.Topic("events")
	part, _ := p.Partition(0)
	for i := range 5 {
		if _, err := part.Append(ctx, []commitlog.Record{{Value: []byte("event-" + strconv.Itoa(i))}}); err != nil {
			log.Fatal(err)
		}
	}

	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "audit", Topics: []string{"events"}, MaxPollRecords: 3})
	if err != nil {
		log.Fatal(err)
	}
	recs, err := c.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println("first member:", string(r.Value))
	}
	// Commit what was processed (offset of the last record + 1), and leave.
	if err := c.CommitRecords(ctx, recs...); err != nil {
		log.Fatal(err)
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}

	c, err = l.NewConsumer(commitlog.ConsumerConfig{Group: "audit", Topics: []string{"events"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	recs, err = c.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println("next member:", string(r.Value), "at offset", r.Offset)
	}
	// Output:
	// first member: event-0
	// first member: event-1
	// first member: event-2
	// next member: event-3 at offset 3
	// next member: event-4 at offset 4
}

// PollToEnd reads a topic up to its end and says when it got there, so a
// tool can dump a topic and stop without guessing a timeout. Lag shows
// how far behind a consumer is in each partition.
func ExampleConsumer_PollToEnd() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	prod, err := l.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 5 {
		r := &commitlog.Record{Topic: "orders", Key: []byte("customer-" + strconv.Itoa(i%2)), Value: []byte("order-" + strconv.Itoa(i))}
		if err := prod.ProduceSync(ctx, r); err != nil {
			log.Fatal(err)
		}
	}
	if err := prod.Close(); err != nil {
		log.Fatal(err)
	}

	c, err := l.NewConsumer(commitlog.ConsumerConfig{
		Partitions:     []commitlog.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}},
		MaxPollRecords: 2,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("records behind:", totalLag(c.Lag()))
	read := 0
	for {
		recs, caughtUp, err := c.PollToEnd(ctx)
		if err != nil {
			log.Fatal(err)
		}
		read += len(recs)
		if caughtUp {
			break
		}
	}
	fmt.Println("read:", read)
	fmt.Println("records behind:", totalLag(c.Lag()))
	// Output:
	// records behind: 5
	// read: 5
	// records behind: 0
}

func totalLag(lag map[commitlog.TopicPartition]int64) int64 {
	var n int64
	for _, l := range lag {
		n += l
	}
	return n
}

// A program written against ProducerClient and ConsumerClient runs on
// every backend: here a Log's *Producer and *Consumer, and unchanged the
// clients of the kafka module on a Kafka cluster.
func ExampleConsumerClient() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "commitlog-example-")
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	if err := l.Admin().CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 2}); err != nil {
		log.Fatal(err)
	}
	p, err := l.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	if err != nil {
		log.Fatal(err)
	}
	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := relay(ctx, p, c, 3); err != nil {
		log.Fatal(err)
	}
	p.Close()
	c.Close()
	// Output:
	// billed order-0
	// billed order-1
	// billed order-2
}

// relay produces n orders with one key, so they share a partition and its
// order, then consumes and commits them: backend-neutral code.
func relay(ctx context.Context, p commitlog.ProducerClient, c commitlog.ConsumerClient, n int) error {
	for i := range n {
		r := &commitlog.Record{Topic: "orders", Key: []byte("customer-1"), Value: []byte("order-" + strconv.Itoa(i))}
		if err := p.ProduceSync(ctx, r); err != nil {
			return err
		}
	}
	for seen := 0; seen < n; {
		recs, err := c.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			fmt.Println("billed", string(r.Value))
		}
		seen += len(recs)
		if err := c.CommitRecords(ctx, recs...); err != nil {
			return err
		}
	}
	return nil
}
