package storage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/stretchr/testify/require"
)

// psBatch returns the batch of records records starting at sequence
// firstSeq and offset base, with lastSeq computed as the partition does.
func psBatch(firstSeq int32, records int32, base int64) producerBatch {
	return producerBatch{firstSeq: firstSeq, lastSeq: NextSequence(firstSeq, records-1), baseOffset: base, lastOffsetDelta: records - 1}
}

// psAppend checks and records count batches of producer pid, each of
// records records, following the producer's last batch (or starting at
// sequence 0 and offset 0), and returns them.
func psAppend(t testing.TB, s *producerStates, pid int64, epoch int16, count int, records int32, now int64) []producerBatch {
	t.Helper()
	seq, base := int32(0), int64(0)
	for _, e := range s.entries {
		if last, ok := e.last(); ok && last.lastOffset() >= base {
			base = last.lastOffset() + 1
		}
	}
	if e, ok := s.entries[pid]; ok && e.epoch == epoch {
		if last, ok := e.last(); ok {
			seq = NextSequence(last.lastSeq, 1)
		}
	}
	var out []producerBatch
	for range count {
		b := psBatch(seq, records, base)
		_, dup, err := s.check(pid, epoch, b.firstSeq, b.lastSeq)
		require.NoError(t, err)
		require.False(t, dup)
		s.update(pid, epoch, b, now)
		out = append(out, b)
		seq = NextSequence(b.lastSeq, 1)
		base = b.lastOffset() + 1
	}
	return out
}

func psSequenceError(t *testing.T, err error) *SequenceError {
	t.Helper()
	var se *SequenceError
	require.ErrorAs(t, err, &se)
	require.Empty(t, se.Topic, "the caller fills in the topic")
	require.Zero(t, se.Partition)
	return se
}

func TestProducerStateCheckFreshProducerAcceptsAnySequence(t *testing.T) {
	s := newProducerStates()
	for _, seq := range []int32{0, 1, 17, math.MaxInt32 - 3, math.MaxInt32} {
		_, dup, err := s.check(42, 3, seq, NextSequence(seq, 9))
		require.NoError(t, err, "seq %d", seq)
		require.False(t, dup)
	}
	require.Zero(t, s.len(), "check changes nothing")
	require.Zero(t, s.changes)

	// A producer id is independent of the others.
	psAppend(t, s, 1, 0, 3, 2, 0)
	_, _, err := s.check(2, 0, 100, 100)
	require.NoError(t, err)
}

func TestProducerStateCheckDuplicates(t *testing.T) {
	s := newProducerStates()
	const pid, epoch = 7, 2
	batches := psAppend(t, s, pid, epoch, 8, 3, 1000) // sequences 0..23
	require.Equal(t, producerStateBatches, s.entries[pid].n)
	changes := s.changes

	// Each of the last 5 batches is a duplicate answered with its offsets.
	for _, b := range batches[len(batches)-producerStateBatches:] {
		got, dup, err := s.check(pid, epoch, b.firstSeq, b.lastSeq)
		require.NoError(t, err)
		require.True(t, dup, "batch %+v", b)
		require.Equal(t, b, got)
		require.Equal(t, b.baseOffset+2, got.lastOffset())
	}

	next := NextSequence(batches[len(batches)-1].lastSeq, 1)
	require.Equal(t, int32(24), next)
	refused := func(firstSeq, lastSeq int32) {
		t.Helper()
		_, dup, err := s.check(pid, epoch, firstSeq, lastSeq)
		require.False(t, dup)
		require.ErrorIs(t, err, ErrOutOfOrderSequence)
		require.NotErrorIs(t, err, ErrProducerFenced)
		se := psSequenceError(t, err)
		require.Equal(t, SequenceError{ProducerID: pid, Epoch: epoch, LastEpoch: epoch, FirstSeq: firstSeq, Expected: next}, *se)
		require.Contains(t, err.Error(), "expected 24")
	}
	// The 6th-from-last is forgotten: not silently deduplicated, refused.
	sixth := batches[len(batches)-producerStateBatches-1]
	refused(sixth.firstSeq, sixth.lastSeq)
	// So is an older range, and one overlapping a remembered batch.
	refused(batches[0].firstSeq, batches[0].lastSeq)
	refused(batches[5].firstSeq, batches[5].lastSeq+1)
	refused(batches[5].firstSeq+1, batches[5].lastSeq)
	// A gap.
	refused(next+1, next+3)
	refused(math.MaxInt32, 2)

	// The next sequence is accepted; the state did not move.
	_, dup, err := s.check(pid, epoch, next, next+4)
	require.NoError(t, err)
	require.False(t, dup)
	require.Equal(t, changes, s.changes)
}

