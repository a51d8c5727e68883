package commitlog

import (
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// producerIDsDecodeAlloc is what unmarshalProducerIDs may allocate (see
// its doc comment).
const producerIDsDecodeAlloc = 64

// FuzzProducerIDs feeds arbitrary bytes to unmarshalProducerIDs, as they
// are and with a valid CRC-32C written over and appended to them. Nothing
// may panic or allocate more than producerIDsDecodeAlloc; what decodes is
// a 16-byte file with the magic, its CRC and a non-negative id, and
// re-encodes (marshalProducerIDs) to the same bytes: the format has one
// encoding per id.
func FuzzProducerIDs(f *testing.F) {
	mem := vfs.NewMem()
	l, err := Open(testDir, testOptions(mem))
	require.NoError(f, err)
	prod, err := l.NewProducer(ProducerConfig{}) // idempotent: allocates a block of ids
	require.NoError(f, err)
	require.NoError(f, prod.Close())
	require.NoError(f, l.Close())
	real, err := mem.ReadFile(filepath.Join(testDir, producerIDFileName))
	require.NoError(f, err)
	f.Add(real)
	f.Add(marshalProducerIDs(0))
	f.Add(marshalProducerIDs(1<<63 - 1))
	f.Add(marshalProducerIDs(-1)) // negative: refused
	f.Add(real[:12])
	f.Add([]byte{})
	f.Add([]byte(producerIDMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, fixCRC(data), appendCRC(data)} {
			var (
				next int64
				err  error
			)
			alloctest.Check(t, producerIDsDecodeAlloc, nil, func() { next, err = unmarshalProducerIDs(in) })
			if err != nil {
				continue
			}
			require.Len(t, in, producerIDFileSize)
			require.Equal(t, producerIDMagic, string(in[:4]))
			require.Equal(t, crc32.Checksum(in[:12], castagnoli), binary.BigEndian.Uint32(in[12:]), "accepted a bad CRC")
			require.GreaterOrEqual(t, next, int64(0))
			require.Equal(t, in, marshalProducerIDs(next), "a decoded file re-encodes to its own bytes")
		}
	})
}
