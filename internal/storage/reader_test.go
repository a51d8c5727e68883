package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A long read of a mapped segment checks CRCs ahead of the reader on
// another goroutine. A batch it finds damaged stops it there, and the
// reader itself reports that batch as it would have without checking
// ahead.
func TestLongReadChecksAheadAndStopsAtDamage(t *testing.T) {
	const damaged = 30
	cfg := longReadLog(t, 50, 4<<20)
	path := filepath.Join(cfg.Dir, SegmentName(0, LogSuffix))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	require.Greater(t, len(starts), damaged+1, "the damaged batch is in the first segment")
	data[starts[damaged]+record.HeaderSize+500] ^= 0x01 // under its CRC
	require.NoError(t, os.WriteFile(path, data, 0o644))

	p := openPartitionLog(t, cfg, false)

	r, err := p.NewReader(0, p.hw.Load())
	require.NoError(t, err)
	defer r.Close()
	n := 0
	for !r.ahead.running() {
		_, _, err := r.Next()
		require.NoError(t, err)
		n++
		require.Less(t, n, damaged, "checking ahead starts after the first MiB")
	}
	require.GreaterOrEqual(t, r.pos, int64(verifyAheadAfter))
	r.ahead.done.Wait() // stopped: at the damage, well within the window
	require.Equal(t, int64(starts[damaged]), r.ahead.verified.Load())
	for ; n < damaged; n++ {
		b, h, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, int64(n*1000), h.BaseOffset)
		var it record.Iter
		require.NoError(t, it.Reset(b, 1<<20))
		require.True(t, it.Next())
		require.Equal(t, uint64(n*1000), binary.BigEndian.Uint64(it.Record().Value), "first value of batch %d", n)
	}
	_, _, err = r.Next()
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Equal(t, int64(starts[damaged]), cerr.FilePosition)
}

// A reader returns exactly the batches appended, in order, and io.EOF at
// the high watermark it was given, across segments.
func TestReaderReadsBackWhatWasAppended(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	rng := rand.New(rand.NewPCG(3, 4))
	var appended [][]byte
	for range 30 {
		b := buildBatch(t, rng, 1+rng.IntN(4), 200)
		mustAppend(t, p, b) // stamps the base offset into b
		appended = append(appended, b)
	}
	require.Greater(t, len(p.Segments()), 1)

	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, p.HighWatermark(), r.HighWatermark())
	for i, want := range appended {
		b, h, err := r.Next()
		require.NoError(t, err, "batch %d", i)
		require.Equal(t, want, b, "batch %d", i)
		require.Equal(t, h, r.Header())
	}
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF, "EOF again")
}

