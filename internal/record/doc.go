// Package record encodes and decodes Kafka record batches, format v2
// (magic 2), byte for byte as Apache Kafka stores them in its .log files.
//
// # Batch layout
//
// All fixed-width integers are big-endian. The CRC is CRC-32C (Castagnoli)
// of bytes [21, end): baseOffset, batchLength, partitionLeaderEpoch and
// magic are outside it, so a log can assign offsets and leader epochs
// without recomputing it.
//
//	offset size field
//	     0    8 baseOffset            int64  first offset (0 as built; the log patches it)
//	     8    4 batchLength           int32  bytes after this field = total - 12
//	    12    4 partitionLeaderEpoch  int32  -1 as built; the log patches it
//	    16    1 magic                 int8   = 2
//	    17    4 crc                   uint32 CRC-32C of bytes [21, end)
//	    21    2 attributes            int16  see below
//	    23    4 lastOffsetDelta       int32  lastOffset - baseOffset
//	    27    8 baseTimestamp         int64  first record's timestamp (or delete horizon)
//	    35    8 maxTimestamp          int64  max record timestamp, or the append time
//	    43    8 producerId            int64  -1 = none
//	    51    2 producerEpoch         int16  -1 = none
//	    53    4 baseSequence          int32  -1 = none
//	    57    4 recordsCount          int32  number of records
//	    61    … records               the records, or one compressed blob of them
//
// Attribute bits:
//
//	bits 0-2  compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
//	bit  3    timestamp type: 0 CreateTime, 1 LogAppendTime
//	bit  4    transactional
//	bit  5    control batch
//	bit  6    baseTimestamp holds the delete horizon (set by the log cleaner)
//	bits 7-15 unused, written as 0 (not checked on read, as in Kafka)
//
// # Record layout
//
// Varints are zigzag-encoded base-128 varints (protobuf sint32/sint64, as
// encoding/binary's PutVarint writes them); int32 fields take at most 5
// bytes, int64 fields at most 10.
//
//	length          varint   bytes after this field
//	attributes      int8     unused, written as 0
//	timestampDelta  varlong  timestamp - baseTimestamp
//	offsetDelta     varint   offset - baseOffset
//	keyLength       varint   -1 = null key
//	key             bytes
//	valueLength     varint   -1 = null value
//	value           bytes
//	headersCount    varint   >= 0
//	headers         headersCount × [keyLength varint (>= 0), key,
//	                                valueLength varint (-1 = null), value]
//
// These constants and layouts are part of the on-disk format and must not
// change: files written by this package are read by Kafka tooling and the
// other way around. A change to any of them needs a new magic, an updated
// diagram above and new fuzz seeds.
//
// # Allocation and ownership
//
// Builder and Iter are reusable and allocate nothing per record once their
// buffers have grown. Slices returned by them are borrowed: they point into
// the Builder's buffer, the batch being iterated, or the Iter's decompression
// buffer, and are valid only as long as each method documents. Neither type is
// safe for concurrent use; the package-level functions are.
//
// # Errors
//
// Decoding never panics on corrupt input. Failures wrap ErrCorrupt (the bytes
// are inconsistent), ErrTruncated (fewer bytes than the batch declares: what a
// torn write at the log tail looks like) or ErrTooLarge (a declared size above
// the caller's limit). Every length read from the input is checked against
// the bytes that remain and the caller's limits before anything is allocated.
package record
