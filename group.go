package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog/internal/group"
)

// Consumer groups follow Kafka's newer consumer group protocol (KIP-848,
// group.protocol=consumer since Kafka 4.0: the coordinator computes the
// assignment, and each member reconciles with its own target) rather than
// the classic join/sync rounds, because in one process the coordinator
// can simply compute the assignment. Each Log has one coordinator.
//
// The membership state machine (groups, members, epochs, static members,
// the steps a member takes to converge, liveness deadlines, the commit
// checks) is internal/group, which does no I/O and takes no lock; its
// package documentation describes the protocol. The coordinator here
// wires it to the Log: it serializes the state machine under mu, drives
// its expiry with a timer, supplies the topics' partition counts and the
// group's Balancer, converts partitions at the boundary, and writes the
// commits the state machine allows to __consumer_offsets (see
// group_offsets.go). Group membership is in memory: it ends with the Log
// (or the process). Committed offsets are durable.
type coordinator struct {
	log     *Log
	offsets *offsetStore

	// commitMu orders commits against ownership changes. A commit's
	// ownership check and its write happen under it, and so does every
	// change that takes partitions away from a member, so no commit of a
	// partition's old owner can land after its new owner has read the
	// committed offset. Lock order: the Log's adminMu, then commitMu, then
	// mu (see Log.adminMu): nothing holding commitMu may create a topic.
	commitMu sync.Mutex
	// mu guards everything below. The state machine calls back into the
	// Log under it (the topics' partition counts: the Log's mu comes after
	// this one) and into armLocked.
	mu    sync.Mutex
	state *group.Coordinator
	timer *time.Timer // calls expire at the state machine's earliest deadline
	// rebalances are the rebalances the state machine made, to be logged
	// and reported to the RebalanceHooks once the locks are released
	// (deliverRebalances); delivering says a goroutine is doing so.
	rebalances []group.Rebalance
	delivering bool
}

func newCoordinator(l *Log, offsets *offsetStore) *coordinator {
	gc := &coordinator{log: l, offsets: offsets}
	gc.state = group.New(group.Config{
		Now: func() time.Time { return l.opts.now() },
		Arm: gc.armLocked,
		// Under mu.
		Rebalanced: func(r group.Rebalance) { gc.rebalances = append(gc.rebalances, r) },
		Partitions: func(topic string) (int32, bool) {
			t, err := l.Topic(topic)
			if err != nil {
				return 0, false
			}
			return t.NumPartitions(), true
		},
	})
	return gc
}

// armLocked sets the liveness timer to call expire at at, as the state
// machine asks. REQUIRES: mu.
func (gc *coordinator) armLocked(at time.Time) {
	d := at.Sub(gc.log.opts.now())
	if gc.timer == nil {
		gc.timer = time.AfterFunc(d, gc.expire)
	} else {
		gc.timer.Reset(d)
	}
}

