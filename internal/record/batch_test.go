package record

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/stretchr/testify/require"
)

// Golden vectors of Kafka's record format v2 (DefaultRecord and
// DefaultRecordBatch in Kafka's clients), computed with an implementation
// independent of this one (its CRC-32C gives the standard check value
// 0xe3069283 for "123456789") and cross-checked against franz-go's kmsg in
// internal/kafkacompat.
const (
	goldenTS = 1700000000000

	// The record: offsetDelta 0, tsDelta 0, key "k", value "v", no headers.
	goldenRecordHex = "10 00 00 00 02 6b 02 76 00"

	// Batch A: the record alone, baseOffset 0, partitionLeaderEpoch -1,
	// attributes 0, base and max timestamp goldenTS, no producer id, epoch
	// or sequence (-1): 70 bytes, CRC 0xe99b8dd8.
	goldenBatchAHex = `0000000000000000 0000003a ffffffff 02 e99b8dd8 0000 00000000 0000018bcfe56800 0000018bcfe56800
		ffffffffffffffff ffff ffffffff 00000001 10000000026b027600`
	goldenBatchACRC = 0xe99b8dd8

	// Batch B: baseOffset 100, two records, (key "key0", value "value0")
	// then (offsetDelta 1, tsDelta 5, null key, value "value1", header
	// "h"="x"); base timestamp goldenTS, max goldenTS+5: 95 bytes, CRC
	// 0x8eec9d0a.
	goldenBatchBHex = `0000000000000064 00000053 ffffffff 02 8eec9d0a 0000 00000001 0000018bcfe56800 0000018bcfe56805
		ffffffffffffffff ffff ffffffff 00000002
		20000000086b6579300c76616c75653000 20000a02010c76616c7565310202680278`
	goldenBatchBCRC = 0x8eec9d0a
)

