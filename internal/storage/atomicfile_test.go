package storage

import (
	"os"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// WriteFileAtomic replaces a file so that any crash leaves either the old
// contents or the new, and no temporary file once it returns.
func TestWriteFileAtomic(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, MkdirAllDurable(mem, "/d"))
	require.NoError(t, WriteFileAtomic(mem, "/d/meta.json", []byte("old")))
	require.NoError(t, WriteFileAtomic(mem, "/d/meta.json", []byte("new contents")))
	names, err := mem.List("/d")
	require.NoError(t, err)
	require.Equal(t, []string{"meta.json"}, names)
	b, err := ReadFile(mem.CrashClone(vfs.CrashOptions{}), "/d/meta.json")
	require.NoError(t, err)
	require.Equal(t, "new contents", string(b), "durable once it returns")

	// A crash before any step of a replacement, with any part of what
	// was not yet synced surviving, leaves the old contents or the new.
	fs := &crashEveryStep{MemFS: mem}
	require.NoError(t, WriteFileAtomic(fs, "/d/meta.json", []byte("newest")))
	require.GreaterOrEqual(t, len(fs.crashes), 5*crashesPerStep, "create, write, sync, rename, sync dir")
	for i, crashed := range fs.crashes {
		b, err := ReadFile(crashed, "/d/meta.json")
		require.NoError(t, err, "crash before step %d", i/crashesPerStep)
		require.Contains(t, []string{"new contents", "newest"}, string(b), "crash before step %d", i/crashesPerStep)
	}
}

// crashesPerStep is how many crash states crashEveryStep takes at a step.
const crashesPerStep = 8

// crashEveryStep is a MemFS that takes crash states of itself (every
// unsynced change kept, and random subsets of them, torn) before every
// write, sync and namespace change made through it.
type crashEveryStep struct {
	*vfs.MemFS
	crashes []*vfs.MemFS
}

func (c *crashEveryStep) step() {
	c.crashes = append(c.crashes, c.MemFS.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}))
	for seed := range int64(crashesPerStep - 1) {
		c.crashes = append(c.crashes, c.MemFS.CrashClone(vfs.CrashOptions{Seed: seed, KeepUnsynced: 0.5, Tear: true}))
	}
}

func (c *crashEveryStep) Create(name string) (vfs.File, error) {
	c.step()
	f, err := c.MemFS.Create(name)
	return &crashEveryStepFile{File: f, c: c}, err
}

func (c *crashEveryStep) Rename(from, to string) error { c.step(); return c.MemFS.Rename(from, to) }
func (c *crashEveryStep) SyncDir(dir string) error     { c.step(); return c.MemFS.SyncDir(dir) }

type crashEveryStepFile struct {
	vfs.File
	c *crashEveryStep
}

func (f *crashEveryStepFile) WriteAt(b []byte, off int64) (int, error) {
	f.c.step()
	return f.File.WriteAt(b, off)
}

func (f *crashEveryStepFile) Sync() error { f.c.step(); return f.File.Sync() }

// ReadFileMax refuses a file larger than its limit with ErrFileTooLarge.
func TestReadFileMax(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, mem.WriteFile("/f", make([]byte, 100)))
	b, err := ReadFileMax(mem, "/f", 100)
	require.NoError(t, err)
	require.Len(t, b, 100)
	_, err = ReadFileMax(mem, "/f", 99)
	require.ErrorIs(t, err, ErrFileTooLarge)
	_, err = ReadFile(mem, "/missing")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, mem.WriteFile("/empty", nil))
	b, err = ReadFile(mem, "/empty")
	require.NoError(t, err)
	require.Empty(t, b)
}

// MkdirAllDurable's directories survive a crash right after it.
func TestMkdirAllDurable(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, MkdirAllDurable(mem, "/a/b/c"))
	require.NoError(t, MkdirAllDurable(mem, "/a/b/c"), "existing: nothing to do")
	crashed := mem.CrashClone(vfs.CrashOptions{})
	st, err := crashed.Stat("/a/b/c")
	require.NoError(t, err)
	require.True(t, st.IsDir())

	// Plain MkdirAll is not durable: the check above can fail.
	plain := vfs.NewMem()
	require.NoError(t, plain.MkdirAll("/a/b/c", 0o755))
	_, err = plain.CrashClone(vfs.CrashOptions{}).Stat("/a/b/c")
	require.ErrorIs(t, err, os.ErrNotExist)
}
