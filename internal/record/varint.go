package record

import (
	"encoding/binary"
	"math/bits"
)

// varintLen returns the length of the zigzag varint encoding of v, as
// binary.AppendVarint writes it.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	// Most fields are short: comparisons cost less than the bit scan and
	// division of the general case.
	if u < 1<<7 {
		return 1
	}
	if u < 1<<14 {
		return 2
	}
	return (bits.Len64(u) + 6) / 7
}

// bytesLen returns the encoded size of a nullable byte field: a varint length
// (-1 for nil) followed by the bytes.
func bytesLen(b []byte) int {
	if b == nil {
		return 1 // varint(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// appendBytesField appends a nullable byte field.
func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // varint(-1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// putVarint writes the zigzag varint encoding of v at buf[p:], which must
// have room for it, and returns the position after it. It is
// binary.PutVarint small enough to be inlined: through binary.PutVarint,
// BenchmarkBuild/none took 34 µs per 1,000 records instead of 26.
func putVarint(buf []byte, p int, v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		buf[p] = byte(u) | 0x80
		u >>= 7
		p++
	}
	buf[p] = byte(u)
	return p + 1
}

// putBytesField writes a nullable byte field at buf[p:], which must have
// room for it, and returns the position after it.
func putBytesField(buf []byte, p int, b []byte) int {
	if b == nil {
		buf[p] = 1 // varint(-1)
		return p + 1
	}
	p = putVarint(buf, p, int64(len(b)))
	return p + copy(buf[p:], b)
}

// readVarint32 decodes a zigzag varint that must fit in an int32, as Kafka's
// ByteUtils.readVarint does (at most 5 bytes). n > 0 is the number of bytes
// read; n == 0 means b ended inside the varint; n < 0 means the encoding is
// longer than 5 bytes or its value does not fit in 32 bits. Overlong but
// in-range encodings (such as 0x80 0x00 for 0) are accepted, as Kafka does.
func readVarint32(b []byte) (v int32, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint32(b[0])
		return int32(u>>1) ^ -int32(u&1), 1
	}
	var u uint32
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		if i == 4 {
			if c > 0x0f { // continuation bit or bits beyond 32
				return 0, -1
			}
			u |= uint32(c) << 28
			return int32(u>>1) ^ -int32(u&1), 5
		}
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, -1 // unreachable
}

// readVarint64 decodes a zigzag varint of at most 10 bytes, with the same
// result convention as readVarint32.
func readVarint64(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	return binary.Varint(b)
}
