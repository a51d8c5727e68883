package commitlog

import (
	"context"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Compaction benchmarks. Like the others (bench_test.go), they run on the
// operating system's file system in a temporary directory. The compacted
// topic is filled under SyncNever with Partition.Append, in batches of
// 1,000 records with 16-byte keys drawn uniformly from a fixed set and
// 100-byte random (incompressible) values, then rolled so that everything
// but the (empty) active segment is cleanable, and checkpointed (fsynced)
// before anything is measured: a pass reads its input from the page cache.
//
// COMMITLOG_BENCH_COMPACT_MB sets the size of BenchmarkCompaction's dirty
// data in MiB (default 1024; BenchmarkAppendDuringCompaction uses half).
// The number of distinct keys scales with it: 1,000,000 per GiB, so that
// every key is written ~8.6 times whatever the size.

// cpSizeMB returns the dirty data size, in MiB, of BenchmarkCompaction.
func cpSizeMB(tb testing.TB) int64 {
	s := os.Getenv("COMMITLOG_BENCH_COMPACT_MB")
	if s == "" {
		return 1024
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		tb.Fatalf("COMMITLOG_BENCH_COMPACT_MB=%q: want a positive number of MiB", s)
	}
	return n
}

// cpKeys is the number of distinct keys for sizeMB MiB of data.
func cpKeys(sizeMB int64) int { return int(max(1, 1_000_000*sizeMB/1024)) }

// cpKey writes the 16-byte key number k into dst: a multiplicative hash
// of k, then k, so that keys are spread like real ones and distinct.
func cpKey(dst []byte, k uint64) {
	binary.BigEndian.PutUint64(dst, k*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(dst[8:], k)
}

// cpDataBytes returns the size of p's data files.
func cpDataBytes(p *Partition) int64 {
	var n int64
	for _, s := range p.segments() {
		n += s.Size
	}
	return n
}

// cpFilled is what cpFill wrote.
type cpFilled struct {
	records int64
	keys    int   // distinct keys written
	bytes   int64 // data bytes, all in sealed segments
}

// cpFill appends keyed records to p (see the comment at the top of this
// file) until its data reaches size bytes, then rolls, so that every record
// is in a sealed segment below the high watermark, and checkpoints, so that
// it is all durable: a compaction pass may take all of it, and finds
// nothing left to fsync.
func cpFill(tb testing.TB, p *Partition, size int64, nKeys int, seed uint64) cpFilled {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0xc0de))
	const batch, keyLen, valueLen = 1000, 16, 100
	pool := make([]byte, 8<<20) // values are random slices of it
	for i := 0; i+8 <= len(pool); i += 8 {
		binary.LittleEndian.PutUint64(pool[i:], rng.Uint64())
	}
	keys := make([]byte, batch*keyLen)
	seen := make([]uint64, (nKeys+63)/64)
	recs := make([]Record, batch)
	var f cpFilled
	for cpDataBytes(p) < size {
		ts := time.Now()
		for i := range recs {
			k := rng.IntN(nKeys)
			seen[k/64] |= 1 << (k % 64)
			key := keys[i*keyLen : (i+1)*keyLen : (i+1)*keyLen]
			cpKey(key, uint64(k))
			off := rng.IntN(len(pool) - valueLen)
			recs[i] = Record{Key: key, Value: pool[off : off+valueLen : off+valueLen], Timestamp: ts}
		}
		if _, err := p.Append(ctx, recs); err != nil {
			tb.Fatal(err)
		}
		f.records += batch
	}
	err := p.rollIdle()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.checkpoint(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, w := range seen {
		f.keys += bits.OnesCount64(w)
	}
	f.bytes = cpDataBytes(p)
	return f
}

// cpOpen opens a log in a new temporary directory with a compacted topic
// "c" (default configuration otherwise) and, when plain is set, a topic
// "a" with the default configuration.
func cpOpen(tb testing.TB, dir string, sync SyncPolicy, plain bool) (*Log, *Partition) {
	tb.Helper()
	l, err := Open(dir, &Options{Sync: sync, CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.CreateTopic(ctx, "c", TopicConfig{CleanupPolicy: CleanupCompact}); err != nil {
		l.Close()
		tb.Fatal(err)
	}
	if plain {
		if _, err := l.CreateTopic(ctx, "a", TopicConfig{}); err != nil {
			l.Close()
			tb.Fatal(err)
		}
	}
	return l, mustPartition(tb, l, "c", 0)
}

// heapSampler records the peak of the Go heap's object bytes (live and
// not yet swept), sampled every millisecond until finish.
type heapSampler struct {
	stop, done chan struct{}
	peak       uint64
}

const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: heapObjects()}
	go func() {
		defer close(h.done)
		s := []metrics.Sample{{Name: heapObjectsMetric}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				metrics.Read(s)
				h.peak = max(h.peak, s[0].Value.Uint64())
				return
			case <-tick.C:
				metrics.Read(s)
				h.peak = max(h.peak, s[0].Value.Uint64())
			}
		}
	}()
	return h
}

