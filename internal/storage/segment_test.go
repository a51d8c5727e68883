package storage

import (
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Segment file names are the base offset in 20 digits, so that name order
// is offset order; only such names parse.
func TestSegmentName(t *testing.T) {
	require.Equal(t, "00000000000000000042.log", SegmentName(42, LogSuffix))
	require.Equal(t, "09223372036854775807.timeindex", SegmentName(1<<63-1, TimeIndexSuffix))
	base, ok := ParseSegmentName("00000000000000000042.index", IndexSuffix)
	require.True(t, ok)
	require.Equal(t, int64(42), base)
	for _, name := range []string{
		"00000000000000000042.index", // wrong suffix for .log
		"0000000000000000042.log",    // 19 digits
		"-0000000000000000042.log",
		"0000000000000000004x.log",
		"00000000000000000042.log.swap",
	} {
		_, ok := ParseSegmentName(name, LogSuffix)
		require.False(t, ok, name)
	}
	require.Less(t, SegmentName(9, LogSuffix), SegmentName(10, LogSuffix))
}

// Under SyncAlways the active segment's file runs ahead of its data with
// prepared zeros; a roll seals the segment to its exact size, and Close
// leaves every file exactly as long as what it holds.
func TestSegmentFilesAreExactOnceSealedOrClosed(t *testing.T) {
	mem := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(mem), true)
	for range 20 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	fileSize := func(path string) int64 {
		st, err := mem.Stat(path)
		require.NoError(t, err)
		return st.Size()
	}
	active := p.ActiveSegment()
	require.Greater(t, fileSize(active.Path), active.Size, "space prepared for durable appends")
	for _, s := range p.Segments()[:len(p.Segments())-1] {
		require.True(t, s.Sealed)
		require.Equal(t, s.Size, fileSize(s.Path))
		require.Equal(t, int64(s.OffsetEntries*OffsetEntrySize), fileSize(filepathWithSuffix(s, IndexSuffix)))
		require.Equal(t, int64(s.TimeEntries*TimeEntrySize), fileSize(filepathWithSuffix(s, TimeIndexSuffix)))
		require.Positive(t, s.TimeEntries, "a sealed segment's time index has its final entry")
	}
	segs := p.Segments()
	require.NoError(t, p.Close())
	for _, s := range segs {
		require.Equal(t, s.Size, fileSize(s.Path))
		require.Equal(t, int64(s.OffsetEntries*OffsetEntrySize), fileSize(filepathWithSuffix(s, IndexSuffix)))
	}
}
