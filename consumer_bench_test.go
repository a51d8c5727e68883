package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// Consumer benchmarks. Like the others (bench_test.go), they run on the
// operating system's file system in a temporary directory, and every figure
// that is compared with a reference has the reference measured in the same
// run: BenchmarkConsumerPoll reports Partition.Scan over the same data,
// BenchmarkProduceConsumeLatency/SyncAlways a bare write + fdatasync.
//
// Records are 100-byte random (incompressible) values without a key, written
// in batches of 1,000 with Partition.Append under SyncNever.

// cbTopic is the topic every benchmark of this file creates.
const cbTopic = "bench"

// cbOpen opens a log on a new temporary directory of the OS file system with
// a topic of n partitions, closed when b ends.
func cbOpen(tb testing.TB, opts *Options, partitions int32) (*Log, *Topic) {
	tb.Helper()
	return cbOpenAt(tb, tb.TempDir(), opts, partitions)
}

func cbOpenAt(tb testing.TB, dir string, opts *Options, partitions int32) (*Log, *Topic) {
	tb.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	t, err := l.CreateTopic(context.Background(), cbTopic, TopicConfig{Partitions: partitions})
	if err != nil {
		tb.Fatal(err)
	}
	return l, t
}

// cbFill appends batches of recs to p until it holds at least n records.
func cbFill(tb testing.TB, p *Partition, recs []Record, n int64) {
	tb.Helper()
	for p.EndOffset() < n {
		if _, err := p.Append(context.Background(), recs); err != nil {
			tb.Fatal(err)
		}
	}
}

// cbMallocs returns the process's allocation counters and its number of
// completed GC cycles.
func cbMallocs() (mallocs, bytes uint64, gcs uint32) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs, ms.TotalAlloc, ms.NumGC
}

