package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/commitlog-go/commitlog"
)

// Mux shares one commitlog.Transport between a node's Log and its
// controller. A Transport takes one listener per node; Mux takes that
// listener and hands each delivered message to one of two: a
// *commitlog.ControllerMessage to the listener registered with
// ListenController, every other message to the one registered with
// Listen. Open the node's Log with the Mux as Options.Transport and give
// the same Mux to its RaftController: the root module then needs nothing
// more than the ControllerMessage body to carry Raft.
//
// A message whose listener is not registered is dropped, as a Transport
// drops a message to a node not listening. Mux adds no ordering, retries
// or copies: delivery is the wrapped Transport's, with its guarantees
// (none, see commitlog.Transport).
//
// Mux is safe for concurrent use.
type Mux struct {
	tr commitlog.Transport

	mu    sync.Mutex // guards nodes; held while listening on or stopping tr
	nodes map[commitlog.NodeID]*muxNode
}

// muxNode is one node listening through the Mux.
type muxNode struct {
	stop func() // stops the listener on the wrapped Transport

	dmu  sync.Mutex // held while delivering, so that a stop waits for it
	log  func(commitlog.Message)
	ctrl func(commitlog.Message)
}

// NewMux returns a Mux over tr.
func NewMux(tr commitlog.Transport) *Mux {
	return &Mux{tr: tr, nodes: map[commitlog.NodeID]*muxNode{}}
}

// Listen implements commitlog.Transport: deliver receives every message
// to node but ControllerMessages. Its contract is Transport.Listen's; it
// fails with an error matching commitlog.ErrInvalidArgument when node
// already has such a listener, and with the wrapped Transport's errors.
func (m *Mux) Listen(node commitlog.NodeID, deliver func(commitlog.Message)) (stop func(), err error) {
	return m.listen(node, deliver, false)
}

// ListenController is Listen for the node's controller: deliver receives
// the ControllerMessages to node, one at a time, until stop is called,
// with Transport.Listen's contract.
func (m *Mux) ListenController(node commitlog.NodeID, deliver func(commitlog.Message)) (stop func(), err error) {
	return m.listen(node, deliver, true)
}

func (m *Mux) listen(node commitlog.NodeID, deliver func(commitlog.Message), ctrl bool) (func(), error) {
	if deliver == nil {
		return nil, fmt.Errorf("%w: cluster: Mux listener of node %d: deliver is nil", commitlog.ErrInvalidArgument, node)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[node]
	if n == nil {
		n = &muxNode{}
		stop, err := m.tr.Listen(node, n.deliver)
		if err != nil {
			return nil, err
		}
		n.stop = stop
		m.nodes[node] = n
	}
	n.dmu.Lock()
	defer n.dmu.Unlock()
	slot := &n.log
	if ctrl {
		slot = &n.ctrl
	}
	if *slot != nil {
		return nil, fmt.Errorf("%w: cluster: node %d already has a %s listener on the Mux (stop it first)",
			commitlog.ErrInvalidArgument, node, map[bool]string{false: "Log", true: "controller"}[ctrl])
	}
	*slot = deliver
	var once sync.Once
	return func() { once.Do(func() { m.unlisten(node, n, slot) }) }, nil
}

// unlisten clears one of n's listeners, waiting for a delivery to it in
// progress, and stops listening on the wrapped Transport once both are
// clear.
func (m *Mux) unlisten(node commitlog.NodeID, n *muxNode, slot *func(commitlog.Message)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.dmu.Lock()
	*slot = nil
	idle := n.log == nil && n.ctrl == nil
	n.dmu.Unlock()
	if idle && m.nodes[node] == n {
		delete(m.nodes, node)
		n.stop() // waits for a delivery in progress, which takes only n.dmu
	}
}

// deliver is the wrapped Transport's delivery function for the node.
func (n *muxNode) deliver(msg commitlog.Message) {
	n.dmu.Lock()
	defer n.dmu.Unlock()
	to := n.log
	if _, ok := msg.Body.(*commitlog.ControllerMessage); ok {
		to = n.ctrl
	}
	if to != nil {
		to(msg)
	}
}

// Send implements commitlog.Transport: it sends m on the wrapped
// Transport.
func (m *Mux) Send(ctx context.Context, msg commitlog.Message) error {
	return m.tr.Send(ctx, msg)
}

// PeerAddr implements commitlog.PeerAddresser when the wrapped
// Transport does; "" otherwise.
func (m *Mux) PeerAddr(node commitlog.NodeID) string {
	if pa, ok := m.tr.(commitlog.PeerAddresser); ok {
		return pa.PeerAddr(node)
	}
	return ""
}

var (
	_ commitlog.Transport     = (*Mux)(nil)
	_ commitlog.PeerAddresser = (*Mux)(nil)
	_ commitlog.PeerAddresser = (*TCPTransport)(nil)
)
