package storage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
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
