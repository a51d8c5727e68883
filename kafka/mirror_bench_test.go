package kafka_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Mirror's throughput against the bar a mirror is held to: kgo
// producing the same records to the same kind of cluster directly. Both
// send benchRecords records of a 10-byte key and a 100-byte value to a
// 3-partition topic of a one-broker kfake cluster, with the same
// compression and linger; each reports records/s. Run them together:
//
//	go test -run '^$' -bench 'Mirror' -benchtime 1x -count 3 ./kafka

const (
	benchRecords    = 200_000
	benchPartitions = 3
	benchLinger     = 5 * time.Millisecond
)

var benchCompression = commitlog.CodecLZ4

func benchRecord(i int) (key, value []byte, partition int32) {
	value = make([]byte, 100)
	copy(value, fmt.Sprintf("value-%09d", i))
	return fmt.Appendf(nil, "key-%06d", i%1_000_000), value, int32(i % benchPartitions)
}

// BenchmarkMirrorLogToKafka copies a Log's topic of benchRecords records
// to a new kfake cluster per iteration.
func BenchmarkMirrorLogToKafka(b *testing.B) {
	ctx := context.Background()
	l := openLog(b)
	src := kafka.LogEndpoint("local", l)
	if err := src.Admin.CreateTopic(ctx, "bench", commitlog.TopicConfig{Partitions: benchPartitions, Retention: commitlog.Forever}); err != nil {
		b.Fatal(err)
	}
	prod, err := l.NewProducer(commitlog.ProducerConfig{Partitioner: commitlog.ManualPartitioner(), Linger: benchLinger})
	if err != nil {
		b.Fatal(err)
	}
	last := map[int32]int64{}
	for i := range benchRecords {
		k, v, p := benchRecord(i)
		prod.Produce(ctx, &commitlog.Record{Topic: "bench", Partition: p, Key: k, Value: v}, nil)
	}
	if err := prod.Close(); err != nil {
		b.Fatal(err)
	}
	_, ends, err := kafka.EndpointOffsets(ctx, src, "bench", benchPartitions)
	if err != nil {
		b.Fatal(err)
	}
	for p, e := range ends {
		last[int32(p)] = e - 1
	}
	b.ResetTimer()
	var elapsed, startup time.Duration
	for range b.N {
		b.StopTimer()
		dst := kafkaEndpoint(b, "remote", newMirrorFake(b))
		m := newMirror(b, kafka.MirrorConfig{
			Source: src, Target: dst, Topics: []string{"bench"},
			Producer: commitlog.ProducerConfig{Compression: benchCompression, Linger: benchLinger},
		})
		b.StartTimer()
		start := time.Now()
		alive, stop := startMirror(ctx, m)
		if err := kafka.WaitMirrorCopied(alive, m, commitlog.TopicPartition{Topic: "bench"}, 0); err != nil {
			b.Fatalf("%v; Run: %v", err, stop())
		}
		startup += time.Since(start)
		waitRunning(b, alive, stop, m, "bench", last)
		elapsed += time.Since(start)
		b.StopTimer()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		if st := m.Stats(); st.Records != benchRecords {
			b.Fatalf("copied %d records", st.Records)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRecords*b.N)/elapsed.Seconds(), "records/s")
	// Run's start (topics described and created, the offset-syncs topic
	// read, clients made) until the first record is copied, which the
	// baseline's timing does not include.
	b.ReportMetric(float64(startup.Milliseconds())/float64(b.N), "startup-ms")
	// The copy's own rate, after that start: what the baseline measures.
	b.ReportMetric(float64(benchRecords*b.N)/(elapsed-startup).Seconds(), "copy-records/s")
}

// BenchmarkMirrorBaselineKgoProduce produces the same records with kgo
// to a new kfake cluster per iteration: the bar.
func BenchmarkMirrorBaselineKgoProduce(b *testing.B) { benchKgoProduce(b, false) }

// BenchmarkMirrorBaselineKgoProduceHeaders is the bar with the three
// headers the mirror adds to every record: how much of the difference is
// the headers' bytes.
func BenchmarkMirrorBaselineKgoProduceHeaders(b *testing.B) { benchKgoProduce(b, true) }

func benchKgoProduce(b *testing.B, headers bool) {
	ctx := context.Background()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		kc := newMirrorFake(b)
		adm, err := kafka.NewAdmin(kc)
		if err != nil {
			b.Fatal(err)
		}
		if err := adm.CreateTopic(ctx, "bench", commitlog.TopicConfig{Partitions: benchPartitions}); err != nil {
			b.Fatal(err)
		}
		adm.Close()
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(kc.SeedBrokers...),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(benchLinger),
			kgo.ProducerBatchCompression(kgo.Lz4Compression()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
		}, kc.Options...)...)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]*kgo.Record, benchRecords)
		for i := range recs {
			k, v, p := benchRecord(i)
			recs[i] = &kgo.Record{Topic: "bench", Partition: p, Key: k, Value: v}
			if headers {
				off := make([]byte, 8)
				binary.BigEndian.PutUint64(off, uint64(i/benchPartitions))
				recs[i].Headers = []kgo.RecordHeader{
					{Key: kafka.MirrorOriginHeader, Value: []byte("local")},
					{Key: kafka.MirrorSourceHeader, Value: []byte("local")},
					{Key: kafka.MirrorOffsetHeader, Value: off},
				}
			}
		}
		b.StartTimer()
		start := time.Now()
		for _, r := range recs {
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		cl.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRecords*b.N)/elapsed.Seconds(), "records/s")
}
