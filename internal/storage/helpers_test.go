package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// testPartitionDir is the directory the room tests keep a partition in.
const testPartitionDir = "/log/t-0"

// smallConfig is a partition that rolls and indexes often, to exercise
// segment boundaries with little data, on fs.
func smallConfig(fs vfs.FS) Config {
	return Config{
		FS: fs, Dir: testPartitionDir, Topic: "t", Partition: 0,
		SegmentBytes: 4096, SegmentAge: Forever, IndexIntervalBytes: 256, SegmentIndexBytes: 1024,
		MaxBatchBytes: 4096, RetentionDeletes: true, DeleteRetention: Forever, Retention: Forever,
		SyncAlways: true, ProducerIDExpiration: 7 * 24 * time.Hour, CompactionMapBytes: 1 << 20, CompactionDutyCycle: 1,
		Now: func() time.Time { return time.UnixMilli(1_700_000_000_000) },
	}
}

// openPartitionLog opens (creating) the partition log cfg describes,
// closing it when the test ends.
func openPartitionLog(t testing.TB, cfg Config, creating bool) *PartitionLog {
	t.Helper()
	if creating {
		require.NoError(t, MkdirAllDurable(cfg.FS, cfg.Dir))
	}
	p, err := Open(cfg, creating)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// buildBatch encodes n records with values of up to maxValue random bytes,
// keyed "k<i>", as one uncompressed batch with base offset 0.
func buildBatch(t testing.TB, rng *rand.Rand, n, maxValue int) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i := range n {
		v := make([]byte, rng.IntN(maxValue+1))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		b.Append(1_700_000_000_000+int64(i), fmt.Appendf(nil, "k%d", i), v, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return batch
}

// appendBatches appends n batches of 1 to maxRecs records to p.
func appendBatches(t testing.TB, p *PartitionLog, rng *rand.Rand, n, maxRecs, maxValue int) {
	t.Helper()
	for range n {
		_, err := p.AppendBatch(context.Background(), buildBatch(t, rng, 1+rng.IntN(maxRecs), maxValue), AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
}

// fixCRC returns a copy of b with its last four bytes set to the
// big-endian CRC-32C of the rest, as the metadata files end.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[len(c)-4:], crc32.Checksum(c[:len(c)-4], castagnoli))
	return c
}

// appendCRC returns a copy of b followed by its big-endian CRC-32C.
func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
}

// batchLayout returns the start position of every batch in a data file,
// which may end in zeros: the space prepared for durable appends.
func batchLayout(t *testing.T, data []byte) []int {
	var starts []int
	for pos := 0; pos < len(data); {
		if !slices.ContainsFunc(data[pos:], func(b byte) bool { return b != 0 }) {
			break
		}
		h, err := record.ParseHeader(data[pos:], len(data)-pos)
		require.NoError(t, err)
		starts = append(starts, pos)
		pos += h.Size()
	}
	return starts
}

// longReadLog writes batches of 1,000 records of 100 bytes (each value
// starts with its offset) into a partition in a real directory, whose data
// files are memory-mapped, with segments of segmentBytes and otherwise the
// public defaults of a topic; it returns the partition's configuration
// once the partition is closed.
func longReadLog(t *testing.T, batches int, segmentBytes int64) Config {
	cfg := Config{
		FS: vfs.Default, Dir: filepath.Join(t.TempDir(), "long-0"), Topic: "long", Partition: 0,
		SegmentBytes: segmentBytes, SegmentAge: Forever, IndexIntervalBytes: 4096, SegmentIndexBytes: 10 << 20,
		MaxBatchBytes: 1<<20 + 12, RetentionDeletes: true, DeleteRetention: Forever, Retention: Forever,
		SyncAlways: true, ProducerIDExpiration: 7 * 24 * time.Hour, CompactionMapBytes: 1 << 20, CompactionDutyCycle: 1,
	}
	require.NoError(t, MkdirAllDurable(cfg.FS, cfg.Dir))
	p, err := Open(cfg, true)
	require.NoError(t, err)
	var b record.Builder
	value := make([]byte, 100)
	for n := range batches {
		b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
		for i := range 1000 {
			binary.BigEndian.PutUint64(value, uint64(n*1000+i))
			b.Append(1_700_000_000_000, nil, value, nil)
		}
		batch, err := b.Build()
		require.NoError(t, err)
		_, err = p.AppendBatch(context.Background(), batch, AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	return cfg
}

// testClock is an injectable Config.Now that moves only when told.
type testClock struct{ ms atomic.Int64 }

// newTestClock returns a clock at smallConfig's time.
func newTestClock() *testClock {
	c := &testClock{}
	c.ms.Store(1_700_000_000_000)
	return c
}

func (c *testClock) Now() time.Time               { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) Advance(d time.Duration)      { c.ms.Add(d.Milliseconds()) }
func (c *testClock) At(d time.Duration) time.Time { return c.Now().Add(d) }

// kv is one record to build: a key (nil: keyless) and a value (nil: a
// tombstone).
type kv struct{ key, value []byte }

// rec returns a kv of strings; value "" is a tombstone.
func rec(key, value string) kv {
	r := kv{key: []byte(key)}
	if value != "" {
		r.value = []byte(value)
	}
	return r
}

// batchWith builds one batch under opts of records rs, the i-th with
// timestamp ts+i.
func batchWith(t testing.TB, opts record.BuildOptions, ts int64, rs ...kv) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(opts)
	for i, r := range rs {
		b.Append(ts+int64(i), r.key, r.value, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

// plainBatch builds a non-idempotent batch of rs at timestamp ts.
func plainBatch(t testing.TB, ts int64, rs ...kv) []byte {
	t.Helper()
	return batchWith(t, record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence}, ts, rs...)
}

// idempotentBatch builds a batch of n records of producer pid with epoch
// and base sequence seq.
func idempotentBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	rs := make([]kv, n)
	for i := range rs {
		rs[i] = rec(fmt.Sprintf("k%d", int(seq)+i), "v")
	}
	return batchWith(t, record.BuildOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, 1_700_000_000_000, rs...)
}

// mustAppend appends batch and returns where it landed.
func mustAppend(t testing.TB, p *PartitionLog, batch []byte) AppendResult {
	t.Helper()
	res, err := p.AppendBatch(context.Background(), batch, AppendOptions{Expected: -1})
	require.NoError(t, err)
	return res
}

// readRecords returns (copies of) every record visible in p from offset
// from, in order.
func readRecords(t testing.TB, p *PartitionLog, from int64) []record.Record {
	t.Helper()
	r, err := p.NewReader(from, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	var out []record.Record
	var it record.Iter
	for {
		b, h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if h.Control() {
			continue
		}
		require.NoError(t, it.Reset(b, MaxDecompressedBatch))
		for it.Next() {
			if rr := it.Record(); rr.Offset >= from {
				out = append(out, rr.Clone())
			}
		}
		require.NoError(t, it.Err())
	}
}

// readOffsets returns the offsets of the records readRecords returns.
func readOffsets(t testing.TB, p *PartitionLog, from int64) []int64 {
	t.Helper()
	var out []int64
	for _, r := range readRecords(t, p, from) {
		out = append(out, r.Offset)
	}
	return out
}

// span returns the offsets [from, to).
func span(from, to int64) []int64 {
	var out []int64
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}

// logCapture is a slog handler that keeps the records logged through it.
type logCapture struct {
	mu   sync.Mutex
	recs []capturedLog
}

// capturedLog is one record a logCapture kept: its level, message and
// attributes.
type capturedLog struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	rec := capturedLog{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, rec)
	return nil
}
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

// messages returns the messages logged so far.
func (c *logCapture) messages() []string { return c.messagesFrom(slog.LevelDebug) }

// warnings returns the messages logged so far at Warn or above.
func (c *logCapture) warnings() []string { return c.messagesFrom(slog.LevelWarn) }

func (c *logCapture) messagesFrom(level slog.Level) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.recs {
		if r.level >= level {
			out = append(out, r.msg)
		}
	}
	return out
}

// records returns the records logged so far with message msg.
func (c *logCapture) records(msg string) []capturedLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []capturedLog
	for _, r := range c.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// requireContiguous checks that the segments' bases follow each other.
func requireContiguous(t testing.TB, segs []SegmentInfo) {
	t.Helper()
	for i := 1; i < len(segs); i++ {
		require.Equal(t, segs[i-1].Next, segs[i].Base, "segment %d starts where segment %d ends", i, i-1)
	}
}

// flipByte flips one bit of the byte at pos of the file at path, in place
// (an open segment sees it).
func flipByte(t testing.TB, fs vfs.FS, path string, pos int64) {
	t.Helper()
	f, err := fs.OpenReadWrite(path)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, pos)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, pos)
	require.NoError(t, err)
}

// batchWithTimes builds a non-idempotent batch of rs, the i-th record
// with timestamp ts+i*step.
func batchWithTimes(t testing.TB, ts, step int64, rs ...kv) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i, r := range rs {
		b.Append(ts+int64(i)*step, r.key, r.value, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

// filepathWithSuffix returns the path of the file of segment s with suffix.
func filepathWithSuffix(s SegmentInfo, suffix string) string {
	return filepath.Join(filepath.Dir(s.Path), SegmentName(s.Base, suffix))
}

// crashRecorder is a file system over a MemFS that, while armed, takes
// crash states of it before every mutating operation made through it
// (and once more when disarmed): everything unsynced kept, nothing, and a
// random part, torn.
type crashRecorder struct {
	mem    *vfs.MemFS
	armed  atomic.Bool
	mu     sync.Mutex
	states []*vfs.MemFS
}

func newCrashRecorder() *crashRecorder { return &crashRecorder{mem: vfs.NewMem()} }

// fs returns the file system to open partitions on.
func (c *crashRecorder) fs() vfs.FS {
	return vfs.WithInjector(c.mem, vfs.InjectorFunc(func(op vfs.Op, _ string) error {
		if op.Mutating() && c.armed.Load() {
			c.take()
		}
		return nil
	}), vfs.InjectOptions{})
}

func (c *crashRecorder) take() {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(len(c.states))
	c.states = append(c.states,
		c.mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}),
		c.mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0}),
		c.mem.CrashClone(vfs.CrashOptions{Seed: n, KeepUnsynced: 0.5, Tear: true}))
}

