package memnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// fetch returns a FetchRequest message from one node to another whose Seq
// names it.
func fetch(from, to commitlog.NodeID, seq uint64) commitlog.Message {
	return commitlog.Message{Version: commitlog.MessageVersion, From: from, To: to,
		Body: &commitlog.FetchRequest{Topic: "t", Seq: seq}}
}

// response returns a FetchResponse message carrying records.
func response(from, to commitlog.NodeID, seq uint64, records []byte) commitlog.Message {
	return commitlog.Message{Version: commitlog.MessageVersion, From: from, To: to,
		Body: &commitlog.FetchResponse{Topic: "t", Seq: seq, BaseOffset: 0, DivergingEpoch: -1, Records: records}}
}

// seqOf returns the Seq of a message's body.
func seqOf(m commitlog.Message) uint64 {
	switch b := m.Body.(type) {
	case *commitlog.FetchRequest:
		return b.Seq
	case *commitlog.FetchResponse:
		return b.Seq
	}
	return 0
}

// arrival is one delivery a recorder saw.
type arrival struct {
	at  time.Time
	msg commitlog.Message
}

func (a arrival) String() string {
	return fmt.Sprintf("%d->%d #%d", a.msg.From, a.msg.To, seqOf(a.msg))
}

// recorder keeps what is delivered to one node, and fails the test if two
// deliveries to it overlap.
type recorder struct {
	t        testing.TB
	mu       sync.Mutex
	inside   bool
	arrivals []arrival
}

func (r *recorder) deliver(m commitlog.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inside {
		r.t.Errorf("concurrent deliveries to node %d", m.To)
	}
	r.inside = true
	r.arrivals = append(r.arrivals, arrival{at: time.Now(), msg: m})
	r.inside = false
}

// got returns a copy of what was delivered so far.
func (r *recorder) got() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.arrivals)
}

// seqs returns the Seqs of what was delivered so far, in delivery order.
func (r *recorder) seqs() []uint64 {
	var out []uint64
	for _, a := range r.got() {
		out = append(out, seqOf(a.msg))
	}
	return out
}

// listen makes node listen on n with a new recorder, stopped at the end of
// the test.
func listen(t testing.TB, n *Network, node commitlog.NodeID) *recorder {
	t.Helper()
	r := &recorder{t: t}
	stop, err := n.Listen(node, r.deliver)
	require.NoError(t, err)
	t.Cleanup(stop)
	return r
}

// send sends m on n and requires it to be accepted.
func send(t testing.TB, n *Network, m commitlog.Message) {
	t.Helper()
	require.NoError(t, n.Send(context.Background(), m))
}

// advance lets d of virtual time pass and then waits until every other
// goroutine of the bubble is blocked. Inside a synctest bubble, time moves
// only while every goroutine is blocked, so when advance returns,
// everything due within d has been delivered.
func advance(d time.Duration) {
	<-time.After(d)
	synctest.Wait()
}
