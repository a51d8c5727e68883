package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// Batch header fields the tests below rewrite (Kafka's RecordBatch v2).
const (
	batchCRCAt         = 17
	batchRecordCountAt = record.HeaderSize - 4
)

// A batch whose CRC holds but whose records do not match its header (as a
// faulty writer could leave) ends a Scan or a Cursor with a
// *CorruptionError that says where, after the records before it.
func TestScanReportsABadRecordBehindAGoodCRC(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l := openTest(t, mem, nil)
	tp, err := l.CreateTopic(ctx, "bad", TopicConfig{})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	for range 3 {
		_, err := p.Append(ctx, []Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	path := filepath.Join(testDir, "bad-0", segmentName(0, logSuffix))
	data, err := mem.ReadFile(path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	second := data[starts[1]:starts[2]]
	binary.BigEndian.PutUint32(second[batchRecordCountAt:], 4) // it holds 3
	binary.BigEndian.PutUint32(second[batchCRCAt:], record.ComputeCRC(second))
	require.NoError(t, mem.WriteFile(path, data))

	l2, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	defer l2.Close()
	p2 := mustPartition(t, l2, "bad", 0)
	readers := map[string]func() ([]int64, error){
		"Scan": func() (got []int64, err error) {
			for r, err := range p2.Scan(ctx, 0) {
				if err != nil {
					return got, err
				}
				got = append(got, r.Offset)
			}
			return got, nil
		},
		"Cursor": func() (got []int64, err error) {
			c := p2.Cursor(ctx, 0)
			for c.Next() {
				got = append(got, c.Offset())
			}
			return got, c.Err()
		},
	}
	for name, read := range readers {
		got, err := read()
		require.Equal(t, []int64{0, 1, 2, 3, 4, 5}, got, "%s: the records before the damage", name)
		require.ErrorIs(t, err, ErrCorrupt, name)
		var cerr *CorruptionError
		require.ErrorAs(t, err, &cerr, name)
		require.Equal(t, path, cerr.Path, name)
		require.Equal(t, int64(starts[1]), cerr.FilePosition, name)
		require.Equal(t, int64(3), cerr.Offset, name)
	}
}

// longReadLog writes batches of 1,000 records of 100 bytes (each value
// starts with its offset) into a log in a real directory, whose data files
// are memory-mapped, with segments of segmentBytes; it returns the
// directory once the log is closed.
func longReadLog(t *testing.T, batches int, segmentBytes int64) string {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, &Options{})
	require.NoError(t, err)
	tp, err := l.CreateTopic(ctx, "long", TopicConfig{SegmentBytes: segmentBytes})
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	recs := make([]Record, 1000)
	values := make([]byte, 100*len(recs))
	for b := range batches {
		for i := range recs {
			v := values[i*100 : (i+1)*100]
			binary.BigEndian.PutUint64(v, uint64(b*len(recs)+i))
			recs[i] = Record{Value: v}
		}
		_, err := p.Append(ctx, recs)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return dir
}

// Scan reads a partition of several mapped segments whole, checking ahead
// in each, and yields every record in order; a scan that stops early or a
// Close ends the checker with it.
func TestLongScanYieldsEveryRecord(t *testing.T) {
	ctx := context.Background()
	dir := longReadLog(t, 60, 3<<20)
	l, err := Open(dir, &Options{})
	require.NoError(t, err)
	p := mustPartition(t, l, "long", 0)
	require.Greater(t, len(p.segments()), 2)
	want := int64(0)
	for r, err := range p.Scan(ctx, 0) {
		require.NoError(t, err)
		require.Equal(t, want, r.Offset)
		require.Equal(t, uint64(want), binary.BigEndian.Uint64(r.Value))
		want++
	}
	require.Equal(t, int64(60*1000), want)

	stopAt := int64(2_500_000 / 116) // about 2.5 MB in, checking ahead
	for r, err := range p.Scan(ctx, 0) {
		require.NoError(t, err)
		if r.Offset == stopAt {
			break
		}
	}
	func() {
		defer func() { require.NotNil(t, recover()) }()
		for r, err := range p.Scan(ctx, 0) {
			require.NoError(t, err)
			if r.Offset == stopAt {
				panic(errors.New("loop body panics"))
			}
		}
	}()
	for _, s := range p.segments() {
		require.EqualValues(t, 1, s.Refs, "segment %d: only the partition's own reference is left", s.Base)
	}
	require.NoError(t, l.Close())
}

// A Consumer's reader persists across polls, so a long catch-up read
// checks ahead too; closing the Consumer ends the checker and releases the
// segment.
func TestConsumerCloseEndsCheckingAhead(t *testing.T) {
	ctx := context.Background()
	dir := longReadLog(t, 40, 1<<30)
	l, err := Open(dir, &Options{})
	require.NoError(t, err)
	defer l.Close()
	c, err := l.NewConsumer(ConsumerConfig{
		Partitions:      []TopicPartition{{Topic: "long", Partition: 0}},
		AutoOffsetReset: ResetEarliest,
	})
	require.NoError(t, err)
	cp := c.parts[TopicPartition{Topic: "long", Partition: 0}]
	require.NotNil(t, cp)
	want := int64(0)
	for !(cp.cur.r != nil && cp.cur.r.CheckingAhead()) {
		recs, err := c.Poll(ctx)
		require.NoError(t, err)
		for _, r := range recs {
			require.Equal(t, want, r.Offset)
			require.Equal(t, uint64(want), binary.BigEndian.Uint64(r.Value))
			want++
		}
		require.Less(t, want, int64(40*1000), "checking ahead started before the end")
	}
	require.NoError(t, c.Close())
	for _, s := range mustPartition(t, l, "long", 0).segments() {
		require.EqualValues(t, 1, s.Refs, "the consumer's reader released segment %d", s.Base)
	}
}
