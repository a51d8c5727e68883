// Package group is the membership of a Log's consumer groups as a state
// machine, without I/O, goroutines or locks (etcd/raft's style): one type,
// Coordinator, whose owner serializes its calls and supplies through
// Config the clock, the timer that drives expiry and the topics'
// partition counts. It knows nothing of the public API above it: the root
// package converts its TopicPartition to this package's Partition at the
// boundary and wraps the group's public Balancer in a Balancer of this
// package, which is where a user's balancer is checked.
//
// The protocol is Kafka's newer consumer group protocol (KIP-848,
// group.protocol=consumer since Kafka 4.0: the coordinator computes the
// assignment, and each member reconciles with its own target) rather than
// the classic join/sync rounds, because in one process the coordinator
// can simply compute the assignment:
//
//   - A membership or subscription change (Join, Leave, Expire, a topic
//     created or deleted) bumps the group's epoch (its generation), and
//     the group's Balancer computes every member's target at once,
//     starting from the previous targets so that sticky balancers keep
//     partitions where they are.
//   - Members converge on their targets one Step at a time (NextStep),
//     from their own Poll: a member first gives up the partitions it must
//     revoke (its consumer commits, calls OnRevoked, then Release), and
//     only a released partition can be taken by its next owner (then
//     OnAssigned). So a partition never has two owners, and its old
//     owner's OnRevoked and commits finish before its new owner reads the
//     committed offset. Cooperative balancers move only the partitions
//     that change owner; eager ones make every member give up everything
//     at each new epoch and take its whole target back at once.
//   - Commits are checked against ownership (CheckCommit): a member may
//     commit only the partitions it owns at that moment, so a commit from
//     a stale generation (for a partition revoked or lost since) fails
//     with ErrFenced; a committer without membership only for a group
//     without members (ErrGroupNotEmpty).
//   - Liveness: a member is alive while it waits inside Poll (Polling);
//     outside Poll it has MaxPollInterval. Past it, Expire evicts it at
//     once: its partitions move, and it learns on its next call (a loss,
//     *FencedError). Leave is at once for a dynamic member. A static
//     member (InstanceID) that leaves keeps its partitions reserved for
//     SessionTimeout; a member joining with the same InstanceID takes
//     them back without a rebalance, and one joining while the old one is
//     alive fences it.
//   - A deleted topic's partitions are taken from their owners, who learn
//     it as a loss without being fenced.
//
// What stays in the root package, and why: the committed offsets and
// their writes to __consumer_offsets (I/O, the root's group_offsets.go), with the
// checks a commit needs against the partitions themselves (the high
// watermark, the fsync of data below a committed offset); the locks
// (commitMu, which serializes CheckCommit and its write with every call
// that takes partitions away, and mu around the Coordinator), since the
// write must happen inside the same critical section as the check and
// the lock order spans the Log's other locks; the liveness timer
// (time.AfterFunc) behind Config.Arm; the Balancer contract and its
// check, which are public API; and the rebalance callbacks, auto-commit
// and fetching, which are the Consumer's.
//
// Errors are this package's: ErrFenced, *FencedError and
// ErrGroupNotEmpty, which the root package re-exports under the same
// names, and ErrClosed and *BalancerMismatchError, which it translates
// into its own ErrClosed and ErrInvalidConfig.
package group
