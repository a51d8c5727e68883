package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// dumpOutput runs dump and returns its output with dir replaced by "DIR",
// and its exit status.
func dumpOutput(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	r := runCLI(t, "", append([]string{"dump"}, args...)...)
	require.Contains(t, []int{exitOK, exitCorrupt}, r.code, r.stderr)
	return strings.ReplaceAll(r.stdout, dir, "DIR"), r.code
}

func TestDumpGolden(t *testing.T) {
	dir := writeFixture(t, 240)
	p := filepath.Join(dir, "events-0")
	seg := filepath.Join(p, "00000000000000000000")
	out, code := dumpOutput(t, dir, seg+".log", "--print-values", seg+".index", seg+".timeindex", filepath.Join(p, "checkpoint"))
	require.Equal(t, exitOK, code)
	golden(t, "dump_log", out)
	require.Contains(t, out, "isValid: true")
	require.NotContains(t, out, "\n!")

	// The batches only, without records.
	out, code = dumpOutput(t, dir, seg+".log")
	require.Equal(t, exitOK, code)
	golden(t, "dump_log_batches", out)
}

func TestDumpReportsDamage(t *testing.T) {
	dir := writeFixture(t, 240)
	seg := filepath.Join(dir, "events-0", "00000000000000000000")
	data, err := os.ReadFile(seg + ".log")
	require.NoError(t, err)
	data[300] ^= 0x40 // inside the fourth batch's records
	require.NoError(t, os.WriteFile(seg+".log", data, 0o644))
	index, err := os.ReadFile(seg + ".index")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(index), 16)
	index[7]++ // the first entry's position
	require.NoError(t, os.WriteFile(seg+".index", index, 0o644))

	r := runCLI(t, "", "dump", seg+".log", seg+".index", "--records")
	require.Equal(t, exitCorrupt, r.code)
	out := strings.ReplaceAll(r.stdout, dir, "DIR")
	golden(t, "dump_damaged", out)
	require.Contains(t, out, "isValid: false")
	require.Contains(t, out, "no batch starts at this position")
	require.Contains(t, r.stderr, "2 problems found")
}

func TestDumpReportsZeroTailAndCutBatch(t *testing.T) {
	dir := writeFixture(t, 10)
	seg := filepath.Join(dir, "events-1", "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	require.NoError(t, err)

	require.NoError(t, os.WriteFile(seg, append(append([]byte(nil), data...), make([]byte, 4096)...), 0o644))
	out, code := dumpOutput(t, dir, seg)
	require.Equal(t, exitOK, code, "zeros past the last batch are prepared space, not damage")
	require.Contains(t, out, "zeros to the end of the file (4096 bytes)")

	require.NoError(t, os.WriteFile(seg, append(append([]byte(nil), data...), data[:70]...), 0o644))
	out, code = dumpOutput(t, dir, seg)
	require.Equal(t, exitCorrupt, code)
	require.Contains(t, out, "! position: "+strconv.Itoa(len(data))+" unreadable batch")
	require.Contains(t, out, "cut short by the end of the file")
}

func TestDumpRefusesOtherFiles(t *testing.T) {
	dir := writeFixture(t, 2)
	r := runCLI(t, "", "dump", filepath.Join(dir, "events-0", "leader-epoch-checkpoint"))
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "not a file dump reads")
	r = runCLI(t, "", "dump", filepath.Join(dir, "events-0", "00000000000000000099.log"))
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "no such file")
}

// TestDumpKafkaPartition dumps the segment files of a partition directory
// laid out as Apache Kafka writes it.
func TestDumpKafkaPartition(t *testing.T) {
	root := t.TempDir()
	dir := writeKafkaPartition(t, root)
	var args []string
	for _, base := range []string{"00000000000000000000", "00000000000000000030"} {
		for _, suffix := range []string{".log", ".index", ".timeindex"} {
			args = append(args, filepath.Join(dir, base+suffix))
		}
	}
	out, code := dumpOutput(t, root, append(args, "--print-values")...)
	require.Equal(t, exitOK, code, out)
	golden(t, "dump_kafka", out)
	require.Contains(t, out, "compresscodec: gzip")
	require.Contains(t, out, "producerId: 4242")
	require.Contains(t, out, "unused zero entries at the end")
}
