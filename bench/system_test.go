package main

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSystemsKeepWhatWasWritten writes batches through every system, reopens
// it and reads everything back, as W1 and W4 do, and checks every value.
func TestSystemsKeepWhatWasWritten(t *testing.T) {
	for _, sys := range systems {
		t.Run(sys.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := sys.open(ctx, dir, storeOptions{})
			require.NoError(t, err)
			src := newRecordSource(7, 100, false)
			var want [][]byte
			for range 3 {
				batch := src.records(500)
				for _, r := range batch {
					want = append(want, r.value)
				}
				require.NoError(t, st.appendBatch(ctx, batch))
			}
			require.NoError(t, st.flush(ctx))
			require.NoError(t, st.close())

			st, err = sys.open(ctx, dir, storeOptions{})
			require.NoError(t, err)
			defer st.close()
			var got [][]byte
			n, err := st.read(ctx, int64(len(want)), func(v []byte) { got = append(got, bytes.Clone(v)) })
			require.NoError(t, err)
			require.Equal(t, int64(len(want)), n)
			for i := range want {
				require.Equal(t, want[i], got[i], "record %d", i)
			}
		})
	}
}

// TestSystemsDurableConcurrentAppends runs W6's pattern at a small size:
// concurrent single durable appends, all of which must be readable.
func TestSystemsDurableConcurrentAppends(t *testing.T) {
	for _, sys := range systems {
		t.Run(sys.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := sys.open(ctx, dir, storeOptions{durable: true})
			require.NoError(t, err)
			defer st.close()
			src := newRecordSource(3, 100, false)
			recs := append([]rec(nil), src.records(8)...)
			var wg sync.WaitGroup
			for _, r := range recs {
				wg.Go(func() {
					for range 5 {
						if err := st.appendOne(ctx, r); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			n, err := st.read(ctx, 40, func([]byte) {})
			require.NoError(t, err)
			require.Equal(t, int64(40), n)
		})
	}
}

// TestTailersSeeEveryRecord runs W5's pattern at a small size on every
// system with a tail API.
func TestTailersSeeEveryRecord(t *testing.T) {
	for _, sys := range systems {
		t.Run(sys.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := sys.open(ctx, t.TempDir(), storeOptions{})
			require.NoError(t, err)
			defer st.close()
			tl, ok := st.(tailer)
			if !ok {
				require.Contains(t, []string{"tidwall/wal", "pebble", "bbolt"}, sys.name)
				return
			}
			const n = 50
			got := make(chan []byte, n)
			ready := make(chan struct{})
			tctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				tl.tail(tctx, func() { close(ready) }, func(v []byte) { got <- bytes.Clone(v) })
			})
			defer func() { stop(); wg.Wait() }()
			<-ready
			src := newRecordSource(5, 100, false)
			var want [][]byte
			for range n {
				r := src.record()
				want = append(want, r.value)
				require.NoError(t, st.appendOne(ctx, r))
			}
			for i := range n {
				select {
				case v := <-got:
					require.Equal(t, want[i], v, "record %d", i)
				case <-ctx.Done():
					t.Fatalf("received %d of %d records", i, n)
				}
			}
		})
	}
}