func TestProducerStateCheckEpochs(t *testing.T) {
	s := newProducerStates()
	const pid = 9
	batches := psAppend(t, s, pid, 5, 3, 2, 0) // sequences 0..5

	// An older epoch is fenced, whatever its sequence.
	for _, seq := range []int32{0, 6, batches[2].firstSeq} {
		_, dup, err := s.check(pid, 4, seq, seq+1)
		require.False(t, dup)
		require.ErrorIs(t, err, ErrProducerFenced)
		require.NotErrorIs(t, err, ErrOutOfOrderSequence)
		se := psSequenceError(t, err)
		require.Equal(t, SequenceError{ProducerID: pid, Epoch: 4, LastEpoch: 5, FirstSeq: seq, Expected: 6}, *se)
		require.Contains(t, err.Error(), "fenced")
	}

	// A newer epoch starts at 0...
	_, dup, err := s.check(pid, 6, 0, 4)
	require.NoError(t, err)
	require.False(t, dup)
	// ...and nowhere else, not even where the old epoch would continue,
	// and a remembered range of the old epoch is no duplicate in it.
	for _, seq := range []int32{5, 6, batches[2].firstSeq} {
		_, dup, err := s.check(pid, 6, seq, seq+1)
		require.False(t, dup)
		require.ErrorIs(t, err, ErrOutOfOrderSequence)
		se := psSequenceError(t, err)
		require.Equal(t, SequenceError{ProducerID: pid, Epoch: 6, LastEpoch: 5, FirstSeq: seq, Expected: 0}, *se)
	}
	// Epochs compare as signed numbers, like Kafka's shorts.
	_, _, err = s.check(pid, math.MaxInt16, 0, 0)
	require.NoError(t, err)
	_, _, err = s.check(pid, -1, 6, 6)
	require.ErrorIs(t, err, ErrProducerFenced)
}

func TestProducerStateCheckEntryWithoutBatches(t *testing.T) {
	// update never leaves an entry without batches, but a snapshot may
	// hold one: it accepts any sequence of its epoch and fences older
	// ones.
	s := newProducerStates()
	s.entries[3] = &producerEntry{epoch: 4, lastAppend: 10}
	for _, seq := range []int32{0, 1, 500} {
		_, dup, err := s.check(3, 4, seq, seq)
		require.NoError(t, err)
		require.False(t, dup)
	}
	_, _, err := s.check(3, 3, 0, 0)
	require.ErrorIs(t, err, ErrProducerFenced)
	require.Equal(t, int32(0), psSequenceError(t, err).Expected)
	_, _, err = s.check(3, 5, 0, 0)
	require.NoError(t, err)
	_, _, err = s.check(3, 5, 1, 1)
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
}

func TestProducerStateSequenceWrap(t *testing.T) {
	s := newProducerStates()
	const pid, epoch = 1, 0
	// A batch of 3 records from MaxInt32-1: MaxInt32-1, MaxInt32, 0.
	b := psBatch(math.MaxInt32-1, 3, 100)
	require.Equal(t, int32(0), b.lastSeq)
	s.update(pid, epoch, b, 0)

	_, _, err := s.check(pid, epoch, 1, 1)
	require.NoError(t, err, "1 follows 0")
	for _, seq := range []int32{0, 2, math.MaxInt32} {
		_, _, err := s.check(pid, epoch, seq, seq)
		require.ErrorIs(t, err, ErrOutOfOrderSequence, "seq %d", seq)
		require.Equal(t, int32(1), psSequenceError(t, err).Expected)
	}
	got, dup, err := s.check(pid, epoch, math.MaxInt32-1, 0)
	require.NoError(t, err)
	require.True(t, dup, "a wrapped batch is recognised when resent")
	require.Equal(t, b, got)

	// Ending exactly at MaxInt32, the next sequence is 0.
	s.update(pid, epoch, producerBatch{firstSeq: 1, lastSeq: math.MaxInt32, baseOffset: 103, lastOffsetDelta: math.MaxInt32 - 1}, 0)
	_, _, err = s.check(pid, epoch, 0, 5)
	require.NoError(t, err)
	_, _, err = s.check(pid, epoch, 1, 5)
	require.ErrorIs(t, err, ErrOutOfOrderSequence)
	require.Equal(t, int32(0), psSequenceError(t, err).Expected)
}

