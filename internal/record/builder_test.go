package record

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/stretchr/testify/require"
)

var allCodecs = []compress.Codec{compress.None, compress.Gzip, compress.Snappy, compress.LZ4, compress.Zstd}

// testRecord is a record as handed to Builder.Append.
type testRecord struct {
	ts      int64
	key     []byte
	value   []byte
	headers []RecordHeader
}

// randomField returns nil (null), empty, or random bytes of up to maxLen.
func randomField(rng *rand.Rand, maxLen int) []byte {
	switch rng.Intn(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	default:
		b := make([]byte, rng.Intn(maxLen+1))
		rng.Read(b)
		return b
	}
}

// randomRecords returns n records with every shape the format allows: null
// and empty keys and values, null header values, duplicate header keys, many
// headers, timestamps going backwards, and (with large) two values of about
// 1 MiB.
func randomRecords(rng *rand.Rand, n int, large bool) []testRecord {
	recs := make([]testRecord, n)
	ts := int64(1700000000000) + rng.Int63n(1e9)
	for i := range recs {
		r := &recs[i]
		ts += rng.Int63n(2000) - 500 // not monotonic, as CreateTime allows
		r.ts = ts
		r.key = randomField(rng, 40)
		r.value = randomField(rng, 300)
		if large && (i == 0 || i == n/2) {
			r.value = make([]byte, 1<<20-rng.Intn(1000))
			rng.Read(r.value[:1000])
		}
		nh := 0
		switch rng.Intn(4) {
		case 0:
		case 1, 2:
			nh = 1 + rng.Intn(4)
		case 3:
			nh = 20 + rng.Intn(100)
		}
		if nh > 0 {
			r.headers = make([]RecordHeader, nh)
			for j := range r.headers {
				k := fmt.Appendf(nil, "h%d", rng.Intn(5)) // duplicates are common
				if rng.Intn(10) == 0 {
					k = []byte{}
				}
				r.headers[j] = RecordHeader{Key: k, Value: randomField(rng, 30)}
			}
		}
	}
	return recs
}

func nonIdempotentOpts(c compress.Codec) BuildOptions {
	return BuildOptions{Codec: c, ProducerID: NoProducerID, ProducerEpoch: NoEpoch, BaseSequence: NoSequence}
}

func buildRecords(t testing.TB, b *Builder, opts BuildOptions, recs []testRecord) []byte {
	t.Helper()
	b.Reset(opts)
	for _, r := range recs {
		b.Append(r.ts, r.key, r.value, r.headers)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return batch
}

func buildRandomBatch(t testing.TB, n int, c compress.Codec) []byte {
	t.Helper()
	var b Builder
	rng := rand.New(rand.NewSource(int64(n)*10 + int64(c)))
	return append([]byte(nil), buildRecords(t, &b, nonIdempotentOpts(c), randomRecords(rng, n, false))...)
}

// requireRecordsEqual checks decoded records against what was appended,
// including the null/empty distinction.
func requireRecordsEqual(t testing.TB, want []testRecord, h *Header, got []Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, h.BaseOffset+int64(i), g.Offset, "record %d offset", i)
		wantTS := w.ts
		if h.LogAppendTime() {
			wantTS = h.MaxTimestamp
		}
		require.Equal(t, wantTS, g.Timestamp, "record %d timestamp", i)
		requireSameBytes(t, w.key, g.Key, "record %d key", i)
		requireSameBytes(t, w.value, g.Value, "record %d value", i)
		require.Len(t, g.Headers, len(w.headers), "record %d headers", i)
		if len(w.headers) == 0 {
			require.Nil(t, g.Headers)
		}
		for j, wh := range w.headers {
			gh := g.Headers[j]
			require.NotNil(t, gh.Key, "header keys are never null")
			require.True(t, bytes.Equal(wh.Key, gh.Key), "record %d header %d key", i, j)
			requireSameBytes(t, wh.Value, gh.Value, "record %d header %d value", i, j)
		}
	}
}

func requireSameBytes(t testing.TB, want, got []byte, msg string, args ...any) {
	t.Helper()
	if (want == nil) != (got == nil) || !bytes.Equal(want, got) {
		t.Fatalf("%s: want %q (nil %t), got %q (nil %t)", fmt.Sprintf(msg, args...), want, want == nil, got, got == nil)
	}
}

func TestBuildRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var b Builder
	var it Iter
	for iter := 0; iter < 60; iter++ {
		for _, c := range allCodecs {
			n := 1 + rng.Intn(50)
			if rng.Intn(10) == 0 {
				n = 500 + rng.Intn(500)
			}
			large := iter%20 == 0
			recs := randomRecords(rng, n, large)
			opts := BuildOptions{
				Codec:         c,
				ProducerID:    NoProducerID,
				ProducerEpoch: NoEpoch,
				BaseSequence:  NoSequence,
			}
			if rng.Intn(3) == 0 {
				opts.ProducerID = rng.Int63n(1 << 40)
				opts.ProducerEpoch = int16(rng.Intn(math.MaxInt16))
				opts.BaseSequence = rng.Int31()
				opts.Transactional = rng.Intn(2) == 0
			}
			if rng.Intn(5) == 0 {
				opts.LogAppendTime = true
			}
			batch := buildRecords(t, &b, opts, recs)
			require.NoError(t, Validate(batch, 64<<20), "codec %s", c)

			// The same batch without its CRC, which SetCRC then sets. Both
			// are the Builder's buffer: compare with a copy.
			want := bytes.Clone(batch)
			bare, err := b.BuildWithoutCRC()
			require.NoError(t, err)
			require.ErrorIs(t, CheckCRC(bare), ErrCorrupt, "the CRC field is left zero")
			SetCRC(bare, ComputeCRC(bare))
			require.Equal(t, want, bare)

			h, err := ParseHeader(batch, len(batch))
			require.NoError(t, err)
			require.Equal(t, len(batch), h.Size())
			require.Equal(t, c, h.Codec())
			require.Equal(t, int32(n), h.RecordCount)
			require.Equal(t, int32(n-1), h.LastOffsetDelta)
			require.Equal(t, recs[0].ts, h.BaseTimestamp)
			maxTS := recs[0].ts
			for _, r := range recs {
				maxTS = max(maxTS, r.ts)
			}
			require.Equal(t, maxTS, h.MaxTimestamp)
			require.Equal(t, opts.ProducerID, h.ProducerID)
			require.Equal(t, opts.ProducerEpoch, h.ProducerEpoch)
			require.Equal(t, opts.BaseSequence, h.BaseSequence)
			require.Equal(t, opts.Transactional, h.Transactional())
			require.Equal(t, opts.LogAppendTime, h.LogAppendTime())
			require.False(t, h.Control())
			require.Equal(t, int32(NoEpoch), h.PartitionLeaderEpoch)
			require.Equal(t, int64(0), h.BaseOffset)

			// Offsets are relative to wherever the log puts the batch.
			SetBaseOffset(batch, 1000)
			require.NoError(t, it.Reset(batch, 64<<20))
			var got []Record
			for it.Next() {
				got = append(got, it.Record().Clone())
			}
			require.NoError(t, it.Err())
			requireRecordsEqual(t, recs, it.Header(), got)

			if c == compress.None {
				size := HeaderSize
				for i, r := range recs {
					size += RecordSize(int32(i), r.ts-recs[0].ts, r.key, r.value, r.headers)
				}
				require.Equal(t, size, len(batch), "RecordSize sums to the batch size")
				require.Equal(t, size, b.Size())
			}
		}
	}
}

