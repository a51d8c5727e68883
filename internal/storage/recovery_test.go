package storage

import (
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// A torn write that loses just the last byte of a batch, cut at a sector
// boundary, leaves a single zero byte; when a later batch survived (the
// writes reached the disk out of order) recovery must still see the cut,
// not corruption. The batch's records end in a null header value (byte
// 0x01), so the zero is not natural there.
func TestTornLastByteAtASectorBoundary(t *testing.T) {
	var b record.Builder
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	for i := range 3 {
		b.Append(int64(1000+i), []byte("k"), []byte("value"), []record.RecordHeader{{Key: []byte("h"), Value: nil}})
	}
	built, err := b.Build()
	require.NoError(t, err)
	batchA := append([]byte(nil), built...)
	require.Equal(t, byte(1), batchA[len(batchA)-1], "the last byte is the null header value")
	b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
	b.Append(2000, []byte("k"), []byte("later"), nil)
	built, err = b.Build()
	require.NoError(t, err)
	record.SetBaseOffset(built, 3)
	batchB := append([]byte(nil), built...)

	// batchA's last byte sits at 2*sectorSize.
	q := 2*sectorSize + 1 - len(batchA)
	segmentWith := func(a []byte) *segment {
		mem := vfs.NewMem()
		f, err := mem.Create("/seg.log")
		require.NoError(t, err)
		data := append(append(make([]byte, q), a...), batchB...)
		_, err = f.WriteAt(data, 0)
		require.NoError(t, err)
		s := &segment{path: "/seg.log", file: f}
		s.size.Store(int64(len(data)))
		return s
	}
	next := int64(q + len(batchA)) // batchB
	var scratch []byte

	torn := append([]byte(nil), batchA...)
	torn[len(torn)-1] = 0
	ok, err := segmentWith(torn).looksTorn(int64(q), next, &scratch)
	require.NoError(t, err)
	require.True(t, ok, "a lost last byte at a sector boundary is a torn write")

	flipped := append([]byte(nil), torn...)
	flipped[record.HeaderSize+3] ^= 0x10
	ok, err = segmentWith(flipped).looksTorn(int64(q), next, &scratch)
	require.NoError(t, err)
	require.False(t, ok, "damage besides the lost byte is corruption")

	require.False(t, lastByteRestores(batchA), "an intact last byte is not zero")
}
