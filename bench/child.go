package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// task is what the parent asks one child process to do.
type task struct {
	System     string
	Workload   string
	Dir        string
	Scale      scale
	Expect     int64  // kindRead: records the write run left
	Seed       uint64 // for the record source
	Rep        int    // the repetition, from 0: see bareWriteFirst
	ResultPath string
	CPUProfile string // file to write a CPU profile of the measured phase to
	MemProfile string // file to write an allocation profile to
}

// result is what a child measured, written as JSON to task.ResultPath.
type result struct {
	Records  int64   // records appended or read in the measured phase
	Bytes    int64   // payload bytes (values, plus keys where the system has keys)
	Seconds  float64 // length of the measured phase
	P50, P99 float64 // latency percentiles in µs (kindLatency, kindTail)
	Capped   bool    // a write run stopped at Scale.WriteCap before all records
	Missing  int64   // kindTail: records produced that the consumer never saw
	Resident float64 // kindRead: fraction of the data in the page cache at the start
	Open     float64 // seconds the system took to open (not part of Seconds)
	Skipped  string  // why the system cannot run the workload
	PeakRSS  int64   // the process's peak resident set size, bytes (VmHWM)

	// BareP50 and BareP99 (µs) are the bare append + fdatasync timed
	// interleaved with a durable kindLatency run (see runLatency).
	BareP50, BareP99 float64
	// BareWriteMBps is plain writes of the run's payload into a new file,
	// timed in the same process as a kindWrite run without fsync (see
	// bareWrite); 0 when none was timed.
	BareWriteMBps float64
}

func runChild(spec string) error {
	var t task
	if err := json.Unmarshal([]byte(spec), &t); err != nil {
		return fmt.Errorf("task: %w", err)
	}
	sys, ok := systemByName(t.System)
	if !ok {
		return fmt.Errorf("unknown system %q", t.System)
	}
	w, ok := workloadByName(t.Workload)
	if !ok {
		return fmt.Errorf("unknown workload %q", t.Workload)
	}
	ctx := context.Background()
	open := sys.open
	if w.Replicas > 0 {
		if sys.replicated == nil {
			return writeResult(t, result{Skipped: sys.skipNoReplication()})
		}
		open = sys.replicated
	}
	var res result
	var err error
	var src *recordSource // what the run appends, made before anything is measured
	if w.Kind == kindRead {
		// Measured before the store opens, so opening cannot warm it.
		res.Resident = residentFraction(t.Dir)
	} else {
		src = newRecordSource(t.Seed, w.ValueSize, w.Codec != "")
	}
	// A write run without fsync is compared with plain writes of the same
	// bytes, timed in this process just before or just after it.
	bare := w.Kind == kindWrite && !w.Durable && w.Codec == ""
	volume, chunk := int64(t.Scale.Records)*int64(keySize+w.ValueSize), t.Scale.Batch*(keySize+w.ValueSize)
	var removeBare func()
	defer func() {
		if removeBare != nil {
			removeBare()
		}
	}()
	timeBare := func(first bool) (err error) {
		if bare && bareWriteFirst(t.Rep) == first {
			res.BareWriteMBps, removeBare, err = bareWrite(t.Dir, volume, chunk)
		}
		return err
	}
	if err := timeBare(true); err != nil {
		return err
	}
	opened := time.Now()
	st, err := open(ctx, t.Dir, storeOptions{durable: w.Durable, codec: w.Codec, replicas: w.Replicas})
	if err != nil {
		return fmt.Errorf("open %s: %w", sys.name, err)
	}
	res.Open = time.Since(opened).Seconds()
	stopProfile, err := startProfiles(t)
	if err != nil {
		st.close()
		return err
	}
	switch w.Kind {
	case kindWrite:
		err = runWrite(ctx, st, src, t.Scale, sys.keys, &res)
	case kindLatency:
		err = runLatency(ctx, st, src, t.Scale, w.Durable, t.Dir, &res)
	case kindRead:
		err = runRead(ctx, st, t.Expect, sys.keys, &res)
	case kindTail:
		err = runTail(ctx, st, src, t.Scale, &res)
	case kindGroup:
		err = runGroup(ctx, st, src, t.Scale, &res)
	}
	stopProfile()
	if cerr := st.close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if errors.Is(err, errNoTail) {
		res, err = result{Skipped: err.Error()}, nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", sys.name, w.Name, err)
	}
	if err := timeBare(false); err != nil {
		return err
	}
	return writeResult(t, res)
}

