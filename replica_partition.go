package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/replica"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// replicaPartition is the local replica of one partition on a replicated
// Log: the replica state machine (internal/replica) and the work it asks
// for. As leader it serves followers' fetches (holding those that find
// nothing new until data comes or their wait ends), stamps its leader
// epoch into what it appends, moves the high watermark as followers
// acknowledge, and proposes in-sync set changes to the controller. As
// follower it runs a fetcher goroutine that fetches from the leader,
// truncates where the logs diverge (or restarts its log at the leader's
// log start when the leader no longer holds what it lacks), appends the
// leader's batches verbatim, applies the leader's high watermark and
// takes the leader's log start.
//
// mu serializes the state machine and the log changes it decides, so no
// follower append or truncation interleaves with a change of role.
type replicaPartition struct {
	r *replicator
	p *Partition

	mu sync.Mutex
	m  *replica.Replica
	md PartitionMetadata // the partition state last applied
	// state is md for readers that take no lock (Partition.Stats).
	state atomic.Pointer[PartitionMetadata]
	// leaderEpoch is md.LeaderEpoch, for committed to read without
	// mu. It is stored, under mu, before anything done for a new state
	// changes the log or its high watermark.
	leaderEpoch atomic.Int32
	changed     chan struct{} // closed and replaced at every state change
	// parked are the followers' fetches the leader holds until data
	// arrives or their wait ends.
	parked []*parkedFetch
	// fetcher is the running follower fetcher's stop channel and its
	// end; nil when none runs.
	fetcherStop chan struct{}
	fetcherDone chan struct{}
	closed      bool

	// responses carries fetch responses to the fetcher.
	responses chan *FetchResponse
}

// parkedFetch is a fetch the leader holds.
type parkedFetch struct {
	from  NodeID
	req   *FetchRequest
	timer *time.Timer
	done  bool
}

func newReplicaPartition(r *replicator, p *Partition) *replicaPartition {
	rp := &replicaPartition{r: r, p: p, changed: make(chan struct{}), responses: make(chan *FetchResponse, 4),
		md: PartitionMetadata{Partition: p.id, Leader: NoNode, LeaderEpoch: -1, PartitionEpoch: -1}}
	rp.leaderEpoch.Store(-1)
	rp.m = replica.New(replica.Config{
		Self:         replica.NodeID(r.node),
		MinISR:       int(p.cfg.MinInSyncReplicas),
		LagTime:      r.lagTime,
		FetchTimeout: r.fetchExpiry,
		Incarnation:  r.incarnation,
	}, replicaLog{rp})
	return rp
}

// replicaLog is the state machine's view of the local log.
type replicaLog struct{ rp *replicaPartition }

func (v replicaLog) StartOffset() int64   { return v.rp.p.store.StartOffset() }
func (v replicaLog) EndOffset() int64     { return v.rp.p.store.EndOffset() }
func (v replicaLog) HighWatermark() int64 { return v.rp.p.store.HighWatermark() }
func (v replicaLog) LatestEpoch() int32   { return v.rp.p.store.LatestEpoch() }

// AckedOffset is what this replica reports as its end: under SyncAlways
// only what is on disk ([D]: AckAll then means durable on
// MinInSyncReplicas nodes, the leader included), else what is written.
func (v replicaLog) AckedOffset() int64 {
	s := v.rp.p.store
	if v.rp.r.l.opts.Sync == SyncAlways {
		return s.DurableOffset()
	}
	return s.EndOffset()
}

func (v replicaLog) EpochStartOffset(epoch int32) int64 { return v.rp.p.store.EpochStartOffset(epoch) }

func (v replicaLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return v.rp.p.store.EndOffsetForEpoch(epoch)
}

func (rp *replicaPartition) now() time.Time { return rp.r.l.opts.now() }

func (rp *replicaPartition) logger() *slog.Logger { return rp.r.l.opts.Logger }

