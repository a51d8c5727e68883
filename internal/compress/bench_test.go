package compress

import (
	"math/rand"
	"testing"
)

// benchmarkInput is 64 KiB of JSON-like record data, the size of a typical
// producer batch.
func benchmarkInput() []byte { return jsonLike(rand.New(rand.NewSource(42)), 64<<10) }

func BenchmarkCompress(b *testing.B) {
	in := benchmarkInput()
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var out []byte
			var err error
			for i := 0; i < b.N; i++ {
				if out, err = Compress(out[:0], c, 0, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
		})
	}
}

func BenchmarkDecompress(b *testing.B) {
	in := benchmarkInput()
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			comp, err := Compress(nil, c, 0, in)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			var out []byte
			for i := 0; i < b.N; i++ {
				if out, err = Decompress(out[:0], c, comp, len(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