// BenchmarkConsumerPoll reads one partition of 2 M records (100-byte
// values, no key, batches of 1,000: ~220 MB in one segment, in the page
// cache) with one manually assigned consumer. An op is one record; the
// consumer Seeks back to offset 0 when it reaches the end, so b.N is not
// bounded by the data. Sub-benchmarks: Poll with the default MaxPollRecords
// (500) and with 5,000, each also reading as many records with
// Partition.Scan (zero-copy), in alternating chunks of 50,000 records
// (untimed by the framework), and reporting its rate and poll/scan; and
// Scan alone. allocs/poll and B/record count Poll's allocations only;
// polls/GC is how many Polls ran per GC cycle (the Scan chunks allocate
// nothing to speak of).
func BenchmarkConsumerPoll(b *testing.B) {
	total := int64(2_000_000)
	if raceEnabled {
		total = 100_000
	}
	ctx := context.Background()
	_, t := cbOpen(b, &Options{Sync: SyncNever, CheckpointInterval: time.Hour}, 1)
	p, _ := t.Partition(0)
	cbFill(b, p, benchRecords(1000, 100), total)
	end := p.EndOffset()
	// Warm the mapping: the first pass would count page faults.
	if next := cbScan(b, p, 0, int(end)); next != end {
		b.Fatalf("scanned up to %d, want %d", next, end)
	}

	for _, maxRecs := range []int{500, 5000} {
		b.Run(fmt.Sprintf("poll/max=%d", maxRecs), func(b *testing.B) {
			c, err := p.log.NewConsumer(ConsumerConfig{
				Partitions: []TopicPartition{{cbTopic, 0}}, MaxPollRecords: maxRecs,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cc := consumerClient(c) // as programs written for every backend call it
			// Poll and the Scan reference alternate in chunks, so that both
			// see the same machine (other processes, page cache) and GC.
			const chunk = 50_000
			var (
				polls, bytes, n, scanned int
				next, scanFrom           int64
				scanTime                 time.Duration
				scanMallocs, scanAlloc   uint64
			)
			runtime.GC()
			mallocs0, alloc0, gcs0 := cbMallocs()
			b.ResetTimer()
			for n < b.N {
				for target := min(b.N, n+chunk); n < target; {
					if next == end {
						if err := cc.Seek(TopicPartition{cbTopic, 0}, 0); err != nil {
							b.Fatal(err)
						}
					}
					recs, err := cc.Poll(ctx)
					if err != nil {
						b.Fatal(err)
					}
					polls++
					n += len(recs)
					for i := range recs {
						bytes += len(recs[i].Value)
					}
					next = recs[len(recs)-1].Offset + 1
				}
				b.StopTimer()
				m0, a0, _ := cbMallocs()
				start := time.Now()
				scanFrom = cbScan(b, p, scanFrom, n-scanned)
				scanTime += time.Since(start)
				m1, a1, _ := cbMallocs()
				scanMallocs, scanAlloc = scanMallocs+m1-m0, scanAlloc+a1-a0
				scanned = n
				b.StartTimer()
			}
			b.StopTimer()
			mallocs1, alloc1, gcs1 := cbMallocs()
			mallocs1, alloc1 = mallocs1-scanMallocs, alloc1-scanAlloc
			if bytes < n*100 {
				b.Fatalf("polled %d bytes for %d records", bytes, n)
			}
			// n (the records polled) is b.N rounded up to a whole Poll.
			pollRate := float64(n) / b.Elapsed().Seconds()
			scanRate := float64(n) / scanTime.Seconds()
			b.ReportMetric(pollRate, "records/s")
			b.ReportMetric(scanRate, "scan-records/s")
			b.ReportMetric(pollRate/scanRate, "poll/scan")
			b.ReportMetric(float64(n)/float64(polls), "records/poll")
			b.ReportMetric(float64(mallocs1-mallocs0)/float64(polls), "allocs/poll")
			b.ReportMetric(float64(alloc1-alloc0)/float64(n), "B/record")
			// With a live heap of a few MB, allocation drives GC cycles.
			b.ReportMetric(float64(polls)/float64(max(1, gcs1-gcs0)), "polls/GC")
		})
	}
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		cbScan(b, p, 0, b.N)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// consumerClient returns c as a ConsumerClient, not inlined so that the
// calls through it stay interface calls (see producerClient).
//
//go:noinline
func consumerClient(c *Consumer) ConsumerClient { return c }

// cbScan reads n records of p with Scan from offset from on, starting over
// at 0 at the end, and returns the offset after the last.
func cbScan(b *testing.B, p *Partition, from int64, n int) int64 {
	ctx := context.Background()
	got, bytes := 0, 0
	for got < n {
		if from == p.EndOffset() {
			from = 0
		}
		for r, err := range p.Scan(ctx, from) {
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(r.Value)
			from = r.Offset + 1
			if got++; got == n {
				break
			}
		}
	}
	if bytes < n*100 {
		b.Fatalf("scanned %d bytes for %d records", bytes, n)
	}
	return from
}

// cbGroup runs consumers of one group, each polling on its own goroutine.
type cbGroup struct {
	l        *Log
	cfg      ConsumerConfig
	ctx      context.Context
	notify   chan struct{} // a member gained partitions (buffer of one)
	consumed atomic.Int64
	errs     chan error
	wg       sync.WaitGroup
}

func newCBGroup(ctx context.Context, l *Log, disableAutoCommit bool) *cbGroup {
	g := &cbGroup{l: l, ctx: ctx, notify: make(chan struct{}, 1), errs: make(chan error, 64)}
	g.cfg = ConsumerConfig{
		Group: "bench-group", Topics: []string{cbTopic}, DisableAutoCommit: disableAutoCommit,
		OnAssigned: func(context.Context, ConsumerClient, []TopicPartition) {
			// Called after the consumer added the partitions: its
			// Assignment already shows them.
			select {
			case g.notify <- struct{}{}:
			default:
			}
		},
	}
	return g
}

// join starts a member polling in a loop until it is closed.
func (g *cbGroup) join() (*Consumer, error) {
	c, err := g.l.NewConsumer(g.cfg)
	if err != nil {
		return nil, err
	}
	g.wg.Go(func() {
		for {
			recs, err := c.Poll(g.ctx)
			if err != nil {
				if !errors.Is(err, ErrClosed) && g.ctx.Err() == nil {
					g.errs <- err
				}
				return
			}
			if g.cfg.DisableAutoCommit && len(recs) > 0 {
				if err := c.CommitRecords(g.ctx, recs...); err != nil {
					g.errs <- err
					return
				}
			}
			g.consumed.Add(int64(len(recs)))
		}
	})
	return c, nil
}

// converged reports whether every consumer's Assignment is its member's
// target assignment and they cover partitions partitions.
func (g *cbGroup) converged(cs []*Consumer, partitions int) bool {
	total := 0
	for _, c := range cs {
		m := c.currentMember()
		if m == nil {
			return false
		}
		target := g.l.groups.target(m)
		if !slices.Equal(c.Assignment(), target) {
			return false
		}
		total += len(target)
	}
	return total == partitions
}

// await waits until converged, woken by OnAssigned (the last step of a
// rebalance is always a member gaining partitions); a timer re-checks in
// case, and a deadline fails.
func (g *cbGroup) await(tb testing.TB, cs []*Consumer, partitions int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !g.converged(cs, partitions) {
		select {
		case <-g.notify:
		case <-tick.C:
			if time.Now().After(deadline) {
				for _, c := range cs {
					tb.Logf("%s: %d partitions", c.MemberID(), len(c.Assignment()))
				}
				tb.Fatal("the group did not converge within 10s")
			}
		case err := <-g.errs:
			tb.Fatal(err)
		}
	}
}

// BenchmarkGroupRebalance has 8 members of a group (CooperativeSticky, the
// default balancer) share a topic of 64 partitions, each holding 10 records
// that the members have consumed; each member polls in a loop on its own
// goroutine. An op is one join and one leave of a 9th member:
//
//   - join: from just before l.NewConsumer of the 9th member (which joins
//     the group and computes the new targets) until every one of the 9
//     members' Assignment equals its target (one member 8 partitions, the
//     others 7) — the 8 waiting Polls wake, revoke the partitions that move
//     (committing their positions first with auto-commit, then OnRevoked
//     and release), and the 9th member's Poll goroutine (started right
//     after NewConsumer) gains them, in one or more steps. The waiting
//     benchmark goroutine is woken by OnAssigned.
//   - leave: from just before Close of the 9th member (which commits its
//     positions with auto-commit, leaves, and rebalances) until the 8
//     remaining members' Assignments equal their targets (8 each).
//
// Options: SyncNever (a commit appends to __consumer_offsets without
// fsync). One untimed join and leave runs first (the first commits create
// __consumer_offsets and fsync the consumed data once). With "autocommit"
// (the default), each member that revokes a partition commits its position
// first (an append to __consumer_offsets). "nocommit" sets
// DisableAutoCommit and members CommitRecords after each Poll that returned
// records, so a rebalance is the group's coordination alone (no record is
// delivered again in either mode). close-retried/op is the fraction of
// leaves whose Close had to be retried (see below).
func BenchmarkGroupRebalance(b *testing.B) {
	for _, mode := range []struct {
		name    string
		disable bool
	}{{"autocommit", false}, {"nocommit", true}} {
		b.Run(mode.name, func(b *testing.B) { benchGroupRebalance(b, mode.disable) })
	}
}

func benchGroupRebalance(b *testing.B, disableAutoCommit bool) {
	const members, partitions, perPartition = 8, 64, 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, t := cbOpen(b, &Options{Sync: SyncNever, CheckpointInterval: time.Hour}, partitions)
	recs := benchRecords(perPartition, 100)
	for id := range int32(partitions) {
		p, _ := t.Partition(id)
		if _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	g := newCBGroup(ctx, l, disableAutoCommit)
	var cs []*Consumer
	defer func() {
		for _, c := range cs {
			c.Close()
		}
		cancel()
		g.wg.Wait()
	}()
	for range members {
		c, err := g.join()
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	g.await(b, cs, partitions)
	for deadline := time.Now().Add(10 * time.Second); g.consumed.Load() < partitions*perPartition; {
		if time.Now().After(deadline) {
			b.Fatalf("consumed %d of %d records", g.consumed.Load(), partitions*perPartition)
		}
		time.Sleep(time.Millisecond)
	}

	var joins, leaves latencyList
	closeRetries := 0
	cycle := func() {
		start := time.Now()
		c, err := g.join()
		if err != nil {
			b.Fatal(err)
		}
		all := append(slices.Clip(cs), c)
		g.await(b, all, partitions)
		joined := time.Now()
		for _, m := range all {
			if n := len(m.Assignment()); n != 7 && n != 8 {
				b.Fatalf("a member of 9 has %d of 64 partitions", n)
			}
		}
		// The benchmark goroutine is woken from inside the new member's
		// OnAssigned, which may not have returned yet: Close then fails
		// (errCallbackReentry, although it is called from another
		// goroutine) and is retried.
		for retried := false; ; retried = true {
			err := c.Close()
			if err == nil {
				break
			}
			if !errors.Is(err, errCallbackReentry) {
				b.Fatal(err)
			}
			if !retried {
				closeRetries++
			}
			runtime.Gosched()
		}
		g.await(b, cs, partitions)
		left := time.Now()
		joins = append(joins, joined.Sub(start))
		leaves = append(leaves, left.Sub(joined))
	}
	cycle() // warm-up
	joins, leaves = joins[:0], leaves[:0]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cycle()
	}
	b.StopTimer()
	joins.reportMs(b, "join")
	leaves.reportMs(b, "leave")
	b.ReportMetric(float64(closeRetries)/float64(len(leaves)), "close-retried/op")
}

// latencyList holds durations and reports their percentiles.
type latencyList []time.Duration

func (l latencyList) percentile(q float64) time.Duration {
	s := slices.Sorted(slices.Values(l))
	i := min(len(s)-1, int(q*float64(len(s))))
	return s[i]
}

func (l latencyList) mean() time.Duration {
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l))
}

func (l latencyList) reportMs(b *testing.B, name string) {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(l.mean()), name+"-ms")
	b.ReportMetric(ms(l.percentile(0.5)), name+"-p50-ms")
	b.ReportMetric(ms(l.percentile(0.99)), name+"-p99-ms")
	b.ReportMetric(ms(slices.Max(l)), name+"-max-ms")
}

func (l latencyList) reportUs(b *testing.B, prefix string) {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	b.ReportMetric(us(l.percentile(0.5)), prefix+"p50-µs")
	b.ReportMetric(us(l.percentile(0.99)), prefix+"p99-µs")
	b.ReportMetric(us(l.percentile(0.999)), prefix+"p99.9-µs")
	b.ReportMetric(us(slices.Max(l)), prefix+"max-µs")
}

// latencyPhase is how long each iteration of BenchmarkProduceConsumeLatency
// produces.
const latencyPhase = 3 * time.Second

// BenchmarkProduceConsumeLatency measures the time from just before a
// Partition.Append of one 100-byte record to the consumer's Poll (default
// config: FetchMinBytes 1, so Poll returns as soon as a record is visible)
// returning it on another goroutine. The value carries the send time
// (monotonic clock, relative to the start); the receive time is taken once
// per Poll, right after it returns. An op is a phase of 3s at a target of
// 10,000 records/s:
//
//   - SyncNever/ticker: a time.Ticker of 100µs paces the producer, which
//     sends every record that is due (start + i×100µs) at each tick. The Go
//     runtime fires sub-millisecond timers about every 1ms on an idle
//     machine, so records go out in bursts of ~10 every ms.
//   - SyncNever/yield: the producer busy-waits for each record's due time,
//     calling runtime.Gosched in the loop, so records go out evenly 100µs
//     apart (it costs a CPU). Without the Gosched the consumer, which the
//     Append readies on the producer's P (runnext), could wait there until
//     the producer is preempted (milliseconds). On 2 CPUs, the spinning
//     producer still makes the tail (p99.9) vary from run to run.
//   - SyncAlways: as ticker; every Append waits for its fsync and the
//     record becomes visible only then, so the rate is what fsync allows
//     (the producer runs behind schedule, appending back to back). The
//     default CheckpointInterval (1s) applies, as in the other modes.
//     In the same run, 200 writes of 100 bytes + fdatasync to a plain file
//     (half before, half after the phase) give the machine's fsync p50.
//
// The achieved rate is reported as records/s, and the p50 duration of the
// Append calls themselves as append-p50-µs (part of the latency).
func BenchmarkProduceConsumeLatency(b *testing.B) {
	b.Run("SyncNever/ticker", func(b *testing.B) { benchProduceConsume(b, SyncNever, false) })
	b.Run("SyncNever/yield", func(b *testing.B) { benchProduceConsume(b, SyncNever, true) })
	b.Run("SyncAlways", func(b *testing.B) { benchProduceConsume(b, SyncAlways, false) })
}

func benchProduceConsume(b *testing.B, policy SyncPolicy, yield bool) {
	const interval = 100 * time.Microsecond // 10,000 records/s
	phase := latencyPhase
	if raceEnabled {
		phase = 300 * time.Millisecond
	}
	l, t := cbOpen(b, &Options{Sync: policy}, 1)
	p, _ := t.Partition(0)
	var fsyncs latencyList
	if policy == SyncAlways {
		fsyncs = cbFsyncs(b, 100)
	}
	var lat, appends latencyList
	sent := 0
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		c, err := l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{{cbTopic, 0}}, AutoOffsetReset: ResetLatest})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Position(TopicPartition{cbTopic, 0}); err != nil { // starts at the end
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		base := time.Now()
		var received atomic.Int64
		var consumerLat latencyList
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				recs, err := c.Poll(ctx)
				now := time.Since(base)
				if err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				for i := range recs {
					consumerLat = append(consumerLat, now-time.Duration(binary.LittleEndian.Uint64(recs[i].Value)))
				}
				received.Add(int64(len(recs)))
			}
		})

		recs := benchRecords(1, 100)
		value := recs[0].Value
		tick := time.NewTicker(interval)
		n := 0
		for due := time.Duration(0); due < phase; due += interval {
			if yield {
				for time.Since(base) < due {
					runtime.Gosched() // a busy loop would starve the consumer queued on this P
				}
			} else {
				for time.Since(base) < due {
					<-tick.C
				}
			}
			sentAt := time.Since(base)
			binary.LittleEndian.PutUint64(value, uint64(sentAt))
			recs[0].Timestamp = time.Time{}
			if _, err := p.Append(ctx, recs); err != nil {
				b.Fatal(err)
			}
			appends = append(appends, time.Since(base)-sentAt)
			n++
			if policy == SyncAlways && time.Since(base) >= phase {
				break // fsync-bound: the schedule cannot be kept
			}
		}
		tick.Stop()
		elapsed += time.Since(base)
		for deadline := time.Now().Add(5 * time.Second); received.Load() < int64(n); {
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d records", received.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		wg.Wait()
		c.Close()
		lat = append(lat, consumerLat...)
		sent += n
	}
	b.StopTimer()
	if policy == SyncAlways {
		fsyncs = append(fsyncs, cbFsyncs(b, 100)...)
	}
	lat.reportUs(b, "")
	b.ReportMetric(float64(appends.percentile(0.5))/1e3, "append-p50-µs")
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "records/s")
	if policy == SyncAlways {
		f50 := fsyncs.percentile(0.5)
		b.ReportMetric(float64(f50)/1e3, "fsync-p50-µs")
		b.ReportMetric(float64(lat.percentile(0.5)-f50)/1e3, "p50-minus-fsync-µs")
	}
}

