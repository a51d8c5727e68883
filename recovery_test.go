package commitlog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
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
	offsets, times := p.activeSegment().OffsetEntries, p.activeSegment().TimeEntries
	require.Positive(t, offsets)
	require.Positive(t, times)
	require.NoError(t, l.Close())

	for i := range 3 {
		l, err = Open(testDir, testOptions(mem))
		require.NoError(t, err)
		p = mustPartition(t, l, "t", 0)
		require.Equal(t, offsets, p.activeSegment().OffsetEntries, "offset index entries after reopen %d", i)
		require.Equal(t, times, p.activeSegment().TimeEntries, "time index entries after reopen %d", i)
		require.NoError(t, l.Close())
	}
}

// sealedLog returns a closed log on a MemFS with topic "t" of small
// segments holding 120 acknowledged records (one per batch, timestamps a
// millisecond apart, so that the indexes are the same every run), their
// values and segments.
func sealedLog(t *testing.T) (*vfs.MemFS, []string, []storage.SegmentInfo) {
	t.Helper()
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	tp, err := l.CreateTopic(context.Background(), "t", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	var want []string
	for i := range 120 {
		v := fmt.Sprintf("v%03d-%0100d", i, i)
		_, err := p.Append(context.Background(), []Record{{Value: []byte(v), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}})
		require.NoError(t, err)
		want = append(want, v)
	}
	segs := p.segments()
	require.Greater(t, len(segs), 4)
	require.NoError(t, l.Close())
	return mem, want, segs
}

// Regression: with the oldest segment's data file missing, Open used to
// succeed and move the partition's start past the records in it. The
// checkpoint records where the log starts: a first segment above it is
// missing data.
func TestOpenFailsWhenTheOldestSegmentIsMissing(t *testing.T) {
	mem, _, segs := sealedLog(t)
	require.NoError(t, mem.Remove(segs[0].Path))
	_, err := Open(testDir, testOptions(mem))
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, segs[1].Path, cerr.Path)
	require.Contains(t, cerr.Reason, "missing")
	require.Equal(t, int64(0), cerr.Offset)
}

// A missing segment file between others is corruption too, above the
// recovery point as below it: a roll fsyncs the segment it seals, so no
// crash leaves a gap.
func TestOpenFailsWhenAMiddleSegmentIsMissing(t *testing.T) {
	for _, checkpointed := range []bool{true, false} {
		mem, _, segs := sealedLog(t)
		if !checkpointed {
			require.NoError(t, writeCheckpoint(mem, filepath.Join(testDir, "t-0"), initialCheckpoint()))
		}
		require.NoError(t, mem.Remove(segs[2].Path))
		_, err := Open(testDir, testOptions(mem))
		var cerr *CorruptionError
		require.ErrorAs(t, err, &cerr, "checkpointed %v", checkpointed)
		require.Equal(t, segs[1].Path, cerr.Path)
		require.Equal(t, segs[2].Base, cerr.Offset)
	}
}

// Regression: zeros over one batch of a sealed segment, with valid data
// after it, were cut as a torn write, and every later segment with them.
// A sealed segment was fsynced before the next one was created, so no
// crash leaves zeros in it: above the recovery point (scanned) Open
// fails; below it (trusted, not read) the damage surfaces as a
// *CorruptionError from the reads that meet it and from Check, and the
// records around it stay readable.
func TestZerosInASealedSegmentAreCorruption(t *testing.T) {
	ctx := context.Background()
	for _, checkpointed := range []bool{false, true} {
		t.Run(map[bool]string{false: "above the recovery point", true: "below the recovery point"}[checkpointed], func(t *testing.T) {
			mem, want, segs := sealedLog(t)
			if !checkpointed {
				require.NoError(t, writeCheckpoint(mem, filepath.Join(testDir, "t-0"), initialCheckpoint()))
			}
			s := segs[1]
			data, err := mem.ReadFile(s.Path)
			require.NoError(t, err)
			starts := batchLayout(t, data)
			require.Greater(t, len(starts), 2, "the damaged batch has others after it")
			h, err := record.ParseHeader(data[starts[1]:], len(data))
			require.NoError(t, err)
			clear(data[starts[1] : starts[1]+h.Size()]) // a batch in the middle of the sealed segment
			require.NoError(t, mem.WriteFile(s.Path, data))

			l, err := Open(testDir, testOptions(mem))
			var cerr *CorruptionError
			if !checkpointed {
				require.ErrorAs(t, err, &cerr)
				require.Equal(t, s.Path, cerr.Path)
				require.Equal(t, int64(starts[1]), cerr.FilePosition)
				require.Equal(t, s.Base+1, cerr.Offset)
				return
			}
			require.NoError(t, err, "a trusted segment is not read at Open")
			defer l.Close()
			p := mustPartition(t, l, "t", 0)
			require.Equal(t, int64(len(want)), p.EndOffset(), "nothing is cut")
			_, err = p.Read(ctx, s.Base+1, 1)
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, s.Path, cerr.Path)
			recs, err := p.Read(ctx, segs[2].Base, 1<<20)
			require.NoError(t, err, "the records after the damage stay readable")
			require.Equal(t, want[segs[2].Base], string(recs[0].Value))
			require.ErrorAs(t, l.Check(ctx), &cerr)
		})
	}
}