// unhex decodes hex with any whitespace in it.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// buildGoldenA builds golden batch A with the Builder.
func buildGoldenA(t testing.TB) []byte {
	t.Helper()
	var b Builder
	b.Reset(BuildOptions{ProducerID: NoProducerID, ProducerEpoch: NoEpoch, BaseSequence: NoSequence})
	b.Append(goldenTS, []byte("k"), []byte("v"), nil)
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

// buildGoldenB builds golden batch B with the Builder.
func buildGoldenB(t testing.TB) []byte {
	t.Helper()
	var b Builder
	b.Reset(BuildOptions{ProducerID: NoProducerID, ProducerEpoch: NoEpoch, BaseSequence: NoSequence})
	b.Append(goldenTS, []byte("key0"), []byte("value0"), nil)
	b.Append(goldenTS+5, nil, []byte("value1"), []RecordHeader{{Key: []byte("h"), Value: []byte("x")}})
	batch, err := b.Build()
	require.NoError(t, err)
	batch = append([]byte(nil), batch...)
	SetBaseOffset(batch, 100)
	return batch
}

func TestGoldenVarints(t *testing.T) {
	cases := []struct {
		v   int64
		hex string
	}{
		{0, "00"}, {-1, "01"}, {1, "02"}, {-2, "03"}, {63, "7e"}, {-64, "7f"},
		{64, "8001"}, {300, "d804"}, {-300, "d704"},
		{2147483647, "feffffff0f"}, {-2147483648, "ffffffff0f"},
	}
	for _, tc := range cases {
		want := unhex(t, tc.hex)
		require.Equal(t, want, binary.AppendVarint(nil, tc.v), "encode %d", tc.v)
		require.Equal(t, len(want), varintLen(tc.v), "varintLen(%d)", tc.v)
		buf := make([]byte, len(want)+1)
		require.Equal(t, len(want)+1, putVarint(buf, 1, tc.v), "putVarint(%d)", tc.v)
		require.Equal(t, want, buf[1:], "putVarint(%d)", tc.v)
		v, n := readVarint32(want)
		require.Equal(t, len(want), n)
		require.Equal(t, int32(tc.v), v)
		v64, n := readVarint64(want)
		require.Equal(t, len(want), n)
		require.Equal(t, tc.v, v64)
	}
}

// TestVarintLengthBoundaries checks varintLen and putVarint against the
// standard encoder around every length boundary.
func TestVarintLengthBoundaries(t *testing.T) {
	put := make([]byte, binary.MaxVarintLen64)
	for shift := 0; shift < 63; shift++ {
		for _, d := range []int64{-1, 0, 1} {
			for _, v := range []int64{1<<shift + d, -(1 << shift) + d} {
				enc := binary.AppendVarint(nil, v)
				require.Equal(t, len(enc), varintLen(v), "varintLen(%d)", v)
				require.Equal(t, enc, put[:putVarint(put, 0, v)], "putVarint(%d)", v)
			}
		}
	}
}

func TestVarintLimits(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 1 << 31, -1 << 31, 1<<62 - 1, -1 << 62, 1<<63 - 1, -1 << 63} {
		enc := binary.AppendVarint(nil, v)
		require.Equal(t, len(enc), varintLen(v))
		put := make([]byte, binary.MaxVarintLen64)
		require.Equal(t, enc, put[:putVarint(put, 0, v)])
		got, n := readVarint64(enc)
		require.Equal(t, len(enc), n)
		require.Equal(t, v, got)
	}
	// Truncated.
	_, n := readVarint32([]byte{0x80, 0x80})
	require.Equal(t, 0, n)
	_, n = readVarint32(nil)
	require.Equal(t, 0, n)
	_, n = readVarint64([]byte{0xff})
	require.Equal(t, 0, n)
	// More than 32 bits, or a 6th byte, overflow an int32 field.
	_, n = readVarint32([]byte{0xff, 0xff, 0xff, 0xff, 0x1f})
	require.Less(t, n, 0)
	_, n = readVarint32([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00})
	require.Less(t, n, 0)
	// More than 64 bits overflow an int64 field.
	_, n = readVarint64([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	require.Less(t, n, 0)
	// Overlong but in range is accepted, as Kafka does.
	v, n := readVarint32([]byte{0x82, 0x80, 0x00})
	require.Equal(t, 3, n)
	require.Equal(t, int32(1), v)
}

func TestGoldenRecord(t *testing.T) {
	want := unhex(t, goldenRecordHex)
	require.Equal(t, len(want), RecordSize(0, 0, []byte("k"), []byte("v"), nil))
	var b Builder
	b.Append(goldenTS, []byte("k"), []byte("v"), nil)
	require.Equal(t, want, b.buf[HeaderSize:])
	require.Equal(t, HeaderSize+len(want), b.Size())
}

func TestGoldenBatchA(t *testing.T) {
	want := unhex(t, goldenBatchAHex)
	require.Len(t, want, 70)
	got := buildGoldenA(t)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
	require.Equal(t, uint32(goldenBatchACRC), ComputeCRC(got))
	require.NoError(t, CheckCRC(got))
	require.NoError(t, Validate(got, 1<<20))

	h, err := ParseHeader(got, len(got))
	require.NoError(t, err)
	require.Equal(t, Header{
		BaseOffset: 0, BatchLength: 58, PartitionLeaderEpoch: -1, Magic: 2, CRC: goldenBatchACRC,
		Attributes: 0, LastOffsetDelta: 0, BaseTimestamp: goldenTS, MaxTimestamp: goldenTS,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, RecordCount: 1,
	}, h)
	require.Equal(t, 70, h.Size())
	require.Equal(t, int64(0), h.LastOffset())
	require.Equal(t, int64(1), h.NextOffset())
	require.Equal(t, compress.None, h.Codec())

	recs := collect(t, got)
	require.Equal(t, []Record{{Offset: 0, Timestamp: goldenTS, Key: []byte("k"), Value: []byte("v")}}, recs)
}

func TestGoldenBatchB(t *testing.T) {
	want := unhex(t, goldenBatchBHex)
	require.Len(t, want, 95)
	got := buildGoldenB(t)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
	require.Equal(t, uint32(goldenBatchBCRC), ComputeCRC(got))
	require.NoError(t, Validate(got, 1<<20))

	h, err := ParseHeader(got, len(got))
	require.NoError(t, err)
	require.Equal(t, int64(100), h.BaseOffset)
	require.Equal(t, int32(0x53), h.BatchLength)
	require.Equal(t, int32(1), h.LastOffsetDelta)
	require.Equal(t, int64(goldenTS+5), h.MaxTimestamp)
	require.Equal(t, int32(2), h.RecordCount)
	require.Equal(t, int64(101), h.LastOffset())
	require.Equal(t, int64(102), h.NextOffset())

	recs := collect(t, got)
	require.Equal(t, []Record{
		{Offset: 100, Timestamp: goldenTS, Key: []byte("key0"), Value: []byte("value0")},
		{Offset: 101, Timestamp: goldenTS + 5, Key: nil, Value: []byte("value1"),
			Headers: []RecordHeader{{Key: []byte("h"), Value: []byte("x")}}},
	}, recs)
	require.Nil(t, recs[1].Key, "null key decodes as nil")
}

func TestParseHeaderErrors(t *testing.T) {
	good := buildGoldenB(t)
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	cases := []struct {
		name    string
		b       []byte
		maxSize int
		want    error
		msg     string
	}{
		{"empty", nil, 1 << 20, ErrTruncated, ""},
		{"short", good[:HeaderSize-1], 1 << 20, ErrTruncated, ""},
		{"magic1", mutate(func(b []byte) { b[offMagic] = 1 }), 1 << 20, ErrCorrupt, "magic 1"},
		{"magic0", mutate(func(b []byte) { b[offMagic] = 0 }), 1 << 20, ErrCorrupt, "magic 0"},
		{"negativeLength", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[offBatchLength:], 0xffffffff) }), 1 << 20, ErrCorrupt, ""},
		{"lengthBelowHeader", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[offBatchLength:], HeaderSize-LogOverhead-1) }), 1 << 20, ErrCorrupt, ""},
		{"2GiB", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[offBatchLength:], 1<<31-1) }), 1 << 20, ErrTooLarge, ""},
		{"aboveMax", good, len(good) - 1, ErrTooLarge, ""},
		{"negativeLastOffsetDelta", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0x80000000) }), 1 << 20, ErrCorrupt, ""},
		{"negativeCount", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[offRecordCount:], 0xffffffff) }), 1 << 20, ErrCorrupt, ""},
		{"codec5", mutate(func(b []byte) { b[offAttributes+1] |= 5 }), 1 << 20, ErrCorrupt, "codec"},
		{"codec7", mutate(func(b []byte) { b[offAttributes+1] |= 7 }), 1 << 20, ErrCorrupt, "codec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.b, tc.maxSize)
			require.ErrorIs(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "record: "), err.Error())
			if tc.msg != "" {
				require.Contains(t, err.Error(), tc.msg)
			}
		})
	}
	// The header alone is enough: ParseHeader does not need the records.
	h, err := ParseHeader(good[:HeaderSize], len(good))
	require.NoError(t, err)
	require.Equal(t, len(good), h.Size())
	// Exactly at the limit is fine.
	_, err = ParseHeader(good, len(good))
	require.NoError(t, err)
}

