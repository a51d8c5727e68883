package commitlog

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

const testDir = "/log"

// openCountingLogWrites opens a log on mem with the given policy, creates
// topic "t" with the default config, and counts every write to a data
// file.
func openCountingLogWrites(t *testing.T, mem *vfs.MemFS, policy SyncPolicy) (*Log, *Partition, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpWrite && strings.HasSuffix(path, logSuffix) {
			n.Add(1)
		}
		return nil
	}), vfs.InjectOptions{})
	opts := testOptions(fs)
	opts.Sync = policy
	l := openTest(t, fs, opts)
	tp, err := l.CreateTopic(context.Background(), "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	return l, p, &n
}

// testOptions returns options for a log on fs whose background scheduler
// never fires during a test (checkpoints are taken explicitly), so that
// the sequence of file operations is deterministic.
func testOptions(fs vfs.FS) *Options {
	return &Options{
		CheckpointInterval: time.Hour,
		fs:                 fs,
	}
}

// openTest opens a log on fs and registers a cleanup that checks it and
// closes it.
func openTest(t testing.TB, fs vfs.FS, opts *Options) *Log {
	t.Helper()
	if opts == nil {
		opts = testOptions(fs)
	}
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := l.Check(context.Background()); err != nil && err != ErrClosed {
			t.Errorf("Check after test: %v", err)
		}
		l.Close()
	})
	return l
}

// smallTopic is a topic configuration that rolls and indexes often, to
// exercise segment boundaries with little data.
var smallTopic = TopicConfig{
	Partitions:         1,
	SegmentBytes:       4096,
	IndexIntervalBytes: 256,
	SegmentIndexBytes:  1024,
	MaxBatchBytes:      4096,
}

func mustPartition(t testing.TB, l *Log, topic string, id int32) *Partition {
	t.Helper()
	tp, err := l.Topic(topic)
	require.NoError(t, err)
	p, err := tp.Partition(id)
	require.NoError(t, err)
	return p
}

// fixedClock is an injectable clock.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fixedClock {
	return &fixedClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// batchSpec describes one batch a workload appends: its records' values
// are unique, so a checker can tell every record apart.
type batchSpec struct {
	id   int
	recs []Record
}

// makeBatch returns batch id of n records with unique values of varied
// sizes, some null keys and some headers.
func makeBatch(rng *rand.Rand, id, n, maxValue int) batchSpec {
	b := batchSpec{id: id}
	for i := 0; i < n; i++ {
		v := make([]byte, 8+rng.IntN(maxValue))
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		copy(v, fmt.Sprintf("%04d:%03d", id, i))
		r := Record{Value: v, Timestamp: time.UnixMilli(1_700_000_000_000 + int64(id*100+i))}
		if i%3 != 0 {
			r.Key = []byte(fmt.Sprintf("key-%d", rng.IntN(10)))
		}
		if i%4 == 1 {
			r.Headers = []Header{{Key: "h", Value: []byte{byte(i)}}, {Key: "null"}}
		}
		b.recs = append(b.recs, r)
	}
	return b
}

// appendBatches appends n batches made by makeBatch (ids from first on,
// 1 to maxRecs records of values up to maxValue bytes) and returns them.
func appendBatches(t testing.TB, p *Partition, rng *rand.Rand, first, n, maxRecs, maxValue int) []batchSpec {
	t.Helper()
	var out []batchSpec
	for i := first; i < first+n; i++ {
		b := makeBatch(rng, i, 1+rng.IntN(maxRecs), maxValue)
		_, err := p.Append(context.Background(), b.recs)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// history records what a workload attempted, what was acknowledged, and
// what is known durable (acknowledged under SyncAlways, or acknowledged
// before a completed flush).
type history struct {
	mu        sync.Mutex
	attempted []batchSpec
	acked     map[int]AppendResult // batch id -> result
	durable   map[int]AppendResult
}

func newHistory() *history {
	return &history{acked: map[int]AppendResult{}, durable: map[int]AppendResult{}}
}

func (h *history) attempt(b batchSpec) {
	h.mu.Lock()
	h.attempted = append(h.attempted, b)
	h.mu.Unlock()
}

func (h *history) ack(id int, res AppendResult, durable bool) {
	h.mu.Lock()
	h.acked[id] = res
	if durable {
		h.durable[id] = res
	}
	h.mu.Unlock()
}

// markDurable records that everything acknowledged so far is durable.
func (h *history) markDurable() {
	h.mu.Lock()
	for k, v := range h.acked {
		h.durable[k] = v
	}
	h.mu.Unlock()
}

func (h *history) snapshotDurable() map[int]AppendResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[int]AppendResult, len(h.durable))
	for k, v := range h.durable {
		m[k] = v
	}
	return m
}