// update applies the controller's partition state.
func (rp *replicaPartition) update(pm PartitionMetadata) {
	rp.mu.Lock()
	if rp.closed {
		rp.mu.Unlock()
		return
	}
	eff, err := rp.m.Update(rp.now(), replica.State{
		Replicas: convertIDs[replica.NodeID](pm.Replicas), Leader: replica.NodeID(pm.Leader), LeaderEpoch: pm.LeaderEpoch,
		ISR: convertIDs[replica.NodeID](pm.ISR), PartitionEpoch: pm.PartitionEpoch,
	})
	if err != nil {
		rp.mu.Unlock()
		switch {
		case errors.Is(err, replica.ErrStateBehindLog):
			rp.logger().Warn("partition state refused: its leader epoch is below the one in this replica's log, so the controller has lost the epochs it handed out (a new InProcessController over existing Logs?); the replica is not served until the controller's epochs pass the log's",
				"topic", rp.p.topic.name, "partition", rp.p.id, "leader_epoch", pm.LeaderEpoch, "log_epoch", rp.p.store.LatestEpoch(), "err", err)
		case !errors.Is(err, replica.ErrStaleState):
			rp.logger().Warn("partition state refused", "topic", rp.p.topic.name, "partition", rp.p.id, "err", err)
		}
		return
	}
	rp.md = pm.clone()
	published := pm.clone()
	rp.state.Store(&published)
	rp.leaderEpoch.Store(pm.LeaderEpoch)
	rp.logger().Debug("partition state", "topic", rp.p.topic.name, "partition", rp.p.id, "leader", pm.Leader,
		"leader_epoch", pm.LeaderEpoch, "isr", pm.ISR, "partition_epoch", pm.PartitionEpoch,
		"end", rp.p.store.EndOffset(), "durable", rp.p.store.DurableOffset(), "hw", rp.p.store.HighWatermark())
	if eff.AssignEpoch != replica.NoEpoch {
		// The leader epoch is on disk before anything is appended in it.
		if err := rp.p.store.AssignLeaderEpoch(eff.AssignEpoch); err != nil {
			rp.logger().Error("recording the leader epoch failed", "topic", rp.p.topic.name, "partition", rp.p.id, "epoch", eff.AssignEpoch, "err", err)
		}
	}
	rp.applyLocked(eff)
	close(rp.changed)
	rp.changed = make(chan struct{})
	role := rp.m.Role()
	var parked []*parkedFetch
	if role != replica.Leader {
		parked, rp.parked = rp.parked, nil
	}
	startFetcher := role == replica.Follower && rp.fetcherStop == nil
	var stop, done chan struct{}
	if role != replica.Follower && rp.fetcherStop != nil {
		stop, done = rp.fetcherStop, rp.fetcherDone
		rp.fetcherStop, rp.fetcherDone = nil, nil
	}
	if startFetcher {
		rp.fetcherStop, rp.fetcherDone = make(chan struct{}), make(chan struct{})
		stop, done := rp.fetcherStop, rp.fetcherDone
		rp.r.wg.Go(func() { rp.runFetcher(stop, done) })
	}
	rp.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	for _, pf := range parked {
		rp.answerParked(pf)
	}
	rp.p.wakeAll()
}

// applyLocked carries out a state machine's effects. REQUIRES: rp.mu.
func (rp *replicaPartition) applyLocked(eff replica.Effects) {
	if eff.HighWatermark >= 0 {
		rp.p.store.SetHighWatermark(eff.HighWatermark)
	}
	if eff.AlterISR != nil {
		rp.r.alterISR(rp, AlterISRRequest{
			Topic: rp.p.topic.name, Partition: rp.p.id, Leader: rp.r.node,
			LeaderEpoch: eff.AlterISRLeaderEpoch, PartitionEpoch: eff.AlterISRPartitionEpoch, ISR: convertIDs[NodeID](eff.AlterISR),
		})
	}
}

// alterISRFailed tells the state machine its proposal was refused.
func (rp *replicaPartition) alterISRFailed(err error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.m.AlterISRFailed(rp.now(), err)
}

// tick runs the state machine's timers.
func (rp *replicaPartition) tick() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if !rp.closed {
		rp.applyLocked(rp.m.Tick(rp.now()))
	}
}

// shutdown stops the replica's work: its fetcher and held fetches.
func (rp *replicaPartition) shutdown() {
	rp.mu.Lock()
	rp.closed = true
	stop, done := rp.fetcherStop, rp.fetcherDone
	rp.fetcherStop, rp.fetcherDone = nil, nil
	parked := rp.parked
	rp.parked = nil
	close(rp.changed)
	rp.changed = make(chan struct{})
	rp.mu.Unlock()
	for _, pf := range parked {
		pf.timer.Stop()
	}
	if stop != nil {
		close(stop)
		<-done
	}
}