// A reader bounded by a high watermark taken earlier stops there, even
// though more was appended since.
func TestReaderStopsAtItsHighWatermark(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	for range 3 {
		mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2")))
	}
	hw := p.HighWatermarkPosition()
	require.Equal(t, int64(6), hw.Offset())
	for range 20 { // into later segments too
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	require.Greater(t, len(p.Segments()), 1)

	r, err := p.NewReader(0, hw)
	require.NoError(t, err)
	defer r.Close()
	var last int64 = -1
	for {
		_, h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		last = h.LastOffset()
	}
	require.Equal(t, int64(5), last)
}

// A reader from an offset inside a batch starts at that batch, and one
// from an offset in a later segment starts in that segment.
func TestReaderStartsAtTheBatchHoldingFrom(t *testing.T) {
	cfg := smallConfig(vfs.NewMem())
	cfg.IndexIntervalBytes = 1 // index every batch, so the seek uses it
	p := openPartitionLog(t, cfg, true)
	for range 40 {
		mustAppend(t, p, plainBatch(t, 1, rec("a", "1"), rec("b", "2"), kv{key: []byte("c"), value: make([]byte, 200)}))
	}
	segs := p.Segments()
	require.Greater(t, len(segs), 2)
	for _, from := range []int64{0, 1, 2, 3, 43, segs[1].Base, segs[1].Base + 1, p.HighWatermark() - 1} {
		r, err := p.NewReader(from, p.HighWatermarkPosition())
		require.NoError(t, err)
		_, h, err := r.Next()
		require.NoError(t, err)
		require.LessOrEqual(t, h.BaseOffset, from, "from %d", from)
		require.GreaterOrEqual(t, h.LastOffset(), from, "from %d", from)
		r.Close()
	}
	require.Equal(t, span(43, p.HighWatermark()), readOffsets(t, p, 43))

	r, err := p.NewReader(p.HighWatermark(), p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	_, _, err = r.Next()
	require.ErrorIs(t, err, io.EOF, "nothing at the high watermark")
}

// Reader.Corrupt describes a batch whose records failed to decode as a
// *CorruptionError naming its file, position and offset.
func TestReaderCorruptNamesTheFile(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	mustAppend(t, p, plainBatch(t, 1, rec("b", "2"), rec("c", "3")))
	r, err := p.NewReader(1, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	b, h, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, int64(1), h.BaseOffset)
	decode := errors.New("bad varint")
	err = r.Corrupt(len(b), h, decode)
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, err, decode)
	require.Equal(t, filepath.Join(testPartitionDir, SegmentName(0, LogSuffix)), cerr.Path)
	require.Equal(t, p.Segments()[0].Size-int64(len(b)), cerr.FilePosition)
	require.Equal(t, int64(1), cerr.Offset)
	require.Contains(t, err.Error(), cerr.Path)
}

// A batch damaged under its CRC is reported by Next as a
// *CorruptionError at its position; the batches before it read.
func TestReaderReportsDamage(t *testing.T) {
	fs := vfs.NewMem()
	p := openPartitionLog(t, smallConfig(fs), true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	second := mustAppend(t, p, plainBatch(t, 1, rec("b", "22222222")))
	require.Equal(t, int64(1), second.BaseOffset)
	path := p.Segments()[0].Path
	data, err := fs.ReadFile(path)
	require.NoError(t, err)
	starts := batchLayout(t, data)
	require.Len(t, starts, 2)
	flipByte(t, fs, path, int64(starts[1]+record.HeaderSize+2))

	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	_, _, err = r.Next()
	require.NoError(t, err)
	_, _, err = r.Next()
	var cerr *CorruptionError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, path, cerr.Path)
	require.Equal(t, int64(starts[1]), cerr.FilePosition)
	require.Equal(t, int64(1), cerr.Offset)
}

// A reader keeps reading a segment retention deleted after it entered;
// the files go once it lets go.
func TestReaderHoldsItsSegmentAcrossRetention(t *testing.T) {
	fs := vfs.NewMem()
	cfg := smallConfig(fs)
	cfg.RetentionBytes = 1 // everything retention may delete goes
	p := openPartitionLog(t, cfg, true)
	for range 30 {
		mustAppend(t, p, plainBatch(t, 1, kv{key: []byte("k"), value: make([]byte, 300)}))
	}
	first := p.Segments()[0]
	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	_, _, err = r.Next()
	require.NoError(t, err)

	require.NoError(t, p.EnforceRetention(context.Background(), cfg.Now()))
	require.Positive(t, p.StartOffset())
	_, err = fs.Stat(first.Path)
	require.ErrorIs(t, err, os.ErrNotExist, "the file is gone from the directory")
	require.False(t, first.Closed(), "the reader holds it open")
	n := 1
	for {
		_, h, err := r.Next()
		if err != nil {
			var oerr *OffsetOutOfRangeError
			require.ErrorAs(t, err, &oerr, "the next segment went too")
			break
		}
		require.Less(t, h.BaseOffset, first.Next, "only the segment it is in")
		n++
	}
	require.Equal(t, int(first.Next-first.Base), n)
	r.Close()
	require.True(t, first.Closed())
}

// Readers running while appenders append see, at every high watermark
// they take, contiguous offsets from the start up to it.
func TestReadersDuringAppends(t *testing.T) {
	ctx := context.Background()
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	const appenders, each = 2, 60
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			for range each {
				_, err := p.AppendBatch(ctx, plainBatch(t, 1, rec("k", "v"), kv{key: []byte("k"), value: make([]byte, 200)}), AppendOptions{Expected: -1})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		var finished bool
		select {
		case <-done:
			finished = true
		default:
		}
		hw := p.HighWatermarkPosition()
		r, err := p.NewReader(0, hw)
		require.NoError(t, err)
		next := int64(0)
		for {
			_, h, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.Equal(t, next, h.BaseOffset)
			next = h.NextOffset()
		}
		r.Close()
		require.Equal(t, hw.Offset(), next)
		if finished {
			require.Equal(t, int64(2*appenders*each), next)
			break
		}
	}
	require.Greater(t, len(p.Segments()), 3)
}

// Remaining counts the bytes the reader may still read in its segment.
func TestReaderRemaining(t *testing.T) {
	p := openPartitionLog(t, smallConfig(vfs.NewMem()), true)
	mustAppend(t, p, plainBatch(t, 1, rec("a", "1")))
	mustAppend(t, p, plainBatch(t, 1, rec("b", "2")))
	size := p.ActiveSegment().Size
	r, err := p.NewReader(0, p.HighWatermarkPosition())
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, size, r.Remaining())
	b, _, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, size-int64(len(b)), r.Remaining())
	_, _, err = r.Next()
	require.NoError(t, err)
	require.Zero(t, r.Remaining())
}
