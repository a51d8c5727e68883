package replica

import (
	"errors"
	"fmt"
	"time"
)

// FetchResponse is the leader's answer as the follower receives it.
type FetchResponse struct {
	// ReplicaEpoch and Seq name the fetch answered.
	ReplicaEpoch int64
	Seq          uint64
	LeaderEpoch  int32
	// Err is the leader's refusal, as one of this package's errors.
	Err            error
	Diverging      *EpochEnd
	HighWatermark  int64
	LogStartOffset int64
	// BaseOffset is the first offset of the records carried (the fetch
	// offset when there are none); RecordsEnd the offset after them, -1
	// when there are none. The records start at the fetch offset, or
	// below it when the fetch offset lies inside the leader's first
	// batch: a leader whose log start lies inside a batch (DeleteRecords)
	// answers a fetch from its start with the whole batch holding it.
	BaseOffset int64
	RecordsEnd int64
}

// FollowerStep is what the driver does with a fetch response, in order:
// truncate or reset, append, apply the high watermark, raise the log
// start.
type FollowerStep struct {
	// Truncate, unless -1, is the offset to truncate the local log to.
	Truncate int64
	// ResetTo, unless -1, says to empty the local log and restart it at
	// that offset (Kafka's truncateFullyAndStartAt), in two cases: the
	// leader refused the fetch because its log starts past this
	// replica's end (retention or DeleteRecords removed what this replica
	// lacks), and ResetTo is the leader's log start; or this replica's
	// log is empty (its start is its end) and the leader answered with
	// the batch holding the fetch offset, which starts below it, and
	// ResetTo is that batch's base offset, where the batch is then
	// appended (Append). Restarting an empty log below its start is what
	// storage allows an empty log; the log start then comes back up to
	// the leader's with LogStart.
	ResetTo int64
	// Append says to append the response's records verbatim.
	Append bool
	// HighWatermark, unless -1, is the leader's high watermark, which the
	// driver applies capped at the local end (rule 8.2.4).
	HighWatermark int64
	// LogStart, unless -1, is the leader's log start offset, above this
	// replica's (after a reset, the reset's offset): the driver raises
	// the local log start to it, capped at the local high watermark once
	// the step's high watermark is applied (a log start never passes the
	// high watermark, rule 2.8.1), so that what retention or
	// DeleteRecords removed on the leader is not readable here, nor on
	// this replica if it leads later (Kafka's follower
	// maybeIncrementLogStartOffset). A log start never moves down.
	LogStart int64
	// FetchNow says the next fetch may go at once.
	FetchNow bool
}

func noStep() FollowerStep {
	return FollowerStep{Truncate: -1, ResetTo: -1, HighWatermark: -1, LogStart: -1}
}

// NextFetch returns the fetch a follower sends its leader now (rule
// 8.2.2), or false: when it does not follow, when a fetch is outstanding
// (or a refusal's wait runs) and not yet timed out, or while a step it
// asked for is not confirmed.
func (r *Replica) NextFetch(now time.Time) (Fetch, bool) {
	if r.role != Follower || r.awaiting {
		return Fetch{}, false
	}
	if o := r.outstanding; o != nil && now.Sub(o.sent) < r.cfg.FetchTimeout && !now.Before(o.sent) {
		return Fetch{}, false
	}
	r.seq++
	end := r.log.EndOffset()
	r.outstanding = &outstandingFetch{seq: r.seq, offset: end, sent: now}
	return Fetch{
		Replica: r.cfg.Self, ReplicaEpoch: r.cfg.Incarnation, Seq: r.seq,
		CurrentLeaderEpoch: r.state.LeaderEpoch, FetchOffset: end, AckedOffset: min(r.log.AckedOffset(), end),
		LastFetchedEpoch: r.log.LatestEpoch(),
	}, true
}

// HandleFetchResponse decides what a follower does with its leader's
// answer (rules 8.2.3, 8.2.4, 8.5.4, 8.5.5).
//
// Records must start at the fetch offset, with one exception: on an
// empty log (start == end == the fetch offset), records that start below
// the fetch offset and end above it are the leader's batch holding its
// log start (DeleteRecords inside a batch); the step resets the log to
// the batch's base offset and appends it (Kafka's follower does the
// same on an UnexpectedAppendOffsetException). Records starting
// elsewhere are a response to some other fetch, ignored.
//
// Errors: ErrStaleResponse for a response that does not answer the
// outstanding fetch (ignored); the leader's refusal otherwise, after
// which the follower fetches again after FetchTimeout (at once after a
// stale-fetch refusal, or at the next Update).
func (r *Replica) HandleFetchResponse(now time.Time, resp FetchResponse) (FollowerStep, error) {
	step := noStep()
	o := r.outstanding
	if r.role != Follower || o == nil || o.dummy || resp.Seq != o.seq || resp.ReplicaEpoch != r.cfg.Incarnation {
		return step, ErrStaleResponse
	}
	if resp.Err == nil && (resp.LeaderEpoch != r.state.LeaderEpoch || resp.Diverging == nil && resp.BaseOffset != o.offset && !r.holdsFetchOffset(o, resp)) {
		return step, ErrStaleResponse
	}
	r.outstanding = nil
	switch {
	case resp.Err != nil:
		return r.refused(now, resp)
	case resp.Diverging != nil:
		step.Truncate = r.divergenceTruncation(*resp.Diverging)
		r.awaiting = true
		step.FetchNow = true
		return step, nil
	}
	start := r.log.StartOffset()
	if resp.BaseOffset != o.offset {
		// The batch holding the fetch offset on an empty log
		// (holdsFetchOffset): restart the log at its base to take it.
		step.ResetTo, start = resp.BaseOffset, resp.BaseOffset
	}
	if resp.RecordsEnd > resp.BaseOffset {
		step.Append = true
		r.awaiting = true
	}
	step.HighWatermark = resp.HighWatermark
	if resp.LogStartOffset > start {
		step.LogStart = resp.LogStartOffset
	}
	step.FetchNow = true
	return step, nil
}

