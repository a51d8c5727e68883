// Package controller is the cluster metadata of a replicated Log, as a
// state machine with no I/O: which nodes hold each partition's replicas,
// which of them leads and with which leader epoch, which are in sync, and
// how every one of those changes when a topic is created or deleted, a
// node comes or goes, a leader asks to change its in-sync replica set, or
// an operator asks for the preferred leaders back. It is Kafka's
// controller (the KRaft quorum controller's partition change rules,
// kafka-semantics §8.6 and §8.8) without the quorum: the root package's
// in-process controller runs it under a lock for Logs in one process, and
// a consensus-replicated controller can run it as the state machine it
// applies committed commands to, since every method is deterministic.
//
// The rules:
//
//   - Every change of a partition's leader bumps its leader epoch; every
//     change of its leader or in-sync set bumps its partition epoch.
//     Leaders fence their in-sync set changes with both (AlterISR).
//   - Clean election: the first live replica, in assignment order, that is
//     in the in-sync set. With none, the partition is offline (Leader
//     NoNode) until an in-sync replica comes back, unless the topic allows
//     unclean election: then the first live replica in assignment order
//     leads, and whatever only the others held is lost.
//   - The in-sync set is never empty: a node going down leaves every
//     in-sync set it was in except where it was the last member, which
//     keeps it, so that a partition waits for the last replica known to
//     hold everything.
//   - A replica joins an in-sync set only while its node is live.
//   - Assignment is Kafka's rack-unaware one: partition p's first replica
//     is node (p + start) mod n in ascending node order, its others follow
//     at a shift that grows every n partitions, so leaders and followers
//     spread evenly; start comes from the topic name, so that topics do
//     not all start on the first node.
//
// Not safe for concurrent use: the owner serializes calls.
package controller