// Regression: after DeleteRecords, a damaged, truncated or missing
// checkpoint file reopened the partition at offset 0, bringing the deleted
// records back. The start offset is a durable promise: damage to the
// checkpoint fails Open, and only Options.Repair.Checkpoints rescans (and
// then says so).
func TestDamagedCheckpointNeverResurrectsDeletedRecords(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"flipped", "truncated", "missing", "empty"} {
		t.Run(damage, func(t *testing.T) {
			mem := vfs.NewMem()
			l, p, want := durableRolls(t, mem)
			start, err := p.DeleteRecords(ctx, 37)
			require.NoError(t, err)
			require.Equal(t, int64(37), start)
			require.NoError(t, l.Close())
			path := filepath.Join(testDir, "t-0", checkpointName)
			b, err := mem.ReadFile(path)
			require.NoError(t, err)
			switch damage {
			case "flipped":
				b[20] ^= 4
				require.NoError(t, mem.WriteFile(path, b))
			case "truncated":
				require.NoError(t, mem.WriteFile(path, b[:len(b)-9]))
			case "missing":
				require.NoError(t, mem.Remove(path))
			case "empty":
				require.NoError(t, mem.WriteFile(path, nil))
			}
			_, err = Open(testDir, testOptions(mem))
			var cerr *CorruptionError
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, path, cerr.Path)
			require.Contains(t, cerr.Remedy, "Options.Repair.Checkpoints")

			logs := &logRecorder{}
			opts := testOptions(mem)
			opts.Repair.Checkpoints = true
			opts.Logger = slog.New(logs)
			l, err = Open(testDir, opts)
			require.NoError(t, err)
			defer l.Close()
			require.True(t, logs.logged("WARN repairing a partition checkpoint"), "%v", logs.msgs)
			p = mustPartition(t, l, "t", 0)
			require.Equal(t, int64(len(want)), p.EndOffset())
			require.NoError(t, l.Check(ctx))
		})
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
		func(c *checkpoint) { c.Position++ },
		func(c *checkpoint) { c.Position-- },
		func(c *checkpoint) { c.Position = 0; c.RecoveryOffset = c.SegmentBase },
		func(c *checkpoint) { c.RecoveryOffset++ },
		func(c *checkpoint) { c.LogStartOffset = c.RecoveryOffset + 1 },
		func(c *checkpoint) { c.CleanerOffset = 1 << 62 },
		func(c *checkpoint) { c.OffsetEntries, c.TimeEntries = 1<<40, 1<<40 },
		func(c *checkpoint) { c.ActiveCreated = 1 << 62 },
		func(c *checkpoint) { c.ActiveBase = c.SegmentBase + 1 },
		func(c *checkpoint) { c.SegmentBase, c.ActiveBase = 0, 0 },
		func(c *checkpoint) { c.MaxTimestamp, c.OffsetOfMaxTimestamp = -1<<63, -1 },
	} {
		d := c
		change(&d)
		f.Add(d.Marshal())
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

// An I/O error at any operation of Open — every call, reads, listings and
// stats included, as SQLite's I/O-error tests fail each in turn — makes
// Open fail with that error (never ErrCorrupt: an I/O error is no evidence
// of damage) or succeed having worked around it, and leaves the directory
// as recoverable as it was: a clean Open afterwards finds everything the
// history says it must, as does one after a power failure that keeps only
// what the failed Open fsynced. The directory is a crash state of the
// mixed workload, with a torn tail to cut, producer state to rebuild and
// group commits to replay.
func TestOpenFailsCleanlyOnEveryIOError(t *testing.T) {
	var run crashRun
	for k := 0; ; k += 37 { // a late crash point: most of the workload is on disk
		r := runCrashWorkload(t, SyncNever, 0, k)
		if r.clones == nil {
			break
		}
		run = r
	}
	base := run.clones[3] // kept 80% of the unsynced writes, torn
	failures := 0
	for i := int64(0); ; i++ {
		fs := base.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
		inj := vfs.OnIndex(i, nil, syscall.EIO)
		var opening atomic.Bool // only Open's operations count
		opening.Store(true)
		opts := testOptions(vfs.WithInjector(fs, vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !opening.Load() {
				return nil
			}
			return inj.MaybeError(op, path)
		}), vfs.InjectOptions{ShortWrites: true}))
		l, err := Open(testDir, opts)
		opening.Store(false)
		if !inj.Fired() {
			require.NoError(t, err)
			require.NoError(t, l.Close())
			require.Greater(t, i, int64(100), "Open makes many file operations")
			t.Logf("an I/O error failed each of Open's %d operations in turn; %d made it fail", i, failures)
			return
		}
		what := fmt.Sprintf("EIO at operation %d of Open", i)
		if err != nil {
			failures++
			require.ErrorIs(t, err, syscall.EIO, "%s: the cause stays visible", what)
			require.NotErrorIs(t, err, ErrCorrupt, "%s: an I/O error is not damage", what)
		} else {
			require.NoError(t, l.Close(), what)
		}
		checkCrashState(t, fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 0}), run.history, SyncNever, what+", then a power failure")
		checkCrashState(t, fs, run.history, SyncNever, what+", reopened")
	}
}

