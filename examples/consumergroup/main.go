// Command consumergroup shows a consumer group processing a topic in
// parallel with Consumer.ProcessPartitions: one goroutine per partition,
// records of a partition in order, and only fully processed offsets
// committed — so a member joining halfway, a rebalance or a crash never
// skips a record. It produces orders, runs two members (the second joins
// while the first is busy, and takes half of the partitions), then shows
// the group's committed offsets and lag.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/commitlog-go/commitlog"
)

const orders = 60_000

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "commitlog-consumergroup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := commitlog.Open(dir, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	if _, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 6}); err != nil {
		return err
	}

	// Produce: the key (a customer) picks the partition, so each
	// customer's orders stay in order.
	prod, err := l.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		return err
	}
	for i := range orders {
		rec := &commitlog.Record{Topic: "orders", Key: []byte("customer-" + strconv.Itoa(i%100)), Value: []byte(strconv.Itoa(i))}
		prod.Produce(ctx, rec, func(_ *commitlog.Record, err error) {
			if err != nil {
				log.Print(err)
			}
		})
	}
	if err := prod.Close(); err != nil {
		return err
	}
	fmt.Printf("produced %d orders\n", orders)

	// Process: the handler keeps, per customer, the last order seen, and
	// checks that a customer's orders arrive in order.
	var (
		mu        sync.Mutex
		last      = map[string]int{}
		processed atomic.Int64
		quarter   = make(chan struct{}) // closed when a quarter is processed
		done      = make(chan struct{}) // closed when everything is
		onceQ     sync.Once
		onceD     sync.Once
	)
	handle := func(member string) commitlog.PartitionHandler {
		return func(ctx context.Context, tp commitlog.TopicPartition, recs []commitlog.Record) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				n, err := strconv.Atoi(string(r.Value))
				if err != nil {
					return err
				}
				if prev, ok := last[string(r.Key)]; ok && n <= prev {
					return fmt.Errorf("%s: order %d of %s after %d", member, n, r.Key, prev)
				}
				last[string(r.Key)] = n
			}
			n := processed.Add(int64(len(recs)))
			if n >= orders/4 {
				onceQ.Do(func() { close(quarter) })
			}
			if n >= orders {
				onceD.Do(func() { close(done) })
			}
			return nil
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	startMember := func(name string) error {
		c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "billing", Topics: []string{"orders"}, MaxPollRecords: 1000})
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer c.Close()
			err := c.ProcessPartitions(runCtx, handle(name))
			if !errors.Is(err, context.Canceled) {
				errs <- err
			}
			fmt.Printf("%s processed partitions %v\n", name, c.Assignment())
		})
		return nil
	}
	if err := startMember("member A"); err != nil {
		return err
	}
	<-quarter // B joins while A is busy: A's partitions are rebalanced mid-work
	if err := startMember("member B"); err != nil {
		return err
	}
	<-done
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	fmt.Printf("processed %d orders of %d customers, each customer's in order\n", processed.Load(), len(last))

	d, err := l.DescribeGroup("billing")
	if err != nil {
		return err
	}
	var lag int64
	for _, p := range d.Partitions {
		lag += p.Lag
	}
	fmt.Printf("group %q: %d partitions committed, lag %d\n", d.Name, len(d.Partitions), lag)
	return nil
}
