package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// batchStarts returns the positions of the batches of a segment file.
func batchStarts(t *testing.T, path string) []int64 {
	t.Helper()
	f, size, err := openSegmentFile(path)
	require.NoError(t, err)
	defer f.Close()
	r := newSegmentReader(f, size, windowBytes)
	var out []int64
	for {
		b, err := r.next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, b.pos)
	}
}

func TestVerifyCleanLog(t *testing.T) {
	dir := writeFixture(t, 240)
	before := snapshotDir(t, dir)
	out := mustRun(t, "", "verify", "-d", dir)
	require.Contains(t, out, "events-0: ok (")
	require.Contains(t, out, "events-1: ok (")
	require.Contains(t, out, "__consumer_offsets-")
	require.Contains(t, out, ": no problem found, 0 notes")
	require.Equal(t, before, snapshotDir(t, dir), "verify writes nothing")
}

// TestVerifyNamesFileAndPosition flips a byte in the middle of a sealed
// segment, below the recovery point: verify fails with status 2, naming
// the file and the position of the damaged batch, and writes nothing.
func TestVerifyNamesFileAndPosition(t *testing.T) {
	dir := writeFixture(t, 240)
	seg := filepath.Join(dir, "events-1", "00000000000000000000.log")
	starts := batchStarts(t, seg)
	require.Greater(t, len(starts), 20)
	damaged := starts[10]
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	data[damaged+70] ^= 0x01 // inside the batch's record
	require.NoError(t, os.WriteFile(seg, data, 0o644))
	before := snapshotDir(t, dir)

	r := runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitCorrupt, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("! events-1: corrupt data in %s at byte %d (offset 10): record: corrupt batch: CRC mismatch", seg, damaged))
	require.Contains(t, r.stdout, "events-0: ok (")
	require.Contains(t, r.stdout, "problems found")
	require.Contains(t, r.stderr, "problems found")
	require.Equal(t, before, snapshotDir(t, dir), "verify writes nothing")

	// A read of the damaged batch meets it too.
	r = runCLI(t, "", "consume", "-d", dir, "events", "-p", "1")
	require.Equal(t, exitCorrupt, r.code)
	require.Contains(t, r.stderr, seg)
}

// TestVerifyReportsEveryDamagedPartition damages what a read-only Open
// refuses (the damaged tail of a segment that later segments follow),
// in two partitions: verify names both.
func TestVerifyReportsEveryDamagedPartition(t *testing.T) {
	dir := writeFixture(t, 240)
	var segs []string
	for _, p := range []string{"events-0", "events-1"} {
		seg := filepath.Join(dir, p, "00000000000000000000.log")
		starts := batchStarts(t, seg)
		last := starts[len(starts)-1]
		data, err := os.ReadFile(seg)
		require.NoError(t, err)
		data[last+40] ^= 0xff
		require.NoError(t, os.WriteFile(seg, data, 0o644))
		segs = append(segs, fmt.Sprintf("%s at byte %d", seg, last))
	}
	r := runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitCorrupt, r.code, r.stdout+r.stderr)
	for _, s := range segs {
		require.Contains(t, r.stdout, s)
	}
}

// TestVerifyNotesTornTail appends half a batch to an active segment, as a
// crash during a write leaves it: recovery would cut it, so verify exits
// 0 with a note, and changes nothing.
func TestVerifyNotesTornTail(t *testing.T) {
	dir := writeFixture(t, 40)
	seg := filepath.Join(dir, "events-1", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(seg, append(data, data[:50]...), 0o644))
	before := snapshotDir(t, dir)
	r := runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "note: open: cut torn tail")
	require.Contains(t, r.stdout, "1 notes")
	require.Equal(t, before, snapshotDir(t, dir))
	// Reading works, without the torn batch.
	require.Len(t, consumeLines(t, "-d", dir, "events", "-p", "1"), 20)
}

func TestVerifyNeedsReadWriteOpen(t *testing.T) {
	dir := writeFixture(t, 4)
	swap := filepath.Join(dir, "events-0", "00000000000000000000.log"+storage.SwapSuffix)
	require.NoError(t, os.WriteFile(swap, nil, 0o644))
	r := runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitReadOnly, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, swap)
	require.Contains(t, r.stderr, "open the directory read-write once")
}

// TestLockedDirectory holds the directory open with the library in this
// process: every command fails with status 3 and says why, and works
// once it is closed.
func TestLockedDirectory(t *testing.T) {
	dir := writeFixture(t, 4)
	l, err := commitlog.Open(dir, nil)
	require.NoError(t, err)
	for _, args := range [][]string{
		{"verify", "-d", dir}, {"consume", "-d", dir, "events"}, {"produce", "-d", dir, "events"},
		{"stats", "-d", dir}, {"topics", "list", "-d", dir}, {"groups", "list", "-d", dir},
		{"groups", "reset-offsets", "-d", dir, "billing", "--all-topics", "--to-earliest"},
	} {
		r := runCLI(t, "x\n", args...)
		require.Equal(t, exitLocked, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, "directory locked by another Log")
		require.Contains(t, r.stderr, "another process has the directory open")
	}
	require.NoError(t, l.Close())
	mustRun(t, "", "verify", "-d", dir)
}

// TestVerifyKafkaPartition verifies a partition directory laid out as
// Apache Kafka writes it, then the directory holding it, then the same
// with a damaged index entry and a damaged batch.
func TestVerifyKafkaPartition(t *testing.T) {
	root := t.TempDir()
	dir := writeKafkaPartition(t, root)
	before := snapshotDir(t, root)
	out := mustRun(t, "", "verify", "-d", dir)
	require.Contains(t, out, "orders-0: ok (2 segments")
	require.Contains(t, out, "offsets 0 to 42")
	require.Contains(t, out, "0 notes")
	out = mustRun(t, "", "verify", "-d", root)
	require.Contains(t, out, "orders-0: ok (2 segments")
	require.Equal(t, before, snapshotDir(t, root), "verify writes nothing")

	timeIndex := filepath.Join(dir, "00000000000000000000.timeindex")
	b, err := os.ReadFile(timeIndex)
	require.NoError(t, err)
	b[7]++ // the first entry's timestamp
	require.NoError(t, os.WriteFile(timeIndex, b, 0o644))
	r := runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitCorrupt, r.code, r.stdout)
	require.Contains(t, r.stdout, timeIndex+": entry at byte 0 (offset 9)")

	seg := filepath.Join(dir, "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	require.NoError(t, err)
	starts := batchStarts(t, seg)
	data[starts[3]+100] ^= 0x10
	require.NoError(t, os.WriteFile(seg, data, 0o644))
	r = runCLI(t, "", "verify", "-d", dir)
	require.Equal(t, exitCorrupt, r.code, r.stdout)
	require.Contains(t, r.stdout, fmt.Sprintf("%s at byte %d", seg, starts[3]))
	require.True(t, strings.Contains(r.stdout, "problems found"))
}
