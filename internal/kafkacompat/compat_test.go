package kafkacompat

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
)

var allCodecs = []compress.Codec{compress.None, compress.Gzip, compress.Snappy, compress.LZ4, compress.Zstd}

// testRecord is one record as appended, with everything kmsg needs.
type testRecord struct {
	ts      int64
	key     []byte
	value   []byte
	headers []record.RecordHeader
}

// batchShape is the header-level content of a test batch.
type batchShape struct {
	codec         compress.Codec
	level         int
	baseOffset    int64
	leaderEpoch   int32
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	transactional bool
	logAppendTime bool
	recs          []testRecord
}

func randomField(rng *rand.Rand, maxLen int) []byte {
	switch rng.Intn(5) {
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

func randomShape(rng *rand.Rand, c compress.Codec) batchShape {
	s := batchShape{
		codec:         c,
		baseOffset:    rng.Int63n(1 << 40),
		leaderEpoch:   rng.Int31n(100) - 1,
		producerID:    record.NoProducerID,
		producerEpoch: record.NoEpoch,
		baseSequence:  record.NoSequence,
	}
	if levels := map[compress.Codec][]int{compress.Gzip: {0, 1, 9}, compress.LZ4: {0, 1, 9}, compress.Zstd: {0, 1, 7}}[c]; levels != nil {
		s.level = levels[rng.Intn(len(levels))]
	}
	if rng.Intn(2) == 0 {
		s.producerID = rng.Int63n(1 << 50)
		s.producerEpoch = int16(rng.Intn(1 << 15))
		s.baseSequence = rng.Int31()
		s.transactional = rng.Intn(2) == 0
	}
	s.logAppendTime = rng.Intn(4) == 0
	n := 1 + rng.Intn(40)
	if rng.Intn(8) == 0 {
		n = 300 + rng.Intn(300)
	}
	ts := int64(1700000000000) + rng.Int63n(1e9)
	for i := 0; i < n; i++ {
		ts += rng.Int63n(3000) - 1000
		r := testRecord{ts: ts, key: randomField(rng, 30), value: randomField(rng, 500)}
		if i == 0 && rng.Intn(5) == 0 {
			r.value = bytes.Repeat([]byte("large value "), 10000)
		}
		for j, nh := 0, rng.Intn(4)*rng.Intn(4); j < nh; j++ {
			r.headers = append(r.headers, record.RecordHeader{
				Key:   fmt.Appendf(nil, "hdr-%d", rng.Intn(3)), // duplicates allowed
				Value: randomField(rng, 20),
			})
		}
		s.recs = append(s.recs, r)
	}
	return s
}

func (s *batchShape) maxTimestamp() int64 {
	m := s.recs[0].ts
	for _, r := range s.recs {
		m = max(m, r.ts)
	}
	return m
}

func (s *batchShape) attributes() int16 {
	a := int16(s.codec)
	if s.logAppendTime {
		a |= record.AttrLogAppendTime
	}
	if s.transactional {
		a |= record.AttrTransactional
	}
	return a
}

// buildOurs encodes s with record.Builder.
func buildOurs(t testing.TB, s *batchShape) []byte {
	t.Helper()
	var b record.Builder
	b.Reset(record.BuildOptions{
		Codec: s.codec, Level: s.level,
		ProducerID: s.producerID, ProducerEpoch: s.producerEpoch, BaseSequence: s.baseSequence,
		Transactional: s.transactional, LogAppendTime: s.logAppendTime,
	})
	for _, r := range s.recs {
		b.Append(r.ts, r.key, r.value, r.headers)
	}
	batch, err := b.Build()
	require.NoError(t, err)
	batch = append([]byte(nil), batch...)
	record.SetBaseOffset(batch, s.baseOffset)
	record.SetPartitionLeaderEpoch(batch, s.leaderEpoch)
	return batch
}

// kmsgRecord converts record i of s into a kmsg.Record with its Length set.
func kmsgRecord(s *batchShape, i int) kmsg.Record {
	r := s.recs[i]
	kr := kmsg.Record{
		TimestampDelta64: r.ts - s.recs[0].ts,
		OffsetDelta:      int32(i),
		Key:              r.key,
		Value:            r.value,
	}
	for _, h := range r.headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
	}
	// Encode once with Length 0 (a one-byte varint) to learn the body size.
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	return kr
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// buildKmsg encodes s the way franz-go does: kmsg.Record.AppendTo for each
// record, the records compressed by compressFn, kmsg.RecordBatch.AppendTo,
// and the CRC-32C computed over bytes [21:] and filled in.
func buildKmsg(t testing.TB, s *batchShape, compressFn func([]byte) []byte) []byte {
	t.Helper()
	var raw []byte
	for i := range s.recs {
		kr := kmsgRecord(s, i)
		raw = kr.AppendTo(raw)
	}
	records := compressFn(raw)
	kb := kmsg.RecordBatch{
		FirstOffset:          s.baseOffset,
		Length:               int32(49 + len(records)),
		PartitionLeaderEpoch: s.leaderEpoch,
		Magic:                2,
		Attributes:           s.attributes(),
		LastOffsetDelta:      int32(len(s.recs) - 1),
		FirstTimestamp:       s.recs[0].ts,
		MaxTimestamp:         s.maxTimestamp(),
		ProducerID:           s.producerID,
		ProducerEpoch:        s.producerEpoch,
		FirstSequence:        s.baseSequence,
		NumRecords:           int32(len(s.recs)),
		Records:              records,
	}
	enc := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(enc[21:], castagnoli))
	return kb.AppendTo(nil)
}

// ourCompressor compresses with our compress package.
func ourCompressor(t testing.TB, c compress.Codec, level int) func([]byte) []byte {
	return func(raw []byte) []byte {
		out, err := compress.Compress(nil, c, level, raw)
		require.NoError(t, err)
		return out
	}
}

// foreignCompressors compress with implementations other than ours, in
// framings other clients write (any valid framing must be read).
func foreignCompressors(t testing.TB) map[string]struct {
	codec compress.Codec
	fn    func([]byte) []byte
} {
	type entry = struct {
		codec compress.Codec
		fn    func([]byte) []byte
	}
	return map[string]entry{
		"gzip/stdlib": {compress.Gzip, func(raw []byte) []byte {
			var buf bytes.Buffer
			w := stdgzip.NewWriter(&buf)
			_, err := w.Write(raw)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}},
		"snappy/xerial": {compress.Snappy, func(raw []byte) []byte { return xerial.Encode(nil, raw) }},
		"lz4/4MiB-blocks-checksums": {compress.LZ4, func(raw []byte) []byte {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			require.NoError(t, w.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(true), lz4.BlockChecksumOption(true)))
			_, err := w.Write(raw)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}},
		"lz4/content-size": {compress.LZ4, func(raw []byte) []byte {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			require.NoError(t, w.Apply(lz4.SizeOption(uint64(len(raw))), lz4.BlockSizeOption(lz4.Block256Kb)))
			_, err := w.Write(raw)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}},
		"zstd/streamed-no-content-size": {compress.Zstd, func(raw []byte) []byte {
			var buf bytes.Buffer
			w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<21))
			require.NoError(t, err)
			_, err = w.Write(raw)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}},
	}
}

