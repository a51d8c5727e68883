package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// cursorRecords appends n records over several segments of smallTopic,
// with every shape a record can have, and returns them as Scan reads them.
func cursorRecords(t *testing.T, p *Partition, n int) []Record {
	t.Helper()
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < n; {
		var batch []Record
		for j := 0; j < 1+i%4 && i < n; j, i = j+1, i+1 {
			r := Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i), Timestamp: base.Add(time.Duration(i/3) * time.Millisecond)}
			switch i % 5 {
			case 1:
				r.Key = nil
			case 2:
				r.Value = []byte{}
			case 3:
				r.Headers = []Header{{Key: "h", Value: []byte("v")}, {Key: "null"}}
			}
			batch = append(batch, r)
		}
		_, err := p.Append(ctx, batch)
		require.NoError(t, err)
	}
	var got []Record
	for r, err := range p.Scan(ctx, p.StartOffset()) {
		require.NoError(t, err)
		got = append(got, r.Clone())
	}
	require.Len(t, got, n)
	return got
}

// A Cursor returns the records Scan yields, in order, from any offset,
// through Offset, Key, Value and Record; it has no record before the first
// Next and none after the last.
func TestCursorReadsWhatScanYields(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "c", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	want := cursorRecords(t, p, 300)
	require.GreaterOrEqual(t, len(p.segments()), 3, "the records span segments")

	for _, from := range []int64{0, 1, 2, 57, 150, 298, 299, 300} {
		c := p.Cursor(ctx, from)
		require.Nil(t, c.Record(), "no record before the first Next")
		i := from
		for c.Next() {
			w := want[i]
			require.Equal(t, w.Offset, c.Offset())
			require.Equal(t, w.Key, c.Key())
			require.Equal(t, w.Value, c.Value())
			r := c.Record()
			require.Equal(t, w, r.Clone())
			require.Equal(t, w.Value == nil, r.Value == nil)
			require.Equal(t, w.Key == nil, r.Key == nil)
			i++
		}
		require.NoError(t, c.Err())
		require.Equal(t, int64(len(want)), i, "from %d: every record up to the end", from)
		require.Nil(t, c.Record(), "no record after the last")
		require.Zero(t, c.Offset())
		require.Nil(t, c.Value())
		require.False(t, c.Next(), "it stays ended")
		c.Close()
	}
}

// A Cursor stops at the high watermark as it was at its first Next.
func TestCursorStopsAtTheHighWatermarkOfItsFirstNext(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "c", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("a")}, {Value: []byte("b")}})
	require.NoError(t, err)

	c := p.Cursor(ctx, 0)
	defer c.Close()
	_, err = p.Append(ctx, []Record{{Value: []byte("not seen: before the first Next")}})
	require.NoError(t, err)
	var got []string
	for c.Next() {
		got = append(got, string(c.Value()))
		_, err := p.Append(ctx, []Record{{Value: []byte("not seen: after it")}})
		require.NoError(t, err)
	}
	require.NoError(t, c.Err())
	require.Equal(t, []string{"a", "b", "not seen: before the first Next"}, got)
}

// Control batches (transaction markers) are not records: a Cursor and
// Scan pass over them.
func TestCursorSkipsControlBatches(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "c", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	_, err = p.Append(ctx, []Record{{Value: []byte("a")}})
	require.NoError(t, err)
	var b record.Builder
	b.Append(0, nil, []byte("commit marker"), nil)
	control, err := b.Build()
	require.NoError(t, err)
	attrs := binary.BigEndian.Uint16(control[21:]) // RecordBatch v2 attributes
	binary.BigEndian.PutUint16(control[21:], attrs|record.AttrControl)
	record.SetCRC(control, record.ComputeCRC(control))
	_, err = p.appendBatch(ctx, control, appendOptions{Expected: -1})
	require.NoError(t, err)
	_, err = p.Append(ctx, []Record{{Value: []byte("b")}})
	require.NoError(t, err)

	for _, from := range []int64{0, 1} {
		var got []string
		c := p.Cursor(ctx, from)
		for c.Next() {
			got = append(got, fmt.Sprintf("%d %s", c.Offset(), c.Value()))
		}
		require.NoError(t, c.Err())
		want := []string{"0 a", "2 b"}[from:]
		require.Equal(t, want, got, "from %d", from)
		got = got[:0]
		for r, err := range p.Scan(ctx, from) {
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%d %s", r.Offset, r.Value))
		}
		require.Equal(t, want, got, "Scan from %d", from)
	}
}

