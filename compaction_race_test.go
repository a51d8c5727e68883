package commitlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/commitlog-go/commitlog/internal/storage"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// TestCompactionConcurrentWithReadersAndWriters runs Log.Compact in a loop
// on a compacted topic of small segments while two goroutines append keyed
// records (a tenth of them tombstones) and these read:
//
//   - a Follow from offset 0 and a manually assigned Consumer from offset 0
//     that keep up with the writers ("caught up");
//   - a Follow from offset 0 that lags (it yields the processor after every
//     record, and nothing waits for it);
//   - a Scan from the start, again and again, which is inside segments
//     that passes replace.
//
// Every reader must see offsets strictly increase and each record as it was
// written at its offset; every record still in the log at the end must have
// been seen by every reader whose range covered it (compaction only
// removes records, so such a record was there all along, in the old copy
// of its segment and in every new one); and the caught-up readers must
// see every record written. After a final pass the whole partition is
// compacted (checkCompacted, and at most one record per key below the
// active segment), Log.Check passes, and a reopen reads the same.
//
// Why the caught-up readers see everything — by construction, not by
// luck. A pass rewrites only cleanable segments, and a segment holding
// dirty records is cleanable only if its largest timestamp is at most
// now - MinCompactionLag (cleanableSegments); segments below the cleaner
// point were cleanable when an earlier pass, at an earlier now, mapped
// them. So a pass with clock reading N touches only records whose
// timestamp is at most N - lag. Writers stamp records with the injected
// clock, reading it and appending under gate.RLock. Every advanceEvery
// batches, writer 0 takes gate.Lock — no append is in flight, so every
// record stamped so far is appended and acknowledged, hence below the high
// watermark — waits until both caught-up readers have consumed everything
// up to the end offset, and only then advances the clock by lag (= step).
// Thus when the clock reads N, every record stamped at or before N - lag
// has already been consumed by those readers, and any record a pass can
// remove or move (and any segment it can replace) lies behind them: they
// only ever read records no pass has touched, in segments a pass can
// replace only once they are done with them. The clock starts where
// nothing is old enough to be cleaned, so the first pass that does
// anything runs after the first advance. (Tombstones are covered too:
// they are dropped only by rewriting a cleanable segment.)
//
// After each advance writer 0 also waits for a pass that started after it
// to finish, while the other writer appends and the readers read, so that
// passes with work to do interleave with everything else however long a
// pass takes (on disk, ~10 fsyncs per segment group it swaps in). The
// in-memory variant runs under SyncAlways, the on-disk one under
// SyncNever.
func TestCompactionConcurrentWithReadersAndWriters(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testCompactionConcurrent(t, "") })
	t.Run("os", func(t *testing.T) { testCompactionConcurrent(t, t.TempDir()) })
}

// crProgress tracks how far each reader has consumed (the offset after
// the last record it returned) — and, in one more entry, which clock step
// the compactor's last finished pass started at — so that a goroutine can
// wait for them. A failure (of any goroutine, or the deadline) wakes
// every waiter.
type crProgress struct {
	mu   sync.Mutex
	cond sync.Cond
	pos  []int64
	err  error
}

func newCRProgress(n int) *crProgress {
	rp := &crProgress{pos: make([]int64, n)}
	rp.cond.L = &rp.mu
	return rp
}

func (rp *crProgress) set(i int, pos int64) {
	rp.mu.Lock()
	rp.pos[i] = pos
	rp.mu.Unlock()
	rp.cond.Broadcast()
}

func (rp *crProgress) fail(err error) {
	rp.mu.Lock()
	if rp.err == nil {
		rp.err = err
	}
	rp.mu.Unlock()
	rp.cond.Broadcast()
}

func (rp *crProgress) failed() error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.err
}

// waitFor waits until the entries which all reach target, and returns
// nil, or until a failure, and returns it.
func (rp *crProgress) waitFor(target int64, which ...int) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for rp.err == nil && slices.ContainsFunc(which, func(i int) bool { return rp.pos[i] < target }) {
		rp.cond.Wait()
	}
	return rp.err
}

