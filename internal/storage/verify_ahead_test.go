package storage

import (
	"runtime"
	"testing"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/stretchr/testify/require"
)

// aheadBatches encodes n batches of 10 records of 100 bytes, one after
// another, and returns them with the end position of each.
func aheadBatches(t *testing.T, n int) (data []byte, ends []int64) {
	t.Helper()
	var b record.Builder
	value := make([]byte, 100)
	for i := range n {
		b.Reset(record.BuildOptions{ProducerID: record.NoProducerID, ProducerEpoch: record.NoEpoch, BaseSequence: record.NoSequence})
		for j := range 10 {
			value[0], value[1] = byte(i), byte(j)
			b.Append(1700000000000, nil, value, nil)
		}
		batch, err := b.Build()
		require.NoError(t, err)
		record.SetBaseOffset(batch, int64(i*10))
		data = append(data, batch...)
		ends = append(ends, int64(len(data)))
	}
	return data, ends
}

// The checker verifies every batch up to the end of what it was given and
// stops; the reader then skips the CRC of each.
func TestVerifyAheadChecksEveryBatch(t *testing.T) {
	data, ends := aheadBatches(t, 20)
	var v verifyAhead
	v.start(data, 0, verifyAheadWindow)
	v.done.Wait() // ran to the end
	require.Equal(t, int64(len(data)), v.verified.Load())
	for _, end := range ends {
		require.True(t, v.checked(end))
	}
	v.stop()
}

// The checker stops before a batch whose CRC does not hold, so the reader
// checks that batch (and everything after it) itself and reports it.
func TestVerifyAheadStopsAtABadBatch(t *testing.T) {
	data, ends := aheadBatches(t, 20)
	data[ends[6]+record.HeaderSize+5] ^= 0x10 // in batch 7's records, under its CRC
	var v verifyAhead
	v.start(data, 0, verifyAheadWindow)
	v.done.Wait()
	require.Equal(t, ends[6], v.verified.Load(), "verified up to the bad batch")
	for i, end := range ends {
		require.Equal(t, i < 7, v.checked(end), "batch %d", i)
	}
	v.stop()
}

// A checker started mid-way verifies from there, and one the reader has
// overtaken goes on from the reader's position.
func TestVerifyAheadStartsAtTheReader(t *testing.T) {
	data, ends := aheadBatches(t, 20)
	data[ends[2]+record.HeaderSize+5] ^= 0x10 // batch 3, before the start
	var v verifyAhead
	v.start(data, ends[4], verifyAheadWindow)
	v.done.Wait()
	require.Equal(t, int64(len(data)), v.verified.Load(), "batch 3 is behind the checker")
	require.True(t, v.checked(ends[5]))
	v.stop()
}

// A checker a window ahead of the reader waits for it, and goes on once
// the reader is half a window behind; stop ends a waiting checker.
func TestVerifyAheadWaitsForTheReader(t *testing.T) {
	data, ends := aheadBatches(t, 40)
	size := ends[0]
	var v verifyAhead
	v.start(data, 0, 4*size)
	for v.wakeAt.Load() == 0 { // the checker waits once it is 4 batches ahead
		runtime.Gosched()
	}
	waitedAt := v.verified.Load()
	require.Less(t, waitedAt, int64(len(data)))
	require.LessOrEqual(t, waitedAt, 6*size, "at most a window and a batch ahead")
	for _, end := range ends {
		if end > waitedAt {
			break
		}
		require.True(t, v.checked(end))
	}
	for v.verified.Load() == waitedAt { // woken: it goes on
		runtime.Gosched()
	}
	require.Greater(t, v.verified.Load(), waitedAt)
	for v.wakeAt.Load() == 0 { // and waits again further on
		runtime.Gosched()
	}
	v.stop() // returns (it waits for the goroutine) although the checker is waiting
}
