package commitlog

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/compress"
	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// The fuzz targets that go through Open build their log once, outside the
// fuzz function, and give every input an independent copy of it (cloneMem),
// so that an input costs one Open rather than the building of a log.

// Allocation bounds of the targets that go through Open: opening one of
// their small logs, reading every record, checking it and closing it
// allocates at most openAllocFixed bytes plus openAllocPerByte for every
// byte of the partition's files, plus three times record.IterAllocBound
// for every compressed batch the data holds (Scan and Check decode each
// batch: Check twice). Measured: 13 KiB for an empty partition, 40 KiB
// for one with a 4 KiB data file, about 6 bytes per byte of data (read by
// recovery, copied when recovery rewrites it and into the file system's
// pending writes, read again by Scan and Check).
const (
	openAllocFixed   = 128 << 10
	openAllocPerByte = 16
)

// cloneMem returns an independent copy of mem, whose files are all durable.
func cloneMem(mem *vfs.MemFS) *vfs.MemFS { return mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}) }

// fixCRC returns a copy of b whose last four bytes are the big-endian
// CRC-32C of the bytes before them, as the files protected by a CRC store
// it (b itself when it is shorter than four bytes), so that fuzzed inputs
// get past the CRC check to the checks behind it.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[len(c)-4:], crc32.Checksum(c[:len(c)-4], castagnoli))
	return c
}

// appendCRC returns a copy of b followed by its big-endian CRC-32C.
func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
}

// batchesDecodeAlloc returns the allocation allowance for decoding the
// compressed batches of the data file data: three times
// record.IterAllocBound for each CRC-valid compressed batch of the chain
// of batches from its start (recovery stops at the first bad batch, and
// reads never go past it).
func batchesDecodeAlloc(data []byte) uint64 {
	var n uint64
	for pos := 0; pos < len(data); {
		h, err := record.ParseHeader(data[pos:], len(data)-pos)
		if err != nil {
			break
		}
		b := data[pos : pos+h.Size()]
		if record.CheckCRC(b) != nil {
			break
		}
		if h.Codec() != compress.None {
			n += 3 * uint64(record.IterAllocBound(b, maxDecompressedBatch))
		}
		pos += h.Size()
	}
	return n
}

// fuzzLog returns a closed log with one topic "f" of one small partition
// holding a few batches, and the bytes of its first segment's files.
func fuzzLog(t testing.TB, batches int) (*vfs.MemFS, map[string][]byte) {
	return fuzzLogCodec(t, batches, CodecNone)
}

// fuzzLogCodec is fuzzLog with the topic's records compressed with codec.
func fuzzLogCodec(t testing.TB, batches int, codec Codec) (*vfs.MemFS, map[string][]byte) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(t, err)
	cfg := smallTopic
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 100
	cfg.Compression = codec
	tp, err := l.CreateTopic(ctx, "f", cfg)
	require.NoError(t, err)
	p, _ := tp.Partition(0)
	appendBatches(t, p, rand.New(rand.NewPCG(9, 9)), 0, batches, 3, 40)
	require.NoError(t, l.Close())
	files := map[string][]byte{}
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		b, err := mem.ReadFile(filepath.Join(testDir, "f-0", segmentName(0, suffix)))
		require.NoError(t, err)
		files[suffix] = b
	}
	return mem, files
}

// openFuzzed opens fs and, if it opens, reads everything and checks it.
// It must never panic; corruption must come back as ErrCorrupt.
func openFuzzed(t *testing.T, fs vfs.FS) (records int64, opened bool) {
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open failed with an error that is not ErrCorrupt: %v", err)
		}
		return 0, false
	}
	defer l.Close()
	p := mustPartitionErr(l, "f")
	for _, err := range p.Scan(ctx, p.StartOffset()) {
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Scan failed with an error that is not ErrCorrupt: %v", err)
			}
			return p.EndOffset(), true
		}
		records++
	}
	if err := l.Check(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check failed with an error that is not ErrCorrupt: %v", err)
	}
	return p.EndOffset(), true
}