func TestBuilderOptions(t *testing.T) {
	var b Builder
	// A Builder that was never Reset builds non-idempotent, uncompressed
	// batches.
	b.Append(5, []byte("k"), nil, nil)
	batch, err := b.Build()
	require.NoError(t, err)
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int64(NoProducerID), h.ProducerID)
	require.Equal(t, int16(NoEpoch), h.ProducerEpoch)
	require.Equal(t, int32(NoSequence), h.BaseSequence)
	require.Equal(t, int16(0), h.Attributes)

	// Empty batches are refused.
	b.Reset(nonIdempotentOpts(compress.None))
	_, err = b.Build()
	require.ErrorIs(t, err, ErrEmptyBatch)
	require.Equal(t, 0, b.Count())
	require.Equal(t, HeaderSize, b.Size())
	var fresh Builder
	require.Equal(t, HeaderSize, fresh.Size())
	_, err = fresh.Build()
	require.ErrorIs(t, err, ErrEmptyBatch)

	// Invalid codec and level.
	b.Reset(BuildOptions{Codec: compress.Codec(5)})
	b.Append(1, nil, nil, nil)
	_, err = b.Build()
	require.ErrorIs(t, err, compress.ErrUnknownCodec)
	b.Reset(BuildOptions{Codec: compress.Gzip, Level: 10})
	b.Append(1, nil, nil, nil)
	_, err = b.Build()
	require.Error(t, err)
	b.Reset(BuildOptions{Codec: compress.Zstd, Level: 19})
	b.Append(1, nil, nil, nil)
	_, err = b.Build()
	require.NoError(t, err)

	// Transactional and LogAppendTime set their attribute bits; the max
	// timestamp can be set explicitly.
	b.Reset(BuildOptions{Codec: compress.Snappy, Transactional: true, LogAppendTime: true, ProducerID: 9, ProducerEpoch: 2, BaseSequence: 40})
	b.Append(100, nil, []byte("a"), nil)
	b.Append(50, nil, []byte("b"), nil)
	b.SetMaxTimestamp(777)
	batch, err = b.Build()
	require.NoError(t, err)
	h, err = ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int16(compress.Snappy)|AttrTransactional|AttrLogAppendTime, h.Attributes)
	require.Equal(t, int64(100), h.BaseTimestamp)
	require.Equal(t, int64(777), h.MaxTimestamp)
	require.Equal(t, int64(9), h.ProducerID)
	for _, r := range collect(t, batch) {
		require.Equal(t, int64(777), r.Timestamp)
	}

	// Reset clears records, options and the max timestamp override.
	b.Reset(nonIdempotentOpts(compress.None))
	b.Append(100, nil, []byte("a"), nil)
	b.Append(50, nil, []byte("b"), nil)
	require.Equal(t, 2, b.Count())
	batch, err = b.Build()
	require.NoError(t, err)
	h, err = ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int16(0), h.Attributes)
	require.Equal(t, int64(100), h.MaxTimestamp)
	require.Equal(t, []int64{100, 50}, []int64{collect(t, batch)[0].Timestamp, collect(t, batch)[1].Timestamp})

	// Build does not reset: more records make a larger batch.
	b.Append(200, nil, []byte("c"), nil)
	batch, err = b.Build()
	require.NoError(t, err)
	require.Len(t, collect(t, batch), 3)
}

