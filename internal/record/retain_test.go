package record

import (
	"bytes"
	"math"
	"math/rand"
	"testing"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/stretchr/testify/require"
)

// retainCase is a batch built for a Retainer test: the records appended, and
// the batch as the log stores it (base offset and leader epoch patched).
type retainCase struct {
	recs  []testRecord
	batch []byte
	hdr   Header
}

// buildRetainCase builds n random records (every field shape: null and empty
// keys and values, headers or none) with codec c as an idempotent batch at
// base offset 5000, leader epoch 7. noHeaders strips the headers.
func buildRetainCase(t testing.TB, rng *rand.Rand, n int, c compress.Codec, noHeaders, logAppendTime bool) retainCase {
	t.Helper()
	recs := randomRecords(rng, n, false)
	if noHeaders {
		for i := range recs {
			recs[i].headers = nil
		}
	}
	opts := BuildOptions{Codec: c, ProducerID: 1234567, ProducerEpoch: 3, BaseSequence: 900,
		Transactional: rng.Intn(2) == 0, LogAppendTime: logAppendTime}
	var b Builder
	b.Reset(opts)
	for _, r := range recs {
		b.Append(r.ts, r.key, r.value, r.headers)
	}
	if logAppendTime {
		b.SetMaxTimestamp(1800000000000)
	}
	built, err := b.Build()
	require.NoError(t, err)
	batch := append([]byte(nil), built...)
	SetBaseOffset(batch, 5000)
	SetPartitionLeaderEpoch(batch, 7)
	h, err := ParseHeader(batch, len(batch))
	require.NoError(t, err)
	return retainCase{recs: recs, batch: batch, hdr: h}
}

// retain rebuilds batch keeping the records for which keep returns true.
func retain(t testing.TB, r *Retainer, it *Iter, batch []byte, horizon int64, keep func(i int) bool) ([]byte, error) {
	t.Helper()
	require.NoError(t, it.Reset(batch, 64<<20))
	r.Reset(it.Header(), horizon)
	for i := 0; it.Next(); i++ {
		if keep(i) {
			r.Keep(it)
		}
	}
	require.NoError(t, it.Err())
	return r.Build()
}

// requireRetained checks a rebuilt batch against the original: header fields
// preserved, and exactly the kept records, decoding as before.
func requireRetained(t *testing.T, tc retainCase, out []byte, kept []bool, horizon int64) {
	t.Helper()
	require.NoError(t, Validate(out, 64<<20))
	require.NoError(t, CheckCRC(out))
	h, err := ParseHeader(out, len(out))
	require.NoError(t, err)
	o := tc.hdr
	require.Equal(t, len(out), h.Size())
	require.Equal(t, o.BaseOffset, h.BaseOffset)
	require.Equal(t, o.PartitionLeaderEpoch, h.PartitionLeaderEpoch)
	require.Equal(t, o.Magic, h.Magic)
	require.Equal(t, o.LastOffsetDelta, h.LastOffsetDelta, "lastOffsetDelta is preserved")
	require.Equal(t, o.MaxTimestamp, h.MaxTimestamp)
	require.Equal(t, o.ProducerID, h.ProducerID)
	require.Equal(t, o.ProducerEpoch, h.ProducerEpoch)
	require.Equal(t, o.BaseSequence, h.BaseSequence)
	require.Equal(t, o.Codec(), h.Codec())
	require.Equal(t, o.LogAppendTime(), h.LogAppendTime())
	require.Equal(t, o.Transactional(), h.Transactional())
	require.Equal(t, o.Control(), h.Control())
	switch {
	case horizon >= 0:
		require.True(t, h.HasDeleteHorizon())
		require.Equal(t, horizon, h.BaseTimestamp)
	default:
		require.Equal(t, o.HasDeleteHorizon(), h.HasDeleteHorizon())
		require.Equal(t, o.BaseTimestamp, h.BaseTimestamp)
	}
	require.Equal(t, o.Attributes|AttrDeleteHorizon, h.Attributes|AttrDeleteHorizon)

	var want []testRecord
	var wantOffsets []int64
	for i, k := range kept {
		if k {
			want = append(want, tc.recs[i])
			wantOffsets = append(wantOffsets, o.BaseOffset+int64(i))
		}
	}
	require.Equal(t, int32(len(want)), h.RecordCount)
	got := collect(t, out)
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		require.Equal(t, wantOffsets[i], g.Offset, "kept record %d offset", i)
		wantTS := w.ts
		if h.LogAppendTime() {
			wantTS = h.MaxTimestamp
		}
		require.Equal(t, wantTS, g.Timestamp, "kept record %d timestamp", i)
		requireSameBytes(t, w.key, g.Key, "kept record %d key", i)
		requireSameBytes(t, w.value, g.Value, "kept record %d value", i)
		require.Len(t, g.Headers, len(w.headers))
		if len(w.headers) == 0 {
			require.Nil(t, g.Headers)
		}
		for j, wh := range w.headers {
			require.True(t, bytes.Equal(wh.Key, g.Headers[j].Key), "kept record %d header %d key", i, j)
			requireSameBytes(t, wh.Value, g.Headers[j].Value, "kept record %d header %d value", i, j)
		}
	}

	// The timestamp encoded in each record (base + delta) is preserved even
	// where it does not decide the decoded one (LogAppendTime).
	var it Iter
	require.NoError(t, it.Reset(out, 64<<20))
	for i := 0; it.Next(); i++ {
		require.Equal(t, want[i].ts, h.BaseTimestamp+it.tsDelta, "kept record %d encoded timestamp", i)
	}
	require.NoError(t, it.Err())
}

func TestRetainerProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	var r Retainer
	var it Iter
	for iter := 0; iter < 20; iter++ {
		for _, c := range allCodecs {
			for _, noHeaders := range []bool{false, true} {
				for _, lat := range []bool{false, true} {
					n := 1 + rng.Intn(60)
					tc := buildRetainCase(t, rng, n, c, noHeaders, lat)
					kept := make([]bool, n)
					some := false
					for i := range kept {
						kept[i] = rng.Intn(3) != 0
						some = some || kept[i]
					}
					if !some {
						kept[rng.Intn(n)] = true
					}
					if iter%5 == 0 {
						kept[n-1] = false // lastOffsetDelta must survive
						if n == 1 {
							continue
						}
						kept[0] = true
					}
					horizon := int64(-1)
					if iter%2 == 1 {
						horizon = tc.hdr.BaseTimestamp + rng.Int63n(1e9) - 5e8
					}
					out, err := retain(t, &r, &it, tc.batch, horizon, func(i int) bool { return kept[i] })
					require.NoError(t, err, "codec %s", c)
					require.Equal(t, r.Count(), int(countTrue(kept)))
					requireRetained(t, tc, out, kept, horizon)
				}
			}
		}
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// TestRetainerKeepAllIsIdentity: keeping every record without a horizon
// reproduces the batch byte for byte (uncompressed: always; compressed: the
// codecs are deterministic at their default level, which the Builder used).
func TestRetainerKeepAllIsIdentity(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var r Retainer
	var it Iter
	for _, c := range allCodecs {
		for _, lat := range []bool{false, true} {
			tc := buildRetainCase(t, rng, 40, c, false, lat)
			out, err := retain(t, &r, &it, tc.batch, -1, func(int) bool { return true })
			require.NoError(t, err)
			require.Equal(t, tc.batch, out, "codec %s", c)
		}
	}
}

func TestRetainerDeleteHorizon(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	var r Retainer
	var it Iter
	for _, c := range allCodecs {
		for _, lat := range []bool{false, true} {
			tc := buildRetainCase(t, rng, 30, c, false, lat)
			all := make([]bool, 30)
			for i := range all {
				all[i] = true
			}
			keep := func(i int) bool { return all[i] }

			// Set a horizon: bit 6, baseTimestamp = horizon, timestamps
			// unchanged.
			const horizon = 1900000000000
			out, err := retain(t, &r, &it, tc.batch, horizon, keep)
			require.NoError(t, err)
			requireRetained(t, tc, out, all, horizon)
			horizoned := append([]byte(nil), out...)

			// Rebuilding it with -1 keeps the bit and the horizon, verbatim.
			htc := tc
			htc.batch = horizoned
			htc.hdr, err = ParseHeader(horizoned, len(horizoned))
			require.NoError(t, err)
			all[3], all[17] = false, false
			out, err = retain(t, &r, &it, horizoned, -1, keep)
			require.NoError(t, err)
			requireRetained(t, htc, out, all, -1)
			h, err := ParseHeader(out, len(out))
			require.NoError(t, err)
			require.True(t, h.HasDeleteHorizon())
			require.Equal(t, int64(horizon), h.BaseTimestamp)

			// A new horizon replaces the old one.
			out, err = retain(t, &r, &it, horizoned, 5, keep)
			require.NoError(t, err)
			requireRetained(t, htc, out, all, 5)
		}
	}

	// Horizon 0 is a horizon; extreme deltas wrap and decode back.
	var b Builder
	tss := []int64{math.MaxInt64, math.MinInt64, 0, -1}
	for _, ts := range tss {
		b.Append(ts, nil, nil, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	batch = append([]byte(nil), batch...)
	out, err := retain(t, &r, &it, batch, 0, func(int) bool { return true })
	require.NoError(t, err)
	require.NoError(t, Validate(out, 1<<20))
	h, err := ParseHeader(out, len(out))
	require.NoError(t, err)
	require.True(t, h.HasDeleteHorizon())
	require.Equal(t, int64(0), h.BaseTimestamp)
	for i, rec := range collect(t, out) {
		require.Equal(t, tss[i], rec.Timestamp)
	}
}

func TestRetainerErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	tc := buildRetainCase(t, rng, 10, compress.None, false, false)
	var r Retainer
	var it Iter

	// Keeping none.
	_, err := retain(t, &r, &it, tc.batch, -1, func(int) bool { return false })
	require.ErrorIs(t, err, ErrEmptyBatch)
	require.Zero(t, r.Count())
	var zero Retainer
	_, err = zero.Build()
	require.ErrorIs(t, err, ErrEmptyBatch)

	// Keep before Reset, without a current record, from another batch,
	// twice: sticky until Reset.
	require.NoError(t, it.Reset(tc.batch, 1<<20))
	require.True(t, it.Next())
	zero.Keep(&it)
	_, err = zero.Build()
	require.ErrorContains(t, err, "before Reset")

	r.Reset(it.Header(), -1)
	var fresh Iter
	r.Keep(&fresh)
	_, err = r.Build()
	require.ErrorContains(t, err, "no current record")
	r.Keep(&it) // ignored: the error is sticky
	_, err = r.Build()
	require.ErrorContains(t, err, "no current record")

	other := buildRetainCase(t, rng, 10, compress.None, false, false)
	var oit Iter
	require.NoError(t, oit.Reset(other.batch, 1<<20))
	require.True(t, oit.Next())
	r.Reset(it.Header(), -1)
	r.Keep(&oit)
	_, err = r.Build()
	require.ErrorContains(t, err, "not the one given to Reset")

	r.Reset(it.Header(), -1)
	r.Keep(&it)
	r.Keep(&it)
	_, err = r.Build()
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "does not follow")

	// After the end of the batch there is no current record.
	r.Reset(it.Header(), -1)
	for it.Next() {
	}
	require.Nil(t, it.RawRecord())
	r.Keep(&it)
	_, err = r.Build()
	require.ErrorContains(t, err, "no current record")

	// Reset clears the error.
	out, err := retain(t, &r, &it, tc.batch, -1, func(i int) bool { return i == 4 })
	require.NoError(t, err)
	require.Equal(t, 1, r.Count())
	require.NoError(t, Validate(out, 1<<20))

	// Invalid codec in the header given to Reset.
	require.NoError(t, it.Reset(tc.batch, 1<<20))
	require.True(t, it.Next())
	h := *it.Header()
	r.Reset(&h, -1)
	r.hdr.Attributes |= 7
	it.hdr.Attributes |= 7
	r.Keep(&it)
	_, err = r.Build()
	require.ErrorIs(t, err, compress.ErrUnknownCodec)
}

// TestRetainerGapsAndControl: batches with gaps (already compacted) and
// control batches rebuild too.
func TestRetainerGapsAndControl(t *testing.T) {
	var r Retainer
	var it Iter
	gapped := rawBatch(hdr(3, 20), append(append(simpleRec(2), simpleRec(9)...), simpleRec(15)...))
	out, err := retain(t, &r, &it, gapped, 1000, func(i int) bool { return i != 1 })
	require.NoError(t, err)
	require.NoError(t, Validate(out, 1<<20))
	recs := collect(t, out)
	require.Len(t, recs, 2)
	require.Equal(t, []int64{2, 15}, []int64{recs[0].Offset, recs[1].Offset})
	require.Equal(t, []int64{goldenTS, goldenTS}, []int64{recs[0].Timestamp, recs[1].Timestamp})
	h, err := ParseHeader(out, len(out))
	require.NoError(t, err)
	require.Equal(t, int32(20), h.LastOffsetDelta)

	ch := hdr(1, 0)
	ch.Attributes = AttrTransactional | AttrControl
	ch.ProducerID, ch.ProducerEpoch = 42, 1
	ctl := rawBatch(ch, rec([]byte{0}, vi(0), vi(0), vi(4), []byte{0, 0, 0, 1}, vi(6), []byte{0, 0, 0, 0, 0, 5}, vi(0)))
	out, err = retain(t, &r, &it, ctl, -1, func(int) bool { return true })
	require.NoError(t, err)
	require.Equal(t, ctl, out)
}

func TestAppendFiller(t *testing.T) {
	dst := []byte("prefix")
	dst = AppendFiller(dst, 100, 149, 1700000000000, 4)
	dst = AppendFiller(dst, 150, 150, 1700000000001, 5)
	require.Equal(t, "prefix", string(dst[:6]))
	require.Len(t, dst, 6+2*HeaderSize)

	first, second := dst[6:6+HeaderSize], dst[6+HeaderSize:]
	for i, f := range []struct {
		batch             []byte
		base, last, maxTS int64
		epoch             int32
	}{{first, 100, 149, 1700000000000, 4}, {second, 150, 150, 1700000000001, 5}} {
		require.NoError(t, Validate(f.batch, 1<<20), "filler %d", i)
		require.NoError(t, CheckCRC(f.batch))
		h, err := ParseHeader(f.batch, len(f.batch))
		require.NoError(t, err)
		require.Equal(t, Header{
			BaseOffset: f.base, BatchLength: HeaderSize - LogOverhead, PartitionLeaderEpoch: f.epoch,
			Magic: Magic, CRC: h.CRC, Attributes: 0, LastOffsetDelta: int32(f.last - f.base),
			BaseTimestamp: f.maxTS, MaxTimestamp: f.maxTS, ProducerID: NoProducerID,
			ProducerEpoch: NoEpoch, BaseSequence: NoSequence, RecordCount: 0,
		}, h)
		require.Equal(t, f.last, h.LastOffset())
		require.Equal(t, f.last+1, h.NextOffset())
		require.Equal(t, compress.None, h.Codec())
		n, err := iterate(f.batch, 1<<20)
		require.NoError(t, err)
		require.Zero(t, n)
		var it Iter
		require.NoError(t, it.Reset(f.batch, 1<<20))
		require.False(t, it.Next())
		require.Nil(t, it.RawRecord())
	}
	h1, err := ParseHeader(first, HeaderSize)
	require.NoError(t, err)
	h2, err := ParseHeader(second, HeaderSize)
	require.NoError(t, err)
	require.Equal(t, h1.NextOffset(), h2.BaseOffset, "fillers are contiguous")

	// Extremes of the documented range.
	b := AppendFiller(nil, math.MaxInt64-math.MaxInt32, math.MaxInt64, -1, NoEpoch)
	require.NoError(t, Validate(b, 0))
	h, err := ParseHeader(b, len(b))
	require.NoError(t, err)
	require.Equal(t, int32(math.MaxInt32), h.LastOffsetDelta)
	require.Equal(t, int64(math.MaxInt64), h.LastOffset())

	// Appending into spare capacity allocates nothing.
	buf := make([]byte, 0, 4*HeaderSize)
	allocs := testing.AllocsPerRun(20, func() {
		buf = AppendFiller(buf[:0], 1, 2, 3, 4)
	})
	require.Zero(t, allocs)
}

func TestRawRecord(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	var it Iter
	for _, c := range allCodecs {
		tc := buildRetainCase(t, rng, 25, c, false, false)
		require.Nil(t, it.RawRecord(), "no current record after Reset")
		require.NoError(t, it.Reset(tc.batch, 64<<20))
		require.Nil(t, it.RawRecord())
		var all []byte
		for it.Next() {
			raw := it.RawRecord()
			require.Equal(t, len(raw), cap(raw), "clipped")
			all = append(all, raw...)
			want := it.Record().Clone()
			wantTS := tc.hdr.BaseTimestamp + it.tsDelta

			// The bytes alone decode to the same record.
			h := tc.hdr
			h.Attributes = 0
			h.RecordCount = 1
			one := collect(t, rawBatch(h, raw))
			require.Len(t, one, 1)
			require.Equal(t, want.Offset, one[0].Offset)
			require.Equal(t, wantTS, one[0].Timestamp)
			requireSameBytes(t, want.Key, one[0].Key, "key")
			requireSameBytes(t, want.Value, one[0].Value, "value")
			require.Equal(t, want.Headers, one[0].Headers)
		}
		require.NoError(t, it.Err())
		require.Nil(t, it.RawRecord(), "no current record at the end")
		if c == compress.None {
			require.Equal(t, tc.batch[HeaderSize:], all)
		} else {
			require.Equal(t, it.data, all, "the decompressed records section")
		}
	}

	// After a corrupt record there is none either.
	b := rawBatch(hdr(2, 1), append(simpleRec(0), 0x7f))
	require.NoError(t, it.Reset(b, 1<<20))
	require.True(t, it.Next())
	require.NotNil(t, it.RawRecord())
	require.False(t, it.Next())
	require.Error(t, it.Err())
	require.Nil(t, it.RawRecord())
	it.Release()
	require.Nil(t, it.RawRecord())
}

// TestRetainerZeroAllocs: steady-state rebuilding of an uncompressed batch
// allocates nothing, verbatim or re-encoding for a delete horizon.
func TestRetainerZeroAllocs(t *testing.T) {
	batch := makeRetainBenchBatch(t)
	var r Retainer
	var it Iter
	for _, horizon := range []int64{-1, 1800000000000} {
		rebuild := func() {
			if err := it.Reset(batch, 1<<30); err != nil {
				t.Fatal(err)
			}
			r.Reset(it.Header(), horizon)
			for i := 0; it.Next(); i++ {
				if i%2 == 0 {
					r.Keep(&it)
				}
			}
			if _, err := r.Build(); err != nil {
				t.Fatal(err)
			}
		}
		rebuild()
		require.Zero(t, testing.AllocsPerRun(20, rebuild), "horizon %d", horizon)
	}
}

func makeRetainBenchBatch(t testing.TB) []byte {
	value := bytes.Repeat([]byte("0123456789"), 10)
	var b Builder
	b.Reset(nonIdempotentOpts(compress.None))
	for j := 0; j < 1000; j++ {
		b.Append(1700000000000+int64(j), []byte("key"), value, nil)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	return append([]byte(nil), batch...)
}

// BenchmarkRetainer keeps half of 1,000 records of 100-byte values from an
// uncompressed batch; throughput is of the original batch.
func BenchmarkRetainer(b *testing.B) {
	batch := makeRetainBenchBatch(b)
	var r Retainer
	var it Iter
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if err := it.Reset(batch, 1<<30); err != nil {
			b.Fatal(err)
		}
		r.Reset(it.Header(), -1)
		for i := 0; it.Next(); i++ {
			if i%2 == 0 {
				r.Keep(&it)
			}
		}
		if _, err := r.Build(); err != nil {
			b.Fatal(err)
		}
	}
}
