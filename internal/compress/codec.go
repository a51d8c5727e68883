package compress

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Codec is Kafka's compression codec id, as stored in batch attribute bits
// 0-2. The numeric values are part of the on-disk format and must not change.
type Codec uint8

// The codecs of Kafka's record batch format v2.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// Errors returned by this package. Failures are wrapped with context, so test
// for them with errors.Is.
var (
	// ErrCorrupt is wrapped by every decompression failure caused by the
	// input (bad framing, bad checksum, truncation, trailing garbage).
	ErrCorrupt = errors.New("compress: corrupt input")
	// ErrTooLarge is wrapped when the decompressed output would exceed the
	// caller's limit.
	ErrTooLarge = errors.New("compress: decompressed size exceeds limit")
	// ErrUnknownCodec is wrapped when a codec id or name is not one of the
	// five Kafka codecs.
	ErrUnknownCodec = errors.New("compress: unknown codec")
)

var codecNames = [...]string{None: "none", Gzip: "gzip", Snappy: "snappy", LZ4: "lz4", Zstd: "zstd"}

// String returns the codec's Kafka name ("none", "gzip", "snappy", "lz4",
// "zstd"), or "codec(N)" for an unknown id N.
func (c Codec) String() string {
	if c.Valid() {
		return codecNames[c]
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the five Kafka codecs (ids 0..4). Ids
// 5..7 fit the attribute bits but are invalid, as in Kafka.
func (c Codec) Valid() bool { return c <= Zstd }

// ParseCodec returns the codec named s, matched case-insensitively against the
// names String returns. Any other name returns an error wrapping
// ErrUnknownCodec.
func ParseCodec(s string) (Codec, error) {
	for i, name := range codecNames {
		if strings.EqualFold(s, name) {
			return Codec(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownCodec, s)
}

// Level bounds per codec. 0 always selects the codec's default.
const (
	maxGzipLevel = 9
	maxLZ4Level  = 9
	maxZstdLevel = 22
)

// ValidLevel reports whether level is acceptable for c. 0 (the codec's
// default) is valid for every valid codec; gzip and lz4 also accept 1..9 and
// zstd 1..22. None and snappy have no levels. gzip's special negative levels
// (default -1, Huffman-only -2) are not accepted: use 0 for the default.
func ValidLevel(c Codec, level int) bool {
	switch c {
	case None, Snappy:
		return level == 0
	case Gzip:
		return level >= 0 && level <= maxGzipLevel
	case LZ4:
		return level >= 0 && level <= maxLZ4Level
	case Zstd:
		return level >= 0 && level <= maxZstdLevel
	default:
		return false
	}
}

// Compress appends the compressed form of src to dst and returns the extended
// slice. dst and src must not overlap. dst may be nil. src is not retained.
//
// level 0 selects the codec default (gzip: default compression; lz4: the fast
// compressor; zstd: SpeedDefault, about zstd level 3). An invalid codec
// returns an error wrapping ErrUnknownCodec and a level ValidLevel rejects
// returns an error; in both cases dst is returned unchanged.
//
// Compress is safe for concurrent use.
func Compress(dst []byte, c Codec, level int, src []byte) ([]byte, error) {
	if !c.Valid() {
		return dst, fmt.Errorf("%w: %s", ErrUnknownCodec, c)
	}
	if !ValidLevel(c, level) {
		return dst, fmt.Errorf("compress: invalid %s level %d", c, level)
	}
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return compressGzip(dst, level, src)
	case Snappy:
		return compressSnappy(dst, src), nil
	case LZ4:
		return compressLZ4(dst, level, src)
	default: // Zstd
		return compressZstd(dst, level, src)
	}
}

// Decompress appends the decompressed form of src to dst and returns the
// extended slice. dst and src must not overlap. dst may be nil; its spare
// capacity is used before anything is allocated. src is not retained.
//
// Decompress never produces more than max bytes (max < 0 is treated as 0). If
// the output would exceed max it returns an error wrapping ErrTooLarge. The
// limit is enforced before allocating (against sizes the input declares) and
// while streaming, so a crafted input cannot make Decompress allocate much
// more than max: max is also the memory bound, so pass the largest output the
// caller is prepared to hold, not "unlimited". (Allocation follows the actual
// output for gzip, lz4 and snappy; for zstd it follows the frame's declared
// content size, or an upper bound derived from its block headers, capped by
// max; DecompressAllocBound states the bound in bytes.) Corrupt input
// returns an error wrapping ErrCorrupt and an invalid codec an error
// wrapping ErrUnknownCodec. On error the returned
// slice has dst's original length and contents (possibly in a larger,
// reallocated array); bytes past that length may have been overwritten.
//
// Decompress is safe for concurrent use.
func Decompress(dst []byte, c Codec, src []byte, max int) ([]byte, error) {
	max = clampMax(len(dst), max)
	switch c {
	case None:
		if len(src) > max {
			return dst, fmt.Errorf("%w: none: %d bytes > limit %d", ErrTooLarge, len(src), max)
		}
		return append(dst, src...), nil
	case Gzip:
		return decompressGzip(dst, src, max)
	case Snappy:
		return decompressSnappy(dst, src, max)
	case LZ4:
		return decompressLZ4(dst, src, max)
	case Zstd:
		return decompressZstd(dst, src, max)
	default:
		return dst, fmt.Errorf("%w: %s", ErrUnknownCodec, c)
	}
}

// Decoder state a Decompress call allocates when its codec's pool is
// empty, with room to spare: for gzip (klauspost/compress 1.20) 39 KiB,
// Huffman link tables that grow to at most 2 x 76 KiB per table as blocks
// with longer codes arrive, and up to 64 KiB per member for a header's
// extra field; for zstd 23 KiB; for lz4 (pierrec/lz4 4.1) two buffers of
// the block size the frame declares (at most 4 MiB).
const (
	gzipStateAlloc = 512 << 10
	zstdStateAlloc = 64 << 10
	lz4StateAlloc  = 2*(4<<20) + 64<<10
	// lz4MaxRatio bounds the expansion of lz4 (a match length is extended
	// by 255 per input byte).
	lz4MaxRatio = 256
	// errorAlloc is room for an error and its message.
	errorAlloc = 1 << 10
)

// MaxOutput returns the most bytes Decompress(dst, c, src, max) can
// append to dst: max, or less when src cannot produce that much: len(src)
// for none, snappyMaxRatio, maxDeflateRatio or lz4MaxRatio times len(src),
// and for zstd what zstdBound derives from the frame headers.
func MaxOutput(c Codec, src []byte, max int) int {
	max = clampMax(0, max)
	out := 0
	switch c {
	case None:
		out = len(src)
	case Snappy:
		out = len(src) * snappyMaxRatio
	case Gzip:
		out = len(src) * maxDeflateRatio
	case LZ4:
		out = len(src) * lz4MaxRatio
	case Zstd:
		if bound, _, err := zstdBound(src); err == nil {
			out = int(min(bound, uint64(max)))
		}
	}
	return min(out, max)
}

// DecompressAllocBound returns the most heap memory, in bytes, that
// Decompress(dst, c, src, max) allocates: four times MaxOutput (the
// output buffer grows by doubling from a first guess that is at most that
// output), plus twice len(dst) (copied when the buffer is reallocated),
// plus the codec's decoder state, plus an error.
func DecompressAllocBound(dst []byte, c Codec, src []byte, max int) int {
	var state int
	switch c {
	case None, Snappy:
	case Gzip:
		state = gzipStateAlloc + len(src)
	case LZ4:
		state = lz4StateAlloc
	case Zstd:
		state = zstdStateAlloc
	default:
		return errorAlloc
	}
	return 4*(MaxOutput(c, src, max)+minGrow+zstdSlack) + 2*len(dst) + state + errorAlloc
}

// clampMax bounds max to [0, MaxInt-start-1], so that start+max+1 (the end
// of the output plus one probe byte) can never overflow.
func clampMax(start, max int) int {
	const maxInt = int(^uint(0) >> 1)
	if max < 0 {
		return 0
	}
	if max > maxInt-start-1 {
		return maxInt - start - 1
	}
	return max
}

// corrupt wraps a codec library error as ErrCorrupt, keeping it in the chain.
func corrupt(c Codec, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, c, err)
}

// corruptf builds an ErrCorrupt error from a message.
func corruptf(c Codec, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, c, fmt.Sprintf(format, args...))
}

// tooLarge builds an ErrTooLarge error.
func tooLarge(c Codec, max int) error {
	return fmt.Errorf("%w: %s: output exceeds %d bytes", ErrTooLarge, c, max)
}