// independentDecompress decompresses records without our compress package.
func independentDecompress(t testing.TB, c compress.Codec, data []byte) []byte {
	t.Helper()
	switch c {
	case compress.None:
		return data
	case compress.Gzip:
		r, err := stdgzip.NewReader(bytes.NewReader(data))
		require.NoError(t, err)
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		return out
	case compress.Snappy:
		out, err := xerial.Decode(data)
		require.NoError(t, err)
		return out
	case compress.LZ4:
		out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(data)))
		require.NoError(t, err)
		return out
	case compress.Zstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		require.NoError(t, err)
		defer d.Close()
		out, err := d.DecodeAll(data, nil)
		require.NoError(t, err)
		return out
	}
	t.Fatalf("codec %s", c)
	return nil
}

// decodeWithKmsg decodes batch with kmsg and the independent decompressors,
// checking that every kmsg.Record re-encodes to exactly its input bytes.
func decodeWithKmsg(t testing.TB, batch []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var kb kmsg.RecordBatch
	require.NoError(t, kb.ReadFrom(batch))
	require.Len(t, batch, int(kb.Length)+12, "kmsg consumed the whole batch")
	raw := independentDecompress(t, compress.Codec(kb.Attributes&record.AttrCodecMask), kb.Records)
	var recs []kmsg.Record
	for p := 0; p < len(raw); {
		l, n := binary.Varint(raw[p:])
		require.Greater(t, n, 0)
		end := p + n + int(l)
		require.LessOrEqual(t, end, len(raw))
		var kr kmsg.Record
		if err := kr.ReadFrom(raw[p:end]); err != nil {
			t.Fatalf("record %d: %v", len(recs), err)
		}
		if !bytes.Equal(raw[p:end], kr.AppendTo(nil)) {
			t.Fatalf("record %d does not re-encode identically", len(recs))
		}
		recs = append(recs, kr)
		p = end
	}
	return kb, recs
}

