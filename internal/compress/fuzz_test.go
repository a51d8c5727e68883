package compress

import (
	"bytes"
	"errors"
	"testing"

	"github.com/commitlog-go/commitlog/internal/alloctest"
	"github.com/klauspost/compress/snappy"
)

// FuzzDecompress feeds arbitrary bytes to every codec's decoder with a 1 MiB
// limit. Decompress must never panic, never return more than the limit,
// never allocate more than DecompressAllocBound, keep the dst prefix intact,
// and fail only with this package's sentinels. Work is bounded by the
// limit: readCapped stops at it and gives up after 100 reads that produce
// nothing, and the framing walks (zstd frames and blocks, xerial chunks)
// consume at least a header per step.
func FuzzDecompress(f *testing.F) {
	const limit = 1 << 20
	samples := [][]byte{
		nil,
		[]byte("x"),
		[]byte("hello, hello, hello, hello, world"),
		compressible(4096),
	}
	for _, s := range samples {
		for _, c := range allCodecs {
			comp, err := Compress(nil, c, 0, s)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(c), comp)
			if len(comp) > 1 {
				f.Add(byte(c), comp[:len(comp)/2])
				f.Add(byte(c), comp[:len(comp)-1])
			}
		}
		f.Add(byte(Snappy), snappy.Encode(nil, s))
	}
	// Zip bombs: zeros just above the limit. (Not snappy, whose bomb would be
	// a 50 KB seed that slows down the fuzzer's minimization;
	// TestDecompressCap covers it.)
	bomb := make([]byte, limit+4096)
	for _, c := range []Codec{Gzip, LZ4, Zstd} {
		comp, err := Compress(nil, c, 0, bomb)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(c), comp)
	}
	f.Add(byte(7), []byte("unknown codec"))

	f.Fuzz(func(t *testing.T, codec byte, data []byte) {
		c := Codec(codec % 8)
		prefix := []byte("pfx")
		var (
			dst, out []byte
			err      error
		)
		alloctest.Check(t, uint64(DecompressAllocBound(prefix, c, data, limit)),
			func() { dst = append(make([]byte, 0, len(prefix)), prefix...) },
			func() { out, err = Decompress(dst, c, data, limit) })
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("dst prefix clobbered: %q", out[:min(len(out), 3)])
		}
		if err != nil {
			if len(out) != len(prefix) {
				t.Fatalf("error %v returned %d extra bytes", err, len(out)-len(prefix))
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if n := len(out) - len(prefix); n > limit {
			t.Fatalf("%s produced %d bytes, limit %d", c, n, limit)
		}
		if !c.Valid() {
			t.Fatalf("%s accepted", c)
		}
	})
}
