package group

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Config is what a Coordinator needs from its owner: the clock, the
// liveness timer and the topics' partition counts.
type Config struct {
	// Now returns the current time. Deadlines are Now plus a member's
	// MaxPollInterval or SessionTimeout.
	Now func() time.Time
	// Arm asks the owner to call Expire once at is reached. It replaces
	// the request before it, which was for a later time or has been
	// served by an Expire since; Expire may also be called early or more
	// than once. Arm is called from within the Coordinator's methods, so
	// it must not call back into it.
	Arm func(at time.Time)
	// Partitions returns a topic's partition count, and false if the topic
	// does not exist. It is called from within Join, Leave, Expire and the
	// other calls that rebalance.
	Partitions func(topic string) (int32, bool)
	// Rebalanced, when not nil, is told of every rebalance, from within
	// the call that rebalanced, after the new assignment is computed. It
	// must not call back into the Coordinator.
	Rebalanced func(Rebalance)
}

// Rebalance describes one rebalance of a group, for Config.Rebalanced.
type Rebalance struct {
	Group string
	// Epoch is the group's new epoch; Members its members and Partitions
	// the partitions assigned among them.
	Epoch               int32
	Members, Partitions int
	Reason              RebalanceReason
}

// RebalanceReason says why a group rebalanced.
type RebalanceReason uint8

const (
	// RebalanceJoin: a member joined, or a static member rejoined with
	// another subscription.
	RebalanceJoin RebalanceReason = iota
	// RebalanceLeave: a member left.
	RebalanceLeave
	// RebalanceEvicted: Expire removed members past their deadline.
	RebalanceEvicted
	// RebalanceTopicCreated: a subscribed topic was created.
	RebalanceTopicCreated
	// RebalanceTopicDeleted: a subscribed topic was deleted.
	RebalanceTopicDeleted
)

// Coordinator is the membership of a Log's consumer groups: a state
// machine without I/O, goroutines or locks. Its owner serializes every
// call (the root holds its coordinator's mu around each) and supplies,
// through Config, the time and the timer that drives Expire.
//
// Calls that take partitions away from a member (Join replacing a static
// member, Leave, Release, Expire, TopicDeleted) must be serialized with
// CheckCommit and the write it allows as one step, so that no commit of
// a partition's old owner lands after its new owner has read the
// committed offset: the root holds its commitMu around all of them.
type Coordinator struct {
	cfg    Config
	groups map[string]*groupState
	closed bool
	nextID uint64
	armed  time.Time // the time of the last Arm request not yet served; zero if none
}

// groupState is one consumer group's membership.
type groupState struct {
	name     string
	balancer Balancer // the members' balancer; nil without members
	epoch    int32
	members  map[string]*Member
	owners   map[Partition]*Member // the member owning each partition now
}

// Member is one consumer's membership of a group, the handle its owner
// passes back to the Coordinator's methods. Only ID may be called outside
// the owner's serialization. A member that has left (Leave, or a departed
// static member's SessionTimeout) has nothing more to do: NextStep
// returns an empty step and Release does nothing.
type Member struct {
	g          *groupState
	seq        uint64 // join order: the number in id
	id         string
	instanceID string
	topics     []string
	wake       func()
	maxPoll    time.Duration
	session    time.Duration

	target       map[Partition]bool // what the balancer gave it
	owned        map[Partition]bool // what it owns now
	epoch        int32              // the group epoch it has converged on
	revokedEpoch int32              // eager: the epoch it gave everything up for
	polling      bool               // waiting inside Poll
	deadline     time.Time          // evicted (or, departed, removed) when reached
	departed     bool               // a static member that closed: reserved until deadline
	dropped      []Partition        // owned partitions whose topic was deleted, not yet reported
	fenced       *FencedError       // set when the coordinator removed it
	left         bool               // removed without a fence: it left, or departed and expired
}

// ID returns the member id, unique among the Coordinator's members. It
// never changes.
func (m *Member) ID() string { return m.id }

// New returns a Coordinator without groups.
func New(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg, groups: map[string]*groupState{}}
}

// JoinRequest describes a consumer joining its group.
type JoinRequest struct {
	Group      string
	InstanceID string   // static membership (KIP-345); "" for a dynamic member
	Topics     []string // the subscription
	// Balancer must have the name of the one the group's members use.
	Balancer        Balancer
	MaxPollInterval time.Duration // outside Poll, evicted past it
	SessionTimeout  time.Duration // a departed static member's partitions stay reserved for it
	// Wake signals the member's consumer that it has work (a step to take,
	// a loss to learn, or the Coordinator closed). It must not block or
	// call back into the Coordinator.
	Wake func()
}

