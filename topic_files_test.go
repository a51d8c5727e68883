package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// longestTopicName is the longest name ValidateTopicName accepts.
var longestTopicName = strings.Repeat("n", maxTopicNameLength)

// Every file and directory name a Log makes fits in 255 bytes (NAME_MAX)
// for the longest topic name and the highest partition number.
func TestFileNamesFitInNameMax(t *testing.T) {
	require.NoError(t, ValidateTopicName(longestTopicName))
	const nameMax = 255
	topicsDirNames := []string{
		longestTopicName + topicFileSuffix,
		longestTopicName + topicDeletedSuffix,
		strings.TrimSuffix(longestTopicName+topicFileSuffix, topicFileSuffix) + tmpSuffix,
	}
	var partitionFiles []string
	base := int64(1<<63 - 1)
	for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		for _, suffix := range []string{"", tmpSuffix, cleanedSuffix, swapSuffix} {
			partitionFiles = append(partitionFiles, segmentName(base, kind)+suffix)
		}
	}
	partitionFiles = append(partitionFiles, snapshotFileName(base), checkpointName, checkpointName+tmpSuffix,
		strings.TrimSuffix(snapshotFileName(base), producerSnapshotSuffix)+tmpSuffix, leaderEpochsName, leaderEpochsName+tmpSuffix)
	names := append(topicsDirNames, partitionFiles...)
	names = append(names, partitionDirName(longestTopicName, maxPartitions-1), partitionDirName(offsetsTopicName, maxPartitions-1),
		producerIDFileName+tmpSuffix, lockFileName, topicsDir)
	for _, n := range names {
		require.LessOrEqual(t, len(n), nameMax, "%q", n)
	}
	// The temporary names writeFileAtomic uses are the ones listed above.
	var made []string
	mem := vfs.NewMem()
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpCreate {
			made = append(made, filepath.Base(path))
		}
		return nil
	}), vfs.InjectOptions{})
	for _, p := range []string{
		filepath.Join(testDir, topicsDir, longestTopicName+topicFileSuffix),
		filepath.Join(testDir, "x-0", snapshotFileName(base)),
		filepath.Join(testDir, "x-0", checkpointName),
		filepath.Join(testDir, "x-0", leaderEpochsName),
		filepath.Join(testDir, producerIDFileName),
	} {
		require.NoError(t, mem.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, writeFileAtomic(fs, p, []byte("x")))
	}
	for _, n := range made {
		require.Contains(t, names, n)
	}
}

// Regression: CreateTopic with a 249-character name, the longest Kafka
// allows, failed with "file name too long" (its metadata's temporary file
// was 258 bytes) and left its partition directories behind. On the
// operating system's file system, a topic with the longest name goes
// through everything that makes files: idempotent produce (snapshots),
// rolls, checkpoints, compaction (.cleaned and .swap files), DeleteRecords,
// a consumer group's commits (__consumer_offsets), reopening, deletion and
// creation again.
func TestCreateTopicWithTheLongestName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	name := longestTopicName
	cfg := TopicConfig{Partitions: 12, SegmentBytes: 4096, IndexIntervalBytes: 256, CleanupPolicy: CleanupCompact,
		MaxBatchBytes: 4096}
	l, err := Open(dir, nil)
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, name, cfg)
	require.NoError(t, err)
	prod, err := l.NewProducer(ProducerConfig{Partitioner: ManualPartitioner()})
	require.NoError(t, err)
	var want []string
	for i := range 400 {
		v := fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", 50))
		require.NoError(t, prod.ProduceSync(ctx, &Record{Topic: name, Partition: 11, Key: []byte(fmt.Sprint(i % 40)), Value: []byte(v)}))
		want = append(want, v)
	}
	require.NoError(t, prod.Close())
	p := mustPartition(t, l, name, 11)
	require.Greater(t, len(p.segments()), 5)
	require.NoError(t, p.checkpoint(ctx))
	require.NoError(t, l.Compact(ctx, name))
	_, err = p.DeleteRecords(ctx, 10)
	require.NoError(t, err)
	c, err := l.NewConsumer(ConsumerConfig{Group: "g", Topics: []string{name}})
	require.NoError(t, err)
	recs, err := c.Poll(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	require.NoError(t, c.CommitRecords(ctx, recs...))
	require.NoError(t, c.Close())
	end := p.EndOffset()
	require.NoError(t, l.Close())

	l, err = Open(dir, nil)
	require.NoError(t, err)
	require.Equal(t, []string{name}, l.Topics())
	p = mustPartition(t, l, name, 11)
	require.Equal(t, end, p.EndOffset())
	require.Equal(t, int64(10), p.StartOffset())
	desc, err := l.DescribeGroup("g")
	require.NoError(t, err)
	committed := int64(0)
	for _, pl := range desc.Partitions {
		committed += max(pl.Committed, 0)
	}
	require.Equal(t, recs[len(recs)-1].Offset+1, committed, "the group's commit survives")
	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.DeleteTopic(ctx, name))
	_, err = l.CreateTopic(ctx, name, TopicConfig{Partitions: 3})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l, err = Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	tp, err := l.Topic(name)
	require.NoError(t, err)
	require.Equal(t, int32(3), tp.NumPartitions())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if topic, id, ok := parsePartitionDirName(e.Name()); ok && topic == name {
			require.Less(t, id, int32(3), "%s: left by the deleted topic", e.Name())
		}
	}
}

