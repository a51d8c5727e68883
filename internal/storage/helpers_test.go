package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// testPartitionDir is the directory the room tests keep a partition in.
const testPartitionDir = "/log/t-0"

// smallConfig is a partition that rolls and indexes often, to exercise
// segment boundaries with little data, on fs.
func smallConfig(fs vfs.FS) Config {
	return Config{
		FS: fs, Dir: testPartitionDir, Topic: "t", Partition: 0,
		SegmentBytes: 4096, SegmentAge: Forever, IndexIntervalBytes: 256, SegmentIndexBytes: 1024,
		MaxBatchBytes: 4096, RetentionDeletes: true, DeleteRetention: Forever, Retention: Forever,
		SyncAlways: true, ProducerIDExpiration: 7 * 24 * time.Hour, CompactionMapBytes: 1 << 20, CompactionDutyCycle: 1,
		Now: func() time.Time { return time.UnixMilli(1_700_000_000_000) },
	}
}

// openPartitionLog opens (creating) the partition log cfg describes,
// closing it when the test ends.
func openPartitionLog(t testing.TB, cfg Config, creating bool) *PartitionLog {
	t.Helper()
	if creating {
		require.NoError(t, MkdirAllDurable(cfg.FS, cfg.Dir))
	}
	p, err := Open(cfg, creating)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// buildBatch encodes n records with values of up to maxValue random bytes,
// keyed "k<i>", as one uncompressed batch with base offset 0.
func buildBatch(t testing.TB, rng *rand.Rand, n, maxValue int) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i := range n {
		v := make([]byte, rng.IntN(maxValue+1))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		b.Append(1_700_000_000_000+int64(i), fmt.Appendf(nil, "k%d", i), v, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return batch
}

// appendBatches appends n batches of 1 to maxRecs records to p.
func appendBatches(t testing.TB, p *PartitionLog, rng *rand.Rand, n, maxRecs, maxValue int) {
	t.Helper()
	for range n {
		_, err := p.AppendBatch(context.Background(), buildBatch(t, rng, 1+rng.IntN(maxRecs), maxValue), AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
}

// fixCRC returns a copy of b with its last four bytes set to the
// big-endian CRC-32C of the rest, as the metadata files end.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[len(c)-4:], crc32.Checksum(c[:len(c)-4], castagnoli))
	return c
}

// appendCRC returns a copy of b followed by its big-endian CRC-32C.
func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
}

// batchLayout returns the start position of every batch in a data file,
// which may end in zeros: the space prepared for durable appends.
func batchLayout(t *testing.T, data []byte) []int {
	var starts []int
	for pos := 0; pos < len(data); {
		if !slices.ContainsFunc(data[pos:], func(b byte) bool { return b != 0 }) {
			break
		}
		h, err := record.ParseHeader(data[pos:], len(data)-pos)
		require.NoError(t, err)
		starts = append(starts, pos)
		pos += h.Size()
	}
	return starts
}

// longReadLog writes batches of 1,000 records of 100 bytes (each value
// starts with its offset) into a partition in a real directory, whose data
// files are memory-mapped, with segments of segmentBytes and otherwise the
// public defaults of a topic; it returns the partition's configuration
// once the partition is closed.
func longReadLog(t *testing.T, batches int, segmentBytes int64) Config {
	cfg := Config{
		FS: vfs.Default, Dir: filepath.Join(t.TempDir(), "long-0"), Topic: "long", Partition: 0,
		SegmentBytes: segmentBytes, SegmentAge: Forever, IndexIntervalBytes: 4096, SegmentIndexBytes: 10 << 20,
		MaxBatchBytes: 1<<20 + 12, RetentionDeletes: true, DeleteRetention: Forever, Retention: Forever,
		SyncAlways: true, ProducerIDExpiration: 7 * 24 * time.Hour, CompactionMapBytes: 1 << 20, CompactionDutyCycle: 1,
	}
	require.NoError(t, MkdirAllDurable(cfg.FS, cfg.Dir))
	p, err := Open(cfg, true)
	require.NoError(t, err)
	var b record.Builder
	value := make([]byte, 100)
	for n := range batches {
		b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
		for i := range 1000 {
			binary.BigEndian.PutUint64(value, uint64(n*1000+i))
			b.Append(1_700_000_000_000, nil, value, nil)
		}
		batch, err := b.Build()
		require.NoError(t, err)
		_, err = p.AppendBatch(context.Background(), batch, AppendOptions{Expected: -1})
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	return cfg
}
