package replica

import (
	"fmt"
	"slices"
	"time"
)

// Fetch is a follower's fetch request as the leader receives it.
type Fetch struct {
	Replica NodeID
	// ReplicaEpoch is the follower's incarnation; Seq rises with each
	// fetch within it.
	ReplicaEpoch       int64
	Seq                uint64
	CurrentLeaderEpoch int32
	// FetchOffset is where to read from (the follower's written end);
	// AckedOffset is the follower's end for the high watermark and the
	// ISR (its durable end under SyncAlways).
	FetchOffset      int64
	AckedOffset      int64
	LastFetchedEpoch int32
}

// EpochEnd is a leader's answer to a diverging follower: the largest
// epoch it has at or below the follower's, and where that epoch ends in
// the leader's log.
type EpochEnd struct {
	Epoch     int32
	EndOffset int64
}

// FetchAnswer is the leader's decision on a fetch: an error, a
// divergence, or the offset to read batches from. The driver sends the
// batches from the one holding ReadFrom on, whole: when ReadFrom is a log
// start inside a batch (DeleteRecords), the first starts below it, and
// the follower, whose log is then empty, restarts it at that batch's
// base (see HandleFetchResponse).
type FetchAnswer struct {
	Err            error
	Diverging      *EpochEnd
	ReadFrom       int64
	HighWatermark  int64
	LeaderEpoch    int32
	LogStartOffset int64
}

// HandleFetch decides a follower's fetch as leader (rules 8.2.2, 8.2.5,
// 8.3, 8.4, 8.5.5): fenced messages are refused, a diverging follower is
// told where it diverges, any other fetch records the follower's progress,
// which may move the high watermark and propose it into the ISR.
func (r *Replica) HandleFetch(now time.Time, f Fetch) (FetchAnswer, Effects) {
	eff := noEffects()
	ans := FetchAnswer{ReadFrom: -1, HighWatermark: r.hw, LeaderEpoch: r.state.LeaderEpoch, LogStartOffset: r.log.StartOffset()}
	if r.role != Leader {
		ans.Err = r.notLeader()
		return ans, eff
	}
	fs := r.followers[f.Replica]
	switch {
	case fs == nil:
		ans.Err = fmt.Errorf("%w: node %d fetched; the replicas are %v", ErrNotReplica, f.Replica, r.state.Replicas)
	case f.CurrentLeaderEpoch < r.state.LeaderEpoch:
		ans.Err = fmt.Errorf("%w: fetch at leader epoch %d, the leader is at %d", ErrFencedLeaderEpoch, f.CurrentLeaderEpoch, r.state.LeaderEpoch)
	case f.CurrentLeaderEpoch > r.state.LeaderEpoch:
		ans.Err = fmt.Errorf("%w: fetch at leader epoch %d, the leader is at %d", ErrUnknownLeaderEpoch, f.CurrentLeaderEpoch, r.state.LeaderEpoch)
	case f.ReplicaEpoch < fs.incarnation:
		ans.Err = fmt.Errorf("%w: incarnation %d, the leader has heard from %d", ErrStaleReplicaEpoch, f.ReplicaEpoch, fs.incarnation)
	case f.ReplicaEpoch == fs.incarnation && f.Seq <= fs.seq:
		ans.Err = fmt.Errorf("%w: sequence %d, the leader has seen %d", ErrStaleFetch, f.Seq, fs.seq)
	}
	if ans.Err != nil {
		return ans, eff
	}
	if f.ReplicaEpoch > fs.incarnation {
		// A restarted follower: what the leader knew of it is stale.
		fs.incarnation, fs.leo = f.ReplicaEpoch, -1
	}
	fs.seq = f.Seq
	start, end := r.log.StartOffset(), r.log.EndOffset()
	if f.FetchOffset < start {
		ans.Err = fmt.Errorf("%w: fetch from %d, below the leader's log start %d", ErrOffsetOutOfRange, f.FetchOffset, start)
		return ans, eff
	}
	if f.LastFetchedEpoch != NoEpoch {
		e, o := r.log.EndOffsetForEpoch(f.LastFetchedEpoch)
		if e == NoEpoch {
			// No epoch in common: the answer's end is the leader's log
			// start, so that it reads as a divergence on the wire.
			ans.Diverging = &EpochEnd{Epoch: NoEpoch, EndOffset: start}
			return ans, eff
		}
		if e != f.LastFetchedEpoch || o < f.FetchOffset {
			ans.Diverging = &EpochEnd{Epoch: e, EndOffset: o}
			return ans, eff
		}
	}
	if f.FetchOffset > end {
		ans.Err = fmt.Errorf("%w: fetch from %d, above the leader's end %d", ErrOffsetOutOfRange, f.FetchOffset, end)
		return ans, eff
	}
	acked := min(f.AckedOffset, f.FetchOffset)
	fs.leo = acked
	switch {
	case acked >= end:
		fs.lastCaughtUp = now
	case fs.lastFetchLeaderEnd >= 0 && acked >= fs.lastFetchLeaderEnd && fs.lastFetch.After(fs.lastCaughtUp):
		fs.lastCaughtUp = fs.lastFetch
	}
	fs.lastFetch, fs.lastFetchLeaderEnd = now, end
	if hw := r.advanceHW(now); hw >= 0 {
		eff.HighWatermark = hw
	}
	r.maybeExpand(now, f.Replica, &eff)
	ans.ReadFrom, ans.HighWatermark = f.FetchOffset, r.hw
	return ans, eff
}

