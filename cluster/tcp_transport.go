package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
)

// TCPConfig configures a TCPTransport. The zero value is node 0
// listening in plaintext on a loopback port the system picks, with no
// peers yet (add them with SetPeer) and the defaults below.
type TCPConfig struct {
	// Node is the node this transport serves: it is named in the
	// handshake of every connection, for the peers' logs and to catch a
	// Peers entry pointing at the wrong node. Messages are routed by
	// their To, not by it: several nodes may listen on one transport.
	Node commitlog.NodeID
	// ListenAddr is the TCP address to accept peers' connections on.
	// Default "127.0.0.1:0": loopback, a port the system picks (see
	// Addr). Listen on another interface only with TLS or on a network
	// you trust: the transport has no other authentication.
	ListenAddr string
	// Peers is where each other node listens (its ListenAddr, as reached
	// from here). Messages to a node neither listening on this transport
	// nor in Peers are dropped. SetPeer changes the map later.
	Peers map[commitlog.NodeID]string
	// TLS, when set, secures every connection: it is the server
	// configuration for connections accepted (Certificates, and
	// ClientCAs with ClientAuth tls.RequireAndVerifyClientCert for mutual
	// TLS) and the client one for connections dialled (RootCAs, and
	// Certificates to present a client certificate). When ServerName is
	// empty it is set to each peer address's host. Every node must agree:
	// a plaintext peer and a TLS one refuse each other. Nil: plaintext.
	// The transport keeps a clone.
	TLS *tls.Config
	// MaxFrameBytes is the largest frame accepted or sent, in bytes,
	// counted as its length prefix counts it (one version byte and the
	// message's encoding, see tcp_frame.go). Send refuses a longer
	// message with a *FrameTooLargeError; a peer announcing a longer frame
	// is disconnected before anything is allocated for it. It should be
	// the same on every node, and above the largest FetchResponse a Log
	// sends (Options.ReplicaFetchMaxBytes, or a single batch larger than
	// that). Default 64 MiB + 4 KiB; at least 1 KiB, at most 2 GiB.
	MaxFrameBytes int
	// SendQueueBytes bounds, per peer, the bytes of frames accepted by
	// Send and not yet written to the connection. A message that does not
	// fit is dropped (see Send); a single frame larger than the bound is
	// accepted when the queue is empty, so the bytes queued for one peer
	// stay at most max(SendQueueBytes, MaxFrameBytes). Default 16 MiB.
	SendQueueBytes int
	// DialTimeout bounds dialling a peer, the TLS handshake and the
	// transport's handshake, both ways. Default 5s.
	DialTimeout time.Duration
	// WriteTimeout bounds one write of queued frames to a peer: a peer
	// that stops reading for longer is disconnected (its queued messages
	// are dropped) and dialled again. Default 10s.
	WriteTimeout time.Duration
	// ReconnectBackoff is the wait after a failed dial before the next;
	// it doubles on each failure in a row up to MaxReconnectBackoff, and
	// each wait is drawn at random from its upper half (jitter, so that
	// nodes restarting together do not dial in step). Defaults 50ms and
	// 5s.
	ReconnectBackoff, MaxReconnectBackoff time.Duration
	// Logger receives the transport's events: connections made and lost,
	// peers refused (another protocol version, a malformed frame, a TLS
	// failure), queues full. Default: discard.
	Logger *slog.Logger
}

const (
	defaultTCPListenAddr          = "127.0.0.1:0"
	defaultTCPMaxFrameBytes       = 64<<20 + 4<<10
	minTCPMaxFrameBytes           = 1 << 10
	maxTCPMaxFrameBytes           = 1 << 31
	defaultTCPSendQueueBytes      = 16 << 20
	defaultTCPDialTimeout         = 5 * time.Second
	defaultTCPWriteTimeout        = 10 * time.Second
	defaultTCPReconnectBackoff    = 50 * time.Millisecond
	defaultTCPMaxReconnectBackoff = 5 * time.Second

	tcpInboxSize = 256      // messages queued for one listener's delivery
	tcpBufSize   = 64 << 10 // of each connection's bufio.Reader or Writer
)