// finish stops the sampler and returns the peak.
func (h *heapSampler) finish() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

const mib = 1 << 20

// BenchmarkCompaction times one Log.Compact pass over a compacted topic
// holding COMMITLOG_BENCH_COMPACT_MB (default 1024) MiB of dirty records:
// ~8.6 M records of 1 M keys, so that a pass keeps ~1 M of them. An op is
// one pass over a freshly filled log (run with -benchtime 1x). Reported:
// MB/s of input (data bytes before the pass, 10^6 bytes per MB, over the
// pass's time), the Go heap's object bytes before the pass (after a GC:
// what the fill left live) and at its peak during the pass (sampled every
// millisecond; the peak includes garbage not yet collected) and the
// difference (the pass's share), MB allocated during the pass, GC cycles,
// and the input and output sizes.
func BenchmarkCompaction(b *testing.B) {
	sizeMB := cpSizeMB(b)
	ctx := context.Background()
	var (
		elapsed                        time.Duration
		in, out, recsIn, recsOut       int64
		before, peak, allocated, numGC float64
	)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		l, p := cpOpen(b, dir, SyncNever, false)
		f := cpFill(b, p, sizeMB*mib, cpKeys(sizeMB), 1)
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		heap0 := heapObjects()
		sampler := startHeapSampler()
		b.StartTimer()
		start := time.Now()
		var err error
		// The label lets a CPU profile single out the pass:
		// go tool pprof -tagfocus=phase=compact.
		pprof.Do(ctx, pprof.Labels("phase", "compact"), func(ctx context.Context) {
			err = l.Compact(ctx, "c")
		})
		d := time.Since(start)
		b.StopTimer()
		heapPeak := sampler.finish()
		runtime.ReadMemStats(&ms1)
		if err != nil {
			b.Fatal(err)
		}
		// The pass kept exactly the latest record of each key.
		var n int64
		for _, err := range p.Scan(ctx, 0) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != int64(f.keys) {
			b.Fatalf("%d records after compaction, want one per key: %d", n, f.keys)
		}
		elapsed += d
		in += f.bytes
		out += cpDataBytes(p)
		recsIn += f.records
		recsOut += n
		before += float64(heap0)
		peak += float64(heapPeak)
		allocated += float64(ms1.TotalAlloc - ms0.TotalAlloc)
		numGC += float64(ms1.NumGC - ms0.NumGC)
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dir)
	}
	nf := float64(b.N)
	b.ReportMetric(float64(in)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(before/nf/mib, "heap-before-MiB")
	b.ReportMetric(peak/nf/mib, "peak-heap-MiB")
	b.ReportMetric((peak-before)/nf/mib, "pass-heap-MiB")
	b.ReportMetric(allocated/nf/1e6, "alloc-MB")
	b.ReportMetric(numGC/nf, "GCs")
	b.ReportMetric(float64(in)/nf/1e6, "in-MB")
	b.ReportMetric(float64(out)/nf/1e6, "out-MB")
	b.ReportMetric(float64(recsIn)/nf, "recs-in")
	b.ReportMetric(float64(recsOut)/nf, "recs-out")
}

