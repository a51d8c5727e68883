package storage

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestCheckpointRoundTrip(t *testing.T) {
	c := checkpoint{recoveryOffset: 900, segmentBase: 800, position: 4096, maxTimestamp: 12345,
		offsetOfMaxTimestamp: 899, bytesSinceIndex: 17, offsetEntries: 3, timeEntries: 2,
		logStartOffset: 100, activeBase: 800, activeCreated: -1, cleanerOffset: 640}
	b := c.marshal()
	require.Len(t, b, checkpointSize)
	got, err := unmarshalCheckpoint(b)
	require.NoError(t, err)
	require.Equal(t, c, got)
	for i := range b {
		damaged := append([]byte(nil), b...)
		damaged[i] ^= 1
		_, err := unmarshalCheckpoint(damaged)
		require.Error(t, err, "flip at %d", i)
	}
}

// A version 1 checkpoint, written before compaction existed, reads with
// the cleaner offset at 0: everything counts as not yet compacted.
func TestCheckpointVersion1(t *testing.T) {
	c := checkpoint{recoveryOffset: 900, segmentBase: 800, position: 4096, maxTimestamp: 12345,
		offsetOfMaxTimestamp: 899, logStartOffset: 100, activeBase: 800, activeCreated: 777}
	b := make([]byte, checkpointSizeV1)
	copy(b, checkpointMagic)
	binary.BigEndian.PutUint16(b[4:], 1)
	fields := c.fields()
	for i, f := range fields[:checkpointFields-1] {
		binary.BigEndian.PutUint64(b[8+8*i:], uint64(*f))
	}
	binary.BigEndian.PutUint32(b[checkpointSizeV1-4:], crc32.Checksum(b[:checkpointSizeV1-4], castagnoli))
	got, err := unmarshalCheckpoint(b)
	require.NoError(t, err)
	require.Equal(t, c, got)

	binary.BigEndian.PutUint16(b[4:], 2) // a version that does not match the size
	binary.BigEndian.PutUint32(b[checkpointSizeV1-4:], crc32.Checksum(b[:checkpointSizeV1-4], castagnoli))
	_, err = unmarshalCheckpoint(b)
	require.ErrorContains(t, err, "unknown version")
}

// initialCheckpoint is the checkpoint a SyncAlways Log writes for a
// partition that starts at offset 0 and has no recovery point past its
// start: Open trusts nothing of it and scans every segment, as when the
// partition was created.
func initialCheckpoint() checkpoint {
	return checkpoint{maxTimestamp: -1, offsetOfMaxTimestamp: -1, activeCreated: -1, flags: checkpointRollsSynced}
}

// checkpointDecodeAlloc is what unmarshalCheckpoint may allocate: nothing
// but its error (see its doc comment).
const checkpointDecodeAlloc = 1 << 10

// FuzzCheckpoint feeds arbitrary bytes to unmarshalCheckpoint, as they are
// and with a valid CRC-32C in their last four bytes (replacing them, and
// appended), so that the fuzzer gets past the CRC to the version and field
// checks. Nothing may panic or allocate more than checkpointDecodeAlloc;
// what decodes has the size, magic, version and CRC of a checkpoint file
// and fields that pass the documented checks; it re-encodes (marshal,
// always version 2) to bytes that decode to the same checkpoint, identical
// to the input for version 2, and with the input's fields and a zero
// cleanerOffset for version 1.
func FuzzCheckpoint(f *testing.F) {
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	cfg.IndexIntervalBytes = 100
	pl := openPartitionLog(f, cfg, true)
	appendBatches(f, pl, rand.New(rand.NewPCG(9, 9)), 12, 3, 40)
	require.NoError(f, pl.Close())
	real, err := mem.ReadFile(filepath.Join(testPartitionDir, CheckpointName))
	require.NoError(f, err)
	f.Add(real)
	c := checkpoint{recoveryOffset: 900, segmentBase: 800, position: 4096, maxTimestamp: 12345,
		offsetOfMaxTimestamp: 899, bytesSinceIndex: 17, offsetEntries: 3, timeEntries: 2,
		logStartOffset: 100, activeBase: 800, activeCreated: -1, cleanerOffset: 640}
	f.Add(c.marshal())
	reset := resetCheckpoint(300, true)
	f.Add(reset.marshal())
	v1 := append([]byte(nil), real[:checkpointSizeV1]...)
	binary.BigEndian.PutUint16(v1[4:], 1)
	f.Add(fixCRC(v1))
	f.Add(real[:checkpointSize-4]) // the body: valid once its CRC is appended
	f.Add([]byte{})
	f.Add([]byte(checkpointMagic))
	f.Add(make([]byte, checkpointSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, fixCRC(data), appendCRC(data)} {
			var (
				c   checkpoint
				err error
			)
			alloctest.Check(t, checkpointDecodeAlloc, nil, func() { c, err = unmarshalCheckpoint(in) })
			if err != nil {
				continue
			}
			n := len(in)
			require.True(t, n == checkpointSize || n == checkpointSizeV1, "accepted %d bytes", n)
			require.Equal(t, checkpointMagic, string(in[:4]))
			require.Equal(t, crc32.Checksum(in[:n-4], castagnoli), binary.BigEndian.Uint32(in[n-4:]), "accepted a bad CRC")
			v := binary.BigEndian.Uint16(in[4:])
			require.True(t, v == checkpointVersion && n == checkpointSize || v == 1 && n == checkpointSizeV1, "version %d in %d bytes", v, n)
			for i, p := range c.fields() {
				if p != &c.maxTimestamp && p != &c.offsetOfMaxTimestamp && p != &c.activeCreated && p != &c.activeBase {
					require.GreaterOrEqual(t, *p, int64(0), "field %d negative", i)
				}
			}
			require.LessOrEqual(t, c.segmentBase, c.recoveryOffset)
			require.GreaterOrEqual(t, c.activeBase, c.segmentBase)
			if c.flags&checkpointReset != 0 {
				require.Zero(t, c.flags&checkpointTruncated, "reset and truncated")
				require.Zero(t, c.position, "a reset log's position")
				require.Zero(t, c.offsetEntries+c.timeEntries, "a reset log's index entries")
				for _, f := range []int64{c.segmentBase, c.activeBase, c.logStartOffset} {
					require.Equal(t, c.recoveryOffset, f, "a reset log's offsets")
				}
			}

			enc := c.marshal()
			again, err := unmarshalCheckpoint(enc)
			require.NoError(t, err, "a decoded checkpoint re-encodes to a valid one")
			require.Equal(t, c, again)
			if n == checkpointSize {
				require.Equal(t, in, enc, "a version 2 checkpoint re-encodes to its own bytes")
			} else {
				require.Zero(t, c.cleanerOffset, "version 1 has no cleaner offset")
				require.Equal(t, in[8:checkpointSizeV1-4], enc[8:checkpointSizeV1-4], "version 1 fields re-encode unchanged")
			}
		}
	})
}
