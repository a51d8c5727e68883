package storage

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A torn write that loses just the last byte of a batch, cut at a sector
// boundary, leaves a single zero byte; when a later batch survived (the
// writes reached the disk out of order) recovery must still see the cut,
// not corruption. The batch's records end in a null header value (byte
// 0x01), so the zero is not natural there.
func TestTornLastByteAtASectorBoundary(t *testing.T) {
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i := range 3 {
		b.Append(int64(1000+i), []byte("k"), []byte("value"), []record.RecordHeader{{Key: []byte("h"), Value: nil}})
	}
	built, err := b.Build()
	require.NoError(t, err)
	batchA := append([]byte(nil), built...)
	require.Equal(t, byte(1), batchA[len(batchA)-1], "the last byte is the null header value")
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	b.Append(2000, []byte("k"), []byte("later"), nil)
	built, err = b.Build()
	require.NoError(t, err)
	record.SetBaseOffset(built, 3)
	batchB := append([]byte(nil), built...)

	// batchA's last byte sits at 2*sectorSize.
	q := 2*sectorSize + 1 - len(batchA)
	segmentWith := func(a []byte) *segment {
		mem := vfs.NewMem()
		f, err := mem.Create("/seg.log")
		require.NoError(t, err)
		data := append(append(make([]byte, q), a...), batchB...)
		_, err = f.WriteAt(data, 0)
		require.NoError(t, err)
		s := &segment{path: "/seg.log", file: f}
		s.size.Store(int64(len(data)))
		return s
	}
	next := int64(q + len(batchA)) // batchB
	var scratch []byte

	torn := append([]byte(nil), batchA...)
	torn[len(torn)-1] = 0
	ok, err := segmentWith(torn).looksTorn(int64(q), next, &scratch)
	require.NoError(t, err)
	require.True(t, ok, "a lost last byte at a sector boundary is a torn write")

	flipped := append([]byte(nil), torn...)
	flipped[record.HeaderSize+3] ^= 0x10
	ok, err = segmentWith(flipped).looksTorn(int64(q), next, &scratch)
	require.NoError(t, err)
	require.False(t, ok, "damage besides the lost byte is corruption")

	require.False(t, lastByteRestores(batchA), "an intact last byte is not zero")
}

// Open after Close restores the offsets, the segments and the producers'
// state: a batch retried after the reopen is still a duplicate, and the
// producer's next sequence still follows.
func TestReopenRestoresState(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	cfg := smallConfig(fs)
	p := openPartitionLog(t, cfg, true)
	first := mustAppend(t, p, idempotentBatch(t, 3, 0, 0, 2))
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	last := mustAppend(t, p, idempotentBatch(t, 3, 0, 2, 3))
	_, err := p.DeleteRecords(ctx, 5)
	require.NoError(t, err)
	segs, end, want := p.Segments(), p.EndOffset(), readRecords(t, p, 5)
	require.Greater(t, len(segs), 2)
	require.NoError(t, p.Close())

	q := openPartitionLog(t, cfg, false)
	require.Equal(t, int64(5), q.StartOffset())
	require.Equal(t, end, q.EndOffset())
	require.Equal(t, end, q.HighWatermark())
	require.Equal(t, end, q.DurableOffset())
	got := q.Segments()
	require.Len(t, got, len(segs))
	for i := range segs {
		require.Equal(t, segs[i].Base, got[i].Base)
		require.Equal(t, segs[i].Next, got[i].Next)
		require.Equal(t, segs[i].Size, got[i].Size)
	}
	require.Equal(t, want, readRecords(t, q, 5))

	for _, b := range []struct {
		seq  int32
		n    int
		want AppendResult
	}{{0, 2, first}, {2, 3, last}} {
		dup, err := q.AppendBatch(ctx, idempotentBatch(t, 3, 0, b.seq, b.n), AppendOptions{Expected: -1})
		require.NoError(t, err)
		require.Equal(t, b.want.BaseOffset, dup.BaseOffset)
		require.Equal(t, b.want.LastOffset, dup.LastOffset)
	}
	require.Equal(t, end, q.EndOffset(), "duplicates append nothing after a reopen")
	_, err = q.AppendBatch(ctx, idempotentBatch(t, 3, 0, 9, 1), AppendOptions{Expected: -1})
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
	res := mustAppend(t, q, idempotentBatch(t, 3, 0, 5, 1))
	require.Equal(t, end, res.BaseOffset)
	require.NoError(t, q.Check(ctx))
}

