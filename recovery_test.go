package commitlog

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// The active segment's indexes keep their entries however often the Log
// is reopened and closed without appends: the checkpoint each Open writes
// records how many entries recovery kept, and the next Open keeps that
// many.
func TestReopenKeepsActiveSegmentIndexes(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{IndexIntervalBytes: 256})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	for i := range 20 {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 300)}})
		require.NoError(t, err, "append %d", i)
	}
	offsets, times := p.active.offsets().count(), p.active.times().count()
	require.Positive(t, offsets)
	require.Positive(t, times)
	require.NoError(t, l.Close())

	for i := range 3 {
		l, err = Open(testDir, testOptions(mem))
		require.NoError(t, err)
		p = mustPartition(t, l, "t", 0)
		require.Equal(t, offsets, p.active.offsets().count(), "offset index entries after reopen %d", i)
		require.Equal(t, times, p.active.times().count(), "time index entries after reopen %d", i)
		require.NoError(t, l.Close())
	}
}

// FuzzCheckpointLoad gives recovery checkpoints that pass their own checks
// (fuzzed bytes with a valid CRC) but may say anything about the data: a
// recovery point inside a batch or past the end, a log start above the
// end, index entry counts the indexes do not have, any times. Open must
// not panic and must either fail with ErrCorrupt or produce a log that
// reads and checks cleanly and opens again at the same end, all within
// the openAlloc bounds. The partition has sealed segments and an active
// one, so the checkpoint's segment may be either. The work is bounded as
// in FuzzRecoveryScan: the checkpoint's counts are compared with, never
// used to size or drive, what recovery reads.
func FuzzCheckpointLoad(f *testing.F) {
	ctx := context.Background()
	base := vfs.NewMem()
	l, err := Open(testDir, testOptions(base))
	require.NoError(f, err)
	cfg := smallTopic // 4 KiB segments
	cfg.IndexIntervalBytes = 100
	tp, err := l.CreateTopic(ctx, "f", cfg)
	require.NoError(f, err)
	p, _ := tp.Partition(0)
	appendBatches(f, p, rand.New(rand.NewPCG(5, 5)), 0, 40, 3, 60)
	require.NoError(f, l.Close())
	dir := filepath.Join(testDir, "f-0")
	path := filepath.Join(dir, checkpointName)
	real, err := base.ReadFile(path)
	require.NoError(f, err)
	c, err := unmarshalCheckpoint(real)
	require.NoError(f, err)
	size := 0
	names, err := base.List(dir)
	require.NoError(f, err)
	segments := 0
	for _, n := range names {
		b, err := base.ReadFile(filepath.Join(dir, n))
		require.NoError(f, err)
		size += len(b)
		if strings.HasSuffix(n, logSuffix) {
			segments++
		}
	}
	require.GreaterOrEqual(f, segments, 2)

	f.Add(real)
	for _, change := range []func(c *checkpoint){
		func(c *checkpoint) { c.position++ },
		func(c *checkpoint) { c.position-- },
		func(c *checkpoint) { c.position = 0; c.recoveryOffset = c.segmentBase },
		func(c *checkpoint) { c.recoveryOffset++ },
		func(c *checkpoint) { c.logStartOffset = c.recoveryOffset + 1 },
		func(c *checkpoint) { c.cleanerOffset = 1 << 62 },
		func(c *checkpoint) { c.offsetEntries, c.timeEntries = 1<<40, 1<<40 },
		func(c *checkpoint) { c.activeCreated = 1 << 62 },
		func(c *checkpoint) { c.activeBase = c.segmentBase + 1 },
		func(c *checkpoint) { c.segmentBase, c.activeBase = 0, 0 },
		func(c *checkpoint) { c.maxTimestamp, c.offsetOfMaxTimestamp = -1<<63, -1 },
	} {
		d := c
		change(&d)
		f.Add(d.marshal())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, fixCRC(data)} {
			if _, err := unmarshalCheckpoint(in); err != nil {
				continue // read as no checkpoint: FuzzRecoveryScan's case
			}
			var mem *vfs.MemFS
			setup := func() {
				mem = cloneMem(base)
				require.NoError(t, mem.WriteFile(path, in))
			}
			var (
				end    int64
				opened bool
			)
			alloctest.Check(t, openAllocFixed+openAllocPerByte*uint64(size), setup, func() { end, opened = openFuzzed(t, mem) })
			if !opened {
				continue
			}
			again, opened := openFuzzed(t, mem)
			require.True(t, opened, "a log that opened once must open again")
			require.Equal(t, end, again, "recovery is idempotent")
		}
	})
}