// Under SyncNever (and SyncInterval) a roll does not wait for the sealed
// segment to reach the disk, and the checkpoints say so: a power failure
// can leave a sealed segment above the recovery point torn, with later
// segments written. Recovery cuts it there, with every later segment, and
// warns; below the recovery point the same damage is corruption.
func TestTornSealedSegmentUnderSyncNever(t *testing.T) {
	ctx := context.Background()
	for _, checkpointed := range []bool{false, true} {
		t.Run(map[bool]string{false: "above the recovery point", true: "below the recovery point"}[checkpointed], func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOptions(mem)
			opts.Sync = SyncNever
			l, err := Open(testDir, opts)
			require.NoError(t, err)
			tp, err := l.CreateTopic(ctx, "t", smallTopic)
			require.NoError(t, err)
			p, _ := tp.Partition(0)
			var want []string
			for i := range 120 {
				v := fmt.Sprintf("v%03d-%0100d", i, i)
				_, err := p.Append(ctx, []Record{{Value: []byte(v)}})
				require.NoError(t, err)
				want = append(want, v)
			}
			if checkpointed {
				require.NoError(t, p.checkpoint(ctx))
			}
			segs := p.segments()
			require.Greater(t, len(segs), 3)
			cp := p.checkpointSnapshot()
			require.Zero(t, cp.Flags&checkpointRollsSynced, "SyncNever checkpoints say rolls are not synced")
			crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
			require.NoError(t, l.Close())
			// What a power failure can leave: the end of a sealed segment
			// lost (zeros), a later segment written.
			s := segs[1]
			data, err := crashed.ReadFile(s.Path)
			require.NoError(t, err)
			starts := batchLayout(t, data)
			clear(data[starts[len(starts)-2]:])
			require.NoError(t, crashed.WriteFile(s.Path, data))

			logs := &logRecorder{}
			opts = testOptions(crashed)
			opts.Logger = slog.New(logs)
			l, err = Open(testDir, opts)
			if checkpointed {
				var cerr *CorruptionError
				require.ErrorAs(t, err, &cerr, "damage below the recovery point")
				return
			}
			require.NoError(t, err)
			defer l.Close()
			require.True(t, logs.logged("WARN cut torn tail"), "%v", logs.msgs)
			p = mustPartition(t, l, "t", 0)
			kept := s.Base + int64(len(starts)) - 2
			require.Equal(t, kept, p.EndOffset(), "cut where the sealed segment's writes stop")
			requireValues(t, p, want[:kept]...)
			require.Len(t, p.segments(), 2, "the segments after it are gone")
			require.NoError(t, l.Check(ctx))
		})
	}
}

// The notice of a torn tail says what recovery found and did, in words:
// a batch cut short by an interrupted write, where, and that it was cut;
// and no log message repeats the "commitlog:" prefix.
func TestTornTailNoticeSaysWhatHappened(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	opts := testOptions(mem)
	opts.Sync = SyncNever
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	for i := range 8 {
		_, err := p.Append(ctx, []Record{{Value: fmt.Appendf(nil, "v%03d-%0100d", i, i)}})
		require.NoError(t, err)
	}
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	require.NoError(t, l.Close())
	path := filepath.Join(testDir, "t-0", segmentName(0, logSuffix))
	data, err := crashed.ReadFile(path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	last := starts[len(starts)-1]
	cut := last + 30 // the last batch (offset 7) loses its end
	require.NoError(t, crashed.WriteFile(path, data[:cut]))

	logs := &logRecorder{}
	opts = testOptions(crashed)
	opts.Logger = slog.New(logs)
	l, err = Open(testDir, opts)
	require.NoError(t, err)
	defer l.Close()
	want := fmt.Sprintf("the batch at offset 7 is cut short at byte %d of %s: an interrupted write, never acknowledged; cut", cut, path)
	require.True(t, logs.logged("WARN cut torn tail left by an interrupted write"), "%v", logs.msgs)
	require.True(t, logs.logged(want), "%v", logs.msgs)
	require.False(t, logs.logged("commitlog:"), "%v", logs.msgs)
	require.Equal(t, int64(7), mustPartition(t, l, "t", 0).EndOffset())
}
