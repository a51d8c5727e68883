package commitlog

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// idempotentBatch builds a batch of n records of producer pid, epoch,
// starting at sequence seq.
func idempotentBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	for i := 0; i < n; i++ {
		b.Append(1000, nil, fmt.Appendf(nil, "p%d-s%d %0100d", pid, int(seq)+i, 0), nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

func appendRaw(t testing.TB, p *Partition, batch []byte) (AppendResult, error) {
	t.Helper()
	return p.appendBatch(context.Background(), append([]byte(nil), batch...), appendOptions{Expected: -1})
}

// TestIdempotenceAcrossReopen appends batches of two producers, reopens
// the log in several ways, and checks that the last five batches of each
// are still recognised as duplicates (same offsets, nothing appended),
// the sixth-from-last and gaps are refused, older epochs are fenced, and
// the next batch is accepted.
func TestIdempotenceAcrossReopen(t *testing.T) {
	for _, how := range []string{"open", "close", "crash-without-checkpoint", "crash-after-checkpoint", "snapshot-damaged", "snapshot-removed"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			fs := vfs.NewMem()
			l, err := Open(testDir, testOptions(fs))
			require.NoError(t, err)
			_, err = l.CreateTopic(ctx, "t", TopicConfig{SegmentBytes: 4096, SegmentIndexBytes: 1024, IndexIntervalBytes: 128})
			require.NoError(t, err)
			p := mustPartition(t, l, "t", 0)
			type sent struct {
				batch []byte
				res   AppendResult
			}
			var batches [2][]sent
			for i := 0; i < 8; i++ {
				for j, pid := range []int64{7, 9} {
					b := idempotentBatch(t, pid, 0, int32(i*3), 3)
					res, err := appendRaw(t, p, b)
					require.NoError(t, err)
					batches[j] = append(batches[j], sent{b, res})
				}
				if how == "crash-after-checkpoint" && i == 5 {
					require.NoError(t, p.checkpoint(ctx))
				}
			}
			end := p.EndOffset()
			require.Greater(t, len(p.segments()), 1, "the batches span segments")

			switch how {
			case "open":
			case "close", "snapshot-damaged", "snapshot-removed":
				require.NoError(t, l.Close())
				names, err := fs.List(filepath.Join(testDir, "t-0"))
				require.NoError(t, err)
				var snaps []string
				for _, n := range names {
					if _, ok := parseSnapshotFileName(n); ok {
						snaps = append(snaps, n)
					}
				}
				require.Equal(t, []string{snapshotFileName(end)}, snaps, "Close leaves one snapshot, valid through the end")
				path := filepath.Join(testDir, "t-0", snaps[0])
				switch how {
				case "snapshot-damaged":
					b, err := fs.ReadFile(path)
					require.NoError(t, err)
					b[len(b)/2] ^= 0x40
					require.NoError(t, fs.WriteFile(path, b))
				case "snapshot-removed":
					require.NoError(t, fs.Remove(path))
				}
			default:
				crashed := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
				l.Close()
				fs = crashed
			}
			if how != "open" {
				logs := &logRecorder{}
				opts := testOptions(fs)
				opts.Logger = slog.New(logs)
				l, err = Open(testDir, opts)
				require.NoError(t, err)
				if how == "snapshot-damaged" {
					require.True(t, logs.logged("snapshot"), "a damaged snapshot is reported")
				}
				p = mustPartition(t, l, "t", 0)
				require.Equal(t, end, p.EndOffset(), "SyncAlways: everything was durable")
			}
			defer l.Close()

			for j := range batches {
				last := len(batches[j]) - 1
				for k := last - 4; k <= last; k++ {
					res, err := appendRaw(t, p, batches[j][k].batch)
					require.NoError(t, err, "batch %d of producer %d", k, j)
					require.Equal(t, batches[j][k].res, res, "a duplicate returns the original offsets")
				}
				_, err := appendRaw(t, p, batches[j][last-5].batch)
				require.ErrorIs(t, err, ErrOutOfOrderSequence, "the sixth-from-last is no longer remembered")
				pid := int64(7 + 2*j)
				_, err = appendRaw(t, p, idempotentBatch(t, pid, 0, 30, 1))
				var serr *SequenceError
				require.ErrorAs(t, err, &serr)
				require.Equal(t, int32(24), serr.Expected)
				require.Equal(t, "t", serr.Topic)
			}
			require.Equal(t, end, p.EndOffset(), "nothing was appended")

			res, err := appendRaw(t, p, idempotentBatch(t, 7, 0, 24, 2))
			require.NoError(t, err)
			require.Equal(t, end, res.BaseOffset)
			// A new epoch starts at sequence 0; the old epoch is fenced.
			_, err = appendRaw(t, p, idempotentBatch(t, 9, 1, 0, 1))
			require.NoError(t, err)
			_, err = appendRaw(t, p, idempotentBatch(t, 9, 0, 24, 1))
			require.ErrorIs(t, err, ErrProducerFenced)
			require.NoError(t, l.Check(ctx))
		})
	}
}