// Regression: a CreateTopic that failed (on a full disk: 64 partitions
// preallocating their indexes) left the half-made topic behind, and every
// later Open failed the same way. CreateTopic is all-or-nothing: failing
// any one file operation it makes, with ENOSPC or EIO, leaves nothing of
// the topic on disk or in the Log, keeps the Log serving its other topics,
// and keeps it opening; ENOSPC comes back as ErrDiskFull.
func TestFailedCreateTopicLeavesNothing(t *testing.T) {
	ctx := context.Background()
	for _, injected := range []error{syscall.ENOSPC, syscall.EIO} {
		t.Run(injected.Error(), func(t *testing.T) {
			for k := int64(0); ; k++ {
				mem := vfs.NewMem()
				l, err := Open(testDir, testOptions(mem))
				require.NoError(t, err)
				tp, err := l.CreateTopic(ctx, "kept", TopicConfig{})
				require.NoError(t, err)
				p, _ := tp.Partition(0)
				_, err = p.Append(ctx, []Record{{Value: []byte("acknowledged")}})
				require.NoError(t, err)
				before := listTree(t, mem, testDir)

				// Only CreateTopic's operations count: the new partitions
				// keep the file system they were opened with.
				inj := vfs.OnIndex(k, vfs.Op.Mutating, injected)
				var creating atomic.Bool
				creating.Store(true)
				l.fs = vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
					if !creating.Load() {
						return nil
					}
					return inj.MaybeError(op, path)
				}), vfs.InjectOptions{})
				_, err = l.CreateTopic(ctx, "big", TopicConfig{Partitions: 8})
				creating.Store(false)
				l.fs = mem
				if !inj.Fired() {
					require.NoError(t, err)
					require.Greater(t, k, int64(8*5), "CreateTopic makes many files")
					require.NoError(t, l.Close())
					return
				}
				what := fmt.Sprintf("mutating operation %d failed with %v", k, injected)
				require.Error(t, err, what)
				if injected == syscall.ENOSPC {
					require.ErrorIs(t, err, ErrDiskFull, what)
				}
				require.Equal(t, []string{"kept"}, l.Topics(), what)
				_, err = l.Topic("big")
				require.ErrorIs(t, err, ErrUnknownTopic, what)
				require.Equal(t, before, listTree(t, mem, testDir), "%s: the failed create left files behind", what)
				_, err = p.Append(ctx, []Record{{Value: []byte("after")}})
				require.NoError(t, err, what)
				require.NoError(t, l.Close(), what)

				l, err = Open(testDir, testOptions(mem))
				require.NoError(t, err, what)
				requireValues(t, mustPartition(t, l, "kept", 0), "acknowledged", "after")
				_, err = l.CreateTopic(ctx, "big", TopicConfig{Partitions: 8})
				require.NoError(t, err, what)
				require.NoError(t, l.Check(ctx), what)
				require.NoError(t, l.Close())
			}
		})
	}
}

// listTree returns every path below dir with its size (-1 for
// directories), sorted; LOCK excluded.
func listTree(t *testing.T, fs *vfs.MemFS, dir string) []string {
	t.Helper()
	var out []string
	var walk func(d string)
	walk = func(d string) {
		names, err := fs.List(d)
		require.NoError(t, err)
		for _, n := range names {
			p := filepath.Join(d, n)
			fi, err := fs.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				out = append(out, p+"/")
				walk(p)
			} else if n != lockFileName {
				out = append(out, fmt.Sprintf("%s %d", p, fi.Size()))
			}
		}
	}
	walk(dir)
	slices.Sort(out)
	return out
}

