package commitlog

import (
	"context"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// The active segment's indexes keep their entries however often the Log
// is reopened and closed without appends: the checkpoint each Open writes
// records how many entries recovery kept, and the next Open keeps that
// many.
func TestReopenKeepsActiveSegmentIndexes(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "t", TopicConfig{IndexIntervalBytes: 256})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	for i := range 20 {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 300)}})
		require.NoError(t, err, "append %d", i)
	}
	offsets, times := p.active.offsets().count(), p.active.times().count()
	require.Positive(t, offsets)
	require.Positive(t, times)
	require.NoError(t, l.Close())

	for i := range 3 {
		l, err = Open(testDir, testOptions(mem))
		require.NoError(t, err)
		p = mustPartition(t, l, "t", 0)
		require.Equal(t, offsets, p.active.offsets().count(), "offset index entries after reopen %d", i)
		require.Equal(t, times, p.active.times().count(), "time index entries after reopen %d", i)
		require.NoError(t, l.Close())
	}
}
