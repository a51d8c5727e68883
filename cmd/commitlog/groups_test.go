package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// committedOffsets returns group's committed offsets by "topic-partition".
func committedOffsets(t *testing.T, dir, group string) map[string]int64 {
	t.Helper()
	var g groupJSON
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "groups", "describe", "-d", dir, group, "--json")), &g))
	out := map[string]int64{}
	for _, p := range g.Partitions {
		out[p.Topic+"-"+string(rune('0'+p.Partition))] = p.Committed
	}
	return out
}

func TestGroupsListDescribeLag(t *testing.T) {
	dir := writeFixture(t, 40)
	require.Equal(t, "billing\n", mustRun(t, "", "groups", "list", "-d", dir))
	out := mustRun(t, "", "groups", "describe", "-d", dir, "billing")
	require.Contains(t, out, "Group: billing\tState: Empty\tMembers: 0")
	require.Regexp(t, `events\s+0\s+5\s+20\s+15\s+2\d\d\d-`, out)
	out = mustRun(t, "", "groups", "lag", "-d", dir, "billing")
	require.Contains(t, out, "TOTAL LAG: 15")
	r := runCLI(t, "", "groups", "describe", "-d", dir, "nobody")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "unknown consumer group")
}

func TestGroupsResetOffsetsDryRunThenExecute(t *testing.T) {
	dir := writeFixture(t, 40)
	before := snapshotDir(t, dir)

	r := runCLI(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--all-topics", "--to-earliest")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `billing\s+events\s+0\s+5\s+0\n`, r.stdout)
	require.Contains(t, r.stderr, "dry run")
	require.Equal(t, before, snapshotDir(t, dir), "a dry run changes no file")
	require.Equal(t, map[string]int64{"events-0": 5}, committedOffsets(t, dir, "billing"))

	r = runCLI(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--all-topics", "--to-earliest", "--execute")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `billing\s+events\s+0\s+5\s+0\n`, r.stdout)
	require.Equal(t, map[string]int64{"events-0": 0}, committedOffsets(t, dir, "billing"))

	// Every partition of the topic, to a time: partition 0 holds records
	// 0, 2, ... at offsets 0, 1, ...; partition 1 records 1, 3, ...
	at := fixtureTime.Add(10 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	mustRun(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--topic", "events", "--to-datetime", at, "--execute")
	require.Equal(t, map[string]int64{"events-0": 5, "events-1": 5}, committedOffsets(t, dir, "billing"))

	out := mustRun(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--topic", "events:1", "--shift-by", "-3", "--execute")
	require.Regexp(t, `billing\s+events\s+1\s+5\s+2\n`, out)
	require.Equal(t, map[string]int64{"events-0": 5, "events-1": 2}, committedOffsets(t, dir, "billing"))

	mustRun(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--all-topics", "--shift-by", "100", "--execute")
	require.Equal(t, map[string]int64{"events-0": 20, "events-1": 20}, committedOffsets(t, dir, "billing"), "a shift is clamped to the high watermark")

	mustRun(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--topic", "events:0", "--to-offset", "7", "--execute")
	mustRun(t, "", "groups", "reset-offsets", "-d", dir, "billing", "--topic", "events:1", "--to-latest", "--execute")
	require.Equal(t, map[string]int64{"events-0": 7, "events-1": 20}, committedOffsets(t, dir, "billing"))

	for _, args := range [][]string{
		{"--all-topics"}, // no target
		{"--all-topics", "--to-earliest", "--to-latest"}, // two targets
		{"--to-earliest"}, // no partitions
		{"--topic", "events:9", "--to-earliest"},
		{"--topic", "nope", "--to-earliest"},
	} {
		r := runCLI(t, "", append([]string{"groups", "reset-offsets", "-d", dir, "billing"}, args...)...)
		require.Equal(t, exitError, r.code, "%v: %s", args, r.stderr)
		require.True(t, strings.TrimSpace(r.stderr) != "")
	}
}