// cbFsyncs writes 100 bytes to a new file and fdatasyncs it, n times, and
// returns the durations.
func cbFsyncs(b *testing.B, n int) latencyList {
	f, err := vfs.Default.Create(filepath.Join(b.TempDir(), "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	out := make(latencyList, 0, n)
	for i := range n {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i*len(buf))); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil { // fdatasync on Linux, as the log uses
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// heapLive returns the live heap after two collections (the second empties
// sync.Pools' victim caches).
func heapLive() (alloc, inuse int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), int64(ms.HeapInuse)
}

// idleLog is a log whose one partition holds about size bytes of 1 KiB
// values in batches of 100.
type idleLog struct {
	l *Log
	p *Partition
}

func newIdleLog(tb testing.TB, fs vfs.FS, size int64) *idleLog {
	tb.Helper()
	opts := &Options{Sync: SyncNever, CheckpointInterval: time.Hour, fs: fs}
	dir := testDir
	if fs == nil {
		dir = tb.TempDir()
	}
	_, t := cbOpenAt(tb, dir, opts, 1)
	p, _ := t.Partition(0)
	recs := benchRecords(100, 1024)
	cbFill(tb, p, recs, size/1024)
	return &idleLog{l: p.log, p: p}
}

// consumerHeap creates a consumer of the log, polls until it has caught up,
// leaves it waiting inside Poll (idle), and returns the live heap it added:
// after minus before, both after GC.
func (il *idleLog) consumerHeap(tb testing.TB) (alloc, inuse int64) {
	tb.Helper()
	tp := TopicPartition{cbTopic, 0}
	end := il.p.EndOffset()
	alloc0, inuse0 := heapLive()
	c, err := il.l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{tp}})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for {
		pos, err := c.Position(tp)
		if err != nil {
			tb.Fatal(err)
		}
		if pos == end {
			break
		}
		if _, err := c.Poll(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	polling := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(polling)
		_, err := c.Poll(ctx)
		done <- err
	}()
	<-polling
	time.Sleep(5 * time.Millisecond) // let it reach its wait
	alloc1, inuse1 := heapLive()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		tb.Fatalf("idle Poll returned %v, want context.Canceled", err)
	}
	runtime.KeepAlive(c)
	c.Close()
	return alloc1 - alloc0, inuse1 - inuse0
}

