package metrics

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketBounds(t *testing.T) {
	require.Equal(t, 8*time.Microsecond, Bound(0))
	require.Equal(t, 16*time.Microsecond, Bound(1))
	require.Equal(t, 8388608*time.Microsecond, Bound(Bounds-1))
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 0},
		{8 * time.Microsecond, 0},
		{8*time.Microsecond + 1, 1},
		{16 * time.Microsecond, 1},
		{16*time.Microsecond + 1, 2},
		{100 * time.Microsecond, 4}, // (64, 128]
		{time.Millisecond, 7},       // (512 µs, 1.024 ms]
		{Bound(Bounds - 1), Bounds - 1},
		{Bound(Bounds-1) + 1, Bounds},
		{time.Hour, Bounds},
	} {
		require.Equal(t, tc.want, bucket(tc.d), "bucket(%v)", tc.d)
	}
	// Every bound is the largest duration of its bucket.
	for i := range Bounds {
		require.Equal(t, i, bucket(Bound(i)), "bucket(Bound(%d))", i)
		require.Equal(t, i+1, bucket(Bound(i)+1), "bucket(Bound(%d)+1)", i)
	}
}

func TestHistogramObserve(t *testing.T) {
	var h Histogram
	require.Equal(t, Snapshot{}, h.Snapshot())
	h.Observe(5 * time.Microsecond)
	h.Observe(100 * time.Microsecond)
	h.Observe(100 * time.Microsecond)
	h.Observe(time.Hour)
	s := h.Snapshot()
	var want [Buckets]uint64
	want[0], want[4], want[Bounds] = 1, 2, 1
	require.Equal(t, want, s.Counts)
	require.Equal(t, uint64(4), s.Count)
	require.Equal(t, 205*time.Microsecond+time.Hour, s.Sum)
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := h.Snapshot()
	require.Equal(t, uint64(4000), s.Count)
	var sum time.Duration
	for i := range 4000 {
		sum += time.Duration(i) * time.Microsecond
	}
	require.Equal(t, sum, s.Sum)
}

func TestObserveAllocatesNothing(t *testing.T) {
	var h Histogram
	require.Zero(t, testing.AllocsPerRun(100, func() { h.Observe(time.Millisecond) }))
}