// FuzzRecoveryScan gives recovery arbitrary bytes as the data file of a
// partition whose checkpoint has no recovery point past its start, so
// every byte is scanned. Open must not
// panic and must either fail with ErrCorrupt or produce a log that reads
// and checks cleanly, and recovering it again changes nothing. Opening,
// reading, checking and closing stay within the openAlloc bounds.
//
// The work per input is bounded by the input: recovery reads the file
// once, and each loop of the scan consumes at least a batch header; after
// damage, the search for a later valid batch (findValidBatch) CRC-checks
// the batch at each plausible header position, at worst quadratic in the
// file's length.
func FuzzRecoveryScan(f *testing.F) {
	base, _ := fuzzLog(f, 0)
	dir := filepath.Join(testDir, "f-0")
	require.NoError(f, writeCheckpoint(base, dir, initialCheckpoint())) // every byte is scanned
	_, files := fuzzLog(f, 12)
	valid := files[logSuffix]
	f.Add(valid)
	f.Add(valid[:len(valid)-7])                     // torn tail
	f.Add(append(append([]byte{}, valid...), 0, 0)) // trailing zeros
	f.Add([]byte{})
	f.Add(make([]byte, 4096))
	mid := append([]byte{}, valid...)
	mid[len(mid)/3] ^= 0x10 // damage in the middle
	f.Add(mid)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		_, files := fuzzLogCodec(f, 4, c)
		f.Add(files[logSuffix])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var mem *vfs.MemFS
		setup := func() {
			mem = cloneMem(base)
			require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, logSuffix)), data))
		}
		var (
			end    int64
			opened bool
		)
		bound := openAllocFixed + openAllocPerByte*uint64(len(data)) + batchesDecodeAlloc(data)
		alloctest.Check(t, bound, setup, func() { end, opened = openFuzzed(t, mem) })
		if !opened {
			return
		}
		again, opened := openFuzzed(t, mem)
		require.True(t, opened, "a log that opened once must open again")
		require.Equal(t, end, again, "recovery is idempotent")
	})
}

// FuzzIndexLoad gives a segment arbitrary index files beside valid data,
// the offset index and the time index fuzzed independently; the segment
// is sealed, or (active) the active one, whose indexes load writable and
// are checked against the checkpoint's entry counts. Indexes are derived:
// whatever they hold, Open succeeds and every record reads back at its
// offset, and Check leaves them consistent; all of it within the openAlloc
// bounds. Loading an index reads the file once and checks each entry
// once.
func FuzzIndexLoad(f *testing.F) {
	ctx := context.Background()
	activeBase, files := fuzzLog(f, 30)
	dir := filepath.Join(testDir, "f-0")
	// A copy rolled so that segment 0 is sealed.
	sealedBase := cloneMem(activeBase)
	l, err := Open(testDir, testOptions(sealedBase))
	require.NoError(f, err)
	p := mustPartitionErr(l, "f")
	end := p.EndOffset()
	require.NoError(f, p.roll())
	require.NoError(f, l.Close())

	for _, active := range []bool{false, true} {
		f.Add(files[indexSuffix], files[timeIndexSuffix], active)
		f.Add([]byte{}, []byte{}, active)
		f.Add(make([]byte, 64), make([]byte, 60), active)
		f.Add(files[indexSuffix][:len(files[indexSuffix])-3], files[timeIndexSuffix][4:], active)
	}
	f.Fuzz(func(t *testing.T, index, timeIndex []byte, active bool) {
		base := sealedBase
		if active {
			base = activeBase
		}
		var mem *vfs.MemFS
		setup := func() {
			mem = cloneMem(base)
			require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, indexSuffix)), index))
			require.NoError(t, mem.WriteFile(filepath.Join(dir, segmentName(0, timeIndexSuffix)), timeIndex))
		}
		var (
			openErr, checkErr error
			readErr           error
			readAt            int64 = -1
		)
		run := func() {
			l, err := Open(testDir, testOptions(mem))
			if openErr = err; err != nil {
				return
			}
			defer l.Close()
			p := mustPartitionErr(l, "f")
			readErr, readAt = nil, -1
			for off := int64(0); off < end; off++ {
				recs, err := p.Read(ctx, off, 1)
				if err != nil || recs[0].Offset != off {
					readErr, readAt = err, off
					break
				}
			}
			checkErr = l.Check(ctx)
		}
		// An active segment's indexes grow up to SegmentIndexBytes each,
		// on the heap of the in-memory file system.
		size := len(files[logSuffix]) + len(index) + len(timeIndex) + 2*int(smallTopic.SegmentIndexBytes)
		alloctest.Check(t, openAllocFixed+openAllocPerByte*uint64(size), setup, run)
		require.NoError(t, openErr, "damaged indexes never prevent opening")
		require.NoError(t, readErr, "reading offset %d", readAt)
		require.Equal(t, int64(-1), readAt, "the record read at offset %d is another", readAt)
		require.NoError(t, checkErr)
	})
}
