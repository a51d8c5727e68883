package kafka

import (
	"errors"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNewProducerConfig(t *testing.T) {
	ok := Config{SeedBrokers: []string{"127.0.0.1:1"}}
	for _, c := range []struct {
		name string
		kc   Config
		cfg  commitlog.ProducerConfig
		want []string // substrings of the problems
	}{
		{"no brokers", Config{}, commitlog.ProducerConfig{}, []string{"SeedBrokers"}},
		{"idempotence needs acks=all", ok, commitlog.ProducerConfig{Acks: commitlog.AckLeader}, []string{"Acks", "DisableIdempotence"}},
		{"idempotence needs acks=all (none)", ok, commitlog.ProducerConfig{Acks: commitlog.AckNone}, []string{"Acks"}},
		{"every problem at once", Config{DeliveryTimeout: -1, SeedBrokers: []string{"x:1"}}, commitlog.ProducerConfig{Linger: -1, Acks: commitlog.AckLeader},
			[]string{"Linger", "DeliveryTimeout", "Acks"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewProducer(c.kc, c.cfg)
			var ce *commitlog.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, commitlog.ErrInvalidConfig) {
				t.Fatalf("NewProducer: %v, want a *ConfigError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%v does not mention %s", err, w)
				}
			}
			if len(ce.Problems) != len(c.want) && c.name == "every problem at once" {
				t.Fatalf("problems %q, want %d", ce.Problems, len(c.want))
			}
		})
	}
	for _, cfg := range []commitlog.ProducerConfig{
		{},
		{Acks: commitlog.AckLeader, DisableIdempotence: true},
		{Acks: commitlog.AckNone, DisableIdempotence: true, MaxInFlight: 3},
		{Compression: commitlog.CodecZstd, CompressionLevel: 3, BatchBytes: 64 << 10, MaxInFlight: 9},
	} {
		p, err := NewProducer(ok, cfg)
		if err != nil {
			t.Fatalf("NewProducer(%+v): %v", cfg, err)
		}
		var cl *kgo.Client
		if !p.As(&cl) || cl == nil {
			t.Fatal("As(**kgo.Client): false")
		}
		var other *Consumer
		if p.As(&other) {
			t.Fatal("As(**Consumer): true")
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestCodec(t *testing.T) {
	for c, want := range map[commitlog.Codec]kgo.CompressionCodec{
		commitlog.CodecNone:   kgo.NoCompression(),
		commitlog.CodecGzip:   kgo.GzipCompression(),
		commitlog.CodecSnappy: kgo.SnappyCompression(),
		commitlog.CodecLZ4:    kgo.Lz4Compression(),
		commitlog.CodecZstd:   kgo.ZstdCompression(),
	} {
		if got := codec(c, 0); got != want {
			t.Fatalf("%v: %v, want %v", c, got, want)
		}
	}
	if got := codec(commitlog.CodecZstd, 7); got != kgo.ZstdCompression().WithLevel(7) {
		t.Fatalf("zstd level 7: %v", got)
	}
}
