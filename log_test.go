package commitlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestOpenCreatesAndReopens(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b") // parents are created too
	l, err := Open(dir, nil)
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3, SegmentBytes: 1 << 20})
	require.NoError(t, err)
	for id := int32(0); id < 3; id++ {
		p, err := tp.Partition(id)
		require.NoError(t, err)
		_, err = p.Append(ctx, []Record{{Key: []byte{byte(id)}, Value: []byte(fmt.Sprint(id))}})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	for _, name := range []string{"LOCK", "topics/orders.json", "orders-0/00000000000000000000.log",
		"orders-0/00000000000000000000.index", "orders-0/00000000000000000000.timeindex", "orders-2/checkpoint"} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
	}

	l, err = Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, []string{"orders"}, l.Topics())
	tp, err = l.Topic("orders")
	require.NoError(t, err)
	require.Equal(t, int32(3), tp.NumPartitions())
	require.Equal(t, int64(1<<20), tp.Config().SegmentBytes, "the configuration is persisted")
	for id := int32(0); id < 3; id++ {
		p, _ := tp.Partition(id)
		recs, err := p.Read(ctx, 0, 100)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(id), string(recs[0].Value))
	}
	require.NoError(t, l.Check(ctx))
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, nil)
	require.NoError(t, err)
	_, err = Open(dir, nil)
	require.ErrorIs(t, err, ErrLocked, "a second Log in the same process")
	require.NoError(t, l.Close())
	l, err = Open(dir, nil)
	require.NoError(t, err, "Close releases the lock")
	defer l.Close()

	// Another process cannot open it either.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedChildProcess$")
	cmd.Env = append(os.Environ(), "COMMITLOG_LOCK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "child: locked")
}

// TestLockedChildProcess runs only as TestOpenLocked's child process.
func TestLockedChildProcess(t *testing.T) {
	dir := os.Getenv("COMMITLOG_LOCK_CHILD")
	if dir == "" {
		return // run as a child of TestOpenLocked only
	}
	_, err := Open(dir, nil)
	if errors.Is(err, ErrLocked) {
		fmt.Println("child: locked")
		return
	}
	t.Fatalf("child: Open returned %v, want ErrLocked", err)
}

func TestOpenRejectsInvalidOptions(t *testing.T) {
	_, err := Open(t.TempDir(), &Options{Sync: 7, SyncInterval: -1, TopicDefaults: TopicConfig{SegmentBytes: 10, Partitions: -2}})
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.Len(t, cerr.Problems, 4, "every problem is listed: %v", cerr.Problems)
	for _, want := range []string{"Sync", "SyncInterval", "TopicDefaults.SegmentBytes", "TopicDefaults.Partitions"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestOpenDoesNotModifyOptions(t *testing.T) {
	opts := &Options{}
	l, err := Open(t.TempDir(), opts)
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, Options{}, *opts)
}

func TestDeleteTopic(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	tp, err := l.CreateTopic(ctx, "doomed", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	p, _ := tp.Partition(1)
	_, err = p.Append(ctx, []Record{{Value: []byte("x")}})
	require.NoError(t, err)
	require.NoError(t, l.DeleteTopic(ctx, "doomed"))

	_, err = l.Topic("doomed")
	require.ErrorIs(t, err, ErrUnknownTopic)
	_, err = p.Append(ctx, []Record{{Value: []byte("y")}})
	require.ErrorIs(t, err, ErrUnknownTopic, "a handle to a deleted topic says so")
	_, err = p.Read(ctx, 0, 10)
	require.ErrorIs(t, err, ErrUnknownTopic)
	for _, err := range p.Scan(ctx, 0) {
		require.ErrorIs(t, err, ErrUnknownTopic)
	}
	require.ErrorIs(t, l.DeleteTopic(ctx, "doomed"), ErrUnknownTopic)
	names, err := mem.List(testDir)
	require.NoError(t, err)
	for _, n := range names {
		require.False(t, strings.HasPrefix(n, "doomed-"), "partition directory %s left behind", n)
	}

	// The name can be reused, starting empty.
	tp, err = l.CreateTopic(ctx, "doomed", TopicConfig{})
	require.NoError(t, err)
	p, _ = tp.Partition(0)
	require.Equal(t, int64(0), p.EndOffset())
}

func TestCreateTopicErrors(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	_, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{})
	require.ErrorIs(t, err, ErrTopicExists)
	_, err = l.CreateTopic(ctx, "bad name", TopicConfig{})
	require.ErrorIs(t, err, ErrInvalidTopicName)
	_, err = l.CreateTopic(ctx, "u", TopicConfig{MaxBatchBytes: 10000, SegmentBytes: 5000})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = l.Topic("missing")
	require.ErrorIs(t, err, ErrUnknownTopic)
	tp, _ := l.Topic("t")
	_, err = tp.Partition(1)
	require.ErrorIs(t, err, ErrUnknownPartition)
	_, err = tp.Partition(-1)
	require.ErrorIs(t, err, ErrUnknownPartition)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.CreateTopic(cctx, "v", TopicConfig{})
	require.ErrorIs(t, err, context.Canceled)
}

// A crash during CreateTopic leaves partition directories without topic
// metadata, which hold no data (an empty first segment and a checkpoint
// at offset 0, or nothing at all): Open removes them. Directories
// holding data are never removed (see
// TestOpenRefusesPartitionDirectoriesWithoutTopicMetadata).
func TestOpenRemovesLeftoverPartitionDirectories(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "kept", TopicConfig{Partitions: 1})
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "fresh", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	// "fresh" as an interrupted create leaves it: prepared, no metadata.
	require.NoError(t, mem.Remove(filepath.Join(testDir, topicsDir, "fresh.json")))
	for _, d := range []string{"ghost-0", "ghost-1", "kept-1"} {
		require.NoError(t, mem.MkdirAll(filepath.Join(testDir, d), 0o755))
		require.NoError(t, mem.WriteFile(filepath.Join(testDir, d, segmentName(0, logSuffix)), nil))
	}
	require.NoError(t, mem.MkdirAll(filepath.Join(testDir, "not-a-partition-dir"), 0o755))

	l = openTest(t, mem, nil)
	names, err := mem.List(testDir)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"LOCK", "producer-ids", "topics", "kept-0", "not-a-partition-dir"}, names)
	require.Equal(t, []string{"kept"}, l.Topics())
}

