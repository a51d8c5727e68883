package produce

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

func TestReserveLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("records", func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxBufferedRecords: 2})
		require.NoError(t, e.Reserve(ctx, 10, false))
		require.NoError(t, e.Reserve(ctx, 10, false))
		require.ErrorIs(t, e.Reserve(ctx, 10, false), ErrFull)
		bytes, records := e.Buffered()
		require.Equal(t, int64(20), bytes, "a failed Reserve leaves no bytes behind")
		require.Equal(t, int64(2), records)
		e.Release(10, 1)
		require.NoError(t, e.Reserve(ctx, 10, false))
		e.Release(20, 2)
	})
	t.Run("bytes", func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxBufferedBytes: 100})
		require.NoError(t, e.Reserve(ctx, 60, false))
		require.ErrorIs(t, e.Reserve(ctx, 41, false), ErrFull)
		require.NoError(t, e.Reserve(ctx, 40, false), "exactly full fits")
		e.Release(100, 2)
		bytes, records := e.Buffered()
		require.Zero(t, bytes)
		require.Zero(t, records)
	})
	t.Run("larger than the buffer", func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxBufferedBytes: 100})
		require.NoError(t, e.Reserve(ctx, 1000, false), "a record always fits an empty buffer")
		require.ErrorIs(t, e.Reserve(ctx, 1, false), ErrFull)
		e.Release(1000, 1)
	})
}

func TestReserveWaits(t *testing.T) {
	t.Run("for space", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, nil, Config[*rec]{MaxBufferedRecords: 1})
			require.NoError(t, e.Reserve(t.Context(), 10, false))
			got := make(chan error, 1)
			go func() { got <- e.Reserve(t.Context(), 10, true) }()
			synctest.Wait()
			select {
			case err := <-got:
				t.Fatalf("Reserve returned while the buffer was full: %v", err)
			default:
			}
			e.Release(10, 1)
			require.NoError(t, <-got)
			e.Release(10, 1)
		})
	})
	t.Run("until ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, nil, Config[*rec]{MaxBufferedRecords: 1})
			require.NoError(t, e.Reserve(t.Context(), 10, false))
			ctx, cancel := context.WithCancel(t.Context())
			got := make(chan error, 1)
			go func() { got <- e.Reserve(ctx, 10, true) }()
			synctest.Wait()
			cancel()
			require.ErrorIs(t, <-got, context.Canceled)
			_, records := e.Buffered()
			require.Equal(t, int64(1), records)
			e.Release(10, 1)
		})
	})
	t.Run("until Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, nil, Config[*rec]{MaxBufferedRecords: 1})
			require.NoError(t, e.Reserve(t.Context(), 10, false))
			got := make(chan error, 1)
			go func() { got <- e.Reserve(t.Context(), 10, true) }()
			synctest.Wait()
			e.Close()
			require.ErrorIs(t, <-got, ErrClosed)
			require.True(t, e.Closed())
		})
	})
}

func TestBatchesAreReused(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, &sink{})
	var c collector
	produce(t, e, p, &rec{value: make([]byte, 100)}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	drain(e)
	e.freeMu.Lock()
	require.Len(t, e.free, 1, "the finished batch is kept")
	kept := e.free[0]
	require.Positive(t, kept.retained)
	require.Empty(t, kept.recs, "cleared")
	e.freeMu.Unlock()

	produce(t, e, p, &rec{value: make([]byte, 100)}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	drain(e)
	e.freeMu.Lock()
	require.Equal(t, []*batch[*rec]{kept}, e.free, "and reused")
	e.freeMu.Unlock()

	e.Close()
	e.freeMu.Lock()
	require.Empty(t, e.free, "Close drops them")
	require.Zero(t, e.maxFreeBytes)
	e.freeMu.Unlock()
	require.Len(t, c.records(), 2)
}

func TestBatchesBeyondTheBufferAreNotKept(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{MaxBufferedBytes: 50})
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, &sink{})
	var c collector
	produce(t, e, p, &rec{value: make([]byte, 100)}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	drain(e)
	e.freeMu.Lock()
	require.Empty(t, e.free, "a batch keeping more than MaxBufferedBytes goes to the pool")
	e.freeMu.Unlock()
}

func TestPoolIgnoresOtherInstantiations(t *testing.T) {
	batchPool.Put(new(batch[int]))
	b := getPooled[*rec]()
	require.NotNil(t, b, "a batch of another record type is not handed out")
	require.Empty(t, b.recs)
}
