package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
)

// update rewrites the golden files of testdata with what the tests get.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// cliBinary is the commitlog command built once for the tests.
var cliBinary string

// TestMain builds the command into a temporary directory; every test runs
// that binary, as a user would, against real directories.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "commitlog-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cliBinary = filepath.Join(dir, "commitlog")
	out, err := exec.Command("go", "build", "-o", cliBinary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of the command gave.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command with args and stdin, and returns its output and
// exit status. A run that does not end within a minute fails the test.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running %v: %v", args, err)
	}
	require.NoError(t, ctx.Err(), "commitlog %v did not finish", args)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustRun runs the command and requires exit status 0.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, stdin, args...)
	require.Equal(t, 0, r.code, "commitlog %v: stderr:\n%s", args, r.stderr)
	return r.stdout
}

// fixtureTime is the timestamp of the fixture's first record.
var fixtureTime = time.UnixMilli(1_700_000_000_000)

// writeFixture writes, through the library, a Log with topic "events" (2
// partitions over several small segments, records with keys and headers
// and fixed timestamps), topic "empty", and group "billing" with a
// commit at offset 5 of events-0 (at its end if it holds fewer), and
// returns its directory. Record i
// goes to partition i%2 with key "key-i", value "value-i", header
// n=i, timestamp fixtureTime + i ms.
func writeFixture(t *testing.T, records int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	ctx := context.Background()
	l, err := commitlog.Open(dir, nil)
	require.NoError(t, err)
	events, err := l.CreateTopic(ctx, "events", commitlog.TopicConfig{
		Partitions: 2, SegmentBytes: 4096, IndexIntervalBytes: 256, SegmentIndexBytes: 1024, MaxBatchBytes: 4096,
	})
	require.NoError(t, err)
	_, err = l.CreateTopic(ctx, "empty", commitlog.TopicConfig{})
	require.NoError(t, err)
	for i := range records {
		p, err := events.Partition(int32(i % 2))
		require.NoError(t, err)
		_, err = p.Append(ctx, []commitlog.Record{fixtureRecord(i)})
		require.NoError(t, err)
	}
	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "billing", Partitions: []commitlog.TopicPartition{{Topic: "events", Partition: 0}}, DisableAutoCommit: true})
	require.NoError(t, err)
	commit := min(5, int64((records+1)/2))
	require.NoError(t, c.CommitOffsets(ctx, map[commitlog.TopicPartition]int64{{Topic: "events", Partition: 0}: commit}))
	require.NoError(t, c.Close())
	require.NoError(t, l.Close())
	return dir
}

// fixtureRecord is record i of writeFixture.
func fixtureRecord(i int) commitlog.Record {
	return commitlog.Record{
		Key:       fmt.Appendf(nil, "key-%d", i),
		Value:     fmt.Appendf(nil, "value-%d", i),
		Headers:   []commitlog.Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}},
		Timestamp: fixtureTime.Add(time.Duration(i) * time.Millisecond),
	}
}

// snapshotDir returns every file below dir with its contents.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			out[path+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	}))
	return out
}

// golden compares got with testdata/name.golden, or with -update writes
// it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test -update")
	require.Equal(t, string(want), got, "output differs from %s (go test -update rewrites it)", path)
}
