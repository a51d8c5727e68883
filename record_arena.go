package commitlog

import (
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
)

// recordArena copies the keys, values and header values of records handed
// to a caller (Consumer.Poll, Partition.Read) into shared chunks, so that
// copying a batch's records takes a few allocations, not one per field.
// A chunk that runs out is not grown but replaced: the records already
// copied keep the old one alive, so nothing is copied twice and no slice
// needs setting again afterwards. The zero recordArena is ready to use.
type recordArena struct {
	chunk []byte // the chunk being filled
}

// minArenaChunk is the smallest chunk put starts when the space reserved
// runs out (nothing is reserved for a compressed batch).
const minArenaChunk = 64 << 10

// reserve makes sure the chunk has room for n more bytes, starting a new
// one if it has not.
func (a *recordArena) reserve(n int64) {
	if n > 0 && int64(cap(a.chunk)-len(a.chunk)) < n {
		a.chunk = make([]byte, 0, n)
	}
}

// put copies v and returns the copy. nil stays nil, and empty stays empty
// and non-nil: Kafka tells a null key, value or header value from an
// empty one.
func (a *recordArena) put(v []byte) []byte {
	if v == nil {
		return nil
	}
	if len(v) == 0 {
		return []byte{}
	}
	if cap(a.chunk)-len(a.chunk) < len(v) {
		a.chunk = make([]byte, 0, max(len(v), minArenaChunk))
	}
	n := len(a.chunk)
	a.chunk = append(a.chunk, v...)
	return a.chunk[n:len(a.chunk):len(a.chunk)]
}

// copyRecord returns rr, a record of topic's partition, with its bytes
// copied into the arena.
func (a *recordArena) copyRecord(topic string, partition int32, rr *record.Record) Record {
	r := Record{
		Topic:     topic,
		Partition: partition,
		Offset:    rr.Offset,
		Timestamp: time.UnixMilli(rr.Timestamp),
		Key:       a.put(rr.Key),
		Value:     a.put(rr.Value),
	}
	if len(rr.Headers) > 0 {
		r.Headers = make([]Header, len(rr.Headers))
		for i, h := range rr.Headers {
			r.Headers[i] = Header{Key: string(h.Key), Value: a.put(h.Value)}
		}
	}
	return r
}
