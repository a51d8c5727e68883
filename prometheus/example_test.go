package clprom_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/commitlog-go/commitlog"
	clprom "github.com/commitlog-go/commitlog/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// An Exporter goes into Options.Hooks before Open and is attached to the
// Log after it; gathering the registry then reads both.
func Example() {
	dir, err := os.MkdirTemp("", "clprom-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	exp := clprom.New(clprom.Options{Namespace: "commitlog"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	l, err := commitlog.Open(dir, &commitlog.Options{Hooks: []commitlog.Hook{exp}})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	exp.Attach(l)

	ctx := context.Background()
	topic, err := l.CreateTopic(ctx, "orders", commitlog.TopicConfig{Partitions: 1})
	if err != nil {
		log.Fatal(err)
	}
	p, err := topic.Partition(0)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if _, err := p.Append(ctx, []commitlog.Record{{Value: []byte("a")}, {Value: []byte("b")}}); err != nil {
			log.Fatal(err)
		}
	}

	fams, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case "commitlog_appended_records_total", "commitlog_appended_batches_total", "commitlog_partition_high_watermark":
			for _, m := range f.GetMetric() {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				fmt.Println(f.GetName(), m.GetLabel()[1].GetValue(), m.GetLabel()[0].GetValue(), v)
			}
		}
	}
	// Output:
	// commitlog_appended_batches_total orders 0 3
	// commitlog_appended_records_total orders 0 6
	// commitlog_partition_high_watermark orders 0 6
}
