package storage

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

const (
	offsetSlotBytes    = 24   // sizeof(offsetSlot)
	offsetMapMinSlots  = 1024 // smallest table, whatever want and maxBytes say
	offsetMapSeed      = 0x9e3779b97f4a7c15
	offsetMapLoadNum   = 9  // the map holds at most 9/10 of its slots
	offsetMapLoadDenom = 10 // (Kafka's log.cleaner.io.buffer.load.factor = 0.9)
)

// offsetSlot is one entry of an offsetMap: the key's 128-bit hash and its
// latest offset plus one, so that the zero slot is empty.
type offsetSlot struct {
	lo, hi uint64 // xxhash64(key) and xxhash64 of key with offsetMapSeed
	off    int64  // offset+1; 0 = empty
}

// offsetMap is the log cleaner's map from each key of the dirty section of a
// compacted partition to the offset of that key's latest record, like Kafka's
// SkimpyOffsetMap. It stores only a 128-bit hash of each key (two xxhash64
// values), so two distinct keys are confused with probability about n²/2^129
// for n keys; the keys themselves are never retained.
//
// Memory is fixed at construction: one open-addressing table of 24-byte
// slots with linear probing, filled to at most 90% (capacity). put never
// grows it; the caller stops adding keys when room() is 0 and cleans what the
// map covers so far. Keys are byte slices; an empty key is a valid key, but
// records with a nil key are not compacted and callers skip them.
//
// An offsetMap is not safe for concurrent use, not even for concurrent gets:
// hashing reuses a digest held in the map.
type offsetMap struct {
	slots []offsetSlot
	n     int // distinct keys held
	limit int // capacity: the most keys held
	d     xxhash.Digest
	sink  int64 // what touch loads, kept so the loads are not optimized away
}

// newOffsetMap returns a map using at most maxBytes of memory (24 bytes per
// slot), and no more than needed to hold want keys at the 0.9 load factor, so
// small cleanings allocate little. It always has at least 1,024 slots (24 KiB):
// maxBytes below 24×1024 is treated as 24×1024, and want 0 gives such a map.
func newOffsetMap(maxBytes int64, want int) *offsetMap {
	slots := max(maxBytes, offsetMapMinSlots*offsetSlotBytes) / offsetSlotBytes
	// The fewest slots whose load limit holds want keys: ceil(want*10/9).
	need := (int64(max(want, 0))*offsetMapLoadDenom + offsetMapLoadNum - 1) / offsetMapLoadNum
	slots = min(slots, max(need, offsetMapMinSlots))
	return &offsetMap{
		slots: make([]offsetSlot, slots),
		limit: int(slots * offsetMapLoadNum / offsetMapLoadDenom),
	}
}

// keyHash is a key's 128-bit hash: xxhash64 of the key, and xxhash64 of
// the key with offsetMapSeed.
type keyHash struct{ lo, hi uint64 }

// hash returns key's hash.
func (m *offsetMap) hash(key []byte) keyHash {
	m.d.ResetWithSeed(offsetMapSeed)
	m.d.Write(key)
	return keyHash{lo: xxhash.Sum64(key), hi: m.d.Sum64()}
}

// home returns the slot where h's probe starts. It comes from hi: the
// partitioner puts keys with equal lo%n in one partition, so lo's low
// bits are correlated within a partition. Multiply-high maps hi onto
// [0, len) using its high bits.
func (m *offsetMap) home(h keyHash) int {
	i, _ := bits.Mul64(h.hi, uint64(len(m.slots)))
	return int(i)
}

// touch loads the home slots of hs, so that the cache misses of later
// puts or gets of them are paid at once, overlapping, rather than one
// after another: the map is larger than the caches, and a lone miss costs
// ~100 ns. Callers hash a batch's keys, touch them, then look them up.
func (m *offsetMap) touch(hs []mappedRecord) {
	var sink int64
	for i := range hs {
		sink ^= m.slots[m.home(hs[i].h)].off
	}
	m.sink = sink
}

// find returns the index of h's slot, or of the empty slot where it
// belongs.
func (m *offsetMap) find(h keyHash) int {
	for i := m.home(h); ; {
		s := &m.slots[i]
		if s.off == 0 || (s.lo == h.lo && s.hi == h.hi) {
			return i
		}
		if i++; i == len(m.slots) {
			i = 0
		}
	}
}

// put records that key's latest record is at offset; a later put for the same
// key replaces the offset. Offsets must be non-negative and are put in
// increasing order. REQUIRES: room() > 0 or key already in the map (put
// panics otherwise, rather than exceed the load factor).
func (m *offsetMap) put(key []byte, offset int64) { m.putHash(m.hash(key), offset) }

// putHash is put for a key with hash h.
func (m *offsetMap) putHash(h keyHash, offset int64) {
	if offset < 0 {
		panic("commitlog: offsetMap.put of a negative offset")
	}
	s := &m.slots[m.find(h)]
	if s.off == 0 {
		if m.n >= m.limit {
			panic("commitlog: offsetMap.put of a new key into a full map")
		}
		m.n++
		s.lo, s.hi = h.lo, h.hi
	}
	s.off = offset + 1
}

// get returns the latest offset put for key, and whether key was put.
func (m *offsetMap) get(key []byte) (int64, bool) { return m.getHash(m.hash(key)) }

// getHash is get for a key with hash h.
func (m *offsetMap) getHash(h keyHash) (int64, bool) {
	off := m.slots[m.find(h)].off
	return off - 1, off != 0
}

// room returns how many more new keys fit before the load limit.
func (m *offsetMap) room() int { return m.limit - m.n }

// len returns the number of distinct keys held.
func (m *offsetMap) len() int { return m.n }

// capacity returns the most keys the map holds (90% of its slots).
func (m *offsetMap) capacity() int { return m.limit }

// mappedRecord is what compaction needs of a record to decide on it.
type mappedRecord struct {
	h         keyHash
	offset    int64
	keyless   bool
	tombstone bool
}