// join adds a consumer to its group and returns its membership.
//
// On a replicated Log it creates __consumer_offsets first if no node has
// (see group_coordination.go), and refuses with a *NotCoordinatorError a
// group this node does not coordinate.
func (gc *coordinator) join(cfg *ConsumerConfig, wake chan<- struct{}) (*group.Member, error) {
	defer gc.deliverRebalances() // after the locks below are released
	if gc.log.repl != nil {
		// Before commitMu, as write does. NewConsumer takes no context:
		// the Log's bounds the wait.
		if _, err := gc.offsets.ensureTopic(gc.log.ctx); err != nil {
			return nil, err
		}
	}
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	if err := gc.offsets.checkCoordinator(cfg.Group); err != nil {
		return nil, err
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	m, err := gc.state.Join(group.JoinRequest{
		Group:           cfg.Group,
		InstanceID:      cfg.InstanceID,
		Topics:          cfg.Topics,
		Balancer:        groupBalancer{b: cfg.Balancer, group: cfg.Group, logger: gc.log.opts.Logger},
		MaxPollInterval: cfg.MaxPollInterval,
		SessionTimeout:  cfg.SessionTimeout,
		Wake: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return nil, publicGroupError(err)
	}
	return m, nil
}

// publicGroupError returns err, from the state machine, as this package
// reports it: its own ErrClosed and ErrInvalidConfig for what the state
// machine names otherwise. ErrFenced, *FencedError and ErrGroupNotEmpty
// are the state machine's, re-exported.
func publicGroupError(err error) error {
	var mismatch *group.BalancerMismatchError
	switch {
	case errors.Is(err, group.ErrClosed):
		return ErrClosed
	case errors.As(err, &mismatch):
		return fmt.Errorf("%w: group %q uses balancer %q; this consumer asks for %q (all members of a group must use the same one)",
			ErrInvalidConfig, mismatch.Group, mismatch.Balancer, mismatch.Requested)
	}
	return err
}

// groupBalancer is a group's public Balancer as the state machine calls
// it: members in the order Balancer documents, partitions converted, and
// the result checked. An invalid result is logged and replaced, for that
// rebalance, by RangeBalancer's.
type groupBalancer struct {
	b      Balancer
	group  string
	logger *slog.Logger
}

func (gb groupBalancer) Name() string      { return gb.b.Name() }
func (gb groupBalancer) Cooperative() bool { return gb.b.Cooperative() }

func (gb groupBalancer) Balance(in []group.BalanceMember, counts map[string]int32) map[string][]group.Partition {
	members := make([]BalancerMember, len(in))
	for i, m := range in {
		members[i] = BalancerMember{ID: m.ID, InstanceID: m.InstanceID, Topics: m.Topics, Owned: topicPartitions(m.Owned)}
	}
	sortBalancerMembers(members)
	assignment := gb.b.Balance(members, counts)
	if err := checkAssignment(gb.b, members, counts, assignment); err != nil {
		gb.logger.Error("consumer group balancer returned an invalid assignment; using the range balancer this time",
			"group", gb.group, "err", err)
		assignment = RangeBalancer().Balance(members, counts)
	}
	out := make(map[string][]group.Partition, len(assignment))
	for id, tps := range assignment {
		out[id] = groupPartitions(tps)
	}
	return out
}

// topicPartitions converts the state machine's partitions; nil for none.
func topicPartitions(ps []group.Partition) []TopicPartition {
	if len(ps) == 0 {
		return nil
	}
	out := make([]TopicPartition, len(ps))
	for i, p := range ps {
		out[i] = TopicPartition(p)
	}
	return out
}

// groupPartitions converts partitions for the state machine; nil for none.
func groupPartitions(tps []TopicPartition) []group.Partition {
	if len(tps) == 0 {
		return nil
	}
	out := make([]group.Partition, len(tps))
	for i, tp := range tps {
		out[i] = group.Partition(tp)
	}
	return out
}

// step is the next thing a member must do to converge on its target:
// give up revoke (then call release), or start consuming gain.
type step struct {
	revoke []TopicPartition
	gain   []TopicPartition
	epoch  int32
}

// nextStep returns m's next step, or an empty step when m owns its target
// (or waits for partitions other members have not released yet). lost
// lists partitions m no longer owns without having revoked them: with a
// *FencedError, everything it owned (it was removed from the group, and
// other members may own them now); without, partitions of deleted topics.
func (gc *coordinator) nextStep(m *group.Member) (step, []TopicPartition, error) {
	gc.mu.Lock()
	st, lost, err := gc.state.NextStep(m)
	gc.mu.Unlock()
	return step{revoke: topicPartitions(st.Revoke), gain: topicPartitions(st.Gain), epoch: st.Epoch}, topicPartitions(lost), err
}

// hasWork reports whether m has a step to take or a loss to learn.
func (gc *coordinator) hasWork(m *group.Member) bool {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.state.HasWork(m)
}

// converged reports whether m has taken every step towards its target
// at the group's current epoch: it gives up nothing more and waits for
// nothing more.
func (gc *coordinator) converged(m *group.Member) bool {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.state.Converged(m)
}

// leaving returns, as m's consumer closes, the partitions m owns, or, if
// m was removed from the group, what it lost and why.
func (gc *coordinator) leaving(m *group.Member) (owned, lost []TopicPartition, fenced error) {
	gc.mu.Lock()
	o, l, err := gc.state.Leaving(m)
	gc.mu.Unlock()
	return topicPartitions(o), topicPartitions(l), err
}

// release gives up tps, which m's consumer has revoked (committed and
// called OnRevoked for) in the step of epoch, and wakes the members that
// wait for them.
func (gc *coordinator) release(m *group.Member, tps []TopicPartition, epoch int32) {
	ps := groupPartitions(tps)
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Release(m, ps, epoch)
}

// leave ends m's membership as its consumer closes: a dynamic member
// leaves at once; a static one is kept, with the partitions it owns
// reserved, for its SessionTimeout.
func (gc *coordinator) leave(m *group.Member) {
	defer gc.deliverRebalances()
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Leave(m)
}

// polling records whether m's consumer is waiting inside Poll. Outside
// Poll its MaxPollInterval runs.
func (gc *coordinator) polling(m *group.Member, in bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Polling(m, in)
}

// expire removes the members whose deadline has passed: evicted ones
// (fenced, so they learn it) and departed static members.
func (gc *coordinator) expire() {
	defer gc.deliverRebalances()
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Expire()
}

// close stops the liveness timer as the Log closes and wakes every
// member. Members stay fenced out by the closed partitions (ErrClosed).
func (gc *coordinator) close() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.Close()
	if gc.timer != nil {
		gc.timer.Stop()
		gc.timer = nil
	}
}

// topicCreated rebalances the groups subscribed to a topic created under
// a name that was deleted while they subscribed to it. The caller
// delivers the rebalances (deliverRebalances) once it has released the
// Log's adminMu.
func (gc *coordinator) topicCreated(name string) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.TopicCreated(name)
}