// Validate reports every problem of c in one *commitlog.ConfigError
// (matching commitlog.ErrInvalidConfig), or nil.
func (c *TCPConfig) Validate() error {
	var problems []string
	if c.Node < 0 {
		problems = append(problems, fmt.Sprintf("Node: %d is negative", c.Node))
	}
	for id, addr := range c.Peers {
		if id < 0 {
			problems = append(problems, fmt.Sprintf("Peers: node %d is negative", id))
		}
		if addr == "" {
			problems = append(problems, fmt.Sprintf("Peers: node %d has no address", id))
		}
	}
	if c.MaxFrameBytes != 0 && (c.MaxFrameBytes < minTCPMaxFrameBytes || c.MaxFrameBytes > maxTCPMaxFrameBytes) {
		problems = append(problems, fmt.Sprintf("MaxFrameBytes: %d is outside [%d, %d]", c.MaxFrameBytes, minTCPMaxFrameBytes, maxTCPMaxFrameBytes))
	}
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		problems = append(problems, "TLS: no Certificates (nor GetCertificate): the transport could not accept TLS connections")
	}
	if c.SendQueueBytes < 0 {
		problems = append(problems, fmt.Sprintf("SendQueueBytes: %d is negative", c.SendQueueBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"ReconnectBackoff", c.ReconnectBackoff}, {"MaxReconnectBackoff", c.MaxReconnectBackoff}} {
		if d.v < 0 {
			problems = append(problems, fmt.Sprintf("%s: %v is negative", d.name, d.v))
		}
	}
	if len(problems) > 0 {
		return &commitlog.ConfigError{Problems: problems}
	}
	return nil
}

