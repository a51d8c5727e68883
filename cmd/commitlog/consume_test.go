package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// consumeLines runs consume with args and returns its output lines.
func consumeLines(t *testing.T, args ...string) []string {
	t.Helper()
	out := mustRun(t, "", append([]string{"consume"}, args...)...)
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func TestConsumeRawJSONAndTemplate(t *testing.T) {
	dir := writeFixture(t, 40)
	before := snapshotDir(t, dir)

	lines := consumeLines(t, "-d", dir, "events", "-p", "1", "-K", "=")
	require.Len(t, lines, 20)
	for i, l := range lines {
		require.Equal(t, fmt.Sprintf("key-%d=value-%d", 2*i+1, 2*i+1), l)
	}

	lines = consumeLines(t, "-d", dir, "events", "-p", "0", "--format", "json")
	require.Len(t, lines, 20)
	for i, l := range lines {
		var j jsonRecord
		require.NoError(t, json.Unmarshal([]byte(l), &j), l)
		n := 2 * i
		require.Equal(t, "events", j.Topic)
		require.Equal(t, int32(0), j.Partition)
		require.Equal(t, int64(i), j.Offset)
		require.Equal(t, fixtureTime.UnixMilli()+int64(n), j.Timestamp)
		require.Equal(t, fmt.Sprintf("key-%d", n), *j.Key)
		require.Equal(t, fmt.Sprintf("value-%d", n), *j.Value)
		require.Equal(t, []jsonHeader{{Key: "n", Value: ptr(fmt.Sprint(n))}}, j.Headers)
	}

	lines = consumeLines(t, "-d", dir, "events", "-p", "0", "--template", `{{.Partition}}/{{.Offset}} {{.Key}} {{ms .Timestamp}} {{range .Headers}}{{.Key}}={{.Value}}{{end}} {{json .Value}}`, "-n", "2")
	require.Equal(t, []string{
		fmt.Sprintf(`0/0 key-0 %d n=0 "value-0"`, fixtureTime.UnixMilli()),
		fmt.Sprintf(`0/1 key-2 %d n=2 "value-2"`, fixtureTime.UnixMilli()+2),
	}, lines)

	// Every partition, interleaved by the consumer, and all of them.
	lines = consumeLines(t, "-d", dir, "events")
	require.Len(t, lines, 40)
	require.ElementsMatch(t, expectedValues(0, 40), lines)

	require.Equal(t, before, snapshotDir(t, dir), "consume opens read-only: no file may change")
}

func ptr(s string) *string { return &s }

// expectedValues returns the fixture's values of records [from, to).
func expectedValues(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("value-%d", i))
	}
	return out
}

func TestConsumeStartPositions(t *testing.T) {
	dir := writeFixture(t, 40)
	// Partition 0 holds records 0, 2, 4, ... at offsets 0, 1, 2, ...
	require.Equal(t, []string{"value-34", "value-36", "value-38"}, consumeLines(t, "-d", dir, "events", "-p", "0", "--offset", "-3"))
	require.Equal(t, []string{"value-30", "value-32"}, consumeLines(t, "-d", dir, "events", "-p", "0", "--offset", "15", "-n", "2"))
	require.Empty(t, consumeLines(t, "-d", dir, "events", "-p", "0", "--offset", "end"))
	at := fixtureTime.Add(21 * time.Millisecond)
	require.Equal(t, []string{"value-22", "value-24"}, consumeLines(t, "-d", dir, "events", "-p", "0", "--time", at.UTC().Format(time.RFC3339Nano), "-n", "2"))
	require.Equal(t, []string{"value-22"}, consumeLines(t, "-d", dir, "events", "-p", "0", "--time", fmt.Sprint(at.UnixMilli()), "-n", "1"))

	for _, args := range [][]string{
		{"--offset", "soon"}, {"--time", "yesterday"}, {"--offset", "3", "--time", "0"}, {"--format", "xml"},
		{"--format", "template"}, {"--template", "{{.Nope"}, {"-p", "7"}, {"--group", "g", "--offset", "3"},
	} {
		r := runCLI(t, "", append([]string{"consume", "-d", dir, "events"}, args...)...)
		require.Equal(t, exitError, r.code, "%v: %s", args, r.stderr)
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	mustRun(t, "", "topics", "create", "-d", dir, "t", "--partitions", "3")
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "k%d:v%d\r\n", i%7, i)
	}
	in.WriteString("nokey")
	r := runCLI(t, in.String(), "produce", "-d", dir, "t", "-K", ":", "-H", "src=test", "-H", "empty=", "-z", "lz4")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "produced 101 records")

	var got []jsonRecord
	for _, l := range consumeLines(t, "-d", dir, "t", "--format", "json") {
		var j jsonRecord
		require.NoError(t, json.Unmarshal([]byte(l), &j))
		got = append(got, j)
	}
	require.Len(t, got, 101)
	byKey := map[string][]string{}
	partitionOf := map[string]int32{}
	for _, j := range got {
		require.Equal(t, []jsonHeader{{Key: "src", Value: ptr("test")}, {Key: "empty", Value: ptr("")}}, j.Headers)
		if j.Key == nil {
			require.Equal(t, "nokey", *j.Value)
			continue
		}
		if p, ok := partitionOf[*j.Key]; ok {
			require.Equal(t, p, j.Partition, "one key, one partition")
		}
		partitionOf[*j.Key] = j.Partition
		byKey[*j.Key] = append(byKey[*j.Key], *j.Value)
	}
	for k, vs := range byKey {
		var want []string
		for i := range 100 {
			if fmt.Sprintf("k%d", i%7) == k {
				want = append(want, fmt.Sprintf("v%d", i))
			}
		}
		require.Equal(t, want, vs, "records of key %s in produce order", k)
	}

	// One partition, raw values in, raw values out, byte for byte.
	mustRun(t, "", "topics", "create", "-d", dir, "one")
	in.Reset()
	for i := range 50 {
		fmt.Fprintf(&in, "line %d with spaces and ünïcode\n", i)
	}
	mustRun(t, in.String(), "produce", "-d", dir, "one", "--partition", "0")
	require.Equal(t, in.String(), mustRun(t, "", "consume", "-d", dir, "one"))

	r = runCLI(t, "x\n", "produce", "-d", dir, "one", "--partition", "1")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "partitions 0 to 0")
	r = runCLI(t, strings.Repeat("y", 100)+"\n", "produce", "-d", dir, "one", "--max-line-bytes", "10")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "line 1")
	r = runCLI(t, "x\n", "produce", "-d", dir, "nope")
	require.Equal(t, exitError, r.code)
	require.Contains(t, r.stderr, "unknown topic")
}

