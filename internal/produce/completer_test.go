package produce

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompleterReportsSeriallyInOrder(t *testing.T) {
	var inReport atomic.Int32
	var overlap atomic.Bool
	report := func(recs []Entry[*rec], res Result, err error) {
		if inReport.Add(1) > 1 {
			overlap.Store(true)
		}
		reportRec(recs, res, err)
		inReport.Add(-1)
	}
	e := newEngine(t, nil, Config[*rec]{Report: report})
	const parts, producers, each = 3, 4, 200
	ps := make([]*Partition[*rec], parts)
	for i := range ps {
		ps[i] = e.NewPartition(PartitionConfig{BatchBytes: 500, Build: plainBuild}, &sink{})
	}
	// Promises run serially: got needs no lock of its own, yet the race
	// detector checks that claim.
	got := make([][]*rec, parts)
	var failed int
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				n := (g + i) % parts
				if i%50 == 0 {
					e.Fail(&rec{}, func(*rec, error) {
						if inReport.Load() > 0 {
							overlap.Store(true)
						}
						failed++
					}, errors.New("refused"))
					continue
				}
				produce(t, e, ps[n], &rec{key: "k"}, func(r *rec, err error) {
					require.NoError(t, err)
					got[n] = append(got[n], r)
				})
			}
		})
	}
	wg.Wait()
	require.NoError(t, e.Flush(t.Context()))
	drain(e)
	require.False(t, overlap.Load(), "promises and reports never overlap")
	require.Equal(t, producers*each/50, failed)
	total := 0
	for n := range got {
		for i, r := range got[n] {
			require.Equal(t, int64(i), r.offset, "partition %d: reported in offset order", n)
		}
		total += len(got[n])
	}
	require.Equal(t, producers*each-producers*each/50, total)
}

func TestCompleterKeepsHandOverOrder(t *testing.T) {
	release := make(chan struct{})
	first := true
	report := func(recs []Entry[*rec], res Result, err error) {
		if first {
			first = false
			<-release // hold the completer in the first report
		}
		reportRec(recs, res, err)
	}
	e := newEngine(t, nil, Config[*rec]{Report: report})
	s := &sink{sentCh: make(chan Result, 10)}
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
	var order []string // appended by promises, serially
	promise := func(r *rec, _ error) { order = append(order, r.key) }
	produce(t, e, p, &rec{key: "a"}, promise)
	<-s.sentCh // a is handed over: Sent follows the hand-over
	produce(t, e, p, &rec{key: "b"}, promise)
	<-s.sentCh
	e.Fail(&rec{key: "x"}, promise, errors.New("refused"))
	close(release)
	drain(e)
	require.Equal(t, []string{"a", "b", "x"}, order)
}

func TestFailAfterClose(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	e.Close()
	called := false
	e.Fail(&rec{}, func(*rec, error) { called = true }, errors.New("closed"))
	require.True(t, called, "once the completer is gone, Fail calls the promise itself")
}
