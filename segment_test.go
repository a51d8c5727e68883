package commitlog

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// dataEnd returns where the batches of a data file end: its length,
// unless it ends in zeros.
func dataEnd(t *testing.T, data []byte) int {
	t.Helper()
	starts := batchLayout(t, data)
	if len(starts) == 0 {
		return 0
	}
	last := starts[len(starts)-1]
	h, err := record.ParseHeader(data[last:], len(data)-last)
	require.NoError(t, err)
	return last + h.Size()
}

func allZero(b []byte) bool { return !slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) }

// Under SyncAlways the active segment's file is filled with zeros
// prepareStep ahead of its data, once, not at every append; Close trims
// them before its last fsync, so that the closed directory holds
// exact-size files even after a power failure. The other policies prepare
// nothing.
func TestDurableAppendsPrepareSpaceAhead(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			l, p, logWrites := openCountingLogWrites(t, mem, policy)
			path := filepath.Join(testDir, "t-0", segmentName(0, logSuffix))
			for i := range 20 {
				_, err := p.Append(ctx, []Record{{Value: []byte{byte('a' + i)}}})
				require.NoError(t, err)
				data, err := mem.ReadFile(path)
				require.NoError(t, err)
				end := p.active.size.Load()
				require.Equal(t, int(end), dataEnd(t, data))
				if policy == SyncAlways {
					require.Len(t, data, prepareStep, "append %d: the file reaches the prepared end", i)
					require.True(t, allZero(data[end:]), "append %d: the prepared space is zeros", i)
				} else {
					require.Len(t, data, int(end), "append %d: nothing is prepared", i)
				}
			}
			// One write per append, and under SyncAlways one more that
			// prepared the space.
			want := 20
			if policy == SyncAlways {
				want = 21
			}
			require.Equal(t, int64(want), logWrites.Load())
			end := p.active.size.Load()
			require.NoError(t, l.Close())
			for _, fs := range []*vfs.MemFS{mem, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})} {
				data, err := fs.ReadFile(path)
				require.NoError(t, err)
				require.Len(t, data, int(end), "a closed log's data file ends with its data, after a power failure too")
			}
		})
	}
}

// The same on a real file system, where the zeros are written with
// pwrite and the trim is ftruncate.
func TestDurableAppendsPrepareSpaceOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, &Options{})
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("durable")}})
	require.NoError(t, err)
	path := filepath.Join(dir, "t-0", segmentName(0, logSuffix))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, int64(prepareStep), fi.Size())
	end := p.active.size.Load()
	require.NoError(t, l.Close())
	fi, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, end, fi.Size())

	l, err = Open(dir, &Options{})
	require.NoError(t, err)
	defer l.Close()
	requireValues(t, mustPartition(t, l, "t", 0), "durable")
}

// durableRolls opens a SyncAlways log on mem and appends 60 records of
// about 100 bytes, one per append, to topic "t" of smallTopic: several
// segments. It returns the values appended.
func durableRolls(t *testing.T, mem *vfs.MemFS) (*Log, *Partition, []string) {
	t.Helper()
	l := openTest(t, mem, nil)
	tp, err := l.CreateTopic(context.Background(), "t", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	var want []string
	for i := range 60 {
		v := string(rune('a'+i%26)) + string(make([]byte, 100))
		_, err := p.Append(context.Background(), []Record{{Value: []byte(v)}})
		require.NoError(t, err)
		want = append(want, v)
	}
	return l, p, want
}

// A roll trims the sealed segment, and the fsync round that acknowledges
// the next append makes the trim durable: after a power failure every
// sealed segment ends with its data. Recovery cuts the active segment's
// prepared zeros, saying so without a warning, and loses nothing
// acknowledged.
func TestPreparedSpaceAfterRollsAndCrash(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, p, want := durableRolls(t, mem)
	segs := *p.segments.Load()
	require.Greater(t, len(segs), 2)
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	for i, s := range segs {
		data, err := crashed.ReadFile(s.path)
		require.NoError(t, err)
		if i < len(segs)-1 {
			require.Len(t, data, dataEnd(t, data), "sealed segment %d ends with its data", i)
		} else {
			require.Len(t, data, int(smallTopic.SegmentBytes), "the active segment is prepared to SegmentBytes")
		}
	}
	require.NoError(t, l.Close())

	logs := &logRecorder{}
	opts := testOptions(crashed)
	opts.Logger = slog.New(logs)
	l = openTest(t, crashed, opts)
	defer l.Close()
	requireValues(t, mustPartition(t, l, "t", 0), want...)
	require.True(t, logs.logged("INFO commitlog: cut zeros past the last batch"), "%v", logs.msgs)
	require.False(t, logs.logged("WARN"), "%v", logs.msgs)
	require.NoError(t, l.Check(ctx))
}

// A sealed segment whose trim was lost (an fsync failed, and the Log was
// reopened) ends in zeros. When the next segment starts right after its
// last batch nothing is missing: recovery cuts the zeros and keeps every
// segment, whether the segment is below the recovery point (checked
// cheaply) or above it (scanned). When batches are missing too, it is
// corruption below the recovery point.
func TestRecoveryCutsZerosPastASealedSegment(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		checkpoint    bool // keep the checkpoint: the segment is below the recovery point
		loseLastBatch bool
	}{
		{"below the recovery point", true, false},
		{"above the recovery point", false, false},
		{"below the recovery point, a batch lost", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			l, p, want := durableRolls(t, mem)
			first := (*p.segments.Load())[0].path
			require.NoError(t, l.Close())

			data, err := mem.ReadFile(first)
			require.NoError(t, err)
			exact := len(data)
			if tc.loseLastBatch {
				starts := batchLayout(t, data)
				clear(data[starts[len(starts)-1]:])
			}
			require.NoError(t, mem.WriteFile(first, append(data, make([]byte, int(smallTopic.SegmentBytes)-len(data))...)))
			if !tc.checkpoint {
				require.NoError(t, mem.Remove(filepath.Join(testDir, "t-0", checkpointName)))
			}

			logs := &logRecorder{}
			opts := testOptions(mem)
			opts.Logger = slog.New(logs)
			l, err = Open(testDir, opts)
			if tc.loseLastBatch {
				require.ErrorIs(t, err, ErrCorrupt)
				return
			}
			require.NoError(t, err)
			defer l.Close()
			requireValues(t, mustPartition(t, l, "t", 0), want...)
			require.True(t, logs.logged("INFO commitlog: cut zeros past the last batch"), "%v", logs.msgs)
			require.False(t, logs.logged("torn"), "%v", logs.msgs)
			require.NoError(t, l.Check(ctx))
			require.NoError(t, l.Close())
			for _, fs := range []*vfs.MemFS{mem, mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})} {
				data, err := fs.ReadFile(first)
				require.NoError(t, err)
				require.Len(t, data, exact, "the cut is durable")
			}
		})
	}
}
