package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestOffsetMapBasics(t *testing.T) {
	m := newOffsetMap(1<<20, 0)
	require.Equal(t, 1024, len(m.slots))
	require.Equal(t, 921, m.capacity())
	require.Equal(t, 921, m.room())
	require.Equal(t, 0, m.len())

	_, ok := m.get([]byte("a"))
	require.False(t, ok)

	m.put([]byte("a"), 0)
	m.put([]byte("b"), 5)
	m.put([]byte{}, 6) // the empty key is a key
	off, ok := m.get([]byte("a"))
	require.True(t, ok)
	require.Equal(t, int64(0), off)
	off, ok = m.get([]byte(""))
	require.True(t, ok)
	require.Equal(t, int64(6), off)
	require.Equal(t, 3, m.len())
	require.Equal(t, 918, m.room())

	// Overwrite keeps the later offset and takes no room.
	m.put([]byte("a"), 9)
	off, ok = m.get([]byte("a"))
	require.True(t, ok)
	require.Equal(t, int64(9), off)
	off, _ = m.get([]byte("b"))
	require.Equal(t, int64(5), off)
	require.Equal(t, 3, m.len())
	require.Equal(t, 918, m.room())
	require.Equal(t, m.capacity(), m.len()+m.room())

	m.put([]byte("b"), 10)
	off, ok = m.get([]byte("b"))
	require.True(t, ok)
	require.Equal(t, int64(10), off)
	require.Equal(t, 3, m.len())
}

func TestOffsetMapFullPanics(t *testing.T) {
	m := newOffsetMap(0, 0) // below the minimum: 1,024 slots
	require.Equal(t, 1024, len(m.slots))
	for i := range m.capacity() {
		m.put(fmt.Appendf(nil, "k%d", i), int64(i))
	}
	require.Equal(t, 0, m.room())
	m.put([]byte("k7"), 5000) // an existing key still fits
	off, _ := m.get([]byte("k7"))
	require.Equal(t, int64(5000), off)
	require.Panics(t, func() { m.put([]byte("new"), 5001) })
	require.Panics(t, func() { m.put([]byte("k8"), -1) })
}

func TestOffsetMapModel(t *testing.T) {
	const n = 200_000
	r := rand.New(rand.NewPCG(1, 2))
	m := newOffsetMap(1<<30, n)
	require.Equal(t, n, m.capacity())
	model := make(map[string]int64, n)
	randKey := func() []byte {
		k := make([]byte, r.IntN(24))
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		return k
	}
	var off int64
	for len(model) < n {
		k := randKey()
		if _, dup := model[string(k)]; !dup && m.room() == 0 {
			continue // short keys repeat; only new keys need room
		}
		off += 1 + r.Int64N(3)
		m.put(k, off)
		model[string(k)] = off
	}
	require.Equal(t, n, m.len())
	require.Equal(t, 0, m.room())
	for k, want := range model {
		got, ok := m.get([]byte(k))
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	for checked := 0; checked < n; {
		k := randKey()
		if _, in := model[string(k)]; in {
			continue
		}
		checked++
		_, ok := m.get(k)
		require.False(t, ok, "%x", k)
	}
}

func TestOffsetMapSizing(t *testing.T) {
	for _, tc := range []struct {
		maxBytes        int64
		want            int
		slots, capacity int
	}{
		{1 << 20, 0, 1024, 921},                     // want 0: the minimum
		{64 << 20, 10, 1024, 921},                   // few keys: the minimum
		{64 << 20, 1_000_000, 1_111_112, 1_000_000}, // ceil(1e6/0.9) slots
		{1 << 20, 1_000_000, 43_690, 39_321},        // bounded by maxBytes
		{100, 1_000_000, 1024, 921},                 // maxBytes below the minimum
	} {
		m := newOffsetMap(tc.maxBytes, tc.want)
		require.Equal(t, tc.slots, len(m.slots), "%+v", tc)
		require.Equal(t, tc.capacity, m.capacity(), "%+v", tc)
		bytes := int64(len(m.slots)) * int64(unsafe.Sizeof(offsetSlot{}))
		require.LessOrEqual(t, bytes, max(tc.maxBytes, 24*1024), "%+v", tc)
	}
	require.Equal(t, uintptr(24), unsafe.Sizeof(offsetSlot{}))
}

func TestOffsetMapAllocs(t *testing.T) {
	m := newOffsetMap(1<<20, 0)
	key := []byte("some-record-key-of-medium-length-0123456789")
	var off int64
	allocs := testing.AllocsPerRun(1000, func() {
		off++
		m.put(key, off)
		if got, ok := m.get(key); !ok || got != off {
			t.Fatal("get after put")
		}
	})
	require.Zero(t, allocs)
}

// offsetMapBenchKeys returns n distinct 16-byte keys.
func offsetMapBenchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	buf := make([]byte, 16*n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		k := buf[16*i : 16*i+16 : 16*i+16]
		binary.LittleEndian.PutUint64(k, r.Uint64())
		binary.LittleEndian.PutUint64(k[8:], uint64(i))
		keys[i] = k
	}
	return keys
}

// BenchmarkOffsetMapPut reports ns per key put into a map sized for 1M keys.
func BenchmarkOffsetMapPut(b *testing.B) {
	const n = 1_000_000
	keys := offsetMapBenchKeys(n)
	m := newOffsetMap(1<<30, n)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m = newOffsetMap(1<<30, n)
		b.StartTimer()
		for i, k := range keys {
			m.put(k, int64(i))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	b.ReportMetric(float64(len(m.slots)*24), "table-bytes")
}

// BenchmarkOffsetMapGet reports ns per get of 1M keys in a full map.
func BenchmarkOffsetMapGet(b *testing.B) {
	const n = 1_000_000
	keys := offsetMapBenchKeys(n)
	m := newOffsetMap(1<<30, n)
	for i, k := range keys {
		m.put(k, int64(i))
	}
	b.ResetTimer()
	for range b.N {
		for i, k := range keys {
			if off, ok := m.get(k); !ok || off != int64(i) {
				b.Fatal("get")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