// writeResult records the process's peak RSS in res and writes res to
// t.ResultPath.
func writeResult(t task, res result) error {
	res.PeakRSS = peakRSS()
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return os.WriteFile(t.ResultPath, out, 0o644)
}

// peakRSS returns the process's peak resident set size from
// /proc/self/status. (The rusage a parent gets for a child is no use here:
// on Linux a child's ru_maxrss starts from the parent's, whose memory it
// shared until exec.)
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func startProfiles(t task) (stop func(), err error) {
	var cpu *os.File
	if t.CPUProfile != "" {
		if cpu, err = os.Create(t.CPUProfile); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	if t.MemProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if t.MemProfile != "" {
			if f, err := os.Create(t.MemProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}, nil
}

func payload(r rec, keys bool) int64 {
	if keys {
		return int64(len(r.key) + len(r.value))
	}
	return int64(len(r.value))
}

// runWrite appends sc.Records records in batches of sc.Batch, stopping
// early (Capped) after sc.WriteCap, and waits for the acknowledgements.
func runWrite(ctx context.Context, st store, src *recordSource, sc scale, keys bool, res *result) error {
	start := time.Now()
	for res.Records < int64(sc.Records) {
		if time.Since(start) > sc.WriteCap {
			res.Capped = true
			break
		}
		batch := src.records(min(sc.Batch, sc.Records-int(res.Records)))
		if err := st.appendBatch(ctx, batch); err != nil {
			return err
		}
		res.Records += int64(len(batch))
		for _, r := range batch {
			res.Bytes += payload(r, keys)
		}
	}
	if err := st.flush(ctx); err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	return nil
}

// bareWriteFirst reports whether the plain writes of a repetition go
// before the system's (odd repetitions) or after them (even ones), so that
// neither always finds the page cache as the other left it.
func bareWriteFirst(rep int) bool { return rep%2 == 1 }

// bareWrite writes volume bytes of random data into a new file beside dir,
// chunk bytes per write (one batch's payload, as the systems write one
// batch at a time), and returns the rate in MB/s and a function that
// removes the file. The caller removes it only after the system's run:
// pages just freed are faster to write into on this kind of virtual
// machine, which hands freed memory back to its host a few seconds later
// (1 GiB into a new file: 4.0 GB/s right after another file was deleted,
// 2.2 GB/s six seconds after), so that the one run second would gain.
func bareWrite(dir string, volume int64, chunk int) (mbps float64, remove func(), err error) {
	f, buf, done, err := scratchFile(filepath.Dir(dir), "bare-write-"+strconv.Itoa(os.Getpid()), chunk)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	for n := int64(0); n < volume; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), volume-n)]); err != nil {
			done()
			return 0, nil, err
		}
	}
	return float64(volume) / time.Since(start).Seconds() / 1e6, done, nil
}

// latencyBlock is how many durable appends of the system, and then of the
// bare probe, a durable latency run times in turn.
const latencyBlock = 100

// runLatency times sc.LatencyOps single-record appends. A durable run also
// times as many bare appends with fdatasync (fsyncProbe, on a file beside
// dir), interleaved with the system's in blocks of latencyBlock, so that
// the reference shares the process and the minute with what it is
// compared with: this machine's fsync latency drifts by half from one
// minute to the next.
func runLatency(ctx context.Context, st store, src *recordSource, sc scale, durable bool, dir string, res *result) error {
	lat := make([]time.Duration, 0, sc.LatencyOps)
	var bare []time.Duration
	var probe *fsyncProbe
	if durable {
		var err error
		if probe, err = newFsyncProbe(filepath.Join(filepath.Dir(dir), "bare-fsync-"+strconv.Itoa(os.Getpid()))); err != nil {
			return err
		}
		defer probe.close()
		bare = make([]time.Duration, 0, sc.LatencyOps)
	}
	var spent time.Duration
	for len(lat) < sc.LatencyOps {
		n := min(latencyBlock, sc.LatencyOps-len(lat))
		for range n {
			r := src.record()
			t0 := time.Now()
			if err := st.appendOne(ctx, r); err != nil {
				return err
			}
			d := time.Since(t0)
			lat = append(lat, d)
			spent += d
		}
		if probe != nil {
			for range n {
				d, err := probe.once()
				if err != nil {
					return fmt.Errorf("bare fdatasync: %w", err)
				}
				bare = append(bare, d)
			}
		}
	}
	res.Seconds = spent.Seconds()
	res.Records = int64(len(lat))
	res.P50, res.P99 = percentiles(lat)
	if probe != nil {
		res.BareP50, res.BareP99 = percentiles(bare)
	}
	return nil
}

