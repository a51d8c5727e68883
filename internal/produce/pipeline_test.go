package produce

import (
	"errors"
	"math"
	"testing"
	"testing/synctest"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/stretchr/testify/require"
)

// pipeliningSink returns a sink whose every stored batch awaits an
// acknowledgement the test gives.
func pipeliningSink() *sink { return &sink{pending: make(chan pendingAck, 100)} }

// keys returns the keys of recs.
func keys(recs []*rec) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.key)
	}
	return out
}

// Batches of one partition are stored while earlier ones await their
// acknowledgements, up to MaxInFlight; each is reported only once its own
// acknowledgement has come, in the order they were sent, and the Acks are
// called in that order.
func TestPipelineSendsWhileAcksWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxInFlight: 3})
		s := pipeliningSink()
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		var acks []pendingAck
		for _, k := range []string{"a", "b", "c"} {
			produce(t, e, p, &rec{key: k}, c.promise)
			acks = append(acks, <-s.pending) // stored before the earlier ones are acknowledged
		}
		produce(t, e, p, &rec{key: "d"}, c.promise)
		synctest.Wait()
		require.Empty(t, s.pending, "no fourth batch while three are in flight")
		require.Equal(t, []int{1, 1, 1}, s.sizes())
		require.True(t, acks[0].wasCalled())
		require.False(t, acks[1].wasCalled(), "Acks are called in order")

		acks[1].answer <- nil // b is acknowledged before a
		synctest.Wait()
		require.Empty(t, c.records(), "b is not reported before a")
		acks[0].answer <- nil
		acks = append(acks, <-s.pending) // room: d is sent
		synctest.Wait()
		require.Equal(t, []string{"a", "b"}, keys(c.records()))
		require.False(t, acks[3].wasCalled(), "d waits behind c")

		acks[3].answer <- nil
		acks[2].answer <- nil
		require.NoError(t, e.Flush(t.Context()))
		got := c.records()
		require.Equal(t, []string{"a", "b", "c", "d"}, keys(got))
		for i, r := range got {
			require.NoError(t, r.err)
			require.Equal(t, int64(i), r.offset)
		}
		s.mu.Lock()
		require.Len(t, s.sent, 4, "Sent follows every acknowledged batch")
		s.mu.Unlock()
	})
}

// A batch acknowledged at Send waits behind the batches in flight before
// it, and goes straight to the completer once none is.
func TestPipelineKeepsOrderWithBatchesAcknowledgedAtSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxInFlight: 5})
		s := pipeliningSink()
		s.pipelined = 1
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		produce(t, e, p, &rec{key: "a"}, c.promise)
		ack := <-s.pending
		produce(t, e, p, &rec{key: "b"}, c.promise)
		synctest.Wait()
		require.Equal(t, []int{1, 1}, s.sizes(), "b is stored")
		require.Empty(t, c.records(), "b, acknowledged at Send, waits for a")
		ack.answer <- nil
		synctest.Wait()
		require.Equal(t, []string{"a", "b"}, keys(c.records()))
		produce(t, e, p, &rec{key: "c"}, c.promise)
		require.NoError(t, e.Flush(t.Context()))
		require.Equal(t, []string{"a", "b", "c"}, keys(c.records()))
	})
}

