package commitlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// TestFailEveryOperation fails the i-th mutating file operation of the
// crash workload, for every i, with EIO and then with ENOSPC (short writes
// included). The workload must either finish or stop with a clean, typed
// error — never panic, never acknowledge what it did not keep — and the
// directory must then reopen with every acknowledged record in place, both
// as it is (a process restart) and after a power failure that keeps only
// what was fsynced.
func TestFailEveryOperation(t *testing.T) {
	counter := vfs.OnIndex(-1, vfs.Op.Mutating, nil)
	require.NoError(t, crashWorkload(vfs.WithInjector(vfs.NewMem(), counter, vfs.InjectOptions{}), newHistory(), 24, SyncAlways, 1))
	total := counter.Count()
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		failures := 0
		for i := int64(0); i < total; i++ {
			mem := vfs.NewMem()
			inj := vfs.OnIndex(i, vfs.Op.Mutating, errno)
			h := newHistory()
			err := crashWorkload(vfs.WithInjector(mem, inj, vfs.InjectOptions{ShortWrites: true}), h, 24, SyncAlways, 1)
			what := fmt.Sprintf("%v at mutating operation %d", errno, i)
			require.True(t, inj.Fired(), what)
			if err != nil {
				failures++
				require.ErrorIs(t, err, errno, "%s: the cause must stay visible", what)
				if errno == syscall.ENOSPC {
					require.True(t, errors.Is(err, ErrDiskFull) || errors.Is(err, ErrDurability) || !errors.Is(err, ErrCorrupt), what)
				}
			}
			attempted := h.attemptedByID()
			acked := h.snapshotDurable()
			checkReopened(t, mem, attempted, acked, what+", reopened as is")
			checkReopened(t, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0}), attempted, acked, what+", after power loss")
		}
		require.Positive(t, failures, "some injected %v must surface", errno)
		t.Logf("%v: %d operations failed in turn, %d surfaced as errors", errno, total, failures)
	}
}

// checkReopened opens fs and checks that every acknowledged batch is
// present and the log is a prefix of what was attempted.
func checkReopened(t *testing.T, fs *vfs.MemFS, attempted []batchSpec, acked map[int]AppendResult, what string) {
	t.Helper()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	defer l.Close()
	p := mustPartitionErr(l, "crash")
	if p == nil {
		require.Empty(t, acked, "%s: topic missing but records were acknowledged", what)
		return
	}
	t.Run("", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				t.Log(what)
			}
		}()
		verifyPartition(t, p, attempted, acked)
		require.NoError(t, l.Check(context.Background()))
	})
}

// A full disk fails the append that needs space with ErrDiskFull, leaves
// nothing of it visible, and appends work again once there is space —
// without reopening. Space a segment prepared before the disk filled
// still takes appends.
func TestDiskFullThenSpace(t *testing.T) {
	ctx := context.Background()
	disk := newFullDisk(vfs.NewMem())
	l := openTest(t, disk, nil)
	tp, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("before")}})
	require.NoError(t, err)

	disk.setFull(true)
	_, err = p.Append(ctx, []Record{{Value: make([]byte, 2500)}})
	require.NoError(t, err, "the segment prepared space for this batch before the disk filled")
	// The next batch does not fit the segment (4 KiB): it needs a new
	// segment, and space nobody reserved.
	_, err = p.Append(ctx, []Record{{Value: make([]byte, 2500)}})
	require.ErrorIs(t, err, ErrDiskFull)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NotErrorIs(t, err, ErrDurability)
	require.Equal(t, int64(2), p.EndOffset(), "nothing of the failed batch is visible")
	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err, "reads keep working")
	require.Len(t, recs, 2)

	disk.setFull(false)
	res, err := p.Append(ctx, []Record{{Value: []byte("after")}})
	require.NoError(t, err, "appends resume once there is space")
	require.Equal(t, int64(2), res.BaseOffset)
	// Roll a few segments while the disk fills and frees again: every
	// batch needs a segment of its own.
	for i := 0; i < 20; i++ {
		full := i%3 == 1
		disk.setFull(full)
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 2500)}})
		if full {
			require.ErrorIs(t, err, ErrDiskFull, "append %d", i)
		} else {
			require.NoError(t, err, "append %d", i)
		}
	}
	disk.setFull(false)
	require.NoError(t, l.Check(ctx))
}

