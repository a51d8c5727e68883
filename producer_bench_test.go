package commitlog

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// produceBenchRecords is how many records each iteration of
// BenchmarkProduce produces (and then flushes).
const produceBenchRecords = 100_000

// BenchmarkProduce has one goroutine Produce a fixed number of records
// with a counting promise to one partition under SyncNever, then Flush:
// the figure is end to end, every promise called. In the same run it
// appends the same records with Partition.Append to another log, in
// batches of exactly the sizes the producer formed (read back from the
// partition's batch headers), and reports both rates and their ratio.
// ns/op counts the producer only.
func BenchmarkProduce(b *testing.B) {
	b.Run("value=100", func(b *testing.B) {
		benchProduce(b, benchRecords(produceBenchRecords, 100), CodecNone)
	})
	b.Run("value=1024", func(b *testing.B) {
		// Bandwidth: encoding overlaps the previous batch's write here,
		// unlike in a loop of Partition.Append (see BenchmarkAppendBandwidth).
		benchProduce(b, benchRecords(produceBenchRecords/10, 1024), CodecNone)
	})
	b.Run("lz4-json", func(b *testing.B) {
		benchProduce(b, jsonRecords(produceBenchRecords), CodecLZ4)
	})
}

// jsonRecords returns n compressible JSON-like records of 100 bytes each,
// with varying digits.
func jsonRecords(n int) []Record {
	const size = 100
	buf := make([]byte, 0, n*size)
	recs := make([]Record, n)
	ts := time.Now()
	for i := range recs {
		start := len(buf)
		buf = fmt.Appendf(buf, `{"user":"user-%04d","action":"click","ts":%d,"page":"/home","session":"s-%06d"`,
			(i*7919)%10000, 1_700_000_000_000+int64(i)*37, (i*104729)%1000000)
		for len(buf)-start < size-1 {
			buf = append(buf, ' ')
		}
		buf = append(buf, '}')
		recs[i] = Record{Value: buf[start:len(buf):len(buf)], Timestamp: ts}
	}
	return recs
}

func benchProduce(b *testing.B, recs []Record, codec Codec) {
	ctx := context.Background()
	l, p := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{})
	_, raw := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{Compression: codec})
	prod, err := l.NewProducer(ProducerConfig{Compression: codec})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { prod.Close() }) // before the log's Close: cleanups run last-in first-out
	pc := producerClient(prod)

	ptrs := make([]*Record, len(recs))
	own := slices.Clone(recs)
	for i := range own {
		own[i].Topic = "bench"
		ptrs[i] = &own[i]
	}
	// Promises run serially on the completer; Flush returns after the last
	// one, so the counts are read safely after it.
	var completed int
	var firstErr error
	promise := func(_ *Record, err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
		completed++
	}
	bytes := 0
	for i := range recs {
		bytes += len(recs[i].Value)
	}

	var produceTime, appendTime time.Duration
	var sizes []int
	batches := 0
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := p.EndOffset()
		start := time.Now()
		for _, r := range ptrs {
			pc.Produce(ctx, r, promise)
		}
		if err := pc.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		produceTime += time.Since(start)

		b.StopTimer()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		if want := (i + 1) * len(ptrs); completed != want {
			b.Fatalf("%d promises called after Flush, want %d", completed, want)
		}
		sizes = producedBatches(b, p, from, sizes[:0])
		batches += len(sizes)
		rest := recs
		start = time.Now()
		for _, n := range sizes {
			if _, err := raw.Append(ctx, rest[:n]); err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
		appendTime += time.Since(start)
		if len(rest) != 0 {
			b.Fatalf("the producer's batches hold %d records, want %d", len(recs)-len(rest), len(recs))
		}
		b.StartTimer()
	}
	total := float64(b.N * len(recs))
	produceRate := total / produceTime.Seconds()
	appendRate := total / appendTime.Seconds()
	b.ReportMetric(produceRate, "records/s")
	b.ReportMetric(appendRate, "append-records/s")
	b.ReportMetric(produceRate/appendRate, "produce/append")
	b.ReportMetric(total/float64(batches), "records/batch")
}

// producerClient returns p as the interface programs written for every
// backend hold, so that BenchmarkProduce measures calls through it. It is
// not inlined, so the compiler cannot see the dynamic type and turn the
// calls back into direct ones.
//
//go:noinline
func producerClient(p *Producer) ProducerClient { return p }