// A failed acknowledgement fails its batch and every later one stored
// before the failure was seen, the one being sent then included, without
// calling their Acks; the next batch starts a new producer epoch at
// sequence 0 and is acknowledged on its own.
func TestPipelineFailureFailsTheLaterBatchesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, nil, Config[*rec]{MaxInFlight: 5, Idempotent: true})
		s := pipeliningSink()
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: record.BuildOptions{ProducerID: 7}}, s)
		var c collector
		var acks []pendingAck
		for _, k := range []string{"a", "b"} {
			produce(t, e, p, &rec{key: k}, c.promise)
			acks = append(acks, <-s.pending)
		}
		// c is taken to be sent before a's failure is seen, and stored
		// after it.
		s.mu.Lock()
		s.entered, s.gate = make(chan struct{}, 1), make(chan struct{}, 1)
		s.mu.Unlock()
		produce(t, e, p, &rec{key: "c"}, c.promise)
		<-s.entered
		failure := errors.New("not leader any more")
		acks[0].answer <- failure
		synctest.Wait()
		s.gate <- struct{}{}
		acks = append(acks, <-s.pending)
		synctest.Wait()
		got := c.records()
		require.Equal(t, []string{"a", "b", "c"}, keys(got))
		for _, r := range got {
			require.ErrorIs(t, r.err, failure)
			require.Equal(t, int64(-1), r.offset)
		}
		require.False(t, acks[1].wasCalled(), "b's Ack is not called: it follows a failed batch")
		require.False(t, acks[2].wasCalled())

		produce(t, e, p, &rec{key: "d"}, c.promise)
		<-s.entered
		s.gate <- struct{}{}
		acks = append(acks, <-s.pending)
		acks[3].answer <- nil
		require.NoError(t, e.Flush(t.Context()))
		got = c.records()
		require.Len(t, got, 4)
		require.NoError(t, got[3].err)
		require.True(t, acks[3].wasCalled())
		require.Equal(t, []sentBatch{
			{records: 1, baseSeq: 0, producer: 7, epoch: 0},
			{records: 1, baseSeq: 1, producer: 7, epoch: 0},
			{records: 1, baseSeq: 2, producer: 7, epoch: 0},
			{records: 1, baseSeq: 0, producer: 7, epoch: 1},
		}, s.batches, "the batch after the failure starts epoch 1 at sequence 0")
	})
}

// Past the last epoch a partition takes a new producer id; without one
// its batches fail, and the next tries again.
func TestPipelineEpochsExhausted(t *testing.T) {
	for _, withIDs := range []bool{true, false} {
		name := map[bool]string{true: "new producer id", false: "no producer ids"}[withIDs]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config[*rec]{MaxInFlight: 5, Idempotent: true}
				ids := 0
				if withIDs {
					cfg.NewProducerID = func() (int64, error) { ids++; return 42, nil }
				}
				e := newEngine(t, nil, cfg)
				s := pipeliningSink()
				p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: record.BuildOptions{ProducerID: 7, ProducerEpoch: math.MaxInt16}}, s)
				var c collector
				produce(t, e, p, &rec{key: "a"}, c.promise)
				(<-s.pending).answer <- errors.New("ambiguous")
				require.NoError(t, e.Flush(t.Context()))
				produce(t, e, p, &rec{key: "b"}, c.promise)
				if withIDs {
					(<-s.pending).answer <- nil
				}
				require.NoError(t, e.Flush(t.Context()))
				got := c.records()
				require.Len(t, got, 2)
				if !withIDs {
					require.ErrorContains(t, got[1].err, "used every epoch")
					require.Len(t, s.batches, 1, "b is not sent")
					return
				}
				require.NoError(t, got[1].err)
				require.Equal(t, 1, ids)
				require.Equal(t, sentBatch{records: 1, baseSeq: 0, producer: 42, epoch: 0}, s.batches[1])
			})
		})
	}
}

// Flush and Close wait for the batches in flight, and Close stops the
// acker (synctest.Test fails on a goroutine left behind).
func TestPipelineFlushAndCloseWaitForAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Config[*rec]{MaxBufferedBytes: 1 << 20, MaxBufferedRecords: 100, MaxInFlight: 2, Encode: encodeRec, Report: reportRec})
		s := pipeliningSink()
		p := e.NewPartition(PartitionConfig{BatchBytes: 1 << 10, Build: plainBuild}, s)
		var c collector
		produce(t, e, p, &rec{key: "a"}, c.promise)
		a := <-s.pending
		flushed := make(chan error, 1)
		go func() { flushed <- e.Flush(t.Context()) }()
		synctest.Wait()
		require.Empty(t, flushed, "Flush waits for a's acknowledgement")
		a.answer <- nil
		require.NoError(t, <-flushed)

		produce(t, e, p, &rec{key: "b"}, c.promise)
		b := <-s.pending
		closed := make(chan struct{})
		go func() { e.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned before b's acknowledgement")
		default:
		}
		b.answer <- nil
		<-closed
		require.Equal(t, []string{"a", "b"}, keys(c.records()))
	})
}
