package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// logRecorder is a slog handler that keeps every message, after its
// level and followed by its attributes ("WARN cut torn tail ... file=...").
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (w *logRecorder) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	w.mu.Unlock()
	return nil
}
func (w *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logRecorder) WithGroup(string) slog.Handler      { return w }

func (w *logRecorder) logged(substr string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

// corruptionLog builds a small log of several segments. If clean it is
// closed; otherwise a checkpoint is taken halfway and the process "dies"
// at the end (every write survives, nothing more is checkpointed), so the
// second half is the unflushed tail that Open scans.
func corruptionLog(t *testing.T, clean bool) (*vfs.MemFS, []batchSpec) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	cfg := smallTopic
	cfg.IndexIntervalBytes = 200
	tp, err := l.CreateTopic(ctx, "flip", cfg)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	rng := rand.New(rand.NewPCG(3, 4))
	batches := appendBatches(t, p, rng, 0, 18, 3, 60)
	require.NoError(t, p.checkpoint(ctx))
	batches = append(batches, appendBatches(t, p, rng, 18, 18, 3, 60)...)
	require.GreaterOrEqual(t, len(p.segments()), 2)
	if clean {
		require.NoError(t, l.Close())
		return mem, batches
	}
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, l.Close())
	return crashed, batches
}

// flipOutcome is what opening, reading and checking a damaged log gave.
type flipOutcome struct {
	corrupt  error // the first error matching ErrCorrupt, from Open, a read or Check
	records  []Record
	checkErr error // Check's result when everything before it succeeded
	warnings *logRecorder
}

// exerciseFlipped opens fs (with repairs, if any), reads everything (a
// scan, and a Read at every offset, which uses the offset index), and runs
// Check twice.
func exerciseFlipped(t *testing.T, fs *vfs.MemFS, repair RepairOptions) flipOutcome {
	ctx := context.Background()
	out := flipOutcome{warnings: &logRecorder{}}
	opts := testOptions(fs)
	opts.Logger = slog.New(out.warnings)
	opts.Repair = repair
	fail := func(err error) bool {
		if err == nil {
			return false
		}
		require.ErrorIs(t, err, ErrCorrupt, "damage must surface as ErrCorrupt")
		out.corrupt = err
		return true
	}
	l, err := Open(testDir, opts)
	if fail(err) {
		return out
	}
	defer l.Close()
	p := mustPartitionErr(l, "flip")
	require.NotNil(t, p)
	for r, err := range p.Scan(ctx, p.StartOffset()) {
		if fail(err) {
			return out
		}
		out.records = append(out.records, r.Clone())
	}
	for off := p.StartOffset(); off < p.HighWatermark(); off++ {
		recs, err := p.Read(ctx, off, 1)
		if fail(err) {
			return out
		}
		require.Equal(t, off, recs[0].Offset)
	}
	if err := l.Check(ctx); fail(err) {
		return out
	} else if err != nil {
		out.checkErr = err
		return out
	}
	out.checkErr = l.Check(ctx) // a second Check finds nothing left to repair
	return out
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

func TestFlipEveryByte(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "clean", false: "unflushed-tail"}[clean]
		t.Run(name, func(t *testing.T) { testFlipEveryByte(t, clean) })
	}
}

