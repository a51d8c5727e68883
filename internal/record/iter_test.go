package record

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"runtime"
	"testing"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/stretchr/testify/require"
)

// vi encodes a zigzag varint.
func vi(x int64) []byte { return binary.AppendVarint(nil, x) }

// rec prefixes the concatenated body parts with their length.
func rec(parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(vi(int64(len(body))), body...)
}

// simpleRec is a well-formed record: key "k", value "v", no headers.
func simpleRec(offsetDelta int64) []byte {
	return rec([]byte{0}, vi(0), vi(offsetDelta), vi(1), []byte("k"), vi(1), []byte("v"), vi(0))
}

// hdr returns a plausible header for count records.
func hdr(count, lastOffsetDelta int32) Header {
	return Header{PartitionLeaderEpoch: NoEpoch, LastOffsetDelta: lastOffsetDelta, BaseTimestamp: goldenTS,
		MaxTimestamp: goldenTS, ProducerID: NoProducerID, ProducerEpoch: NoEpoch, BaseSequence: NoSequence,
		RecordCount: count}
}

func iterate(batch []byte, max int) (int, error) {
	var it Iter
	if err := it.Reset(batch, max); err != nil {
		return 0, err
	}
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Err()
}

func TestIterCorruptRecords(t *testing.T) {
	cases := []struct {
		name   string
		h      Header
		recs   []byte
		substr string
	}{
		{"hugeKeyLength", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(1<<30), []byte("k"), vi(1), []byte("v"), vi(0)), "key length 1073741824"},
		{"hugeValueLength", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(1<<31-1), []byte("v"), vi(0)), "value length"},
		{"hugeHeaderCount", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30), vi(1), []byte("h"), vi(-1)), "header count 1073741824"},
		{"negativeHeaderCount", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-1)), "header count -1"},
		{"keyLengthMinus2", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-2), vi(-1), vi(0)), "key length -2"},
		{"valueLengthMinus5", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-5), vi(0)), "value length -5"},
		{"nullHeaderKey", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), "header key length -1"},
		{"headerValueOverrun", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), []byte("h"), vi(50), []byte("x")), "header value length 50"},
		{"keyLengthVarintOverflow", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, vi(-1), vi(0)), "bad key length varint"},
		{"timestampVarintOverflow", hdr(1, 0),
			rec([]byte{0}, bytes.Repeat([]byte{0xff}, 10), []byte{0x01}, vi(0), vi(-1), vi(-1), vi(0)), "bad timestamp delta varint"},
		{"offsetDeltaVarintTooLong", hdr(1, 0),
			rec([]byte{0}, vi(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, vi(-1), vi(-1), vi(0)), "bad offset delta varint"},
		{"truncatedVarintAtEnd", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), []byte{0x80}), "bad header count varint"},
		{"lengthLongerThanFields", hdr(1, 0),
			rec([]byte{0}, vi(0), vi(0), vi(1), []byte("k"), vi(1), []byte("v"), vi(0), []byte("pad")), "fields take"},
		{"lengthShorterThanFields", hdr(1, 0),
			append(vi(5), simpleRec(0)[1:]...), ""},
		{"negativeRecordLength", hdr(1, 0),
			append(vi(-3), simpleRec(0)[1:]...), "record length -3"},
		{"recordLengthPastBatch", hdr(1, 0),
			append(vi(100), simpleRec(0)[1:]...), "record length 100"},
		{"recordLengthVarint", hdr(1, 0), []byte{0xff, 0xff}, "bad record length varint"},
		{"emptyRecord", hdr(1, 0), vi(0), "empty record"},
		{"offsetDeltaAboveLast", hdr(1, 0), simpleRec(1), "offset delta 1 outside [0, 0]"},
		{"negativeOffsetDelta", hdr(1, 0), simpleRec(-1), "offset delta -1"},
		{"fewerRecordsThanCount", hdr(2, 1), simpleRec(0), "declares 2 records, found 1"},
		{"moreRecordsThanCount", hdr(1, 1), append(simpleRec(0), simpleRec(1)...), "left after the last of 1 records"},
		{"hugeCountNoRecords", hdr(1<<30, 1<<30), nil, "declares 1073741824 records, found 0"},
		{"garbageAfterRecords", hdr(1, 0), append(simpleRec(0), 0), "1 bytes left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			batch := rawBatch(tc.h, tc.recs)
			require.NoError(t, CheckCRC(batch))
			_, err := ParseHeader(batch, len(batch))
			require.NoError(t, err)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = iterate(batch, 1<<20)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Contains(t, err.Error(), tc.substr)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<10), "no allocation driven by a corrupt length")

			require.ErrorIs(t, Validate(batch, 1<<20), ErrCorrupt)
		})
	}
}

