package kafka_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/commitlog-go/commitlog/kafka/backendtest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConformanceEmbedded runs the conformance suite against a Log.
func TestConformanceEmbedded(t *testing.T) {
	backendtest.Run(t, newEmbedded)
}

// TestConformanceKafka runs the conformance suite against a Kafka cluster
// of three brokers (kfake, in process, on loopback) through the kafka
// module's clients.
func TestConformanceKafka(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) *backendtest.Backend { return newFake(t).backend() })
}

// newEmbedded returns a backend on a Log in a temporary directory.
func newEmbedded(t *testing.T) *backendtest.Backend {
	dir := t.TempDir()
	open := func() *commitlog.Log {
		l, err := commitlog.Open(dir, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return l
	}
	l := open()
	t.Cleanup(func() { l.Close() })
	return &backendtest.Backend{
		Admin: func() commitlog.AdminClient { return l.Admin() },
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
		Restart: func(t *testing.T) {
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			l = open()
		},
	}
}

// fake is a kfake cluster of three brokers persisting to a directory, so
// that it can be restarted over it on the same ports.
type fake struct {
	t     *testing.T
	dir   string
	ports []int
	c     *kfake.Cluster
	opts  []kfake.Opt
}

func newFake(t *testing.T, opts ...kfake.Opt) *fake {
	f := &fake{t: t, dir: t.TempDir(), opts: opts}
	f.start()
	t.Cleanup(func() { f.c.Close() })
	return f
}

func (f *fake) start() {
	opts := append([]kfake.Opt{kfake.NumBrokers(3), kfake.DataDir(f.dir)}, f.opts...)
	if f.ports != nil {
		opts = append(opts, kfake.Ports(f.ports...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		f.t.Fatalf("kfake: %v", err)
	}
	f.c = c
	if f.ports == nil {
		for _, a := range c.ListenAddrs() {
			_, port, _ := net.SplitHostPort(a)
			p, _ := strconv.Atoi(port)
			f.ports = append(f.ports, p)
		}
	}
}

// restart stops the cluster and starts it again over its directory.
func (f *fake) restart() {
	f.c.Close()
	f.start()
}

// config returns the kafka.Config of the cluster's clients, with
// timings short enough for tests: heartbeats (which is how members learn
// of a rebalance) and metadata refreshes (how clients learn of a moved
// leader) every few milliseconds.
func (f *fake) config() kafka.Config {
	return kafka.Config{
		SeedBrokers: f.c.ListenAddrs(),
		Options: []kgo.Opt{
			kgo.HeartbeatInterval(50 * time.Millisecond),
			kgo.MetadataMinAge(10 * time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		},
	}
}

func (f *fake) backend() *backendtest.Backend {
	return &backendtest.Backend{
		Admin: func() commitlog.AdminClient {
			a, err := kafka.NewAdmin(f.config())
			if err != nil {
				f.t.Fatalf("NewAdmin: %v", err)
			}
			return a
		},
		NewProducer: func(cfg commitlog.ProducerConfig) (commitlog.ProducerClient, error) {
			p, err := kafka.NewProducer(f.config(), cfg)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
		NewConsumer: func(cfg commitlog.ConsumerConfig) (commitlog.ConsumerClient, error) {
			c, err := kafka.NewConsumer(f.config(), cfg)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Restart:           func(*testing.T) { f.restart() },
		Murmur2Default:    true,
		ReplicationFactor: 3,
	}
}
