package commitlog

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Consumer groups follow Kafka's newer consumer group protocol (KIP-848,
// group.protocol=consumer since Kafka 4.0: the coordinator computes the
// assignment, and each member reconciles with its own target) rather than
// the classic join/sync rounds, because in one process the coordinator
// can simply compute the assignment:
//
//   - Each Log has one coordinator. A membership or subscription change
//     bumps the group's epoch (its generation) and the group's Balancer
//     computes every member's target assignment at once.
//   - Members converge on their targets from their own Poll: a member first
//     gives up the partitions it must revoke (auto-commit, OnRevoked, then
//     release), and only a released partition can be taken by its next
//     owner (then OnAssigned). So a partition never has two owners, and its
//     old owner's OnRevoked and commits finish before its new owner reads
//     the committed offset. Cooperative balancers move only the partitions
//     that change owner; eager ones make every member give up everything
//     at each new epoch and take its whole target back at once.
//   - Commits are checked against ownership: a member may commit only the
//     partitions it owns at that moment, so a commit from a stale
//     generation (for a partition revoked or lost since) fails with
//     ErrFenced.
//   - Liveness: a member is alive while it waits inside Poll; outside Poll
//     (processing, or in a callback) it has MaxPollInterval. Past it, the
//     coordinator evicts it at once: its partitions move, and it learns on
//     its next call (OnLost, ErrFenced). Close leaves at once. A static
//     member (InstanceID) that closes keeps its partitions reserved for
//     SessionTimeout; a consumer with the same InstanceID takes them back
//     without a rebalance.
//
// Group membership is in memory: it ends with the Log (or the process).
// Committed offsets are durable (see offsets.go).
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
	// mu guards everything below.
	mu      sync.Mutex
	groups  map[string]*group
	closed  bool
	nextID  uint64
	timer   *time.Timer // fires at the earliest liveness deadline
	timerAt time.Time
}

// group is one consumer group's membership. REQUIRES: coordinator.mu for
// every field.
type group struct {
	name     string
	balancer Balancer // the members' balancer; nil without members
	epoch    int32
	members  map[string]*groupMember
	owners   map[TopicPartition]*groupMember // the member owning each partition now
}

// groupMember is one consumer's membership of a group. Fields are guarded by
// coordinator.mu, except the immutable ones at the top.
type groupMember struct {
	g          *group
	id         string
	instanceID string
	topics     []string
	wake       chan<- struct{}
	maxPoll    time.Duration
	session    time.Duration

	target       map[TopicPartition]bool // what the balancer gave it
	owned        map[TopicPartition]bool // what it owns now
	epoch        int32                   // the group epoch it has converged on
	revokedEpoch int32                   // eager: the epoch it gave everything up for
	polling      bool                    // waiting inside Poll
	deadline     time.Time               // evicted (or, departed, removed) when reached
	departed     bool                    // a static member that closed: reserved until deadline
	dropped      []TopicPartition        // owned partitions whose topic was deleted, not yet reported
	fenced       *FencedError            // set when the coordinator removed it
}

func newCoordinator(l *Log, offsets *offsetStore) *coordinator {
	return &coordinator{log: l, offsets: offsets, groups: map[string]*group{}}
}

// join adds a consumer to its group and returns its membership.
func (gc *coordinator) join(cfg *ConsumerConfig, wake chan<- struct{}) (*groupMember, error) {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.closed {
		return nil, ErrClosed
	}
	g := gc.groups[cfg.Group]
	if g == nil {
		g = &group{name: cfg.Group, members: map[string]*groupMember{}, owners: map[TopicPartition]*groupMember{}}
		gc.groups[cfg.Group] = g
	}
	if g.balancer != nil && g.balancer.Name() != cfg.Balancer.Name() {
		return nil, fmt.Errorf("%w: group %q uses balancer %q; this consumer asks for %q (all members of a group must use the same one)",
			ErrInvalidConfig, g.name, g.balancer.Name(), cfg.Balancer.Name())
	}
	if g.balancer == nil {
		g.balancer = cfg.Balancer
	}
	gc.nextID++
	m := &groupMember{
		g: g, id: "member-" + strconv.FormatUint(gc.nextID, 10), instanceID: cfg.InstanceID,
		topics: cfg.Topics, wake: wake, maxPoll: cfg.MaxPollInterval, session: cfg.SessionTimeout,
		target: map[TopicPartition]bool{}, owned: map[TopicPartition]bool{},
		epoch: -1, revokedEpoch: -1,
		// A consumer that never polls is evicted like one that stopped.
		deadline: gc.log.opts.now().Add(cfg.MaxPollInterval),
	}
	gc.armLocked(m.deadline)
	if old := g.staticMember(cfg.InstanceID); old != nil {
		// KIP-345: the new consumer takes the old one's place and its
		// assignment, without a rebalance unless the subscription changed.
		g.members[m.id] = m
		gc.removeLocked(old, &FencedError{Group: g.name, MemberID: old.id,
			Reason: "replaced by a new consumer with the same InstanceID " + strconv.Quote(cfg.InstanceID)})
		m.target = old.target
		if !slices.Equal(old.topics, m.topics) {
			gc.rebalanceLocked(g)
		}
		m.wakeUp()
		return m, nil
	}
	g.members[m.id] = m
	gc.rebalanceLocked(g)
	return m, nil
}

