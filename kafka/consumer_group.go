package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOpts returns the kgo options of a group member.
func (c *Consumer) groupOpts() []kgo.Opt {
	cfg := &c.cfg
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.Balancers(balancer(cfg.Balancer)),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RebalanceTimeout(cfg.MaxPollInterval),
		// Commits are the consumer's own, with a Log consumer's rules
		// (commitPositions); kgo's would commit at other times.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.AdjustFetchOffsetsFn(c.adjustOffsets),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	return opts
}

// balancer returns kgo's balancer for b: kgo's own for commitlog's
// built-in ones (they assign alike and speak the same protocol names, so
// the members of a group may mix Kafka clients), an adapter for others.
func balancer(b commitlog.Balancer) kgo.GroupBalancer {
	switch b {
	case commitlog.RangeBalancer():
		return kgo.RangeBalancer()
	case commitlog.RoundRobinBalancer():
		return kgo.RoundRobinBalancer()
	case commitlog.StickyBalancer():
		return kgo.StickyBalancer()
	case commitlog.CooperativeStickyBalancer():
		return kgo.CooperativeStickyBalancer()
	}
	return balancerAdapter{b}
}

func toTPs(m map[string][]int32) []commitlog.TopicPartition {
	var tps []commitlog.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			tps = append(tps, commitlog.TopicPartition{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(tps, compareTPs)
	return tps
}

// onAssigned adds the gained partitions and calls OnAssigned, on kgo's
// group goroutine, before their fetches start, once a Poll has started.
func (c *Consumer) onAssigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	<-c.ready
	<-c.polled // the first assignment, made at once, waits for the first Poll
	tps := toTPs(m)
	if len(tps) == 0 || c.closing.Load() {
		// Nothing, or partitions gained as Close starts: Close revokes
		// them at once, and a Log's consumer would not have taken them.
		return
	}
	memberID, _ := c.cl.GroupMetadata()
	c.mu.Lock()
	for _, tp := range tps {
		if c.parts[tp] == nil {
			ps := newPartState()
			ps.starting = true
			ps.member = memberID
			c.parts[tp] = ps
			delete(c.committed, tp)
		}
	}
	c.mu.Unlock()
	c.callback(ctx, c.cfg.OnAssigned, tps)
}

// adjustOffsets is called with the start offsets of newly assigned
// partitions (committed, or the reset offset): it applies Seeks made in
// OnAssigned and learns the positions, or holds back a partition
// without a committed offset under ResetNone.
func (c *Consumer) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	<-c.ready
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, parts := range offsets {
		for p, o := range parts {
			tp := commitlog.TopicPartition{Topic: t, Partition: p}
			ps := c.parts[tp]
			if ps == nil || !ps.starting {
				continue
			}
			ps.starting = false
			switch eo := o.EpochOffset(); {
			case ps.seek >= 0:
				parts[p] = kgo.NewOffset().At(ps.seek)
				ps.pos, ps.seek = ps.seek, -1
			case eo.Offset >= 0:
				ps.pos, ps.epoch = eo.Offset, eo.Epoch
				c.committed[tp] = eo.Offset
			case c.cfg.AutoOffsetReset == commitlog.ResetNone:
				ps.noStart = true
				c.cl.PauseFetchPartitions(map[string][]int32{t: {p}})
			}
		}
	}
	return offsets, nil
}

// onRevoked, before the revoked partitions move: stops their
// ProcessPartitions goroutines, commits their positions (with
// auto-commit, or what ProcessPartitions processed), calls OnRevoked and
// drops them — unless the member was evicted: then they are lost
// (onLost).
func (c *Consumer) onRevoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	<-c.ready
	tps := c.owned(toTPs(m))
	if len(tps) == 0 {
		return
	}
	if c.evicted(ctx, tps) {
		// kgo revokes what the coordinator has already given to other
		// members: a member evicted while a rebalance waited on it
		// (past the rebalance timeout, MaxPollInterval) learns it only
		// as it rejoins, and kgo then revokes, before or after the
		// rejoin, what it had. Its partitions are lost, as a Log's
		// evicted member's are: no commit, OnLost, and a FencedError
		// from the next Poll.
		c.onLost(ctx, cl, m)
		return
	}
	pr := c.processor()
	if pr != nil {
		pr.stop(tps)
	}
	if !c.cfg.DisableAutoCommit || pr != nil {
		if err := c.commitPositions(ctx, tps); err != nil {
			c.logWarn("commit before revoke failed", err)
		}
	}
	c.callback(ctx, c.cfg.OnRevoked, tps)
	c.drop(tps)
}

