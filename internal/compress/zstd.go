package compress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdEncoders holds one pool per zstd.EncoderLevel (SpeedFastest ..
// SpeedBestCompression); zstd levels 1..22 collapse onto those four.
var zstdEncoders [zstd.SpeedBestCompression + 1]sync.Pool

func zstdEncoderLevel(level int) zstd.EncoderLevel {
	if level == 0 {
		return zstd.SpeedDefault // about zstd level 3, Kafka's default
	}
	return zstd.EncoderLevelFromZstd(level)
}

func compressZstd(dst []byte, level int, src []byte) ([]byte, error) {
	lvl := zstdEncoderLevel(level)
	enc, _ := zstdEncoders[lvl].Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		enc, err = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderLevel(lvl),
		)
		if err != nil { // unreachable: the options are constants the library accepts
			return dst, fmt.Errorf("compress: zstd encoder: %w", err)
		}
	}
	dst = enc.EncodeAll(src, dst)
	zstdEncoders[lvl].Put(enc)
	return dst, nil
}

const (
	// zstdMaxMemory is the decoder's own hard output limit; the caller's
	// (smaller) limit is enforced through the capacity of the output buffer
	// (WithDecodeAllCapLimit). Batches are int32-sized, so 2 GiB is out of
	// reach of any valid batch.
	zstdMaxMemory uint64 = 2 << 30
	// zstdMaxWindow rejects frames declaring a window above what the zstd
	// CLI accepts by default without --long (2^27 = 128 MiB). DecodeAll
	// decodes into the output buffer, so the window allocates nothing.
	zstdMaxWindow = 1 << 27
	// zstdSlack is spare capacity the fast block decoders want past the
	// output (the library's compressedBlockOverAlloc).
	zstdSlack = 16
	// zstdMaxBlock is zstd's Block_Maximum_Size.
	zstdMaxBlock = 128 << 10
)

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1), // DecodeAll only: no goroutines
		zstd.WithDecoderLowmem(true),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(zstdMaxMemory),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
	)
	if err != nil { // unreachable: the options are constants the library accepts
		return err
	}
	return d
}}

func decompressZstd(dst, src []byte, max int) ([]byte, error) {
	bound, exact, err := zstdBound(src)
	if err != nil {
		return dst, err
	}
	if exact && bound > uint64(max) {
		return dst, tooLarge(Zstd, max)
	}
	// need bounds the output: the declared or estimated size, the caller's
	// limit, and the decoder's own hard limit, whichever is smallest.
	need := min(uint64(max), zstdMaxMemory)
	if bound < need {
		need = bound
	}
	return decodeZstdInto(dst, src, max, int(need), bound)
}

// decodeZstdInto decodes src into at most need+zstdSlack bytes of new space
// in dst. bound is zstdBound's estimate, used to classify a decoder size
// error as ErrTooLarge (the limit cut an output that may be valid) or
// ErrCorrupt (a frame produced more than its headers allow).
func decodeZstdInto(dst, src []byte, max, need int, bound uint64) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, need+zstdSlack)
	// The decoder writes at most cap-len bytes: restrict the capacity it
	// sees, so that a lying frame can never run past need+zstdSlack.
	window := dst[: start : start+need+zstdSlack]
	v := zstdDecoders.Get()
	d, ok := v.(*zstd.Decoder)
	if !ok {
		return dst[:start], fmt.Errorf("compress: zstd decoder: %v", v)
	}
	out, err := d.DecodeAll(src, window)
	zstdDecoders.Put(d)
	if err != nil {
		// When need cut the estimate, the decoder fails as it runs out of
		// room, with one of several errors (ErrDecoderSizeExceeded, or "output
		// bigger than max block size" from the sequence decoders). It had then
		// decoded to within one block of need: call that ErrTooLarge and
		// anything that failed earlier ErrCorrupt.
		produced := len(out) - start
		if bound > uint64(need) && (errors.Is(err, zstd.ErrDecoderSizeExceeded) || produced+zstdMaxBlock+zstdSlack >= need) {
			return dst[:start], tooLarge(Zstd, max)
		}
		return dst[:start], corrupt(Zstd, err)
	}
	if len(out)-start > max {
		return dst[:start], tooLarge(Zstd, max)
	}
	if len(out) > cap(window) || (len(out) > 0 && &out[0] != &dst[:1][0]) {
		// Cannot happen with WithDecodeAllCapLimit, but never hand back a
		// buffer we did not bound.
		return dst[:start], corruptf(Zstd, "decoder reallocated its output")
	}
	return dst[:len(out)], nil
}

