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

func TestCopyRecord(t *testing.T) {
	key, val, hv := []byte("key"), []byte("value"), []byte("hv")
	r := &commitlog.Record{Topic: "t", Partition: 2, Key: key, Value: val, Headers: []commitlog.Header{{Key: "h", Value: hv}, {Key: "null"}}}
	kr := &copyRecord(r).kr
	copy(key, "KEY")
	copy(val, "VALUE")
	copy(hv, "HV")
	if string(kr.Key) != "key" || string(kr.Value) != "value" || string(kr.Headers[0].Value) != "hv" || kr.Headers[0].Key != "h" {
		t.Fatalf("the copy changed with the caller's buffers: %q %q %q", kr.Key, kr.Value, kr.Headers[0].Value)
	}
	if kr.Headers[1].Value != nil || kr.Topic != "t" || kr.Partition != 2 {
		t.Fatalf("copy: %+v", kr)
	}
	kr.Key = append(kr.Key, 'x') // capped: appending cannot run into the value
	if string(kr.Value) != "value" {
		t.Fatalf("appending to the key changed the value: %q", kr.Value)
	}
	if n := &copyRecord(&commitlog.Record{Topic: "t", Value: []byte{}}).kr; n.Key != nil || n.Value == nil || len(n.Value) != 0 {
		t.Fatalf("nil key and empty value: %#v %#v", n.Key, n.Value)
	}
}
