package cluster

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"

	"github.com/commitlog-go/commitlog"
)

// NodeConfig configures a Node: one process's member of a cluster.
type NodeConfig struct {
	// ID is the node's id. Required (0 is an id).
	ID commitlog.NodeID
	// Dir is the node's directory: its Log in Dir/log, its Raft state in
	// Dir/raft (what cmd/commitlog's --metadata reads). Required.
	Dir string
	// Peers is where every node of the cluster listens, this one
	// included or not: its keys, with ID, are the Raft voters a new
	// cluster starts with (RaftConfig.Nodes), so every node must be
	// given the same ids. Required, unless Join.
	Peers map[commitlog.NodeID]string
	// Listen is the address to accept the peers' connections on.
	// Default: Peers[ID] when given, else "127.0.0.1:0" (loopback; see
	// Node.Addr).
	Listen string
	// TLS secures the connections (TCPConfig.TLS); nil: plaintext, for
	// loopback or a network you trust.
	TLS *tls.Config
	// Join says the node is new to a running cluster that AddNode has
	// told about it (RaftConfig.Join). Peers then need only name the
	// nodes to reach.
	Join bool
	// Options are the Log's options; NodeID, Controller and Transport
	// are the Node's. Nil: the defaults.
	Options *commitlog.Options
	// Raft tunes the controller (ticks, timeouts, SnapshotEntries); its
	// Node, Nodes, Dir, Mux and Join are the Node's.
	Raft RaftConfig
	// TCP tunes the transport (frame and queue sizes, timeouts); its
	// Node, ListenAddr, Peers and TLS are the Node's.
	TCP TCPConfig
	// Logger receives the transport's and the controller's warnings;
	// nil: Options.Logger, else discarded.
	Logger *slog.Logger
}

// Node is one member of a cluster in this process: a Log whose
// leadership and in-sync sets a RaftController decides, and the
// TCPTransport that carries both the Log's replication and the
// controllers' Raft messages to the other nodes, through a Mux. It is
// the composition package doc's Usage section spells out, with the
// directory layout and the address book decided.
//
// Every method is safe for concurrent use.
type Node struct {
	id   commitlog.NodeID
	tr   *TCPTransport
	ctrl *RaftController
	log  *commitlog.Log

	closeOnce sync.Once
	closeErr  error
}

// OpenNode starts the transport, then the controller, then opens the
// Log, which blocks, as commitlog.Open does for a replicated Log, until a
// quorum of the cluster's controllers has registered the node: start
// every node of a new cluster at about the same time.
//
// Errors: *commitlog.ConfigError for a missing ID, Dir or Peers, or a
// bad transport or controller setting; the transport's listen error;
// those of NewRaftController and commitlog.Open. On an error nothing is
// left running.
func OpenNode(cfg NodeConfig) (*Node, error) {
	var problems []string
	if cfg.ID < 0 {
		problems = append(problems, fmt.Sprintf("ID: %d is negative", cfg.ID))
	}
	if cfg.Dir == "" {
		problems = append(problems, "Dir: required")
	}
	if len(cfg.Peers) == 0 && !cfg.Join {
		problems = append(problems, "Peers: required (every node's address)")
	}
	if len(problems) > 0 {
		return nil, &commitlog.ConfigError{Problems: problems}
	}
	logger := cfg.Logger
	if logger == nil && cfg.Options != nil {
		logger = cfg.Options.Logger
	}
	peers := maps.Clone(cfg.Peers)
	listen := cmp.Or(cfg.Listen, peers[cfg.ID])
	delete(peers, cfg.ID)
	tcfg := cfg.TCP
	tcfg.Node, tcfg.ListenAddr, tcfg.Peers, tcfg.TLS = cfg.ID, listen, peers, cfg.TLS
	tcfg.Logger = cmp.Or(tcfg.Logger, logger)
	tr, err := NewTCPTransport(tcfg)
	if err != nil {
		return nil, err
	}
	mux := NewMux(tr)
	rcfg := cfg.Raft
	rcfg.Node, rcfg.Dir, rcfg.Mux, rcfg.Join = cfg.ID, filepath.Join(cfg.Dir, "raft"), mux, cfg.Join
	rcfg.Nodes = append(slices.Sorted(maps.Keys(peers)), cfg.ID)
	slices.Sort(rcfg.Nodes)
	ctrl, err := NewRaftController(rcfg)
	if err != nil {
		return nil, errors.Join(err, tr.Close())
	}
	var opts commitlog.Options
	if cfg.Options != nil {
		opts = *cfg.Options
	}
	opts.NodeID, opts.Controller, opts.Transport = cfg.ID, ctrl, mux
	l, err := commitlog.Open(filepath.Join(cfg.Dir, "log"), &opts)
	if err != nil {
		return nil, errors.Join(err, ctrl.Close(), tr.Close())
	}
	return &Node{id: cfg.ID, tr: tr, ctrl: ctrl, log: l}, nil
}

// ID returns the node's id.
func (n *Node) ID() commitlog.NodeID { return n.id }

// Log returns the node's Log. Close the Node, not the Log.
func (n *Node) Log() *commitlog.Log { return n.log }

// Controller returns the node's RaftController: membership changes
// (AddNode, RemoveNode) go through it.
func (n *Node) Controller() *RaftController { return n.ctrl }

// Transport returns the node's TCPTransport: SetPeer tells it where a
// node added later listens.
func (n *Node) Transport() *TCPTransport { return n.tr }

// Addr returns the address the node accepts its peers' connections on.
func (n *Node) Addr() net.Addr { return n.tr.Addr() }

// Close closes the Log (which leaves the controller: the node goes
// down in the metadata and its partitions elect other leaders), then the
// controller, then the transport, and returns their errors joined. It
// is idempotent: later calls return the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = errors.Join(n.log.Close(), n.ctrl.Close(), n.tr.Close())
	})
	return n.closeErr
}
