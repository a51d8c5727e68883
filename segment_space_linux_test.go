package commitlog

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// On a real file system the reservation is fallocate with
// FALLOC_FL_KEEP_SIZE: the segment occupies more than its size while the
// Log is open, and its size once closed. Space reserved by a process
// that died before it could give it back is given back by the next
// Close.
func TestNonDurableAppendsReserveSpaceOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, &Options{Sync: SyncNever})
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i].Value = make([]byte, 100)
	}
	_, err = p.Append(ctx, recs)
	require.NoError(t, err)
	path := filepath.Join(dir, "t-0", segmentName(0, logSuffix))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	size := fi.Size()
	require.Equal(t, p.activeSegment().Size, size, "the file's size is the end of its data")
	if p.activeSegment().NoReserve {
		t.Skipf("the file system of %s cannot reserve space", dir)
	}
	require.GreaterOrEqual(t, diskBytes(t, path), size+reserveMinStep, "reserved past the batch")
	require.NoError(t, l.Close())
	exact := diskBytes(t, path)
	require.Less(t, exact, size+4096, "Close gives the reserved space back")

	// What a process killed after reserving leaves behind.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, size, 8<<20))
	require.NoError(t, f.Close())
	require.Greater(t, diskBytes(t, path), size+8<<20-4096)

	l, err = Open(dir, &Options{Sync: SyncNever})
	require.NoError(t, err)
	p = mustPartition(t, l, "t", 0)
	got, err := p.Read(ctx, 0, 1<<20)
	require.NoError(t, err)
	require.Len(t, got, len(recs))
	require.NoError(t, l.Close())
	require.Equal(t, exact, diskBytes(t, path), "the next Close gives back space reserved before a crash")
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, size, fi.Size())
}