func testFlipEveryByte(t *testing.T, clean bool) {
	base, batches := corruptionLog(t, clean)
	pdir := filepath.Join(testDir, "flip-0")
	names, err := base.List(pdir)
	require.NoError(t, err)
	var files []string
	for _, n := range names {
		files = append(files, filepath.Join(pdir, n))
	}
	files = append(files, filepath.Join(testDir, topicsDir, "flip.json"))
	lastLog := ""
	for _, f := range files {
		if strings.HasSuffix(f, logSuffix) {
			lastLog = f
		}
	}

	flips := 0
	for _, f := range files {
		orig, err := base.ReadFile(f)
		require.NoError(t, err)
		var starts []int
		dataEnd := len(orig)
		if strings.HasSuffix(f, logSuffix) {
			starts = batchLayout(t, orig)
			last := starts[len(starts)-1]
			h, err := record.ParseHeader(orig[last:], len(orig)-last)
			require.NoError(t, err)
			dataEnd = last + h.Size()
		}
		for i := range orig {
			flips++
			fs := base.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			flipped := append([]byte(nil), orig...)
			flipped[i] ^= 1 << (i % 8)
			require.NoError(t, fs.WriteFile(f, flipped))
			what := fmt.Sprintf("%s byte %d", filepath.Base(f), i)
			out := exerciseFlipped(t, fs, RepairOptions{})

			intact := func() {
				require.NoError(t, out.corrupt, what)
				require.NoError(t, out.checkErr, what)
				require.Len(t, out.records, len(flattenBatches(batches)), what)
				for j, want := range flattenBatches(batches) {
					want.Topic, want.Offset = "flip", int64(j)
					require.True(t, want.Equal(&out.records[j]), "%s: record %d differs", what, j)
				}
			}
			switch {
			case strings.HasSuffix(f, ".json"):
				require.Error(t, out.corrupt, "%s: damaged topic metadata must refuse to open", what)
			case filepath.Base(f) == checkpointName:
				// The checkpoint holds the log start offset: damage to it
				// is refused, and repaired only when asked to.
				require.ErrorIs(t, out.corrupt, ErrCorrupt, "%s: a damaged checkpoint must refuse to open", what)
				require.ErrorContains(t, out.corrupt, "Options.Repair.Checkpoints", what)
				out = exerciseFlipped(t, fs, RepairOptions{Checkpoints: true})
				intact()
				require.True(t, out.warnings.logged("repairing a partition checkpoint"), what)
			case strings.HasSuffix(f, indexSuffix), strings.HasSuffix(f, timeIndexSuffix), strings.HasSuffix(f, producerSnapshotSuffix),
				filepath.Base(f) == leaderEpochsName:
				intact() // derived data: checked, rebuilt, never wrong
			case i >= dataEnd:
				// The space prepared past the last batch of the active
				// segment: not part of the log. A crash leaves it, and
				// recovery cuts it.
				require.False(t, clean, "%s: a closed log has no space past its data", what)
				intact()
				require.True(t, out.warnings.logged("torn"), "%s: a cut must be logged", what)
			default:
				start := 0
				for _, s := range starts {
					if s <= i {
						start = s
					}
				}
				rel := i - start
				if rel >= 12 && rel < 16 {
					// The partition leader epoch, outside the CRC: the
					// records read back intact, and Check finds the epoch
					// disagreeing with the leader epochs, except in the last
					// batch of an unflushed tail, whose epochs recovery takes
					// from the batches.
					require.Len(t, out.records, len(flattenBatches(batches)), what)
					for j, want := range flattenBatches(batches) {
						want.Topic, want.Offset = "flip", int64(j)
						require.True(t, want.Equal(&out.records[j]), "%s: record %d differs", what, j)
					}
					if clean || out.corrupt != nil {
						require.ErrorIs(t, out.corrupt, ErrCorrupt, what)
						require.ErrorContains(t, out.corrupt, "leader epoch", what)
					}
					continue
				}
				if out.corrupt != nil {
					continue // detected
				}
				// Not reported as corruption: only allowed for the last batch of
				// an unflushed tail, which is indistinguishable from a torn
				// write; it must then be cut, and the cut logged.
				last := starts[len(starts)-1]
				require.True(t, !clean && f == lastLog && start == last,
					"%s: damage in batch at %d went undetected (%d records read, check: %v)", what, start, len(out.records), out.checkErr)
				require.True(t, out.warnings.logged("torn"), "%s: a cut must be logged", what)
				want := flattenBatches(batches[:len(batches)-1])
				require.Len(t, out.records, len(want), what)
			}
		}
	}
	t.Logf("%d single-bit flips checked", flips)
}

// flattenBatches returns the records of bs in order.
func flattenBatches(bs []batchSpec) []Record {
	var out []Record
	for _, b := range bs {
		out = append(out, b.recs...)
	}
	return out
}

// faultLog builds a closed log holding every kind of file: two topics'
// segments (several per partition) with their offset and time indexes and
// checkpoints, an idempotent producer's state snapshots, topic metadata,
// the producer-ids file, and a consumer group's commits in
// __consumer_offsets. It returns every record, by partition, and the
// group's committed offsets.
func faultLog(t *testing.T) (*vfs.MemFS, map[TopicPartition][]Record, map[TopicPartition]int64) {
	t.Helper()
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	cfg := smallTopic
	cfg.Partitions = 2
	for _, name := range []string{"a", "b"} {
		_, err := l.CreateTopic(ctx, name, cfg)
		require.NoError(t, err)
	}
	prod, err := l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner()})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 240 {
		r := &Record{Topic: []string{"a", "b"}[i%2], Partition: int32(i / 2 % 2), Key: []byte(fmt.Sprint(i % 7)),
			Value: []byte(fmt.Sprintf("v%03d-%s", i, strings.Repeat("x", rng.IntN(150))))}
		require.NoError(t, prod.ProduceSync(ctx, r))
		if i == 120 {
			for _, p := range l.allPartitions() {
				require.NoError(t, p.checkpoint(ctx)) // snapshots of the producer state
			}
		}
	}
	require.NoError(t, prod.Close())
	committed := map[TopicPartition]int64{{"a", 0}: 7, {"a", 1}: 20, {"b", 0}: 30}
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Partitions: []TopicPartition{{"a", 0}, {"a", 1}, {"b", 0}}})
	require.NoError(t, err)
	for tp, off := range committed {
		require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{tp: off - 2}))
		require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{tp: off}))
	}
	require.NoError(t, c.Close())
	records := map[TopicPartition][]Record{}
	for _, name := range []string{"a", "b"} {
		for id := range int32(2) {
			p := mustPartition(t, l, name, id)
			require.GreaterOrEqual(t, len(p.segments()), 2, "%s-%d has sealed segments", name, id)
			for r, err := range p.Scan(ctx, 0) {
				require.NoError(t, err)
				records[TopicPartition{name, id}] = append(records[TopicPartition{name, id}], r.Clone())
			}
		}
	}
	require.NoError(t, l.Close())
	return mem, records, committed
}

