package commitlog

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Benchmarks run on the operating system's file system in a temporary
// directory, so they measure this machine's disk. Each figure that the
// documentation compares against a machine limit has that limit measured
// in the same run: BenchmarkAppendBandwidth interleaves appends with plain
// writes of the same bytes to a new file, and BenchmarkFsync is a bare
// write + fdatasync. Benchmarks that write gigabytes end up bound by the
// disk's writeback once dirty pages pass the kernel's limit; keep
// -benchtime modest to measure the library.

// benchRecords returns n records with random (incompressible) values of the
// given size.
func benchRecords(n, size int) []Record {
	buf := make([]byte, n*size)
	rand.Read(buf)
	recs := make([]Record, n)
	ts := time.Now()
	for i := range recs {
		recs[i] = Record{Value: buf[i*size : (i+1)*size : (i+1)*size], Timestamp: ts}
	}
	return recs
}

func benchPartition(b *testing.B, opts *Options, cfg TopicConfig) (*Log, *Partition) {
	b.Helper()
	l, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	tp, err := l.CreateTopic(context.Background(), "bench", cfg)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := tp.Partition(0)
	return l, p
}

func reportRecords(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppend appends batches of 1,000 records, SyncNever; and single
// records, which shows the cost of one append call.
func BenchmarkAppend(b *testing.B) {
	for _, shape := range []struct{ batch, size int }{{1000, 100}, {1000, 1024}, {1, 100}} {
		b.Run(fmt.Sprintf("batch=%d/value=%d", shape.batch, shape.size), func(b *testing.B) {
			ctx := context.Background()
			size := shape.size
			_, p := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{})
			recs := benchRecords(shape.batch, size)
			b.SetBytes(int64(len(recs) * size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, b.N*len(recs))
		})
	}
}

// BenchmarkAppendBandwidth compares appending 1 KiB values with a plain
// sequential write of the same bytes to a new file, interleaved in one
// run so that both see the same page-cache state: each round appends to a
// new log and writes a new file, then deletes both. It reports both
// bandwidths and their ratio. "nosync" writes 64 MiB each way and fsyncs
// neither (memory bandwidth is the limit); "fsync" writes 256 MiB each way
// and fsyncs it (the disk is).
func BenchmarkAppendBandwidth(b *testing.B) {
	for _, mode := range []struct {
		name   string
		volume int
		sync   bool
	}{{"nosync", 64 << 20, false}, {"fsync", 256 << 20, true}} {
		b.Run(mode.name, func(b *testing.B) { benchAppendBandwidth(b, mode.volume, mode.sync) })
	}
}

func benchAppendBandwidth(b *testing.B, volume int, sync bool) {
	ctx := context.Background()
	const size, perBatch = 1024, 1000
	recs := benchRecords(perBatch, size)
	plain := make([]byte, perBatch*size)
	rand.Read(plain)
	var appendTime, writeTime time.Duration
	root := b.TempDir()
	b.SetBytes(int64(volume))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(root, fmt.Sprint(i))
		l, err := Open(dir, &Options{Sync: SyncNever, CheckpointInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		tp, err := l.CreateTopic(ctx, "bw", TopicConfig{})
		if err != nil {
			b.Fatal(err)
		}
		p, _ := tp.Partition(0)
		f, err := vfs.Default.Create(filepath.Join(root, fmt.Sprint(i, ".plain")))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		appendAll := func() {
			start := time.Now()
			for n := 0; n < volume; n += perBatch * size {
				if _, err := p.Append(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			if sync {
				if err := p.flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			appendTime += time.Since(start)
		}
		writeAll := func() {
			start := time.Now()
			for n := 0; n < volume; n += len(plain) {
				if _, err := f.WriteAt(plain, int64(n)); err != nil {
					b.Fatal(err)
				}
			}
			if sync {
				if err := f.Sync(); err != nil { // fdatasync, as the log uses
					b.Fatal(err)
				}
			}
			writeTime += time.Since(start)
		}
		// Alternate which goes first: the second finds more dirty pages.
		if i%2 == 0 {
			appendAll()
			writeAll()
		} else {
			writeAll()
			appendAll()
		}
		b.StopTimer()
		l.cancel() // drop the log without its closing work: this measures writes only
		l.wg.Wait()
		l.closeTopicsWithoutSync()
		l.lock.Close()
		f.Close()
		os.RemoveAll(dir)
		os.Remove(filepath.Join(root, fmt.Sprint(i, ".plain")))
		b.StartTimer()
	}
	mb := float64(b.N) * float64(volume) / (1 << 20)
	b.ReportMetric(mb/appendTime.Seconds(), "append-MB/s")
	b.ReportMetric(mb/writeTime.Seconds(), "write-MB/s")
	b.ReportMetric(writeTime.Seconds()/appendTime.Seconds(), "append/write")
}

// scanPartition returns a partition holding 1,000 batches of 1,000 records
// of 100 bytes, for the read benchmarks.
func scanPartition(b *testing.B) *Partition {
	ctx := context.Background()
	_, p := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{})
	recs := benchRecords(1000, 100)
	for range 1000 {
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(1000 * 1000 * 100)
	b.ReportAllocs()
	b.ResetTimer()
	return p
}

// BenchmarkScan reads records of 100 bytes written in batches of 1,000
// through the zero-copy Scan iterator.
func BenchmarkScan(b *testing.B) {
	ctx := context.Background()
	p := scanPartition(b)
	n := 0
	for i := 0; i < b.N; i++ {
		for r, err := range p.Scan(ctx, 0) {
			if err != nil {
				b.Fatal(err)
			}
			n += len(r.Value) / 100
		}
	}
	reportRecords(b, n)
}

// BenchmarkCursor reads the records of BenchmarkScan through a Cursor's
// Value, which returns them without making a Record of each.
func BenchmarkCursor(b *testing.B) {
	ctx := context.Background()
	p := scanPartition(b)
	n := 0
	for i := 0; i < b.N; i++ {
		c := p.Cursor(ctx, 0)
		for c.Next() {
			n += len(c.Value()) / 100
		}
		if err := c.Err(); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, n)
}

// latencies records durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkFsync is the machine's reference for durable appends: append
// 100 bytes to a file and fdatasync it, as SyncAlways does per batch.
func BenchmarkFsync(b *testing.B) {
	f, err := vfs.Default.Create(filepath.Join(b.TempDir(), "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i*len(buf))); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil { // fdatasync on Linux, as the log uses
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	lat.report(b)
}

// BenchmarkAppendSyncAlways appends one 100-byte record at a time under
// SyncAlways: each append waits for its fsync.
func BenchmarkAppendSyncAlways(b *testing.B) {
	ctx := context.Background()
	_, p := benchPartition(b, nil, TopicConfig{})
	recs := benchRecords(1, 100)
	lat := make(latencies, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	lat.report(b)
	reportRecords(b, b.N)
}

// BenchmarkGroupCommit has 64 goroutines each appending single 100-byte
// records under SyncAlways; concurrent appenders share fsyncs.
func BenchmarkGroupCommit(b *testing.B) {
	ctx := context.Background()
	_, p := benchPartition(b, nil, TopicConfig{})
	const writers = 64
	recs := benchRecords(writers, 100)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				if _, err := p.Append(ctx, recs[w:w+1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	reportRecords(b, per*writers)
}

// BenchmarkReopenUnclean measures Open after an unclean stop of a
// partition holding 1 GiB: the process "dies" (the Log is abandoned
// without Close; the page cache survives, as with kill -9) 16 MiB after
// the last checkpoint. Open scans only that tail.
func BenchmarkReopenUnclean(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	l, err := Open(dir, &Options{Sync: SyncNever, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	tp, err := l.CreateTopic(ctx, "bench", TopicConfig{})
	if err != nil {
		b.Fatal(err)
	}
	p, _ := tp.Partition(0)
	recs := benchRecords(1000, 1024)
	for written := 0; written < 1<<30; written += 1000 * 1024 {
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	for written := 0; written < 16<<20; written += 1000 * 1024 {
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	end := p.EndOffset()
	// Die: stop the scheduler and drop the lock, but do not close.
	l.cancel()
	l.wg.Wait()
	l.lock.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Every iteration starts from the same unclean state: the tail past
		// the checkpoint is unscanned. Reopen, then put the checkpoint back.
		cp, err := readFile(l.fs, filepath.Join(dir, "bench-0", checkpointName))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		l2, err := Open(dir, &Options{Sync: SyncNever, CheckpointInterval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p2 := mustPartitionErr(l2, "bench")
		if p2.EndOffset() != end {
			b.Fatalf("reopened at %d, want %d", p2.EndOffset(), end)
		}
		l2.cancel()
		l2.wg.Wait()
		l2.lock.Close()
		if err := writeFileAtomic(l.fs, filepath.Join(dir, "bench-0", checkpointName), cp); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func TestAppendAndScanAllocateNothingPerRecord(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), &Options{Sync: SyncNever, CheckpointInterval: time.Hour})
	mustNoErr(t, err)
	defer l.Close()
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	mustNoErr(t, err)
	p, _ := tp.Partition(0)
	allocsPerAppend := func(n int) float64 {
		recs := benchRecords(n, 100)
		return testing.AllocsPerRun(50, func() {
			if _, err := p.Append(ctx, recs); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocsPerAppend(10), allocsPerAppend(1000)
	if raceEnabled {
		// Pooled builders are dropped at random: each may regrow its
		// buffers, a few allocations per batch but never one per record.
		if large >= 20 {
			t.Fatalf("Append allocates per record: %v allocs for 1,000 records", large)
		}
	} else if large > small || large > 2 {
		t.Fatalf("Append allocates per record: %v allocs for 10 records, %v for 1,000", small, large)
	}
	allocsPerScan := func(from int64) float64 {
		return testing.AllocsPerRun(20, func() {
			for _, err := range p.Scan(ctx, from) {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	end := p.EndOffset()
	// A scan of more than a few MiB also checks CRCs ahead on a goroutine
	// (internal/storage/verify_ahead.go): a few allocations per segment, none per record.
	few, half, all := allocsPerScan(end-10), allocsPerScan(end/2), allocsPerScan(0)
	if all > half || all > 8 || half > few+4 {
		t.Fatalf("Scan allocates per record: %v allocs for 10 records, %v for %d, %v for %d", few, half, end-end/2, all, end)
	}
	t.Logf("allocations: %v per Append of 1,000 records, %v per Scan of %d records", large, all, end)
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAppendRolls is BenchmarkAppend's 1 KiB case, SyncNever, with
// 16 MiB segments: a roll every 16 batches, and each roll fsyncs the
// segment it seals before the next one is created.
func BenchmarkAppendRolls(b *testing.B) {
	ctx := context.Background()
	_, p := benchPartition(b, &Options{Sync: SyncNever}, TopicConfig{SegmentBytes: 16 << 20, MaxBatchBytes: 2 << 20})
	recs := benchRecords(1000, 1024)
	b.SetBytes(int64(len(recs) * 1024))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, b.N*len(recs))
}
