package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// checkpointFile is the per-partition file recording how far the data is
// known to be on disk and where the log starts. It is replaced atomically
// (WriteFileAtomic) and protected by a CRC-32C; 108 bytes, big-endian:
//
//	magic "CLCP" | version u16 = 2 | flags u16
//	recoveryOffset i64 | segmentBase i64 | position i64
//	maxTimestamp i64 | offsetOfMaxTimestamp i64 | bytesSinceIndex i64
//	offsetEntries i64 | timeEntries i64
//	logStartOffset i64 | activeBase i64 | activeCreated i64 (Unix ms, -1 unknown)
//	cleanerOffset i64
//	crc32c u32 (over the preceding 104 bytes)
//
// Version 1 (100 bytes) lacks cleanerOffset, which then reads as 0.
// The recovery point — offset recoveryOffset, at byte position of the
// segment with base segmentBase — was fsynced, together with the index
// files of that segment and every segment before it, before the checkpoint
// was written. Open trusts everything below it and scans only what follows,
// resuming with the segment's append state at that point (maxTimestamp,
// offsetOfMaxTimestamp, bytesSinceIndex), so the rebuilt indexes are the
// ones appends would have written. offsetEntries and timeEntries are the
// index entries of that segment below the point: if fewer of them pass
// their checks on Open, the segment's indexes are rebuilt from its start. activeCreated carries the creation time
// of the active segment (activeBase) across restarts, so that age-based
// rolling survives them. cleanerOffset is where compaction's dirty part
// begins: the records below it were compacted (Kafka's
// cleaner-offset-checkpoint).
//
// flags has three bits. checkpointRollsSynced: the Log that wrote the
// checkpoint fsyncs a segment as it seals it, before the next segment
// exists (SyncAlways), so no crash leaves a sealed segment torn. Without
// it (SyncInterval, SyncNever, and files written before the flag), a
// sealed segment above the recovery point may hold a torn write, which
// recovery cuts with everything after it. checkpointTruncated: the log
// ends at the recovery point; TruncateTo was cutting it there (the
// checkpoint is its commit point, see truncate.go), and Open removes the
// segments after segmentBase and cuts that one at position before
// anything else. checkpointReset: the log was reset to hold no batch,
// empty at the recovery point, which is also the segment base, the
// active base, the log start offset and the cleaner offset, at position
// 0; ResetTo was replacing its segments (the checkpoint is its commit
// point, see reset.go), and Open removes every segment file and producer
// snapshot, empties the leader epochs and rewrites the checkpoint without
// the flag before anything else. checkpointTruncated and checkpointReset
// are never both set. Other bits must be zero; a reader that knows fewer
// flags refuses the file rather than misread it.
//
// The checkpoint holds the log start offset, a durable promise: a
// partition holding data with its checkpoint missing or damaged fails to
// open (see recovery.go).
const (
	CheckpointName    = "checkpoint"
	checkpointMagic   = "CLCP"
	checkpointVersion = 2
	checkpointSize    = 108
	checkpointFields  = 12
	checkpointSizeV1  = 100
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type checkpoint struct {
	recoveryOffset       int64
	segmentBase          int64
	position             int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	bytesSinceIndex      int64
	offsetEntries        int64
	timeEntries          int64
	logStartOffset       int64
	activeBase           int64
	activeCreated        int64
	cleanerOffset        int64
	flags                uint16
}

// checkpointRollsSynced is the flag saying sealed segments were fsynced as
// they were sealed; checkpointTruncated the flag saying the log ends at
// the recovery point; checkpointReset the flag saying the log holds no
// batch and starts at the recovery point.
const (
	checkpointRollsSynced = 1
	checkpointTruncated   = 2
	checkpointReset       = 4
)

func (c *checkpoint) fields() [checkpointFields]*int64 {
	return [...]*int64{&c.recoveryOffset, &c.segmentBase, &c.position, &c.maxTimestamp,
		&c.offsetOfMaxTimestamp, &c.bytesSinceIndex, &c.offsetEntries, &c.timeEntries,
		&c.logStartOffset, &c.activeBase, &c.activeCreated, &c.cleanerOffset}
}

func (c *checkpoint) marshal() []byte {
	b := make([]byte, checkpointSize)
	copy(b, checkpointMagic)
	binary.BigEndian.PutUint16(b[4:], checkpointVersion)
	binary.BigEndian.PutUint16(b[6:], c.flags)
	for i, f := range c.fields() {
		binary.BigEndian.PutUint64(b[8+8*i:], uint64(*f))
	}
	binary.BigEndian.PutUint32(b[checkpointSize-4:], crc32.Checksum(b[:checkpointSize-4], castagnoli))
	return b
}

// unmarshalCheckpoint decodes a checkpoint file, refusing anything marshal
// would not have written (for version 1, what its writer would have). It
// allocates nothing but its error, at most 1 KiB.
func unmarshalCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	if len(b) != checkpointSize && len(b) != checkpointSizeV1 {
		return c, fmt.Errorf("size %d, want %d", len(b), checkpointSize)
	}
	if string(b[:4]) != checkpointMagic {
		return c, fmt.Errorf("bad magic %q", b[:4])
	}
	n := len(b)
	if got, want := crc32.Checksum(b[:n-4], castagnoli), binary.BigEndian.Uint32(b[n-4:]); got != want {
		return c, fmt.Errorf("crc32c %08x, stored %08x", got, want)
	}
	c.flags = binary.BigEndian.Uint16(b[6:])
	if c.flags&^(checkpointRollsSynced|checkpointTruncated|checkpointReset) != 0 {
		return c, fmt.Errorf("unknown flags %#04x", c.flags)
	}
	fields := c.fields()
	k := len(fields)
	switch v := binary.BigEndian.Uint16(b[4:]); {
	case v == checkpointVersion && n == checkpointSize:
	case v == 1 && n == checkpointSizeV1:
		k-- // no cleanerOffset
	default:
		return c, fmt.Errorf("unknown version %d (%d bytes)", v, n)
	}
	for i, f := range fields[:k] {
		*f = int64(binary.BigEndian.Uint64(b[8+8*i:]))
	}
	if c.recoveryOffset < 0 || c.cleanerOffset < 0 || c.segmentBase < 0 || c.position < 0 || c.logStartOffset < 0 ||
		c.bytesSinceIndex < 0 || c.offsetEntries < 0 || c.timeEntries < 0 ||
		c.segmentBase > c.recoveryOffset || c.activeBase < c.segmentBase {
		return c, fmt.Errorf("inconsistent fields %+v", c)
	}
	if c.flags&checkpointReset != 0 && (c.flags&checkpointTruncated != 0 || c.position != 0 || c.segmentBase != c.recoveryOffset ||
		c.activeBase != c.recoveryOffset || c.logStartOffset != c.recoveryOffset || c.offsetEntries != 0 || c.timeEntries != 0) {
		return c, fmt.Errorf("inconsistent fields for a reset log %+v", c)
	}
	return c, nil
}

// readCheckpoint returns the partition's checkpoint. ok is false when there
// is none or it is damaged (reason says why: a file that is too large or
// fails its checks); err is an I/O error reading it, which is no evidence
// of damage.
func readCheckpoint(fs vfs.FS, dir string) (c checkpoint, ok bool, reason string, err error) {
	b, err := ReadFile(fs, filepath.Join(dir, CheckpointName))
	switch {
	case isNotExist(err):
		return c, false, "", nil
	case errors.Is(err, ErrFileTooLarge):
		return c, false, err.Error(), nil
	case err != nil:
		return c, false, "", err
	}
	c, err = unmarshalCheckpoint(b)
	if err != nil {
		return c, false, err.Error(), nil
	}
	return c, true, "", nil
}

func writeCheckpoint(fs vfs.FS, dir string, c checkpoint) error {
	return WriteFileAtomic(fs, filepath.Join(dir, CheckpointName), c.marshal())
}
