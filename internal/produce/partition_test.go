package produce

import (
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/stretchr/testify/require"
)

func TestBatchesGrowWhileTheSenderIsBusy(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	s := gatedSink()
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
	var c collector
	produce(t, e, p, &rec{key: "a"}, c.promise)
	<-s.entered // the lone record goes at once
	for i := 0; i < 5; i++ {
		produce(t, e, p, &rec{key: "b"}, c.promise)
	}
	s.gate <- struct{}{}
	<-s.entered // the five went into the next batch
	s.gate <- struct{}{}
	require.NoError(t, e.Flush(t.Context()))
	require.Equal(t, []int{1, 5}, s.sizes())
	got := c.records()
	require.Len(t, got, 6)
	for i, r := range got {
		require.Equal(t, int64(i), r.offset, "promises in produce order, with their offsets")
		require.NoError(t, r.err)
	}
}

func TestBatchClosesAtBatchBytes(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	s := gatedSink()
	p := e.NewPartition(PartitionConfig{BatchBytes: 400, Build: plainBuild}, s)
	var c collector
	produce(t, e, p, &rec{value: make([]byte, 10)}, c.promise)
	<-s.entered
	// A batch header is 61 bytes, a record of 100 bytes about 108 encoded
	// and 140 accounted: the batch closes before the record that could
	// take it past 400 bytes, so at two records.
	for i := 0; i < 7; i++ {
		produce(t, e, p, &rec{value: make([]byte, 100)}, c.promise)
	}
	// A record larger than the batch size gets a batch of its own.
	produce(t, e, p, &rec{value: make([]byte, 1000)}, c.promise)
	for range 6 {
		s.gate <- struct{}{}
	}
	require.NoError(t, e.Flush(t.Context()))
	require.Equal(t, []int{1, 2, 2, 2, 1, 1}, s.sizes())
	require.Len(t, c.records(), 9)
}

func TestLinger(t *testing.T) {
	t.Run("waits for the timer", func(t *testing.T) {
		clk := newClock()
		e := newEngine(t, clk, Config[*rec]{Linger: 10 * time.Millisecond})
		s := &sink{}
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		c := collector{done: make(chan *rec, 10)}
		for range 3 {
			produce(t, e, p, &rec{key: "k"}, c.promise)
			clk.Advance(time.Millisecond)
		}
		require.Equal(t, 1, clk.pending(), "one timer for the open batch")
		clk.Advance(6 * time.Millisecond)
		require.Empty(t, s.sizes(), "nothing goes before the linger time")
		clk.Advance(time.Millisecond) // fires the timer, which sends on this goroutine
		require.Equal(t, []int{3}, s.sizes())
		for range 3 {
			<-c.done
		}
		require.Zero(t, clk.pending())
	})
	t.Run("until full", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			clk := newClock()
			e := newEngine(t, clk, Config[*rec]{Linger: time.Hour})
			s := gatedSink()
			p := e.NewPartition(PartitionConfig{BatchBytes: 400, Build: plainBuild}, s)
			var c collector
			for range 3 {
				produce(t, e, p, &rec{value: make([]byte, 100)}, c.promise)
			}
			<-s.entered // a closed batch goes without waiting
			require.Zero(t, clk.pending(), "closing the batch stopped its timer")
			s.gate <- struct{}{}
			synctest.Wait() // the sender has found nothing more to send
			require.Equal(t, 1, clk.pending(), "the next open batch lingers again")
			require.Equal(t, []int{2}, s.sizes())
			require.Len(t, c.records(), 2)
			s.gate <- struct{}{} // for Close, which sends the third
		})
	})
	t.Run("Flush sends at once", func(t *testing.T) {
		clk := newClock()
		e := newEngine(t, clk, Config[*rec]{Linger: time.Hour})
		s := &sink{}
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		produce(t, e, p, &rec{key: "k"}, c.promise)
		produce(t, e, p, &rec{key: "k"}, c.promise)
		require.NoError(t, e.Flush(t.Context()))
		require.Equal(t, []int{2}, s.sizes())
		require.Len(t, c.records(), 2)
		require.Zero(t, clk.pending(), "sending the batch stopped its timer")
	})
	t.Run("Close sends and stops the timers", func(t *testing.T) {
		clk := newClock()
		e := newEngine(t, clk, Config[*rec]{Linger: time.Hour})
		s := &sink{}
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		produce(t, e, p, &rec{key: "k"}, c.promise)
		e.Close()
		require.Equal(t, []int{1}, s.sizes())
		require.Len(t, c.records(), 1)
		require.Zero(t, clk.pending())
		require.False(t, p.Add(&rec{}, c.promise, 1), "Add fails once closed")
		clk.Advance(2 * time.Hour) // nothing left to fire
	})
}