// notLeader returns the error for an append to a replica that does not
// lead. REQUIRES: rp.mu.
// refuseUnlessLeader returns a *NotLeaderError unless this replica leads
// in the partition state last applied: for changes that only the leader
// may make (DeleteRecords), which followers then take from it.
func (rp *replicaPartition) refuseUnlessLeader() error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.closed {
		return rp.p.store.ClosedErr()
	}
	if rp.m.Role() != replica.Leader {
		return rp.notLeaderLocked()
	}
	return nil
}

func (rp *replicaPartition) notLeaderLocked() error {
	return &NotLeaderError{Topic: rp.p.topic.name, Partition: rp.p.id, Node: rp.r.node, Leader: rp.md.Leader, LeaderEpoch: rp.md.LeaderEpoch,
		LeaderAddr: rp.r.peerAddr(rp.md.Leader)}
}

// notLeaderAfterAppendLocked is notLeaderLocked for a batch appended
// here before the leadership moved: its fate is the next leader's.
// REQUIRES: rp.mu.
func (rp *replicaPartition) notLeaderAfterAppendLocked() *NotLeaderError {
	e := rp.notLeaderLocked().(*NotLeaderError)
	e.AfterAppend = true
	return e
}

// append appends a batch the partition's front built, as leader, and
// waits for what acks asks: nothing (AckNone), durability on the leader
// (AckLeader), or commitment (AckAll: below the high watermark, so on
// every in-sync replica, at least MinInSyncReplicas of them). It is
// appendLocal and then, unless o.NoWait, awaitAck.
func (rp *replicaPartition) append(ctx context.Context, batch []byte, o storage.AppendOptions, acks Acks) (AppendResult, error) {
	res, epoch, err := rp.appendLocal(ctx, batch, o, acks)
	if err != nil || o.NoWait {
		return res, err
	}
	return res, rp.awaitAck(ctx, res.LastOffset+1, epoch, acks)
}

// appendLocal appends a batch as leader, after checking that this replica
// leads and, for AckAll, that the in-sync set is large enough, and has the
// followers' held fetches answered (on goroutines of their own). It
// returns once the batch is written here, with its offsets and the leader
// epoch it was appended at, without waiting for anything acks asks
// (awaitAck does). A batch of an idempotent producer that repeats one the
// log holds returns that one's offsets and appends nothing.
func (rp *replicaPartition) appendLocal(ctx context.Context, batch []byte, o storage.AppendOptions, acks Acks) (AppendResult, int32, error) {
	if o.Defer == nil {
		// The append's events are reported once rp.mu is released (every
		// return below releases it first), unless the caller reports
		// them itself.
		var own storage.Deferred
		o.Defer = &own
		defer rp.p.store.Report(&own)
	}
	rp.mu.Lock()
	if rp.closed {
		rp.mu.Unlock()
		return AppendResult{}, -1, rp.p.store.ClosedErr()
	}
	if err := rp.m.CheckAppend(acks == AckAll); err != nil {
		rp.mu.Unlock()
		return AppendResult{}, -1, rp.appendError(err)
	}
	epoch := rp.md.LeaderEpoch
	o.NoWait = true
	o.LeaderEpoch = epoch
	res, err := rp.p.store.AppendBatch(ctx, batch, o)
	if err != nil {
		rp.mu.Unlock()
		return res, -1, err
	}
	rp.applyLocked(rp.m.LocalAppended(rp.now()))
	// The held fetches are answered off the appender's goroutine: reading
	// and sending the batch for each follower would hold up the next
	// append (a pipelining Producer's), and on another core it overlaps
	// with it. Started under rp.mu, before shutdown can wait for r.wg.
	for _, pf := range rp.parked {
		rp.r.wg.Go(func() { rp.answerParked(pf) })
	}
	clear(rp.parked)
	rp.parked = rp.parked[:0]
	rp.mu.Unlock()
	return res, epoch, nil
}

