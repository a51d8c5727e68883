package commitlog

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
				end := p.activeSegment().Size
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
			end := p.activeSegment().Size
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
	end := p.activeSegment().Size
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
	segs := p.segments()
	require.Greater(t, len(segs), 2)
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
	for i, s := range segs {
		data, err := crashed.ReadFile(s.Path)
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
	require.True(t, logs.logged("INFO cut zeros past the last batch"), "%v", logs.msgs)
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
			first := p.segments()[0].Path
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
				require.NoError(t, writeCheckpoint(mem, filepath.Join(testDir, "t-0"), initialCheckpoint()))
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
			require.True(t, logs.logged("INFO cut zeros past the last batch"), "%v", logs.msgs)
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

// Under SyncNever and SyncInterval the active segment reserves space
// ahead of its data, as far again as the data reaches (at least
// reserveMinStep, at most reserveMaxStep, never past SegmentBytes), so
// that reservations are few; the file's size stays at the end of the
// data. A roll gives back what the sealed segment did not use, and so
// does Close for the active one. SyncAlways reserves nothing: it prepares
// zeros instead.
func TestNonDurableAppendsReserveSpaceAhead(t *testing.T) {
	ctx := context.Background()
	const segmentBytes = 512 << 10
	for _, policy := range []SyncPolicy{SyncNever, SyncInterval, SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			var allocates int
			fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
				if op == vfs.OpAllocate && strings.HasSuffix(path, logSuffix) {
					allocates++ // one appender: no race
				}
				return nil
			}), vfs.InjectOptions{})
			opts := testOptions(fs)
			opts.Sync = policy
			l := openTest(t, fs, opts)
			tp, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentBytes: segmentBytes})
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			value := make([]byte, 3000)
			var want []string
			reservedOnce := false
			for i := range 300 {
				value[0] = byte(i)
				_, err := p.Append(ctx, []Record{{Value: value}})
				require.NoError(t, err)
				want = append(want, string(value))
				s := p.activeSegment()
				end := s.Size
				data, err := mem.ReadFile(s.Path)
				require.NoError(t, err)
				reserved, err := mem.Reserved(s.Path)
				require.NoError(t, err)
				if policy == SyncAlways {
					require.Zero(t, reserved, "append %d", i)
					continue
				}
				require.Len(t, data, int(end), "append %d: the file's size is the end of its data", i)
				require.LessOrEqual(t, reserved, max(end, reserveMinStep), "append %d: reserved at most as much again as the data", i)
				require.LessOrEqual(t, end+reserved, int64(segmentBytes), "append %d: reserved past SegmentBytes", i)
				reservedOnce = reservedOnce || reserved > 0
			}
			segs := p.segments()
			require.Len(t, segs, 2)
			if policy == SyncAlways {
				require.Zero(t, allocates)
			} else {
				require.True(t, reservedOnce)
				// About 64, 128, 256 and 512 KiB, and the few KiB left to
				// SegmentBytes, in the first segment; no more in the
				// second, which holds less: 300 appends, 10 reservations.
				require.LessOrEqual(t, allocates, 10, "reservations grow with the segment")
				reserved, err := mem.Reserved(segs[0].Path)
				require.NoError(t, err)
				require.Zero(t, reserved, "the roll gives back what the sealed segment did not use")
			}
			require.NoError(t, l.Close())
			for _, s := range segs {
				reserved, err := mem.Reserved(s.Path)
				require.NoError(t, err)
				require.Zero(t, reserved, "Close gives back the reserved space")
				data, err := mem.ReadFile(s.Path)
				require.NoError(t, err)
				require.Len(t, data, dataEnd(t, data))
			}
			l = openTest(t, mem, nil)
			requireValues(t, mustPartition(t, l, "t", 0), want...)
		})
	}
}

// A data file's reservation that fails loses nothing: with a full disk
// the append writes as it would without one, and gives back at once what the failed
// reservation may have taken; a file system that cannot reserve is not
// asked again.
func TestFailedReservationsLoseNothing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"disk full", syscall.ENOSPC},
		{"unsupported", errors.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			var allocates, truncates int
			fs := vfs.WithInjector(mem, vfs.InjectorFunc(func(op vfs.Op, path string) error {
				switch {
				case op == vfs.OpAllocate && strings.HasSuffix(path, logSuffix):
					allocates++
					return tc.err
				case op == vfs.OpTruncate && strings.HasSuffix(path, logSuffix):
					truncates++
				}
				return nil
			}), vfs.InjectOptions{})
			opts := testOptions(fs)
			opts.Sync = SyncNever
			l := openTest(t, fs, opts)
			tp, err := l.CreateTopic(ctx, "t", TopicConfig{})
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			var want []string
			for i := range 50 {
				v := strings.Repeat(string(rune('a'+i%26)), 2000)
				_, err := p.Append(ctx, []Record{{Value: []byte(v)}})
				require.NoError(t, err)
				want = append(want, v)
			}
			requireValues(t, p, want...)
			if tc.err == syscall.ENOSPC {
				require.Equal(t, 50, allocates, "each append tries again")
				require.Equal(t, 50, truncates, "each failure gives back what it may have taken")
			} else {
				require.Equal(t, 1, allocates, "asked once")
				require.Zero(t, truncates)
			}
		})
	}
}
