// Package cluster is the multi-node side of commitlog: a controller
// whose metadata is a log replicated by Raft (go.etcd.io/raft/v3), for
// Logs on several nodes. It lives in a module of its own so that the root
// module, which only defines the seams (commitlog.Controller,
// commitlog.Transport), keeps its dependencies and a single-node user
// never compiles Raft.
package cluster