// A partition reopened from a crash taken while SyncAlways appenders run
// holds every batch acknowledged before the crash, in order and intact,
// and nothing that was not appended; it then takes appends again.
func TestCrashKeepsAcknowledgedBatches(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	const workers, perWorker = 2, 60
	var (
		mu       sync.Mutex
		appended = map[int64][]byte{} // base offset -> the batch, stamped
		ackedEnd atomic.Int64         // end of the acknowledged batches
	)
	// Worker 0 hands over after every third append, so that the crashes
	// fall while the workers run.
	progress, stopped := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			if w == 0 {
				defer close(stopped)
			}
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				b := buildBatch(t, rng, 1+rng.IntN(3), 250)
				noWait := rng.IntN(4) == 0
				res, err := p.AppendBatch(ctx, b, AppendOptions{Expected: -1, NoWait: noWait})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				appended[res.BaseOffset] = b
				mu.Unlock()
				if !noWait {
					for end := ackedEnd.Load(); end <= res.LastOffset && !ackedEnd.CompareAndSwap(end, res.LastOffset+1); end = ackedEnd.Load() {
					}
				}
				if w == 0 && i%3 == 0 {
					progress <- struct{}{}
				}
			}
		})
	}
	type crash struct {
		fs    *vfs.MemFS
		acked int64
	}
	var crashes []crash
	for i := 0; ; i++ {
		select {
		case <-progress:
		case <-stopped:
		}
		if i == perWorker/3 {
			break
		}
		acked := ackedEnd.Load()
		crashes = append(crashes,
			crash{mem.CrashClone(vfs.CrashOptions{Seed: int64(i), KeepUnsynced: 0.5, Tear: true}), acked},
			crash{mem.CrashClone(vfs.CrashOptions{Seed: int64(i), KeepUnsynced: 1}), acked})
	}
	wg.Wait()
	require.Greater(t, len(p.Segments()), 3)

	for i, c := range crashes {
		ccfg := cfg
		ccfg.FS = c.fs
		q, err := Open(ccfg, false)
		require.NoError(t, err, "crash %d", i)
		next := int64(0)
		require.NoError(t, q.VisitBatches(true, func(b []byte, h record.Header) bool {
			want, ok := appended[next]
			require.True(t, ok, "crash %d: a batch at %d that was never appended", i, next)
			require.Equal(t, want, b, "crash %d: batch at %d", i, next)
			next = h.NextOffset()
			return true
		}))
		require.GreaterOrEqual(t, next, c.acked, "crash %d: an acknowledged batch is missing", i)
		require.Equal(t, next, q.EndOffset(), "crash %d", i)
		require.NoError(t, q.Check(ctx), "crash %d", i)
		res, err := q.AppendBatch(ctx, plainBatch(t, 1, rec("after", "crash")), AppendOptions{Expected: -1})
		require.NoError(t, err, "crash %d", i)
		require.Equal(t, next, res.BaseOffset)
		require.NoError(t, q.Close())
	}
}

