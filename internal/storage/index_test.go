package storage

import (
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// newOffsetIndex opens a writable offset index of base at path on fs, for
// maxBytes of entries, closing it when the test ends.
func newOffsetIndex(t *testing.T, fs vfs.FS, path string, base, maxBytes int64) *offsetIndex {
	t.Helper()
	e, err := openEntryFile(fs, path, offsetEntrySize, maxBytes, true, false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.close() })
	return &offsetIndex{entryFile: e, base: base}
}

func newTimeIndex(t *testing.T, fs vfs.FS, path string, base, maxBytes int64) *timeIndex {
	t.Helper()
	e, err := openEntryFile(fs, path, timeEntrySize, maxBytes, true, false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.close() })
	return &timeIndex{entryFile: e, base: base}
}

// lookup returns the entry with the largest offset at or below the
// target, or the segment's start.
func TestOffsetIndexLookup(t *testing.T) {
	x := newOffsetIndex(t, vfs.NewMem(), "/100.index", 100, 1024)
	off, pos := x.lookup(500)
	require.Equal(t, int64(100), off, "an empty index points at the start")
	require.Zero(t, pos)
	for _, e := range [][2]int64{{110, 50}, {120, 100}, {130, 200}} {
		require.NoError(t, x.add(e[0], e[1]))
	}
	for _, c := range []struct{ target, off, pos int64 }{
		{100, 100, 0}, {109, 100, 0}, {110, 110, 50}, {119, 110, 50}, {125, 120, 100}, {130, 130, 200}, {1 << 40, 130, 200},
	} {
		off, pos := x.lookup(c.target)
		require.Equal(t, c.off, off, "target %d", c.target)
		require.Equal(t, c.pos, pos, "target %d", c.target)
	}
}

// validPrefix counts the leading entries that fit a data file of the
// given size and end offset, with offsets and positions increasing.
func TestOffsetIndexValidPrefix(t *testing.T) {
	x := newOffsetIndex(t, vfs.NewMem(), "/100.index", 100, 1024)
	for _, e := range [][2]int64{{110, 50}, {120, 100}, {130, 200}} {
		require.NoError(t, x.add(e[0], e[1]))
	}
	require.Equal(t, 3, x.validPrefix(201, 131))
	require.Equal(t, 2, x.validPrefix(200, 131), "a position at the file's end")
	require.Equal(t, 2, x.validPrefix(201, 130), "an offset at the end")
	require.Equal(t, 0, x.validPrefix(50, 1000))

	y := newOffsetIndex(t, vfs.NewMem(), "/0.index", 0, 1024)
	for _, e := range [][2]int64{{10, 50}, {9, 100}} {
		require.NoError(t, y.add(e[0], e[1]))
	}
	require.Equal(t, 1, y.validPrefix(1000, 1000), "offsets must increase")
}

// An index holds SegmentIndexBytes of entries; full then stops appends.
func TestIndexFullness(t *testing.T) {
	x := newOffsetIndex(t, vfs.NewMem(), "/0.index", 0, 4*offsetEntrySize+3)
	for i := range 4 {
		require.False(t, x.full(), "entry %d", i)
		require.NoError(t, x.add(int64(i+1), int64(10*(i+1))))
	}
	require.True(t, x.full(), "whole entries only")

	ti := newTimeIndex(t, vfs.NewMem(), "/0.timeindex", 0, 3*timeEntrySize)
	require.NoError(t, ti.maybeAdd(10, 1))
	require.False(t, ti.full())
	require.NoError(t, ti.maybeAdd(20, 2))
	require.True(t, ti.full(), "the last slot is kept for the seal's entry")
	require.NoError(t, ti.maybeAdd(30, 3))
	require.Equal(t, 3, ti.count())
	require.NoError(t, ti.maybeAdd(40, 4))
	require.Equal(t, 3, ti.count(), "beyond capacity nothing is added")
}

// The time index keeps timestamps and offsets strictly increasing;
// lookupBefore returns the entry with the largest timestamp below the
// target.
func TestTimeIndexLookupBefore(t *testing.T) {
	x := newTimeIndex(t, vfs.NewMem(), "/100.timeindex", 100, 1024)
	_, _, ok := x.lookupBefore(1 << 40)
	require.False(t, ok)
	require.NoError(t, x.maybeAdd(1000, 105))
	require.NoError(t, x.maybeAdd(1000, 106)) // same timestamp: not added
	require.NoError(t, x.maybeAdd(2000, 104)) // earlier offset: not added
	require.NoError(t, x.maybeAdd(2000, 110))
	require.NoError(t, x.maybeAdd(3000, 120))
	require.Equal(t, 3, x.count())
	require.Equal(t, 3, x.validPrefix(121))
	require.Equal(t, 2, x.validPrefix(120))

	_, _, ok = x.lookupBefore(1000)
	require.False(t, ok, "nothing strictly below")
	for _, c := range []struct{ target, ts, off int64 }{
		{1001, 1000, 105}, {2000, 1000, 105}, {2001, 2000, 110}, {1 << 40, 3000, 120},
	} {
		ts, off, ok := x.lookupBefore(c.target)
		require.True(t, ok)
		require.Equal(t, c.ts, ts, "target %d", c.target)
		require.Equal(t, c.off, off, "target %d", c.target)
	}
	ts, off, ok := x.last()
	require.True(t, ok)
	require.Equal(t, int64(3000), ts)
	require.Equal(t, int64(120), off)
}

// Entries reach the file as they are appended: a writable reopen counts
// them up to the first all-zero entry, after space was reserved ahead;
// truncateEntries zeroes the dropped ones and trim shrinks the file to the
// entries.
func TestIndexFilePersistence(t *testing.T) {
	mem := vfs.NewMem()
	e, err := openEntryFile(mem, "/0.index", offsetEntrySize, 1024, true, false)
	require.NoError(t, err)
	x := &offsetIndex{entryFile: e}
	for i := range 5 {
		require.NoError(t, x.add(int64(i+1), int64(10*(i+1))))
	}
	require.NoError(t, x.truncateEntries(3))
	require.Equal(t, 3, x.count())
	st, err := mem.Stat("/0.index")
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(3*offsetEntrySize), "space is reserved ahead")
	require.NoError(t, e.close())

	e, err = openEntryFile(mem, "/0.index", offsetEntrySize, 1024, true, false)
	require.NoError(t, err)
	y := &offsetIndex{entryFile: e}
	require.Equal(t, 3, y.count(), "the entries end at the first zero entry")
	require.Equal(t, int64(30), y.positionAt(2))
	require.NoError(t, y.trim())
	require.True(t, y.full(), "no appends after a trim")
	require.NoError(t, e.close())
	st, err = mem.Stat("/0.index")
	require.NoError(t, err)
	require.Equal(t, int64(3*offsetEntrySize), st.Size())

	e, err = openEntryFile(mem, "/0.index", offsetEntrySize, 1024, false, false)
	require.NoError(t, err)
	defer e.close()
	require.Equal(t, 3, e.count(), "read-only: every whole entry")
}