// awaitAck waits for what acks asks of the batch ending at end, which
// appendLocal appended at leader epoch epoch: nothing (AckNone),
// durability here (AckLeader, per Options.Sync), or commitment (AckAll).
// Its errors are ambiguous: the batch is in the log, and may yet commit.
func (rp *replicaPartition) awaitAck(ctx context.Context, end int64, epoch int32, acks Acks) error {
	if acks == AckNone {
		return nil
	}
	if acks == AckLeader {
		return rp.p.store.Acknowledge(ctx, end, storage.AppendOptions{})
	}
	return rp.awaitCommitted(ctx, end, epoch)
}

// awaitCommitted waits until what was appended below end at leader epoch
// epoch is durable here (under SyncAlways; the followers fsync meanwhile)
// and then committed: below the high watermark.
func (rp *replicaPartition) awaitCommitted(ctx context.Context, end int64, epoch int32) error {
	if err := rp.p.store.Acknowledge(ctx, end, storage.AppendOptions{}); err != nil {
		return err
	}
	if rp.r.l.opts.Sync == SyncAlways && !rp.committed(end, epoch) {
		// The leader's own end counts for the high watermark once durable.
		rp.mu.Lock()
		rp.applyLocked(rp.m.LocalAppended(rp.now()))
		rp.mu.Unlock()
	}
	return rp.waitCommitted(ctx, end, epoch)
}

// leadership returns the leader epoch of the partition state last
// applied and whether this replica leads in it.
func (rp *replicaPartition) leadership() (epoch int32, leads bool) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.md.LeaderEpoch, !rp.closed && rp.m.Role() == replica.Leader
}

// committed reports, without rp.mu, whether the batch ending at end that
// this replica appended as leader at epoch epoch is below the high
// watermark. The high watermark is read first: if it had moved for a
// later epoch (as a follower truncating and fetching, or a leader again),
// the epoch stored before that move would be read after it. A false
// answer means nothing: waitCommitted asks the state machine.
func (rp *replicaPartition) committed(end int64, epoch int32) bool {
	return rp.p.store.HighWatermark() >= end && rp.leaderEpoch.Load() == epoch
}

// waitCommitted waits until the batch ending at end, appended at leader
// epoch epoch, is below the high watermark.
func (rp *replicaPartition) waitCommitted(ctx context.Context, end int64, epoch int32) error {
	for {
		hw := rp.p.hwChanged()
		if rp.committed(end, epoch) {
			// Without rp.mu, which appends hold while they write.
			return nil
		}
		rp.mu.Lock()
		if rp.md.LeaderEpoch != epoch || rp.closed {
			var err error = rp.notLeaderAfterAppendLocked()
			if rp.closed {
				err = rp.p.store.ClosedErr()
			}
			rp.mu.Unlock()
			return err
		}
		done, err := rp.m.AckAllStatus(end)
		changed := rp.changed
		rp.mu.Unlock()
		if done {
			return nil
		}
		if err != nil {
			if errors.Is(err, replica.ErrNotLeader) {
				rp.mu.Lock()
				defer rp.mu.Unlock()
				return rp.notLeaderAfterAppendLocked()
			}
			return rp.appendError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hw:
		case <-changed:
		case <-rp.p.store.Done():
		}
	}
}

// appendError maps the state machine's refusals to the package's errors.
func (rp *replicaPartition) appendError(err error) error {
	name := fmt.Sprintf("%s-%d", rp.p.topic.name, rp.p.id)
	switch {
	case errors.Is(err, replica.ErrNotLeader):
		rp.mu.Lock()
		defer rp.mu.Unlock()
		return rp.notLeaderLocked()
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return fmt.Errorf("%w: %s: %w", ErrNotEnoughReplicasAfterAppend, name, err)
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return fmt.Errorf("%w: %s: %w", ErrNotEnoughReplicas, name, err)
	}
	return err
}

// serveFetch answers a follower's fetch, or holds it while there is
// nothing new for it.
func (rp *replicaPartition) serveFetch(from NodeID, req *FetchRequest) {
	rp.mu.Lock()
	if rp.closed {
		rp.mu.Unlock()
		return
	}
	ans, eff := rp.m.HandleFetch(rp.now(), replica.Fetch{
		Replica: replica.NodeID(from), ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq,
		CurrentLeaderEpoch: req.CurrentLeaderEpoch, FetchOffset: req.FetchOffset, AckedOffset: req.AckedOffset,
		LastFetchedEpoch: req.LastFetchedEpoch,
	})
	rp.applyLocked(eff)
	if ans.Err == nil && ans.Diverging == nil && req.MaxWait > 0 && ans.ReadFrom >= rp.p.store.EndOffset() {
		pf := &parkedFetch{from: from, req: req}
		wait := min(req.MaxWait, rp.r.fetchWait)
		pf.timer = time.AfterFunc(wait, func() { rp.expireParked(pf) })
		rp.parked = append(rp.parked, pf)
		rp.mu.Unlock()
		return
	}
	fr := rp.responseLocked(req, ans)
	rp.mu.Unlock()
	rp.reply(from, fr)
}