// faultFiles returns every file below dir but LOCK.
func faultFiles(t *testing.T, fs *vfs.MemFS, dir string) []string {
	t.Helper()
	var out []string
	names, err := fs.List(dir)
	require.NoError(t, err)
	for _, n := range names {
		p := filepath.Join(dir, n)
		fi, err := fs.Stat(p)
		require.NoError(t, err)
		switch {
		case fi.IsDir():
			out = append(out, faultFiles(t, fs, p)...)
		case n != lockFileName:
			out = append(out, p)
		}
	}
	return out
}

// storageFault is one way of damaging a file: it returns the damaged
// contents, or nil to remove the file.
type storageFault struct {
	name   string
	damage func(b []byte, rng *rand.Rand) []byte
}

var storageFaults = []storageFault{
	{"bit flip", func(b []byte, rng *rand.Rand) []byte {
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		return b
	}},
	{"burst", func(b []byte, rng *rand.Rand) []byte { // up to 32 bits, as CRC-32C detects every one
		at, n := rng.IntN(len(b)), 1+rng.IntN(4)
		for i := at; i < min(len(b), at+n); i++ {
			b[i] ^= byte(1 + rng.IntN(255))
		}
		return b
	}},
	{"zeroed block", func(b []byte, rng *rand.Rand) []byte {
		at := rng.IntN(len(b)) / 512 * 512
		clear(b[at:min(len(b), at+512)])
		return b
	}},
	{"truncated", func(b []byte, rng *rand.Rand) []byte { return b[:rng.IntN(len(b))] }},
	{"emptied", func(b []byte, rng *rand.Rand) []byte { return b[:0] }},
	{"removed", func(b []byte, rng *rand.Rand) []byte { return nil }},
}

// faultOutcome says what opening and reading a damaged log gave: intact
// (every record and committed offset as written), or refused with
// ErrCorrupt by Open, a read or Check. Anything else fails the test.
type faultOutcome struct {
	refused error
}

func exerciseFault(t *testing.T, fs *vfs.MemFS, records map[TopicPartition][]Record, committed map[TopicPartition]int64, what string) faultOutcome {
	t.Helper()
	ctx := context.Background()
	refused := func(err error) bool {
		if err == nil {
			return false
		}
		require.ErrorIs(t, err, ErrCorrupt, "%s: damage must surface as ErrCorrupt", what)
		return true
	}
	l, err := Open(testDir, testOptions(fs))
	if refused(err) {
		return faultOutcome{refused: err}
	}
	defer l.Close()
	for tp, want := range records {
		p, err := l.partition(tp)
		require.NoError(t, err, "%s: a topic may not vanish", what)
		require.Equal(t, want[0].Offset, p.StartOffset(), "%s: %v starts elsewhere", what, tp)
		require.Equal(t, want[len(want)-1].Offset+1, p.EndOffset(), "%s: %v ends elsewhere", what, tp)
		i := 0
		for r, err := range p.Scan(ctx, p.StartOffset()) {
			if refused(err) {
				return faultOutcome{refused: err}
			}
			require.True(t, want[i].Equal(&r), "%s: %v offset %d differs", what, tp, r.Offset)
			i++
		}
		require.Equal(t, len(want), i, "%s: %v records missing", what, tp)
		for _, off := range []int64{p.StartOffset(), p.EndOffset() / 2, p.EndOffset() - 1} {
			recs, err := p.Read(ctx, off, 1)
			if refused(err) {
				return faultOutcome{refused: err}
			}
			require.Equal(t, off, recs[0].Offset, what)
		}
	}
	for tp, off := range committed {
		c, ok, _ := l.offsets.committed("g", tp)
		require.True(t, ok, "%s: the commit for %v is gone", what, tp)
		require.Equal(t, off, c.Offset, "%s: the commit for %v changed", what, tp)
	}
	if err := l.Check(ctx); refused(err) {
		return faultOutcome{refused: err}
	}
	prod, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err, what)
	require.GreaterOrEqual(t, prod.ProducerID(), int64(producerIDBlock), "%s: a producer id was handed out again", what)
	require.NoError(t, prod.Close())
	return faultOutcome{}
}