func requireNullableEqual(t testing.TB, want, got []byte, what string) {
	t.Helper()
	if (want == nil) != (got == nil) || !bytes.Equal(want, got) {
		t.Fatalf("%s: want %q (nil %t), got %q (nil %t)", what, want, want == nil, got, got == nil)
	}
}

// TestOurBatchesDecodeWithKmsg: batches from record.Builder (random shapes,
// every codec) decode with kmsg to exactly what was appended.
func TestOurBatchesDecodeWithKmsg(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 40; i++ {
		for _, c := range allCodecs {
			s := randomShape(rng, c)
			batch := buildOurs(t, &s)
			kb, krecs := decodeWithKmsg(t, batch)

			require.Equal(t, s.baseOffset, kb.FirstOffset)
			require.Equal(t, int32(len(batch)-12), kb.Length)
			require.Equal(t, s.leaderEpoch, kb.PartitionLeaderEpoch)
			require.Equal(t, int8(2), kb.Magic)
			require.Equal(t, crc32.Checksum(batch[21:], castagnoli), uint32(kb.CRC))
			require.Equal(t, s.attributes(), kb.Attributes)
			require.Equal(t, int32(len(s.recs)-1), kb.LastOffsetDelta)
			require.Equal(t, s.recs[0].ts, kb.FirstTimestamp)
			require.Equal(t, s.maxTimestamp(), kb.MaxTimestamp)
			require.Equal(t, s.producerID, kb.ProducerID)
			require.Equal(t, s.producerEpoch, kb.ProducerEpoch)
			require.Equal(t, s.baseSequence, kb.FirstSequence)
			require.Equal(t, int32(len(s.recs)), kb.NumRecords)

			require.Len(t, krecs, len(s.recs))
			for j, kr := range krecs {
				// Plain comparisons: testify's reflection is slow under -race.
				w := s.recs[j]
				if kr.Attributes != 0 || kr.TimestampDelta64 != w.ts-s.recs[0].ts || kr.OffsetDelta != int32(j) {
					t.Fatalf("record %d: attributes %d, timestamp delta %d, offset delta %d", j, kr.Attributes, kr.TimestampDelta64, kr.OffsetDelta)
				}
				requireNullableEqual(t, w.key, kr.Key, "key")
				requireNullableEqual(t, w.value, kr.Value, "value")
				if len(kr.Headers) != len(w.headers) {
					t.Fatalf("record %d: %d headers, want %d", j, len(kr.Headers), len(w.headers))
				}
				for k, h := range kr.Headers {
					if h.Key != string(w.headers[k].Key) {
						t.Fatalf("record %d header %d: key %q, want %q", j, k, h.Key, w.headers[k].Key)
					}
					requireNullableEqual(t, w.headers[k].Value, h.Value, "header value")
				}
			}
		}
	}
}

// requireOursDecode checks that our Iter and Validate read batch as s.
func requireOursDecode(t testing.TB, s *batchShape, batch []byte) {
	t.Helper()
	require.NoError(t, record.CheckCRC(batch))
	require.NoError(t, record.Validate(batch, 64<<20))
	var it record.Iter
	require.NoError(t, it.Reset(batch, 64<<20))
	h := it.Header()
	require.Equal(t, s.baseOffset, h.BaseOffset)
	require.Equal(t, s.leaderEpoch, h.PartitionLeaderEpoch)
	require.Equal(t, s.attributes(), h.Attributes)
	require.Equal(t, s.producerID, h.ProducerID)
	require.Equal(t, s.producerEpoch, h.ProducerEpoch)
	require.Equal(t, s.baseSequence, h.BaseSequence)
	require.Equal(t, s.maxTimestamp(), h.MaxTimestamp)
	j := 0
	for it.Next() {
		// Plain comparisons: testify's reflection is slow under -race.
		r := it.Record()
		w := s.recs[j]
		wantTS := w.ts
		if s.logAppendTime {
			wantTS = s.maxTimestamp()
		}
		if r.Offset != s.baseOffset+int64(j) || r.Timestamp != wantTS {
			t.Fatalf("record %d: offset %d, timestamp %d; want %d, %d", j, r.Offset, r.Timestamp, s.baseOffset+int64(j), wantTS)
		}
		requireNullableEqual(t, w.key, r.Key, "key")
		requireNullableEqual(t, w.value, r.Value, "value")
		if len(r.Headers) != len(w.headers) {
			t.Fatalf("record %d: %d headers, want %d", j, len(r.Headers), len(w.headers))
		}
		for k, hh := range r.Headers {
			if !bytes.Equal(hh.Key, w.headers[k].Key) {
				t.Fatalf("record %d header %d: key %q, want %q", j, k, hh.Key, w.headers[k].Key)
			}
			requireNullableEqual(t, w.headers[k].Value, hh.Value, "header value")
		}
		j++
	}
	require.NoError(t, it.Err())
	require.Equal(t, len(s.recs), j)
}

