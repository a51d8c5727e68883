package commitlog

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

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

// initialCheckpoint is the checkpoint of a partition that starts at offset
// 0 and has no recovery point past its start: Open trusts nothing of it
// and scans every segment, as when the partition was created.
func initialCheckpoint() checkpoint {
	return checkpoint{maxTimestamp: -1, offsetOfMaxTimestamp: -1, activeCreated: -1}
}