// expireParked answers a held fetch whose wait has ended.
func (rp *replicaPartition) expireParked(pf *parkedFetch) {
	rp.mu.Lock()
	found := false
	for i, q := range rp.parked {
		if q == pf {
			rp.parked = append(rp.parked[:i], rp.parked[i+1:]...)
			found = true
			break
		}
	}
	rp.mu.Unlock()
	if found {
		rp.answerParked(pf)
	}
}

// answerParked answers a held fetch with what there is now.
func (rp *replicaPartition) answerParked(pf *parkedFetch) {
	pf.timer.Stop()
	rp.mu.Lock()
	var fr fetchRead
	if rp.m.Role() != replica.Leader || rp.md.LeaderEpoch != pf.req.CurrentLeaderEpoch {
		fr.resp = rp.errorResponse(pf.req, FetchNotLeader)
	} else {
		fr = rp.responseLocked(pf.req, replica.FetchAnswer{
			ReadFrom: pf.req.FetchOffset, HighWatermark: rp.m.HighWatermark(), LeaderEpoch: rp.md.LeaderEpoch,
			LogStartOffset: rp.p.store.StartOffset(),
		})
	}
	rp.mu.Unlock()
	rp.reply(pf.from, fr)
}

// fetchRead is a fetch response whose batches are still to be read, by
// finish: the reader was opened under rp.mu, bounded by the log's written
// end then, and the copy is made after rp.mu is released, so that it
// holds up neither appends nor the state machine (the high watermark
// moving as other fetches come). A truncation meanwhile (this replica
// turned follower) makes the reader fail at the cut rather than return
// what was written after it.
type fetchRead struct {
	resp     *FetchResponse
	rd       *storage.Reader // nil when resp is complete
	from     int64
	maxBytes int
}

// responseLocked builds the response to req from the state machine's
// answer, and opens the reader of the batches it allows, for finish.
// REQUIRES: rp.mu.
func (rp *replicaPartition) responseLocked(req *FetchRequest, ans replica.FetchAnswer) fetchRead {
	if ans.Err != nil {
		resp := rp.errorResponse(req, fetchErrorOf(ans.Err))
		resp.LogStartOffset = ans.LogStartOffset
		resp.LeaderEpoch = ans.LeaderEpoch
		return fetchRead{resp: resp}
	}
	resp := &FetchResponse{
		Topic: req.Topic, Partition: req.Partition, ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: ans.LeaderEpoch,
		HighWatermark: ans.HighWatermark, LogStartOffset: ans.LogStartOffset,
		DivergingEpoch: -1, DivergingEndOffset: -1, BaseOffset: -1,
	}
	if ans.Diverging != nil {
		resp.DivergingEpoch, resp.DivergingEndOffset = ans.Diverging.Epoch, ans.Diverging.EndOffset
		return fetchRead{resp: resp}
	}
	maxBytes := int(rp.r.fetchBytes)
	if req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(req.MaxBytes))
	}
	s := rp.p.store
	rd, err := s.NewReader(ans.ReadFrom, s.WrittenPosition())
	if err != nil {
		rp.logger().Warn("reading batches for a follower failed", "topic", rp.p.topic.name, "partition", rp.p.id, "offset", ans.ReadFrom, "err", err)
		return fetchRead{resp: rp.errorResponse(req, FetchNotLeader)}
	}
	return fetchRead{resp: resp, rd: rd, from: ans.ReadFrom, maxBytes: maxBytes}
}

// responseBuffers holds the buffers of fetch responses' Records: a
// Transport does not retain a message after Send returns (it copies or
// encodes it), so a buffer serves the next response at once.
var responseBuffers sync.Pool