// staticMember returns the member with instanceID, or nil.
func (g *group) staticMember(instanceID string) *groupMember {
	if instanceID == "" {
		return nil
	}
	for _, m := range g.members {
		if m.instanceID == instanceID {
			return m
		}
	}
	return nil
}

// removeLocked takes m out of its group: its partitions are free at once.
// fenced, when not nil, is what m is told on its next call. The caller
// rebalances. REQUIRES: commitMu and mu.
func (gc *coordinator) removeLocked(m *groupMember, fenced *FencedError) {
	g := m.g
	for tp := range m.owned {
		if g.owners[tp] == m {
			delete(g.owners, tp)
		}
	}
	if fenced != nil {
		m.fenced = fenced
	} else {
		m.owned = map[TopicPartition]bool{}
	}
	delete(g.members, m.id)
	if len(g.members) == 0 {
		g.balancer = nil
		delete(gc.groups, g.name)
	}
	m.wakeUp()
}

// rebalanceLocked starts a new epoch of g: the balancer computes every
// member's target, starting from the previous targets so that sticky
// balancers keep partitions where they are. REQUIRES: mu.
func (gc *coordinator) rebalanceLocked(g *group) {
	if len(g.members) == 0 {
		return
	}
	g.epoch++
	members := make([]BalancerMember, 0, len(g.members))
	counts := map[string]int32{}
	for _, m := range g.members {
		members = append(members, BalancerMember{ID: m.id, InstanceID: m.instanceID, Topics: slices.Clone(m.topics),
			Owned: slices.SortedFunc(maps.Keys(m.target), compareTopicPartitions)})
		for _, t := range m.topics {
			if _, ok := counts[t]; ok {
				continue
			}
			if topic, err := gc.log.Topic(t); err == nil {
				counts[t] = topic.NumPartitions()
			}
		}
	}
	sortBalancerMembers(members)
	assignment := g.balancer.Balance(members, counts)
	if err := checkAssignment(g.balancer, members, counts, assignment); err != nil {
		gc.log.opts.Logger.Error("consumer group balancer returned an invalid assignment; using the range balancer this time",
			"group", g.name, "err", err)
		assignment = RangeBalancer().Balance(members, counts)
	}
	for _, m := range g.members {
		m.target = map[TopicPartition]bool{}
		for _, tp := range assignment[m.id] {
			m.target[tp] = true
		}
		if m.departed {
			g.freeUntargeted(m)
		}
		m.wakeUp()
	}
}

// freeUntargeted frees what departed m owns outside its target: a closed
// static member cannot revoke, so what it no longer gets is free at once
// (its consumer committed and called OnRevoked on Close). It returns the
// partitions freed. REQUIRES: mu.
func (g *group) freeUntargeted(m *groupMember) []TopicPartition {
	var freed []TopicPartition
	for tp := range m.owned {
		if !m.target[tp] {
			delete(m.owned, tp)
			delete(g.owners, tp)
			freed = append(freed, tp)
		}
	}
	return freed
}

// wakeTargets wakes the members other than m whose target holds one of
// tps. REQUIRES: mu.
func (g *group) wakeTargets(m *groupMember, tps []TopicPartition) {
	for _, o := range g.members {
		if o != m && slices.ContainsFunc(tps, func(tp TopicPartition) bool { return o.target[tp] }) {
			o.wakeUp()
		}
	}
}

