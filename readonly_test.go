package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog/internal/storage"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// snapshotFS returns every file below dir on fs with its contents, and
// every directory (with a nil value and a trailing slash).
func snapshotFS(t *testing.T, fs *vfs.MemFS, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(string)
	walk = func(d string) {
		names, err := fs.List(d)
		require.NoError(t, err)
		for _, n := range names {
			p := filepath.Join(d, n)
			fi, err := fs.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				out[p+"/"] = nil
				walk(p)
				continue
			}
			b, err := fs.ReadFile(p)
			require.NoError(t, err)
			out[p] = b
		}
	}
	walk(dir)
	return out
}

// requireSameFiles fails unless the two snapshots are equal, naming the
// files that differ.
func requireSameFiles(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	var diff []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		b, ok := after[p]
		switch {
		case !ok:
			diff = append(diff, "removed "+p)
		case string(b) != string(before[p]):
			diff = append(diff, fmt.Sprintf("changed %s (%d -> %d bytes)", p, len(before[p]), len(b)))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[p]; !ok {
			diff = append(diff, "created "+p)
		}
	}
	require.Empty(t, diff, "files changed")
}

// writeReadOnlyFixture writes two topics (one over several segments),
// records with keys and headers, and a group's commit, through a Log on
// mem opened with opts, and returns the Log, still open, and the records
// of "events" by partition.
func writeReadOnlyFixture(t *testing.T, mem *vfs.MemFS, opts *Options) (*Log, map[int32][]Record) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	cfg := smallTopic
	cfg.Partitions = 2
	events, err := l.CreateTopic(ctx, "events", cfg)
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "empty", TopicConfig{})
	require.NoError(t, err)
	want := map[int32][]Record{}
	ts := time.UnixMilli(1_700_000_000_000)
	for i := range 120 {
		id := int32(i % 2)
		p, err := events.Partition(id)
		require.NoError(t, err)
		r := Record{
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, "value-%d-%0100d", i, i),
			Headers:   []Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}},
			Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
		}
		res, err := p.Append(ctx, []Record{r})
		require.NoError(t, err)
		r.Topic, r.Partition, r.Offset = "events", id, res.BaseOffset
		want[id] = append(want[id], r)
	}
	p0, err := events.Partition(0)
	require.NoError(t, err)
	require.Greater(t, len(p0.segments()), 2, "the fixture must span several segments")
	c, err := l.NewConsumer(ConsumerConfig{Group: "billing", Partitions: []TopicPartition{{"events", 0}}, DisableAutoCommit: true})
	require.NoError(t, err)
	require.NoError(t, c.CommitOffsets(ctx, map[TopicPartition]int64{{"events", 0}: 7}))
	require.NoError(t, c.Close())
	return l, want
}

// readTopic returns every record of topic's partitions, by partition.
func readTopic(t *testing.T, l *Log, topic string) map[int32][]Record {
	t.Helper()
	tp, err := l.Topic(topic)
	require.NoError(t, err)
	out := map[int32][]Record{}
	for id := range tp.NumPartitions() {
		p, err := tp.Partition(id)
		require.NoError(t, err)
		for r, err := range p.Scan(context.Background(), p.StartOffset()) {
			require.NoError(t, err)
			r = r.Clone()
			r.Topic, r.Partition = topic, id
			out[id] = append(out[id], r)
		}
	}
	return out
}

// requireReadOnly fails unless err is a *ReadOnlyError.
func requireReadOnly(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, ErrReadOnly, what)
	var roe *ReadOnlyError
	require.ErrorAs(t, err, &roe, what)
	require.NotErrorIs(t, err, vfs.ErrReadOnly, "%s reached the file system: a write path missed the read-only checks", what)
}

// requireWritesRefused tries every kind of write on l and requires each to
// fail with a *ReadOnlyError.
func requireWritesRefused(t *testing.T, l *Log) {
	t.Helper()
	ctx := context.Background()
	p := mustPartition(t, l, "events", 0)
	_, err := l.CreateTopic(ctx, "new", TopicConfig{})
	requireReadOnly(t, err, "CreateTopic")
	requireReadOnly(t, l.DeleteTopic(ctx, "events"), "DeleteTopic")
	_, err = p.Append(ctx, []Record{{Key: []byte("k"), Value: []byte("v")}})
	requireReadOnly(t, err, "Append")
	_, err = p.AppendIf(ctx, p.EndOffset(), []Record{{Value: []byte("v")}})
	requireReadOnly(t, err, "AppendIf")
	_, err = p.DeleteRecords(ctx, 1)
	requireReadOnly(t, err, "DeleteRecords")
	_, err = l.NewProducer(ProducerConfig{})
	requireReadOnly(t, err, "NewProducer")
	_, err = l.NewProducer(ProducerConfig{DisableIdempotence: true})
	requireReadOnly(t, err, "NewProducer without idempotence")
	requireReadOnly(t, l.EnforceRetention(ctx), "EnforceRetention")
	requireReadOnly(t, l.Compact(ctx), "Compact")
	_, err = l.ResetGroupOffsets(ctx, "billing", EarliestOffset())
	requireReadOnly(t, err, "ResetGroupOffsets")
	requireReadOnly(t, l.DeleteGroup(ctx, "billing"), "DeleteGroup")
	_, err = l.NewConsumer(ConsumerConfig{Group: "billing", Topics: []string{"events"}})
	requireReadOnly(t, err, "NewConsumer with auto-commit")
	c, err := l.NewConsumer(ConsumerConfig{Group: "billing", Partitions: []TopicPartition{{"events", 0}}, DisableAutoCommit: true})
	require.NoError(t, err)
	committed, err := c.Committed(ctx)
	require.NoError(t, err)
	require.Equal(t, map[TopicPartition]int64{{"events", 0}: 7}, committed)
	requireReadOnly(t, c.CommitOffsets(ctx, map[TopicPartition]int64{{"events", 0}: 8}), "CommitOffsets")
	require.NoError(t, c.Close())
}

