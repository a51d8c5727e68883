package replica

import (
	"fmt"
	"slices"
	"time"
)

// Log is the read-only view of the local partition log the machine
// consults: the driver implements it over internal/storage, tests over a
// model.
type Log interface {
	StartOffset() int64
	// EndOffset is the log end offset (LEO): the end of what is written.
	EndOffset() int64
	// AckedOffset is what this replica may report as its end: as a
	// follower under SyncAlways its durable end, otherwise EndOffset.
	AckedOffset() int64
	HighWatermark() int64
	LatestEpoch() int32
	// EpochStartOffset is the first offset of epoch, -1 when unknown.
	EpochStartOffset(epoch int32) int64
	// EndOffsetForEpoch is Kafka's endOffsetFor: the largest epoch at or
	// below epoch and where the next one starts (the LEO for the latest);
	// NoEpoch, -1 when unknown.
	EndOffsetForEpoch(epoch int32) (int32, int64)
}

// Config configures a Replica.
type Config struct {
	Self NodeID
	// MinISR is min.insync.replicas.
	MinISR int
	// LagTime is replica.lag.time.max.ms.
	LagTime time.Duration
	// FetchTimeout is how long a follower waits for the answer to a fetch
	// before it sends another, and how long a leader waits for the answer
	// to an ISR change before it may propose again.
	FetchTimeout time.Duration
	// Incarnation identifies this run of the node; it must rise with
	// every restart (KIP-903's broker epoch).
	Incarnation int64
}

// Effects are what the driver must carry out after a call.
type Effects struct {
	// AssignEpoch, unless NoEpoch, is a leader epoch to record at the
	// log's end before anything is appended in it.
	AssignEpoch int32
	// HighWatermark, unless -1, is the new high watermark to publish.
	HighWatermark int64
	// AlterISR, unless nil, is an in-sync set to propose to the
	// controller, fenced by AlterISRLeaderEpoch and
	// AlterISRPartitionEpoch.
	AlterISR               []NodeID
	AlterISRLeaderEpoch    int32
	AlterISRPartitionEpoch int32
}

func noEffects() Effects { return Effects{AssignEpoch: NoEpoch, HighWatermark: -1} }

// Replica is one partition's replica on this node. Not safe for
// concurrent use: the driver serializes calls.
type Replica struct {
	cfg     Config
	log     Log
	state   State
	applied bool
	role    Role

	// Leader side.
	hw        int64
	followers map[NodeID]*followerState
	pending   *proposal
	// unsettled are replicas a proposal added that failed or went
	// unanswered: the controller may have committed it all the same, so
	// they count in the maximal ISR until a higher partition epoch says
	// what the ISR is.
	unsettled       []NodeID
	lastShrinkCheck time.Time

	// Follower side.
	seq         uint64
	outstanding *outstandingFetch
	awaiting    bool // a truncation or append the machine asked for is not confirmed yet
}

// followerState is what a leader knows of one follower (Kafka's
// Replica.stateSnapshot).
type followerState struct {
	incarnation int64
	seq         uint64
	leo         int64 // acknowledged end; -1 unknown
	// lastCaughtUp is when the follower last had the leader's end (rule
	// 8.3.1); lastFetch and lastFetchLeaderEnd are the time and the
	// leader's end at its previous fetch.
	lastCaughtUp       time.Time
	lastFetch          time.Time
	lastFetchLeaderEnd int64
}

type proposal struct {
	isr  []NodeID
	sent time.Time
}

type outstandingFetch struct {
	seq    uint64
	offset int64
	sent   time.Time
	dummy  bool // a wait before the next fetch, with no fetch sent
}

// New returns the replica, in no state until the first Update.
func New(cfg Config, log Log) *Replica {
	return &Replica{cfg: cfg, log: log, role: Offline, hw: -1}
}

// Role returns what the replica does in the state it applied last.
func (r *Replica) Role() Role { return r.role }

// State returns a copy of the state applied last.
func (r *Replica) State() State { return r.state.clone() }

// HighWatermark returns the leader's high watermark (-1 when not leader).
func (r *Replica) HighWatermark() int64 {
	if r.role != Leader {
		return -1
	}
	return r.hw
}