// record arms the recorder around fn and returns the crash states taken,
// the last ones after fn returned.
func (c *crashRecorder) record(fn func()) []*vfs.MemFS {
	c.mu.Lock()
	c.states = nil
	c.mu.Unlock()
	c.armed.Store(true)
	fn()
	c.armed.Store(false)
	c.take()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.states
}

// logState is what a partition holds: its batches (as stored) and its
// leader epochs.
type logState struct {
	batches [][]byte
	epochs  []EpochEntry
}

// stateOf returns p's batches, every one the data files hold, and its
// leader epochs.
func stateOf(t testing.TB, p *PartitionLog) logState {
	t.Helper()
	var st logState
	require.NoError(t, p.VisitBatches(false, func(b []byte, _ record.Header) bool {
		st.batches = append(st.batches, append([]byte(nil), b...))
		return true
	}))
	st.epochs = p.LeaderEpochs()
	return st
}

// openCrashed opens the partition of cfg from a crash state, checks it
// (Check verifies the leader epochs against the batches too) and
// returns it, closed when the test ends.
func openCrashed(t testing.TB, cfg Config, fs *vfs.MemFS, what string) *PartitionLog {
	t.Helper()
	cfg.FS = fs
	q, err := Open(cfg, false)
	require.NoError(t, err, what)
	t.Cleanup(func() { _ = q.Close() })
	require.NoError(t, q.Check(context.Background()), what)
	return q
}

// requireOneOf checks that got is one of states, by batches and leader
// epochs, or (allowAssigned) by batches with one more epoch in got's,
// assigned at the end offset before its first batch was written; it
// returns the index of the state.
func requireOneOf(t testing.TB, got logState, allowAssigned bool, what string, states ...logState) int {
	t.Helper()
	sameBatches := func(st logState) bool {
		return slices.EqualFunc(got.batches, st.batches, func(a, b []byte) bool { return string(a) == string(b) })
	}
	for i, st := range states {
		if sameBatches(st) && slices.Equal(got.epochs, st.epochs) {
			return i
		}
	}
	for i, st := range states {
		if n := len(got.epochs); allowAssigned && sameBatches(st) && n == len(st.epochs)+1 && slices.Equal(got.epochs[:n-1], st.epochs) {
			return i
		}
	}
	require.Failf(t, "unexpected state", "%s: %d batches with leader epochs %v, matching none of the %d states allowed", what, len(got.batches), got.epochs, len(states))
	return -1
}