func TestParseHeaderHugeDeclaredSizeDoesNotAllocate(t *testing.T) {
	b := make([]byte, HeaderSize)
	copy(b, buildGoldenA(t))
	binary.BigEndian.PutUint32(b[offBatchLength:], 1<<31-1) // a 2 GiB batch
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ParseHeader(b, 1<<20)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4096))

	var it Iter
	require.ErrorIs(t, it.Reset(b, 1<<20), ErrTruncated, "a 2 GiB declared batch in 61 bytes is a torn tail")
}

func TestHeaderZeroAllocs(t *testing.T) {
	batch := buildGoldenB(t)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseHeader(batch, len(batch)); err != nil {
			t.Fatal(err)
		}
		if err := CheckCRC(batch); err != nil {
			t.Fatal(err)
		}
		SetBaseOffset(batch, 100)
		SetPartitionLeaderEpoch(batch, 7)
	})
	require.Zero(t, allocs)
}

func TestHeaderAccessors(t *testing.T) {
	h := Header{BaseOffset: 10, LastOffsetDelta: 4, BatchLength: 100,
		Attributes: int16(compress.Zstd) | AttrLogAppendTime | AttrTransactional | AttrControl | AttrDeleteHorizon}
	require.Equal(t, 112, h.Size())
	require.Equal(t, int64(14), h.LastOffset())
	require.Equal(t, int64(15), h.NextOffset())
	require.Equal(t, compress.Zstd, h.Codec())
	require.True(t, h.LogAppendTime())
	require.True(t, h.Transactional())
	require.True(t, h.Control())
	require.True(t, h.HasDeleteHorizon())
	h.Attributes = 0
	require.False(t, h.LogAppendTime() || h.Transactional() || h.Control() || h.HasDeleteHorizon())
}