func (c TCPConfig) withDefaults() TCPConfig {
	if c.ListenAddr == "" {
		c.ListenAddr = defaultTCPListenAddr
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = defaultTCPMaxFrameBytes
	}
	if c.SendQueueBytes == 0 {
		c.SendQueueBytes = defaultTCPSendQueueBytes
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultTCPDialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultTCPWriteTimeout
	}
	if c.ReconnectBackoff == 0 {
		c.ReconnectBackoff = defaultTCPReconnectBackoff
	}
	if c.MaxReconnectBackoff == 0 {
		c.MaxReconnectBackoff = max(defaultTCPMaxReconnectBackoff, c.ReconnectBackoff)
	}
	c.MaxReconnectBackoff = max(c.MaxReconnectBackoff, c.ReconnectBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TLS != nil {
		c.TLS = c.TLS.Clone()
	}
	c.Peers = nil // kept in the transport's peers
	return c
}

// TCPTransport is a commitlog.Transport over TCP, optionally with TLS,
// for Logs in different processes. Create one per node with
// NewTCPTransport, which listens at once; tell it where the other nodes
// listen (TCPConfig.Peers, SetPeer); open the node's Log (through a Mux,
// with a RaftController) on it; Close it after the Log and controller.
//
// # Connections
//
// A transport dials one connection to each peer it sends to, lazily on
// the first message, and only writes on it; it reads the connections
// other transports dial to it. Two nodes are therefore joined by two
// connections, one each way, and each is read by one goroutine and
// written by one. A connection opens with a handshake each way (a magic,
// the frame version, the node; see tcp_frame.go) and then carries
// length-prefixed frames, each holding one message in its binary encoding
// (commitlog.Message.AppendBinary). A peer speaking another frame version
// is refused with a *ProtocolVersionError, logged on both sides; a frame
// that does not decode, or that is longer than MaxFrameBytes, closes the
// connection, logged with the peer's address. A dial that fails, or a
// connection that breaks, drops the messages queued for the peer; the
// next message dials again, after a backoff that doubles with each failed
// dial (TCPConfig.ReconnectBackoff, with jitter, capped).
//
// # Sending
//
// Send encodes the message into a frame and queues it for the peer's
// writer goroutine, which writes queued frames through a buffer and
// flushes when the queue is empty, so frames sent close together share
// system calls and TCP segments. Send never waits for the network: when
// the peer's queue holds SendQueueBytes (the peer is slow, unreachable,
// or being dialled), the message is dropped and Send returns nil, as the
// Transport contract allows for any loss. Dropping rather than waiting
// for room keeps one slow peer from stalling a sender that serves
// several (a partition leader answering followers, the Raft loop
// sending to every voter: etcd's rafthttp drops likewise), and the
// protocols above retry on their timeouts. Memory is bounded: per peer
// by SendQueueBytes, per connection read by MaxFrameBytes.
//
// A message to a node listening on this same transport is delivered
// locally, through a copy (commitlog.Message.Clone), without encoding
// and regardless of Peers.
//
// # Delivery
//
// Each listening node has a goroutine calling its deliver function with
// the messages to it, one at a time, from a small queue (64 messages):
// a connection whose messages wait for a full queue stops being read,
// which pushes back on the sender through TCP; a local message finding
// the queue full is dropped. The memory of messages received is bounded
// by that queue, one message per connection waiting for it and one read
// buffer per connection (up to MaxFrameBytes while a frame is read).
//
// Every method is safe for concurrent use. Close stops every goroutine
// the transport started.
type TCPTransport struct {
	cfg    TCPConfig // with defaults
	log    *slog.Logger
	ln     net.Listener
	ctx    context.Context // cancelled by Close, ending dials and handshakes
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the transport

	// mu guards what follows; it is never held while blocking on the
	// network or a deliver function.
	mu        sync.RWMutex
	closed    bool
	listeners map[commitlog.NodeID]*tcpListener
	peers     map[commitlog.NodeID]*tcpPeer
	accepted  map[net.Conn]struct{} // connections being read
}

var _ commitlog.Transport = (*TCPTransport)(nil)

// NewTCPTransport validates cfg (see TCPConfig.Validate), listens on
// cfg.ListenAddr and returns the transport. It copies cfg.
func NewTCPTransport(cfg TCPConfig) (*TCPTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	peers := cfg.Peers
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: TCP transport of node %d: listening: %w", cfg.Node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCPTransport{cfg: cfg, log: cfg.Logger.With("node", cfg.Node), ln: ln, ctx: ctx, cancel: cancel,
		listeners: map[commitlog.NodeID]*tcpListener{}, peers: map[commitlog.NodeID]*tcpPeer{}, accepted: map[net.Conn]struct{}{}}
	for id, addr := range peers {
		t.peers[id] = t.newPeerLocked(id, addr)
	}
	t.wg.Go(t.accept)
	t.log.Debug("cluster: TCP transport listening", "addr", ln.Addr().String(), "tls", cfg.TLS != nil)
	return t, nil
}

// Addr returns the address the transport accepts connections on: where
// the other nodes' Peers should point.
func (t *TCPTransport) Addr() net.Addr { return t.ln.Addr() }

// PeerAddr implements commitlog.PeerAddresser: where node listens, as
// Peers or SetPeer gave it ("" when unknown; this transport's own
// address for a node listening on it).
func (t *TCPTransport) PeerAddr(node commitlog.NodeID) string {
	t.mu.RLock()
	p, local := t.peers[node], t.listeners[node] != nil
	t.mu.RUnlock()
	switch {
	case p != nil:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.addr
	case local:
		return t.ln.Addr().String()
	}
	return ""
}

