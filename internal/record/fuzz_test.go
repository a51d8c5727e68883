package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/compress"
)

const fuzzMaxDecompressed = 1 << 20

// FuzzParseAndIterate feeds arbitrary bytes to ParseHeader, CheckCRC, Iter
// and Validate: none may panic, their verdicts must agree, they must stay
// within IterAllocBound, and a batch that
// Validate accepts and that the Builder could have produced must be
// re-encoded byte for byte. Each input is also tried with its CRC fixed up,
// so that mutations reach the record decoder. The work is linear in the
// input (and the decompressed size): each record takes at least one byte
// and there are at most RecordCount of them, each header at least two.
func FuzzParseAndIterate(f *testing.F) {
	for _, seed := range fuzzBatchSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBatchInvariants(t, data)
		if len(data) >= HeaderSize {
			fixed := append([]byte(nil), data...)
			binary.BigEndian.PutUint32(fixed[offCRC:], ComputeCRC(fixed))
			checkBatchInvariants(t, fixed)
		}
	})
}

func fuzzBatchSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{nil, {}, make([]byte, HeaderSize)}
	add := func(b []byte) { seeds = append(seeds, append([]byte(nil), b...)) }
	add(buildGoldenA(tb))
	add(buildGoldenB(tb))
	for _, c := range allCodecs {
		add(buildRandomBatch(tb, 3, c))
	}
	var b Builder
	b.Reset(BuildOptions{Transactional: true, LogAppendTime: true, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3})
	b.Append(10, []byte{}, nil, []RecordHeader{{Key: []byte("a"), Value: nil}, {Key: []byte("a"), Value: []byte{}}})
	b.Append(9, nil, []byte("v"), nil)
	b.SetMaxTimestamp(99)
	built, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	add(built)
	ctl := hdr(1, 0)
	ctl.Attributes = AttrTransactional | AttrControl
	add(rawBatch(ctl, rec([]byte{0}, vi(0), vi(0), vi(4), []byte{0, 0, 0, 0}, vi(6), []byte{0, 0, 0, 0, 0, 1}, vi(0))))
	empty := hdr(0, 3)
	add(rawBatch(empty, nil))
	add(rawBatch(hdr(1, 0), rec([]byte{0}, vi(0), vi(0), vi(1<<30), vi(-1), vi(0))))
	add(rawBatch(hdr(1, 0), rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30))))
	add(rawBatch(hdr(2, 1), append(simpleRec(1), simpleRec(0)...)))
	return seeds
}

// checkBatchInvariants runs every decoder over data and checks they agree,
// and that together (an Iter's Reset and iteration, and Validate) they
// allocate at most twice IterAllocBound.
func checkBatchInvariants(t *testing.T, data []byte) {
	var (
		h                      Header
		herr, crcErr, resetErr error
		verr                   error
		it                     Iter
		n                      int
		outside                bool
		outsideOffset          int64
	)
	decode := func() {
		h, herr = ParseHeader(data, len(data))
		crcErr = CheckCRC(data)
		it = Iter{}
		n, outside = 0, false
		resetErr = it.Reset(data, fuzzMaxDecompressed)
		if resetErr == nil {
			for it.Next() {
				if r := it.Record(); !outside && (r.Offset < h.BaseOffset || r.Offset > h.LastOffset()) {
					outside, outsideOffset = true, r.Offset
				}
				n++
			}
		}
		verr = Validate(data, fuzzMaxDecompressed)
	}
	alloctest.Check(t, 2*uint64(IterAllocBound(data, fuzzMaxDecompressed)), nil, decode)
	if outside {
		t.Fatalf("record offset %d outside [%d, %d]", outsideOffset, h.BaseOffset, h.LastOffset())
	}
	if resetErr == nil && n > int(h.RecordCount) {
		t.Fatalf("%d records, header says %d", n, h.RecordCount)
	}
	for _, err := range []error{herr, crcErr, resetErr, it.Err(), verr} {
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error outside the package's sentinels: %v", err)
		}
	}
	if verr != nil {
		return
	}
	if herr != nil || crcErr != nil || resetErr != nil || it.Err() != nil || n != int(h.RecordCount) {
		t.Fatalf("Validate passed but: header %v, crc %v, reset %v, iter %v, %d/%d records",
			herr, crcErr, resetErr, it.Err(), n, h.RecordCount)
	}
	if rebuilt, ok := rebuild(t, data, &h); ok && !bytes.Equal(rebuilt, data) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", rebuilt, data)
	}
}