// BenchmarkIdleConsumerMemory shows that the memory of an idle consumer
// that has caught up does not depend on the size of the log: for logs of
// 10 MB and 200 MB (1 KiB values in batches of 100, OS file system), an op
// creates a consumer, polls to the end, leaves it waiting in Poll and
// measures the live heap it added (after GC, before and after). Reported:
// the smallest such figure over the iterations (heap-B, HeapAlloc: a stray
// allocation elsewhere in the process can only add) and the largest
// (heap-max-B), and the smallest HeapInuse difference (heap-inuse-B,
// page-granular). ns/op is mostly the catch-up.
func BenchmarkIdleConsumerMemory(b *testing.B) {
	sizes := []int64{10 << 20, 200 << 20}
	if raceEnabled {
		sizes = []int64{2 << 20, 20 << 20}
	}
	for _, size := range sizes {
		b.Run(fmt.Sprintf("log=%dMB", size>>20), func(b *testing.B) {
			il := newIdleLog(b, nil, size)
			var allocs, inuses []int64
			b.ResetTimer()
			for range b.N {
				alloc, inuse := il.consumerHeap(b)
				allocs, inuses = append(allocs, alloc), append(inuses, inuse)
			}
			b.StopTimer()
			b.ReportMetric(float64(slices.Min(allocs)), "heap-B")
			b.ReportMetric(float64(slices.Max(allocs)), "heap-max-B")
			b.ReportMetric(float64(slices.Min(inuses)), "heap-inuse-B")
			b.ReportMetric(float64(il.p.EndOffset()), "log-records")
		})
	}
}