func TestConsumeAsGroupMemberCommits(t *testing.T) {
	dir := writeFixture(t, 40)
	// billing has committed offset 5 of events-0 and none of events-1.
	lines := consumeLines(t, "-d", dir, "events", "--group", "billing")
	require.ElementsMatch(t, append(expectedValuesStep(10, 40, 2), expectedValuesStep(1, 40, 2)...), lines)

	var g groupJSON
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "groups", "describe", "-d", dir, "billing", "--json")), &g))
	require.Equal(t, int64(0), g.TotalLag, "everything consumed is committed")
	require.Len(t, g.Partitions, 2)
	for _, p := range g.Partitions {
		require.Equal(t, int64(20), p.Committed)
	}
	require.Empty(t, consumeLines(t, "-d", dir, "events", "--group", "billing"), "the group resumes at its commits")

	// A new group, stopping after 3 records: exactly those are committed.
	require.Len(t, consumeLines(t, "-d", dir, "events", "--group", "fresh", "-n", "3"), 3)
	g = groupJSON{}
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "groups", "lag", "-d", dir, "fresh", "--json")), &g))
	committed, lag := int64(0), int64(0)
	for _, p := range g.Partitions {
		committed += p.Committed
		lag += p.HighWatermark - p.Committed
	}
	require.Equal(t, int64(3), committed)
	require.Equal(t, lag, g.TotalLag)
}

// expectedValuesStep returns the fixture's values of records from, from+step, ... below to.
func expectedValuesStep(from, to, step int) []string {
	var out []string
	for i := from; i < to; i += step {
		out = append(out, fmt.Sprintf("value-%d", i))
	}
	return out
}

// startFollower starts consume --follow with args and returns the
// process and a reader of its output lines.
func startFollower(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, cliBinary, append([]string{"consume", "--follow", "--poll-interval", "10ms"}, args...)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	wait := func() error {
		err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr.String())
		}
		return nil
	}
	return cmd, bufio.NewScanner(out), wait
}

// produceWhenFree produces lines to partition 0, retrying while the
// follower holds the directory (exit status 3), until it succeeds.
func produceWhenFree(t *testing.T, dir, topic, lines string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		r := runCLI(t, lines, "produce", "-d", dir, topic, "--partition", "0")
		if r.code == 0 {
			return
		}
		require.Equal(t, exitLocked, r.code, r.stderr)
		require.Contains(t, r.stderr, "another process has the directory open")
		require.Less(t, attempt, 10_000, "the follower never released the directory")
	}
}

func TestConsumeFollowSeesRecordsProducedLater(t *testing.T) {
	dir := writeFixture(t, 4)
	_, lines, wait := startFollower(t, "-d", dir, "events", "-p", "0", "-n", "5")
	for _, want := range []string{"value-0", "value-2"} {
		require.True(t, lines.Scan())
		require.Equal(t, want, lines.Text())
	}
	produceWhenFree(t, dir, "events", "later-1\nlater-2\nlater-3\n")
	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	require.NoError(t, wait(), "the follower stops by itself after --max-records 5")
	require.Equal(t, []string{"later-1", "later-2", "later-3"}, got)
}

func TestConsumeFollowStopsOnInterrupt(t *testing.T) {
	dir := writeFixture(t, 4)
	cmd, lines, wait := startFollower(t, "-d", dir, "events")
	for range 4 {
		require.True(t, lines.Scan())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for lines.Scan() {
	}
	require.NoError(t, wait(), "an interrupted follow exits with status 0")
	// The directory is free again: a read-write command runs.
	mustRun(t, "x\n", "produce", "-d", dir, "events")
}
