package storage

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// retentionLog holds 40 batches of one 300-byte record over several
// segments, batch i with timestamp base+i minutes, and the clock at the
// last one.
func retentionLog(t *testing.T, cfg Config, clock *testClock) *PartitionLog {
	cfg.Now = clock.Now
	p := openPartitionLog(t, cfg, true)
	base := clock.Now()
	for i := range 40 {
		clock.ms.Store(base.Add(time.Duration(i) * time.Minute).UnixMilli())
		mustAppend(t, p, plainBatch(t, clock.Now().UnixMilli(), kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	require.Greater(t, len(p.Segments()), 3)
	return p
}

// Retention by time deletes the oldest segments whose newest record is
// older than Retention, strictly, and moves the start offset to the first
// kept segment.
func TestRetentionByTime(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	cfg.Retention = time.Hour
	p := retentionLog(t, cfg, clock)
	segs := p.Segments()
	newest := time.UnixMilli(segs[0].MaxTimestamp)

	require.NoError(t, p.EnforceRetention(ctx, newest.Add(time.Hour)))
	require.Len(t, p.Segments(), len(segs), "exactly Retention old is kept")
	require.Zero(t, p.Stats().RetentionDeleted)
	require.True(t, newest.Add(time.Hour).Equal(p.Stats().LastRetention))

	require.NoError(t, p.EnforceRetention(ctx, newest.Add(time.Hour+time.Millisecond)))
	require.Len(t, p.Segments(), len(segs)-1)
	require.Equal(t, segs[1].Base, p.StartOffset())

	newest = time.UnixMilli(segs[1].MaxTimestamp)
	require.NoError(t, p.EnforceRetention(ctx, newest.Add(time.Hour+time.Millisecond)))
	kept := p.Segments()
	require.Len(t, kept, len(segs)-2)
	require.True(t, kept[0].Same(segs[2]))
	require.Equal(t, segs[2].Base, p.StartOffset())
	require.Equal(t, int64(2), p.Stats().RetentionDeleted)
	require.Equal(t, segs[2].Base, p.LastCheckpoint().LogStartOffset, "the new start is durable")
	for _, s := range segs[:2] {
		_, err := mem.Stat(s.Path)
		require.ErrorIs(t, err, os.ErrNotExist)
		_, err = mem.Stat(filepathWithSuffix(s, IndexSuffix))
		require.ErrorIs(t, err, os.ErrNotExist)
		_, err = mem.Stat(filepathWithSuffix(s, TimeIndexSuffix))
		require.ErrorIs(t, err, os.ErrNotExist)
		require.True(t, s.Closed())
	}
	require.Equal(t, span(segs[2].Base, 40), readOffsets(t, p, p.StartOffset()))
	require.NoError(t, p.Check(ctx))
}

// Retention never deletes the active segment while it holds records
// younger than Retention; once every record has expired, the active
// segment is rolled and deleted too, leaving an empty partition at the
// end offset.
func TestRetentionKeepsTheActiveSegment(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.Retention = time.Hour
	p := retentionLog(t, cfg, clock)
	active := p.ActiveSegment()
	last := time.UnixMilli(active.MaxTimestamp)

	require.NoError(t, p.EnforceRetention(ctx, last.Add(time.Hour)))
	segs := p.Segments()
	require.Len(t, segs, 1)
	require.True(t, segs[0].Same(active), "the active segment stays")
	require.Equal(t, active.Base, p.StartOffset())

	require.NoError(t, p.EnforceRetention(ctx, last.Add(time.Hour+time.Millisecond)))
	segs = p.Segments()
	require.Len(t, segs, 1)
	require.False(t, segs[0].Same(active))
	require.Equal(t, int64(40), segs[0].Base)
	require.Equal(t, int64(40), p.StartOffset())
	require.Equal(t, int64(40), p.EndOffset())
	require.Equal(t, int64(40), mustAppend(t, p, plainBatch(t, 1, rec("k", "v"))).BaseOffset)
}

// Retention by size deletes the oldest segments as long as what remains
// holds RetentionBytes.
func TestRetentionBySize(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	p := retentionLog(t, cfg, clock)
	segs := p.Segments()
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	// What remains without the first two segments holds RetentionBytes
	// exactly; without the third too it would not.
	p.cfg.RetentionBytes = total - segs[0].Size - segs[1].Size
	require.NoError(t, p.EnforceRetention(ctx, clock.Now()))
	kept := p.Segments()
	require.Len(t, kept, len(segs)-2)
	require.Equal(t, segs[2].Base, p.StartOffset())
	require.Equal(t, int64(2), p.Stats().RetentionDeleted)
	var left int64
	for _, s := range kept {
		left += s.Size
	}
	require.GreaterOrEqual(t, left, p.cfg.RetentionBytes)

	require.NoError(t, p.EnforceRetention(ctx, clock.Now()))
	require.Len(t, p.Segments(), len(kept), "nothing more to delete")
}

// Without RetentionDeletes (a compact-only topic) nothing is deleted.
func TestRetentionOffForCompactOnlyTopic(t *testing.T) {
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.Retention, cfg.RetentionBytes, cfg.RetentionDeletes = time.Millisecond, 1, false
	p := retentionLog(t, cfg, clock)
	n := len(p.Segments())
	require.NoError(t, p.EnforceRetention(context.Background(), clock.At(24*time.Hour)))
	require.Len(t, p.Segments(), n)
	require.Zero(t, p.StartOffset())
}

// Config.Discard receives the removal of deleted segments' files: the
// segments leave the partition at once, the files once it runs.
func TestRetentionDiscardRemovesFilesWhenRun(t *testing.T) {
	clock := newTestClock()
	mem := vfs.NewMem()
	cfg := smallConfig(mem)
	cfg.Retention = time.Hour
	var pending []func()
	cfg.Discard = func(remove func()) { pending = append(pending, remove) }
	p := retentionLog(t, cfg, clock)
	segs := p.Segments()
	require.NoError(t, p.EnforceRetention(context.Background(), time.UnixMilli(segs[0].MaxTimestamp).Add(time.Hour+time.Millisecond)))
	require.Equal(t, segs[1].Base, p.StartOffset())
	require.Len(t, pending, 1)
	_, err := mem.Stat(segs[0].Path)
	require.NoError(t, err, "not removed before Discard runs it")
	pending[0]()
	_, err = mem.Stat(segs[0].Path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.True(t, segs[0].Closed())
}

// DeleteRecords moves the start offset, durably; it never moves it back,
// nor above the high watermark.
func TestDeleteRecords(t *testing.T) {
	ctx := context.Background()
	cfg := smallConfig(vfs.NewMem())
	p := openPartitionLog(t, cfg, true)
	for range 10 {
		mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))
	}
	start, err := p.DeleteRecords(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, int64(7), start)
	require.Equal(t, int64(7), p.StartOffset())
	require.Equal(t, span(7, 20), readOffsets(t, p, 7))

	start, err = p.DeleteRecords(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, int64(7), start, "never back")

	_, err = p.DeleteRecords(ctx, -1)
	require.ErrorIs(t, err, ErrInvalidArgument)

	_, err = p.AppendBatch(ctx, plainBatch(t, 1, rec("c", "3")), AppendOptions{Expected: -1, NoWait: true})
	require.NoError(t, err)
	require.Equal(t, int64(21), p.EndOffset())
	_, err = p.DeleteRecords(ctx, 21)
	var oerr *OffsetOutOfRangeError
	require.ErrorAs(t, err, &oerr, "above the high watermark")
	require.ErrorIs(t, err, ErrOffsetOutOfRange)
	require.Equal(t, int64(21), oerr.Offset)
	require.Equal(t, int64(7), oerr.Start)
	require.Equal(t, int64(20), oerr.End)
	require.Equal(t, int64(7), p.StartOffset())

	start, err = p.DeleteRecords(ctx, 20)
	require.NoError(t, err, "up to the high watermark")
	require.Equal(t, int64(20), start)
	require.NoError(t, p.Close())

	q := openPartitionLog(t, cfg, false)
	require.Equal(t, int64(20), q.StartOffset(), "durable across a reopen")
	require.Equal(t, int64(21), q.EndOffset())
}

// Retention deletes the segments DeleteRecords left wholly below the
// start offset, whatever their age.
func TestRetentionDeletesSegmentsBelowStart(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	p := retentionLog(t, smallConfig(vfs.NewMem()), clock)
	segs := p.Segments()
	_, err := p.DeleteRecords(ctx, segs[2].Base+1)
	require.NoError(t, err)
	require.NoError(t, p.EnforceRetention(ctx, clock.Now()))
	kept := p.Segments()
	require.True(t, kept[0].Same(segs[2]), "the segment holding the start stays")
	require.Equal(t, segs[2].Base+1, p.StartOffset(), "the start stays where DeleteRecords put it")
	require.Equal(t, int64(2), p.Stats().RetentionDeleted)
}

// The segment holding the durable end and the high watermark stays, even
// sealed behind an empty active segment.
func TestRetentionKeepsTheDurableEndsSegment(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	cfg := smallConfig(vfs.NewMem())
	cfg.RetentionBytes = 1
	p := retentionLog(t, cfg, clock)
	require.NoError(t, p.Roll()) // the ends stay in the segment just sealed
	holding := p.DurableSegment()
	require.True(t, holding.Sealed)
	require.True(t, p.PositionSegment(p.HighWatermarkPosition()).Same(holding))

	require.NoError(t, p.EnforceRetention(ctx, clock.Now()))
	segs := p.Segments()
	require.Len(t, segs, 2)
	require.True(t, segs[0].Same(holding))
	require.Equal(t, holding.Base, p.StartOffset())
	require.Equal(t, span(holding.Base, 40), readOffsets(t, p, p.StartOffset()))
}