// Storage faults in every file type: bit flips, bursts of up to 32 bits
// (CRC-32C detects every such error in the bytes it covers), a zeroed
// block, truncation, emptying and removal, in every file of a closed log.
// The derived files (offset and time indexes, producer-state snapshots,
// leader epochs) are repaired: the log opens with every record and commit
// intact. Damage anywhere else is never silent: it is refused with
// ErrCorrupt, or (bytes outside what the CRC covers, such as a batch's
// partition leader epoch, which Check compares with the leader epochs)
// changes nothing that is read back. The files that hold durable promises
// (checkpoints, topic metadata, producer-ids) are refused on any change,
// and the data files and __consumer_offsets on any change that reaches
// their records.
func TestStorageFaultsInEveryFileType(t *testing.T) {
	base, records, committed := faultLog(t)
	files := faultFiles(t, base, testDir)
	kinds := map[string]int{}
	for _, f := range files {
		kinds[faultFileKind(f)]++
	}
	perKind := 500 // damaged logs per kind of file; COMMITLOG_FAULT_MUTATIONS for more
	if s := os.Getenv("COMMITLOG_FAULT_MUTATIONS"); s != "" {
		var err error
		perKind, err = strconv.Atoi(s)
		require.NoError(t, err, "COMMITLOG_FAULT_MUTATIONS")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	damaged, refused := 0, 0
	byKind := map[string]int{}
	for _, f := range files {
		orig, err := base.ReadFile(f)
		require.NoError(t, err)
		kind := faultFileKind(f)
		tries := (perKind + kinds[kind]*len(storageFaults) - 1) / (kinds[kind] * len(storageFaults))
		for _, fault := range storageFaults {
			for try := range tries {
				if len(orig) == 0 && fault.name != "removed" {
					continue
				}
				fs := base.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
				b := fault.damage(bytes.Clone(orig), rng)
				if b == nil {
					require.NoError(t, fs.Remove(f))
				} else {
					require.NoError(t, fs.WriteFile(f, b))
				}
				changed := b == nil || !bytes.Equal(b, orig)
				what := fmt.Sprintf("%s %s (%s, try %d)", f, fault.name, kind, try)
				out := exerciseFault(t, fs, records, committed, what)
				damaged++
				byKind[kind]++
				if out.refused != nil {
					refused++
				}
				switch kind {
				case "index", "time index", "snapshot", "leader epochs":
					require.NoError(t, out.refused, "%s: a derived file is rebuilt, never refused", what)
				case "checkpoint":
					dir := filepath.Dir(f)
					names, err := base.List(dir)
					require.NoError(t, err)
					held, err := partitionHoldsData(base, dir, names)
					require.NoError(t, err)
					if changed && held { // an empty partition has no start offset to lose
						require.Error(t, out.refused, "%s: damage to a file holding a durable promise must refuse to open", what)
					}
				case "topic metadata", "producer-ids":
					if changed {
						require.Error(t, out.refused, "%s: damage to a file holding a durable promise must refuse to open", what)
					}
				case "data", "offsets data":
					// Refused, or intact (exerciseFault checked every
					// record and commit): never a silent loss.
				default:
					t.Fatalf("%s: file of unknown kind", what)
				}
			}
		}
	}
	for _, kind := range []string{"data", "index", "time index", "checkpoint", "snapshot", "leader epochs", "topic metadata", "producer-ids", "offsets data"} {
		require.Positive(t, kinds[kind], "no %s file was damaged", kind)
	}
	t.Logf("%d damaged logs checked (%d refused with ErrCorrupt, the rest intact); files by kind: %v; damaged logs by kind: %v", damaged, refused, kinds, byKind)
}

// faultFileKind classifies a file of a log directory.
func faultFileKind(path string) string {
	base, dir := filepath.Base(path), filepath.Base(filepath.Dir(path))
	switch {
	case strings.HasSuffix(base, topicFileSuffix):
		return "topic metadata"
	case base == producerIDFileName:
		return "producer-ids"
	case base == checkpointName:
		return "checkpoint"
	case base == leaderEpochsName:
		return "leader epochs"
	case strings.HasSuffix(base, producerSnapshotSuffix):
		return "snapshot"
	case strings.HasSuffix(base, timeIndexSuffix):
		return "time index"
	case strings.HasSuffix(base, indexSuffix):
		return "index"
	case strings.HasSuffix(base, logSuffix) && strings.HasPrefix(dir, offsetsTopicName):
		return "offsets data"
	case strings.HasSuffix(base, logSuffix):
		return "data"
	}
	return "unknown: " + base
}
