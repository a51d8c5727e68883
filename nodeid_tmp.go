package commitlog

// NodeID names a node: one Log in a replicated cluster.
type NodeID int32

// NoNode is no node.
const NoNode NodeID = -1