// A batch cut short at the end of the last segment, as an interrupted
// write leaves it, is cut off by Open and logged; what came before stays.
func TestTornTailIsCutAndLogged(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	for i := range 3 {
		mustAppend(t, p, plainBatch(t, 1, rec(fmt.Sprint(i), "value")))
	}
	want := readRecords(t, p, 0)
	path := p.ActiveSegment().Path
	size := p.ActiveSegment().Size
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})
	torn := plainBatch(t, 1, rec("torn", "a value long enough to cut"))
	record.SetBaseOffset(torn, 3)
	f, err := crashed.OpenReadWrite(path)
	require.NoError(t, err)
	_, err = f.WriteAt(torn[:len(torn)-10], size)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())

	logs := &logCapture{}
	ccfg := cfg
	ccfg.FS, ccfg.Logger = crashed, slog.New(logs)
	q := openPartitionLog(t, ccfg, false)
	require.Contains(t, logs.messages(), "cut torn tail left by an interrupted write")
	require.Equal(t, int64(3), q.EndOffset())
	require.Equal(t, want, readRecords(t, q, 0))
	require.Equal(t, size, q.ActiveSegment().Size)
	require.Equal(t, int64(3), mustAppend(t, q, plainBatch(t, 1, rec("next", "v"))).BaseOffset)
	require.NoError(t, q.Check(ctx))
}

// Above the recovery point, a damaged batch followed by valid ones is
// corruption, not a torn write: Open refuses with a *CorruptionError
// naming the file and cuts nothing.
func TestDamageFollowedByDataFailsOpen(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	for i := range 3 {
		mustAppend(t, p, plainBatch(t, 1, rec(fmt.Sprint(i), "value")))
	}
	path := p.ActiveSegment().Path
	crashed := mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}) // no checkpoint past 0
	data, err := crashed.ReadFile(path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	require.Len(t, starts, 3)
	flipByte(t, crashed, path, int64(starts[1]+record.HeaderSize+1))
	ccfg := cfg
	ccfg.FS = crashed
	_, err = Open(ccfg, false)
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, path, cerr.Path)
	require.Equal(t, int64(starts[1]), cerr.FilePosition)
	after, err := crashed.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, after, len(data), "nothing cut")
}

// A partition holding data without its checkpoint, which holds the log
// start offset, does not open unless told to repair it by a rescan.
func TestMissingCheckpointFailsOpenUnlessRepairing(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	p := openPartitionLog(t, cfg, true)
	for range 3 {
		mustAppend(t, p, plainBatch(t, 1, rec("k", "v")))
	}
	require.NoError(t, p.Close())
	require.NoError(t, mem.Remove(filepath.Join(testPartitionDir, CheckpointName)))

	_, err := Open(cfg, false)
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, filepath.Join(testPartitionDir, CheckpointName), cerr.Path)

	logs := &logCapture{}
	cfg.RepairCheckpoints, cfg.Logger = true, slog.New(logs)
	q := openPartitionLog(t, cfg, false)
	require.Len(t, logs.messages(), 1)
	require.Contains(t, logs.messages()[0], "repairing a partition checkpoint")
	require.Equal(t, int64(3), q.EndOffset())
	require.NoError(t, q.Check(ctx))
}

// A crash after retention wrote the new start offset but before it
// removed the files leaves segments below the start: Open removes them.
func TestOpenRemovesSegmentsRetentionLeft(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	logs := &logCapture{}
	cfg := smallConfig(mem)
	cfg.RetentionBytes = 1
	cfg.Discard = func(func()) {} // the removal never runs: the crash comes first
	p := openPartitionLog(t, cfg, true)
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	segs := p.Segments()
	require.NoError(t, p.EnforceRetention(ctx, cfg.Now()))
	start := p.StartOffset()
	require.Positive(t, start)
	_, err := mem.Stat(segs[0].Path)
	require.NoError(t, err, "still there")

	ccfg := cfg
	ccfg.FS, ccfg.Logger, ccfg.Discard = mem.CrashClone(vfs.CrashOptions{}), slog.New(logs), nil
	q := openPartitionLog(t, ccfg, false)
	require.Contains(t, logs.messages(), "removed segments below the log start offset left by an interrupted retention pass")
	require.Equal(t, start, q.StartOffset())
	require.Equal(t, start, q.Segments()[0].Base)
	for _, s := range segs {
		if s.Next <= start {
			_, err := ccfg.FS.Stat(s.Path)
			require.ErrorIs(t, err, os.ErrNotExist, "segment %d", s.Base)
		}
	}
	require.Equal(t, span(start, 30), readOffsets(t, q, start))
}