// BenchmarkAppendDuringCompaction measures append throughput to a plain
// topic "a" of a Log (records of 100 random bytes, no key, batches of
// 1,000, Partition.Append from one goroutine) while Log.Compact compacts
// another topic of the same Log holding half of COMMITLOG_BENCH_COMPACT_MB
// (default 512 MiB) of dirty records, against the same append loop
// without compaction, measured in the same run: a window of 2 s before the
// pass, the whole pass, and a window as long as the pass after it. Before
// each window "a" is flushed (untimed), so that every window starts with
// no dirty page cache of its own: under SyncNever the loop writes faster
// than the disk absorbs, and the kernel's dirty-page throttling, not
// compaction, would otherwise set the rate of whichever window comes
// later. Reported: records/s idle (both idle windows together) and during
// the pass, their ratio and the loss in percent, append latency (one
// Append of 1,000 records) p50 and p99 idle and during the pass and the
// longest during the pass, and the pass's duration. Sub-benchmarks: the
// Log under SyncNever and under SyncAlways (the compacted topic is filled
// under SyncNever in both, then the Log reopened).
func BenchmarkAppendDuringCompaction(b *testing.B) {
	sizeMB := max(1, cpSizeMB(b)/2)
	for _, policy := range []SyncPolicy{SyncNever, SyncAlways} {
		b.Run(policy.String(), func(b *testing.B) {
			ctx := context.Background()
			recs := benchRecords(1000, 100)
			var (
				idle, during appendWindow
				passTime     time.Duration
			)
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				l, p := cpOpen(b, dir, SyncNever, true)
				cpFill(b, p, sizeMB*mib, cpKeys(sizeMB), 2)
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				l, err := Open(dir, &Options{Sync: policy, CheckpointInterval: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				a := mustPartition(b, l, "a", 0)
				flush := func() {
					if err := a.flush(ctx); err != nil {
						b.Fatal(err)
					}
					runtime.GC()
				}
				// appendFor appends to a until stop says so.
				appendFor := func(w *appendWindow, stop func() bool) {
					b.StartTimer()
					start := time.Now()
					for !stop() {
						t0 := time.Now()
						if _, err := a.Append(ctx, recs); err != nil {
							b.Fatal(err)
						}
						w.latencies = append(w.latencies, time.Since(t0))
						w.records += int64(len(recs))
					}
					w.time += time.Since(start)
					b.StopTimer()
				}
				until := func(d time.Duration) func() bool {
					end := time.Now().Add(d)
					return func() bool { return !time.Now().Before(end) }
				}
				appendFor(&appendWindow{}, until(time.Second/2)) // warm up
				flush()
				appendFor(&idle, until(2*time.Second))

				var wg sync.WaitGroup
				done := make(chan struct{})
				var compactErr error
				var d time.Duration
				flush()
				wg.Go(func() {
					defer close(done)
					start := time.Now()
					compactErr = l.Compact(ctx, "c")
					d = time.Since(start)
				})
				appendFor(&during, func() bool {
					select {
					case <-done:
						return true
					default:
						return false
					}
				})
				wg.Wait()
				if compactErr != nil {
					b.Fatal(compactErr)
				}
				passTime += d

				flush()
				appendFor(&idle, until(d))
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				os.RemoveAll(dir)
			}
			ri, rd := idle.rate(), during.rate()
			b.ReportMetric(ri, "recs/s-idle")
			b.ReportMetric(rd, "recs/s-compacting")
			b.ReportMetric(rd/ri, "ratio")
			b.ReportMetric(100*(1-rd/ri), "loss-%")
			b.ReportMetric(idle.percentile(0.5), "p50-µs-idle")
			b.ReportMetric(during.percentile(0.5), "p50-µs-compacting")
			b.ReportMetric(idle.percentile(0.99), "p99-µs-idle")
			b.ReportMetric(during.percentile(0.99), "p99-µs-compacting")
			b.ReportMetric(during.percentile(1)/1e3, "max-ms-compacting")
			b.ReportMetric(passTime.Seconds()/float64(b.N), "pass-s")
		})
	}
}

// appendWindow is what an append loop did over one or more windows.
type appendWindow struct {
	records   int64
	time      time.Duration
	latencies []time.Duration // of each Append
}

func (w *appendWindow) rate() float64 { return float64(w.records) / w.time.Seconds() }

// percentile returns the q-quantile of the latencies, in microseconds.
func (w *appendWindow) percentile(q float64) float64 {
	if len(w.latencies) == 0 {
		return 0
	}
	l := slices.Clone(w.latencies)
	slices.Sort(l)
	return float64(l[int(q*float64(len(l)-1))].Nanoseconds()) / 1e3
}