// wakeUp signals m's consumer without blocking.
func (m *groupMember) wakeUp() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
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
func (gc *coordinator) nextStep(m *groupMember) (st step, lost []TopicPartition, err error) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if m.fenced != nil {
		lost = slices.SortedFunc(maps.Keys(m.owned), compareTopicPartitions)
		m.owned = map[TopicPartition]bool{}
		return step{}, lost, m.fenced
	}
	if len(m.dropped) > 0 {
		lost, m.dropped = m.dropped, nil
		slices.SortFunc(lost, compareTopicPartitions)
		return step{}, lost, nil
	}
	g := m.g
	st.epoch = g.epoch
	if g.balancer.Cooperative() || m.revokedEpoch == g.epoch {
		for tp := range m.owned {
			if !m.target[tp] {
				st.revoke = append(st.revoke, tp)
			}
		}
	} else {
		st.revoke = slices.Collect(maps.Keys(m.owned))
		if len(st.revoke) == 0 {
			m.revokedEpoch = g.epoch
		}
	}
	if len(st.revoke) > 0 {
		slices.SortFunc(st.revoke, compareTopicPartitions)
		return st, nil, nil
	}
	var pending int
	for tp := range m.target {
		switch {
		case m.owned[tp]:
		case g.owners[tp] == nil:
			st.gain = append(st.gain, tp)
		default:
			pending++
		}
	}
	if pending > 0 && !g.balancer.Cooperative() {
		st.gain = nil // eager: take the whole target at once
	}
	for _, tp := range st.gain {
		g.owners[tp] = m
		m.owned[tp] = true
	}
	if pending == 0 {
		m.epoch = g.epoch
	}
	slices.SortFunc(st.gain, compareTopicPartitions)
	return st, nil, nil
}

// hasWork reports whether m has a step to take or a loss to learn.
func (gc *coordinator) hasWork(m *groupMember) bool {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if m.fenced != nil || len(m.dropped) > 0 {
		return true
	}
	g := m.g
	if !g.balancer.Cooperative() && m.revokedEpoch < g.epoch {
		return true
	}
	for tp := range m.owned {
		if !m.target[tp] {
			return true
		}
	}
	for tp := range m.target {
		if !m.owned[tp] && g.owners[tp] == nil {
			return true
		}
	}
	return false
}

// leaving returns, as m's consumer closes, the partitions m owns, or, if
// m was removed from the group, what it lost and why.
func (gc *coordinator) leaving(m *groupMember) (owned, lost []TopicPartition, fenced error) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	all := slices.SortedFunc(maps.Keys(m.owned), compareTopicPartitions)
	if m.fenced != nil {
		m.owned = map[TopicPartition]bool{}
		return nil, all, m.fenced
	}
	return all, nil, nil
}

// release gives up tps, which m's consumer has revoked (committed and
// called OnRevoked for) in the step of epoch, and wakes the members that
// wait for them.
func (gc *coordinator) release(m *groupMember, tps []TopicPartition, epoch int32) {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if m.fenced != nil {
		return // removed meanwhile: its partitions were freed then
	}
	g := m.g
	for _, tp := range tps {
		if m.owned[tp] {
			delete(m.owned, tp)
			delete(g.owners, tp)
		}
	}
	if !g.balancer.Cooperative() && len(m.owned) == 0 && m.revokedEpoch < epoch {
		m.revokedEpoch = epoch
	}
	g.wakeTargets(m, tps)
}

// leave ends m's membership as its consumer closes, after it committed
// and revoked what it owns: a dynamic member leaves at once; a static one
// is kept, with the partitions of its target that it owns reserved, for
// its SessionTimeout.
func (gc *coordinator) leave(m *groupMember) {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if m.fenced != nil {
		return
	}
	if m.instanceID != "" && !gc.closed {
		m.departed = true
		m.polling = false
		m.deadline = gc.log.opts.now().Add(m.session)
		gc.armLocked(m.deadline)
		// What a rebalance took from it since its last step is not
		// reserved: it goes to its new owner now, not after the session.
		m.g.wakeTargets(m, m.g.freeUntargeted(m))
		return
	}
	gc.removeLocked(m, nil)
	gc.rebalanceLocked(m.g)
}

// polling records whether m's consumer is waiting inside Poll. Outside
// Poll its MaxPollInterval runs.
func (gc *coordinator) polling(m *groupMember, in bool) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	m.polling = in
	if !in && m.fenced == nil && !m.departed {
		m.deadline = gc.log.opts.now().Add(m.maxPoll)
		gc.armLocked(m.deadline)
	}
}

// armLocked makes sure the liveness timer fires no later than at.
// REQUIRES: mu.
func (gc *coordinator) armLocked(at time.Time) {
	if gc.closed {
		return
	}
	if gc.timer != nil && !gc.timerAt.After(at) {
		return
	}
	d := at.Sub(gc.log.opts.now())
	if gc.timer == nil {
		gc.timer = time.AfterFunc(d, gc.expire)
	} else {
		gc.timer.Reset(d)
	}
	gc.timerAt = at
}