// SetPeer sets where node id listens, for the messages to it from now on;
// an empty addr removes the node (messages to it are then dropped). A
// changed address closes the connection to the old one and drops what
// was queued for it. It returns an error matching
// commitlog.ErrInvalidArgument for a negative id and one matching
// commitlog.ErrClosed after Close.
func (t *TCPTransport) SetPeer(id commitlog.NodeID, addr string) error {
	if id < 0 {
		return fmt.Errorf("cluster: TCPTransport.SetPeer: %w: node %d: node ids are not negative", commitlog.ErrInvalidArgument, id)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("cluster: TCPTransport.SetPeer of node %d: %w", id, commitlog.ErrClosed)
	}
	p := t.peers[id]
	switch {
	case addr == "" && p != nil:
		delete(t.peers, id)
		t.mu.Unlock()
		p.halt()
		return nil
	case p == nil && addr != "":
		t.peers[id] = t.newPeerLocked(id, addr)
	}
	t.mu.Unlock()
	if p != nil && addr != "" {
		p.setAddr(addr)
	}
	return nil
}

// Listen implements commitlog.Transport.Listen: deliver is called with
// every message to node, from this transport or from peers, one at a
// time on a goroutine of node's own, until stop is called. It returns an
// error matching commitlog.ErrInvalidArgument for a negative node, a nil
// deliver or a node already listening, and one matching
// commitlog.ErrClosed after Close.
func (t *TCPTransport) Listen(node commitlog.NodeID, deliver func(commitlog.Message)) (stop func(), err error) {
	switch {
	case node < 0:
		return nil, fmt.Errorf("cluster: TCPTransport.Listen: %w: node %d: node ids are not negative", commitlog.ErrInvalidArgument, node)
	case deliver == nil:
		return nil, fmt.Errorf("cluster: TCPTransport.Listen: %w: node %d: deliver is nil", commitlog.ErrInvalidArgument, node)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("cluster: TCPTransport.Listen of node %d: %w", node, commitlog.ErrClosed)
	}
	if t.listeners[node] != nil {
		return nil, fmt.Errorf("cluster: TCPTransport.Listen: %w: node %d is already listening: call its stop first", commitlog.ErrInvalidArgument, node)
	}
	l := &tcpListener{node: node, deliver: deliver, inbox: make(chan commitlog.Message, tcpInboxSize),
		stop: make(chan struct{}), exited: make(chan struct{})}
	t.listeners[node] = l
	t.wg.Go(l.run)
	return func() { t.unlisten(l) }, nil
}

// unlisten stops l, waiting for its goroutine. Idempotent.
func (t *TCPTransport) unlisten(l *tcpListener) {
	t.mu.Lock()
	if t.listeners[l.node] == l {
		delete(t.listeners, l.node)
	}
	t.mu.Unlock()
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.exited
}