// Join adds a consumer to its group and returns its membership. A member
// that never calls Polling is evicted like one that stopped polling,
// MaxPollInterval after it joined. A static member (InstanceID) takes the
// place and the assignment of the member with the same InstanceID, which
// is fenced, without a rebalance unless the subscriptions differ.
//
// Errors: ErrClosed, *BalancerMismatchError.
func (c *Coordinator) Join(r JoinRequest) (*Member, error) {
	if c.closed {
		return nil, ErrClosed
	}
	g := c.groups[r.Group]
	if g == nil {
		g = &groupState{name: r.Group, members: map[string]*Member{}, owners: map[Partition]*Member{}}
		c.groups[r.Group] = g
	}
	if g.balancer != nil && g.balancer.Name() != r.Balancer.Name() {
		return nil, &BalancerMismatchError{Group: g.name, Balancer: g.balancer.Name(), Requested: r.Balancer.Name()}
	}
	if g.balancer == nil {
		g.balancer = r.Balancer
	}
	wake := r.Wake
	if wake == nil {
		wake = func() {}
	}
	c.nextID++
	m := &Member{
		g: g, seq: c.nextID, id: "member-" + strconv.FormatUint(c.nextID, 10), instanceID: r.InstanceID,
		topics: slices.Clone(r.Topics), wake: wake, maxPoll: r.MaxPollInterval, session: r.SessionTimeout,
		target: map[Partition]bool{}, owned: map[Partition]bool{},
		epoch: -1, revokedEpoch: -1,
		deadline: c.cfg.Now().Add(r.MaxPollInterval),
	}
	c.arm(m.deadline)
	if old := g.staticMember(r.InstanceID); old != nil {
		// KIP-345: the new consumer takes the old one's place and its
		// assignment, without a rebalance unless the subscription changed.
		g.members[m.id] = m
		c.remove(old, &FencedError{Group: g.name, MemberID: old.id,
			Reason: "replaced by a new consumer with the same InstanceID " + strconv.Quote(r.InstanceID)})
		m.target = old.target
		if !slices.Equal(old.topics, m.topics) {
			c.rebalance(g, RebalanceJoin)
		}
		m.wake()
		return m, nil
	}
	g.members[m.id] = m
	c.rebalance(g, RebalanceJoin)
	return m, nil
}