// TestReadOnlyAfterCleanClose opens a cleanly closed Log read-only: reads,
// Check, Stats and group descriptions work, every write is refused, and no
// file changes.
func TestReadOnlyAfterCleanClose(t *testing.T) {
	mem := vfs.NewMem()
	l, want := writeReadOnlyFixture(t, mem, testOptions(mem))
	require.NoError(t, l.Close())
	before := snapshotFS(t, mem, testDir)

	opts := testOptions(mem)
	opts.ReadOnly = true
	ro, err := Open(testDir, opts)
	require.NoError(t, err)
	require.Equal(t, want, readTopic(t, ro, "events"))
	require.NoError(t, ro.Check(context.Background()))
	require.Equal(t, []string{"empty", "events"}, ro.Topics())
	stats := ro.Stats()
	require.NotEmpty(t, stats)
	d, err := ro.DescribeGroup("billing")
	require.NoError(t, err)
	require.Equal(t, int64(7), d.Partitions[0].Committed)
	off, err := mustPartition(t, ro, "events", 0).OffsetForTime(time.UnixMilli(1_700_000_000_010))
	require.NoError(t, err)
	require.Equal(t, int64(5), off)
	requireWritesRefused(t, ro)
	require.NoError(t, ro.Close())
	requireSameFiles(t, before, snapshotFS(t, mem, testDir))
}

// TestReadOnlyAfterCrash opens read-only a directory left by a crash with
// torn, unsynced writes: it reads what a read-write Open of the same files
// recovers, while that Open changes files and the read-only one changes
// none.
func TestReadOnlyAfterCrash(t *testing.T) {
	for seed := range int64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOptions(mem)
			opts.Sync = SyncNever
			l, _ := writeReadOnlyFixture(t, mem, opts)
			for _, p := range l.allPartitions() {
				require.NoError(t, p.checkpoint(context.Background()))
			}
			p := mustPartition(t, l, "events", 1)
			for i := range 20 {
				_, err := p.Append(context.Background(), []Record{{Key: []byte("late"), Value: fmt.Appendf(nil, "late-%d-%0200d", i, i)}})
				require.NoError(t, err)
			}
			crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0.5, Tear: true, Seed: seed})
			require.NoError(t, l.Close())
			writable := crashed.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			before := snapshotFS(t, crashed, testDir)
			require.Equal(t, before, snapshotFS(t, writable, testDir))

			rw, err := Open(testDir, testOptions(writable))
			require.NoError(t, err)
			recovered := readTopic(t, rw, "events")
			require.NoError(t, rw.Close())
			require.NotEqual(t, before, snapshotFS(t, writable, testDir), "the crash must leave work for recovery")

			warnings := &logRecorder{}
			opts = testOptions(crashed)
			opts.ReadOnly = true
			opts.Logger = slog.New(warnings)
			ro, err := Open(testDir, opts)
			require.NoError(t, err)
			require.Equal(t, recovered, readTopic(t, ro, "events"))
			require.NoError(t, ro.Check(context.Background()))
			requireWritesRefused(t, ro)
			require.NoError(t, ro.Close())
			requireSameFiles(t, before, snapshotFS(t, crashed, testDir))
		})
	}
}