// Send implements commitlog.Transport.Send. It encodes m into a frame and
// queues it for m.To's connection, or, when m.To listens on this
// transport, queues a copy for its delivery. It drops m, returning nil,
// when m.To is neither listening here nor a peer, and when the queue is
// full (see TCPTransport). It never waits for the network, so ctx only
// matters when it is already done.
//
// Send returns the error of m.Validate for a message no transport can
// carry, a *FrameTooLargeError (matching ErrFrameTooLarge and
// commitlog.ErrInvalidArgument) for one whose frame would exceed
// MaxFrameBytes, ctx.Err() when ctx is done, and an error matching
// commitlog.ErrClosed after Close.
func (t *TCPTransport) Send(ctx context.Context, m commitlog.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if size := frameSize(m); size > t.cfg.MaxFrameBytes {
		return fmt.Errorf("cluster: TCPTransport.Send from node %d to node %d: %w", m.From, m.To,
			&FrameTooLargeError{Size: int64(size), Max: int64(t.cfg.MaxFrameBytes)})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.RLock()
	closed, l, p := t.closed, t.listeners[m.To], t.peers[m.To]
	t.mu.RUnlock()
	switch {
	case closed:
		return fmt.Errorf("cluster: TCPTransport.Send from node %d to node %d: %w", m.From, m.To, commitlog.ErrClosed)
	case l != nil:
		select {
		case l.inbox <- m.Clone():
		default:
			l.dropped.Add(1)
		}
		return nil
	case p == nil:
		return nil
	}
	buf := getFrameBuf(tcpFrameHeaderSize - 1 + frameSize(m))
	frame, err := appendFrame(buf, m, t.cfg.MaxFrameBytes)
	if err != nil { // checked above; kept for safety
		putFrameBuf(buf)
		return fmt.Errorf("cluster: TCPTransport.Send from node %d to node %d: %w", m.From, m.To, err)
	}
	p.enqueue(frame)
	return nil
}

// Close stops accepting connections, closes every connection, drops the
// messages queued or not yet delivered, stops every listener (waiting for
// a deliver in progress) and returns once every goroutine of the
// transport has exited. Send, Listen and SetPeer fail after it with an
// error matching commitlog.ErrClosed, and so do later calls of Close.
// Calling it from a deliver function deadlocks.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return fmt.Errorf("cluster: TCPTransport.Close of node %d: %w", t.cfg.Node, commitlog.ErrClosed)
	}
	t.closed = true
	peers := make([]*tcpPeer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	listeners := make([]*tcpListener, 0, len(t.listeners))
	for _, l := range t.listeners {
		listeners = append(listeners, l)
	}
	conns := make([]net.Conn, 0, len(t.accepted))
	for c := range t.accepted {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	err := t.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	for _, p := range peers {
		p.halt()
	}
	for _, l := range listeners {
		t.unlisten(l)
	}
	t.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: TCPTransport.Close of node %d: closing the listener: %w", t.cfg.Node, err)
	}
	return nil
}

func (t *TCPTransport) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}

// accept is the goroutine accepting connections until Close.
func (t *TCPTransport) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.isClosed() {
				return
			}
			t.log.Error("cluster: TCP transport: accepting a connection", "err", err)
			select { // running out of file descriptors, say: wait a little
			case <-t.ctx.Done():
				return
			case <-time.After(t.cfg.ReconnectBackoff):
			}
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.accepted[c] = struct{}{}
		t.mu.Unlock()
		t.wg.Go(func() { t.serve(c) })
	}
}

// serve reads the connection raw, accepted from a peer, until it fails,
// the peer closes it, or Close.
func (t *TCPTransport) serve(raw net.Conn) {
	addr := raw.RemoteAddr().String()
	defer func() {
		t.mu.Lock()
		delete(t.accepted, raw)
		t.mu.Unlock()
		raw.Close()
	}()
	var conn net.Conn = raw
	raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	if t.cfg.TLS != nil {
		tc := tls.Server(raw, t.cfg.TLS)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			t.logRead(addr, fmt.Errorf("cluster: TLS handshake with %s: %w", addr, err))
			return
		}
		conn = tc
	}
	br := bufio.NewReaderSize(conn, tcpBufSize)
	node, err := readHandshake(br, addr)
	if err != nil {
		if errors.Is(err, ErrProtocolVersion) {
			// Tell the peer our version, so that it logs the mismatch too.
			conn.Write(appendHandshake(nil, t.cfg.Node))
		}
		t.logRead(addr, err)
		return
	}
	if _, err := conn.Write(appendHandshake(nil, t.cfg.Node)); err != nil {
		t.logRead(addr, fmt.Errorf("cluster: answering the handshake of %s: %w", addr, err))
		return
	}
	raw.SetDeadline(time.Time{})
	t.log.Debug("cluster: TCP transport: peer connected", "peer", addr, "peer_node", node)
	fr := frameReader{r: br, addr: addr, max: t.cfg.MaxFrameBytes}
	for {
		m, err := fr.next()
		switch {
		case errors.Is(err, commitlog.ErrUnknownMessageVersion):
			t.log.Debug("cluster: TCP transport: dropping a message of an unknown version", "peer", addr, "peer_node", node, "err", err)
			continue
		case err != nil:
			t.logRead(addr, err)
			return
		}
		t.mu.RLock()
		l := t.listeners[m.To]
		t.mu.RUnlock()
		if l == nil {
			continue // not listening: dropped
		}
		select {
		case l.inbox <- m:
		case <-l.stop:
		case <-t.ctx.Done():
			return
		}
	}
}