// Compressed batches are read through the cursor's own buffer.
func TestCursorReadsCompressedBatches(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	for _, codec := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		tp, err := l.CreateTopic(ctx, codec.String(), TopicConfig{Compression: codec})
		require.NoError(t, err)
		p, _ := tp.Partition(0)
		var recs []Record
		for i := range 50 {
			recs = append(recs, Record{Key: []byte("same key"), Value: fmt.Appendf(nil, "a compressible value, number %d", i)})
		}
		_, err = p.Append(ctx, recs)
		require.NoError(t, err)
		_, err = p.Append(ctx, recs[:7])
		require.NoError(t, err)
		c := p.Cursor(ctx, 3)
		for i := 3; i < 57; i++ {
			require.True(t, c.Next(), "%s: record %d", codec, i)
			require.Equal(t, int64(i), c.Offset())
			require.Equal(t, recs[i%50].Value, c.Value())
			require.Equal(t, recs[i%50].Key, c.Key())
		}
		require.False(t, c.Next())
		require.NoError(t, c.Err(), codec.String())
	}
}

// Every way a cursor can fail ends it with a typed error from Err, after
// the records before the failure.
func TestCursorErrors(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, vfs.NewMem(), nil)
	tp, err := l.CreateTopic(ctx, "c", smallTopic)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	cursorRecords(t, p, 100)
	_, err = p.DeleteRecords(ctx, 10)
	require.NoError(t, err)

	count := func(c *Cursor) int {
		n := 0
		for c.Next() {
			n++
		}
		return n
	}
	var oor *OffsetOutOfRangeError
	for _, from := range []int64{-1, 9, 101} {
		c := p.Cursor(ctx, from)
		require.Zero(t, count(c))
		require.ErrorAs(t, c.Err(), &oor, "from %d", from)
		require.Equal(t, from, oor.Offset)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c := p.Cursor(cctx, 10)
	require.Zero(t, count(c))
	require.ErrorIs(t, c.Err(), context.Canceled)

	// Cancelled during the read: the cursor finishes the batch it is in.
	cctx, cancel = context.WithCancel(ctx)
	c = p.Cursor(cctx, 10)
	require.True(t, c.Next())
	cancel()
	n := 1 + count(c)
	require.ErrorIs(t, c.Err(), context.Canceled)
	require.LessOrEqual(t, n, 4, "at most the rest of the first batch")
}

// A cursor releases its segment and ends its CRC checker when it reaches
// the end or is closed, also mid-segment while checking ahead; a Log
// closed before a cursor starts fails it with ErrClosed.
func TestCursorCloseReleasesItsSegment(t *testing.T) {
	ctx := context.Background()
	dir := longReadLog(t, 60, 3<<20)
	l, err := Open(dir, &Options{})
	require.NoError(t, err)
	p := mustPartition(t, l, "long", 0)
	requireReleased := func() {
		t.Helper()
		for _, s := range p.segments() {
			require.EqualValues(t, 1, s.Refs, "segment %d: only the partition's own reference is left", s.Base)
		}
	}

	c := p.Cursor(ctx, 0)
	want := int64(0)
	for c.Next() {
		require.Equal(t, want, c.Offset())
		require.Equal(t, uint64(want), binary.BigEndian.Uint64(c.Value()))
		want++
	}
	require.NoError(t, c.Err())
	require.Equal(t, int64(60*1000), want)
	requireReleased()

	c = p.Cursor(ctx, 0)
	for c.Next() && c.Offset() < 2_500_000/116 { // about 2.5 MB in, checking ahead
	}
	require.True(t, c.r.CheckingAhead(), "checking ahead")
	c.Close()
	requireReleased()
	require.False(t, c.Next(), "closed")
	require.Nil(t, c.Value())
	require.NoError(t, c.Err())
	c.Close()

	c = p.Cursor(ctx, 0)
	require.NoError(t, l.Close())
	require.False(t, c.Next())
	require.True(t, errors.Is(c.Err(), ErrClosed), "got %v", c.Err())
}