func TestIterAfterErrorYieldsNothing(t *testing.T) {
	var it Iter
	require.False(t, it.Next(), "a zero Iter yields nothing")
	require.NoError(t, it.Err())

	batch := rawBatch(hdr(2, 1), append(simpleRec(0), simpleRec(5)...))
	require.NoError(t, it.Reset(batch, 1<<20))
	require.True(t, it.Next())
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), ErrCorrupt)
	require.False(t, it.Next(), "the error is sticky")
	require.Equal(t, Record{}, *it.Record())

	require.ErrorIs(t, it.Reset(batch[:70], 1<<20), ErrTruncated)
	require.False(t, it.Next())
	require.ErrorIs(t, it.Err(), ErrTruncated)

	// Reset after an error starts afresh.
	require.NoError(t, it.Reset(buildGoldenA(t), 1<<20))
	require.True(t, it.Next())
	require.False(t, it.Next())
	require.NoError(t, it.Err())
}

func TestIterBatchLength(t *testing.T) {
	batch := buildGoldenB(t)
	var it Iter
	require.ErrorIs(t, it.Reset(append(append([]byte(nil), batch...), 0, 0), 1<<20), ErrCorrupt)
	require.ErrorIs(t, it.Reset(batch[:len(batch)-1], 1<<20), ErrTruncated)
	require.ErrorIs(t, it.Reset(batch[:HeaderSize-1], 1<<20), ErrTruncated)
}

// TestTruncations: every truncation of a valid batch is an error for
// ParseHeader (with the truncated length as limit), CheckCRC, Iter and
// Validate, and none of them panics.
func TestTruncations(t *testing.T) {
	for _, c := range allCodecs {
		batch := buildRandomBatch(t, 20, c)
		for n := 0; n < len(batch); n++ {
			b := batch[:n]
			_, err := ParseHeader(b, len(b))
			require.Error(t, err, "%s: %d of %d bytes", c, n, len(batch))
			if n < HeaderSize {
				require.ErrorIs(t, err, ErrTruncated)
			} else {
				require.ErrorIs(t, err, ErrTooLarge)
			}
			require.ErrorIs(t, CheckCRC(b), ErrTruncated)
			_, err = iterate(b, 1<<20)
			require.ErrorIs(t, err, ErrTruncated)
			require.ErrorIs(t, Validate(b, 1<<20), ErrTruncated)
		}
	}
}