// TestKmsgBatchesDecodeWithOurs: batches encoded with kmsg, compressed by our
// compress package, decode with our Iter, and are byte-identical to what our
// Builder produces (so the CRCs agree too).
func TestKmsgBatchesDecodeWithOurs(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 40; i++ {
		for _, c := range allCodecs {
			s := randomShape(rng, c)
			kbatch := buildKmsg(t, &s, ourCompressor(t, c, s.level))
			requireOursDecode(t, &s, kbatch)

			ours := buildOurs(t, &s)
			require.Equal(t, binary.BigEndian.Uint32(kbatch[17:21]), binary.BigEndian.Uint32(ours[17:21]), "CRC")
			require.True(t, bytes.Equal(kbatch, ours), "kmsg and Builder bytes differ for %s", c)
		}
	}
}

// TestForeignCompressionDecodesWithOurs: kmsg batches compressed by other
// implementations (stdlib gzip, klauspost xerial, pierrec lz4 with other
// frame options, streamed zstd without content size) decode with ours.
func TestForeignCompressionDecodesWithOurs(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for name, fc := range foreignCompressors(t) {
		t.Run(name, func(t *testing.T) {
			for i := 0; i < 15; i++ {
				s := randomShape(rng, fc.codec)
				requireOursDecode(t, &s, buildKmsg(t, &s, fc.fn))
			}
		})
	}
}

// The golden batches A and B of internal/record's tests: Kafka record
// batches v2, computed with an implementation independent of both this
// module and kmsg.
const (
	goldenTS        = 1700000000000
	goldenBatchAHex = `0000000000000000 0000003a ffffffff 02 e99b8dd8 0000 00000000 0000018bcfe56800 0000018bcfe56800
		ffffffffffffffff ffff ffffffff 00000001 10000000026b027600`
	goldenBatchBHex = `0000000000000064 00000053 ffffffff 02 8eec9d0a 0000 00000001 0000018bcfe56800 0000018bcfe56805
		ffffffffffffffff ffff ffffffff 00000002
		20000000086b6579300c76616c75653000 20000a02010c76616c7565310202680278`
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// TestGoldenVectorsWithKmsg builds the golden batches with kmsg and with
// our Builder: both must equal the golden bytes and CRCs.
func TestGoldenVectorsWithKmsg(t *testing.T) {
	a := batchShape{
		codec: compress.None, producerID: -1, producerEpoch: -1, baseSequence: -1, leaderEpoch: -1,
		recs: []testRecord{{ts: goldenTS, key: []byte("k"), value: []byte("v")}},
	}
	b := batchShape{
		codec: compress.None, baseOffset: 100, producerID: -1, producerEpoch: -1, baseSequence: -1, leaderEpoch: -1,
		recs: []testRecord{
			{ts: goldenTS, key: []byte("key0"), value: []byte("value0")},
			{ts: goldenTS + 5, key: nil, value: []byte("value1"), headers: []record.RecordHeader{{Key: []byte("h"), Value: []byte("x")}}},
		},
	}
	for _, tc := range []struct {
		name string
		s    batchShape
		hex  string
		crc  uint32
		size int
	}{
		{"A", a, goldenBatchAHex, 0xe99b8dd8, 70},
		{"B", b, goldenBatchBHex, 0x8eec9d0a, 95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			require.Len(t, want, tc.size)
			kbatch := buildKmsg(t, &tc.s, func(raw []byte) []byte { return raw })
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(kbatch), "kmsg")
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(buildOurs(t, &tc.s)), "Builder")
			require.Equal(t, tc.crc, crc32.Checksum(want[21:], castagnoli))
			require.Equal(t, tc.crc, record.ComputeCRC(want))
			requireOursDecode(t, &tc.s, want)
			kb, krecs := decodeWithKmsg(t, want)
			require.Equal(t, tc.crc, uint32(kb.CRC))
			require.Len(t, krecs, len(tc.s.recs))
		})
	}
	// Batch A's single record (key "k", value "v", no headers).
	kr := kmsgRecord(&a, 0)
	require.Equal(t, unhex(t, "10 00 00 00 02 6b 02 76 00"), kr.AppendTo(nil))
	require.Equal(t, 9, record.RecordSize(0, 0, []byte("k"), []byte("v"), nil))
}
