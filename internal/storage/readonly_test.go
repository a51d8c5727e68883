package storage

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// TestReadOnlyRefusesEveryMutation opens a partition read-only and calls
// every method that changes a partition: each fails with a
// *ReadOnlyError naming the call, and reads still work.
func TestReadOnlyRefusesEveryMutation(t *testing.T) {
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	appendBatches(t, p, rand.New(rand.NewPCG(1, 2)), 40, 3, 50)
	end := p.EndOffset()
	require.NoError(t, p.Close())

	cfg := smallConfig(vfs.ReadOnly(mem))
	cfg.ReadOnly = true
	ro, err := Open(cfg, false)
	require.NoError(t, err)
	defer ro.Close()
	ctx := context.Background()
	batch := plainBatch(t, 1_700_000_000_000, rec("k", "v"))
	_, appendErr := ro.AppendBatch(ctx, batch, AppendOptions{Expected: -1})
	_, followerErr := ro.AppendAsFollower(ctx, batch, AppendOptions{})
	_, deleteErr := ro.DeleteRecords(ctx, 1)
	for op, err := range map[string]error{
		"AppendBatch":       appendErr,
		"AppendAsFollower":  followerErr,
		"AssignLeaderEpoch": ro.AssignLeaderEpoch(3),
		"TruncateTo":        ro.TruncateTo(ctx, 1),
		"ResetTo":           ro.ResetTo(ctx, end+10),
		"EnforceRetention":  ro.EnforceRetention(ctx, time.Now()),
		"DeleteRecords":     deleteErr,
		"Compact":           ro.Compact(ctx, time.Now()),
		"Roll":              ro.Roll(),
		"RollIdle":          ro.RollIdle(),
		"RollIfAged":        ro.RollIfAged(time.Now().Add(time.Hour)),
		"Flush":             ro.Flush(ctx),
		"Checkpoint":        ro.Checkpoint(ctx),
	} {
		var roe *ReadOnlyError
		require.ErrorAs(t, err, &roe, op)
		require.ErrorIs(t, err, ErrReadOnly, op)
		require.Contains(t, err.Error(), op+" on t-0", op)
		require.Contains(t, err.Error(), "open it read-write", op)
	}
	require.Equal(t, end, ro.EndOffset())
	require.Equal(t, end, ro.HighWatermark())
	require.Equal(t, end, ro.DurableOffset(), "what was read is as durable as it gets")
	require.Len(t, readOffsets(t, ro, 0), int(end))
	require.NoError(t, ro.Check(ctx))
}

func TestReadOnlyErrorMessages(t *testing.T) {
	err := needsWriteToOpen(filepath.Join("d", "checkpoint"), "the checkpoint records a reset")
	require.True(t, errors.Is(err, ErrReadOnly))
	require.Equal(t, "commitlog: open read-only d/checkpoint: the checkpoint records a reset, which only a read-write open completes: open the directory read-write once (without Options.ReadOnly), then read-only again", err.Error())
	require.Equal(t, "commitlog: CreateTopic x: the Log was opened read-only (Options.ReadOnly), which refuses every change: open it read-write to write",
		(&ReadOnlyError{Op: "CreateTopic x"}).Error())
}
