package produce

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCloseStopsEveryGoroutine(t *testing.T) {
	// synctest.Test fails unless every goroutine started in the bubble has
	// exited by the end: the completer, the senders and real linger timers
	// (time.AfterFunc, the default, on the bubble's clock; Linger is long
	// enough that none fires by itself).
	synctest.Test(t, func(t *testing.T) {
		e := New(Config[*rec]{
			Linger: time.Hour, MaxBufferedBytes: 1 << 20, MaxBufferedRecords: 100,
			Encode: encodeRec, Report: reportRec,
		})
		ps := []*Partition[*rec]{
			e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, &sink{}),
			e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, &sink{}),
		}
		var c collector
		produce(t, e, ps[0], &rec{key: "a"}, c.promise)
		require.NoError(t, e.Flush(t.Context()))
		require.Len(t, c.records(), 1)
		produce(t, e, ps[0], &rec{key: "b"}, c.promise)
		produce(t, e, ps[1], &rec{key: "c"}, c.promise) // lingering at Close
		e.Close()
		require.Len(t, c.records(), 3, "Close sends what lingers and reports it")
		e.Close() // idempotent
		require.True(t, e.Closed())
		require.False(t, ps[1].Add(&rec{}, c.promise, 1))
	})
}

func TestFlush(t *testing.T) {
	t.Run("waits for every partition", func(t *testing.T) {
		e := newEngine(t, newClock(), Config[*rec]{Linger: time.Hour})
		var c collector
		var sinks []*sink
		for range 10 { // more than Flush's stack buffer of waits
			s := &sink{}
			sinks = append(sinks, s)
			p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
			produce(t, e, p, &rec{key: "k"}, c.promise)
			produce(t, e, p, &rec{key: "k"}, c.promise)
		}
		require.NoError(t, e.Flush(t.Context()))
		require.Len(t, c.records(), 20)
		for _, s := range sinks {
			require.Equal(t, []int{2}, s.sizes())
		}
		require.NoError(t, e.Flush(t.Context()), "nothing to wait for")
	})
	t.Run("with an ended context", func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{})
		s := gatedSink()
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		produce(t, e, p, &rec{key: "k"}, c.promise)
		<-s.entered
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, e.Flush(ctx), context.Canceled, "something to wait for: the context's error at once")
		s.gate <- struct{}{}
		require.NoError(t, e.Flush(t.Context()))
		require.NoError(t, e.Flush(ctx), "nothing to wait for")
		require.Len(t, c.records(), 1)
	})
	t.Run("with an ended context, a lingering batch still goes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, newClock(), Config[*rec]{Linger: time.Hour})
			s := &sink{}
			p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
			var c collector
			produce(t, e, p, &rec{key: "k"}, c.promise)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			require.ErrorIs(t, e.Flush(ctx), context.Canceled)
			synctest.Wait() // the sender Flush started has run; the clock has not moved
			require.Equal(t, []int{1}, s.sizes(), "sent at once, not after Linger")
			require.Len(t, c.records(), 1)
		})
	})
	t.Run("until the context ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEngine(t, nil, Config[*rec]{})
			s := gatedSink()
			p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
			var c collector
			produce(t, e, p, &rec{key: "k"}, c.promise)
			<-s.entered
			ctx, cancel := context.WithCancel(t.Context())
			got := make(chan error, 1)
			go func() { got <- e.Flush(ctx) }()
			synctest.Wait()
			cancel()
			require.ErrorIs(t, <-got, context.Canceled)
			require.Empty(t, c.records())
			s.gate <- struct{}{}
			require.NoError(t, e.Flush(t.Context()))
			require.Len(t, c.records(), 1)
		})
	})
}

func TestAddAfterCloseKeepsNothing(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	s := &sink{}
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
	require.NoError(t, e.Reserve(t.Context(), 10, false))
	e.Close()
	var c collector
	require.False(t, p.Add(&rec{key: "k"}, c.promise, 10))
	e.Release(10, 1) // the caller's to release
	bytes, records := e.Buffered()
	require.Zero(t, bytes)
	require.Zero(t, records)
	require.Empty(t, s.sizes())
	require.Empty(t, c.records())
}