func TestCheckCRC(t *testing.T) {
	for _, batch := range [][]byte{buildGoldenA(t), buildGoldenB(t), buildRandomBatch(t, 3, compress.LZ4)} {
		require.NoError(t, CheckCRC(batch))
		// Every single-byte change at or after the attributes breaks the CRC.
		for i := offAttributes; i < len(batch); i++ {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				batch[i] ^= x
				err := CheckCRC(batch)
				batch[i] ^= x
				require.ErrorIs(t, err, ErrCorrupt, "byte %d ^ %#x", i, x)
			}
		}
		// The base offset and leader epoch are outside the CRC.
		for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15} {
			batch[i] ^= 0xff
			require.NoError(t, CheckCRC(batch), "byte %d", i)
			batch[i] ^= 0xff
		}
		SetBaseOffset(batch, 1<<62)
		SetPartitionLeaderEpoch(batch, 42)
		require.NoError(t, CheckCRC(batch))
		h, err := ParseHeader(batch, len(batch))
		require.NoError(t, err)
		require.Equal(t, int64(1<<62), h.BaseOffset)
		require.Equal(t, int32(42), h.PartitionLeaderEpoch)

		err = CheckCRC(batch[:len(batch)-1])
		require.ErrorIs(t, err, ErrTruncated)
		err = CheckCRC(append(append([]byte(nil), batch...), 0))
		require.ErrorIs(t, err, ErrCorrupt)
		err = CheckCRC(batch[:20])
		require.ErrorIs(t, err, ErrTruncated)
	}
	batch := buildGoldenA(t)
	batch[len(batch)-1] ^= 1
	err := CheckCRC(batch)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "0xe99b8dd8")
}

func TestSetLogAppendTime(t *testing.T) {
	batch := buildGoldenB(t)
	SetLogAppendTime(batch, goldenTS+1000)
	require.NoError(t, CheckCRC(batch))
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.True(t, h.LogAppendTime())
	require.Equal(t, int64(goldenTS+1000), h.MaxTimestamp)
	for _, r := range collect(t, batch) {
		require.Equal(t, int64(goldenTS+1000), r.Timestamp, "LogAppendTime: every record has the batch max timestamp")
	}
}

// collect decodes every record of batch, deep-copied.
func collect(t testing.TB, batch []byte) []Record {
	t.Helper()
	var it Iter
	require.NoError(t, it.Reset(batch, 64<<20))
	var out []Record
	for it.Next() {
		out = append(out, it.Record().Clone())
	}
	require.NoError(t, it.Err())
	return out
}

// rawBatch assembles a batch from h and already-encoded records, fixing
// batchLength and the CRC; it is how tests craft corrupt record content.
func rawBatch(h Header, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	h.Magic = Magic
	h.BatchLength = int32(HeaderSize + len(records) - LogOverhead)
	putHeader(b, &h)
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrCorrupt, ErrTruncated, ErrTooLarge, ErrEmptyBatch} {
		require.True(t, strings.HasPrefix(err.Error(), "record: "))
		require.False(t, errors.Is(err, compress.ErrCorrupt))
	}
}
