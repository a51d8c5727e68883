package kafka_test

import (
	"errors"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConsumerAsAndClose(t *testing.T) {
	f := newFake(t)
	createTopic(t, f, "as", 1)
	tp := commitlog.TopicPartition{Topic: "as", Partition: 0}
	c, err := kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{tp}})
	if err != nil {
		t.Fatal(err)
	}
	var cl *kgo.Client
	var adm *kadm.Client
	var p *kafka.Producer
	if !c.As(&cl) || cl == nil || !c.As(&adm) || adm == nil || c.As(&p) {
		t.Fatalf("As: %v %v %v", cl, adm, p)
	}
	if id := c.MemberID(); id != "" {
		t.Fatalf("MemberID without a group: %q", id)
	}
	if lag := c.Lag(); lag[tp] != -1 {
		t.Fatalf("Lag before any fetch: %v, want -1 (unknown)", lag)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Pause(tp); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("Pause after Close: %v", err)
	}
	if len(c.Assignment()) != 0 || len(c.Lag()) != 0 {
		t.Fatalf("a closed consumer has partitions: %v %v", c.Assignment(), c.Lag())
	}
	if _, err := c.Committed(testCtx(t)); !errors.Is(err, commitlog.ErrClosed) {
		t.Fatalf("Committed after Close: %v", err)
	}
}

func TestNewConsumerConfig(t *testing.T) {
	_, err := kafka.NewConsumer(kafka.Config{}, commitlog.ConsumerConfig{Topics: []string{"t"}})
	var ce *commitlog.ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("no brokers, Topics without Group: %v, want a *ConfigError with both", err)
	}
	f := newFake(t)
	createTopic(t, f, "one", 1)
	_, err = kafka.NewConsumer(f.config(), commitlog.ConsumerConfig{Partitions: []commitlog.TopicPartition{{Topic: "one", Partition: 3}}})
	if !errors.Is(err, commitlog.ErrUnknownPartition) {
		t.Fatalf("a partition out of range: %v, want ErrUnknownPartition", err)
	}
}
