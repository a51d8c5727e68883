package memnet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

func TestSendDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		r := listen(t, n, 2)
		for seq := range uint64(5) {
			send(t, n, fetch(1, 2, seq))
		}
		synctest.Wait()
		require.Equal(t, []uint64{0, 1, 2, 3, 4}, r.seqs())
		start := time.Now()
		for _, a := range r.got() {
			require.Equal(t, start, a.at, "a perfect network delivers at once")
		}
		s := n.Stats()
		require.Equal(t, Counters{Sent: 5, Delivered: 5}, s.Counters)
		require.Equal(t, map[Link]Counters{{1, 2}: {Sent: 5, Delivered: 5}}, s.Links)
	})
}

// TestDeliveryOrder checks the order of messages due at the same instant:
// by sender, then by number on the link.
func TestDeliveryOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{MinDelay: 5 * time.Millisecond, MaxDelay: 5 * time.Millisecond}})
		defer n.Close()
		r := listen(t, n, 0)
		for _, from := range []commitlog.NodeID{3, 1, 2} {
			for seq := range uint64(3) {
				send(t, n, fetch(from, 0, uint64(from)*10+seq))
			}
		}
		advance(5 * time.Millisecond)
		require.Equal(t, []uint64{10, 11, 12, 20, 21, 22, 30, 31, 32}, r.seqs())
	})
}

// deliveryLog runs four nodes, each sending to every other node 100
// messages 1ms apart, under faults, and returns what each node received,
// in order.
func deliveryLog(t *testing.T, seed uint64, f Faults, encode bool) []string {
	var log []string
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Seed: seed, Faults: f, Encode: encode})
		defer n.Close()
		const nodes = 4
		var recorders [nodes]*recorder
		for node := range commitlog.NodeID(nodes) {
			recorders[node] = listen(t, n, node)
		}
		var senders sync.WaitGroup
		for from := range commitlog.NodeID(nodes) {
			senders.Go(func() {
				for seq := range uint64(100) {
					for to := range commitlog.NodeID(nodes) {
						if to == from {
							continue
						}
						if err := n.Send(context.Background(), fetch(from, to, seq)); err != nil {
							t.Error(err)
						}
					}
					<-time.After(time.Millisecond)
				}
			})
		}
		senders.Wait()
		advance(time.Second)
		require.Zero(t, n.Stats().InFlight())
		for _, r := range recorders {
			for _, a := range r.got() {
				log = append(log, fmt.Sprintf("%v @%v", a, a.at.UnixNano()))
			}
		}
	})
	return log
}

func TestDeliveriesReproducibleFromSeed(t *testing.T) {
	f := Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1, MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	for _, encode := range []bool{false, true} {
		first := deliveryLog(t, 1, f, encode)
		require.NotEmpty(t, first)
		require.Equal(t, first, deliveryLog(t, 1, f, encode), "the same seed")
		require.NotEqual(t, first, deliveryLog(t, 2, f, encode), "another seed")
	}
	require.Equal(t, deliveryLog(t, 3, f, false), deliveryLog(t, 3, f, true), "the encoding changes nothing")
}

func TestSendCopies(t *testing.T) {
	for _, encode := range []bool{false, true} {
		t.Run(fmt.Sprint("encode=", encode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Every message is duplicated: two deliveries, two copies.
				n := New(Config{Encode: encode, Faults: Faults{Duplicate: 1}})
				defer n.Close()
				r := listen(t, n, 2)
				records := []byte("records")
				m := response(1, 2, 7, records)
				send(t, n, m)
				copy(records, "XXXXXXX") // the sender reuses its memory at once
				m.Body.(*commitlog.FetchResponse).Seq = 8
				synctest.Wait()

				got := r.got()
				require.Len(t, got, 2)
				want := response(1, 2, 7, []byte("records"))
				for _, a := range got {
					require.Equal(t, want, a.msg)
				}
				// Each delivery is the receiver's own.
				got[0].msg.Body.(*commitlog.FetchResponse).Records[0] = 'R'
				got[0].msg.Body.(*commitlog.FetchResponse).Seq = 9
				require.Equal(t, want, got[1].msg)
				require.Equal(t, Counters{Sent: 1, Delivered: 2, Duplicated: 1}, n.Stats().Counters)
			})
		})
	}
}

