// Command kafka runs one program on both of commitlog's backends: a Log
// in a directory, and an Apache Kafka cluster through the kafka module.
// Only the few lines of openBackend know which it is; the rest holds
// commitlog.ProducerClient, ConsumerClient and AdminClient. It creates a
// topic, produces keyed orders, consumes them with a consumer group,
// committing as it goes, and prints a summary that is the same on both
// backends, byte for byte.
//
//	go run . -backend log                       # a Log in a temporary directory
//	go run . -backend log -dir ./data           # a Log in ./data (a new one: the topic must not exist)
//	go run . -backend kafka                     # an in-process Kafka cluster (franz-go's kfake)
//	go run . -backend kafka -brokers host:9092  # a real cluster (the topic must not exist)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	topic      = "orders"
	partitions = 3
	orders     = 1000
	customers  = 50
	group      = "billing"
)

func main() {
	backend := flag.String("backend", "log", "where the records live: log or kafka")
	dir := flag.String("dir", "", "with -backend log: the Log's directory (default: a temporary one, removed at exit)")
	brokers := flag.String("brokers", "", "with -backend kafka: comma-separated seed brokers (default: start an in-process kfake cluster)")
	flag.Parse()
	b, err := openBackend(*backend, *dir, *brokers)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("backend %s\n", b.name)
	err = run(context.Background(), os.Stdout, b)
	if cerr := b.close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatal(err)
	}
}

// backend is what the program gets from the lines that choose where its
// records live: commitlog's interfaces, and how to make more clients.
type backend struct {
	name        string
	admin       commitlog.AdminClient
	newProducer func(commitlog.ProducerConfig) (commitlog.ProducerClient, error)
	newConsumer func(commitlog.ConsumerConfig) (commitlog.ConsumerClient, error)
	close       func() error
}

// openBackend is the only code that knows which backend it is: a Log
// opened in dir, or the Kafka cluster at brokers.
func openBackend(kind, dir, brokers string) (*backend, error) {
	switch kind {
	case "log":
		var cleanup func()
		if dir == "" {
			tmp, err := os.MkdirTemp("", "commitlog-kafka-example-")
			if err != nil {
				return nil, err
			}
			dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
		}
		l, err := commitlog.Open(dir, nil)
		if err != nil {
			return nil, err
		}
		return &backend{
			name:  "log in " + dir,
			admin: l.Admin(),
			newProducer: func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error) {
				return l.NewProducer(cfg)
			},
			newConsumer: func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error) {
				return l.NewConsumer(cfg)
			},
			close: func() error {
				err := l.Close()
				if cleanup != nil {
					cleanup()
				}
				return err
			},
		}, nil
	case "kafka":
		name, stop := "kafka at "+brokers, func() {}
		if brokers == "" {
			// No cluster given: an in-process one (franz-go's kfake), so
			// that the program runs anywhere.
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				return nil, err
			}
			brokers, name, stop = strings.Join(c.ListenAddrs(), ","), "kafka (in-process kfake cluster)", c.Close
		}
		kc := kafka.Config{SeedBrokers: strings.Split(brokers, ",")}
		adm, err := kafka.NewAdmin(kc)
		if err != nil {
			stop()
			return nil, err
		}
		return &backend{
			name:  name,
			admin: adm,
			newProducer: func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error) {
				return kafka.NewProducer(kc, cfg)
			},
			newConsumer: func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error) {
				return kafka.NewConsumer(kc, cfg)
			},
			close: func() error {
				err := adm.Close()
				stop()
				return err
			},
		}, nil
	}
	return nil, fmt.Errorf("-backend %q: want log or kafka", kind)
}

// run is the program: from here on nothing knows which backend holds the
// records. It writes its summary to w.
func run(ctx context.Context, w io.Writer, b *backend) error {
	if err := b.admin.CreateTopic(ctx, topic, commitlog.TopicConfig{Partitions: partitions}); err != nil {
		return err
	}
	fmt.Fprintf(w, "created topic %q with %d partitions\n", topic, partitions)

	// Murmur2Partitioner places a key where Kafka's own producers (Java,
	// librdkafka, franz-go) place it, on both backends; the Log's default
	// (KeyHashPartitioner, xxhash) would put the keys elsewhere, and the
	// summary would differ between the backends.
	prod, err := b.newProducer(commitlog.ProducerConfig{Partitioner: commitlog.Murmur2Partitioner()})
	if err != nil {
		return err
	}
	recs := make([]*commitlog.Record, orders)
	for i := range recs {
		recs[i] = &commitlog.Record{Topic: topic, Key: customer(i), Value: []byte(strconv.Itoa(i))}
	}
	err = prod.ProduceSync(ctx, recs...) // batched; returns once every record is acknowledged
	if cerr := prod.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "produced %d orders of %d customers\n", orders, customers)

	// Consume with a group, committing each Poll's records once they are
	// processed: a restart resumes after the last commit.
	cons, err := b.newConsumer(commitlog.ConsumerConfig{Group: group, Topics: []string{topic}, DisableAutoCommit: true})
	if err != nil {
		return err
	}
	defer cons.Close()
	last := map[string]int{}                    // each customer's last order seen
	perPartition := map[int32]map[string]bool{} // the customers of each partition
	records := map[int32]int{}                  // the records read from each partition
	for n := 0; n < orders; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			o, err := strconv.Atoi(string(r.Value))
			if err != nil {
				return err
			}
			if prev, ok := last[string(r.Key)]; ok && o <= prev {
				return fmt.Errorf("%s: order %d after %d", r.Key, o, prev)
			}
			last[string(r.Key)] = o
			if perPartition[r.Partition] == nil {
				perPartition[r.Partition] = map[string]bool{}
			}
			perPartition[r.Partition][string(r.Key)] = true
			records[r.Partition]++
		}
		if err := cons.CommitRecords(ctx, recs...); err != nil {
			return err
		}
		n += len(recs)
	}
	if err := cons.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "consumed %d orders, each customer's in order\n", orders)

	d, err := b.admin.DescribeGroup(ctx, group)
	if err != nil {
		return err
	}
	for _, p := range d.Partitions {
		fmt.Fprintf(w, "partition %d: %d records of %d customers, committed offset %d (high watermark %d), lag %d\n",
			p.Partition, records[p.Partition], len(perPartition[p.Partition]), p.Committed, p.HighWatermark, p.Lag)
	}
	var firsts []string
	for p := range int32(partitions) {
		keys := make([]string, 0, len(perPartition[p]))
		for k := range perPartition[p] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			firsts = append(firsts, fmt.Sprintf("%s→%d", keys[0], p))
		}
	}
	fmt.Fprintf(w, "first customer of each partition: %s\n", strings.Join(firsts, " "))
	return nil
}

// customer returns the key of order i.
func customer(i int) []byte { return fmt.Appendf(nil, "customer-%02d", i%customers) }