// runRead reads everything from the first record and checks that it read
// what the write run left.
func runRead(ctx context.Context, st store, expect int64, keys bool, res *result) error {
	var bytes int64
	var sink byte
	start := time.Now()
	n, err := st.read(ctx, expect, func(v []byte) {
		bytes += int64(len(v))
		if len(v) > 0 {
			sink ^= v[len(v)-1] // touch the value, as a consumer would
		}
	})
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return err
	}
	if n != expect {
		return fmt.Errorf("read %d records, the write run left %d", n, expect)
	}
	res.Records = n
	res.Bytes = bytes
	if keys {
		res.Bytes += n * keySize
	}
	_ = sink
	return nil
}

// warmupSeq marks the records W5 sends before it measures: it sends them
// until the consumer has received one, so that subscriptions, connections
// and offsets are settled, and then tailSettle more.
const (
	warmupSeq  = ^uint64(0)
	tailSettle = 100
)

// runTail appends one record at a time at sc.TailRate for sc.TailFor while
// a consumer tails the log, and measures the time from just before each
// append call to the moment the consumer has the record. Each value carries
// its sequence number and send time in its first 16 bytes.
func runTail(ctx context.Context, st store, src *recordSource, sc scale, res *result) error {
	tl, ok := st.(tailer)
	if !ok {
		return errNoTail
	}
	total := int(sc.TailFor.Seconds() * float64(sc.TailRate))
	epoch := time.Now()
	received := make([]time.Duration, total) // by sequence; 0 = not received
	var got atomic.Int64
	var warm atomic.Bool
	done := make(chan struct{})
	ready := make(chan struct{})
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tailErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		tailErr = tl.tail(tctx, func() { close(ready) }, func(v []byte) {
			now := time.Since(epoch)
			if len(v) < 16 {
				return
			}
			seq := binary.LittleEndian.Uint64(v)
			if seq == warmupSeq {
				warm.Store(true)
				return
			}
			if seq >= uint64(total) || received[seq] != 0 {
				return
			}
			received[seq] = max(now-time.Duration(binary.LittleEndian.Uint64(v[8:])), 1)
			if got.Add(1) == int64(total) {
				close(done)
			}
		})
	})
	stop := func() error {
		cancel()
		wg.Wait()
		if tailErr != nil && !errors.Is(tailErr, context.Canceled) {
			return tailErr
		}
		return nil
	}
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		return errors.Join(errors.New("the consumer did not start in 30 s"), stop())
	}
	interval := time.Second / time.Duration(sc.TailRate)
	value := make([]byte, src.size)
	send := func(seq uint64) error {
		r := src.record()
		copy(value, r.value)
		binary.LittleEndian.PutUint64(value, seq)
		binary.LittleEndian.PutUint64(value[8:], uint64(time.Since(epoch)))
		return st.appendOne(ctx, rec{key: r.key, value: value})
	}
	for settle := 0; settle < tailSettle; {
		if time.Since(epoch) > 30*time.Second {
			return errors.Join(errors.New("the consumer received nothing in 30 s"), stop())
		}
		if warm.Load() {
			settle++
		}
		if err := send(warmupSeq); err != nil {
			return errors.Join(err, stop())
		}
		time.Sleep(interval)
	}
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if err := send(uint64(i)); err != nil {
			return errors.Join(err, stop())
		}
	}
	res.Seconds = time.Since(start).Seconds()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	if err := stop(); err != nil {
		return err
	}
	lat := make([]time.Duration, 0, total)
	for _, d := range received {
		if d == 0 {
			res.Missing++
			continue
		}
		lat = append(lat, d)
	}
	res.Records = int64(len(lat))
	res.P50, res.P99 = percentiles(lat)
	if res.Missing > 0 {
		return fmt.Errorf("the consumer never saw %d of %d records", res.Missing, total)
	}
	return nil
}

// runGroup runs sc.GroupWriters goroutines, each appending single records
// durably one after another, for sc.GroupFor.
func runGroup(ctx context.Context, st store, src *recordSource, sc scale, res *result) error {
	recs := src.records(sc.GroupWriters)
	recs = append([]rec(nil), recs...)
	var count atomic.Int64
	var firstErr error
	var errOnce sync.Once
	deadline := time.Now().Add(sc.GroupFor)
	var wg sync.WaitGroup
	start := time.Now()
	for _, r := range recs {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := st.appendOne(ctx, r); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Records = count.Load()
	return firstErr
}