// producedBatches appends to sizes the record counts of p's batches from
// offset from on.
func producedBatches(b *testing.B, p *Partition, from int64, sizes []int) []int {
	r, err := p.store.NewReader(from, p.store.HighWatermarkPosition())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for {
		_, h, err := r.Next()
		if err == io.EOF {
			return sizes
		}
		if err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, int(h.RecordCount))
	}
}

// BenchmarkProduceSyncGroupCommit measures ProduceSync of single 100-byte
// records under SyncAlways on the operating system's file system, first
// from one goroutine and then from 64, each phase for a fixed time per
// iteration. With one goroutine every record waits for its own fsync; with
// 64 the records that arrive while a batch is being synced form the next
// batch and share its fsync.
func BenchmarkProduceSyncGroupCommit(b *testing.B) {
	ctx := context.Background()
	l, p := benchPartition(b, nil, TopicConfig{})
	prod, err := l.NewProducer(ProducerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { prod.Close() })
	const writers = 64
	const phase = 500 * time.Millisecond
	values := benchRecords(writers, 100)
	run := func(w int) (records int, elapsed time.Duration) {
		counts := make([]int, w)
		start := time.Now()
		deadline := start.Add(phase)
		var wg sync.WaitGroup
		for g := 0; g < w; g++ {
			wg.Go(func() {
				r := &Record{Topic: "bench", Value: values[g].Value}
				for time.Now().Before(deadline) {
					r.Timestamp = time.Time{}
					if err := prod.ProduceSync(ctx, r); err != nil {
						b.Error(err)
						return
					}
					counts[g]++
				}
			})
		}
		wg.Wait()
		for _, c := range counts {
			records += c
		}
		return records, time.Since(start)
	}
	var oneRecs, manyRecs, manyBatches int
	var oneTime, manyTime time.Duration
	var sizes []int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, d := run(1)
		oneRecs, oneTime = oneRecs+n, oneTime+d
		from := p.EndOffset()
		n, d = run(writers)
		manyRecs, manyTime = manyRecs+n, manyTime+d
		b.StopTimer()
		sizes = producedBatches(b, p, from, sizes[:0])
		manyBatches += len(sizes)
		b.StartTimer()
	}
	one := float64(oneRecs) / oneTime.Seconds()
	many := float64(manyRecs) / manyTime.Seconds()
	b.ReportMetric(one, "records/s-1")
	b.ReportMetric(many, "records/s-64")
	b.ReportMetric(many/one, "64/1")
	b.ReportMetric(float64(manyRecs)/float64(manyBatches), "records/batch-64")
}

// TestProduceAllocatesNothingPerRecord checks that producing records and
// flushing them allocates a bounded number of objects, not one or more per
// record: the records are encoded into pooled batches, and promises are
// called from a reused queue.
func TestProduceAllocatesNothingPerRecord(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour})
	mustNoErr(t, err)
	defer l.Close()
	_, err = l.CreateTopic(ctx, "t", TopicConfig{})
	mustNoErr(t, err)
	prod, err := l.NewProducer(ProducerConfig{})
	mustNoErr(t, err)
	defer prod.Close()
	var failed error
	promise := func(_ *Record, err error) {
		if err != nil {
			failed = err
		}
	}
	allocsPerProduce := func(n int) float64 {
		recs := benchRecords(n, 100)
		ptrs := make([]*Record, n)
		for i := range recs {
			recs[i].Topic = "t"
			ptrs[i] = &recs[i]
		}
		return testing.AllocsPerRun(50, func() {
			for _, r := range ptrs {
				prod.Produce(ctx, r, promise)
			}
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if failed != nil {
				t.Fatal(failed)
			}
		})
	}
	small, large := allocsPerProduce(10), allocsPerProduce(1000)
	if raceEnabled {
		// Pooled batches and builders are dropped at random: each may
		// regrow its buffers, a few allocations per batch but never one
		// per record.
		if large >= 100 {
			t.Fatalf("Produce allocates per record: %v allocs for 1,000 records", large)
		}
	} else if large > small+2 || large > 8 {
		t.Fatalf("Produce allocates per record: %v allocs for 10 records, %v for 1,000", small, large)
	}
	t.Logf("allocations: %v per Produce+Flush of 10 records, %v of 1,000", small, large)
}
