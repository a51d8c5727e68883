package commitlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// smallFileSystem mounts a tmpfs of size bytes on a new directory and
// returns it; the test's cleanup unmounts it. Mounting needs root (CI runs
// as root): otherwise the test is skipped, saying why.
func smallFileSystem(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("mounting a %d-byte tmpfs needs root; running as uid %d", size, os.Geteuid())
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a new ballast file in dir until the file system is
// full, and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "ballast")
	require.NoError(t, err)
	defer f.Close()
	path := f.Name()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	for { // the last partial pages
		if _, err := f.Write(chunk[:512]); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return path
		}
	}
}

// usedBytes returns the bytes in use on the file system holding dir.
func usedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// Regression: on a 64 MiB file system holding one small topic,
// CreateTopic of 64 partitions failed with a raw ENOSPC from the index
// preallocation (10 MiB per index of every open partition), left the
// half-made topic behind, and every later Open failed the same way. Index
// space now grows with the entries: a thousand partitions fit in a few MiB.
// On a full disk CreateTopic fails with ErrDiskFull and leaves nothing,
// Close and Open still work, and everything works again once space is
// freed.
func TestCreateTopicOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := smallFileSystem(t, 64<<20)
	logDir := filepath.Join(dir, "log")
	opts := &Options{CheckpointInterval: time.Hour} // checkpoints only where the test takes them
	l, err := Open(logDir, opts)
	require.NoError(t, err)
	small, err := l.CreateTopic(ctx, "small", TopicConfig{})
	require.NoError(t, err)
	p, _ := small.Partition(0)
	var want []string
	for i := range 100 {
		v := fmt.Sprintf("acknowledged-%d", i)
		_, err := p.Append(ctx, []Record{{Value: []byte(v)}})
		require.NoError(t, err)
		want = append(want, v)
	}

	before := usedBytes(t, dir)
	_, err = l.CreateTopic(ctx, "many", TopicConfig{Partitions: 1000})
	require.NoError(t, err, "a thousand partitions fit in 64 MiB")
	perPartition := (usedBytes(t, dir) - before) / 1000
	t.Logf("an empty partition occupies %d bytes", perPartition)
	require.Less(t, perPartition, int64(32<<10), "an empty partition reserves no index space ahead")
	require.NoError(t, l.DeleteTopic(ctx, "many"))

	ballast := fillDisk(t, dir)
	_, err = l.CreateTopic(ctx, "big", TopicConfig{Partitions: 64})
	require.ErrorIs(t, err, ErrDiskFull)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, []string{"small"}, l.Topics())
	requireNoTopicFiles(t, logDir, "big")
	requireValues(t, p, want...)
	// Close gives back the space prepared ahead of the active segments
	// before it writes their checkpoints (TestCloseOnAFullDisk fails
	// those writes).
	_, err = p.Append(ctx, []Record{{Value: []byte("in prepared space")}})
	require.NoError(t, err)
	want = append(want, "in prepared space")
	ballast2 := fillDisk(t, dir) // what the failed create gave back
	require.NoError(t, l.Close())

	l, err = Open(logDir, opts)
	require.NoError(t, err, "Open never needs space to reserve ahead")
	requireValues(t, mustPartition(t, l, "small", 0), want...)
	require.NoError(t, os.Remove(ballast))
	require.NoError(t, os.Remove(ballast2))
	_, err = l.CreateTopic(ctx, "big", TopicConfig{Partitions: 64})
	require.NoError(t, err)
	_, err = mustPartition(t, l, "small", 0).Append(ctx, []Record{{Value: []byte("after")}})
	require.NoError(t, err)
	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.Close())
}

// requireNoTopicFiles fails if anything of topic is on disk in dir.
func requireNoTopicFiles(t *testing.T, dir, topic string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if name, _, ok := parsePartitionDirName(e.Name()); ok && name == topic {
			t.Errorf("partition directory %s left behind", e.Name())
		}
	}
	entries, err = os.ReadDir(filepath.Join(dir, topicsDir))
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), topic+".") {
			t.Errorf("topic file %s left behind", e.Name())
		}
	}
}

// A full disk on a real file system, under each policy: the append that
// meets it fails with ErrDiskFull and nothing of it is visible, reads keep
// working, appends resume once space is freed without reopening, and a
// reopen finds everything acknowledged.
func TestAppendsOnAFullDisk(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := smallFileSystem(t, 16<<20)
			logDir := filepath.Join(dir, "log")
			opts := &Options{Sync: policy}
			l, err := Open(logDir, opts)
			require.NoError(t, err)
			tp, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentBytes: 1 << 20})
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			// Leave about 4 MiB for the appends.
			ballast := filepath.Join(dir, "ballast")
			require.NoError(t, os.WriteFile(ballast, make([]byte, 12<<20), 0o644))
			var acked []string
			value := func(i int) string { return fmt.Sprintf("%06d-%s", i, strings.Repeat("v", 3000)) }
			i := 0
			for ; ; i++ {
				_, err := p.Append(ctx, []Record{{Value: []byte(value(i))}})
				if err != nil {
					require.ErrorIs(t, err, ErrDiskFull, "append %d", i)
					require.NotErrorIs(t, err, ErrDurability)
					break
				}
				acked = append(acked, value(i))
				require.Less(t, i, 10000, "the disk never filled")
			}
			require.Equal(t, int64(len(acked)), p.EndOffset(), "nothing of the failed append is visible")
			recs, err := p.Read(ctx, p.EndOffset()-1, 1)
			require.NoError(t, err, "reads keep working")
			require.True(t, string(recs[0].Value) == acked[len(acked)-1])
			require.Greater(t, len(acked), 500)
			// Free space the way an operator would: delete other files.
			require.NoError(t, os.Remove(ballast))
			_, err = p.Append(ctx, []Record{{Value: []byte(value(i))}})
			require.NoError(t, err, "appends resume once space is freed")
			acked = append(acked, value(i))
			require.NoError(t, l.Close())

			l, err = Open(logDir, opts)
			require.NoError(t, err)
			defer l.Close()
			p = mustPartition(t, l, "t", 0)
			i = 0
			for r, err := range p.Scan(ctx, 0) {
				require.NoError(t, err)
				require.Less(t, i, len(acked), "offset %d was never acknowledged", r.Offset)
				require.True(t, string(r.Value) == acked[i], "offset %d holds %.10q, acknowledged %.10q", r.Offset, r.Value, acked[i])
				i++
			}
			require.Equal(t, len(acked), i, "acknowledged records missing after reopen")
			require.NoError(t, l.Check(ctx))
		})
	}
}
