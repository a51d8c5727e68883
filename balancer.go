package commitlog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/commitlog-go/commitlog/internal/balance"
)

// BalancerMember is what a Balancer knows about one member of a group.
type BalancerMember struct {
	// ID is the member id, unique in the group.
	ID string
	// InstanceID is the static membership id (KIP-345); "" for a dynamic member.
	InstanceID string
	// Topics are the subscribed topics, sorted, without duplicates. The built-in
	// balancers tolerate unsorted or duplicated names and treat them as a set.
	Topics []string
	// Owned are the partitions the member owns now, the input for stickiness. It
	// may include partitions of topics the member no longer subscribes to, of
	// topics or partitions that no longer exist, or that another member also
	// lists; balancers must tolerate all of these.
	Owned []TopicPartition
}

// Balancer assigns a group's partitions to its members. The group's
// coordinator calls Balance serially (never concurrently for one group)
// whenever membership or subscriptions change.
type Balancer interface {
	// Name identifies the balancer, e.g. "range".
	Name() string
	// Cooperative reports whether members keep the partitions that do not
	// move during a rebalance (incremental, KIP-429); otherwise every member
	// gives up all its partitions at the start of each rebalance (eager).
	Cooperative() bool
	// Balance returns each member's partitions. The coordinator passes
	// members sorted: static members (InstanceID set) first, by InstanceID
	// and then ID, then dynamic members by ID, IDs and InstanceIDs compared
	// as strings. partitions maps each subscribed topic to its partition
	// count.
	//
	// Every partition of every topic some member subscribes to must be
	// assigned to exactly one member subscribed to that topic. The result
	// must be a deterministic function of the arguments. Balance must not
	// retain or modify its arguments; the returned slices are owned by the
	// caller. The coordinator checks the result: an invalid one is logged
	// (at Error, on Options.Logger) and that rebalance uses RangeBalancer's
	// assignment instead.
	//
	// The built-in balancers return a non-nil map with an entry for every
	// member id; a member that gets nothing maps to an empty, non-nil slice.
	// Each member's partitions are sorted by topic, then partition. They
	// never panic: a topic missing from partitions or with a count <= 0 has
	// no partitions, a member without topics gets nothing, and if an id
	// occurs more than once only its first member is used.
	Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition
}

// RangeBalancer returns the eager "range" balancer (Kafka's RangeAssignor).
// Each topic is balanced on its own: its partitions, in numeric order, are cut
// into consecutive ranges over the members subscribed to it, in member order.
// With P partitions and N subscribers each member gets P/N partitions and the
// first P%N members one more. For example, members C0 and C1 both subscribed
// to t0 and t1 with 3 partitions each get C0=[t0-0 t0-1 t1-0 t1-1] and
// C1=[t0-2 t1-2].
func RangeBalancer() Balancer { return rangeBalancer{} }

// RoundRobinBalancer returns the eager "roundrobin" balancer (Kafka's
// RoundRobinAssignor). All subscribed partitions, sorted by topic and
// partition, are dealt over the members in order with a circular iterator:
// for each partition the iterator advances to the next member subscribed to
// the partition's topic, which gets it, and then moves past that member. For
// the example of RangeBalancer the result is C0=[t0-0 t0-2 t1-1] and
// C1=[t0-1 t1-0 t1-2].
func RoundRobinBalancer() Balancer { return roundRobinBalancer{} }

// StickyBalancer returns the eager "sticky" balancer (Kafka's
// StickyAssignor). Its goals, in priority order:
//
//  1. Balance: no partition could move from its member, holding a
//     partitions, to another member subscribed to its topic holding b
//     partitions with a > b+1. With identical subscriptions the members'
//     counts differ by at most one.
//  2. Stickiness: subject to 1, members keep as many of the partitions in
//     their Owned as possible. An owned partition counts only if it exists,
//     the member subscribes to its topic, and no earlier member (in the
//     given order) claims it too.
//
// With identical subscriptions the result keeps as many owned partitions as
// any balanced assignment can. With different subscriptions stickiness is
// greedy: partitions move only to restore balance, one at a time, but the
// number of moves is not minimized.
func StickyBalancer() Balancer { return stickyBalancer{} }

// CooperativeStickyBalancer returns the "cooperative-sticky" balancer
// (Kafka's CooperativeStickyAssignor). It assigns exactly like
// StickyBalancer but reports Cooperative, so members keep their partitions
// that do not move across a rebalance.
func CooperativeStickyBalancer() Balancer { return stickyBalancer{cooperative: true} }

type rangeBalancer struct{}

func (rangeBalancer) Name() string      { return "range" }
func (rangeBalancer) Cooperative() bool { return false }