// logRead logs why the connection from addr is closed: at Debug when the
// peer or Close closed it, as an error otherwise.
func (t *TCPTransport) logRead(addr string, err error) {
	if t.isClosed() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		t.log.Debug("cluster: TCP transport: connection from a peer closed", "peer", addr, "err", err)
		return
	}
	t.log.Error("cluster: TCP transport: closing the connection from a peer", "peer", addr, "err", err)
}

// tcpListener is a node listening on the transport.
type tcpListener struct {
	node    commitlog.NodeID
	deliver func(commitlog.Message)
	inbox   chan commitlog.Message
	// stop is closed by the listener's stop, exited by its goroutine.
	stop     chan struct{}
	stopOnce sync.Once
	exited   chan struct{}
	dropped  atomic.Uint64 // local messages dropped on a full inbox
}

// run is the listener's goroutine: it delivers the inbox's messages until
// stop.
func (l *tcpListener) run() {
	defer close(l.exited)
	for {
		select {
		case <-l.stop:
			return
		case m := <-l.inbox:
			select {
			case <-l.stop:
				return
			default:
			}
			l.deliver(m)
		}
	}
}

// tcpPeer is a node this transport sends to: its address, its queue of
// frames and the goroutine writing them to its connection.
type tcpPeer struct {
	t      *TCPTransport
	id     commitlog.NodeID
	log    *slog.Logger
	ctx    context.Context // cancelled by halt
	cancel context.CancelFunc
	// wake (capacity 1) tells the writer that frames are queued; readdr
	// (capacity 1) that the address changed, ending a backoff.
	wake, readdr chan struct{}

	mu        sync.Mutex // guards what follows
	halted    bool
	addr      string
	gen       uint64 // counts address changes
	conn      *tcpOutConn
	queue     [][]byte // frames not yet taken by the writer
	queued    int      // bytes of the frames queued or taken and not yet written
	maxQueued int      // the largest queued has been (for tests)
	full      bool     // a message was dropped since the queue last drained
	dropped   atomic.Uint64
}

// newPeerLocked creates the peer id at addr and starts its writer.
// REQUIRES: t.mu held, t not closed.
func (t *TCPTransport) newPeerLocked(id commitlog.NodeID, addr string) *tcpPeer {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &tcpPeer{t: t, id: id, log: t.log.With("peer_node", id), ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), readdr: make(chan struct{}, 1), addr: addr}
	t.wg.Go(p.run)
	return p
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// enqueue queues frame for the writer, or drops it when the queue is
// full. It takes ownership of frame.
func (p *tcpPeer) enqueue(frame []byte) {
	p.mu.Lock()
	if p.halted || (p.queued > 0 && p.queued+len(frame) > p.t.cfg.SendQueueBytes) {
		warn := !p.full && !p.halted
		p.full = true
		p.mu.Unlock()
		putFrameBuf(frame)
		if p.dropped.Add(1); warn {
			p.log.Warn("cluster: TCP transport: send queue full, dropping messages", "queue_bytes", p.t.cfg.SendQueueBytes)
		}
		return
	}
	p.queue = append(p.queue, frame)
	p.queued += len(frame)
	p.maxQueued = max(p.maxQueued, p.queued)
	p.mu.Unlock()
	signal(p.wake)
}

// release accounts n bytes written (or dropped) by the writer.
func (p *tcpPeer) release(n int) {
	p.mu.Lock()
	p.queued -= n
	if p.queued == 0 {
		p.full = false
	}
	p.mu.Unlock()
}