func TestProducerStateUpdate(t *testing.T) {
	s := newProducerStates()
	const pid = 5
	var all []producerBatch
	for i := range 12 {
		b := psBatch(int32(2*i), 2, int64(10+2*i))
		s.update(pid, 1, b, int64(1000+i))
		all = append(all, b)
		e := s.entries[pid]
		want := all[max(0, len(all)-producerStateBatches):]
		require.Equal(t, len(want), e.n)
		require.Equal(t, want, e.batches[:e.n], "oldest first, the last %d kept", producerStateBatches)
		require.Equal(t, int64(1000+i), e.lastAppend)
		require.Equal(t, uint64(i+1), s.changes, "every update counts")
	}

	// A new epoch starts afresh.
	b := psBatch(0, 4, 40)
	s.update(pid, 2, b, 2000)
	e := s.entries[pid]
	require.Equal(t, int16(2), e.epoch)
	require.Equal(t, 1, e.n)
	require.Equal(t, b, e.batches[0])
	require.Equal(t, [producerStateBatches - 1]producerBatch{}, [producerStateBatches - 1]producerBatch(e.batches[1:]), "old batches are cleared")
	_, _, err := s.check(pid, 2, 4, 4)
	require.NoError(t, err)
	_, dup, _ := s.check(pid, 1, all[11].firstSeq, all[11].lastSeq)
	require.False(t, dup, "batches of the old epoch are gone")

	// Replaying the log, whatever it holds is the truth: an older epoch
	// than the entry's replaces it too, and sequences are not validated.
	s.update(pid, 1, psBatch(77, 1, 44), 2001)
	e = s.entries[pid]
	require.Equal(t, int16(1), e.epoch)
	require.Equal(t, []producerBatch{psBatch(77, 1, 44)}, e.batches[:e.n])
	s.update(pid, 1, psBatch(3, 1, 45), 1500)
	require.Equal(t, 2, e.n)
	require.Equal(t, int64(1500), e.lastAppend, "the last append's time, as Kafka")

	s.update(6, 0, psBatch(0, 1, 46), 3000)
	require.Equal(t, 2, s.len())
}

func TestProducerStateExpire(t *testing.T) {
	s := newProducerStates()
	for pid := range int64(10) {
		s.update(pid, 0, psBatch(0, 1, pid), 1000+100*pid) // 1000, 1100, ..., 1900
	}
	changes := s.changes

	require.Zero(t, s.expire(1500, 600), "the cutoff 900 is before every entry")
	require.Equal(t, changes, s.changes, "expiring nothing is no change")
	require.Equal(t, 10, s.len())

	// Cutoff 1300: entries older than it go; 1300 itself stays.
	require.Equal(t, 3, s.expire(1800, 500))
	require.Equal(t, changes+1, s.changes)
	require.Equal(t, 7, s.len())
	for pid := range int64(10) {
		_, ok := s.entries[pid]
		require.Equal(t, pid >= 3, ok, "pid %d", pid)
	}
	// An expired producer is accepted with any sequence again.
	_, _, err := s.check(0, 0, 99, 99)
	require.NoError(t, err)

	// Extreme values do not overflow.
	require.Zero(t, s.expire(math.MinInt64+5, math.MaxInt64))
	require.Zero(t, s.expire(1800, math.MaxInt64))
	require.Equal(t, 7, s.len())
	require.Equal(t, 7, s.expire(math.MaxInt64, 0))
	require.Zero(t, s.len())
	require.Zero(t, s.expire(math.MaxInt64, 0))
}

func TestProducerStateClone(t *testing.T) {
	s := newProducerStates()
	psAppend(t, s, 1, 0, 7, 2, 100)
	psAppend(t, s, 2, 3, 2, 1, 200)
	c := s.clone()
	require.Equal(t, s, c)
	require.Equal(t, encodeProducerSnapshot(50, s), encodeProducerSnapshot(50, c))
	orig := encodeProducerSnapshot(50, s)
	origChanges := s.changes

	c.update(1, 0, psBatch(14, 1, 60), 300) // shifts entry 1's batches
	c.update(2, 4, psBatch(0, 1, 61), 300)  // clears entry 2's batches
	c.update(3, 0, psBatch(0, 1, 62), 300)
	c.entries[1].lastAppend = -1
	require.Equal(t, 1, c.expire(250, 0))

	require.Equal(t, orig, encodeProducerSnapshot(50, s), "the original is untouched")
	require.Equal(t, origChanges, s.changes)
	require.Equal(t, 2, s.len())
	require.Equal(t, 2, c.len())
	require.Equal(t, 7, s.entries[1].n+s.entries[2].n)

	require.Equal(t, newProducerStates(), newProducerStates().clone())
}