// Zstandard frame format constants (RFC 8878).
const (
	zstdFrameMagic     = 0xFD2FB528
	zstdSkippableMask  = 0xFFFFFFF0
	zstdSkippableMagic = 0x184D2A50
)

// zstdBound walks the frames of src without decoding them and returns an
// upper bound of the decompressed size. exact reports that every frame
// declared its content size (then bound is the declared total, which the
// decoder enforces). For a frame without a content size the bound is the sum
// of its raw and RLE block sizes plus Block_Maximum_Size per compressed block.
// The sum saturates instead of overflowing. Malformed framing returns an error
// wrapping ErrCorrupt.
func zstdBound(src []byte) (bound uint64, exact bool, err error) {
	if len(src) == 0 {
		return 0, false, corruptf(Zstd, "empty input")
	}
	exact = true
	add := func(n uint64) {
		if bound+n < bound {
			bound = ^uint64(0)
		} else {
			bound += n
		}
	}
	p := 0
	for p < len(src) {
		if len(src)-p < 4 {
			return 0, false, corruptf(Zstd, "truncated frame magic at byte %d", p)
		}
		magic := binary.LittleEndian.Uint32(src[p:])
		p += 4
		if magic&zstdSkippableMask == zstdSkippableMagic {
			if len(src)-p < 4 {
				return 0, false, corruptf(Zstd, "truncated skippable frame at byte %d", p-4)
			}
			n := uint64(binary.LittleEndian.Uint32(src[p:]))
			p += 4
			if n > uint64(len(src)-p) {
				return 0, false, corruptf(Zstd, "skippable frame at byte %d overruns input", p-8)
			}
			p += int(n)
			continue
		}
		if magic != zstdFrameMagic {
			return 0, false, corruptf(Zstd, "bad frame magic %#08x at byte %d", magic, p-4)
		}
		if p >= len(src) {
			return 0, false, corruptf(Zstd, "truncated frame header at byte %d", p)
		}
		fhd := src[p]
		p++
		if fhd&0x08 != 0 {
			return 0, false, corruptf(Zstd, "reserved frame header bit set")
		}
		single := fhd&0x20 != 0
		hasChecksum := fhd&0x04 != 0
		dictSize := [4]int{0, 1, 2, 4}[fhd&0x03]
		fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
		if fcsSize == 0 && single {
			fcsSize = 1
		}
		var window uint64
		if !single {
			if p >= len(src) {
				return 0, false, corruptf(Zstd, "truncated window descriptor")
			}
			wd := src[p]
			p++
			base := uint64(1) << (10 + wd>>3)
			window = base + base/8*uint64(wd&0x07)
		}
		if len(src)-p < dictSize+fcsSize {
			return 0, false, corruptf(Zstd, "truncated frame header")
		}
		p += dictSize
		var fcs uint64
		hasFCS := fcsSize > 0
		switch fcsSize {
		case 1:
			fcs = uint64(src[p])
		case 2:
			fcs = uint64(binary.LittleEndian.Uint16(src[p:])) + 256
		case 4:
			fcs = uint64(binary.LittleEndian.Uint32(src[p:]))
		case 8:
			fcs = binary.LittleEndian.Uint64(src[p:])
		}
		p += fcsSize
		if single {
			window = fcs
		}
		blockMax := min(window, zstdMaxBlock)
		var frameBound uint64
		for {
			if len(src)-p < 3 {
				return 0, false, corruptf(Zstd, "truncated block header at byte %d", p)
			}
			h := uint32(src[p]) | uint32(src[p+1])<<8 | uint32(src[p+2])<<16
			p += 3
			last := h&1 != 0
			size := int(h >> 3)
			var content int
			switch (h >> 1) & 3 {
			case 0: // raw
				content = size
				frameBound += uint64(size)
			case 1: // RLE
				content = 1
				frameBound += uint64(size)
			case 2: // compressed
				content = size
				frameBound += blockMax
			default:
				return 0, false, corruptf(Zstd, "reserved block type at byte %d", p-3)
			}
			if len(src)-p < content {
				return 0, false, corruptf(Zstd, "truncated block at byte %d", p-3)
			}
			p += content
			if last {
				break
			}
		}
		if hasChecksum {
			if len(src)-p < 4 {
				return 0, false, corruptf(Zstd, "truncated content checksum")
			}
			p += 4
		}
		if hasFCS {
			add(fcs)
		} else {
			exact = false
			add(frameBound)
		}
	}
	return bound, exact, nil
}