func TestBuilderExtremeTimestamps(t *testing.T) {
	// Deltas wrap like Kafka's long arithmetic and decode back exactly.
	var b Builder
	tss := []int64{math.MaxInt64, math.MinInt64, 0, -1, math.MaxInt64 - 1}
	for _, ts := range tss {
		b.Append(ts, nil, nil, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	recs := collect(t, batch)
	for i, ts := range tss {
		require.Equal(t, ts, recs[i].Timestamp)
	}
}

func TestNilHeaderKeyIsEmpty(t *testing.T) {
	var b Builder
	b.Append(1, nil, nil, []RecordHeader{{Key: nil, Value: nil}, {Key: []byte("k"), Value: []byte{}}})
	batch, err := b.Build()
	require.NoError(t, err)
	recs := collect(t, batch)
	require.Equal(t, []byte{}, recs[0].Headers[0].Key)
	require.Nil(t, recs[0].Headers[0].Value)
	require.Equal(t, []byte{}, recs[0].Headers[1].Value)
	require.NotNil(t, recs[0].Headers[1].Value)
}

func TestBuilderRecordTooLargeIsSticky(t *testing.T) {
	var b Builder
	b.Reset(nonIdempotentOpts(compress.None))
	b.Append(1, []byte("ok"), nil, nil)
	b.count = math.MaxInt32 // pretend: the next record would overflow the count
	b.Append(2, []byte("too many"), nil, nil)
	b.count = 1
	b.Append(3, []byte("ignored"), nil, nil)
	_, err := b.Build()
	require.ErrorIs(t, err, ErrTooLarge)
	b.Reset(nonIdempotentOpts(compress.None))
	b.Append(1, []byte("ok"), nil, nil)
	_, err = b.Build()
	require.NoError(t, err)
}

func TestRecordSize(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, r := range randomRecords(rng, 200, false) {
		for _, od := range []int32{0, 1, 63, 64, 1 << 20, math.MaxInt32 - 1} {
			for _, td := range []int64{0, -1, 1 << 40, math.MinInt64} {
				var b Builder
				b.Reset(nonIdempotentOpts(compress.None))
				b.count = int(od)
				b.baseTS = r.ts - td
				b.maxTS = b.baseTS
				if od == 0 {
					b.baseTS, b.maxTS = r.ts, r.ts
					td = 0
				}
				b.Append(r.ts, r.key, r.value, r.headers)
				require.NoError(t, b.err)
				require.Equal(t, len(b.buf)-HeaderSize, RecordSize(od, td, r.key, r.value, r.headers))
			}
		}
	}
	require.Equal(t, 7, RecordSize(0, 0, nil, nil, nil), "smallest record: 7 one-byte fields")
}

func TestRecordClone(t *testing.T) {
	batch := buildGoldenB(t)
	var it Iter
	require.NoError(t, it.Reset(batch, 1<<20))
	require.True(t, it.Next())
	require.True(t, it.Next())
	c := it.Record().Clone()
	for i := range batch {
		batch[i] = 0
	}
	require.Equal(t, Record{Offset: 101, Timestamp: goldenTS + 5, Value: []byte("value1"),
		Headers: []RecordHeader{{Key: []byte("h"), Value: []byte("x")}}}, c)
	require.Nil(t, c.Key)
	empty := Record{Key: []byte{}}
	require.NotNil(t, empty.Clone().Key)
}

// TestBuildZeroAllocs: steady-state building of an uncompressed 1,000-record
// batch allocates nothing.
func TestBuildZeroAllocs(t *testing.T) {
	value := bytes.Repeat([]byte("v"), 100)
	key := []byte("key")
	headers := []RecordHeader{{Key: []byte("trace"), Value: []byte("abc")}}
	var b Builder
	build := func() {
		b.Reset(nonIdempotentOpts(compress.None))
		for i := 0; i < 1000; i++ {
			b.Append(1700000000000+int64(i), key, value, headers)
		}
		if _, err := b.Build(); err != nil {
			t.Fatal(err)
		}
	}
	build() // grow the buffers
	require.Zero(t, testing.AllocsPerRun(20, build))
}

func BenchmarkBuild(b *testing.B) {
	value := bytes.Repeat([]byte("0123456789"), 10)
	for _, c := range []compress.Codec{compress.None, compress.LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			const n = 1000
			var bld Builder
			b.ReportAllocs()
			b.SetBytes(int64(n * len(value)))
			for i := 0; i < b.N; i++ {
				bld.Reset(nonIdempotentOpts(c))
				for j := 0; j < n; j++ {
					bld.Append(1700000000000+int64(j), nil, value, nil)
				}
				if _, err := bld.Build(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestBuilderSetBaseSequence(t *testing.T) {
	var b Builder
	b.Reset(BuildOptions{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3})
	b.Append(1, []byte("k"), []byte("v"), nil)
	b.SetBaseSequence(42)
	batch, err := b.Build()
	require.NoError(t, err)
	require.NoError(t, CheckCRC(batch))
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int32(42), h.BaseSequence)
	require.Equal(t, int64(7), h.ProducerID)

	// Reset forgets it.
	b.Reset(BuildOptions{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3})
	b.Append(1, nil, nil, nil)
	batch, err = b.Build()
	require.NoError(t, err)
	h, err = ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int32(3), h.BaseSequence)
}

func TestNextSequence(t *testing.T) {
	for _, tc := range []struct{ seq, n, want int32 }{
		{0, 0, 0},
		{0, 1, 1},
		{5, 10, 15},
		{math.MaxInt32 - 1, 1, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32 - 1, 2, 0},
		{math.MaxInt32 - 1, 3, 1},
		{math.MaxInt32, math.MaxInt32, math.MaxInt32 - 1},
		{10, math.MaxInt32, 9},
		{0, math.MaxInt32, math.MaxInt32},
	} {
		require.Equal(t, tc.want, NextSequence(tc.seq, tc.n), "NextSequence(%d, %d)", tc.seq, tc.n)
		// Kafka's definition: (seq + n) mod 2^31.
		require.Equal(t, int64(tc.want), (int64(tc.seq)+int64(tc.n))%(1<<31))
	}
}

func TestBuilderSetProducer(t *testing.T) {
	var b Builder
	b.Reset(BuildOptions{ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3})
	b.Append(1, []byte("k"), []byte("v"), nil)
	b.SetProducer(9, 2, 0)
	batch, err := b.Build()
	require.NoError(t, err)
	require.NoError(t, CheckCRC(batch))
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	require.Equal(t, int64(9), h.ProducerID)
	require.Equal(t, int16(2), h.ProducerEpoch)
	require.Equal(t, int32(0), h.BaseSequence)
}