// staticMember returns the member with instanceID, or nil.
func (g *groupState) staticMember(instanceID string) *Member {
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

// remove takes m out of its group: its partitions are free at once.
// fenced, when not nil, is what m is told on its next call. The caller
// rebalances.
func (c *Coordinator) remove(m *Member, fenced *FencedError) {
	g := m.g
	for p := range m.owned {
		if g.owners[p] == m {
			delete(g.owners, p)
		}
	}
	if fenced != nil {
		m.fenced = fenced
	} else {
		m.owned = map[Partition]bool{}
		m.left = true
	}
	delete(g.members, m.id)
	if len(g.members) == 0 {
		g.balancer = nil
		delete(c.groups, g.name)
	}
	m.wake()
}

// rebalance starts a new epoch of g: the balancer computes every member's
// target, starting from the previous targets so that sticky balancers
// keep partitions where they are, and tells Config.Rebalanced why.
func (c *Coordinator) rebalance(g *groupState, reason RebalanceReason) {
	if len(g.members) == 0 {
		return
	}
	g.epoch++
	members := g.sortedMembers()
	in := make([]BalanceMember, len(members))
	counts := map[string]int32{}
	for i, m := range members {
		in[i] = BalanceMember{ID: m.id, InstanceID: m.instanceID, Topics: slices.Clone(m.topics),
			Owned: slices.SortedFunc(maps.Keys(m.target), Compare)}
		for _, t := range m.topics {
			if _, ok := counts[t]; ok {
				continue
			}
			if n, ok := c.cfg.Partitions(t); ok {
				counts[t] = n
			}
		}
	}
	assignment := g.balancer.Balance(in, counts)
	assigned := 0
	for _, m := range members {
		m.target = map[Partition]bool{}
		for _, p := range assignment[m.id] {
			m.target[p] = true
		}
		assigned += len(m.target)
		if m.departed {
			g.freeUntargeted(m)
		}
		m.wake()
	}
	if c.cfg.Rebalanced != nil {
		c.cfg.Rebalanced(Rebalance{Group: g.name, Epoch: g.epoch, Members: len(members), Partitions: assigned, Reason: reason})
	}
}

// freeUntargeted frees what departed m owns outside its target: a closed
// static member cannot revoke, so what it no longer gets is free at once
// (its consumer committed and called OnRevoked on Close). It returns the
// partitions freed.
func (g *groupState) freeUntargeted(m *Member) []Partition {
	var freed []Partition
	for p := range m.owned {
		if !m.target[p] {
			delete(m.owned, p)
			delete(g.owners, p)
			freed = append(freed, p)
		}
	}
	return freed
}

// wakeTargets wakes the members other than m whose target holds one of ps.
func (g *groupState) wakeTargets(m *Member, ps []Partition) {
	for _, o := range g.members {
		if o != m && slices.ContainsFunc(ps, func(p Partition) bool { return o.target[p] }) {
			o.wake()
		}
	}
}

// sortedMembers returns g's members in join order.
func (g *groupState) sortedMembers() []*Member {
	return slices.SortedFunc(maps.Values(g.members), func(a, b *Member) int { return cmp.Compare(a.seq, b.seq) })
}

// Leave ends m's membership as its consumer closes, after it committed
// and revoked what it owns: a dynamic member leaves at once and its group
// rebalances; a static one is kept, with the partitions of its target
// that it owns reserved, for its SessionTimeout (it departs), unless the
// Coordinator is closed. A fenced member has left already.
func (c *Coordinator) Leave(m *Member) {
	if m.fenced != nil || m.left {
		return
	}
	if m.instanceID != "" && !c.closed {
		m.departed = true
		m.polling = false
		m.deadline = c.cfg.Now().Add(m.session)
		c.arm(m.deadline)
		// What a rebalance took from it since its last step is not
		// reserved: it goes to its new owner now, not after the session.
		m.g.wakeTargets(m, m.g.freeUntargeted(m))
		return
	}
	c.remove(m, nil)
	c.rebalance(m.g, RebalanceLeave)
}

// Polling records whether m's consumer is waiting inside Poll, where it
// is alive however long it waits. Outside Poll its MaxPollInterval runs,
// from the call that says it left.
func (c *Coordinator) Polling(m *Member, in bool) {
	m.polling = in
	if !in && m.fenced == nil && !m.departed && !m.left {
		m.deadline = c.cfg.Now().Add(m.maxPoll)
		c.arm(m.deadline)
	}
}

// arm makes sure Expire is asked for no later than at.
func (c *Coordinator) arm(at time.Time) {
	if c.closed || (!c.armed.IsZero() && !c.armed.After(at)) {
		return
	}
	c.armed = at
	c.cfg.Arm(at)
}

// Expire removes the members whose deadline has passed: members outside
// Poll past their MaxPollInterval are evicted (fenced, so they learn it
// on their next call) and departed static members past their
// SessionTimeout are removed; their groups rebalance. It asks for the
// next Expire at the earliest deadline left.
func (c *Coordinator) Expire() {
	if c.closed {
		return
	}
	c.armed = time.Time{}
	now := c.cfg.Now()
	var next time.Time
	for _, g := range c.groups {
		changed := false
		for _, m := range g.sortedMembers() {
			switch {
			case m.polling:
			case now.Before(m.deadline):
				if next.IsZero() || m.deadline.Before(next) {
					next = m.deadline
				}
			case m.departed:
				c.remove(m, nil)
				changed = true
			default:
				c.remove(m, &FencedError{Group: g.name, MemberID: m.id,
					Reason: fmt.Sprintf("evicted: no Poll within MaxPollInterval (%v)", m.maxPoll)})
				changed = true
			}
		}
		if changed {
			c.rebalance(g, RebalanceEvicted)
		}
	}
	if !next.IsZero() {
		c.arm(next)
	}
}

// Resign removes every member of the groups resigned reports true for,
// fencing each with reason, as the coordination of those groups moves to
// another node (the leadership of their committed-offset partition moved
// away). The groups end here: no rebalance, since no member is left;
// their members learn it on their next call and join again.
func (c *Coordinator) Resign(resigned func(group string) bool, reason string) {
	for _, name := range slices.Sorted(maps.Keys(c.groups)) {
		if !resigned(name) {
			continue
		}
		g := c.groups[name]
		for _, m := range g.sortedMembers() {
			c.remove(m, &FencedError{Group: name, MemberID: m.id, Reason: reason})
		}
	}
}

// Close ends the Coordinator as its Log closes: Join and CheckCommit fail
// with ErrClosed, Expire does nothing and Arm is not called again. Every
// member is woken; memberships stay as they are (a static member that
// leaves now is removed, not kept).
func (c *Coordinator) Close() {
	c.closed = true
	c.armed = time.Time{}
	for _, g := range c.groups {
		for _, m := range g.members {
			m.wake()
		}
	}
}

// TopicCreated rebalances the groups subscribed to topic, created under a
// name that may have been deleted while they subscribed to it.
func (c *Coordinator) TopicCreated(topic string) {
	for _, g := range c.groups {
		if g.subscribes(topic) {
			c.rebalance(g, RebalanceTopicCreated)
		}
	}
}

// TopicDeleted takes the partitions of a deleted topic from their owners,
// who learn it as a loss on their next NextStep, and rebalances the
// groups subscribed to it.
func (c *Coordinator) TopicDeleted(topic string) {
	for _, g := range c.groups {
		if !g.subscribes(topic) {
			continue
		}
		for _, p := range slices.SortedFunc(maps.Keys(g.owners), Compare) {
			if p.Topic == topic {
				o := g.owners[p]
				delete(o.owned, p)
				o.dropped = append(o.dropped, p)
				delete(g.owners, p)
			}
		}
		c.rebalance(g, RebalanceTopicDeleted)
	}
}

// subscribes reports whether a member of g subscribes to topic.
func (g *groupState) subscribes(topic string) bool {
	for _, m := range g.members {
		if slices.Contains(m.topics, topic) {
			return true
		}
	}
	return false
}
