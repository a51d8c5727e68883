package memnet

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
)

// Config configures a Network. The zero value is a perfect network
// delivering every message at once, with seed 0.
type Config struct {
	// Seed decides every fault (see Faults): two Networks with the same
	// Seed and the same sends per link treat every message alike. 0 is a
	// seed like any other.
	Seed uint64
	// Faults are every link's faults until SetFaults or SetLinkFaults
	// changes them. The zero value: none.
	Faults Faults
	// Encode sends each message through its binary encoding
	// (Message.MarshalBinary, then UnmarshalBinary for each delivery), as a
	// network transport would, to exercise the codec. Off, Send copies
	// messages with Message.Clone.
	Encode bool
}

// Link is a direction between two nodes: the messages From sends To.
type Link struct {
	From, To commitlog.NodeID
}

// Network connects nodes in one process: a commitlog.Transport that moves
// messages through memory, with faults drawn from a seed (see the package
// documentation). Create one with New; its methods are safe for
// concurrent use. Close it to stop its goroutines.
type Network struct {
	seed   uint64
	encode bool

	// mu guards everything below, and every listener's queue and stopped
	// flag. It is never held while a deliver function runs.
	mu        sync.Mutex
	closed    bool
	faults    Faults // normalized
	links     map[Link]*linkState
	listeners map[commitlog.NodeID]*listener
	cuts      cuts
	total     Counters

	// listening counts the listeners' goroutines, for Close to wait for.
	listening sync.WaitGroup
}

var _ commitlog.Transport = (*Network)(nil)

// linkState is what the Network keeps of one link.
type linkState struct {
	seq uint64 // of the last message sent over the link; the first is 1
	// inOrder is the delivery time of the link's latest message that was
	// neither held back nor a duplicate: the next such message is not
	// delivered before it.
	inOrder  time.Time
	faults   *Faults // normalized; nil: the Network's
	counters Counters
}

// New returns a Network configured by cfg. It starts no goroutine until a
// node listens.
func New(cfg Config) *Network {
	return &Network{
		seed:      cfg.Seed,
		encode:    cfg.Encode,
		faults:    cfg.Faults.normalized(),
		links:     map[Link]*linkState{},
		listeners: map[commitlog.NodeID]*listener{},
	}
}

// linkLocked returns l's state, creating it on first use.
// REQUIRES: n.mu held.
func (n *Network) linkLocked(l Link) *linkState {
	ls := n.links[l]
	if ls == nil {
		ls = &linkState{}
		n.links[l] = ls
	}
	return ls
}

// count adds one to the counter that field picks, for link ls and in total.
// REQUIRES: n.mu held.
func (n *Network) count(ls *linkState, field func(*Counters) *uint64) {
	*field(&ls.counters)++
	*field(&n.total)++
}

// Listen makes node reachable: from now until stop is called, every
// message sent to node is handed to deliver, one at a time, on a goroutine
// of node's own (see commitlog.Transport.Listen for the contract). Messages
// sent to node before it listens were dropped; those pending when stop is
// called are dropped. deliver may call Send (a node answering at once),
// but stop is idempotent and waits for a deliver in progress, so calling
// it (or Close) from deliver deadlocks. A node may listen again after its
// stop.
//
// Listen returns an error matching commitlog.ErrInvalidArgument for a
// negative node, a nil deliver or a node already listening, and one
// matching commitlog.ErrClosed after Close.
func (n *Network) Listen(node commitlog.NodeID, deliver func(commitlog.Message)) (stop func(), err error) {
	switch {
	case node < 0:
		return nil, fmt.Errorf("memnet: Listen: %w: node %d: node ids are not negative", commitlog.ErrInvalidArgument, node)
	case deliver == nil:
		return nil, fmt.Errorf("memnet: Listen: %w: node %d: deliver is nil", commitlog.ErrInvalidArgument, node)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("memnet: Listen: node %d: the Network is closed: %w", node, commitlog.ErrClosed)
	}
	if n.listeners[node] != nil {
		return nil, fmt.Errorf("memnet: Listen: %w: node %d is already listening: call its stop first", commitlog.ErrInvalidArgument, node)
	}
	l := &listener{node: node, deliver: deliver, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	n.listeners[node] = l
	n.listening.Go(func() { n.run(l) })
	return func() {
		n.mu.Lock()
		n.stopLocked(l)
		n.mu.Unlock()
		<-l.exited
	}, nil
}

// Send hands m to the network for delivery to m.To, and returns without
// waiting for it (see commitlog.Transport.Send for the contract). It
// copies m (through its encoding under Config.Encode), once for each
// delivery, before it returns. m's fate (lost, delayed, duplicated, held
// back) depends only on the Seed, the link from m.From to m.To and how
// many messages were sent over it before; it is lost too when the link is
// cut (Block, Partition, Isolate) when m is sent or when it is due, and
// when m.To is not listening then.
//
// Send returns the error of m.Validate for a message no transport can
// carry, ctx.Err() when ctx is done, and an error matching
// commitlog.ErrClosed after Close.
func (n *Network) Send(ctx context.Context, m commitlog.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := n.copy(m)
	if err != nil {
		return err
	}
	l := Link{From: m.From, To: m.To}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("memnet: Send from node %d to node %d: the Network is closed: %w", m.From, m.To, commitlog.ErrClosed)
	}
	ls := n.linkLocked(l)
	ls.seq++
	n.count(ls, sentCount)
	dst := n.listeners[l.To]
	switch {
	case n.cuts.cut(l):
		n.count(ls, droppedByPartitionCount)
		return nil
	case dst == nil:
		n.count(ls, droppedUnreachableCount)
		return nil
	}
	faults := n.faults
	if ls.faults != nil {
		faults = *ls.faults
	}
	f := decide(n.seed, l, ls.seq, faults)
	if f.drop {
		n.count(ls, droppedByFaultCount)
		return nil
	}
	at := time.Now().Add(f.delay)
	if f.reorder {
		at = at.Add(f.hold)
		n.count(ls, reorderedCount)
	} else {
		if at.Before(ls.inOrder) {
			at = ls.inOrder
		}
		ls.inOrder = at
	}
	if f.duplicate {
		dup, err := n.copy(c)
		if err != nil {
			return err
		}
		n.count(ls, duplicatedCount)
		heap.Push(&dst.queue, &delivery{at: at.Add(f.duplicateDelay), link: l, seq: ls.seq, copy: 1, msg: dup})
	}
	heap.Push(&dst.queue, &delivery{at: at, link: l, seq: ls.seq, msg: c})
	dst.signal()
	return nil
}