// onLost drops partitions the member has lost without a revoke (evicted,
// fenced), commits nothing, calls OnLost, and has the next Poll report
// the fencing.
func (c *Consumer) onLost(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	<-c.ready
	tps := c.owned(toTPs(m))
	if len(tps) == 0 {
		return
	}
	if pr := c.processor(); pr != nil {
		pr.stop(tps)
		pr.forget(tps)
	}
	c.drop(tps)
	c.callback(ctx, c.cfg.OnLost, tps)
	c.mu.Lock()
	c.fenced = &commitlog.FencedError{Group: c.cfg.Group, Reason: fmt.Sprintf("lost %v: the group's coordinator evicted or fenced this member; the client rejoins", tps)}
	c.mu.Unlock()
}

// evictedProbeTimeout bounds the heartbeat by which evicted asks the
// coordinator: past it, the revoke goes on as a revoke.
const evictedProbeTimeout = 10 * time.Second

// evicted reports whether the member that was assigned tps has been
// removed from its group since: the client has rejoined under another
// member id, or the group's coordinator answers a heartbeat of the
// member's own (its id and generation) with UNKNOWN_MEMBER_ID,
// ILLEGAL_GENERATION or FENCED_INSTANCE_ID. An error reaching the
// coordinator, and a Close in progress, report false.
func (c *Consumer) evicted(ctx context.Context, tps []commitlog.TopicPartition) bool {
	memberID, generation := c.cl.GroupMetadata()
	c.mu.Lock()
	rejoined := slices.ContainsFunc(tps, func(tp commitlog.TopicPartition) bool {
		ps := c.parts[tp]
		return ps != nil && ps.member != "" && ps.member != memberID
	})
	c.mu.Unlock()
	if rejoined {
		return true
	}
	if memberID == "" || generation < 0 || c.closing.Load() {
		// Close revokes everything as it leaves: a request to the
		// coordinator would only delay it, for nothing to decide
		// (an evicted member's commit is refused anyway).
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, evictedProbeTimeout)
	defer cancel()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = c.cfg.Group, memberID, generation
	if c.cfg.InstanceID != "" {
		req.InstanceID = &c.cfg.InstanceID
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return false
	}
	switch resp.ErrorCode {
	case kerr.UnknownMemberID.Code, kerr.IllegalGeneration.Code, kerr.FencedInstanceID.Code:
		return true
	}
	return false
}

// owned returns those of tps that are assigned.
func (c *Consumer) owned(tps []commitlog.TopicPartition) []commitlog.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(tps, func(tp commitlog.TopicPartition) bool { return c.parts[tp] == nil })
}

// drop forgets tps: their state, fetched records and pause (a partition
// assigned again comes back resumed).
func (c *Consumer) drop(tps []commitlog.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resume := map[string][]int32{}
	for _, tp := range tps {
		if ps := c.parts[tp]; ps != nil && (ps.paused || ps.noStart) {
			resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
		}
		delete(c.parts, tp)
		delete(c.committed, tp)
	}
	c.pending = slices.DeleteFunc(c.pending, func(f fetched) bool {
		return slices.Contains(tps, commitlog.TopicPartition{Topic: f.r.Topic, Partition: f.r.Partition})
	})
	if len(resume) > 0 {
		c.cl.ResumeFetchPartitions(resume)
	}
}

// callback calls fn (if set) with tps, marking the consumer as in a
// callback so that Poll and Close refuse to run from it.
func (c *Consumer) callback(ctx context.Context, fn func(context.Context, commitlog.ConsumerClient, []commitlog.TopicPartition), tps []commitlog.TopicPartition) {
	if fn == nil || len(tps) == 0 {
		return
	}
	c.inCallback.Store(true)
	defer c.inCallback.Store(false)
	fn(ctx, c, slices.Clone(tps))
}

func (c *Consumer) logWarn(msg string, err error) {
	if l := c.logger; l != nil {
		l.Warn(msg, "group", c.cfg.Group, "err", err)
	}
}