// attemptedByID returns the attempted batches ordered by id.
func (h *history) attemptedByID() []batchSpec {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.attempted)
	slices.SortFunc(out, func(a, b batchSpec) int { return a.id - b.id })
	return out
}

// verifyPartition reads the whole partition and checks, for a
// single-writer workload: the records are a prefix of the attempted
// batches in order (whole batches only, offsets contiguous from 0, bytes
// identical: nothing invented, nothing reordered), and every batch in
// acked is present at its acknowledged offsets.
func verifyPartition(t testing.TB, p *Partition, attempted []batchSpec, acked map[int]AppendResult) {
	t.Helper()
	var got []Record
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		got = append(got, r.Clone())
	}
	require.Equal(t, p.HighWatermark(), p.EndOffset(), "after recovery everything is visible")
	i, offset := 0, int64(0)
	present := map[int]AppendResult{}
	for _, b := range attempted {
		if i >= len(got) {
			break
		}
		if string(got[i].Value) != string(b.recs[0].Value) {
			continue // this batch was never written (its append failed); the next may be
		}
		require.LessOrEqual(t, i+len(b.recs), len(got), "batch %d is cut short: a partial batch is visible", b.id)
		for j, want := range b.recs {
			r := got[i+j]
			require.Equal(t, offset, r.Offset, "offsets must be contiguous")
			want.Topic, want.Partition, want.Offset = p.topic.name, p.id, offset
			require.True(t, want.Equal(&r), "record at offset %d differs:\n got %+v\nwant %+v", offset, r, want)
			offset++
		}
		present[b.id] = AppendResult{BaseOffset: got[i].Offset, LastOffset: got[i+len(b.recs)-1].Offset}
		i += len(b.recs)
	}
	require.Equal(t, len(got), i, "records present that no batch wrote (invented data)")
	for id, res := range acked {
		got, ok := present[id]
		require.True(t, ok, "acknowledged batch %d (offsets %d..%d) is missing", id, res.BaseOffset, res.LastOffset)
		require.Equal(t, res, got, "acknowledged batch %d moved", id)
	}
	checkHistory(t, p, attempted, acked, got, false)
}

// checkHistory runs internal/histcheck over a single-partition history
// that ended in a crash: every attempted batch is a send, acknowledged
// (durably) if it is in acked and of unknown outcome otherwise, and got
// is the partition as recovered. Without concurrent, the batches were
// appended one after another in attempted's order, which their offsets
// must follow.
func checkHistory(t testing.TB, p *Partition, attempted []batchSpec, acked map[int]AppendResult, got []Record, concurrent bool) {
	t.Helper()
	rec := histcheck.NewRecorder(histcheck.Config{})
	hp := histcheck.Partition{Topic: p.topic.name, ID: p.id}
	for _, b := range attempted {
		values := make([]string, len(b.recs))
		for i, r := range b.recs {
			values[i] = string(r.Value)
		}
		writer := "writer"
		if concurrent {
			writer = fmt.Sprint("writer of batch ", b.id)
		}
		s := rec.Send(writer, hp, values...)
		if res, ok := acked[b.id]; ok {
			s.Ok(res.BaseOffset)
		} else {
			s.Unknown()
		}
	}
	rec.Crash()
	reads := make([]histcheck.Read, len(got))
	for i, r := range got {
		reads[i] = histcheck.Read{Partition: hp, Offset: r.Offset, Value: string(r.Value)}
	}
	rec.Final(hp, p.StartOffset(), p.EndOffset(), reads)
	res := rec.Check(histcheck.Options{PipelinedSends: true})
	require.NoError(t, res.Err())
}

