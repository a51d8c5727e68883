package commitlog

import (
	"bytes"
	"context"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordArenaPut(t *testing.T) {
	var a recordArena
	require.Nil(t, a.put(nil))
	empty := a.put([]byte{})
	require.NotNil(t, empty, "empty stays empty, not null, before any chunk exists")
	require.Empty(t, empty)

	// Copies survive the chunk being replaced, and do not share it.
	first := a.put(bytes.Repeat([]byte{'a'}, minArenaChunk-10))
	second := a.put(bytes.Repeat([]byte{'b'}, 20)) // does not fit: a new chunk
	third := a.put(bytes.Repeat([]byte{'c'}, 3*minArenaChunk))
	require.Equal(t, bytes.Repeat([]byte{'a'}, minArenaChunk-10), first)
	require.Equal(t, bytes.Repeat([]byte{'b'}, 20), second)
	require.Equal(t, bytes.Repeat([]byte{'c'}, 3*minArenaChunk), third)

	// Appending to a copy does not overwrite the next copy in its chunk.
	x, y := a.put([]byte("xx")), a.put([]byte("yy"))
	require.Equal(t, "xx!", string(append(x, '!')))
	require.Equal(t, "yy", string(y))

	// reserve starts a chunk with room for what it is told.
	a.reserve(1 << 20)
	require.GreaterOrEqual(t, cap(a.chunk)-len(a.chunk), 1<<20)
	before := cap(a.chunk)
	a.put(make([]byte, 100))
	a.reserve(1000)
	require.Equal(t, before, cap(a.chunk), "room left: no new chunk")
}

func TestRecordArenaCopyRecord(t *testing.T) {
	var a recordArena
	rr := record.Record{
		Offset: 7, Timestamp: 1_700_000_000_123, Key: []byte("k"), Value: []byte("v"),
		Headers: []record.RecordHeader{{Key: []byte("h"), Value: []byte("x")}, {Key: []byte("n")}},
	}
	r := a.copyRecord("t", 3, &rr)
	rr.Key[0], rr.Value[0], rr.Headers[0].Key[0], rr.Headers[0].Value[0] = '!', '!', '!', '!'
	require.Equal(t, "t", r.Topic)
	require.Equal(t, int32(3), r.Partition)
	require.Equal(t, int64(7), r.Offset)
	require.Equal(t, int64(1_700_000_000_123), r.Timestamp.UnixMilli())
	require.Equal(t, "k", string(r.Key))
	require.Equal(t, "v", string(r.Value))
	require.Equal(t, []Header{{"h", []byte("x")}, {"n", nil}}, r.Headers)
	require.Nil(t, a.copyRecord("t", 0, &record.Record{}).Headers)
}

// TestPollAndReadKeepNullAndEmptyApart checks that Consumer.Poll and
// Partition.Read keep a null key, value or header value null and an empty
// one empty, in uncompressed batches (whose bytes they reserve ahead) and
// compressed ones (which they do not).
func TestPollAndReadKeepNullAndEmptyApart(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecLZ4} {
		t.Run(codec.String(), func(t *testing.T) {
			l := openTest(t, vfs.NewMem(), nil)
			ctx := context.Background()
			_, err := l.CreateTopic(ctx, "t", TopicConfig{Compression: codec})
			require.NoError(t, err)
			p := mustPartition(t, l, "t", 0)
			_, err = p.Append(ctx, []Record{
				{Key: []byte{}, Value: []byte{}, Headers: []Header{{"e", []byte{}}, {"n", nil}}},
				{Key: nil, Value: nil},
			})
			require.NoError(t, err)
			c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
			read, err := p.Read(ctx, 0, 1<<20)
			require.NoError(t, err)
			for name, recs := range map[string][]Record{"Poll": pollN(t, c, 2), "Read": read} {
				require.Len(t, recs, 2, name)
				require.NotNil(t, recs[0].Key, name)
				require.Empty(t, recs[0].Key, name)
				require.NotNil(t, recs[0].Value, name)
				require.Empty(t, recs[0].Value, name)
				require.NotNil(t, recs[0].Headers[0].Value, name)
				require.Nil(t, recs[0].Headers[1].Value, name)
				require.Nil(t, recs[1].Key, name)
				require.Nil(t, recs[1].Value, name)
			}
		})
	}
}

// TestPollRecordsSurviveArenaChunks has one Poll copy more than one arena
// chunk holds (values of 40 KiB and 100 KiB in an lz4 batch, for which
// Poll reserves nothing ahead, then uncompressed ones): every record keeps
// its own bytes.
func TestPollRecordsSurviveArenaChunks(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	prod, err := l.NewProducer(ProducerConfig{Compression: CodecLZ4})
	require.NoError(t, err)
	var want [][]byte
	for i, size := range []int{40 << 10, 40 << 10, 100 << 10, 10, 40 << 10} {
		v := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, v)
		prod.Produce(ctx, &Record{Topic: "t", Value: v, Headers: []Header{{"i", []byte{byte(i)}}}}, func(_ *Record, err error) {
			assert.NoError(t, err)
		})
	}
	require.NoError(t, prod.Flush(ctx))
	require.NoError(t, prod.Close())
	p := mustPartition(t, l, "t", 0)
	for i := range 3 {
		v := bytes.Repeat([]byte{byte('A' + i)}, 30<<10)
		want = append(want, v)
		_, err = p.Append(ctx, []Record{{Value: v}})
		require.NoError(t, err)
	}
	c := newTestConsumer(t, l, ConsumerConfig{Partitions: []TopicPartition{{"t", 0}}})
	recs := pollN(t, c, len(want))
	require.Len(t, recs, len(want))
	for i, r := range recs {
		require.Equal(t, want[i], r.Value, "record %d", i)
	}
	for i := range 5 {
		require.Equal(t, []Header{{"i", []byte{byte(i)}}}, recs[i].Headers)
	}
}

// TestReadSmallBatchesShareArenaChunks reads 1,000 batches of one record
// each: their copies share a few arena chunks, not one chunk per batch.
func TestReadSmallBatchesShareArenaChunks(t *testing.T) {
	l := openTest(t, vfs.NewMem(), nil)
	ctx := context.Background()
	_, err := l.CreateTopic(ctx, "t", TopicConfig{})
	require.NoError(t, err)
	p := mustPartition(t, l, "t", 0)
	for range 1000 {
		_, err := p.Append(ctx, []Record{{Value: make([]byte, 100)}})
		require.NoError(t, err)
	}
	var n int
	allocs := testing.AllocsPerRun(3, func() {
		recs, err := p.Read(ctx, 0, 1<<20)
		require.NoError(t, err)
		n = len(recs)
	})
	require.Equal(t, 1000, n)
	require.Less(t, allocs, 100.0, "allocations per Read of 1,000 one-record batches")
}
