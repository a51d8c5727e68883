package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog"
)

// bigSegment writes a Log whose one partition has a segment of about 10
// MiB, above progressMinBytes, and returns the segment's path.
func bigSegment(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	ctx := context.Background()
	l, err := commitlog.Open(dir, &commitlog.Options{Sync: commitlog.SyncNever})
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "big", commitlog.TopicConfig{SegmentBytes: 64 << 20, MaxBatchBytes: 2 << 20})
	require.NoError(t, err)
	p, err := tp.Partition(0)
	require.NoError(t, err)
	recs := make([]commitlog.Record, 1000)
	for i := range recs {
		recs[i] = commitlog.Record{Value: make([]byte, 1000), Timestamp: time.UnixMilli(1_700_000_000_000)}
	}
	for p.Stats().Bytes < progressMinBytes+2<<20 {
		_, err := p.Append(ctx, recs)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return filepath.Join(dir, "big-0", "00000000000000000000.log")
}

// TestProgressOnlyOnTerminal dumps a large segment with standard error
// piped (no progress bar: nothing on it) and on a terminal (the bar is
// drawn there), through script(1) for the terminal.
func TestProgressOnlyOnTerminal(t *testing.T) {
	seg := bigSegment(t)
	r := runCLI(t, "", "dump", seg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Empty(t, r.stderr, "no progress bar when standard error is not a terminal")

	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is needed to run the command on a terminal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "-qfec", cliBinary+" dump "+seg+" >/dev/null", "/dev/null").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "dump 00000000000000000000.log", "the progress bar is drawn on a terminal")
	require.True(t, strings.Contains(string(out), "MB") || strings.Contains(string(out), "%"), "%q", out)
}