// Regression: with topics/<name>.json missing, a topic whose partition
// directories held data silently disappeared (Open removed them as
// leftovers of an interrupted create). Open now fails with a
// *CorruptionError naming the file; Options.Repair.TopicMetadata
// recreates it from the defaults, with as many partitions as directories,
// and keeps every record.
func TestOpenFailsWhenTopicMetadataIsMissing(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3})
	require.NoError(t, err)
	var want []string
	for i := range 3 {
		p, _ := tp.Partition(int32(i))
		v := fmt.Sprintf("order-%d", i)
		_, err := p.Append(ctx, []Record{{Value: []byte(v)}})
		require.NoError(t, err)
		want = append(want, v)
	}
	require.NoError(t, l.Close())
	path := filepath.Join(testDir, topicsDir, "orders.json")
	require.NoError(t, mem.Remove(path))
	before := listTree(t, mem, testDir)

	_, err = Open(testDir, testOptions(mem))
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, path, cerr.Path)
	require.Contains(t, cerr.Remedy, "Options.Repair.TopicMetadata")
	require.Equal(t, before, listTree(t, mem, testDir), "a refused Open changes nothing")

	// A gap in the partition numbers cannot be repaired.
	gapped := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, gapped.RemoveAll(filepath.Join(testDir, "orders-1")))
	opts := testOptions(gapped)
	opts.Repair.TopicMetadata = true
	_, err = Open(testDir, opts)
	require.ErrorAs(t, err, &cerr)
	require.Contains(t, cerr.Reason, "without gaps")

	logs := &logRecorder{}
	opts = testOptions(mem)
	opts.Repair.TopicMetadata = true
	opts.Logger = slog.New(logs)
	l, err = Open(testDir, opts)
	require.NoError(t, err)
	require.True(t, logs.logged("WARN recreated the metadata of a topic"), "%v", logs.msgs)
	tp, err = l.Topic("orders")
	require.NoError(t, err)
	require.Equal(t, int32(3), tp.NumPartitions())
	for i := range 3 {
		requireValues(t, mustPartition(t, l, "orders", int32(i)), want[i])
	}
	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.Close())
	l = openTest(t, mem, nil) // repaired for good
	require.Equal(t, []string{"orders"}, l.Topics())
}

// Partition directories numbered past their topic's partition count are
// refused when they hold data, and removed when they are empty.
func TestOpenRefusesPartitionDirectoriesPastTheTopic(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	extra := filepath.Join(testDir, "t-1")
	require.NoError(t, mem.MkdirAll(extra, 0o755))
	require.NoError(t, mem.WriteFile(filepath.Join(extra, segmentName(0, logSuffix)), []byte("data")))
	_, err = Open(testDir, testOptions(mem))
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, extra, cerr.Path)
	require.NoError(t, mem.WriteFile(filepath.Join(extra, segmentName(0, logSuffix)), nil))
	l = openTest(t, mem, nil)
	_, err = mem.Stat(extra)
	require.True(t, errors.Is(err, os.ErrNotExist), "the empty directory is removed: %v", err)
}

// A deletion interrupted after its commit point is finished by the next
// Open; CreateTopic under the same name first finishes a deletion that
// failed midway, so none of the old topic's directories survive into the
// new one.
func TestInterruptedDeletionIsFinished(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{Partitions: 4})
	require.NoError(t, err)
	for i := range 4 {
		_, err := mustPartition(t, l, "t", int32(i)).Append(ctx, []Record{{Value: []byte("old")}})
		require.NoError(t, err)
	}
	// The deletion fails removing the third directory.
	removes := 0
	l.fs = vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpRemove && strings.HasPrefix(filepath.Base(path), "t-") {
			if removes++; removes == 3 {
				return syscall.EIO
			}
		}
		return nil
	}), vfs.InjectOptions{})
	require.ErrorIs(t, l.DeleteTopic(ctx, "t"), syscall.EIO)
	l.fs = mem
	require.Empty(t, l.Topics())
	_, err = mem.Stat(filepath.Join(testDir, topicsDir, "t"+topicDeletedSuffix))
	require.NoError(t, err, "the marker stays until the directories are gone")

	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	require.Equal(t, int32(2), tp.NumPartitions())
	require.NoError(t, l.Close())
	for _, fs := range []*vfs.MemFS{mem, crashed} {
		l := openTest(t, fs, nil)
		names, err := fs.List(testDir)
		require.NoError(t, err)
		for _, n := range names {
			require.NotContains(t, []string{"t-2", "t-3"}, n)
		}
		tnames, err := fs.List(filepath.Join(testDir, topicsDir))
		require.NoError(t, err)
		require.NotContains(t, tnames, "t"+topicDeletedSuffix)
		if fs == mem {
			require.Equal(t, []string{"t"}, l.Topics())
			p := mustPartition(t, l, "t", 0)
			require.Equal(t, int64(0), p.EndOffset(), "the new topic starts empty")
		} else {
			require.Empty(t, l.Topics(), "the crashed copy finished the deletion")
		}
		require.NoError(t, l.Close())
	}
}