// TestReadOnlyRebuildsIndexesInMemory removes and damages index files: a
// read-only Open rebuilds them in memory, reads by offset and time work,
// and the files stay as they were.
func TestReadOnlyRebuildsIndexesInMemory(t *testing.T) {
	mem := vfs.NewMem()
	l, want := writeReadOnlyFixture(t, mem, testOptions(mem))
	segs := mustPartition(t, l, "events", 0).segments()
	require.NoError(t, l.Close())
	first := segs[0].Path
	index := first[:len(first)-len(storage.LogSuffix)] + storage.IndexSuffix
	timeIndex := segs[1].Path[:len(segs[1].Path)-len(storage.LogSuffix)] + storage.TimeIndexSuffix
	require.NoError(t, mem.Remove(index))
	require.NoError(t, mem.WriteFile(timeIndex, make([]byte, 24)))
	// A middle entry of a third segment's index that still looks in
	// order: Open's cheap checks pass it, Check finds and rebuilds it.
	third := segs[2].Path[:len(segs[2].Path)-len(storage.LogSuffix)] + storage.IndexSuffix
	b, err := mem.ReadFile(third)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 3*storage.OffsetEntrySize, "the third segment needs three index entries")
	b[storage.OffsetEntrySize+7]++ // the second entry's position, one byte later
	require.NoError(t, mem.WriteFile(third, b))
	before := snapshotFS(t, mem, testDir)

	warnings := &logRecorder{}
	opts := testOptions(mem)
	opts.ReadOnly = true
	opts.Logger = slog.New(warnings)
	ro, err := Open(testDir, opts)
	require.NoError(t, err)
	require.True(t, warnings.logged("rebuilding the indexes"), "the damaged indexes must be rebuilt: %v", warnings.msgs)
	require.Equal(t, want, readTopic(t, ro, "events"))
	p := mustPartition(t, ro, "events", 0)
	for _, r := range want[0] {
		recs, err := p.Read(context.Background(), r.Offset, 1)
		require.NoError(t, err)
		require.Equal(t, r.Offset, recs[0].Offset)
		off, err := p.OffsetForTime(r.Timestamp)
		require.NoError(t, err)
		require.Equal(t, r.Offset, off)
	}
	require.False(t, warnings.logged("index disagreed with its data"), "Open must not have rebuilt the third segment's index")
	require.NoError(t, ro.Check(context.Background()))
	require.True(t, warnings.logged("index disagreed with its data and was rebuilt"), "Check rebuilds the third segment's index: %v", warnings.msgs)
	require.NoError(t, ro.Check(context.Background()))
	require.NoError(t, ro.Close())
	requireSameFiles(t, before, snapshotFS(t, mem, testDir))
}

// TestReadOnlyRefusesStatesThatNeedWrites checks the states a read-only
// Open refuses, naming the file, without changing anything.
func TestReadOnlyRefusesStatesThatNeedWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, mem *vfs.MemFS, dir string) string // returns the path the error names
	}{
		{"swap past its commit point", func(t *testing.T, mem *vfs.MemFS, dir string) string {
			p := filepath.Join(dir, storage.SegmentName(0, storage.LogSuffix)+storage.SwapSuffix)
			require.NoError(t, mem.WriteFile(p, nil))
			return p
		}},
		{"no segment file", func(t *testing.T, mem *vfs.MemFS, dir string) string {
			names, err := mem.List(dir)
			require.NoError(t, err)
			for _, n := range names {
				if _, ok := storage.ParseSegmentName(n, storage.LogSuffix); ok {
					require.NoError(t, mem.Remove(filepath.Join(dir, n)))
				}
			}
			return dir
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			l, err := Open(testDir, testOptions(mem))
			require.NoError(t, err)
			_, err = l.CreateTopic(context.Background(), "t", TopicConfig{})
			require.NoError(t, err)
			require.NoError(t, l.Close())
			path := tc.damage(t, mem, filepath.Join(testDir, "t-0"))
			before := snapshotFS(t, mem, testDir)
			opts := testOptions(mem)
			opts.ReadOnly = true
			_, err = Open(testDir, opts)
			requireReadOnly(t, err, "Open")
			var roe *ReadOnlyError
			require.ErrorAs(t, err, &roe)
			require.Equal(t, path, roe.Path)
			requireSameFiles(t, before, snapshotFS(t, mem, testDir))
		})
	}
}

// TestReadOnlyLocked checks that a read-only Open and a read-write one
// exclude each other, in this process on MemFS and on the OS's file
// system.
func TestReadOnlyLocked(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) (*Options, string)
	}{
		{"mem", func(t *testing.T) (*Options, string) { return testOptions(vfs.NewMem()), testDir }},
		{"os", func(t *testing.T) (*Options, string) { return &Options{CheckpointInterval: time.Hour}, t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, dir := tc.opts(t)
			rw, err := Open(dir, opts)
			require.NoError(t, err)
			roOpts := *opts
			roOpts.ReadOnly = true
			_, err = Open(dir, &roOpts)
			require.ErrorIs(t, err, ErrLocked)
			require.NoError(t, rw.Close())

			ro, err := Open(dir, &roOpts)
			require.NoError(t, err)
			_, err = Open(dir, opts)
			require.ErrorIs(t, err, ErrLocked)
			require.NoError(t, ro.Close())
		})
	}
}

// TestReadOnlyCreatesNothing checks that a read-only Open of a missing
// directory, or of one without a lock file, fails and creates nothing.
func TestReadOnlyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := Open(dir, &Options{ReadOnly: true})
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.Mkdir(dir, 0o755))
	_, err = Open(dir, &Options{ReadOnly: true})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "LOCK")
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, names)
}

// TestReadOnlyWithControllerIsInvalid checks the refused combination.
func TestReadOnlyWithControllerIsInvalid(t *testing.T) {
	err := (&Options{ReadOnly: true, Controller: (*InProcessController)(nil), Transport: nopTransport{}}).Validate()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "ReadOnly")
	require.False(t, errors.Is(err, ErrReadOnly))
}

// nopTransport is a Transport that is never used: Validate only checks
// that one is set.
type nopTransport struct{ Transport }
