package kafka

import (
	"context"
	"fmt"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Endpoint is one side of a Mirror: a cluster (a Log, a Kafka cluster)
// reached through commitlog's client interfaces, so that a Mirror copies
// Log→Log, Log→Kafka, Kafka→Log and Kafka→Kafka alike. LogEndpoint and
// KafkaEndpoint make the usual ones.
//
// The Mirror never closes Admin: it belongs to whoever made the
// Endpoint. It also reads each partition's start offset and high
// watermark through Admin's As: Admin must fill a **commitlog.Log (as a
// Log's Admin does) or a **kadm.Client (as this package's Admin does).
type Endpoint struct {
	// Name is the cluster's alias, required, and different on a
	// Mirror's two sides. It is written into every copied record (the
	// commitlog-mirror-origin and commitlog-mirror-source headers), so
	// keep it stable: a renamed source is a new source to a resuming
	// Mirror.
	Name string
	// Admin administers the cluster: topics are described and created,
	// groups described and their offsets reset, through it.
	Admin commitlog.AdminClient
	// NewProducer makes a producer of the cluster (used on a target).
	NewProducer func(commitlog.ProducerConfig) (commitlog.ProducerClient, error)
	// NewConsumer makes a consumer of the cluster (used on both sides).
	NewConsumer func(commitlog.ConsumerConfig) (commitlog.ConsumerClient, error)
}

// LogEndpoint returns the Endpoint of the Log l, named name. The Log
// stays the caller's to close (after the Mirror's Run has returned).
func LogEndpoint(name string, l *commitlog.Log) Endpoint {
	return Endpoint{
		Name:  name,
		Admin: l.Admin(),
		NewProducer: func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error) {
			p, err := l.NewProducer(cfg)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
		NewConsumer: func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error) {
			c, err := l.NewConsumer(cfg)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
}

// KafkaEndpoint returns the Endpoint of the Kafka cluster kc names,
// named name. Its Admin is a new *Admin, which the caller closes when
// done with the Endpoint. Errors: a *commitlog.ConfigError for kc.
func KafkaEndpoint(name string, kc Config) (Endpoint, error) {
	adm, err := NewAdmin(kc)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{
		Name:  name,
		Admin: adm,
		NewProducer: func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error) {
			p, err := NewProducer(kc, cfg)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
		NewConsumer: func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error) {
			c, err := NewConsumer(kc, cfg)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}, nil
}

// problems lists what is wrong with e, as side ("Source", "Target").
func (e *Endpoint) problems(side string) []string {
	var p []string
	if e.Name == "" {
		p = append(p, "MirrorConfig."+side+".Name: empty; every side needs a cluster alias")
	}
	if e.Admin == nil {
		p = append(p, "MirrorConfig."+side+".Admin: nil")
	}
	if e.NewProducer == nil && side == "Target" {
		p = append(p, "MirrorConfig."+side+".NewProducer: nil")
	}
	if e.NewConsumer == nil {
		p = append(p, "MirrorConfig."+side+".NewConsumer: nil")
	}
	return p
}

// offsets returns the start offset and high watermark of each of the n
// partitions of topic.
func (e *Endpoint) offsets(ctx context.Context, topic string, n int32) (starts, ends []int64, err error) {
	starts, ends = make([]int64, n), make([]int64, n)
	var l *commitlog.Log
	if e.Admin.As(&l) {
		t, err := l.Topic(topic)
		if err != nil {
			return nil, nil, err
		}
		for i := range n {
			p, err := t.Partition(i)
			if err != nil {
				return nil, nil, err
			}
			starts[i], ends[i] = p.StartOffset(), p.HighWatermark()
		}
		return starts, ends, nil
	}
	var adm *kadm.Client
	if !e.Admin.As(&adm) {
		return nil, nil, fmt.Errorf("%w: mirror endpoint %q: its Admin fills neither a **commitlog.Log nor a **kadm.Client, so partition offsets cannot be listed", commitlog.ErrInvalidArgument, e.Name)
	}
	op := fmt.Sprintf("list offsets of %s on %s", topic, e.Name)
	so, err := adm.ListStartOffsets(fresh(ctx), topic)
	if err != nil {
		return nil, nil, mapErr(op, err)
	}
	eo, err := adm.ListEndOffsets(fresh(ctx), topic)
	if err != nil {
		return nil, nil, mapErr(op, err)
	}
	for _, lo := range []kadm.ListedOffsets{so, eo} {
		if e, ok := lo.Lookup(topic, -1); ok && e.Err != nil {
			return nil, nil, mapErr(op, e.Err)
		}
	}
	for i := range n {
		s, ok1 := so.Lookup(topic, i)
		h, ok2 := eo.Lookup(topic, i)
		switch {
		case !ok1 || !ok2:
			return nil, nil, fmt.Errorf("commitlog: kafka: %s: partition %d not listed", op, i)
		case s.Err != nil:
			return nil, nil, mapErr(op, s.Err)
		case h.Err != nil:
			return nil, nil, mapErr(op, h.Err)
		}
		starts[i], ends[i] = s.Offset, h.Offset
	}
	return starts, ends, nil
}