// holdsFetchOffset reports whether resp, answering o without divergence,
// carries the leader's batch holding the fetch offset, starting below it,
// to a follower whose log is empty at the fetch offset: the one case in
// which records may start below the fetch offset (see
// HandleFetchResponse).
func (r *Replica) holdsFetchOffset(o *outstandingFetch, resp FetchResponse) bool {
	start, end := r.log.StartOffset(), r.log.EndOffset()
	return start == end && end == o.offset &&
		resp.BaseOffset >= 0 && resp.BaseOffset < o.offset && resp.RecordsEnd > o.offset
}

// refused handles a leader's refusal of the outstanding fetch.
func (r *Replica) refused(now time.Time, resp FetchResponse) (FollowerStep, error) {
	step := noStep()
	switch {
	case errors.Is(resp.Err, ErrOffsetOutOfRange) && resp.LogStartOffset > r.log.EndOffset():
		// The leader's log starts past everything here (retention moved
		// it): restart the log there.
		step.ResetTo = resp.LogStartOffset
		r.awaiting = true
		step.FetchNow = true
		return step, nil
	case errors.Is(resp.Err, ErrStaleFetch):
		step.FetchNow = true
		return step, nil
	}
	// Any other refusal (a leader that has not applied its election yet,
	// one that no longer leads, a fenced epoch): the controller's next
	// update may cure it, or time may; ask again after FetchTimeout
	// either way, since the update may have arrived already. A leader
	// that does not lead yet, or not at this epoch yet (ErrNotLeader,
	// ErrUnknownLeaderEpoch), is most often one a moment behind the
	// controller, as after every election: it is asked again after
	// RefusedFetchRetry, so that a failover waits for the new leader,
	// not for FetchTimeout (1.5 s with the Log's defaults).
	sent := now
	if errors.Is(resp.Err, ErrNotLeader) || errors.Is(resp.Err, ErrUnknownLeaderEpoch) {
		sent = now.Add(min(RefusedFetchRetry, r.cfg.FetchTimeout) - r.cfg.FetchTimeout)
	}
	r.outstanding = &outstandingFetch{sent: sent, dummy: true}
	return step, fmt.Errorf("leader refused the fetch: %w", resp.Err)
}

// RefusedFetchRetry is how long a follower waits to fetch again from a
// leader that refused its fetch because it did not lead yet, or not at
// the follower's epoch (at most FetchTimeout).
const RefusedFetchRetry = 50 * time.Millisecond

// FetchWait returns how long from now NextFetch goes on returning false
// for the fetch outstanding or the wait after a refusal, and FetchTimeout
// when there is neither: the driver's next look.
func (r *Replica) FetchWait(now time.Time) time.Duration {
	if o := r.outstanding; o != nil && !now.Before(o.sent) {
		if d := r.cfg.FetchTimeout - now.Sub(o.sent); d > 0 {
			return d
		}
		return 0
	}
	return r.cfg.FetchTimeout
}

// divergenceTruncation is rule 8.5.4 (with KIP-279's repeat) for a leader
// that answered e: the offset to truncate to. It never truncates by high
// watermark: without an epoch in common it truncates to the log start.
func (r *Replica) divergenceTruncation(e EpochEnd) int64 {
	leo := r.log.EndOffset()
	if e.Epoch == NoEpoch {
		return r.log.StartOffset()
	}
	fe, fo := r.log.EndOffsetForEpoch(e.Epoch)
	switch {
	case fe == NoEpoch:
		return r.log.StartOffset()
	case fe == e.Epoch:
		return min(e.EndOffset, fo, leo)
	default:
		// This replica does not know the leader's epoch: cut back to the
		// end of the largest epoch below it, and let the next fetch
		// (carrying that epoch) find the divergence again.
		return min(fo, leo)
	}
}

// Truncated confirms that the driver carried out a step's truncation or
// reset.
func (r *Replica) Truncated() { r.awaiting = false }

// Appended confirms that the driver appended a step's records.
func (r *Replica) Appended() { r.awaiting = false }