// Under SyncNever a full disk fails the append that needs space beyond
// what the segment reserved, cleanly, after the appends that still fit in
// the reserved space succeed; appends resume once there is space.
func TestDiskFullWithReservedSpace(t *testing.T) {
	ctx := context.Background()
	disk := newFullDisk(vfs.NewMem())
	opts := testOptions(disk)
	opts.Sync = SyncNever
	l := openTest(t, disk, opts)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	value := make([]byte, 1000)
	_, err = p.Append(ctx, []Record{{Value: value}}) // reserves reserveMinStep past itself
	require.NoError(t, err)

	disk.setFull(true)
	var appended, failed int
	for range 2 * reserveMinStep / len(value) {
		_, err := p.Append(ctx, []Record{{Value: value}})
		if err == nil {
			require.Zero(t, failed, "an append succeeded after one failed for lack of space")
			appended++
			continue
		}
		require.ErrorIs(t, err, ErrDiskFull)
		require.NotErrorIs(t, err, ErrDurability)
		failed++
	}
	require.Greater(t, appended, reserveMinStep/len(value)/2, "appends into the reserved space succeed")
	require.Positive(t, failed, "appends past it fail")
	require.Equal(t, int64(1+appended), p.EndOffset())

	disk.setFull(false)
	_, err = p.Append(ctx, []Record{{Value: []byte("after")}})
	require.NoError(t, err)
	require.NoError(t, l.Check(ctx))
	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, appended+2)
}

// fullDisk is a file system that can run out of space. When full,
// writes fail with ENOSPC past the end of each file and of the space
// reserved for it, after writing what fits, and reservations fail, as on
// a real file system: space a file already has (its size, or what
// Allocate reserved and Truncate has not given back) can still be
// written.
type fullDisk struct {
	vfs.FS
	mu   sync.Mutex
	full bool
}

func newFullDisk(fs vfs.FS) *fullDisk { return &fullDisk{FS: fs} }

func (d *fullDisk) setFull(full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.full = full
}

func (d *fullDisk) Create(name string) (vfs.File, error) {
	f, err := d.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &fullDiskFile{File: f, disk: d, name: name}, nil
}

func (d *fullDisk) OpenReadWrite(name string) (vfs.File, error) {
	f, err := d.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &fullDiskFile{File: f, disk: d, name: name}, nil
}

type fullDiskFile struct {
	vfs.File
	disk     *fullDisk
	name     string
	reserved atomic.Int64 // where space reserved with Allocate ends
}

func (f *fullDiskFile) isFull() bool {
	f.disk.mu.Lock()
	defer f.disk.mu.Unlock()
	return f.disk.full
}

func (f *fullDiskFile) Allocate(off, n int64) error {
	if f.isFull() {
		return &os.PathError{Op: "fallocate", Path: f.name, Err: syscall.ENOSPC}
	}
	if err := f.File.Allocate(off, n); err != nil {
		return err
	}
	if end := off + n; end > f.reserved.Load() {
		f.reserved.Store(end)
	}
	return nil
}

func (f *fullDiskFile) Truncate(size int64) error {
	f.reserved.Store(0)
	return f.File.Truncate(size)
}

func (f *fullDiskFile) WriteAt(p []byte, off int64) (int, error) {
	full := f.isFull()
	allocated, err := f.File.Size()
	if err != nil {
		return 0, err
	}
	allocated = max(allocated, f.reserved.Load())
	if !full || off+int64(len(p)) <= allocated {
		return f.File.WriteAt(p, off)
	}
	n := 0
	if fits := allocated - off; fits > 0 {
		n, _ = f.File.WriteAt(p[:fits], off)
	}
	return n, &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
}

// A failed fsync fails the partition: the append in flight and every later
// one get ErrDurability, reads keep working, and reopening recovers.
func TestFsyncFailureFailsPartition(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var failSync bool
	inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if failSync && op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	l, p := openWithKeptRecord(t, vfs.WithInjector(mem, inj, vfs.InjectOptions{}))

	failSync = true
	_, err := p.Append(ctx, []Record{{Value: []byte("lost")}})
	var derr *DurabilityError
	require.ErrorAs(t, err, &derr)
	require.ErrorIs(t, err, ErrDurability)
	require.ErrorIs(t, err, syscall.EIO)
	require.Equal(t, "sync", derr.Op)
	failSync = false // the disk "recovers": the partition must not

	_, err = p.Append(ctx, []Record{{Value: []byte("refused")}})
	require.ErrorIs(t, err, ErrDurability, "no retry-and-continue after a failed fsync")
	require.Equal(t, int64(1), p.HighWatermark(), "nothing unsynced becomes visible")
	recs, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "kept", string(recs[0].Value))
	l.Close()

	// After a power failure only what was fsynced is there; the failed
	// fsync's data never becomes durable, even if a later fsync succeeds.
	l, err = Open(testDir, testOptions(mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})))
	require.NoError(t, err)
	defer l.Close()
	p = mustPartitionErr(l, "t")
	recs, err = p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "kept", string(recs[0].Value))
	_, err = p.Append(ctx, []Record{{Value: []byte("new")}})
	require.NoError(t, err, "reopening clears the failed state")
}