// crDigest hashes what a record's identity is in these tests: key,
// value (nil distinct from empty) and timestamp.
func crDigest(key, value []byte, ts int64) uint64 {
	var d xxhash.Digest
	d.Reset()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(key)))
	d.Write(n[:])
	d.Write(key)
	if value == nil {
		d.Write([]byte{0})
	} else {
		d.Write([]byte{1})
		d.Write(value)
	}
	binary.LittleEndian.PutUint64(n[:], uint64(ts))
	d.Write(n[:])
	return d.Sum64()
}

// crSeen is what a concurrent reader keeps of a record it read.
type crSeen struct {
	offset int64
	digest uint64
}

func testCompactionConcurrent(t *testing.T, dir string) {
	const (
		writers = 2
		keys    = 40
		maxRecs = 8
		step    = time.Second // the clock's advance, and MinCompactionLag
	)
	// Batches per writer, and of writer 0 between clock steps. On disk,
	// the pass each step waits for costs ~10 fsyncs per segment group it
	// swaps in (~100 ms here): fewer, longer steps keep the run short.
	perWriter, advanceEvery := 900, 20
	if dir != "" {
		perWriter, advanceEvery = 400, 40
	}
	if testing.Short() {
		perWriter /= 4
	}
	steps := perWriter / advanceEvery
	// The readers in progress: the two caught-up ones gate the clock.
	const (
		follower = iota
		consumer
		lagger
		compactor // not a reader: the clock step its last finished pass started at
		numReaders
	)
	caughtUp := []int{follower, consumer}

	clock := newClock()
	var opts *Options
	if dir == "" {
		// In memory, under SyncAlways: the high watermark moves with
		// fsync rounds.
		dir = testDir
		opts = testOptions(vfs.NewMem())
	} else {
		// On disk, under SyncNever: the high watermark moves with each
		// append, and the durable end (which bounds what a pass may
		// take) with each pass's checkpoint.
		opts = &Options{Sync: SyncNever, CheckpointInterval: time.Hour}
	}
	opts.now = clock.Now
	open := func() *Log {
		l, err := Open(dir, opts)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	l := open()
	cfg := compactTopic
	cfg.MinCompactionLag = step
	cfg.DeleteRetention = time.Duration(steps/3) * step // tombstones are dropped during the run
	_, err := l.CreateTopic(context.Background(), "c", cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "c", 0)

	// A deadline for the whole run, so that a hang fails instead of
	// blocking: every wait below also ends when it does.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	prog := newCRProgress(numReaders)
	defer context.AfterFunc(ctx, func() { prog.fail(fmt.Errorf("deadline: %w", ctx.Err())) })()
	stop := make(chan struct{}) // closed when the writers are done and read

	var (
		gate      sync.RWMutex
		histories [writers][]written
		wg        sync.WaitGroup
	)

	// advance moves the clock by one lag once the caught-up readers have
	// consumed everything stamped so far (see the comment on the test),
	// then waits for a compaction pass that started after the move to
	// finish — while the other writer appends and the readers read — so
	// that passes with work to do interleave with the rest however slow
	// passes are (on disk they fsync much).
	var stepped atomic.Int64
	advance := func() error {
		gate.Lock()
		err := prog.waitFor(p.EndOffset(), caughtUp...)
		if err == nil {
			clock.Advance(step)
			stepped.Add(1)
		}
		gate.Unlock()
		if err != nil {
			return err
		}
		return prog.waitFor(stepped.Load(), compactor)
	}
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for i := range perWriter {
				if w == 0 && i > 0 && i%advanceEvery == 0 {
					if err := advance(); err != nil {
						prog.fail(fmt.Errorf("writer %d: %w", w, err))
						return
					}
				}
				gate.RLock()
				ts := clock.Now()
				recs := make([]Record, 1+rng.IntN(maxRecs))
				for j := range recs {
					recs[j] = Record{Key: fmt.Appendf(nil, "k%03d", rng.IntN(keys)), Timestamp: ts}
					if rng.IntN(10) > 0 {
						recs[j].Value = fmt.Appendf(nil, "w%d-%d-%d-%x", w, i, j, make([]byte, rng.IntN(40)))
					}
				}
				res, err := p.Append(ctx, recs)
				gate.RUnlock()
				if err != nil {
					prog.fail(fmt.Errorf("writer %d: append: %w", w, err))
					return
				}
				for j, r := range recs {
					histories[w] = append(histories[w], written{offset: res.BaseOffset + int64(j), key: string(r.Key), value: r.Value, ts: ts})
				}
			}
		})
	}

	// The readers. Each keeps what it saw and reports a failure through
	// prog (which also releases the writers).
	var readers sync.WaitGroup
	var follow, consumed, lagged []crSeen
	followRange := func(idx int, out *[]crSeen, lag bool) {
		for r, err := range p.Follow(rctx, 0) {
			if err != nil {
				if rctx.Err() == nil {
					prog.fail(fmt.Errorf("follow reader %d: %w", idx, err))
				}
				return
			}
			*out = append(*out, crSeen{r.Offset, crDigest(r.Key, r.Value, r.Timestamp.UnixMilli())})
			prog.set(idx, r.Offset+1)
			if lag {
				runtime.Gosched()
			}
		}
	}
	readers.Go(func() { followRange(follower, &follow, false) })
	readers.Go(func() { followRange(lagger, &lagged, true) })
	tp := TopicPartition{Topic: "c", Partition: 0}
	c, err := l.NewConsumer(ConsumerConfig{Partitions: []TopicPartition{tp}, DisableAutoCommit: true, AutoOffsetReset: ResetNone, MaxPollRecords: 50})
	require.NoError(t, err)
	require.NoError(t, c.Seek(tp, 0))
	readers.Go(func() {
		defer c.Close()
		for {
			recs, err := c.Poll(rctx)
			if err != nil {
				if rctx.Err() == nil {
					prog.fail(fmt.Errorf("consumer: %w", err))
				}
				return
			}
			for _, r := range recs {
				consumed = append(consumed, crSeen{r.Offset, crDigest(r.Key, r.Value, r.Timestamp.UnixMilli())})
			}
			if len(recs) > 0 {
				prog.set(consumer, recs[len(recs)-1].Offset+1)
			}
		}
	})
	// The scanner: passes from the start, each with the high watermark
	// before it began (a lower bound of the one Scan reads up to). It
	// checks the order of every pass as it goes, and keeps the first
	// 2,000 passes and one in 20 after for the checks at the end.
	type scanPass struct {
		hw   int64
		recs []crSeen
	}
	var (
		scans    []scanPass
		numScans int
	)
	readers.Go(func() {
		for ; ; numScans++ {
			select {
			case <-stop:
				return
			default:
			}
			pass := scanPass{hw: p.HighWatermark()}
			prev := int64(-1)
			for r, err := range p.Scan(rctx, p.StartOffset()) {
				if err == nil && r.Offset <= prev {
					err = fmt.Errorf("offset %d after %d", r.Offset, prev)
				}
				if err != nil {
					if rctx.Err() == nil {
						prog.fail(fmt.Errorf("scan %d: %w", numScans, err))
					}
					return
				}
				prev = r.Offset
				pass.recs = append(pass.recs, crSeen{r.Offset, crDigest(r.Key, r.Value, r.Timestamp.UnixMilli())})
			}
			if len(scans) < 2000 || numScans%20 == 0 {
				scans = append(scans, pass)
			}
		}
	})
	// The compactor.
	passes := 0
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			started := stepped.Load()
			if err := l.Compact(ctx, "c"); err != nil {
				prog.fail(fmt.Errorf("compact: %w", err))
				return
			}
			passes++
			prog.set(compactor, started)
			runtime.Gosched()
		}
	})

	wg.Wait()
	end := p.EndOffset()
	waitErr := prog.waitFor(end, follower, consumer, lagger)
	close(stop)
	stopReaders()
	readers.Wait()
	require.NoError(t, waitErr)
	require.NoError(t, prog.failed())

	var history []written
	for _, h := range histories {
		history = append(history, h...)
	}
	slices.SortFunc(history, func(a, b written) int { return int(a.offset - b.offset) })
	require.Len(t, history, int(end))
	digests := make([]uint64, end)
	for i, w := range history {
		require.Equal(t, int64(i), w.offset, "offsets are contiguous from 0")
		digests[i] = crDigest([]byte(w.key), w.value, w.ts.UnixMilli())
	}
	checkSeen := func(name string, recs []crSeen) {
		t.Helper()
		// Plain comparisons: require's per-call cost adds up over
		// millions of records.
		prev := int64(-1)
		for _, r := range recs {
			switch {
			case r.offset <= prev:
				t.Fatalf("%s: offset %d after %d: offsets must strictly increase", name, r.offset, prev)
			case r.offset >= end:
				t.Fatalf("%s: offset %d was never written (end %d)", name, r.offset, end)
			case digests[r.offset] != r.digest:
				t.Fatalf("%s: the record at offset %d differs from the one written (%+v)", name, r.offset, history[r.offset])
			}
			prev = r.offset
		}
	}
	// The caught-up readers saw every record.
	for name, recs := range map[string][]crSeen{"follow": follow, "consumer": consumed} {
		checkSeen(name, recs)
		require.Len(t, recs, int(end), "%s: a caught-up reader sees every record", name)
	}
	checkSeen("lagging follow", lagged)
	for i, s := range scans {
		checkSeen(fmt.Sprintf("scan %d", i), s.recs)
	}

	// Compaction ran, and removed records under the readers' feet.
	require.Greater(t, passes, 1)
	require.Less(t, len(readAll(t, p)), int(end), "the concurrent passes removed superseded records")

	// A final pass over everything but the active segment: every record
	// is older than the lag once the clock moves one more step (the
	// readers have read everything).
	clock.Advance(step)
	require.NoError(t, l.Compact(ctx, "c"))
	final := readAll(t, p)
	bases := segmentBases(p)
	active := bases[len(bases)-1]
	checkFinal := func(final []Record) {
		t.Helper()
		checkCompacted(t, final, history, active, true)
		keysBelow := map[string]int64{}
		for _, r := range final {
			if r.Offset >= active {
				break
			}
			prev, dup := keysBelow[string(r.Key)]
			require.False(t, dup, "key %s at offsets %d and %d below the active segment after a full pass", r.Key, prev, r.Offset)
			keysBelow[string(r.Key)] = r.Offset
		}
	}
	checkFinal(final)
	require.Greater(t, len(bases), 1)
	require.Less(t, len(final), int(end))

	// Every record still in the log was seen by every reader whose range
	// covered its offset: it was in the log all along.
	covered := func(name string, recs []crSeen, below int64) {
		t.Helper()
		i := 0
		for _, r := range final {
			if r.Offset >= below {
				break
			}
			for i < len(recs) && recs[i].offset < r.Offset {
				i++
			}
			if i == len(recs) || recs[i].offset != r.Offset {
				t.Fatalf("%s: skipped offset %d (key %s), which is still in the log (it read %d records below %d)",
					name, r.Offset, r.Key, len(recs), below)
			}
		}
	}
	covered("lagging follow", lagged, end)
	for i, s := range scans {
		covered(fmt.Sprintf("scan %d", i), s.recs, s.hw)
	}

	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.Close())
	l = open()
	p = mustPartition(t, l, "c", 0)
	require.Equal(t, final, readAll(t, p))
	checkFinal(readAll(t, p))
	require.NoError(t, l.Check(ctx))
	t.Logf("%d records written, %d left; %d compaction passes; %d scans; lagging follow read %d records",
		end, len(final), passes, numScans, len(lagged))
}

