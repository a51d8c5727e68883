package replica

import (
	"errors"
	"fmt"
)

// Errors the state machine returns. Those a producer meets (ErrNotLeader,
// ErrOffline, ErrNotEnoughReplicas, ErrNotEnoughReplicasAfterAppend and
// *NotLeaderError) carry the root package's "commitlog:" prefix, so that it
// can re-export them under the same names; the others travel between the
// replicas of a partition inside fetch answers and controller calls, and
// each says which side must do what.
var (
	// ErrNotLeader is returned to a producer (CheckAppend, AckAllStatus)
	// and in a FetchAnswer when this replica is not the partition's leader
	// in its leader epoch. The *NotLeaderError says which node is, as far
	// as this replica knows: send there, or wait for the controller's next
	// update.
	ErrNotLeader = errors.New("commitlog: not the partition leader")
	// ErrOffline is matched, besides ErrNotLeader, by a *NotLeaderError for
	// a partition without a leader (State.Leader is NoNode): no replica
	// accepts appends until the controller elects one, so retry later
	// rather than redirect.
	ErrOffline = errors.New("commitlog: partition offline: no leader")
	// ErrNotEnoughReplicas is returned by CheckAppend for an acks=all
	// append while the committed ISR is smaller than min.insync.replicas:
	// nothing was appended; retry once lagging replicas have caught up.
	ErrNotEnoughReplicas = errors.New("commitlog: not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend is returned by AckAllStatus for an
	// acks=all append that was written on the leader but is not committed
	// and cannot be while the committed ISR is smaller than
	// min.insync.replicas: the record may or may not survive; retry it
	// (with an idempotent producer the retry is not duplicated).
	ErrNotEnoughReplicasAfterAppend = errors.New("commitlog: not enough in-sync replicas after append")

	// ErrNotReplica is returned in a FetchAnswer to a node that is not in
	// the partition's replica assignment as the leader knows it (or is the
	// leader itself): the follower waits for the controller's next update.
	ErrNotReplica = errors.New("replica: node is not a replica of the partition")
	// ErrFencedLeaderEpoch is returned in a FetchAnswer whose fetch names a
	// leader epoch below the leader's: the follower is behind the
	// controller and stops fetching until its next update.
	ErrFencedLeaderEpoch = errors.New("replica: fetch fenced: its leader epoch is older than the leader's")
	// ErrUnknownLeaderEpoch is returned in a FetchAnswer whose fetch names
	// a leader epoch above the leader's: the leader has not applied the
	// controller's update yet; the follower retries after FetchTimeout.
	ErrUnknownLeaderEpoch = errors.New("replica: fetch names a leader epoch newer than the leader's")
	// ErrStaleReplicaEpoch is returned in a FetchAnswer to a fetch from an
	// older incarnation of a replica than one the leader has already heard
	// from (KIP-903): the process that sent it has been restarted and must
	// not act on the answer.
	ErrStaleReplicaEpoch = errors.New("replica: fetch from a stale replica incarnation")
	// ErrStaleFetch is returned in a FetchAnswer to a fetch whose sequence
	// number is not above the last one seen from the same incarnation: a
	// duplicate or a delayed old fetch, which the leader ignores; the
	// follower's newer fetch is answered on its own.
	ErrStaleFetch = errors.New("replica: duplicate or reordered fetch ignored")
	// ErrStaleResponse is returned by HandleFetchResponse for a response
	// that does not answer the fetch outstanding now (another sequence
	// number or leader epoch, records from another offset, or no fetch
	// outstanding): it was ignored and changed nothing; drop it.
	ErrStaleResponse = errors.New("replica: fetch response does not answer the outstanding fetch; ignored")
	// ErrStaleState is returned by Update for a controller state older
	// than the one applied (a lower leader epoch, or the same leader epoch
	// without a higher partition epoch and other contents): it was ignored;
	// the controller's newer state stands.
	ErrStaleState = errors.New("replica: stale partition state ignored")
	// ErrStateBehindLog, which matches ErrStaleState, is returned by
	// Update for a state that would start a leader epoch below the
	// latest one the local log holds: the controller has moved past it
	// (a delayed state reaching a replica that has applied none since it
	// started), or has lost the epochs it handed out. Applying it could
	// append batches of an older epoch after newer ones.
	ErrStateBehindLog = fmt.Errorf("%w: its leader epoch is below the latest leader epoch in the log", ErrStaleState)
	// ErrInvalidState is returned by Update for a state that breaks the
	// model (no replicas, duplicate nodes, an ISR member or leader outside
	// the assignment, a leader outside the ISR, negative epochs, or a new
	// leader without a new leader epoch): it was ignored; the controller
	// is at fault.
	ErrInvalidState = errors.New("replica: invalid partition state ignored")
	// ErrOffsetOutOfRange is returned in a FetchAnswer to a fetch from
	// below the leader's log start offset (the follower restarts its log
	// at the answer's LogStartOffset) or above the leader's end.
	ErrOffsetOutOfRange = errors.New("replica: fetch offset out of the leader's range")
)

// NotLeaderError reports that this replica cannot take an append (or
// answer a fetch) because it is not the leader. Leader and LeaderEpoch are
// the leader as the controller last told this replica: NoNode when the
// partition is offline. It matches ErrNotLeader, and ErrOffline too when
// Leader is NoNode.
type NotLeaderError struct {
	Leader      NodeID
	LeaderEpoch int32
}

func (e *NotLeaderError) Error() string {
	if e.Leader == NoNode {
		return fmt.Sprintf("commitlog: partition offline (no leader at leader epoch %d): retry once the controller elects one", e.LeaderEpoch)
	}
	return fmt.Sprintf("commitlog: not the partition leader: node %d leads at leader epoch %d; send there", e.Leader, e.LeaderEpoch)
}

// Is reports whether target is ErrNotLeader, or ErrOffline for an
// offline partition.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || target == ErrOffline && e.Leader == NoNode
}
