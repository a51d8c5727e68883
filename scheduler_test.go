package commitlog

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// The Log's background goroutine, on synctest's virtual clock: under
// SyncInterval it fsyncs every SyncInterval, it writes checkpoints every
// CheckpointInterval, it rolls an idle segment once it reaches
// SegmentAge, and Close stops it.
func TestSchedulerRunsOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		mem := vfs.NewMem()
		opts := &Options{
			Sync:               SyncInterval,
			SyncInterval:       100 * time.Millisecond,
			CheckpointInterval: time.Second,
			fs:                 mem,
		}
		l, err := Open(testDir, opts)
		require.NoError(t, err)
		tp, err := l.CreateTopic(ctx, "t", TopicConfig{SegmentAge: time.Minute, SegmentIndexBytes: 1024})
		require.NoError(t, err)
		p, _ := tp.Partition(0)
		_, err = p.Append(ctx, []Record{{Value: []byte("a")}})
		require.NoError(t, err)
		require.Equal(t, int64(0), p.DurableOffset(), "SyncInterval acknowledges before fsyncing")

		time.Sleep(150 * time.Millisecond) // virtual time: one SyncInterval tick
		synctest.Wait()
		require.Equal(t, int64(1), p.DurableOffset(), "the scheduler fsynced on its own")

		cpBefore := p.checkpointSnapshot()
		_, err = p.Append(ctx, []Record{{Value: []byte("b")}})
		require.NoError(t, err)
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, int64(2), p.checkpointSnapshot().RecoveryOffset, "a checkpoint recorded the new end (was %d)", cpBefore.RecoveryOffset)

		require.Len(t, p.segments(), 1)
		time.Sleep(time.Minute + time.Second) // the segment turns a minute old with no append
		synctest.Wait()
		require.Len(t, p.segments(), 2, "the idle segment rolled by age")

		require.NoError(t, l.Close())
		synctest.Wait() // Close waited for the goroutine: nothing is left running in the bubble
	})
}