// psRandomStates returns n entries with random producer ids, epochs and
// batches, all below offset end.
func psRandomStates(rng *rand.Rand, n int) (s *producerStates, end int64) {
	s = newProducerStates()
	for len(s.entries) < n {
		pid := rng.Int64N(1 << 40)
		if rng.IntN(10) == 0 {
			pid = math.MaxInt64 - rng.Int64N(3)
		}
		epoch := int16(rng.IntN(1 << 16))
		seq := rng.Int32()
		for range 1 + rng.IntN(2*producerStateBatches) {
			records := 1 + rng.Int32N(20)
			b := psBatch(seq, records, end)
			s.update(pid, epoch, b, rng.Int64())
			seq = NextSequence(b.lastSeq, 1)
			end = b.lastOffset() + 1 + rng.Int64N(3)
		}
	}
	return s, end
}

func TestProducerSnapshotRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	s, end := psRandomStates(rng, 300)
	s.entries[0] = &producerEntry{epoch: -1, lastAppend: math.MinInt64} // pid 0, no batches
	enc := encodeProducerSnapshot(end, s)

	offset, got, err := decodeProducerSnapshot(enc)
	require.NoError(t, err)
	require.Equal(t, end, offset)
	require.Equal(t, s.len(), got.len())
	for pid, e := range s.entries {
		require.Equal(t, e, got.entries[pid], "pid %d", pid)
	}
	require.Equal(t, enc, encodeProducerSnapshot(end, got))

	// The encoding does not depend on the map's order: a copy built by
	// inserting in another order encodes the same, every time.
	other := newProducerStates()
	pids := make([]int64, 0, len(s.entries))
	for pid := range s.entries {
		pids = append(pids, pid)
	}
	rng.Shuffle(len(pids), func(i, j int) { pids[i], pids[j] = pids[j], pids[i] })
	for _, pid := range pids {
		e := *s.entries[pid]
		other.entries[pid] = &e
	}
	for range 5 {
		require.Equal(t, enc, encodeProducerSnapshot(end, other))
	}
	// Decoded states behave like the original.
	for pid, e := range s.entries {
		if last, ok := e.last(); ok {
			dup, isDup, err := got.check(pid, e.epoch, last.firstSeq, last.lastSeq)
			require.NoError(t, err)
			require.True(t, isDup)
			require.Equal(t, last, dup)
		}
	}
}

func TestProducerSnapshotEmpty(t *testing.T) {
	for _, offset := range []int64{0, 1, math.MaxInt64} {
		enc := encodeProducerSnapshot(offset, newProducerStates())
		require.Len(t, enc, producerSnapshotMinSize)
		require.Equal(t, "CLPS\x00\x01", string(enc[:6]))
		got, s, err := decodeProducerSnapshot(enc)
		require.NoError(t, err)
		require.Equal(t, offset, got)
		require.Zero(t, s.len())
		require.NotNil(t, s.entries, "the decoded state can be updated")
		s.update(1, 0, psBatch(0, 1, 0), 0)
	}
}

func TestProducerSnapshotLayout(t *testing.T) {
	s := newProducerStates()
	s.update(0x0102030405060708, 0x0a0b, producerBatch{firstSeq: 0x11121314, lastSeq: 0x11121316, baseOffset: 0x21, lastOffsetDelta: 2}, 0x3132333435363738)
	enc := encodeProducerSnapshot(0x40, s)
	want := []byte("CLPS\x00\x01" +
		"\x00\x00\x00\x00\x00\x00\x00\x40" + // offset
		"\x00\x00\x00\x01" + // entries
		"\x01\x02\x03\x04\x05\x06\x07\x08" + "\x0a\x0b" + "\x31\x32\x33\x34\x35\x36\x37\x38" + "\x01" +
		"\x11\x12\x13\x14" + "\x11\x12\x13\x16" + "\x00\x00\x00\x00\x00\x00\x00\x21" + "\x00\x00\x00\x02")
	want = binary.BigEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	require.Equal(t, want, enc)
}