// copy returns a copy of m sharing no memory with it: through its encoding
// under Config.Encode, by Clone otherwise.
func (n *Network) copy(m commitlog.Message) (commitlog.Message, error) {
	if !n.encode {
		return m.Clone(), nil
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return commitlog.Message{}, fmt.Errorf("memnet: encoding a message from node %d to node %d: %w", m.From, m.To, err)
	}
	var c commitlog.Message
	if err := c.UnmarshalBinary(b); err != nil {
		return commitlog.Message{}, fmt.Errorf("memnet: decoding a message from node %d to node %d as encoded: %w", m.From, m.To, err)
	}
	return c, nil
}

// Close stops every listener, dropping the messages not yet delivered,
// and returns once all the Network's goroutines have exited. Listen and
// Send fail after it with an error matching commitlog.ErrClosed; stop
// functions and the other methods still work (and change nothing that
// matters). Close is idempotent and always returns nil. Calling it from a
// deliver function deadlocks.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	for _, l := range n.listeners {
		n.stopLocked(l)
	}
	n.mu.Unlock()
	n.listening.Wait()
	return nil
}

// stopLocked stops listener l: it leaves the Network, its pending messages
// are dropped, and its goroutine is told to exit. A no-op for a stopped
// listener. REQUIRES: n.mu held.
func (n *Network) stopLocked(l *listener) {
	if l.stopped {
		return
	}
	l.stopped = true
	delete(n.listeners, l.node)
	for _, d := range l.queue {
		n.count(n.linkLocked(d.link), droppedUnreachableCount)
	}
	l.queue = nil
	l.signal()
}

// listener is a node listening, with the messages due to it.
type listener struct {
	node    commitlog.NodeID
	deliver func(commitlog.Message)
	// wake, of capacity 1, tells the goroutine to look again at queue and
	// stopped; exited is closed when the goroutine returns.
	wake   chan struct{}
	exited chan struct{}

	// Guarded by the Network's mu.
	queue   deliveryQueue
	stopped bool
}

// signal wakes l's goroutine if it waits; a wake-up already pending will do.
func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is l's goroutine: it delivers l's messages as they fall due, in the
// order of the queue, until l stops.
func (n *Network) run(l *listener) {
	defer close(l.exited)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n.mu.Lock()
		if l.stopped {
			n.mu.Unlock()
			return
		}
		wait := time.Duration(-1) // no message pending
		if len(l.queue) > 0 {
			now := time.Now()
			if next := l.queue[0]; next.at.After(now) {
				wait = next.at.Sub(now)
			} else {
				d := heap.Pop(&l.queue).(*delivery)
				ls := n.linkLocked(d.link)
				if n.cuts.cut(d.link) {
					n.count(ls, droppedByPartitionCount)
					n.mu.Unlock()
					continue
				}
				n.count(ls, deliveredCount)
				n.mu.Unlock()
				l.deliver(d.msg)
				continue
			}
		}
		n.mu.Unlock()
		timer.Stop()
		var due <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-l.wake:
		case <-due:
		}
	}
}

// delivery is one message on its way to a listener: one copy of one
// message sent.
type delivery struct {
	at   time.Time // when it is due
	link Link
	seq  uint64 // its sequence number on link
	copy int    // 0: the original; 1: the duplicate
	msg  commitlog.Message
}

// deliveryQueue orders a listener's deliveries by (due time, sender, link
// sequence number, copy): a min-heap under container/heap.
type deliveryQueue []*delivery

func (q deliveryQueue) Len() int { return len(q) }

func (q deliveryQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	switch {
	case !a.at.Equal(b.at):
		return a.at.Before(b.at)
	case a.link.From != b.link.From:
		return a.link.From < b.link.From
	case a.seq != b.seq:
		return a.seq < b.seq
	}
	return a.copy < b.copy
}

func (q deliveryQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

func (q *deliveryQueue) Push(x any) { *q = append(*q, x.(*delivery)) }

func (q *deliveryQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return d
}