// rebuild re-encodes a valid uncompressed batch with the Builder, if the
// Builder could have produced it: only the LogAppendTime and transactional
// attribute bits, offset deltas 0..n-1, a first timestamp delta of 0, zero
// record attributes, and minimal varints.
func rebuild(t *testing.T, data []byte, h *Header) ([]byte, bool) {
	if h.Attributes&^(AttrLogAppendTime|AttrTransactional) != 0 ||
		h.RecordCount == 0 || h.LastOffsetDelta != h.RecordCount-1 {
		return nil, false
	}
	records := data[HeaderSize:]
	for p := 0; p < len(records); {
		l, n := readVarint32(records[p:])
		if records[p+n] != 0 {
			return nil, false
		}
		p += n + int(l)
	}
	var b Builder
	b.Reset(BuildOptions{
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		Transactional: h.Transactional(), LogAppendTime: h.LogAppendTime(),
	})
	var it Iter
	if err := it.Reset(data, fuzzMaxDecompressed); err != nil {
		t.Fatal(err)
	}
	size := HeaderSize
	for i := 0; it.Next(); i++ {
		r := it.Record()
		if it.offsetDelta != int32(i) || (i == 0 && it.tsDelta != 0) {
			return nil, false
		}
		size += RecordSize(it.offsetDelta, it.tsDelta, r.Key, r.Value, r.Headers)
		b.Append(h.BaseTimestamp+it.tsDelta, r.Key, r.Value, r.Headers)
	}
	if size != len(data) { // some varint was not minimal
		return nil, false
	}
	b.SetMaxTimestamp(h.MaxTimestamp)
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	SetBaseOffset(out, h.BaseOffset)
	SetPartitionLeaderEpoch(out, h.PartitionLeaderEpoch)
	return out, true
}

// FuzzRoundTrip builds batches from fuzzed keys, values and headers with every
// codec and checks that Validate accepts them within IterAllocBound and
// that Iter returns exactly what was appended.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), []byte("h"), []byte("x"), int64(goldenTS), uint8(0), uint8(0))
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, int64(-1), uint8(1), uint8(0xff))
	f.Add([]byte(nil), bytes.Repeat([]byte("abc"), 1000), []byte("trace-id"), []byte(nil), int64(1<<62), uint8(2), uint8(0x3a))
	f.Add([]byte("key"), []byte("value"), []byte("h"), []byte("v"), int64(-1<<63), uint8(3), uint8(0x15))
	f.Add([]byte("\x00\xff"), []byte("\x80\x80"), []byte("\x01"), []byte("\x7f"), int64(1<<63-1), uint8(4), uint8(0x2c))
	f.Fuzz(func(t *testing.T, key, value, hkey, hval []byte, ts int64, codec, flags uint8) {
		c := allCodecs[int(codec)%len(allCodecs)]
		if flags&0x01 != 0 {
			key = nil
		}
		if flags&0x02 != 0 {
			value = nil
		}
		if flags&0x04 != 0 {
			hval = nil
		}
		nrec := 1 + int(flags>>4)%4
		rng := rand.New(rand.NewSource(ts))
		recs := make([]testRecord, nrec)
		for i := range recs {
			recs[i] = testRecord{ts: ts + rng.Int63n(1000) - 500, key: key, value: value}
			for j := 0; j < i; j++ {
				recs[i].headers = append(recs[i].headers, RecordHeader{Key: hkey, Value: hval})
			}
			if i == 1 {
				recs[i].key, recs[i].value = value, key
			}
		}
		opts := nonIdempotentOpts(c)
		opts.LogAppendTime = flags&0x08 != 0
		var b Builder
		batch := buildRecords(t, &b, opts, recs)
		var err error
		alloctest.Check(t, uint64(IterAllocBound(batch, 64<<20)), nil, func() { err = Validate(batch, 64<<20) })
		if err != nil {
			t.Fatal(err)
		}
		var it Iter
		if err := it.Reset(batch, 64<<20); err != nil {
			t.Fatal(err)
		}
		var got []Record
		for it.Next() {
			got = append(got, it.Record().Clone())
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		requireRecordsEqual(t, recs, it.Header(), got)
		if c == compress.None && len(batch) != b.Size() {
			t.Fatalf("Size %d, batch %d bytes", b.Size(), len(batch))
		}
	})
}
