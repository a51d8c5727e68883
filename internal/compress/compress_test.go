package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

var allCodecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

// testLevels are the levels exercised per codec: the default, the extremes
// and a middle one.
var testLevels = map[Codec][]int{
	None:   {0},
	Gzip:   {0, 1, 6, 9},
	Snappy: {0},
	LZ4:    {0, 1, 9},
	Zstd:   {0, 1, 3, 7, 22},
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// jsonLike returns n bytes of JSON-ish record data: repetitive structure with
// varying values, compressing like typical Kafka payloads.
func jsonLike(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"%s","ts":%d,"amount":%d.%02d,"tags":["a%d","b%d"],"ok":%t}`+"\n",
			i, names[rng.Intn(len(names))], 1700000000000+int64(rng.Intn(1e6)),
			rng.Intn(10000), rng.Intn(100), rng.Intn(50), rng.Intn(7), rng.Intn(2) == 0)
	}
	return b.Bytes()[:n]
}

// compressible returns n highly compressible bytes.
func compressible(n int) []byte {
	b := make([]byte, n)
	pattern := []byte("the quick brown fox jumps over the lazy dog 0123456789 ")
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b
}

func mustCompress(t testing.TB, c Codec, level int, src []byte) []byte {
	t.Helper()
	out, err := Compress(nil, c, level, src)
	require.NoError(t, err)
	return out
}

func TestCodecNames(t *testing.T) {
	for _, c := range allCodecs {
		require.True(t, c.Valid())
		got, err := ParseCodec(c.String())
		require.NoError(t, err)
		require.Equal(t, c, got)
	}
	require.Equal(t, []string{"none", "gzip", "snappy", "lz4", "zstd"},
		[]string{None.String(), Gzip.String(), Snappy.String(), LZ4.String(), Zstd.String()})
	for c := Codec(5); c < 255; c++ {
		require.False(t, c.Valid())
	}
	require.Equal(t, "codec(7)", Codec(7).String())
	got, err := ParseCodec("ZsTd")
	require.NoError(t, err)
	require.Equal(t, Zstd, got)
	_, err = ParseCodec("brotli")
	require.ErrorIs(t, err, ErrUnknownCodec)
	_, err = ParseCodec("")
	require.ErrorIs(t, err, ErrUnknownCodec)
}

func TestValidLevel(t *testing.T) {
	cases := []struct {
		c          Codec
		valid      []int
		invalid    []int
		compressOK bool
	}{
		{None, []int{0}, []int{-1, 1}, true},
		{Gzip, []int{0, 1, 5, 9}, []int{-1, -2, -3, 10}, true},
		{Snappy, []int{0}, []int{-1, 1}, true},
		{LZ4, []int{0, 1, 9}, []int{-1, 10, 17}, true},
		{Zstd, []int{0, 1, 3, 22}, []int{-1, -5, 23}, true},
	}
	for _, tc := range cases {
		for _, l := range tc.valid {
			require.True(t, ValidLevel(tc.c, l), "%s level %d", tc.c, l)
		}
		for _, l := range tc.invalid {
			require.False(t, ValidLevel(tc.c, l), "%s level %d", tc.c, l)
			out, err := Compress([]byte("x"), tc.c, l, []byte("data"))
			require.Error(t, err)
			require.Equal(t, []byte("x"), out, "dst returned unchanged on error")
		}
	}
	require.False(t, ValidLevel(Codec(5), 0))
	_, err := Compress(nil, Codec(6), 0, []byte("data"))
	require.ErrorIs(t, err, ErrUnknownCodec)
	_, err = Decompress(nil, Codec(7), []byte("data"), 100)
	require.ErrorIs(t, err, ErrUnknownCodec)
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	inputs := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"1B", []byte{0x42}},
		{"100B", randomBytes(rng, 100)},
		{"json64K", jsonLike(rng, 64<<10)},
		{"random1M", randomBytes(rng, 1<<20)},
		{"compressible1M", compressible(1 << 20)},
	}
	for _, c := range allCodecs {
		for _, level := range testLevels[c] {
			for _, in := range inputs {
				if testing.Short() && level != 0 && len(in.data) > 1<<16 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d/%s", c, level, in.name), func(t *testing.T) {
					prefix := []byte("prefix")
					comp, err := Compress(append([]byte(nil), prefix...), c, level, in.data)
					require.NoError(t, err)
					require.Equal(t, prefix, comp[:len(prefix)], "Compress appends to dst")
					comp = comp[len(prefix):]

					out, err := Decompress(append([]byte(nil), prefix...), c, comp, len(in.data))
					require.NoError(t, err)
					require.Equal(t, prefix, out[:len(prefix)], "Decompress appends to dst")
					require.True(t, bytes.Equal(in.data, out[len(prefix):]), "round trip mismatch")

					// A limit one below the size fails; the exact size passes (above).
					if len(in.data) > 0 {
						_, err = Decompress(nil, c, comp, len(in.data)-1)
						require.ErrorIs(t, err, ErrTooLarge)
					}
					// Reusing a buffer with enough capacity does not reallocate.
					buf := make([]byte, 0, len(in.data)+64)
					out, err = Decompress(buf, c, comp, len(in.data))
					require.NoError(t, err)
					require.True(t, bytes.Equal(in.data, out))
					if len(out) > 0 {
						require.Same(t, &buf[:1][0], &out[0], "decompressed into the spare capacity of dst")
					}
				})
			}
		}
	}
}

// TestDecompressCap decompresses a 10 MiB highly compressible input with a
// 1 MiB limit: every codec must fail with ErrTooLarge, without allocating
// anything like 10 MiB.
func TestDecompressCap(t *testing.T) {
	const (
		size  = 10 << 20
		limit = 1 << 20
	)
	src := compressible(size)

	// A zstd frame without a content size (streaming encoder), so the cap is
	// enforced while decoding rather than from the frame header.
	var zstream bytes.Buffer
	zw, err := zstd.NewWriter(&zstream, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	_, err = zw.Write(src)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	hdr := zstd.Header{}
	require.NoError(t, hdr.Decode(zstream.Bytes()))
	require.False(t, hdr.HasFCS, "streamed frame must not declare its size")

	cases := map[string]struct {
		c    Codec
		data []byte
	}{
		"none":           {None, src},
		"gzip":           {Gzip, mustCompress(t, Gzip, 0, src)},
		"snappy":         {Snappy, mustCompress(t, Snappy, 0, src)},
		"lz4":            {LZ4, mustCompress(t, LZ4, 0, src)},
		"zstd":           {Zstd, mustCompress(t, Zstd, 0, src)},
		"zstd-streamed":  {Zstd, zstream.Bytes()},
		"snappy-raw":     {Snappy, snappy.Encode(nil, src)},
		"zstd-2-frames":  {Zstd, append(mustCompress(t, Zstd, 0, src[:size/2]), mustCompress(t, Zstd, 0, src[size/2:])...)},
		"snappy-chunked": {Snappy, append(mustCompress(t, Snappy, 0, src[:size/2]), mustCompress(t, Snappy, 0, src[size/2:])[xerialHeaderLen:]...)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			// Warm the pools so that decoder construction is not counted.
			_, err := Decompress(nil, tc.c, mustCompress(t, tc.c, 0, []byte("warm up")), limit)
			require.NoError(t, err)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := Decompress(nil, tc.c, tc.data, limit)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrTooLarge)
			require.Empty(t, out)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d bytes", allocated)
			require.Less(t, allocated, uint64(8<<20), "allocated %d bytes for a %d-byte limit", allocated, limit)

			// The same input with a sufficient limit decodes fully.
			out, err = Decompress(nil, tc.c, tc.data, size)
			require.NoError(t, err)
			require.True(t, bytes.Equal(src, out))
		})
	}
}

// TestDeclaredSizeNotTrusted feeds inputs whose headers declare huge sizes:
// the limit is checked before anything is allocated.
func TestDeclaredSizeNotTrusted(t *testing.T) {
	// Raw snappy block declaring 4 GiB - 1 of output in 5 bytes.
	snappyHuge := binary.AppendUvarint(nil, 1<<32-1)
	// zstd single-segment frame declaring 2^40 bytes, with one empty raw
	// last block.
	zstdHuge := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
	zstdHuge = binary.LittleEndian.AppendUint64(zstdHuge, 1<<40)
	zstdHuge = append(zstdHuge, 0x01, 0x00, 0x00)
	// xerial frame with a chunk declaring 2 GiB of compressed data.
	xerialHuge := append(append([]byte(nil), xerialHeader[:]...), 0x7f, 0xff, 0xff, 0xff, 0x00)

	cases := []struct {
		name string
		c    Codec
		data []byte
		want error
	}{
		{"snappy-raw-len", Snappy, snappyHuge, ErrCorrupt}, // implausible ratio
		{"zstd-fcs", Zstd, zstdHuge, ErrTooLarge},
		{"xerial-chunk-len", Snappy, xerialHuge, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decompress(nil, tc.c, tc.data, 1<<20)
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, tc.want)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
		})
	}
	// Even with an unlimited cap, an implausible snappy length is corrupt
	// rather than a 4 GiB allocation.
	_, err := Decompress(nil, Snappy, snappyHuge, int(^uint(0)>>1))
	require.ErrorIs(t, err, ErrCorrupt)
	// A plausible declared length above the cap is ErrTooLarge before any
	// decoding: 1 MiB + 1 declared in a block long enough to hold it.
	plausible := binary.AppendUvarint(nil, 1<<20+1)
	plausible = append(plausible, make([]byte, 1<<16)...)
	_, err = Decompress(nil, Snappy, plausible, 1<<20)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestCorrupt(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	data := jsonLike(rng, 64<<10)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			// Random garbage.
			for i := 0; i < 200; i++ {
				garbage := randomBytes(rng, 16+rng.Intn(512))
				_, err := Decompress(nil, c, garbage, 1<<20)
				require.ErrorIs(t, err, ErrCorrupt, "garbage %x", garbage)
			}
			// The empty input is not a valid stream for any codec but none.
			_, err := Decompress(nil, c, nil, 1<<20)
			require.ErrorIs(t, err, ErrCorrupt)

			// Every truncation of a small stream, and a sample of a large one.
			for _, in := range [][]byte{data[:1000], data} {
				comp := mustCompress(t, c, 0, in)
				step := 1
				if len(comp) > 4096 {
					step = len(comp)/512 + 1
				}
				for n := 0; n < len(comp); n += step {
					out, err := Decompress(nil, c, comp[:n], 1<<20)
					if err == nil && c == Snappy && isXerialChunkBoundary(comp, n) {
						// xerial framing has no end marker: a stream cut
						// at a chunk boundary is a valid, shorter stream.
						require.True(t, bytes.HasPrefix(in, out))
						continue
					}
					require.ErrorIs(t, err, ErrCorrupt, "truncated to %d of %d bytes", n, len(comp))
					require.Empty(t, out)
				}
				// Trailing garbage after a complete stream is corrupt.
				_, err := Decompress(nil, c, append(append([]byte(nil), comp...), 0xde, 0xad), 1<<20)
				require.ErrorIs(t, err, ErrCorrupt)
			}

			// Single-byte corruption never panics and never exceeds the cap.
			comp := mustCompress(t, c, 0, data[:5000])
			for i := 0; i < len(comp); i++ {
				mut := append([]byte(nil), comp...)
				mut[i] ^= byte(1 + rng.Intn(255))
				out, err := Decompress(nil, c, mut, len(data))
				if err != nil {
					require.True(t, errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge), "%v", err)
				} else {
					require.LessOrEqual(t, len(out), len(data))
				}
			}
		})
	}
}

// isXerialChunkBoundary reports whether n is the end of the xerial header or
// of one of the chunks of the well-formed stream b.
func isXerialChunkBoundary(b []byte, n int) bool {
	p := xerialHeaderLen
	for {
		if p == n {
			return true
		}
		if p > n || p+4 > len(b) {
			return false
		}
		p += 4 + int(binary.BigEndian.Uint32(b[p:]))
	}
}

// TestSnappyXerialFraming checks the exact bytes Kafka's snappy-java framing
// produces and that both framed and raw blocks are read.
func TestSnappyXerialFraming(t *testing.T) {
	golden := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1}
	require.Equal(t, golden, mustCompress(t, Snappy, 0, nil), "empty input is the bare header")

	// "abc": header, chunk length 5, snappy block = varint(3), literal tag
	// (len-1)<<2, "abc".
	want := append(append([]byte(nil), golden...), 0, 0, 0, 5, 0x03, 0x08, 'a', 'b', 'c')
	require.Equal(t, want, mustCompress(t, Snappy, 0, []byte("abc")))

	// 100 KiB of input is 4 chunks holding 32+32+32+4 KiB.
	rng := rand.New(rand.NewSource(3))
	in := jsonLike(rng, 100<<10)
	comp := mustCompress(t, Snappy, 0, in)
	var sizes []int
	for p := xerialHeaderLen; p < len(comp); {
		n := int(binary.BigEndian.Uint32(comp[p:]))
		dl, err := snappy.DecodedLen(comp[p+4 : p+4+n])
		require.NoError(t, err)
		sizes = append(sizes, dl)
		p += 4 + n
	}
	require.Equal(t, []int{32 << 10, 32 << 10, 32 << 10, 4 << 10}, sizes)

	// An independent xerial reader agrees.
	dec, err := xerial.Decode(comp)
	require.NoError(t, err)
	require.Equal(t, in, dec)
	// And we read what it writes.
	out, err := Decompress(nil, Snappy, xerial.Encode(nil, in), len(in))
	require.NoError(t, err)
	require.Equal(t, in, out)

	// A raw (unframed) snappy block, as some non-Java clients write.
	out, err = Decompress(nil, Snappy, snappy.Encode(nil, in), len(in))
	require.NoError(t, err)
	require.Equal(t, in, out)
	out, err = Decompress(nil, Snappy, snappy.Encode(nil, nil), 0)
	require.NoError(t, err)
	require.Empty(t, out)

	// Header only with a truncated version field.
	_, err = Decompress(nil, Snappy, golden[:12], 100)
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestLZ4FrameFormat checks that the frame is what Kafka's
// Lz4BlockOutputStream writes: magic, FLG 0x60 (version 1, independent
// blocks, no checksums, no content size), BD 0x40 (64 KiB blocks), header
// checksum 0x82, and an end mark.
func TestLZ4FrameFormat(t *testing.T) {
	for _, level := range testLevels[LZ4] {
		comp := mustCompress(t, LZ4, level, compressible(200<<10))
		require.Equal(t, []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}, comp[:7])
		require.Equal(t, []byte{0, 0, 0, 0}, comp[len(comp)-4:])
		// Blocks hold at most 64 KiB: 200 KiB is 4 blocks.
		blocks := 0
		for p := 7; ; blocks++ {
			n := binary.LittleEndian.Uint32(comp[p:])
			if n == 0 {
				break
			}
			p += 4 + int(n&0x7fffffff)
		}
		require.Equal(t, 4, blocks)
	}
	// Any valid frame is read, including one with checksums.
	comp := mustCompress(t, LZ4, 0, []byte("hello"))
	require.Equal(t, []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}, comp[:7])
}

func TestFrameMagics(t *testing.T) {
	require.Equal(t, []byte{0x1f, 0x8b, 0x08}, mustCompress(t, Gzip, 0, []byte("x"))[:3])
	require.Equal(t, []byte{0x28, 0xb5, 0x2f, 0xfd}, mustCompress(t, Zstd, 0, []byte("x"))[:4])
	// WithZeroFrames: even empty input is a complete zstd frame.
	require.Equal(t, []byte{0x28, 0xb5, 0x2f, 0xfd}, mustCompress(t, Zstd, 0, nil)[:4])
	// Decompressing None is a copy bounded by the limit.
	out, err := Decompress([]byte("a"), None, []byte("bc"), 2)
	require.NoError(t, err)
	require.Equal(t, []byte("abc"), out)
	_, err = Decompress(nil, None, []byte("bc"), 1)
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = Decompress(nil, None, []byte("bc"), -1)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestZstdSkippableAndMultiFrame(t *testing.T) {
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'x', 'y', 'z'}
	a := mustCompress(t, Zstd, 0, []byte("hello "))
	b := mustCompress(t, Zstd, 0, []byte("world"))
	in := append(append(append([]byte(nil), a...), skippable...), b...)
	out, err := Decompress(nil, Zstd, in, 100)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(out))
	_, err = Decompress(nil, Zstd, in, 10)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestConcurrent(t *testing.T) {
	const goroutines = 16
	iterations := 25
	if testing.Short() {
		iterations = 10
	}
	base := jsonLike(rand.New(rand.NewSource(4)), 64<<10)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			var comp, out []byte
			for i := 0; i < iterations; i++ {
				c := allCodecs[rng.Intn(len(allCodecs))]
				levels := testLevels[c]
				level := levels[rng.Intn(len(levels))]
				if level > 9 {
					level = 3 // keep zstd's slowest levels out of the hot loop
				}
				off := rng.Intn(len(base))
				in := base[off : off+rng.Intn(len(base)-off)]
				var err error
				if comp, err = Compress(comp[:0], c, level, in); err != nil {
					errs <- err
					return
				}
				if out, err = Decompress(out[:0], c, comp, len(in)); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(in, out) {
					errs <- fmt.Errorf("%s level %d: round trip mismatch", c, level)
					return
				}
			}
		}(int64(g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