func TestProducerStateExpires(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	clock := newClock()
	opts := testOptions(fs)
	opts.now = clock.Now
	opts.ProducerIDExpiration = time.Hour
	l := openTest(t, fs, opts)
	_, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentIndexBytes: 1024})
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	b := idempotentBatch(t, 3, 0, 0, 2)
	_, err = appendRaw(t, p, b)
	require.NoError(t, err)

	clock.Advance(59 * time.Minute)
	l.tick(true)
	res, err := appendRaw(t, p, b)
	require.NoError(t, err)
	require.Equal(t, int64(0), res.BaseOffset, "still remembered: a duplicate")

	clock.Advance(2 * time.Minute)
	l.tick(true)
	res, err = appendRaw(t, p, b)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.BaseOffset, "forgotten: any sequence is accepted again")
}

func TestProducerIDsAreNeverReused(t *testing.T) {
	fs := vfs.NewMem()
	seen := map[int64]bool{}
	for round := 0; round < 3; round++ {
		l, err := Open(testDir, testOptions(fs))
		require.NoError(t, err)
		for i := 0; i < 5; i++ {
			prod, err := l.NewProducer(ProducerConfig{})
			require.NoError(t, err)
			require.False(t, seen[prod.ProducerID()], "producer id %d handed out twice", prod.ProducerID())
			seen[prod.ProducerID()] = true
			require.NoError(t, prod.Close())
		}
		if round == 1 {
			// A crash loses the unused rest of the block, never reuses it.
			crashed := fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
			l.Close()
			fs = crashed
			continue
		}
		require.NoError(t, l.Close())
	}

	// A damaged id file refuses to open rather than risk reuse; the repair
	// takes ids above every one the partitions remember.
	path := filepath.Join(testDir, producerIDFileName)
	b, err := fs.ReadFile(path)
	require.NoError(t, err)
	b[6] ^= 1
	require.NoError(t, fs.WriteFile(path, b))
	_, err = Open(testDir, testOptions(fs))
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "Options.Repair.ProducerIDs")
	opts := testOptions(fs)
	opts.Repair.ProducerIDs = true
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	defer l.Close()
	_, err = l.NewProducer(ProducerConfig{})
	require.NoError(t, err, "no partition remembers a producer: any id is safe (see TestMissingProducerIDsFileNeverReusesIDs)")
}

// Regression: with the producer-ids file missing, the next producer got
// id 0 again, and its first batch, taken by the partition for a retry of
// the old producer 0's batch, was acknowledged with the old batch's
// offset and never stored. A missing (or damaged) file in a Log with
// topics now fails Open; the repair, and a file left behind the
// partitions' state, hand out ids above every id a partition remembers.
func TestMissingProducerIDsFileNeverReusesIDs(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	prod, err := l.NewProducer(ProducerConfig{})
	require.NoError(t, err)
	require.Equal(t, int64(0), prod.ProducerID())
	require.NoError(t, prod.ProduceSync(ctx, &Record{Topic: "t", Value: []byte("first")}))
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())
	path := filepath.Join(testDir, producerIDFileName)

	produceAfter := func(t *testing.T, opts *Options, value string) {
		t.Helper()
		l, err := Open(testDir, opts)
		require.NoError(t, err)
		defer l.Close()
		prod, err := l.NewProducer(ProducerConfig{})
		require.NoError(t, err)
		defer prod.Close()
		require.Positive(t, prod.ProducerID(), "partition t-0 remembers producer 0")
		r := &Record{Topic: "t", Value: []byte(value)}
		require.NoError(t, prod.ProduceSync(ctx, r))
		p := mustPartition(t, l, "t", 0)
		require.Equal(t, p.EndOffset()-1, r.Offset, "acknowledged at a new offset")
		recs, err := p.Read(ctx, r.Offset, 1)
		require.NoError(t, err)
		require.Equal(t, value, string(recs[0].Value), "and stored")
	}

	require.NoError(t, mem.Remove(path))
	_, err = Open(testDir, testOptions(mem))
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, path, cerr.Path)
	require.Contains(t, cerr.Remedy, "Options.Repair.ProducerIDs")
	opts := testOptions(mem)
	opts.Repair.ProducerIDs = true
	produceAfter(t, opts, "after repair")

	// A file behind what the partitions remember (restored from an old
	// backup) is not trusted below them.
	require.NoError(t, mem.WriteFile(path, marshalProducerIDs(0)))
	produceAfter(t, testOptions(mem), "after a stale file")
}
