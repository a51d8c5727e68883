package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// TestCodecMatrix appends every record shape with every codec pinned by
// the topic, reads it back (owned and zero-copy), reopens, and reads again.
func TestCodecMatrix(t *testing.T) {
	ctx := context.Background()
	compressible := bytes.Repeat([]byte(`{"user":"alice","action":"click","n":12345}`), 4000)
	incompressible := benchRecords(1, 300_000)[0].Value
	shapes := []Record{
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("k"), Value: []byte("v")},
		{Key: []byte("h"), Value: []byte("headers"), Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "a"}, {Key: "b", Value: []byte{}}}},
		{Key: []byte("big-compressible"), Value: compressible},
		{Key: []byte("big-random"), Value: incompressible},
	}
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		for _, level := range []int{0, 1} {
			if (codec == CodecSnappy || codec == CodecNone) && level != 0 {
				continue
			}
			t.Run(fmt.Sprintf("%v/level=%d", codec, level), func(t *testing.T) {
				mem := vfs.NewMem()
				l, err := Open(testDir, testOptions(mem))
				require.NoError(t, err)
				tp, err := l.CreateTopic(ctx, "c", TopicConfig{Compression: codec, CompressionLevel: level})
				require.NoError(t, err)
				p, _ := tp.Partition(0)
				_, err = p.Append(ctx, shapes) // all shapes in one batch
				require.NoError(t, err)
				for _, s := range shapes {
					_, err := p.Append(ctx, []Record{s}) // and each alone
					require.NoError(t, err)
				}
				check := func(p *Partition) {
					want := append(append([]Record{}, shapes...), shapes...)
					recs, err := p.Read(ctx, 0, 64<<20)
					require.NoError(t, err)
					require.Len(t, recs, len(want))
					i := 0
					for r, err := range p.Scan(ctx, 0) {
						require.NoError(t, err)
						w := want[i]
						w.Topic, w.Offset, w.Timestamp = "c", int64(i), r.Timestamp
						require.True(t, w.Equal(&r), "scan %v record %d", codec, i)
						require.True(t, w.Equal(&recs[i]), "read %v record %d", codec, i)
						i++
					}
					require.Equal(t, len(want), i)
				}
				check(p)
				require.NoError(t, l.Close())
				l = openTest(t, mem, nil)
				check(mustPartitionErr(l, "c"))
			})
		}
	}
}
