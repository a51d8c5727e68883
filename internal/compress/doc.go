// Package compress implements the five compression codecs of Kafka's record
// batch format v2 (attribute bits 0-2): none, gzip, snappy, lz4 and zstd.
//
// The package is a leaf: it knows nothing about batches. It compresses and
// decompresses one blob (the concatenated records of a batch) at a time, in
// the exact framings Kafka's Java client writes and reads:
//
//   - gzip: an RFC 1952 gzip stream (github.com/klauspost/compress/gzip).
//   - snappy: xerial snappy-java stream framing, as written by
//     org.xerial.snappy.SnappyOutputStream: the 16-byte header
//     0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00, int32 version 1, int32 compatible 1
//     (big-endian), then chunks of [int32 big-endian length][raw snappy block],
//     each chunk holding at most 32 KiB of input. Readers also accept a bare
//     raw snappy block, which some non-Java clients emit.
//   - lz4: the LZ4 frame format (magic 0x184D2204) with 64 KiB blocks, the
//     block-independence flag set, and no block or content checksums
//     (github.com/pierrec/lz4/v4). Readers accept any valid LZ4 frame.
//   - zstd: standard zstd frames (github.com/klauspost/compress/zstd).
//
// # Safety
//
// Decompress never produces more than the caller's limit and never allocates
// much more than that limit, however the input is corrupted or crafted (a
// "zip bomb"): sizes declared by the input are checked against the limit
// before anything is allocated, and streamed output is counted as it is
// produced. Corrupt input returns an error wrapping ErrCorrupt; it never
// panics.
//
// # Concurrency
//
// Compress and Decompress are safe for concurrent use. Encoders and decoders
// are kept in sync.Pools (one pool per codec and level) and are never used by
// two goroutines at once.
package compress
