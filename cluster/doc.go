// Package cluster is the multi-node side of commitlog: a controller
// whose metadata is a log replicated by Raft (go.etcd.io/raft/v3), for
// Logs on several nodes. It lives in a module of its own so that the root
// module, which only defines the seams (commitlog.Controller,
// commitlog.Transport), keeps its dependencies and a single-node user
// never compiles Raft.
//
// # A node in one call
//
// OpenNode puts the pieces below together for a process that is one
// node: a TCPTransport listening at the node's address, a Mux, a
// RaftController with its state in Dir/raft, and the Log in Dir/log.
//
//	n, err := cluster.OpenNode(cluster.NodeConfig{
//		ID: 1, Dir: "/var/lib/app/node1",
//		Peers: map[commitlog.NodeID]string{0: "10.0.0.1:7070", 1: "10.0.0.2:7070", 2: "10.0.0.3:7070"},
//		TLS: tlsConfig,
//	})
//	...
//	l := n.Log() // create replicated topics, produce at leaders, consume
//	info, _ := l.Cluster()
//	...
//	n.Close()
//
// # Usage
//
// Each node runs one Log and one RaftController, sharing the node's
// Transport through a Mux: the Mux hands the controllers' messages
// (commitlog.ControllerMessage) to the RaftController and everything
// else to the Log.
//
//	mux := cluster.NewMux(transport)
//	ctrl, err := cluster.NewRaftController(cluster.RaftConfig{
//		Node: id, Nodes: []commitlog.NodeID{0, 1, 2}, Dir: raftDir, Mux: mux,
//	})
//	...
//	log, err := commitlog.Open(dataDir, &commitlog.Options{
//		NodeID: id, Controller: ctrl, Transport: mux,
//	})
//	...
//	log.Close()  // leaves the controller
//	ctrl.Close()
//
// Between processes the Transport is a TCPTransport, one per node,
// told where the others listen:
//
//	transport, err := cluster.NewTCPTransport(cluster.TCPConfig{
//		Node: id, ListenAddr: "10.0.0.1:9400", TLS: tlsConfig,
//		Peers: map[commitlog.NodeID]string{1: "10.0.0.2:9400", 2: "10.0.0.3:9400"},
//	})
//	...
//	defer transport.Close() // after the Log and the controller
//
// Every node's controller is given the same Nodes: they are the Raft
// voters (Raft ids Node+1, since Raft reserves 0) and the nodes replicas
// are assigned to. A majority of them must run for the metadata to
// change; the Logs keep serving what they last heard meanwhile.
//
// # What is replicated
//
// The commands of metadata.go: topic creation and deletion, AlterISR
// fenced by the leader and partition epochs (kafka-semantics §8.8.3),
// preferred leader election, and nodes going up and down. Every node
// applies them in commit order to internal/controller.Cluster, which
// elects cleanly from the in-sync set and bumps the epochs; the results
// are therefore the same on every node.
//
// # Membership
//
// RaftController.AddNode and RemoveNode change the cluster's nodes
// through Raft's configuration changes, one node at a time, applied with
// the metadata's node set (membership.go). A new node's controller starts
// with RaftConfig.Join and receives the metadata as a snapshot; a node
// is removed only once it holds no replicas.
//
// # The TCP transport
//
// TCPTransport carries the Logs' and the controllers' messages between
// processes: one connection to each peer, dialled on demand and again
// after a failure with a capped, jittered exponential backoff;
// length-prefixed frames with a version byte, each holding one message
// in commitlog.Message's binary encoding, behind a handshake naming the
// protocol version and the node; bounded send queues that drop rather
// than block (the protocols retry); TLS and mutual TLS through a
// *tls.Config. tcp_frame.go describes the wire format; TCPTransport, the
// behaviour.
//
// # Durability
//
// Raft's hard state, entries and snapshots are appended to one
// checksummed file in RaftConfig.Dir and fsynced before any message that
// depends on them is sent (storage.go describes the format and the
// recovery of a torn tail).
//
// # Snapshots
//
// Every RaftConfig.SnapshotEntries applied entries, the controller
// encodes the metadata (the state machine and the last command applied
// from each node, snapshot.go) into a Raft snapshot at the last applied
// index and drops the entries before it, rewriting the file, so the
// Raft log stays bounded however long the cluster runs. A node whose log
// ends before the leader's first entry (one down while the others
// compacted) receives the leader's snapshot, replaces its metadata with
// it, and its Log hears the whole metadata as a snapshot update.
// ReadMetadata reads a stopped node's directory, snapshot and entries,
// without running it.
package cluster