// psDamaged returns an encoding of snap with the body changed by edit and a
// correct CRC, to test the checks behind the CRC.
func psDamaged(snap []byte, edit func([]byte) []byte) []byte {
	body := edit(append([]byte(nil), snap[:len(snap)-4]...))
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

func psRequireCorrupt(t *testing.T, b []byte, mentions string, msgAndArgs ...any) {
	t.Helper()
	offset, s, err := decodeProducerSnapshot(b)
	require.ErrorIs(t, err, ErrCorrupt, msgAndArgs...)
	require.Nil(t, s)
	require.Zero(t, offset)
	if mentions != "" {
		require.Contains(t, err.Error(), mentions, msgAndArgs...)
	}
}

func TestProducerSnapshotDamageIsDetected(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	small, end := psRandomStates(rng, 2)
	many, manyEnd := psRandomStates(rng, 40)
	for _, enc := range [][]byte{
		encodeProducerSnapshot(end, small),
		encodeProducerSnapshot(manyEnd, many),
		encodeProducerSnapshot(3, newProducerStates()),
	} {
		_, _, err := decodeProducerSnapshot(enc)
		require.NoError(t, err)
		b := append([]byte(nil), enc...)
		for i := range b {
			masks := []byte{0xff, byte(1 + rng.IntN(255))}
			if len(enc) < 200 {
				masks = masks[:0]
				for m := 1; m < 256; m++ {
					masks = append(masks, byte(m))
				}
			}
			for _, m := range masks {
				b[i] ^= m
				psRequireCorrupt(t, b, "", "byte %d ^ %#x", i, m)
				b[i] ^= m
			}
		}
		for n := range len(enc) {
			psRequireCorrupt(t, enc[:n], "", "truncated to %d", n)
		}
		psRequireCorrupt(t, append(append([]byte(nil), enc...), 0), "crc32c")
		psRequireCorrupt(t, append(append([]byte(nil), enc...), enc...), "crc32c")
	}
	psRequireCorrupt(t, nil, "size 0")
	psRequireCorrupt(t, []byte("CLPS"), "size 4")
}

func TestProducerSnapshotStructureChecks(t *testing.T) {
	s := newProducerStates()
	s.update(3, 0, psBatch(0, 2, 10), 1)
	s.update(3, 0, psBatch(2, 2, 12), 2)
	s.update(8, 0, psBatch(0, 1, 14), 3)
	enc := encodeProducerSnapshot(20, s)
	_, _, err := decodeProducerSnapshot(enc)
	require.NoError(t, err)
	const (
		entry0 = producerSnapshotHeader                                   // pid 3
		batch0 = entry0 + producerSnapshotEntry                           // its first batch
		batch1 = batch0 + producerSnapshotBatch                           // its second batch
		entry1 = entry0 + producerSnapshotEntry + 2*producerSnapshotBatch // pid 8
		nField = producerSnapshotEntry - 1                                // n within an entry
		end    = entry1 + producerSnapshotEntry + producerSnapshotBatch   // the CRC
	)
	require.Len(t, enc, end+4)

	put64 := func(at int, v int64) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint64(b[at:], uint64(v)); return b }
	}
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return b }
	}
	for _, tc := range []struct {
		name     string
		edit     func([]byte) []byte
		mentions string
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "magic"},
		{"version", func(b []byte) []byte { b[5] = 2; return b }, "version 2"},
		{"negative offset", put64(6, -20), "negative offset"},
		{"count too large", put32(14, 3), "entry 2 of 3 truncated"},
		{"count far too large", put32(14, math.MaxUint32), "4294967295 entries do not fit"},
		{"count too small", put32(14, 1), "trailing bytes"},
		{"count zero", put32(14, 0), "trailing bytes"},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, "1 trailing bytes"},
		{"negative pid", put64(entry0, -3), "negative producer id -3"},
		{"pids out of order", put64(entry1, 2), "producer id 2 does not follow 3"},
		{"pid repeated", put64(entry1, 3), "producer id 3 does not follow 3"},
		{"n too large", func(b []byte) []byte { b[entry0+nField] = producerStateBatches + 1; return b }, "6 batches"},
		{"n 255", func(b []byte) []byte { b[entry0+nField] = 255; return b }, "255 batches"},
		{"n too small", func(b []byte) []byte { b[entry0+nField] = 1; return b }, ""},
		{"batches truncated", func(b []byte) []byte { b[entry1+nField] = 2; return b }, "2 batches truncated"},
		{"negative base offset", put64(batch0+8, -1), "outside [0, 20)"},
		{"negative delta", put32(batch0+16, math.MaxUint32), "outside"},
		{"batch at offset", put64(batch1+8, 20), "outside"},
		{"batch past offset", put32(batch1+16, 8), "outside"},
		{"delta overflows", func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[6:], math.MaxInt64)
			binary.BigEndian.PutUint64(b[batch1+8:], math.MaxInt64-1)
			binary.BigEndian.PutUint32(b[batch1+16:], math.MaxInt32)
			return b
		}, "outside"},
		{"batches overlap", put64(batch1+8, 11), "not after the previous batch's last offset 11"},
		{"batches out of order", put64(batch1+8, 5), "not after"},
		{"offset below batches", put64(6, 14), "outside [0, 14)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			psRequireCorrupt(t, psDamaged(enc, tc.edit), tc.mentions)
		})
	}

	// A huge count is refused before anything is allocated for it.
	huge := psDamaged(encodeProducerSnapshot(0, newProducerStates()), put32(14, math.MaxUint32))
	allocs := testing.AllocsPerRun(10, func() { _, _, _ = decodeProducerSnapshot(huge) })
	require.Less(t, allocs, 10.0)
}

