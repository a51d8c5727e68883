package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicsCreateListDescribeDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	mustRun(t, "", "topics", "create", "-d", dir, "orders", "--partitions", "3", "--cleanup-policy", "compact", "--retention", "forever", "--compression", "zstd")
	mustRun(t, "", "topics", "create", "-d", dir, "audit")
	require.Equal(t, "audit\norders\n", mustRun(t, "", "topics", "list", "-d", dir))

	var ds []topicDescription
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "topics", "describe", "-d", dir, "orders", "--json")), &ds))
	require.Len(t, ds, 1)
	require.Equal(t, "orders", ds[0].Name)
	require.Equal(t, topicConfigDescription{Partitions: 3, CleanupPolicy: "compact", Retention: "forever", SegmentBytes: 1 << 30,
		Compression: "zstd", MaxBatchBytes: 1<<20 + 12, Replication: 1}, ds[0].Config)
	require.Len(t, ds[0].Partitions, 3)
	require.Contains(t, mustRun(t, "", "topics", "describe", "-d", dir), "Topic: audit")

	r := runCLI(t, "", "topics", "create", "-d", dir, "orders")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "topic already exists")

	mustRun(t, "", "topics", "delete", "-d", dir, "orders")
	require.Equal(t, "audit\n", mustRun(t, "", "topics", "list", "-d", dir))
	r = runCLI(t, "", "topics", "describe", "-d", dir, "orders")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "unknown topic")
}

func TestTopicsInvalidArguments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	for _, args := range [][]string{
		{"topics", "create", "-d", dir, "x", "--cleanup-policy", "sometimes"},
		{"topics", "create", "-d", dir, "x", "--compression", "brotli"},
		{"topics", "create", "-d", dir, "x", "--retention", "-1h"},
		{"topics", "create", "-d", dir, "bad/name"},
		{"topics", "list"},
		{"topics", "list", "-d", dir},
	} {
		r := runCLI(t, "", args...)
		require.Equal(t, exitError, r.code, "%v: %s", args, r.stderr)
		require.NotEmpty(t, r.stderr)
	}
	require.NoDirExists(t, dir, "a refused create, and a read-only command, must not create the directory")
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	for _, cmd := range [][]string{
		{"topics", "list"}, {"topics", "describe"}, {"topics", "create"}, {"topics", "delete"},
		{"produce"}, {"consume"}, {"dump"}, {"verify"}, {"stats"},
		{"groups", "list"}, {"groups", "describe"}, {"groups", "lag"}, {"groups", "reset-offsets"},
	} {
		out := mustRun(t, "", append(cmd, "--help")...)
		require.Contains(t, out, "Examples:", "%v --help", cmd)
		require.Contains(t, out, "commitlog "+cmd[0], "%v --help", cmd)
	}
	require.Contains(t, mustRun(t, "", "--help"), "Exit status:")
}