// TestRecordsTruncatedInside cuts the records region but fixes batchLength
// and the CRC, so that only the record decoding can notice.
func TestRecordsTruncatedInside(t *testing.T) {
	batch := buildRandomBatch(t, 20, compress.None)
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	records := batch[HeaderSize:]
	for n := 0; n < len(records); n++ {
		b := rawBatch(h, records[:n])
		_, err := iterate(b, 1<<20)
		require.ErrorIs(t, err, ErrCorrupt, "records cut to %d of %d bytes", n, len(records))
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, Validate(rawBatch(hdr(2, 1), append(simpleRec(0), simpleRec(1)...)), 1<<20))
	// Compaction residue: gaps in offset deltas, and empty batches.
	require.NoError(t, Validate(rawBatch(hdr(2, 9), append(simpleRec(3), simpleRec(9)...)), 1<<20))
	h := hdr(0, 4)
	h.BaseTimestamp = NoTimestamp
	require.NoError(t, Validate(rawBatch(h, nil), 1<<20))
	n, err := iterate(rawBatch(h, nil), 1<<20)
	require.NoError(t, err)
	require.Zero(t, n)

	// Offset deltas must strictly increase (Iter alone does not check).
	for _, recs := range [][]byte{
		append(simpleRec(0), simpleRec(0)...),
		append(simpleRec(1), simpleRec(0)...),
	} {
		b := rawBatch(hdr(2, 1), recs)
		_, err := iterate(b, 1<<20)
		require.NoError(t, err)
		err = Validate(b, 1<<20)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), "does not follow")
	}

	// CRC.
	b := buildGoldenB(t)
	b[len(b)-1] ^= 0x40
	require.ErrorIs(t, Validate(b, 1<<20), ErrCorrupt)

	// Decompressed size limit.
	var bld Builder
	bld.Reset(nonIdempotentOpts(compress.Zstd))
	bld.Append(1, nil, make([]byte, 100000), nil)
	zb, err := bld.Build()
	require.NoError(t, err)
	require.NoError(t, Validate(zb, 200000))
	err = Validate(zb, 50000)
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorIs(t, err, compress.ErrTooLarge)

	// A compressed payload that does not decompress (CRC fixed up).
	zh, err := ParseHeader(zb, len(zb))
	require.NoError(t, err)
	payload := append([]byte(nil), zb[HeaderSize:]...)
	payload[len(payload)/2] ^= 0xff
	err = Validate(rawBatch(zh, payload), 1<<20)
	require.ErrorIs(t, err, ErrCorrupt)

	// A compressed blob whose records are corrupt.
	zh.RecordCount = 3
	blob, err := compress.Compress(nil, compress.Zstd, 0, simpleRec(0))
	require.NoError(t, err)
	err = Validate(rawBatch(zh, blob), 1<<20)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), "found 1")

	// Iter.Validate reuses the Iter, and Next does not resume the previous
	// batch after a failed Validate.
	var it Iter
	require.NoError(t, it.Reset(buildGoldenB(t), 1<<20))
	require.ErrorIs(t, it.Validate(b, 1<<20), ErrCorrupt)
	require.False(t, it.Next())
}

func TestControlBatchIterates(t *testing.T) {
	// A COMMIT marker: key = version 0, type 1; value = version 0,
	// coordinator epoch 5.
	h := hdr(1, 0)
	h.Attributes = AttrTransactional | AttrControl
	h.ProducerID, h.ProducerEpoch = 42, 1
	key := []byte{0, 0, 0, 1}
	value := []byte{0, 0, 0, 0, 0, 5}
	batch := rawBatch(h, rec([]byte{0}, vi(0), vi(0), vi(4), key, vi(6), value, vi(0)))
	require.NoError(t, Validate(batch, 1<<20))
	recs := collect(t, batch)
	require.Len(t, recs, 1)
	require.Equal(t, key, recs[0].Key)
	require.Equal(t, value, recs[0].Value)
	ph, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.True(t, ph.Control() && ph.Transactional())
}

func TestDeleteHorizonTimestamps(t *testing.T) {
	// With bit 6 set the base timestamp is the delete horizon and deltas
	// are relative to it: timestamps are still base + delta.
	h := hdr(1, 0)
	h.Attributes = AttrDeleteHorizon
	h.BaseTimestamp = 5000
	batch := rawBatch(h, rec([]byte{0}, vi(-1000), vi(0), vi(-1), vi(-1), vi(0)))
	recs := collect(t, batch)
	require.Equal(t, int64(4000), recs[0].Timestamp)
	require.Nil(t, recs[0].Key)
	require.Nil(t, recs[0].Value)
}