// dropQueue drops the frames queued, after a connection failed.
func (p *tcpPeer) dropQueue() {
	p.mu.Lock()
	for i, f := range p.queue {
		p.queued -= len(f)
		putFrameBuf(f)
		p.queue[i] = nil
		p.dropped.Add(1)
	}
	p.queue = p.queue[:0]
	if p.queued == 0 {
		p.full = false
	}
	p.mu.Unlock()
}

// setAddr points the peer at addr; a change closes the connection.
func (p *tcpPeer) setAddr(addr string) {
	p.mu.Lock()
	if p.addr == addr {
		p.mu.Unlock()
		return
	}
	p.addr = addr
	p.gen++
	c := p.conn
	p.conn = nil
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
	signal(p.readdr)
}

// halt stops the peer's writer and closes its connection, without
// waiting (the transport's WaitGroup does). Idempotent.
func (p *tcpPeer) halt() {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return
	}
	p.halted = true
	c := p.conn
	p.conn = nil
	p.mu.Unlock()
	p.cancel()
	if c != nil {
		c.Close()
	}
}

// run is the peer's writer goroutine: it dials when frames are queued and
// there is no connection, and writes them.
func (p *tcpPeer) run() {
	defer func() {
		p.mu.Lock()
		c := p.conn
		p.conn = nil
		p.mu.Unlock()
		if c != nil {
			c.Close()
		}
		p.dropQueue()
	}()
	var backoff time.Duration
	var spare [][]byte
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.halted {
			p.mu.Unlock()
			select {
			case <-p.wake:
			case <-p.ctx.Done():
				return
			}
			p.mu.Lock()
		}
		if p.halted {
			p.mu.Unlock()
			return
		}
		c, addr, gen := p.conn, p.addr, p.gen
		p.mu.Unlock()
		if c != nil && c.isDead() {
			p.dropConn(c)
			c = nil
		}
		if c == nil {
			var err error
			if c, err = p.connect(addr, gen); err != nil {
				if p.ctx.Err() != nil {
					return
				}
				if errors.Is(err, errStaleDial) {
					continue // dial the new address at once
				}
				p.dropQueue()
				backoff = p.nextBackoff(backoff)
				level := slog.LevelWarn
				if backoff > p.t.cfg.ReconnectBackoff {
					level = slog.LevelDebug // said once per failing streak
				}
				p.log.Log(p.ctx, level, "cluster: TCP transport: cannot connect to peer", "peer", addr, "err", err, "retry_in", backoff)
				if !p.wait(backoff) {
					return
				}
				continue
			}
			backoff = 0
		}
		var err error
		if spare, err = p.drain(c, spare); err != nil {
			if p.ctx.Err() == nil {
				p.log.Warn("cluster: TCP transport: connection to peer lost", "peer", addr, "err", err)
			}
			p.dropConn(c)
			p.dropQueue()
		}
	}
}

// nextBackoff returns the backoff after prev (0: none yet): doubled,
// within [ReconnectBackoff, MaxReconnectBackoff].
func (p *tcpPeer) nextBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return p.t.cfg.ReconnectBackoff
	}
	return min(2*prev, p.t.cfg.MaxReconnectBackoff)
}

// jitter returns a duration drawn at random from [d/2, d), or d when it
// is below 2ns.
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d-d/2)
}

// wait waits about d (see jitter), or until the address changes; it
// returns false when the peer is halted.
func (p *tcpPeer) wait(d time.Duration) bool {
	timer := time.NewTimer(jitter(d))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-p.readdr:
	case <-p.ctx.Done():
		return false
	}
	return true
}