func (rangeBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	return assignment(members, partitions, (*balance.Group).Range)
}

type roundRobinBalancer struct{}

func (roundRobinBalancer) Name() string      { return "roundrobin" }
func (roundRobinBalancer) Cooperative() bool { return false }

func (roundRobinBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	return assignment(members, partitions, (*balance.Group).RoundRobin)
}

type stickyBalancer struct{ cooperative bool }

func (b stickyBalancer) Name() string {
	if b.cooperative {
		return "cooperative-sticky"
	}
	return "sticky"
}

func (b stickyBalancer) Cooperative() bool { return b.cooperative }

// Balance is balance.Group.Sticky, whose doc states the algorithm.
func (b stickyBalancer) Balance(members []BalancerMember, partitions map[string]int32) map[string][]TopicPartition {
	return assignment(members, partitions, (*balance.Group).Sticky)
}

// assignment runs the algorithm assign over members and partitions and
// returns its result as Balance does.
func assignment(members []BalancerMember, partitions map[string]int32, assign func(*balance.Group) []int) map[string][]TopicPartition {
	g := balance.NewGroup(balancerMembers(members), partitions)
	return balance.Result(g, assign(g), func(topic string, partition int32) TopicPartition {
		return TopicPartition{Topic: topic, Partition: partition}
	})
}

// balancerMembers is the balance.Members view of a Balance call's members.
type balancerMembers []BalancerMember

func (ms balancerMembers) Len() int              { return len(ms) }
func (ms balancerMembers) ID(i int) string       { return ms[i].ID }
func (ms balancerMembers) Topics(i int) []string { return ms[i].Topics }
func (ms balancerMembers) Owned(i int, visit func(topic string, partition int32)) {
	for _, tp := range ms[i].Owned {
		visit(tp.Topic, tp.Partition)
	}
}

// sortBalancerMembers sorts ms into the order in which the coordinator passes
// members to Balance: static members (InstanceID != "") first, by InstanceID
// and then ID, followed by dynamic members by ID. The sort is stable.
func sortBalancerMembers(ms []BalancerMember) {
	slices.SortStableFunc(ms, func(a, b BalancerMember) int {
		if aStatic, bStatic := a.InstanceID != "", b.InstanceID != ""; aStatic != bStatic {
			if aStatic {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// checkAssignment verifies the result got of b.Balance(members, partitions):
// every partition of every subscribed topic (with a count > 0) assigned
// exactly once, only to members subscribed to its topic, only to known member
// ids, and only partitions in [0, count). A member missing from got counts as
// assigned nothing; if an id occurs more than once in members, its first
// member's subscriptions apply. It returns nil if got is valid and otherwise
// an error wrapping ErrInvalidArgument that names the balancer and the first
// problem found, checking members in the given order and their partitions in
// the order got lists them, then missing partitions in sorted order.
func checkAssignment(b Balancer, members []BalancerMember, partitions map[string]int32, got map[string][]TopicPartition) error {
	name := "<nil>"
	if b != nil {
		name = b.Name()
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: balancer %q: %s", ErrInvalidArgument, name, fmt.Sprintf(format, args...))
	}

	known := make(map[string]int, len(members)) // id -> index in members of its first member
	for i, bm := range members {
		if _, ok := known[bm.ID]; !ok {
			known[bm.ID] = i
		}
	}
	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			return fail("assigned %d partitions to unknown member %q", len(got[id]), id)
		}
	}

	assignedTo := make(map[TopicPartition]string)
	for i, bm := range members {
		if known[bm.ID] != i {
			continue
		}
		for _, tp := range got[bm.ID] {
			if !slices.Contains(bm.Topics, tp.Topic) {
				return fail("assigned %s to member %q, which does not subscribe to topic %q", tp, bm.ID, tp.Topic)
			}
			if n := partitions[tp.Topic]; tp.Partition < 0 || tp.Partition >= n {
				return fail("assigned %s to member %q, but topic %q has %d partitions", tp, bm.ID, tp.Topic, max(n, 0))
			}
			if prev, dup := assignedTo[tp]; dup {
				return fail("assigned %s to both member %q and member %q", tp, prev, bm.ID)
			}
			assignedTo[tp] = bm.ID
		}
	}

	var topics []string
	for i, bm := range members {
		if known[bm.ID] == i {
			topics = append(topics, bm.Topics...)
		}
	}
	slices.Sort(topics)
	for _, topic := range slices.Compact(topics) {
		for p := range max(partitions[topic], 0) {
			tp := TopicPartition{Topic: topic, Partition: p}
			if _, ok := assignedTo[tp]; !ok {
				return fail("did not assign %s", tp)
			}
		}
	}
	return nil
}
