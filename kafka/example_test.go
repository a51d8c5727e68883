package kafka_test

import (
	"context"
	"fmt"
	"log"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The program's code takes commitlog's interfaces; only the lines that
// make the clients know that a Kafka cluster is behind them (here an
// in-process fake one).
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	kc := kafka.Config{SeedBrokers: cluster.ListenAddrs()}

	adm, err := kafka.NewAdmin(kc)
	if err != nil {
		log.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(context.Background(), "orders", commitlog.TopicConfig{Partitions: 3}); err != nil {
		log.Fatal(err)
	}
	prod, err := kafka.NewProducer(kc, commitlog.ProducerConfig{}) // murmur2 keys, as Kafka's clients
	if err != nil {
		log.Fatal(err)
	}
	defer prod.Close()
	cons, err := kafka.NewConsumer(kc, commitlog.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		log.Fatal(err)
	}
	defer cons.Close()

	if err := bill(context.Background(), prod, cons); err != nil {
		log.Fatal(err)
	}
	// Output:
	// order-0 in partition 1
	// order-1 in partition 1
	// order-2 in partition 1
	// committed 3
}

// bill is backend-neutral: it runs unchanged on a Log's clients.
func bill(ctx context.Context, prod commitlog.ProducerClient, cons commitlog.ConsumerClient) error {
	for i := range 3 {
		r := &commitlog.Record{Topic: "orders", Key: []byte("customer-7"), Value: fmt.Appendf(nil, "order-%d", i)}
		if err := prod.ProduceSync(ctx, r); err != nil {
			return err
		}
	}
	for n := 0; n < 3; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			fmt.Printf("%s in partition %d\n", r.Value, r.Partition)
		}
		n += len(recs)
		if err := cons.CommitRecords(ctx, recs...); err != nil {
			return err
		}
	}
	committed, err := cons.Committed(ctx)
	if err != nil {
		return err
	}
	total := int64(0)
	for _, off := range committed {
		total += off
	}
	fmt.Println("committed", total)
	return nil
}
