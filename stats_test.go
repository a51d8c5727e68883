package commitlog

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPartitionStats(t *testing.T) {
	l, p, clock := retentionLog(t, time.Hour, 0)
	st := p.Stats()
	require.Equal(t, PartitionStats{Topic: "t", Segments: 1}, st)
	appendAt(t, p, 12, clock.Now())
	st = p.Stats()
	require.Equal(t, int64(120), st.EndOffset)
	require.Equal(t, int64(120), st.HighWatermark)
	require.Equal(t, len(p.segments()), st.Segments)
	require.Greater(t, st.Segments, 2)
	var size int64
	for _, s := range p.segments() {
		size += s.Size
	}
	require.Equal(t, size, st.Bytes)
	require.True(t, st.LastRetention.IsZero())

	clock.Advance(2 * time.Hour)
	appendAt(t, p, 1, clock.Now())
	require.NoError(t, l.EnforceRetention(context.Background()))
	after := p.Stats()
	require.Equal(t, clock.Now().UnixMilli(), after.LastRetention.UnixMilli())
	require.Equal(t, int64(st.Segments-after.Segments+1), after.RetentionDeleted, "a segment was added, the rest deleted")
	require.Equal(t, after.StartOffset, p.segments()[0].Base)
	require.Less(t, after.Bytes, st.Bytes)
	all := l.Stats()
	require.Len(t, all, 1)
	require.Equal(t, after, all[0])
}