func TestOpenRefusesDamagedMetadata(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// A missing partition directory is lost data, not an empty partition.
	broken := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, broken.RemoveAll(filepath.Join(testDir, "t-1")))
	_, err = Open(testDir, testOptions(broken))
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Contains(t, cerr.Path, "t-1")

	// Damaged topic metadata names the file.
	broken = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	path := filepath.Join(testDir, topicsDir, "t.json")
	b, err := broken.ReadFile(path)
	require.NoError(t, err)
	b[5] ^= 1
	require.NoError(t, broken.WriteFile(path, b))
	_, err = Open(testDir, testOptions(broken))
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, path, cerr.Path)
}

func TestSegmentFilesAreKafkaNamed(t *testing.T) {
	require.Equal(t, "00000000000000368769.index", segmentName(368769, indexSuffix))
	base, ok := parseSegmentName("00000000000000368769.log", logSuffix)
	require.True(t, ok)
	require.Equal(t, int64(368769), base)
	for _, bad := range []string{"368769.log", "0000000000000036876x.log", "00000000000000368769.index", "-0000000000000368769.log"} {
		_, ok := parseSegmentName(bad, logSuffix)
		require.False(t, ok, bad)
	}
}

// Close while appenders, readers and Check run: nothing panics or hangs,
// calls in flight finish or fail with ErrClosed, and every append that
// succeeded is there after reopening.
func TestCloseDuringTraffic(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "busy", TopicConfig{Partitions: 2, SegmentBytes: 4096, SegmentIndexBytes: 1024})
	require.NoError(t, err)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acked   = map[int32][]int64{}
		started = make(chan struct{}, 8)
	)
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			p, _ := tp.Partition(int32(w % 2))
			for i := 0; ; i++ {
				res, err := p.Append(ctx, []Record{{Value: []byte(fmt.Sprintf("w%d-%d", w, i))}})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("append: %v", err)
					}
					return
				}
				mu.Lock()
				acked[p.ID()] = append(acked[p.ID()], res.BaseOffset)
				mu.Unlock()
				if i == 20 {
					started <- struct{}{}
				}
			}
		})
	}
	for r := 0; r < 2; r++ {
		wg.Go(func() {
			p, _ := tp.Partition(int32(r))
			for _, err := range p.Follow(ctx, 0) {
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("follow: %v", err)
					}
					return
				}
			}
		})
	}
	wg.Go(func() {
		for {
			if err := l.Check(ctx); err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("check: %v", err)
				}
				return
			}
		}
	})
	for i := 0; i < 4; i++ {
		<-started
	}
	require.NoError(t, l.Close())
	wg.Wait()

	l = openTest(t, mem, nil)
	for id, offs := range acked {
		p := mustPartition(t, l, "busy", id)
		for _, off := range offs {
			require.Less(t, off, p.EndOffset(), "acknowledged offset %d of partition %d lost", off, id)
		}
	}
}

// Regression: Close on a full disk returned untyped ENOSPC errors from
// the checkpoints it writes. They match ErrDiskFull, and nothing
// acknowledged is lost: the next Open recovers from the last checkpoint
// that was written.
func TestCloseOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	disk := newFullDisk(vfs.NewMem())
	l, err := Open(testDir, testOptions(disk))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
	require.NoError(t, err)
	for i := range 2 {
		p, _ := tp.Partition(int32(i))
		_, err := p.Append(ctx, []Record{{Value: []byte(fmt.Sprint("acknowledged ", i))}})
		require.NoError(t, err)
	}
	disk.setFull(true)
	err = l.Close()
	require.ErrorIs(t, err, ErrDiskFull)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, l.Close(), "a second Close is a no-op")

	disk.setFull(false)
	l = openTest(t, disk, nil)
	for i := range 2 {
		requireValues(t, mustPartition(t, l, "t", int32(i)), fmt.Sprint("acknowledged ", i))
	}
}