func TestIterSlicesAreClipped(t *testing.T) {
	batch := buildGoldenB(t)
	orig := append([]byte(nil), batch...)
	var it Iter
	require.NoError(t, it.Reset(batch, 1<<20))
	require.True(t, it.Next())
	r := it.Record()
	require.Equal(t, len(r.Key), cap(r.Key))
	require.Equal(t, len(r.Value), cap(r.Value))
	_ = append(r.Key, "clobber"...)
	_ = append(r.Value, "clobber"...)
	require.Equal(t, orig, batch, "appending to a borrowed slice must not write into the batch")
}

func TestIterReuseAcrossCodecs(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	var it Iter
	var b Builder
	for i := 0; i < 50; i++ {
		c := allCodecs[rng.Intn(len(allCodecs))]
		recs := randomRecords(rng, 1+rng.Intn(30), false)
		batch := buildRecords(t, &b, nonIdempotentOpts(c), recs)
		require.NoError(t, it.Reset(batch, 64<<20))
		var got []Record
		for it.Next() {
			got = append(got, it.Record().Clone())
		}
		require.NoError(t, it.Err())
		requireRecordsEqual(t, recs, it.Header(), got)
	}
}

// makeBenchBatch builds n records with 100-byte values (and one header each
// when withHeaders).
func makeBenchBatch(t testing.TB, c compress.Codec, n int, withHeaders bool) []byte {
	var b Builder
	b.Reset(nonIdempotentOpts(c))
	value := bytes.Repeat([]byte("0123456789"), 10)
	var headers []RecordHeader
	if withHeaders {
		headers = []RecordHeader{{Key: []byte("h"), Value: []byte("x")}}
	}
	for i := 0; i < n; i++ {
		b.Append(1700000000000+int64(i), nil, value, headers)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

// TestIterZeroAllocs: iterating a 1,000-record batch allocates nothing, for
// uncompressed batches and, once the Iter's buffer and the codec pools are
// warm, for compressed ones (not checked under -race, where sync.Pool drops
// objects on purpose).
func TestIterZeroAllocs(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			batch := makeBenchBatch(t, c, 1000, true)
			var it Iter
			run := func() {
				if err := it.Reset(batch, 1<<20); err != nil {
					t.Fatal(err)
				}
				n := 0
				for it.Next() {
					n++
				}
				if it.Err() != nil || n != 1000 {
					t.Fatal(it.Err(), n)
				}
			}
			run()
			allocs := testing.AllocsPerRun(20, run)
			t.Logf("%s: %.1f allocs per batch", c, allocs)
			if c == compress.None || !raceEnabled {
				require.Zero(t, allocs)
			}
		})
	}
}

func BenchmarkIter(b *testing.B) {
	for _, c := range []compress.Codec{compress.None, compress.LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			const n = 1000
			batch := makeBenchBatch(b, c, n, false)
			var it Iter
			b.ReportAllocs()
			b.SetBytes(int64(n * 100))
			for i := 0; i < b.N; i++ {
				if err := it.Reset(batch, 1<<20); err != nil {
					b.Fatal(err)
				}
				for it.Next() {
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestIterReleaseForgetsTheBatch(t *testing.T) {
	var it Iter
	require.NoError(t, it.Reset(buildGoldenA(t), 1<<20))
	require.True(t, it.Next())
	it.Release()
	require.Nil(t, it.batch, "the batch is no longer referenced")
	require.Nil(t, it.data)
	require.Equal(t, Header{}, *it.Header())
	require.Equal(t, Record{}, *it.Record())
	require.False(t, it.Next(), "a released Iter yields nothing until Reset")
	require.NoError(t, it.Reset(buildGoldenA(t), 1<<20))
	require.True(t, it.Next())
}

// An empty batch with codec bits and no payload, as Kafka's cleaner can
// leave, iterates as empty instead of failing to decompress nothing.
func TestIterEmptyCompressedBatch(t *testing.T) {
	b := AppendFiller(nil, 10, 14, 1000, 0)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(compress.Zstd))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	var it Iter
	require.NoError(t, it.Validate(b, 1<<20))
	require.NoError(t, it.Reset(b, 1<<20))
	require.False(t, it.Next())
	require.NoError(t, it.Err())
}