func TestSnapshotFileName(t *testing.T) {
	for _, offset := range []int64{0, 1, 12345, math.MaxInt64} {
		name := SnapshotFileName(offset)
		require.Len(t, name, 20+len(".snapshot"))
		got, ok := ParseSnapshotFileName(name)
		require.True(t, ok, name)
		require.Equal(t, offset, got)
	}
	require.Equal(t, "00000000000000000042.snapshot", SnapshotFileName(42))
	for _, name := range []string{
		"x.snapshot",
		".snapshot",
		"",
		"00000000000000000001.log",
		"00000000000000000001.index",
		"00000000000000000001.snapshot.tmp",
		"00000000000000000001.snapshots",
		"0000000000000000001.snapshot",   // too short
		"000000000000000000001.snapshot", // too long
		"-0000000000000000001.snapshot",  // negative
		"+0000000000000000001.snapshot",
		"99999999999999999999.snapshot", // over MaxInt64
		"0000000000000000000a.snapshot",
		" 0000000000000000001.snapshot",
		"00000000000000000001.SNAPSHOT",
	} {
		_, ok := ParseSnapshotFileName(name)
		require.False(t, ok, "%q", name)
	}
}

// FuzzProducerSnapshot feeds arbitrary bytes to decodeProducerSnapshot, as
// they are and with a valid CRC appended. Nothing may panic or allocate
// more than producerSnapshotAllocPerByte per byte plus 1 KiB; every error
// matches ErrCorrupt; what decodes re-encodes to the same bytes and keeps
// at most producerStateBatches batches per producer. Each entry the
// decoder loops over consumes at least 19 bytes (the count is checked
// against the length first).
func FuzzProducerSnapshot(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	f.Add(encodeProducerSnapshot(0, newProducerStates()))
	for _, n := range []int{1, 3, 10} {
		s, end := psRandomStates(rng, n)
		enc := encodeProducerSnapshot(end, s)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(enc[:len(enc)-4]) // the body: valid once the fuzz function appends its CRC
		f.Add(psDamaged(enc, func(b []byte) []byte { b[producerSnapshotHeader+producerSnapshotEntry-1] = 9; return b }))
	}
	f.Add([]byte{})
	f.Add([]byte("CLPS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The input as it is, and the input with a valid CRC appended, so
		// that the fuzzer reaches the checks behind the CRC.
		withCRC := binary.BigEndian.AppendUint32(append([]byte(nil), data...), crc32.Checksum(data, castagnoli))
		for _, in := range [][]byte{data, withCRC} {
			var (
				offset int64
				s      *producerStates
				err    error
			)
			bound := producerSnapshotAllocPerByte*uint64(len(in)) + 1<<10
			alloctest.Check(t, bound, nil, func() { offset, s, err = decodeProducerSnapshot(in) })
			if err != nil {
				require.True(t, errors.Is(err, ErrCorrupt), "%v", err)
				require.Nil(t, s)
				continue
			}
			require.Equal(t, in, encodeProducerSnapshot(offset, s), "what decodes re-encodes to the same bytes")
			for _, e := range s.entries {
				require.LessOrEqual(t, e.n, producerStateBatches)
			}
		}
	})
}