// drain writes queued frames to c until the queue is empty, then
// flushes. spare is a slice to swap with the queue, returned for the
// next call.
func (p *tcpPeer) drain(c *tcpOutConn, spare [][]byte) ([][]byte, error) {
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue = spare[:0]
		p.mu.Unlock()
		spare = batch
		c.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
		if len(batch) == 0 {
			return spare, c.bw.Flush()
		}
		for i, f := range batch {
			_, err := c.bw.Write(f)
			p.release(len(f))
			putFrameBuf(f)
			batch[i] = nil
			if err != nil {
				for j := i + 1; j < len(batch); j++ {
					p.release(len(batch[j]))
					putFrameBuf(batch[j])
					batch[j] = nil
					p.dropped.Add(1)
				}
				return spare, err
			}
		}
	}
}

// dropConn closes c and forgets it if it is still the peer's.
func (p *tcpPeer) dropConn(c *tcpOutConn) {
	p.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	p.mu.Unlock()
	c.Close()
}

// errStaleDial is a dial made moot by an address change.
var errStaleDial = errors.New("cluster: the peer's address changed while dialling")

// connect dials addr, runs the handshakes, and installs the connection
// as the peer's, unless the peer was halted or its address changed
// (gen) meanwhile.
func (p *tcpPeer) connect(addr string, gen uint64) (*tcpOutConn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// Close, halt or the timeout end the handshakes.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn, err := p.handshake(ctx, raw, addr)
	if !stop() || err != nil {
		raw.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	oc := &tcpOutConn{Conn: conn, bw: bufio.NewWriterSize(conn, tcpBufSize), dead: make(chan struct{})}
	p.mu.Lock()
	if p.halted || p.gen != gen {
		p.mu.Unlock()
		conn.Close()
		return nil, errStaleDial
	}
	p.conn = oc
	p.mu.Unlock()
	p.t.wg.Go(oc.watch)
	return oc, nil
}

// handshake runs the TLS handshake (if configured) and the transport's on
// raw, and returns the connection to write frames to.
func (p *tcpPeer) handshake(ctx context.Context, raw net.Conn, addr string) (net.Conn, error) {
	var conn net.Conn = raw
	if p.t.cfg.TLS != nil {
		cfg := p.t.cfg.TLS
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg = cfg.Clone()
				cfg.ServerName = host
			}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("cluster: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	if _, err := conn.Write(appendHandshake(nil, p.t.cfg.Node)); err != nil {
		return nil, fmt.Errorf("cluster: sending the handshake to %s: %w", addr, err)
	}
	node, err := readHandshake(conn, addr)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	if node != p.id {
		p.log.Warn("cluster: TCP transport: the peer's address is another node's: check Peers", "peer", addr, "answered_node", node)
	} else {
		p.log.Debug("cluster: TCP transport: connected to peer", "peer", addr)
	}
	return conn, nil
}

// tcpOutConn is a connection dialled to a peer, written by the peer's
// writer only.
type tcpOutConn struct {
	net.Conn
	bw   *bufio.Writer
	dead chan struct{} // closed when the peer closed its end
}

// watch reads c until the peer closes it (a peer never writes on a
// connection it accepted), so that the writer notices a lost peer before
// writing to it, and closes c.
func (c *tcpOutConn) watch() {
	var b [1]byte
	c.Read(b[:])
	c.Close()
	close(c.dead)
}

func (c *tcpOutConn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// frameSize returns the length prefix of m's frame: the version byte and
// the length of m's encoding. REQUIRES: m.Validate() is nil.
func frameSize(m commitlog.Message) int { return 1 + m.BinarySize() }

// framePool recycles frame buffers up to frameBufKeep bytes.
var framePool sync.Pool // of *[]byte

func getFrameBuf(n int) []byte {
	if bp, ok := framePool.Get().(*[]byte); ok && cap(*bp) >= n {
		return (*bp)[:0]
	}
	return make([]byte, 0, n)
}

func putFrameBuf(b []byte) {
	if cap(b) <= frameBufKeep {
		b = b[:0]
		framePool.Put(&b)
	}
}