// deliverRebalances logs the rebalances the state machine made and
// reports them to the RebalanceHooks, in order, holding none of the
// coordinator's locks: each call that may rebalance defers it, to run
// after it has released them. One goroutine delivers at a time; another
// that finds it delivering leaves its rebalances to it, which delivers
// until none is left, so the hooks are called serially and in order. A
// hook that rebalances (closing a consumer, say) has its own rebalance
// delivered after it returns.
func (gc *coordinator) deliverRebalances() {
	if gc == nil {
		return // a Log without a coordinator yet (Open failing early)
	}
	gc.mu.Lock()
	if gc.delivering || len(gc.rebalances) == 0 {
		gc.mu.Unlock()
		return
	}
	gc.delivering = true
	gc.mu.Unlock()
	finished := false
	defer func() {
		if !finished { // a hook panicked: let the next call deliver
			gc.mu.Lock()
			gc.delivering = false
			gc.mu.Unlock()
		}
	}()
	hooks := gc.log.hooks.rebalances
	for {
		gc.mu.Lock()
		rs := gc.rebalances
		gc.rebalances = nil
		if len(rs) == 0 {
			gc.delivering = false
			gc.mu.Unlock()
			finished = true
			return
		}
		gc.mu.Unlock()
		for _, r := range rs {
			info := RebalanceInfo{Group: r.Group, Generation: r.Epoch, Members: r.Members, Partitions: r.Partitions,
				Reason: rebalanceReasons[r.Reason]}
			gc.log.opts.Logger.Info("consumer group rebalanced", "group", info.Group, "generation", info.Generation,
				"members", info.Members, "partitions", info.Partitions, "reason", string(info.Reason))
			for _, h := range hooks {
				h.OnRebalance(info)
			}
		}
	}
}

// rebalanceReasons are the state machine's reasons as RebalanceInfo
// names them.
var rebalanceReasons = [...]RebalanceReason{
	group.RebalanceJoin:         RebalanceJoin,
	group.RebalanceLeave:        RebalanceLeave,
	group.RebalanceEvicted:      RebalanceEvicted,
	group.RebalanceTopicCreated: RebalanceTopicCreated,
	group.RebalanceTopicDeleted: RebalanceTopicDeleted,
}

// forgetTopic deletes every group's committed offsets for a deleted
// topic.
func (gc *coordinator) forgetTopic(ctx context.Context, name string) error {
	var held heldEvents
	gc.commitMu.Lock()
	err := gc.offsets.forgetTopics(ctx, func(t string) bool { return t == name }, &held)
	gc.commitMu.Unlock()
	held.report()
	return err
}

