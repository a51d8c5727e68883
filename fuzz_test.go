package commitlog

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// fuzzLog returns a closed log with one topic "f" of one small partition
// holding a few batches, and the bytes of its first segment's files.
func fuzzLog(t testing.TB, batches int) (*vfs.MemFS, map[string][]byte) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	cfg := smallTopic
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 100
	tp, err := l.CreateTopic(ctx, "f", cfg)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	appendBatches(t, p, rand.New(rand.NewPCG(9, 9)), 0, batches, 3, 40)
	require.NoError(t, l.Close())
	files := map[string][]byte{}
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		b, err := mem.ReadFile(filepath.Join(testDir, "f-0", segmentName(0, suffix)))
		require.NoError(t, err)
		files[suffix] = b
	}
	return mem, files
}

// openFuzzed opens fs and, if it opens, reads everything and checks it.
// It must never panic; corruption must come back as ErrCorrupt.
func openFuzzed(t *testing.T, fs vfs.FS) (records int64, opened bool) {
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open failed with an error that is not ErrCorrupt: %v", err)
		}
		return 0, false
	}
	defer l.Close()
	p := mustPartitionErr(l, "f")
	for _, err := range p.Scan(ctx, p.StartOffset()) {
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Scan failed with an error that is not ErrCorrupt: %v", err)
			}
			return p.EndOffset(), true
		}
		records++
	}
	if err := l.Check(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check failed with an error that is not ErrCorrupt: %v", err)
	}
	return p.EndOffset(), true
}

// FuzzRecoveryScan gives recovery arbitrary bytes as the data file of a
// partition with no checkpoint, so every byte is scanned. Open must not
// panic and must either fail with ErrCorrupt or produce a log that reads
// and checks cleanly, and recovering it again changes nothing.
func FuzzRecoveryScan(f *testing.F) {
	_, files := fuzzLog(f, 12)
	valid := files[logSuffix]
	f.Add(valid)
	f.Add(valid[:len(valid)-7])                     // torn tail
	f.Add(append(append([]byte{}, valid...), 0, 0)) // trailing zeros
	f.Add([]byte{})
	f.Add(make([]byte, 4096))
	mid := append([]byte{}, valid...)
	mid[len(mid)/3] ^= 0x10 // damage in the middle
	f.Add(mid)
	f.Fuzz(func(t *testing.T, data []byte) {
		mem, _ := fuzzLog(t, 0)
		dir := filepath.Join(testDir, "f-0")
		require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, logSuffix)), data))
		require.NoError(t, writeCheckpoint(mem, dir, initialCheckpoint()))
		end, opened := openFuzzed(t, mem)
		if !opened {
			return
		}
		again, opened := openFuzzed(t, mem)
		require.True(t, opened, "a log that opened once must open again")
		require.Equal(t, end, again, "recovery is idempotent")
	})
}

// FuzzIndexLoad gives a sealed segment arbitrary index files beside valid
// data. Indexes are derived: whatever they hold, Open succeeds and every
// record reads back at its offset, and Check leaves them consistent.
func FuzzIndexLoad(f *testing.F) {
	_, files := fuzzLog(f, 30)
	f.Add(files[indexSuffix], files[timeIndexSuffix])
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, 64), make([]byte, 60))
	f.Add(files[indexSuffix][:len(files[indexSuffix])-3], files[timeIndexSuffix][4:])
	f.Fuzz(func(t *testing.T, index, timeIndex []byte) {
		ctx := context.Background()
		mem, _ := fuzzLog(t, 30)
		dir := filepath.Join(testDir, "f-0")
		// Roll so that segment 0 is sealed, then replace its indexes.
		l, err := Open(testDir, testOptions(mem))
		require.NoError(t, err)
		p := mustPartitionErr(l, "f")
		end := p.EndOffset()
		p.mu.Lock()
		require.NoError(t, p.rollLocked(end))
		p.mu.Unlock()
		require.NoError(t, l.Close())
		require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, indexSuffix)), index))
		require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, timeIndexSuffix)), timeIndex))

		l, err = Open(testDir, testOptions(mem))
		require.NoError(t, err, "damaged indexes never prevent opening")
		defer l.Close()
		p = mustPartitionErr(l, "f")
		for off := int64(0); off < end; off++ {
			recs, err := p.Read(ctx, off, 1)
			require.NoError(t, err)
			require.Equal(t, off, recs[0].Offset)
		}
		require.NoError(t, l.Check(ctx))
	})
}