// Update applies the controller's state of the partition.
//
// Errors: ErrInvalidState for a state that breaks the model, ErrStaleState
// for one older than the state applied, and ErrStateBehindLog (matching
// ErrStaleState) for one in a new leader epoch below the latest epoch the
// log holds: all change nothing. A repeat of the state applied is
// accepted and changes nothing.
func (r *Replica) Update(now time.Time, st State) (Effects, error) {
	eff := noEffects()
	if err := st.validate(); err != nil {
		return eff, err
	}
	if r.applied {
		cur := r.state
		switch {
		case st.equal(cur):
			return eff, nil
		case st.LeaderEpoch < cur.LeaderEpoch,
			st.LeaderEpoch == cur.LeaderEpoch && st.PartitionEpoch <= cur.PartitionEpoch:
			return eff, ErrStaleState
		case st.LeaderEpoch == cur.LeaderEpoch && st.Leader != cur.Leader:
			return eff, errInvalidf("leader changed from %d to %d without a new leader epoch (%d)", cur.Leader, st.Leader, st.LeaderEpoch)
		}
	}
	newEpoch := !r.applied || st.LeaderEpoch != r.state.LeaderEpoch
	if latest := r.log.LatestEpoch(); newEpoch && latest != NoEpoch && st.LeaderEpoch < latest {
		return eff, fmt.Errorf("%w: leader epoch %d, the log holds leader epoch %d", ErrStateBehindLog, st.LeaderEpoch, latest)
	}
	oldRole := r.role
	r.state, r.applied = st.clone(), true
	r.role = roleOf(st, r.cfg.Self)
	switch r.role {
	case Leader:
		if newEpoch || oldRole != Leader {
			r.becomeLeader(now)
			eff.AssignEpoch = st.LeaderEpoch
		} else {
			// The partition epoch moved: the proposal was answered (or
			// overtaken by another change), and the state now says what
			// the ISR is; propose afresh if needed.
			r.pending, r.unsettled = nil, nil
		}
		for _, id := range st.ISR {
			if f := r.followers[id]; f != nil && f.lastCaughtUp.IsZero() {
				f.lastCaughtUp = now
			}
		}
		if hw := r.advanceHW(now); hw >= 0 {
			eff.HighWatermark = hw
		}
	case Follower:
		r.followers, r.pending = nil, nil
		if newEpoch || oldRole != Follower {
			r.outstanding, r.awaiting = nil, false
		} else if r.outstanding != nil && r.outstanding.dummy {
			r.outstanding = nil // a refusal's wait: the update may cure it
		}
	default:
		r.followers, r.pending = nil, nil
		r.outstanding, r.awaiting = nil, false
	}
	return eff, nil
}

// becomeLeader starts a leader epoch: every follower's progress unknown,
// the ISR members credited as caught up now (so none is dropped at once),
// the high watermark where the log had it (rule 8.4.5: it may be below
// the epoch's start until followers fetch).
func (r *Replica) becomeLeader(now time.Time) {
	r.followers = map[NodeID]*followerState{}
	for _, id := range r.state.Replicas {
		if id == r.cfg.Self {
			continue
		}
		f := &followerState{leo: -1, lastFetchLeaderEnd: -1}
		if r.state.inISR(id) {
			f.lastCaughtUp = now
		}
		r.followers[id] = f
	}
	r.pending, r.unsettled = nil, nil
	r.hw = r.log.HighWatermark()
	r.lastShrinkCheck = now
	r.outstanding, r.awaiting = nil, false
}

// ReplicaStatus is one replica's progress as the leader knows it.
type ReplicaStatus struct {
	Node         NodeID
	InISR        bool
	LEO          int64 // acknowledged end, -1 unknown
	Lag          int64 // the leader's end minus LEO, -1 unknown
	LastCaughtUp time.Time
}

// Status is the leader's view of its replicas, in assignment order.
type Status struct {
	Replicas []ReplicaStatus
}

// Status returns the replicas' progress; empty unless leader.
func (r *Replica) Status(now time.Time) Status {
	if r.role != Leader {
		return Status{}
	}
	end := r.log.EndOffset()
	var s Status
	for _, id := range r.state.Replicas {
		rs := ReplicaStatus{Node: id, InISR: r.state.inISR(id), LEO: -1, Lag: -1}
		if id == r.cfg.Self {
			rs.LEO, rs.Lag, rs.LastCaughtUp = r.log.AckedOffset(), end-r.log.AckedOffset(), now
		} else if f := r.followers[id]; f != nil {
			rs.LEO, rs.LastCaughtUp = f.leo, f.lastCaughtUp
			if f.leo >= 0 {
				rs.Lag = end - f.leo
			}
		}
		s.Replicas = append(s.Replicas, rs)
	}
	return s
}

// maximalISR is the committed ISR with the addition pending, if any
// (rule 8.3.4).
func (r *Replica) maximalISR() []NodeID {
	isr := slices.Clone(r.state.ISR)
	var pending []NodeID
	if r.pending != nil {
		pending = r.pending.isr
	}
	for _, id := range slices.Concat(pending, r.unsettled) {
		if !slices.Contains(isr, id) {
			isr = append(isr, id)
		}
	}
	return isr
}

// unsettle keeps the additions of the pending proposal, which failed or
// went unanswered, counting until a higher partition epoch settles them.
func (r *Replica) unsettle() {
	if r.pending == nil {
		return
	}
	for _, id := range r.pending.isr {
		if !r.state.inISR(id) && !slices.Contains(r.unsettled, id) {
			r.unsettled = append(r.unsettled, id)
		}
	}
	r.pending = nil
}