// reply reads the batches of fr, sends the response to node to, and
// recycles its buffer.
func (rp *replicaPartition) reply(to NodeID, fr fetchRead) {
	var buf *[]byte
	if fr.rd != nil {
		buf, _ = responseBuffers.Get().(*[]byte)
		if buf == nil {
			buf = new([]byte)
		}
	}
	resp := rp.finish(fr, buf)
	rp.r.send(to, resp)
	if buf != nil {
		if cap(resp.Records) > cap(*buf) {
			*buf = resp.Records // grown: keep the larger one
		}
		resp.Records = nil
		responseBuffers.Put(buf)
	}
}

// finish reads the batches of fr into buf (nil: a new buffer), closes its
// reader and returns the response. A failed read answers FetchNotLeader
// at the answer's epoch: the follower fetches again, or learns of the new
// leader.
func (rp *replicaPartition) finish(fr fetchRead, buf *[]byte) *FetchResponse {
	resp := fr.resp
	if fr.rd == nil {
		return resp
	}
	var records []byte
	if buf != nil {
		records = (*buf)[:0]
	}
	records, base, err := readBatches(fr.rd, records, fr.maxBytes)
	fr.rd.Close()
	if err != nil {
		if !errors.Is(err, storage.ErrLogTruncated) {
			rp.logger().Warn("reading batches for a follower failed", "topic", rp.p.topic.name, "partition", rp.p.id, "offset", fr.from, "err", err)
		}
		return &FetchResponse{Topic: resp.Topic, Partition: resp.Partition, ReplicaEpoch: resp.ReplicaEpoch, Seq: resp.Seq, LeaderEpoch: resp.LeaderEpoch,
			Error: FetchNotLeader, HighWatermark: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1, BaseOffset: -1}
	}
	resp.Records, resp.BaseOffset = records, base
	if base < 0 {
		resp.BaseOffset = fr.from
	}
	return resp
}

// readBatches appends whole batches from rd to records, up to its bound:
// at least one, then as many as fit in maxBytes. base is the first
// batch's base offset, -1 when there is none.
func readBatches(rd *storage.Reader, records []byte, maxBytes int) (_ []byte, base int64, err error) {
	base = -1
	for {
		b, h, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return records, base, nil
			}
			return nil, -1, err
		}
		if len(records) > 0 && len(records)+len(b) > maxBytes {
			return records, base, nil
		}
		if base < 0 {
			base = h.BaseOffset
		}
		records = append(records, b...)
	}
}

func (rp *replicaPartition) errorResponse(req *FetchRequest, code FetchError) *FetchResponse {
	return &FetchResponse{Topic: req.Topic, Partition: req.Partition, ReplicaEpoch: req.ReplicaEpoch, Seq: req.Seq, LeaderEpoch: rp.md.LeaderEpoch,
		Error: code, HighWatermark: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1, BaseOffset: -1}
}

// takeResponse hands a fetch response to the fetcher, dropping it when
// the fetcher has one waiting already (a duplicate or stale one: the
// fetcher ignores what does not answer its fetch).
func (rp *replicaPartition) takeResponse(from NodeID, resp *FetchResponse) {
	select {
	case rp.responses <- resp:
	default:
	}
}