// TestSendCopiesControllerMessages: a ControllerMessage's Data is copied
// like a FetchResponse's Records, by Clone and through the encoding.
func TestSendCopiesControllerMessages(t *testing.T) {
	for _, encode := range []bool{false, true} {
		t.Run(fmt.Sprint("encode=", encode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(Config{Encode: encode, Faults: Faults{Duplicate: 1}})
				defer n.Close()
				r := listen(t, n, 2)
				data := []byte("raft message")
				send(t, n, commitlog.Message{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.ControllerMessage{Data: data}})
				copy(data, "XXXX") // the sender reuses its memory at once
				synctest.Wait()

				got := r.got()
				require.Len(t, got, 2)
				want := commitlog.Message{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.ControllerMessage{Data: []byte("raft message")}}
				for _, a := range got {
					require.Equal(t, want, a.msg)
				}
				got[0].msg.Body.(*commitlog.ControllerMessage).Data[0] = 'R'
				require.Equal(t, want, got[1].msg, "two deliveries share Data")
			})
		})
	}
}

// TestEncodeRoundTrips sends every kind of message, with every field set,
// through the encoding.
func TestEncodeRoundTrips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Encode: true})
		defer n.Close()
		r := listen(t, n, 2)
		msgs := []commitlog.Message{
			{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.FetchRequest{
				Topic: "orders", Partition: 3, ReplicaEpoch: 4, Seq: 5, CurrentLeaderEpoch: 6, FetchOffset: 7,
				AckedOffset: 8, LastFetchedEpoch: 9, LogStartOffset: 10, MaxBytes: 11, MaxWait: time.Second,
			}},
			{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.FetchResponse{
				Topic: "orders", Partition: 3, Seq: 5, LeaderEpoch: 6, Error: commitlog.FetchStaleFetch, HighWatermark: 7,
				LogStartOffset: 8, DivergingEpoch: 9, DivergingEndOffset: 10, BaseOffset: 11, Records: []byte{1, 2, 3},
			}},
			{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.FetchResponse{BaseOffset: -1, DivergingEpoch: -1}},
			{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.ControllerMessage{Data: []byte("raft")}},
			{Version: commitlog.MessageVersion, From: 1, To: 2, Body: &commitlog.ControllerMessage{}},
		}
		for _, m := range msgs {
			send(t, n, m)
		}
		synctest.Wait()
		var got []commitlog.Message
		for _, a := range r.got() {
			got = append(got, a.msg)
		}
		require.Equal(t, msgs, got)
	})
}

func TestSendErrors(t *testing.T) {
	for _, encode := range []bool{false, true} {
		n := New(Config{Encode: encode})
		ctx := context.Background()
		bad := fetch(1, 2, 0)
		bad.Version = 0
		require.ErrorIs(t, n.Send(ctx, bad), commitlog.ErrUnknownMessageVersion)
		require.ErrorIs(t, n.Send(ctx, commitlog.Message{Version: commitlog.MessageVersion, From: 1, To: 2}), commitlog.ErrInvalidArgument)
		require.ErrorIs(t, n.Send(ctx, fetch(1, commitlog.NoNode, 0)), commitlog.ErrInvalidArgument)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		require.ErrorIs(t, n.Send(cancelled, fetch(1, 2, 0)), context.Canceled)
		require.Equal(t, Counters{}, n.Stats().Counters, "refused messages are not sent")

		require.NoError(t, n.Close())
		err := n.Send(ctx, fetch(1, 2, 0))
		require.ErrorIs(t, err, commitlog.ErrClosed)
		require.Contains(t, err.Error(), "closed")
	}
}

func TestListenErrors(t *testing.T) {
	n := New(Config{})
	nop := func(commitlog.Message) {}
	_, err := n.Listen(commitlog.NoNode, nop)
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	_, err = n.Listen(1, nil)
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	stop, err := n.Listen(1, nop)
	require.NoError(t, err)
	_, err = n.Listen(1, nop)
	require.ErrorIs(t, err, commitlog.ErrInvalidArgument)
	require.Contains(t, err.Error(), "already listening")
	stop()
	stop, err = n.Listen(1, nop) // listening again after stop
	require.NoError(t, err)
	require.NoError(t, n.Close())
	stop() // a no-op after Close
	_, err = n.Listen(2, nop)
	require.ErrorIs(t, err, commitlog.ErrClosed)
}

func TestSendToNodeNotListening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		send(t, n, fetch(1, 2, 1))
		r := listen(t, n, 2)
		send(t, n, fetch(1, 2, 2))
		synctest.Wait()
		require.Equal(t, []uint64{2}, r.seqs(), "a message sent before its receiver listens is lost")
		require.Equal(t, Counters{Sent: 2, Delivered: 1, DroppedUnreachable: 1}, n.Stats().Counters)
	})
}

func TestStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}})
		defer n.Close()
		r := &recorder{t: t}
		stop, err := n.Listen(2, r.deliver)
		require.NoError(t, err)
		send(t, n, fetch(1, 2, 1))
		advance(10 * time.Millisecond)
		send(t, n, fetch(1, 2, 2)) // pending when stop is called
		stop()
		stop() // idempotent
		advance(time.Second)
		require.Equal(t, []uint64{1}, r.seqs())
		require.Equal(t, Counters{Sent: 2, Delivered: 1, DroppedUnreachable: 1}, n.Stats().Counters)

		// The node listens again: new messages reach it, the dropped one
		// stays dropped.
		r2 := listen(t, n, 2)
		send(t, n, fetch(1, 2, 3))
		advance(10 * time.Millisecond)
		require.Equal(t, []uint64{3}, r2.seqs())
		require.Equal(t, []uint64{1}, r.seqs())
	})
}

// TestStopWaitsForDeliver checks that stop returns only once a deliver in
// progress has returned, and that no deliver follows.
func TestStopWaitsForDeliver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		entered, release := make(chan struct{}), make(chan struct{})
		var delivered []uint64
		stop, err := n.Listen(2, func(m commitlog.Message) {
			delivered = append(delivered, seqOf(m))
			if len(delivered) == 1 {
				close(entered)
				<-release // a deliver that blocks, to hold the goroutine inside it
			}
		})
		require.NoError(t, err)
		send(t, n, fetch(1, 2, 1))
		send(t, n, fetch(1, 2, 2))
		<-entered
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while deliver was running")
		default:
		}
		close(release)
		<-stopped
		require.Equal(t, []uint64{1}, delivered, "a deliver after stop")
		require.Equal(t, Counters{Sent: 2, Delivered: 1, DroppedUnreachable: 1}, n.Stats().Counters)
	})
}

// TestCloseStopsGoroutines closes a Network with listeners and messages in
// flight: synctest.Test fails the test unless every goroutine of the
// bubble, the Network's included, has exited when the function returns.
func TestCloseStopsGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{MinDelay: time.Millisecond, MaxDelay: time.Hour}})
		for node := range commitlog.NodeID(5) {
			_, err := n.Listen(node, func(commitlog.Message) {})
			require.NoError(t, err)
			for to := range commitlog.NodeID(5) {
				send(t, n, fetch(node, to, 0))
			}
		}
		advance(time.Second)
		require.NoError(t, n.Close())
		require.NoError(t, n.Close()) // idempotent
		s := n.Stats()
		require.Zero(t, s.InFlight(), "Close dropped what was in flight")
		require.Equal(t, uint64(25), s.Sent)
		require.Equal(t, s.Sent, s.Delivered+s.DroppedUnreachable)
	})
}

// TestConcurrentUse drives a Network from many goroutines at once in real
// time, for the race detector, and checks that every message is accounted
// for.
func TestConcurrentUse(t *testing.T) {
	n := New(Config{Seed: 5, Faults: Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1, MaxDelay: time.Microsecond}})
	const nodes = 4
	for node := range commitlog.NodeID(nodes) {
		listen(t, n, node)
	}
	var wg sync.WaitGroup
	for from := range commitlog.NodeID(nodes) {
		wg.Go(func() {
			for seq := range uint64(500) {
				to := commitlog.NodeID(seq % nodes)
				if err := n.Send(context.Background(), response(from, to, seq, []byte("r"))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 100 {
			n.Block(1, 2)
			n.Partition([]commitlog.NodeID{0}, []commitlog.NodeID{3})
			n.SetLinkFaults(2, 3, Faults{Drop: 0.5})
			n.Heal()
			n.SetFaults(Faults{Drop: float64(i%3) / 10})
			_ = n.Stats()
		}
	})
	wg.Wait()
	require.NoError(t, n.Close())
	s := n.Stats()
	require.Equal(t, uint64(nodes*500), s.Sent)
	require.Zero(t, s.InFlight())
	var sum Counters
	for _, c := range s.Links {
		sum.Sent += c.Sent
		sum.Delivered += c.Delivered
		sum.DroppedByFault += c.DroppedByFault
		sum.DroppedByPartition += c.DroppedByPartition
		sum.DroppedUnreachable += c.DroppedUnreachable
		sum.Duplicated += c.Duplicated
		sum.Reordered += c.Reordered
	}
	require.Equal(t, s.Counters, sum, "the links' counters add up to the total")
}

// TestDeliverMaySend has a node answer each message from inside deliver.
func TestDeliverMaySend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		r := listen(t, n, 1)
		_, err := n.Listen(2, func(m commitlog.Message) {
			if err := n.Send(context.Background(), response(2, m.From, seqOf(m), nil)); err != nil {
				t.Error(err)
			}
		})
		require.NoError(t, err)
		for seq := range uint64(3) {
			send(t, n, fetch(1, 2, seq))
		}
		synctest.Wait()
		require.Equal(t, []uint64{0, 1, 2}, r.seqs())
	})
}