// processor returns the running ProcessPartitions, or nil.
func (c *Consumer) processor() *processor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// autoCommitIfDue commits the positions of records returned by earlier
// Polls when AutoCommitInterval has passed since the last auto-commit.
func (c *Consumer) autoCommitIfDue(ctx context.Context) {
	if c.cfg.DisableAutoCommit || c.cfg.Group == "" {
		return
	}
	now := time.Now()
	c.mu.Lock()
	due := now.Sub(c.lastAutoCommit) >= c.cfg.AutoCommitInterval
	if due {
		c.lastAutoCommit = now
	}
	c.mu.Unlock()
	if due {
		if err := c.commitPositions(ctx, nil); err != nil && ctx.Err() == nil {
			c.logWarn("auto-commit failed", err)
		}
	}
}

// Commit commits the positions of every assigned partition — the records
// returned by every Poll so far count as processed — and returns once the
// group's coordinator has acknowledged the commit. Positions equal to
// what this consumer last committed are skipped.
//
// Errors: a *commitlog.FencedError (in an *Error with Kafka's code when
// the coordinator refused the commit: ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS) if a
// partition is no longer this member's, commitlog.ErrGroupNotEmpty for a
// manually assigned consumer of a group that has members,
// commitlog.ErrClosed, the context's error.
func (c *Consumer) Commit(ctx context.Context) error { return c.commitPositions(ctx, nil) }

// commitPositions commits the positions of tps (nil: every assigned
// partition) that changed since this consumer's last commit; while
// ProcessPartitions runs, the offsets of processed records instead.
func (c *Consumer) commitPositions(ctx context.Context, tps []commitlog.TopicPartition) error {
	var processed map[commitlog.TopicPartition]int64
	if pr := c.processor(); pr != nil {
		processed = pr.processed(tps)
	}
	offsets := map[commitlog.TopicPartition]kgo.EpochOffset{}
	c.mu.Lock()
	for tp, ps := range c.parts {
		eo := kgo.EpochOffset{Epoch: ps.epoch, Offset: ps.pos}
		if processed != nil {
			m, ok := processed[tp]
			if !ok {
				continue
			}
			if m != ps.pos {
				eo = kgo.EpochOffset{Epoch: -1, Offset: m}
			}
		}
		if eo.Offset >= 0 && (tps == nil || slices.Contains(tps, tp)) {
			if last, ok := c.committed[tp]; !ok || last != eo.Offset {
				offsets[tp] = eo
			}
		}
	}
	c.mu.Unlock()
	return c.commit(ctx, offsets)
}

// CommitOffsets commits offsets: for each partition, the offset of the
// next record to consume (the last processed offset + 1). A group member
// may commit only partitions assigned to it. The commit is one request,
// acknowledged by the group's coordinator when CommitOffsets returns
// (durable as Kafka makes __consumer_offsets durable: replicated with
// acks=all). Unlike a Log, Kafka accepts an offset above the high
// watermark. Errors as for Commit.
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[commitlog.TopicPartition]int64) error {
	eos := make(map[commitlog.TopicPartition]kgo.EpochOffset, len(offsets))
	c.mu.Lock()
	for tp, off := range offsets {
		eo := kgo.EpochOffset{Epoch: -1, Offset: off}
		if ps := c.parts[tp]; ps != nil && ps.pos == off {
			eo.Epoch = ps.epoch
		}
		eos[tp] = eo
	}
	c.mu.Unlock()
	return c.commit(ctx, eos)
}

// CommitRecords commits, for each partition among recs, the offset after
// its last record there. Errors as for Commit.
func (c *Consumer) CommitRecords(ctx context.Context, recs ...commitlog.Record) error {
	offsets := map[commitlog.TopicPartition]int64{}
	for i := range recs {
		tp := commitlog.TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}
		if next := recs[i].Offset + 1; next > offsets[tp] {
			offsets[tp] = next
		}
	}
	return c.CommitOffsets(ctx, offsets)
}

// fencedCodes are the commit errors by which a coordinator says the
// member no longer owns what it commits.
var fencedCodes = []int16{kerr.IllegalGeneration.Code, kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code, kerr.RebalanceInProgress.Code}

