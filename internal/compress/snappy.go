package compress

import (
	"bytes"
	"encoding/binary"

	"github.com/klauspost/compress/snappy"
)

// xerialHeader is the 16-byte header of org.xerial.snappy.SnappyOutputStream:
// the magic 0x82 "SNAPPY" 0x00, then int32 version 1 and int32 compatible
// version 1, big-endian. These bytes are part of the on-disk format.
var xerialHeader = [16]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

const (
	xerialMagicLen   = 8
	xerialHeaderLen  = len(xerialHeader)
	xerialChunkInput = 32 << 10 // snappy-java's default block size
	// snappyMaxRatio bounds the expansion of a valid snappy block: the
	// densest element is a 3-byte copy producing 64 bytes (ratio 21.3).
	snappyMaxRatio = 22
)

// compressSnappy appends src in xerial framing: the header, then one
// [int32 BE length][snappy block] chunk per 32 KiB of input. Empty input
// yields the header alone, as snappy-java writes it.
func compressSnappy(dst, src []byte) []byte {
	dst = append(dst, xerialHeader[:]...)
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialChunkInput)]
		src = src[len(chunk):]
		bound := snappy.MaxEncodedLen(len(chunk)) // > 0: chunk is at most 32 KiB
		dst = grow(dst, 4+bound)
		lenAt := len(dst)
		block := snappy.Encode(dst[lenAt+4:lenAt+4+bound], chunk)
		binary.BigEndian.PutUint32(dst[lenAt:lenAt+4], uint32(len(block)))
		dst = dst[:lenAt+4+len(block)]
	}
	return dst
}

// decompressSnappy accepts xerial-framed input (detected by its 8-byte magic)
// or a single raw snappy block.
func decompressSnappy(dst, src []byte, max int) ([]byte, error) {
	if len(src) < xerialMagicLen || !bytes.Equal(src[:xerialMagicLen], xerialHeader[:xerialMagicLen]) {
		return decodeSnappyBlock(dst, src, max)
	}
	if len(src) < xerialHeaderLen {
		return dst, corruptf(Snappy, "xerial header truncated: %d bytes", len(src))
	}
	// snappy-java accepts any version as long as the compatible version is
	// at least 1; only the magic is load-bearing. Walk the chunks first, so
	// that framing errors and the total size are known before anything is
	// allocated or decoded.
	total := 0
	for p := xerialHeaderLen; p < len(src); {
		chunk, next, err := xerialChunk(src, p)
		if err != nil {
			return dst, err
		}
		n, err := snappyDecodedLen(chunk)
		if err != nil {
			return dst, err
		}
		if n > max-total {
			return dst, tooLarge(Snappy, max)
		}
		total += n
		p = next
	}
	start := len(dst)
	dst = grow(dst, total)
	for p := xerialHeaderLen; p < len(src); {
		chunk, next, _ := xerialChunk(src, p)
		var err error
		if dst, err = decodeSnappyBlock(dst, chunk, max-(len(dst)-start)); err != nil {
			return dst[:start], err
		}
		p = next
	}
	return dst, nil
}

// xerialChunk returns the chunk whose length prefix starts at src[p] and the
// offset of the next one.
func xerialChunk(src []byte, p int) (chunk []byte, next int, err error) {
	if len(src)-p < 4 {
		return nil, 0, corruptf(Snappy, "xerial chunk length truncated at byte %d", p)
	}
	n := int64(binary.BigEndian.Uint32(src[p:]))
	if n > int64(len(src)-p-4) {
		return nil, 0, corruptf(Snappy, "xerial chunk at byte %d declares %d bytes, %d remain", p, n, len(src)-p-4)
	}
	next = p + 4 + int(n)
	return src[p+4 : next], next, nil
}

// snappyDecodedLen returns the decoded length a raw snappy block declares,
// rejecting lengths no valid block of that size can produce.
func snappyDecodedLen(block []byte) (int, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return 0, corrupt(Snappy, err)
	}
	if n/snappyMaxRatio > len(block) {
		// No valid snappy block expands this much: do not let a corrupt
		// length header size the allocation.
		return 0, corruptf(Snappy, "block of %d bytes declares %d decoded bytes", len(block), n)
	}
	return n, nil
}

// decodeSnappyBlock appends the decoding of one raw snappy block, checking its
// declared length against max before allocating.
func decodeSnappyBlock(dst, block []byte, max int) ([]byte, error) {
	n, err := snappyDecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n > max {
		return dst, tooLarge(Snappy, max)
	}
	dst = grow(dst, n)
	at := len(dst)
	out, err := snappy.Decode(dst[at:at+n], block)
	if err != nil {
		return dst, corrupt(Snappy, err)
	}
	if len(out) != n || (n > 0 && &out[0] != &dst[at : at+n][0]) {
		return dst, corrupt(Snappy, errShortOutput)
	}
	return dst[:at+n], nil
}