// A failed write of the staged batches fails the partition like a failed
// fsync: the appends waiting for the round get ErrDurability, and what was
// acknowledged before survives a power failure.
func TestStagedWriteFailureFailsPartition(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	var failWrites atomic.Bool
	fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if failWrites.Load() && op == vfs.OpWrite && strings.HasSuffix(path, logSuffix) {
			return syscall.EIO
		}
		return nil
	}), vfs.InjectOptions{ShortWrites: true})
	l, p := openWithKeptRecord(t, fs)

	failWrites.Store(true)
	_, err := p.Append(ctx, []Record{{Value: []byte("lost")}})
	var derr *DurabilityError
	require.ErrorAs(t, err, &derr)
	require.ErrorIs(t, err, syscall.EIO)
	require.Equal(t, "write", derr.Op)
	failWrites.Store(false)
	_, err = p.Append(ctx, []Record{{Value: []byte("refused")}})
	require.ErrorIs(t, err, ErrDurability)
	require.Equal(t, int64(1), p.HighWatermark(), "the failed round's batch never becomes visible")
	l.Close()

	l, err = Open(testDir, testOptions(mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})))
	require.NoError(t, err)
	defer l.Close()
	requireValues(t, mustPartition(t, l, "t", 0), "kept")
}

// openWithKeptRecord opens a Log on fs (closed by the caller) with a topic
// "t" whose partition holds one acknowledged record, "kept".
func openWithKeptRecord(t *testing.T, fs vfs.FS) (*Log, *Partition) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("kept")}})
	require.NoError(t, err)
	return l, p
}

// A partition's first append writes its leader-epoch file before the
// batch. A failure of any of that file's operations (the temporary
// file's create, write and fsync, the rename, the directory's fsync)
// fails the append cleanly with a typed error that keeps the cause:
// ErrDiskFull for lack of space, the partition usable; a
// *DurabilityError otherwise. Nothing of the append is visible, nothing
// acknowledged elsewhere is lost, and the directory reopens, as it is and
// after a power failure, with the append possible again.
func TestLeaderEpochFileFaults(t *testing.T) {
	ctx := context.Background()
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		for k := 0; ; k++ {
			mem := vfs.NewMem()
			var armed atomic.Bool
			var seen, fired atomic.Int64
			afterRename := false
			fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
				if !armed.Load() || !op.Mutating() {
					return nil
				}
				epochFile := strings.HasPrefix(filepath.Base(path), leaderEpochsName)
				if !epochFile && !(op == vfs.OpSyncDir && afterRename) {
					return nil
				}
				afterRename = op == vfs.OpRename
				if seen.Add(1)-1 == int64(k) {
					fired.Add(1)
					return errno
				}
				return nil
			}), vfs.InjectOptions{ShortWrites: true})
			l, err := Open(testDir, testOptions(fs))
			require.NoError(t, err)
			tp, err := l.CreateTopic(ctx, "t", TopicConfig{Partitions: 2})
			require.NoError(t, err)
			kept, _ := tp.Partition(0)
			_, err = kept.Append(ctx, []Record{{Value: []byte("kept")}})
			require.NoError(t, err)
			p, _ := tp.Partition(1)
			armed.Store(true)
			_, err = p.Append(ctx, []Record{{Value: []byte("first")}})
			armed.Store(false)
			if fired.Load() == 0 {
				require.NoError(t, err)
				require.GreaterOrEqual(t, k, 5, "create, write, sync, rename, sync dir")
				require.NoError(t, l.Close())
				break
			}
			what := fmt.Sprintf("%v at operation %d of the leader-epoch file", errno, k)
			require.Error(t, err, what)
			require.ErrorIs(t, err, errno, "%s: the cause stays visible", what)
			if errno == syscall.ENOSPC {
				require.ErrorIs(t, err, ErrDiskFull, what)
				require.NotErrorIs(t, err, ErrDurability, what)
			} else {
				var derr *DurabilityError
				require.ErrorAs(t, err, &derr, what)
			}
			require.Equal(t, int64(0), p.EndOffset(), "%s: nothing appended", what)
			if errno == syscall.ENOSPC {
				_, err = p.Append(ctx, []Record{{Value: []byte("first")}})
				require.NoError(t, err, "%s: the partition stays usable", what)
			}
			require.NoError(t, l.Close(), what)
			for _, state := range []*vfs.MemFS{mem, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})} {
				l, err := Open(testDir, testOptions(state))
				require.NoError(t, err, what)
				requireValues(t, mustPartition(t, l, "t", 0), "kept")
				q := mustPartition(t, l, "t", 1)
				_, err = q.Append(ctx, []Record{{Value: []byte("again")}})
				require.NoError(t, err, what)
				require.NoError(t, l.Check(ctx), what)
				require.NoError(t, l.Close())
			}
		}
	}
}