// crReader is a reader kept open across a compaction pass in
// TestCompactionReaderResumesInReplacedSegment: a Scan or a Follow pulled
// one record at a time, or a Consumer polling a few records at a time.
type crReader struct {
	// next returns the next record (cloned), or ok=false when the reader
	// has nothing more (Scan at its high watermark).
	next  func() (r Record, ok bool, err error)
	close func()
}

func newCRReader(t *testing.T, l *Log, p *Partition, kind string) crReader {
	t.Helper()
	// A guard against a reader that would hang: the test itself never
	// waits on time.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var seq iter.Seq2[Record, error]
	switch kind {
	case "scan":
		seq = p.Scan(ctx, 0)
	case "follow":
		seq = p.Follow(ctx, 0)
	case "consumer":
		c, err := l.NewConsumer(ConsumerConfig{
			Partitions:        []TopicPartition{{Topic: "c", Partition: 0}},
			MaxPollRecords:    3,
			DisableAutoCommit: true,
			AutoOffsetReset:   ResetNone,
		})
		require.NoError(t, err)
		require.NoError(t, c.Seek(TopicPartition{Topic: "c", Partition: 0}, 0))
		var buf []Record
		return crReader{
			next: func() (Record, bool, error) {
				for len(buf) == 0 {
					recs, err := c.Poll(ctx)
					if err != nil {
						return Record{}, false, err
					}
					buf = recs
				}
				r := buf[0]
				buf = buf[1:]
				return r, true, nil
			},
			close: func() { c.Close(); cancel() },
		}
	default:
		t.Fatalf("unknown reader %q", kind)
	}
	next, stop := iter.Pull2(seq)
	return crReader{
		next: func() (Record, bool, error) {
			r, err, ok := next()
			return r.Clone(), ok, err
		},
		close: func() { stop(); cancel() },
	}
}