// commit commits offsets for the consumer's group.
func (c *Consumer) commit(ctx context.Context, offsets map[commitlog.TopicPartition]kgo.EpochOffset) error {
	if c.closed.Load() {
		return commitlog.ErrClosed
	}
	if c.cfg.Group == "" {
		return errNoGroup
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(offsets) == 0 {
		return nil
	}
	var err error
	if c.group {
		err = c.commitAsMember(ctx, offsets)
	} else {
		err = c.commitAsAdmin(ctx, offsets)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	for tp, eo := range offsets {
		c.committed[tp] = eo.Offset
	}
	c.mu.Unlock()
	return nil
}

// commitAsMember commits through the group membership, with its
// generation: the coordinator refuses it once the member is fenced.
func (c *Consumer) commitAsMember(ctx context.Context, offsets map[commitlog.TopicPartition]kgo.EpochOffset) error {
	memberID, _ := c.cl.GroupMetadata()
	m := map[string]map[int32]kgo.EpochOffset{}
	c.mu.Lock()
	for tp, eo := range offsets {
		if c.parts[tp] == nil {
			c.mu.Unlock()
			return &commitlog.FencedError{Group: c.cfg.Group, MemberID: memberID, Reason: fmt.Sprintf("commit of %v, which is not assigned to this member", tp)}
		}
		if m[tp.Topic] == nil {
			m[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[tp.Topic][tp.Partition] = eo
	}
	c.mu.Unlock()
	var err error
	c.cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, rerr error) {
		if rerr != nil {
			err = mapErr("commit offsets of group "+c.cfg.Group, rerr)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 || err != nil {
					continue
				}
				op := fmt.Sprintf("commit %s-%d for group %s", t.Topic, p.Partition, c.cfg.Group)
				if slices.Contains(fencedCodes, p.ErrorCode) {
					ke := kerr.ErrorForCode(p.ErrorCode)
					err = &Error{Op: op, Kafka: ke, Mapped: &commitlog.FencedError{Group: c.cfg.Group, MemberID: memberID, Reason: ke.Error()}}
				} else {
					err = codeErr(op, p.ErrorCode)
				}
			}
		}
	})
	if err == nil {
		err = ctx.Err() // a commit cut short reports no error of its own
	}
	return err
}

// commitAsAdmin commits for a manually assigned consumer of a group:
// without membership, which Kafka allows only while the group is empty.
func (c *Consumer) commitAsAdmin(ctx context.Context, offsets map[commitlog.TopicPartition]kgo.EpochOffset) error {
	os := kadm.Offsets{}
	for tp, eo := range offsets {
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: eo.Offset, LeaderEpoch: eo.Epoch})
	}
	resp, err := c.adm.CommitOffsets(ctx, c.cfg.Group, os)
	if err != nil {
		return mapErr("commit offsets of group "+c.cfg.Group, err)
	}
	for _, ps := range resp {
		for _, r := range ps {
			if r.Err == nil {
				continue
			}
			op := fmt.Sprintf("commit %s-%d for group %s", r.Topic, r.Partition, c.cfg.Group)
			var ke *kerr.Error
			if errors.As(r.Err, &ke) && slices.Contains(fencedCodes, ke.Code) {
				// A commit without a generation to a group with members.
				return &Error{Op: op, Mapped: commitlog.ErrGroupNotEmpty, Kafka: r.Err}
			}
			return mapErr(op, r.Err)
		}
	}
	return nil
}

// Committed returns the group's committed offsets for tps (nil: the
// assigned partitions); partitions without one are absent from the map.
func (c *Consumer) Committed(ctx context.Context, tps ...commitlog.TopicPartition) (map[commitlog.TopicPartition]int64, error) {
	if c.closed.Load() {
		return nil, commitlog.ErrClosed
	}
	if c.cfg.Group == "" {
		return nil, errNoGroup
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if tps == nil {
		tps = c.Assignment()
	}
	resp, err := fetchOffsets(ctx, c.adm, c.cfg.Group)
	if err != nil {
		return nil, mapErr("fetch offsets of group "+c.cfg.Group, err)
	}
	out := map[commitlog.TopicPartition]int64{}
	for _, tp := range tps {
		r, ok := resp.Lookup(tp.Topic, tp.Partition)
		if !ok {
			continue
		}
		if r.Err != nil {
			return nil, mapErr(fmt.Sprintf("fetch offset of %v for group %s", tp, c.cfg.Group), r.Err)
		}
		if r.At >= 0 {
			out[tp] = r.At
		}
	}
	return out, nil
}

// fetchOffsets returns group's committed offsets: none for a group the
// cluster does not know (GROUP_ID_NOT_FOUND), as a Log has none for it.
func fetchOffsets(ctx context.Context, adm *kadm.Client, group string) (kadm.OffsetResponses, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return kadm.OffsetResponses{}, nil
	}
	return resp, err
}