// LocalAppended recomputes the high watermark after a local append or a
// local fsync (rule 8.4.4).
func (r *Replica) LocalAppended(now time.Time) Effects {
	eff := noEffects()
	if r.role == Leader {
		if hw := r.advanceHW(now); hw >= 0 {
			eff.HighWatermark = hw
		}
	}
	return eff
}

// caughtUp is rule 8.3.1 for follower f, against the leader's end.
func (r *Replica) caughtUp(now time.Time, f *followerState, end int64) bool {
	return f.leo >= 0 && f.leo >= end || !f.lastCaughtUp.IsZero() && now.Sub(f.lastCaughtUp) <= r.cfg.LagTime
}

// advanceHW applies rules 8.4.1–8.4.3 and returns the new high watermark,
// or -1 when it does not move.
func (r *Replica) advanceHW(now time.Time) int64 {
	if len(r.state.ISR) < r.cfg.MinISR {
		return -1 // rule 8.4.2
	}
	end := r.log.EndOffset()
	hw := r.log.AckedOffset()
	maximal := r.maximalISR()
	for id, f := range r.followers {
		inISR := slices.Contains(maximal, id)
		if !inISR && !(r.caughtUp(now, f, end) && f.leo >= 0) {
			continue
		}
		if f.leo < 0 {
			return -1 // an ISR member not heard from in this epoch
		}
		hw = min(hw, f.leo)
	}
	if hw <= r.hw {
		return -1 // rule 8.4.3: monotone on a leader
	}
	r.hw = hw
	return hw
}

// maybeExpand proposes follower id into the ISR when rule 8.3.3 allows.
func (r *Replica) maybeExpand(now time.Time, id NodeID, eff *Effects) {
	f := r.followers[id]
	if r.state.inISR(id) || r.pending != nil || f.leo < r.hw {
		return
	}
	if start := r.log.EpochStartOffset(r.state.LeaderEpoch); start < 0 || f.leo < start {
		return
	}
	isr := append(slices.Clone(r.state.ISR), id)
	r.propose(now, isr, eff)
}

// Tick runs the leader's timers: every LagTime/2 it proposes the
// followers that are not caught up out of the ISR (rules 8.3.1, 8.3.2;
// the leader stays, so the ISR is never empty, rule 8.6.4), and a
// proposal unanswered for FetchTimeout may be made again.
func (r *Replica) Tick(now time.Time) Effects {
	eff := noEffects()
	if r.role != Leader {
		return eff
	}
	if r.pending != nil && (now.Sub(r.pending.sent) > r.cfg.FetchTimeout || now.Before(r.pending.sent)) {
		r.unsettle()
	}
	if now.Sub(r.lastShrinkCheck) < r.cfg.LagTime/2 && !now.Before(r.lastShrinkCheck) {
		return eff
	}
	r.lastShrinkCheck = now
	if r.pending != nil {
		return eff
	}
	end := r.log.EndOffset()
	isr := slices.DeleteFunc(slices.Clone(r.state.ISR), func(id NodeID) bool {
		f := r.followers[id]
		return id != r.cfg.Self && (f == nil || !r.caughtUp(now, f, end))
	})
	// With additions unsettled, propose even an unchanged set: the
	// controller's answer, at a higher partition epoch, settles them.
	if len(isr) < len(r.state.ISR) || len(r.unsettled) > 0 {
		r.propose(now, isr, &eff)
	}
	return eff
}

func (r *Replica) propose(now time.Time, isr []NodeID, eff *Effects) {
	r.pending = &proposal{isr: isr, sent: now}
	eff.AlterISR = slices.Clone(isr)
	eff.AlterISRLeaderEpoch, eff.AlterISRPartitionEpoch = r.state.LeaderEpoch, r.state.PartitionEpoch
}

// AlterISRFailed tells the leader the controller refused its proposal
// (or it could not be sent): it may propose again. What the proposal
// added keeps counting for the high watermark until a higher partition
// epoch arrives, since a failure seen here may hide a commit.
func (r *Replica) AlterISRFailed(now time.Time, err error) {
	r.unsettle()
}

// CheckAppend decides whether the leader takes an append: a replica that
// does not lead returns a *NotLeaderError; an AckAll append while the ISR
// is below MinISR returns ErrNotEnoughReplicas (nothing is appended).
func (r *Replica) CheckAppend(ackAll bool) error {
	if r.role != Leader {
		return r.notLeader()
	}
	if ackAll && len(r.state.ISR) < r.cfg.MinISR {
		return fmt.Errorf("%w: the in-sync replicas are %v, %d of the %d required; nothing was appended",
			ErrNotEnoughReplicas, r.state.ISR, len(r.state.ISR), r.cfg.MinISR)
	}
	return nil
}

// AckAllStatus reports whether the batch ending at offset is committed
// (the high watermark reached it); ErrNotEnoughReplicasAfterAppend when it
// is not and cannot be while the ISR is below MinISR; a *NotLeaderError
// when the replica no longer leads.
func (r *Replica) AckAllStatus(offset int64) (bool, error) {
	if r.role != Leader {
		return false, r.notLeader()
	}
	if r.hw >= offset {
		return true, nil
	}
	if len(r.state.ISR) < r.cfg.MinISR {
		return false, fmt.Errorf("%w: the in-sync replicas shrank to %v, %d of the %d required, before offset %d was committed",
			ErrNotEnoughReplicasAfterAppend, r.state.ISR, len(r.state.ISR), r.cfg.MinISR, offset-1)
	}
	return false, nil
}

func (r *Replica) notLeader() error {
	return &NotLeaderError{Leader: r.state.Leader, LeaderEpoch: r.state.LeaderEpoch}
}

func errInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidState, fmt.Sprintf(format, args...))
}
