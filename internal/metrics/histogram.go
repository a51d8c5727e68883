// Package metrics holds the counters the Log keeps for its statistics
// (Log.Stats) on paths where a lock would cost: a latency histogram
// updated with atomics.
package metrics

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Buckets is the number of buckets of a Histogram: Bounds of them with
// an upper bound, and one for everything above the largest bound.
const Buckets = Bounds + 1

// Bounds is the number of bucket bounds: 8 µs, 16 µs, 32 µs, ... 8.39 s,
// doubling from FirstBound.
const Bounds = 21

// FirstBound is the upper bound of the first bucket.
const FirstBound = 8 * time.Microsecond

// Bound returns the upper bound (inclusive) of bucket i, for i < Bounds.
func Bound(i int) time.Duration { return FirstBound << i }

// Histogram counts durations in fixed exponential buckets (see Bound),
// with their sum. The zero value is empty and ready. Observe and Snapshot
// are safe for concurrent use and take no lock: each is a few atomic
// operations.
type Histogram struct {
	counts [Buckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// bucket returns the index of the bucket holding d: the first whose
// bound is at least d (negative durations count as zero).
func bucket(d time.Duration) int {
	if d <= FirstBound {
		return 0
	}
	// (d-1)/FirstBound is in [2^(i-1), 2^i) for d in (Bound(i-1), Bound(i)].
	return min(bits.Len64(uint64((d-1)/FirstBound)), Buckets-1)
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	h.counts[bucket(d)].Add(1)
	h.sum.Add(int64(max(d, 0)))
}

// Snapshot is a Histogram's contents at one moment.
type Snapshot struct {
	// Counts holds the number of durations in each bucket (not
	// cumulative): Counts[i] for i < Bounds those in (Bound(i-1),
	// Bound(i)], Counts[Bounds] those above Bound(Bounds-1).
	Counts [Buckets]uint64
	// Count is the sum of Counts, and Sum the sum of the durations.
	Count uint64
	Sum   time.Duration
}

// Snapshot returns the histogram's contents. Each bucket and the sum are
// read atomically, but not together: an Observe running meanwhile may be
// counted in its bucket and not yet in Sum.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}