func TestIdempotentSequences(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{Idempotent: true})
	s := gatedSink()
	build := record.BuildOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0}
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: build}, s)
	var c collector
	produce(t, e, p, &rec{key: "a"}, c.promise)
	<-s.entered
	for range 3 {
		produce(t, e, p, &rec{key: "b"}, c.promise)
	}
	s.gate <- struct{}{}
	<-s.entered
	s.gate <- struct{}{}
	require.NoError(t, e.Flush(t.Context()))

	// A failed batch consumes no sequence numbers.
	s.mu.Lock()
	s.fail = errors.New("disk full")
	s.mu.Unlock()
	produce(t, e, p, &rec{key: "c"}, c.promise)
	<-s.entered
	s.gate <- struct{}{}
	require.NoError(t, e.Flush(t.Context()))
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	produce(t, e, p, &rec{key: "d"}, c.promise)
	<-s.entered
	s.gate <- struct{}{}
	require.NoError(t, e.Flush(t.Context()))

	require.Equal(t, []sentBatch{
		{records: 1, baseSeq: 0, producer: 7},
		{records: 3, baseSeq: 1, producer: 7},
		{records: 1, baseSeq: 4, producer: 7},
	}, s.batches)
	got := c.records()
	require.Len(t, got, 6)
	require.EqualError(t, got[4].err, "disk full")
	require.Equal(t, int64(-1), got[4].offset)
	require.Equal(t, int64(4), got[5].offset)
}

func TestSequenceWraps(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{Idempotent: true})
	s := &sink{}
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: record.BuildOptions{ProducerID: 1}}, s)
	p.nextSeq = math.MaxInt32 - 1 // only the sender touches it, and none runs yet
	var c collector
	produce(t, e, p, &rec{key: "a"}, c.promise)
	produce(t, e, p, &rec{key: "b"}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	produce(t, e, p, &rec{key: "c"}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	var seqs []int32
	for _, b := range s.batches {
		seqs = append(seqs, b.baseSeq)
	}
	// Whether a and b share a batch depends on when the sender takes the
	// first; either way the sequence wraps from MaxInt32 to 0.
	if len(seqs) == 2 {
		require.Equal(t, []int32{math.MaxInt32 - 1, 0}, seqs)
	} else {
		require.Equal(t, []int32{math.MaxInt32 - 1, math.MaxInt32, 0}, seqs)
	}
}

func TestSentFollowsSuccessfulSends(t *testing.T) {
	e := newEngine(t, nil, Config[*rec]{})
	s := &sink{}
	p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
	var c collector
	produce(t, e, p, &rec{key: "a"}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	s.mu.Lock()
	s.fail = errors.New("refused")
	s.mu.Unlock()
	produce(t, e, p, &rec{key: "b"}, c.promise)
	require.NoError(t, e.Flush(t.Context()))
	e.Close() // the sender has exited: Sent has run
	s.mu.Lock()
	require.Equal(t, []Result{{Base: 0, Last: 0}}, s.sent, "Sent only for the batch stored")
	s.mu.Unlock()
	bytes, records := e.Buffered()
	require.Zero(t, bytes, "a failed batch releases its space too")
	require.Zero(t, records)
}