// topicDeleted takes a deleted topic's partitions from their owners and
// rebalances the groups subscribed to it. The caller delivers the
// rebalances, as for topicCreated.
func (gc *coordinator) topicDeleted(name string) {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.state.TopicDeleted(name)
}

// groupNames returns the names of the groups that have members, sorted.
func (gc *coordinator) groupNames() []string {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.state.Groups()
}

// describe returns the membership of the group name, and false if it has
// no members.
func (gc *coordinator) describe(name string) (group.Description, bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.state.Describe(name)
}

// commit writes offsets for the group name after checking that the
// committer may: m (nil for a consumer without membership) must own every
// partition, or, without m, the group must have no members. Every offset
// must be at most its partition's high watermark; data below it that is
// not yet durable is fsynced first, so a committed offset never points
// past durable data.
func (gc *coordinator) commit(ctx context.Context, name string, m *group.Member, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	hooks := gc.log.hooks.commits
	if len(hooks) == 0 {
		return gc.commitOffsets(ctx, name, m, offsets)
	}
	start := gc.log.opts.now()
	err := gc.commitOffsets(ctx, name, m, offsets)
	info := CommitInfo{Group: name, Partitions: len(offsets), Duration: gc.log.opts.now().Sub(start), Err: err}
	for _, h := range hooks {
		h.OnCommit(info)
	}
	return err
}

// commitOffsets is commit, once there are offsets.
func (gc *coordinator) commitOffsets(ctx context.Context, name string, m *group.Member, offsets map[TopicPartition]int64) error {
	writes := make([]offsetWrite, 0, len(offsets))
	for _, tp := range slices.SortedFunc(maps.Keys(offsets), compareTopicPartitions) {
		off := offsets[tp]
		p, err := gc.log.partition(tp)
		if err != nil {
			return err
		}
		if hw := p.HighWatermark(); off < 0 || off > hw {
			return fmt.Errorf("commit %d for %v: %w", off, tp, &OffsetOutOfRangeError{Topic: tp.Topic, Partition: tp.Partition,
				Offset: off, Start: p.StartOffset(), End: hw})
		}
		if off > p.DurableOffset() {
			if err := p.syncTo(ctx, off); err != nil {
				return err
			}
		}
		writes = append(writes, offsetWrite{tp: tp, offset: off, epoch: p.store.EpochBefore(off)})
	}
	return gc.write(ctx, name, m, writes)
}

// write checks that m (nil: a committer without membership) may commit
// for the group name, and writes; the check and the write are one step
// under commitMu. It returns once the write is acknowledged.
func (gc *coordinator) write(ctx context.Context, name string, m *group.Member, writes []offsetWrite) error {
	if len(writes) == 0 {
		return nil
	}
	if gc.log.opts.ReadOnly {
		return gc.log.refuseReadOnly(fmt.Sprintf("commit offsets of group %q", name))
	}
	// Creating __consumer_offsets takes the Log's adminMu, which comes
	// before commitMu in the lock order: it must exist before commitMu is
	// taken.
	if _, err := gc.offsets.ensureTopic(ctx); err != nil {
		return err
	}
	gc.commitMu.Lock()
	if err := gc.checkCommit(name, m, writes); err != nil {
		gc.commitMu.Unlock()
		return err
	}
	var held heldEvents
	p, target, epoch, err := gc.offsets.write(ctx, name, writes, &held)
	gc.commitMu.Unlock()
	held.report()
	if err == nil {
		err = gc.offsets.wait(ctx, p, target, epoch)
	}
	return gc.offsets.coordinatorError(name, err)
}

// checkCommit decides whether a commit may be written: on a replicated
// Log only by the group's coordinator. REQUIRES: commitMu.
func (gc *coordinator) checkCommit(name string, m *group.Member, writes []offsetWrite) error {
	if err := gc.offsets.checkCoordinator(name); err != nil {
		return err
	}
	var ps []group.Partition
	if m != nil {
		ps = make([]group.Partition, len(writes))
		for i, w := range writes {
			ps[i] = group.Partition(w.tp)
		}
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return publicGroupError(gc.state.CheckCommit(name, m, ps))
}

// checkEmpty returns ErrGroupNotEmpty if the group name has members.
func (gc *coordinator) checkEmpty(name string) error {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	return gc.checkCommit(name, nil, nil)
}