// TestIdleConsumerMemoryIndependentOfLogSize checks that an idle consumer
// caught up with a large log holds no more than a small, fixed amount of
// heap: it must not keep what it has read (batches, records, segment
// buffers). Both read paths: the OS file system (reads from the segment's
// mapping) and the in-memory one (ReadAt into a reader's buffer).
func TestIdleConsumerMemoryIndependentOfLogSize(t *testing.T) {
	const bound = 64 << 10 // a consumer holds its cursors and copies of its config, not batches
	small, big := int64(4<<20), int64(64<<20)
	if raceEnabled {
		big = 32 << 20
	}
	for _, fsys := range []struct {
		name string
		fs   func() vfs.FS
	}{{"os", func() vfs.FS { return nil }}, {"mem", func() vfs.FS { return vfs.NewMem() }}} {
		t.Run(fsys.name, func(t *testing.T) {
			var heaps [2]int64
			for i, size := range []int64{small, big} {
				il := newIdleLog(t, fsys.fs(), size)
				// The lowest of three: a stray allocation elsewhere can only add.
				heaps[i] = 1 << 62
				for range 3 {
					alloc, _ := il.consumerHeap(t)
					heaps[i] = min(heaps[i], alloc)
				}
				il.l.Close()
			}
			t.Logf("heap held by an idle consumer: %d B with a %d MiB log, %d B with %d MiB", heaps[0], small>>20, heaps[1], big>>20)
			if heaps[1] > bound {
				t.Errorf("an idle consumer of a %d MiB log holds %d B of heap; want at most %d", big>>20, heaps[1], bound)
			}
			if d := heaps[1] - heaps[0]; d > 64<<10 {
				t.Errorf("an idle consumer holds %d B more with a %d MiB log than with %d MiB", d, big>>20, small>>20)
			}
		})
	}
}