// expire removes the members whose deadline has passed: evicted ones
// (fenced, so they learn it) and departed static members.
func (gc *coordinator) expire() {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.closed {
		return
	}
	gc.timer, gc.timerAt = nil, time.Time{}
	now := gc.log.opts.now()
	var next time.Time
	for _, g := range gc.groups {
		changed := false
		for _, m := range g.members {
			switch {
			case m.polling:
			case now.Before(m.deadline):
				if next.IsZero() || m.deadline.Before(next) {
					next = m.deadline
				}
			case m.departed:
				gc.removeLocked(m, nil)
				changed = true
			default:
				gc.removeLocked(m, &FencedError{Group: g.name, MemberID: m.id,
					Reason: fmt.Sprintf("evicted: no Poll within MaxPollInterval (%v)", m.maxPoll)})
				changed = true
			}
		}
		if changed {
			gc.rebalanceLocked(g)
		}
	}
	if !next.IsZero() {
		gc.armLocked(next)
	}
}

// close stops the liveness timer as the Log closes. Members stay fenced
// out by the closed partitions (ErrClosed).
func (gc *coordinator) close() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.closed = true
	if gc.timer != nil {
		gc.timer.Stop()
		gc.timer = nil
	}
	for _, g := range gc.groups {
		for _, m := range g.members {
			m.wakeUp()
		}
	}
}

// topicCreated rebalances the groups subscribed to a topic created under
// a name that was deleted while they subscribed to it.
func (gc *coordinator) topicCreated(name string) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for _, g := range gc.groups {
		for _, m := range g.members {
			if slices.Contains(m.topics, name) {
				gc.rebalanceLocked(g)
				break
			}
		}
	}
}

// forgetTopic deletes every group's committed offsets for a deleted
// topic.
func (gc *coordinator) forgetTopic(ctx context.Context, name string) error {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	return gc.offsets.forgetTopics(ctx, func(t string) bool { return t == name })
}

// topicDeleted rebalances the groups subscribed to a deleted topic.
func (gc *coordinator) topicDeleted(name string) {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for _, g := range gc.groups {
		for _, m := range g.members {
			if slices.Contains(m.topics, name) {
				for tp := range g.owners {
					if tp.Topic == name {
						o := g.owners[tp]
						delete(o.owned, tp)
						o.dropped = append(o.dropped, tp)
						delete(g.owners, tp)
					}
				}
				gc.rebalanceLocked(g)
				break
			}
		}
	}
}

// commit writes offsets for group after checking that the committer may:
// m (nil for a consumer without membership) must own every partition, or,
// without m, the group must have no members. Every offset must be at most
// its partition's high watermark; data below it that is not yet durable is
// fsynced first, so a committed offset never points past durable data.
func (gc *coordinator) commit(ctx context.Context, group string, m *groupMember, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
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
		writes = append(writes, offsetWrite{tp: tp, offset: off})
	}
	return gc.write(ctx, group, m, writes)
}

// write checks that m (nil: a committer without membership) may commit
// for group, and writes; the check and the write are one step under
// commitMu. It returns once the write is acknowledged.
func (gc *coordinator) write(ctx context.Context, group string, m *groupMember, writes []offsetWrite) error {
	if len(writes) == 0 {
		return nil
	}
	// Creating __consumer_offsets takes the Log's adminMu, which comes
	// before commitMu in the lock order: it must exist before commitMu is
	// taken.
	if _, err := gc.offsets.ensureTopic(ctx); err != nil {
		return err
	}
	gc.commitMu.Lock()
	if err := gc.checkCommit(group, m, writes); err != nil {
		gc.commitMu.Unlock()
		return err
	}
	p, target, err := gc.offsets.write(ctx, group, writes)
	gc.commitMu.Unlock()
	if err != nil {
		return err
	}
	return gc.offsets.wait(ctx, p, target)
}

// checkCommit decides whether a commit may be written. REQUIRES: commitMu.
func (gc *coordinator) checkCommit(group string, m *groupMember, writes []offsetWrite) error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if gc.closed {
		return ErrClosed
	}
	if m == nil {
		if g := gc.groups[group]; g != nil && len(g.members) > 0 {
			return fmt.Errorf("%w: group %q has %d members; a consumer without membership may commit only for an empty group",
				ErrGroupNotEmpty, group, len(g.members))
		}
		return nil
	}
	if m.fenced != nil {
		return m.fenced
	}
	for _, w := range writes {
		if !m.owned[w.tp] {
			return &FencedError{Group: group, MemberID: m.id,
				Reason: fmt.Sprintf("partition %v is not assigned to this member (it was revoked or never assigned)", w.tp)}
		}
	}
	return nil
}

// checkEmpty returns ErrGroupNotEmpty if group has members.
func (gc *coordinator) checkEmpty(group string) error {
	gc.commitMu.Lock()
	defer gc.commitMu.Unlock()
	return gc.checkCommit(group, nil, nil)
}