// runFetcher is the follower's loop: fetch from the leader, carry out
// what the answer says, repeat, until stop.
func (rp *replicaPartition) runFetcher(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	timer := time.NewTimer(rp.r.fetchExpiry)
	defer timer.Stop()
	for {
		rp.mu.Lock()
		now := rp.now()
		f, ok := rp.m.NextFetch(now)
		wait := rp.r.fetchExpiry
		if !ok {
			// A refusal may be asked again sooner (RefusedFetchRetry).
			wait = min(wait, max(rp.m.FetchWait(now), time.Millisecond))
		}
		leader, changed := rp.md.Leader, rp.changed
		rp.mu.Unlock()
		if ok {
			rp.r.send(leader, &FetchRequest{
				Topic: rp.p.topic.name, Partition: rp.p.id, ReplicaEpoch: f.ReplicaEpoch, Seq: f.Seq,
				CurrentLeaderEpoch: f.CurrentLeaderEpoch, FetchOffset: f.FetchOffset, AckedOffset: f.AckedOffset,
				LastFetchedEpoch: f.LastFetchedEpoch, LogStartOffset: rp.p.store.StartOffset(),
				MaxBytes: rp.r.fetchBytes, MaxWait: rp.r.fetchWait,
			})
		}
		timer.Reset(wait)
		for waiting := true; waiting; {
			select {
			case <-stop:
				return
			case <-changed:
				waiting = false
			case <-timer.C:
				waiting = false
			case resp := <-rp.responses:
				handled, err := rp.follow(resp)
				if err != nil && !errors.Is(err, ErrClosed) {
					rp.logger().Warn("following the leader failed", "topic", rp.p.topic.name, "partition", rp.p.id, "leader", leader, "err", err)
				}
				waiting = !handled
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// follow carries out a fetch response and reports whether it answered
// the outstanding fetch (otherwise the fetcher keeps waiting).
func (rp *replicaPartition) follow(resp *FetchResponse) (bool, error) {
	rp.mu.Lock()
	step, err := rp.m.HandleFetchResponse(rp.now(), replica.FetchResponse{
		ReplicaEpoch: resp.ReplicaEpoch, Seq: resp.Seq, LeaderEpoch: resp.LeaderEpoch, Err: resp.Error.replicaErr(),
		Diverging:     diverging(resp),
		HighWatermark: resp.HighWatermark, LogStartOffset: resp.LogStartOffset,
		BaseOffset: resp.BaseOffset, RecordsEnd: recordsEnd(resp),
	})
	if lg := rp.logger(); lg.Enabled(context.Background(), slog.LevelDebug) {
		// Off the fetch path unless asked for: it formats and copies.
		lg.Debug("fetch response", "topic", rp.p.topic.name, "partition", rp.p.id, "seq", resp.Seq, "error", resp.Error,
			"diverging", resp.DivergingEpoch, "diverging_end", resp.DivergingEndOffset, "base", resp.BaseOffset, "records", len(resp.Records),
			"step", fmt.Sprintf("%+v", step), "err", err, "end", rp.p.store.EndOffset(), "latest_epoch", rp.p.store.LatestEpoch(),
			"epochs", fmt.Sprint(rp.p.store.LeaderEpochs()))
	}
	if errors.Is(err, replica.ErrStaleResponse) {
		rp.mu.Unlock()
		return false, nil
	}
	if err != nil {
		rp.mu.Unlock()
		return true, nil // the leader refused: the state machine waits for new metadata
	}
	s := rp.p.store
	ctx := rp.r.ctx
	if step.Truncate >= 0 {
		err := s.TruncateTo(ctx, step.Truncate)
		rp.m.Truncated() // the next fetch says where the log really ends
		if err != nil {
			rp.mu.Unlock()
			return true, err
		}
	}
	if step.ResetTo >= 0 {
		err := rp.resetLocked(ctx, step, resp)
		rp.m.Truncated() // the next fetch says where the log really ends
		if err != nil {
			rp.mu.Unlock()
			return true, err
		}
	}
	var end int64 = -1
	if step.Append && len(resp.Records) > 0 {
		res, err := s.AppendAsFollower(ctx, resp.Records, storage.AppendOptions{Expected: -1, NoWait: true})
		if err != nil {
			rp.m.Appended()
			rp.mu.Unlock()
			return true, err
		}
		end = res.LastOffset + 1
		if step.ResetTo >= 0 && rp.r.l.opts.Sync == SyncAlways {
			// The log restarted at this batch, below the leader's log
			// start: make it durable now, so that the high watermark,
			// and with it the log start, reach the leader's in this step
			// (until then records the leader deleted are readable here).
			if err := s.SyncTo(ctx, end); err != nil {
				rp.m.Appended()
				rp.mu.Unlock()
				return true, err
			}
		}
	}
	if step.Append {
		rp.m.Appended()
	}
	if step.HighWatermark >= 0 {
		s.SetHighWatermark(step.HighWatermark)
	}
	if step.LogStart >= 0 {
		if err := rp.followLogStartLocked(ctx, step.LogStart); err != nil {
			rp.mu.Unlock()
			return true, err
		}
	}
	rp.mu.Unlock()
	if end >= 0 && rp.r.l.opts.Sync == SyncAlways {
		// The next fetch reports what is on disk.
		return true, s.SyncTo(ctx, end)
	}
	return true, nil
}

// resetLocked carries out step.ResetTo: the local log restarts empty
// there (storage's ResetTo, Kafka's truncateFullyAndStartAt), for one of
// the two reasons the state machine has (see replica.FollowerStep), which
// it logs. REQUIRES: rp.mu.
func (rp *replicaPartition) resetLocked(ctx context.Context, step replica.FollowerStep, resp *FetchResponse) error {
	s := rp.p.store
	start, end := s.StartOffset(), s.EndOffset()
	if step.Append {
		rp.logger().Info("restarting the empty log at the base offset of the leader's batch holding its log start, to append the batch verbatim (DeleteRecords on the leader moved its log start inside the batch)",
			"topic", rp.p.topic.name, "partition", rp.p.id, "offset", step.ResetTo, "fetch_offset", end, "leader_log_start", resp.LogStartOffset)
	} else {
		rp.logger().Info("restarting the log empty at the leader's log start: retention or DeleteRecords on the leader removed the records this replica lacks",
			"topic", rp.p.topic.name, "partition", rp.p.id, "offset", step.ResetTo, "log_start", start, "end", end, "leader_log_start", resp.LogStartOffset)
	}
	if err := s.ResetTo(ctx, step.ResetTo); err != nil {
		return fmt.Errorf("%s-%d: restarting the log at offset %d, the leader's log starting at %d: %w", rp.p.topic.name, rp.p.id, step.ResetTo, resp.LogStartOffset, err)
	}
	return nil
}

// followLogStartLocked raises the local log start to the leader's,
// leaderStart, capped at the local high watermark (a log start never
// passes it): records retention or DeleteRecords removed on the leader
// are not readable here either, nor on this replica if it leads later
// (Kafka's follower maybeIncrementLogStartOffset). It never lowers the
// start, and writes nothing when the start would not move. REQUIRES:
// rp.mu.
func (rp *replicaPartition) followLogStartLocked(ctx context.Context, leaderStart int64) error {
	s := rp.p.store
	target := min(leaderStart, s.HighWatermark())
	if target <= s.StartOffset() {
		return nil
	}
	if _, err := s.DeleteRecords(ctx, target); err != nil {
		return fmt.Errorf("%s-%d: moving the log start to the leader's %d: %w", rp.p.topic.name, rp.p.id, target, err)
	}
	return nil
}

// diverging is the divergence a response reports: none when both its
// fields are -1; an epoch of -1 with an end offset says the logs have no
// epoch in common.
func diverging(resp *FetchResponse) *replica.EpochEnd {
	if resp.DivergingEpoch < 0 && resp.DivergingEndOffset < 0 {
		return nil
	}
	return &replica.EpochEnd{Epoch: resp.DivergingEpoch, EndOffset: resp.DivergingEndOffset}
}

// recordsEnd is the offset after the last batch of resp.Records, -1 when
// it carries none.
func recordsEnd(resp *FetchResponse) int64 {
	end := int64(-1)
	for b := resp.Records; len(b) >= record.HeaderSize; {
		h, err := record.ParseHeader(b, len(b))
		if err != nil || int(h.BatchLength)+12 > len(b) {
			return end
		}
		end = h.NextOffset()
		b = b[h.BatchLength+12:]
	}
	return end
}

// fetchErrorOf maps the state machine's refusal of a fetch to its code.
func fetchErrorOf(err error) FetchError {
	for _, m := range fetchErrors {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return FetchNotLeader
}

// replicaErr maps a fetch error code back to the state machine's error.
func (e FetchError) replicaErr() error {
	if e == FetchOK {
		return nil
	}
	for _, m := range fetchErrors {
		if m.code == e {
			return m.err
		}
	}
	return replica.ErrNotLeader
}

var fetchErrors = []struct {
	code FetchError
	err  error
}{
	{FetchNotLeader, replica.ErrNotLeader},
	{FetchNotReplica, replica.ErrNotReplica},
	{FetchFencedLeaderEpoch, replica.ErrFencedLeaderEpoch},
	{FetchUnknownLeaderEpoch, replica.ErrUnknownLeaderEpoch},
	{FetchStaleReplicaEpoch, replica.ErrStaleReplicaEpoch},
	{FetchStaleFetch, replica.ErrStaleFetch},
	{FetchOffsetOutOfRange, replica.ErrOffsetOutOfRange},
	{FetchUnknownPartition, replica.ErrNotReplica},
}