// verifyConcurrent is verifyPartition for concurrent writers, whose
// batches land in any order: every record read belongs to an attempted
// batch, each batch appears whole and contiguous at most once, offsets are
// contiguous from the start, and every batch in acked is present at its
// acknowledged offsets.
func verifyConcurrent(t testing.TB, p *Partition, attempted []batchSpec, acked map[int]AppendResult) {
	t.Helper()
	byFirst := map[string]batchSpec{}
	for _, b := range attempted {
		byFirst[string(b.recs[0].Value)] = b
	}
	var got []Record
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		got = append(got, r.Clone())
	}
	present := map[int]AppendResult{}
	for i := 0; i < len(got); {
		b, ok := byFirst[string(got[i].Value)]
		require.True(t, ok, "record at offset %d starts no attempted batch (invented data)", got[i].Offset)
		_, dup := present[b.id]
		require.False(t, dup, "batch %d stored twice", b.id)
		require.LessOrEqual(t, i+len(b.recs), len(got), "batch %d is cut short", b.id)
		for j, want := range b.recs {
			r := got[i+j]
			require.Equal(t, int64(i+j), r.Offset)
			want.Topic, want.Partition, want.Offset = p.topic.name, p.id, r.Offset
			require.True(t, want.Equal(&r), "record at offset %d differs", r.Offset)
		}
		present[b.id] = AppendResult{BaseOffset: got[i].Offset, LastOffset: got[i+len(b.recs)-1].Offset}
		i += len(b.recs)
	}
	for id, res := range acked {
		got, ok := present[id]
		require.True(t, ok, "acknowledged batch %d (offsets %d..%d) is missing", id, res.BaseOffset, res.LastOffset)
		require.Equal(t, res, got, "acknowledged batch %d moved", id)
	}
	checkHistory(t, p, attempted, acked, got, true)
}

// batchHeaders yields the header of every batch of p below its high
// watermark, checking each batch's CRC.
func batchHeaders(t testing.TB, p *Partition) iter.Seq[record.Header] {
	t.Helper()
	return func(yield func(record.Header) bool) {
		err := p.store.VisitBatches(true, func(_ []byte, h record.Header) bool { return yield(h) })
		require.NoError(t, err)
	}
}

// crashHistory records a crash-point workload's history for
// internal/histcheck as lines, so that what was recorded before a crash
// point can be kept with the crash states taken there and replayed into a
// Recorder of each state's own, as recoverCrashState does.
type crashHistory struct {
	rec *histcheck.Recorder
	out *syncBuffer
}

func newCrashHistory() *crashHistory {
	out := &syncBuffer{}
	return &crashHistory{rec: histcheck.NewRecorder(histcheck.Config{Output: out, WriteOnly: true}), out: out}
}

// lines returns the history recorded so far.
func (h *crashHistory) lines() []byte { return h.out.snapshot() }

// replayCrashHistory returns a Recorder holding the history lines,
// followed by a crash.
func replayCrashHistory(t testing.TB, lines []byte, what string) *histcheck.Recorder {
	t.Helper()
	rec := histcheck.NewRecorder(histcheck.Config{})
	_, err := rec.NewDecoder().Write(lines)
	require.NoError(t, err, what)
	rec.Crash()
	return rec
}

// recordFinal reads p whole, from its start offset, and records it in rec
// as the final state of hp, each record named by its value.
func recordFinal(t testing.TB, rec *histcheck.Recorder, hp histcheck.Partition, p *Partition, what string) {
	t.Helper()
	var reads []histcheck.Read
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err, what)
		reads = append(reads, histcheck.Read{Partition: hp, Offset: r.Offset, Value: string(r.Value)})
	}
	rec.Final(hp, p.StartOffset(), p.EndOffset(), reads)
}

// requireHistory checks rec and fails t with what and the anomalies found.
func requireHistory(t testing.TB, rec *histcheck.Recorder, opts histcheck.Options, what string) {
	t.Helper()
	if err := rec.Check(opts).Err(); err != nil {
		t.Fatalf("%s:\n%v", what, err)
	}
}