// TestCompactionReaderResumesInReplacedSegment exercises batchReader.resume
// deterministically: a reader is positioned inside the first segment, a
// compaction pass replaces that segment and merges it with the following
// ones (so that the reader, having finished the old copy of its segment,
// finds the next one gone from the partition), and the reader goes on. It
// must yield every record that is still in the log past where it was —
// from the old copy of a segment or from the new one — with offsets
// strictly increasing and no error.
//
// In "hw-sealed", the segment that held the reader's high watermark (the
// active one when the reader started) is sealed by further appends and
// replaced by the same pass, so the reader must also find its limit in a
// segment other than the one its high watermark names.
func TestCompactionReaderResumesInReplacedSegment(t *testing.T) {
	for _, kind := range []string{"scan", "follow", "consumer"} {
		for _, hwSealed := range []bool{false, true} {
			name := kind + "/hw-active"
			if hwSealed {
				name = kind + "/hw-sealed"
			}
			t.Run(name, func(t *testing.T) {
				testReaderResumesInReplacedSegment(t, kind, hwSealed)
			})
		}
	}
}

func testReaderResumesInReplacedSegment(t *testing.T, kind string, hwSealed bool) {
	ctx := context.Background()
	l, p, clock := compactionLog(t, vfs.NewMem(), compactTopic)
	rng := rand.New(rand.NewPCG(11, 12))
	// Each batch has a key of its own and 7 of 20 hot keys: the first
	// pass shrinks the sealed segments to their own keys' records (each
	// segment rewritten on its own: groups are sized by the segments'
	// sizes before the pass), so that the second pass merges them.
	var history []written
	mixed := func(n int) {
		for range n {
			keys := []string{fmt.Sprintf("u%04d", len(history))}
			for range 7 {
				keys = append(keys, fmt.Sprintf("k%03d", rng.IntN(20)))
			}
			history = append(history, crAppendKeys(t, p, rng, clock, keys)...)
		}
	}
	mixed(120)
	require.NoError(t, l.Compact(ctx))
	mixed(60)
	before := slices.Clone(p.segments())
	require.Greater(t, len(before), 8)
	byOffset := map[int64]written{}
	for _, w := range history {
		byOffset[w.offset] = w
	}
	check := func(r Record) {
		t.Helper()
		w, ok := byOffset[r.Offset]
		require.True(t, ok, "offset %d was never written", r.Offset)
		require.Equal(t, w.key, string(r.Key), "offset %d", r.Offset)
		require.Equal(t, w.value, r.Value, "offset %d", r.Offset)
		require.True(t, r.Timestamp.Equal(w.ts), "offset %d: timestamp", r.Offset)
	}

	rd := newCRReader(t, l, p, kind)
	defer rd.close()
	var got []Record
	for range 2 {
		r, ok, err := rd.next()
		require.NoError(t, err)
		require.True(t, ok)
		check(r)
		got = append(got, r)
	}
	// The reader's high watermark is the one of its first read: nothing
	// was appended since.
	hw := p.store.HighWatermarkPosition()
	hwSeg := p.store.PositionSegment(hw)
	first := before[0]
	require.Less(t, got[1].Offset, before[1].Base, "the reader is inside the first segment")
	if hwSealed {
		mixed(30)
		for _, w := range history {
			byOffset[w.offset] = w
		}
		require.False(t, hwSeg.Same(p.activeSegment()), "the reader's high watermark segment is sealed")
	}

	require.NoError(t, l.Compact(ctx))
	after := p.segments()
	require.False(t, containsSegment(after, first), "the reader's segment was replaced")
	require.Equal(t, int64(0), after[0].Base)
	require.Greater(t, after[0].Next, before[1].Base, "the reader's segment was merged with the next")
	require.False(t, containsSegment(after, before[1]), "the segment after the reader's was replaced")
	require.True(t, before[1].Closed(), "the segment after the reader's is closed: leaving its own, the reader must resume")
	if hwSealed {
		require.False(t, containsSegment(after, hwSeg), "the reader's high watermark segment was replaced")
		require.True(t, slices.ContainsFunc(after, func(s storage.SegmentInfo) bool { return s.Base == hwSeg.Base }),
			"setup: a group of the pass starts at the reader's high watermark segment")
	}
	// What the log holds now past the reader's position: the reader must
	// yield all of it (it may yield more: superseded records from the old
	// copy of the segment it was in).
	limit := hw.Offset() // Scan stops at its high watermark
	if kind != "scan" {
		limit = p.HighWatermark()
	}
	var want []int64
	for _, r := range readAll(t, p) {
		if r.Offset > got[1].Offset && r.Offset < limit {
			want = append(want, r.Offset)
		}
	}
	require.NotEmpty(t, want)

	for {
		if kind != "scan" && got[len(got)-1].Offset >= limit-1 {
			break // the last record is in the active segment: never compacted
		}
		r, ok, err := rd.next()
		require.NoError(t, err)
		if !ok {
			break
		}
		require.Greater(t, r.Offset, got[len(got)-1].Offset, "offsets strictly increase")
		check(r)
		got = append(got, r)
	}
	seen := map[int64]bool{}
	for _, r := range got {
		seen[r.Offset] = true
	}
	var missing []int64
	for _, o := range want {
		if !seen[o] {
			missing = append(missing, o)
		}
	}
	require.Empty(t, missing, "records still in the log that the reader skipped (reader's high watermark %d in segment %d; last read %d)",
		hw.Offset(), hwSeg.Base, got[len(got)-1].Offset)
}

// containsSegment reports whether segs holds s itself (not merely a
// segment with its base).
func containsSegment(segs []storage.SegmentInfo, s storage.SegmentInfo) bool {
	return slices.ContainsFunc(segs, s.Same)
}

// crAppendKeys appends one batch with a record for each of keys, a tenth of
// them tombstones, at the clock's time, and advances the clock.
func crAppendKeys(t testing.TB, p *Partition, rng *rand.Rand, clock *fixedClock, keys []string) []written {
	t.Helper()
	recs := make([]Record, len(keys))
	for i, k := range keys {
		recs[i] = Record{Key: []byte(k), Timestamp: clock.Now()}
		if rng.IntN(10) > 0 {
			recs[i].Value = fmt.Appendf(nil, "v%d-%x", rng.Int64(), make([]byte, rng.IntN(40)))
		}
	}
	res, err := p.Append(context.Background(), recs)
	require.NoError(t, err)
	out := make([]written, len(recs))
	for i, r := range recs {
		out[i] = written{offset: res.BaseOffset + int64(i), key: string(r.Key), value: r.Value, ts: r.Timestamp}
	}
	clock.Advance(time.Millisecond)
	return out
}
