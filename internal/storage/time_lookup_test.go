package storage

import (
	"context"
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// timedLog holds 60 records in batches of three, record i with timestamp
// 1000+10*i, over several segments with time index entries.
func timedLog(t *testing.T) *PartitionLog {
	cfg := smallConfig(vfs.NewMem())
	cfg.SegmentBytes, cfg.IndexIntervalBytes = 1024, 64
	p := openPartitionLog(t, cfg, true)
	for b := range 20 {
		ts := int64(1000 + 30*b)
		var rs []kv
		for range 3 {
			rs = append(rs, kv{key: []byte("k"), value: make([]byte, 40)})
		}
		batch := batchWithTimes(t, ts, 10, rs...)
		mustAppend(t, p, batch)
	}
	require.Greater(t, len(p.Segments()), 2)
	require.Positive(t, p.Segments()[0].TimeEntries)
	return p
}

// OffsetForTimestamp returns the first offset whose timestamp is at or
// after the target, inside batches and across segments.
func TestOffsetForTimestampFindsFirstAtOrAfter(t *testing.T) {
	p := timedLog(t)
	for _, c := range []struct{ target, want int64 }{
		{0, 0}, {1000, 0}, {1001, 1}, {1010, 1}, {1011, 2}, {1020, 2}, {1021, 3},
		{1300, 30}, {1295, 30}, {1590, 59}, {1589, 59},
	} {
		got, err := p.OffsetForTimestamp(c.target)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "timestamp %d", c.target)
	}
}

// With no record at or after the target the lookup returns the high
// watermark, also when the only later records are not yet visible.
func TestOffsetForTimestampReturnsHighWatermarkWhenNone(t *testing.T) {
	p := timedLog(t)
	got, err := p.OffsetForTimestamp(1591)
	require.NoError(t, err)
	require.Equal(t, int64(60), got)

	_, err = p.AppendBatch(context.Background(), batchWithTimes(t, 5000, 1, rec("late", "x")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Equal(t, int64(61), p.EndOffset())
	got, err = p.OffsetForTimestamp(5000)
	require.NoError(t, err)
	require.Equal(t, int64(60), got, "the record above the high watermark is not visible")
	require.NoError(t, p.Flush(context.Background()))
	got, err = p.OffsetForTimestamp(5000)
	require.NoError(t, err)
	require.Equal(t, int64(60), got)
	got, err = p.OffsetForTimestamp(5001)
	require.NoError(t, err)
	require.Equal(t, int64(61), got)

	empty := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	got, err = empty.OffsetForTimestamp(0)
	require.NoError(t, err)
	require.Zero(t, got)
}

// A lookup never returns an offset below the log start.
func TestOffsetForTimestampRespectsStartOffset(t *testing.T) {
	p := timedLog(t)
	_, err := p.DeleteRecords(context.Background(), 7)
	require.NoError(t, err)
	got, err := p.OffsetForTimestamp(0)
	require.NoError(t, err)
	require.Equal(t, int64(7), got)
	got, err = p.OffsetForTimestamp(1100)
	require.NoError(t, err)
	require.Equal(t, int64(10), got)
}

// A damaged time index entry slows the lookup but does not misdirect it.
func TestOffsetForTimestampSurvivesDamagedTimeIndex(t *testing.T) {
	fs := vfs.NewMem()
	logs := &logCapture{}
	cfg := smallConfig(fs)
	cfg.SegmentBytes, cfg.IndexIntervalBytes = 1<<20, 1
	cfg.Logger = slog.New(logs)
	p := openPartitionLog(t, cfg, true)
	for b := range 10 {
		mustAppend(t, p, batchWithTimes(t, int64(1000+30*b), 10, rec("a", "1"), rec("b", "2"), rec("c", "3")))
	}
	// Every batch but the first has an entry: the third names offset 11
	// (timestamp 1110). Point it at 13 instead, a plausible entry that,
	// trusted, would skip offset 12 (timestamp 1120).
	tix := (*p.segments.Load())[0].times()
	require.Greater(t, tix.count(), 3)
	require.Equal(t, int64(1110), tix.timestampAt(2))
	require.Equal(t, int64(11), tix.offsetAt(2))
	binary.BigEndian.PutUint32(tix.entry(2)[8:], 13)
	require.Equal(t, tix.count(), tix.validPrefix(p.EndOffset()), "the damage passes the plausibility check")
	got, err := p.OffsetForTimestamp(1115)
	require.NoError(t, err)
	require.Equal(t, int64(12), got)
	require.Contains(t, logs.messages(), "time index entry does not match the data; searching the segment from its start")
}
